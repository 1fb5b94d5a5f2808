/**
 * Plugins by URL run in a Worker with only what they declared and [core] granted: what they did
 * not declare is denied, what they declare beyond the grants is refused; providers, threads and
 * hung calls work through the Worker; `stoq plugin check` validates a module without a scan.
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { parseDoc, parseLines, runStoq, show, writeText } from "../cli_helpers.ts";
import { tempDir } from "../helpers.ts";
import { jsWorker, servePlugins, sha256Text } from "../plugin_url_server.ts";

/** `URL#sha256=` of a module served at `path`. */
function pinned(srv: ReturnType<typeof servePlugins>, path: string, text: string): string {
  return `${srv.put(path, text)}#sha256=${sha256Text(text)}`;
}

Deno.test("a plugin's undeclared access is denied; declared access needs [core] grants", async () => {
  const srv = servePlugins();
  try {
    srv.put("/data.txt", "served data");
    const cwd = await tempDir();
    const sample = await writeText(cwd, "s.txt", "payload");
    // Tries everything it did not declare; each attempt's error is its result.
    const sneaky = pinned(
      srv,
      "/sneaky.js",
      jsWorker(
        "sneaky",
        `const out = {};
        const attempt = async (k, f) => { try { out[k] = "allowed: " + String(await f()).slice(0, 20); } catch (e) { out[k] = e.name + ": " + e.message; } };
        await attempt("net", async () => (await fetch("${srv.base}/data.txt")).text());
        await attempt("read", () => Deno.readTextFile("/etc/passwd"));
        await attempt("write", () => Deno.writeTextFile("${cwd}/dropped.txt", "x"));
        await attempt("env", () => Deno.env.get("HOME"));
        await attempt("run", () => new Deno.Command("ls").output());
        await attempt("import", () => import("${srv.base}/data.txt"));
        return { results: out };`,
      ),
    );
    const r = await runStoq(["scan", "-a", sneaky, sample], { cwd });
    equal(r.code, 0, show(r));
    const got = parseDoc(r.stdout).results[0].workers.sneaky as Record<string, string>;
    match(got.net, /NotCapable: Requires net access to "127\.0\.0\.1:\d+"/);
    match(got.read, /NotCapable: Requires read access to "\/etc\/passwd"/);
    match(got.write, /NotCapable: Requires write access/);
    match(got.env, /NotCapable: Requires env access to "HOME"/);
    match(got.run, /NotCapable: Requires run access to "ls"/);
    match(got.import, /Requires import access/);
    ok(!(await Deno.stat(`${cwd}/dropped.txt`).catch(() => null)), "nothing was written");

    // Declares the host it talks to: refused until [core] grants it, then it works.
    const netPlugin = pinned(
      srv,
      "/fetcher.js",
      jsWorker(
        "fetcher",
        `return { results: { text: await (await fetch("${srv.base}/data.txt")).text() } };`,
        `permissions: { net: ["127.0.0.1:${srv.port}"] },`,
      ),
    );
    const refused = await runStoq(["scan", "-a", netPlugin, sample], { cwd });
    equal(refused.code, 1, show(refused));
    match(
      refused.stderr,
      new RegExp(
        `plugin http://127\\.0\\.0\\.1:${srv.port}/fetcher\\.js refused: it connects to 127\\.0\\.0\\.1:${srv.port}, which \\[core\\] allow_plugin_net does not grant \\(add "127\\.0\\.0\\.1:${srv.port}" to allow_plugin_net in stoq\\.toml\\)`,
      ),
    );
    const home = await tempDir("stoq-home-");
    await writeText(home, "stoq.toml", '[core]\nallow_plugin_net = ["127.0.0.1"]\n');
    const allowed = await runStoq(["scan", "-a", netPlugin, sample], { cwd, home });
    equal(allowed.code, 0, show(allowed));
    deepEqual(parseDoc(allowed.stdout).results[0].workers.fetcher, { text: "served data" });

    // A tool the launcher may not run cannot be granted by the config either.
    const tool = pinned(
      srv,
      "/tool.js",
      jsWorker("tooly", "return {};", 'tools: { yara: "yara" },'),
    );
    await writeText(home, "stoq.toml", '[core]\nallow_plugin_run = ["yara"]\n');
    const noRun = await runStoq(["scan", "-a", tool, sample], { cwd, home });
    equal(noRun.code, 1, show(noRun));
    match(
      noRun.stderr,
      /run yara: this stoq process is not allowed to \(start it with --allow-run=yara\)/,
    );

    // A declared and granted tool runs in the Worker through call.exec.
    const file = pinned(
      srv,
      "/filetool.js",
      jsWorker(
        "filetool",
        `const r = await call.exec("file", ["-b", "-"], { stdin: payload.content });
        const f = await call.withTempFile(payload.content, (p) => call.exec("file", ["-b", p]));
        const text = (x) => new TextDecoder().decode(x.stdout).trim();
        return { results: { type: text(r), from_file: text(f) } };`,
        'tools: { file: "file" },',
      ),
    );
    const noGrant = await runStoq(["scan", "-a", file, sample], { cwd });
    match(noGrant.stderr, /it runs file, which \[core\] allow_plugin_run does not grant/);
    await writeText(home, "stoq.toml", '[core]\nallow_plugin_run = ["file"]\n');
    const ran = await runStoq(["scan", "-a", file, sample], { cwd, home });
    equal(ran.code, 0, show(ran));
    deepEqual(parseDoc(ran.stdout).results[0].workers.filetool, {
      type: "ASCII text, with no line terminators",
      from_file: "ASCII text, with no line terminators",
    });
  } finally {
    await srv.stop();
  }
});

Deno.test("a provider by URL feeds the queue from its Worker; a hung call ends its Worker, the next call gets a fresh one", async () => {
  const srv = servePlugins();
  try {
    const cwd = await tempDir();
    const feeder = pinned(
      srv,
      "/feeder.js",
      `export default (stoq) => stoq.plugin({
  name: "feeder", version: "1.0.0", description: "three items", classes: ["provider"],
  create: () => ({
    async ingest(queue) {
      for (let i = 1; i <= 3; i++) await queue.put({ content: new TextEncoder().encode("item " + i) });
    },
  }),
});
`,
    );
    const run = await runStoq(["run", "-P", feeder, "-a", "hash"], { cwd });
    equal(run.code, 0, show(run));
    const sizes = parseLines(run.stdout, 3).map((d) => d.results[0].size);
    deepEqual(sizes, [6, 6, 6]);

    const hang = pinned(
      srv,
      "/hang.js",
      jsWorker(
        "hang",
        `if (new TextDecoder().decode(payload.content).startsWith("HANG")) for (;;) {}
        return { results: { ok: true } };`,
      ),
    );
    const home = await tempDir("stoq-home-");
    // One scan at a time: calls running beside a hung one wait for it, and time out with it.
    await writeText(home, "stoq.toml", "[core]\nplugin_timeout = 2\nprovider_consumers = 1\n");
    const a = await writeText(cwd, "a.txt", "HANG forever");
    const b = await writeText(cwd, "b.txt", "fine");
    const r = await runStoq(["scan", "--threads", "1", "-a", hang, a, b], { cwd, home });
    equal(r.code, 0, show(r));
    const docs = parseLines(r.stdout, 2);
    const byName = Object.fromEntries(
      docs.map((d) => [String(d.results[0].payload_meta.extra_data.filename), d]),
    );
    deepEqual(byName["a.txt"].errors.map((e) => e.error), ["timed out after 2 s"]);
    deepEqual(byName["b.txt"].results[0].workers.hang, { ok: true });
    deepEqual(byName["b.txt"].errors, []);
    match(
      r.stderr,
      /Worker was ended: a scan call timed out after 2 s, and the plugin kept its Worker busy/,
    );
  } finally {
    await srv.stop();
  }
});

Deno.test("stoq plugin check validates a module without a scan", async () => {
  const srv = servePlugins();
  try {
    const cwd = await tempDir();
    const good = jsWorker(
      "checked",
      "return {};",
      `options: { depth: stoq.z.number().int().default(3), key: stoq.z.string() },
      permissions: { read: ["$STOQ_HOME/keys"] },`,
    );
    const url = srv.put("/good.js", good);
    const r = await runStoq(["plugin", "check", url], { cwd });
    equal(r.code, 0, show(r));
    match(r.stdout, /plugin checked 1\.0\.0: test plugin checked/);
    match(r.stdout, /depth \(integer\) = 3/);
    match(r.stdout, /key \(string\)\n/);
    match(r.stdout, /asks for\s+read: \$STOQ_HOME\/keys/);
    match(r.stdout, /warning: options without a default \(every user must set them\): key/);
    match(r.stdout, /warning: not granted by built-in defaults: it reads \$STOQ_HOME\/keys/);
    match(
      r.stdout,
      new RegExp(`ok: a valid stoq plugin; pin it as ${url}#sha256=${sha256Text(good)}`),
    );
    equal(srv.hits("/good.js"), 1);
    ok(!(await Deno.stat(`${cwd}/plugins.lock.json`).catch(() => null)));

    const json = await runStoq(["plugin", "check", "--json", url], { cwd });
    const report = JSON.parse(json.stdout);
    equal(report.ok, true);
    equal(report.sha256, sha256Text(good));
    equal(report.plugin.name, "checked");
    deepEqual(report.plugin.permissions, {
      net: [],
      read: ["$STOQ_HOME/keys"],
      write: [],
      env: [],
    });

    // A local file works too.
    const path = await writeText(cwd, "local.js", good);
    equal((await runStoq(["plugin", "check", path], { cwd })).code, 0);

    const bad = async (name: string, text: string, why: RegExp) => {
      const u = srv.put(`/${name}.js`, text);
      const out = await runStoq(["plugin", "check", u], { cwd });
      equal(out.code, 1, `${name}: ${show(out)}`);
      match(out.stdout, why, `${name}: ${show(out)}`);
      match(out.stdout, /not a valid stoq plugin/);
    };
    await bad("nodefault", "export const x = 1;\n", /error: the module has no default export/);
    await bad(
      "badclass",
      'export default (stoq) => stoq.plugin({ name: "b", version: "1", description: "", classes: ["scanner"], create: () => ({}) });\n',
      /unknown class "scanner"/,
    );
    await bad(
      "imports",
      'import { helper } from "./helper.js";\nexport default (stoq) => helper(stoq);\n',
      /must be self-contained/,
    );
    await bad(
      "snoops",
      'const secret = await Deno.readTextFile("/etc/hostname");\nexport default (stoq) => stoq.plugin({ name: secret });\n',
      /Requires read access to "\/etc\/hostname"/,
    );
    await bad(
      "badperm",
      jsWorker("bp", "return {};", 'permissions: { read: ["relative/path"] },'),
      /permissions\.read: "relative\/path" is not an absolute path/,
    );
    const wrongPin = await runStoq(["plugin", "check", `${url}#sha256=${"a".repeat(64)}`], { cwd });
    equal(wrongPin.code, 1);
    match(wrongPin.stdout, /error: its sha256 is [0-9a-f]{64}, not a{64}/);
  } finally {
    await srv.stop();
  }
});

Deno.test("plugin add refuses taken names unless renamed with --name; usage errors", async () => {
  const srv = servePlugins();
  try {
    const cwd = await tempDir();
    const home = await tempDir("stoq-home-");
    const text = jsWorker("hash", "return { results: { mine: true } };");
    const url = srv.put("/hash.js", text);
    const clash = await runStoq(["plugin", "add", url, "--yes"], { cwd, home });
    equal(clash.code, 1, show(clash));
    match(clash.stderr, /a built-in plugin is called hash; give this one another name with --name/);
    const renamed = await runStoq(["plugin", "add", url, "--name", "my_hash", "--yes"], {
      cwd,
      home,
    });
    equal(renamed.code, 0, show(renamed));
    const sample = await writeText(cwd, "s.txt", "x");
    const r = await runStoq(["scan", "-a", "my_hash", "hash", sample], { cwd, home });
    equal(r.code, 0, show(r));
    const workers = parseDoc(r.stdout).results[0].workers;
    deepEqual(workers.my_hash, { mine: true });
    ok("sha256" in (workers.hash as Record<string, unknown>), "the built-in hash still runs");
    const twice = await runStoq(["plugin", "add", url, "--name", "my_hash", "--yes"], {
      cwd,
      home,
    });
    match(twice.stderr, /a pinned plugin is already called my_hash/);

    const pinnedWrong = await runStoq(["plugin", "add", `${url}#sha256=${"b".repeat(64)}`], {
      cwd,
      home,
    });
    equal(pinnedWrong.code, 1);
    match(pinnedWrong.stderr, /has sha256 [0-9a-f]{64}, not the b{64} it was given with/);

    const usage = await runStoq(["plugin", "frobnicate"], { cwd });
    equal(usage.code, 2);
    match(usage.stderr, /unknown subcommand "frobnicate"/);
    const noUrl = await runStoq(["plugin", "add"], { cwd });
    equal(noUrl.code, 2);
    const stray = await runStoq(["scan", "--yes", "x"], { cwd });
    equal(stray.code, 2);
    match(stray.stderr, /--yes belongs to stoq plugin add\/update/);
    for (const sub of ["add", "list", "update", "remove", "check"]) {
      const h = await runStoq(["plugin", sub, "--help"], { cwd });
      equal(h.code, 0);
      match(h.stdout, new RegExp(`^Usage: stoq plugin ${sub}`));
      match(h.stdout, /Examples:/);
    }
  } finally {
    await srv.stop();
  }
});
