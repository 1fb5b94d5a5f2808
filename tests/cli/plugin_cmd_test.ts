/**
 * Plugins by URL through `./stoq`, served from a Deno.serve server on 127.0.0.1: add, pin, load;
 * changed bytes refused; update re-pins; offline from the cache; pins on the command line.
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { parseDoc, parseLines, runStoq, show, writeText } from "../cli_helpers.ts";
import { tempDir } from "../helpers.ts";
import { jsWorker, servePlugins, sha256Text } from "../plugin_url_server.ts";

const V1 = jsWorker(
  "tiny",
  "return { results: { version: 1, head: [...payload.content.subarray(0, opts.n)] } };",
  "options: { n: stoq.z.number().int().min(1).default(2) },",
);
const V2 = jsWorker(
  "tiny",
  'return { results: { version: 2, label: Deno.env.get("TINY_LABEL") ?? null } };',
  'permissions: { env: ["TINY_LABEL"] },',
  "2.0.0",
);

async function lockOf(home: string) {
  return JSON.parse(await Deno.readTextFile(`${home}/plugins.lock.json`)) as {
    plugins: Record<string, { url: string; sha256: string; version: string; module_name: string }>;
  };
}

async function cacheFiles(home: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(`${home}/plugin-cache`)) names.push(e.name);
  } catch { /* no cache yet */ }
  return names.sort();
}

Deno.test("plugin add pins, scans use the pin, changed bytes are refused, update re-pins, the cache works offline", async () => {
  const srv = servePlugins();
  try {
    const url = srv.put("/tiny.js", V1);
    const sha1 = sha256Text(V1);
    const sha2 = sha256Text(V2);
    const home = await tempDir("stoq-home-");
    const cwd = await tempDir();
    const sample = await writeText(cwd, "sample.txt", "hello plugin");

    // add: shows what it is, pins it.
    const added = await runStoq(["plugin", "add", url, "--yes"], { home, cwd });
    equal(added.code, 0, show(added));
    match(added.stdout, /plugin tiny 1\.0\.0: test plugin tiny/);
    match(added.stdout, /classes\s+worker/);
    match(added.stdout, /n \(integer\) = 2/);
    match(added.stdout, /asks for\s+nothing beyond its payloads/);
    const lock = await lockOf(home);
    deepEqual(Object.keys(lock.plugins), ["tiny"]);
    equal(lock.plugins.tiny.sha256, sha1);
    equal(lock.plugins.tiny.url, url);
    equal(lock.plugins.tiny.version, "1.0.0");
    deepEqual(await cacheFiles(home), [sha1, `${sha1}.meta.json`]);

    // load: the pinned plugin runs, with its options.
    const scan = await runStoq(["scan", "-a", "tiny", "--plugin-opts", "tiny:n=3", sample], {
      home,
      cwd,
    });
    equal(scan.code, 0, show(scan));
    deepEqual(parseDoc(scan.stdout).results[0].workers.tiny, { version: 1, head: [104, 101, 108] });

    // The served bytes change: runs keep using the pinned, cached bytes (the server is not asked).
    srv.put("/tiny.js", V2);
    const before = srv.hits("/tiny.js");
    const still = await runStoq(["scan", "-a", "tiny", sample], { home, cwd });
    equal(still.code, 0, show(still));
    equal(parseDoc(still.stdout).results[0].workers.tiny.version, 1);
    equal(srv.hits("/tiny.js"), before, "a cached pin is not fetched again");

    // Another machine with the same lock file and no cache: the changed bytes are refused.
    const other = await tempDir("stoq-home-");
    await Deno.copyFile(`${home}/plugins.lock.json`, `${other}/plugins.lock.json`);
    const refused = await runStoq(["scan", "-a", "tiny", sample], { home: other, cwd });
    ok(refused.code !== 0, show(refused));
    equal(refused.stdout, "");
    match(refused.stderr, new RegExp(`plugin tiny \\(${url}\\) refused`));
    match(refused.stderr, new RegExp(`now has sha256 ${sha2}, but the lock file pins ${sha1}`));
    match(refused.stderr, /stoq plugin update tiny/);
    deepEqual(await cacheFiles(other), [], "refused bytes are never cached");

    // A damaged cache is not trusted either: the pinned bytes are fetched again, and refused.
    await Deno.writeTextFile(`${home}/plugin-cache/${sha1}`, V2);
    const damaged = await runStoq(["scan", "-a", "tiny", sample], { home, cwd });
    ok(damaged.code !== 0, show(damaged));
    match(damaged.stderr, /refused: the module now has sha256/);
    ok(!(await cacheFiles(home)).includes(sha2));

    // update without consent (no terminal, no --yes): shows the change, pins nothing.
    const asked = await runStoq(["plugin", "update", "tiny"], { home, cwd });
    equal(asked.code, 1, show(asked));
    match(asked.stdout, /version 1\.0\.0 -> 2\.0\.0/);
    match(asked.stdout, /\+ env: TINY_LABEL/);
    match(asked.stderr, /not updated: tiny stays pinned at [0-9a-f]{64} \(give --yes to re-pin\)/);
    equal((await lockOf(home)).plugins.tiny.sha256, sha1);

    // update --yes re-pins.
    const updated = await runStoq(["plugin", "update", "tiny", "--yes"], { home, cwd });
    equal(updated.code, 0, show(updated));
    match(updated.stdout, new RegExp(`re-pinned tiny 2\\.0\\.0 \\(sha256 ${sha2}\\)`));
    equal((await lockOf(home)).plugins.tiny.sha256, sha2);
    equal((await lockOf(home)).plugins.tiny.version, "2.0.0");
    const again = await runStoq(["plugin", "update", "tiny"], { home, cwd });
    match(again.stdout, /tiny is up to date/);

    // Version 2 reads an environment variable: only once [core] grants it.
    const env = { TINY_LABEL: "from-env" };
    const denied = await runStoq(["scan", "-a", "tiny", sample], { home, cwd, env });
    ok(denied.code !== 0, show(denied));
    match(
      denied.stderr,
      /reads environment variables TINY_LABEL, which \[core\] allow_plugin_env does not grant/,
    );
    await writeText(home, "stoq.toml", '[core]\nallow_plugin_env = ["TINY_LABEL"]\n');
    const v2 = await runStoq(["scan", "-a", "tiny", sample], { home, cwd, env });
    equal(v2.code, 0, show(v2));
    deepEqual(parseDoc(v2.stdout).results[0].workers.tiny, { version: 2, label: "from-env" });

    // The server goes away: the pinned plugin still loads, from the cache.
    await srv.stop();
    const offline = await runStoq(["scan", "-a", "tiny", sample], { home, cwd, env });
    equal(offline.code, 0, show(offline));
    deepEqual(parseDoc(offline.stdout).results[0].workers.tiny, { version: 2, label: "from-env" });
    const cannot = await runStoq(["plugin", "update", "tiny"], { home, cwd });
    equal(cannot.code, 1, show(cannot));
    match(cannot.stderr, /cannot fetch http:\/\/127\.0\.0\.1:\d+\/tiny\.js/);

    // list and remove.
    const listed = await runStoq(["plugin", "list", "--json"], { home, cwd });
    equal(listed.code, 0, show(listed));
    const rows = JSON.parse(listed.stdout).plugins;
    equal(rows.length, 1);
    equal(rows[0].name, "tiny");
    equal(rows[0].sha256, sha2);
    equal(rows[0].cached, true);
    const text = await runStoq(["plugin", "list"], { home, cwd });
    match(text.stdout, new RegExp(`tiny\\s+v2\\.0\\.0\\s+${url}`));
    const removed = await runStoq(["plugin", "remove", "tiny"], { home, cwd });
    equal(removed.code, 0, show(removed));
    deepEqual((await lockOf(home)).plugins, {});
    deepEqual(await cacheFiles(home), []);
    const gone = await runStoq(["plugin", "remove", "tiny"], { home, cwd });
    equal(gone.code, 1);
    match(gone.stderr, /no pinned plugin is called tiny/);
  } finally {
    await srv.stop();
  }
});

Deno.test("a scan names a plugin by URL#sha256=; TypeScript is transpiled; unpinned URLs are refused", async () => {
  const srv = servePlugins();
  try {
    const ts = `import type { StoqAPI } from "../../core/engine/plugin.ts";
interface Count { bytes: number; lines: number }
export default (stoq: StoqAPI) => stoq.plugin({
  name: "line_count", version: "0.1.0", description: "lines", classes: ["worker"],
  create: () => ({
    scan(payload): { results: Count } {
      const text: string = new TextDecoder().decode(payload.content);
      return { results: { bytes: payload.content.length, lines: text.split("\\n").length - 1 } };
    },
  }),
});
`;
    const url = srv.put("/line_count.ts", ts);
    const pin = `${url}#sha256=${sha256Text(ts)}`;
    const cwd = await tempDir();
    const sample = await writeText(cwd, "a.txt", "one\ntwo\nthree\n");

    const r = await runStoq(["scan", "-a", pin, sample], { cwd });
    equal(r.code, 0, show(r));
    deepEqual(parseDoc(r.stdout).results[0].workers.line_count, { bytes: 14, lines: 3 });

    // Several inputs: the scan threads load the same pin (from the cache the main thread filled).
    const b = await writeText(cwd, "b.txt", "x\n");
    const two = await runStoq(["scan", "-a", pin, sample, b], { cwd });
    equal(two.code, 0, show(two));
    const lines = parseLines(two.stdout, 2).map((d) => d.results[0].workers.line_count.lines)
      .sort();
    deepEqual(lines, [1, 3]);

    // The same pin in [core] of a config file.
    const home = await tempDir("stoq-home-");
    await writeText(home, "stoq.toml", `[core]\nalways_dispatch = ["hash", "${pin}"]\n`);
    const fromConfig = await runStoq(["scan", sample], { home, cwd });
    equal(fromConfig.code, 0, show(fromConfig));
    const workers = parseDoc(fromConfig.stdout).results[0].workers;
    deepEqual(Object.keys(workers).sort(), ["hash", "line_count"]);

    const wrong = await runStoq(["scan", "-a", `${url}#sha256=${"0".repeat(64)}`, sample], { cwd });
    equal(wrong.code, 1, show(wrong));
    match(
      wrong.stderr,
      /refused: the module now has sha256 [0-9a-f]{64}, but the command line or \[core\] pins 0{64}/,
    );

    const bare = await runStoq(["scan", "-a", url, sample], { cwd });
    equal(bare.code, 2, show(bare));
    match(bare.stderr, /is not pinned: add #sha256=/);
  } finally {
    await srv.stop();
  }
});
