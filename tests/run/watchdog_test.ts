import { deepEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { runStoq } from "../cli_helpers.ts";
import { tempDir } from "../helpers.ts";

// A plugin stuck in synchronous code cannot be stopped by its own timeout (the timer never runs);
// on scan threads the pool's watchdog stops it, and the scan is re-run without it.
const SPIN = `import type { StoqAPI } from "../no/such/core/engine/plugin.ts";
export default (stoq: StoqAPI) =>
  stoq.plugin({
    name: "spin",
    version: "1",
    description: "spins forever on payloads that contain SPIN",
    classes: ["worker"],
    create: () => ({
      scan(payload) {
        if (new TextDecoder().decode(payload.content).includes("SPIN")) for (;;) { /* stuck */ }
        return { results: { ok: true } };
      },
    }),
  });
`;

interface Doc {
  results: {
    payload_meta: { extra_data: { filename: string } };
    workers: Record<string, unknown>;
  }[];
  errors: { error: string; plugin_name: string | null }[];
}

/**
 * Scans `files` (name → text) with the user plugin `name` (its `source`) after hash, the
 * plugin's timeout set to 1 s, and `extra` flags.
 */
async function scanWith(
  name: string,
  source: string,
  files: Record<string, string>,
  extra: string[] = [],
) {
  const dir = await tempDir();
  await Deno.mkdir(join(dir, "plugins"));
  await Deno.writeTextFile(join(dir, "plugins", `${name}.ts`), source);
  const config = join(dir, "stoq.toml");
  await Deno.writeTextFile(
    config,
    `[core]\nalways_dispatch = ["hash", "${name}"]\nplugin_timeouts = { ${name} = 1 }\n`,
  );
  const paths: string[] = [];
  for (const [file, text] of Object.entries(files)) {
    paths.push(join(dir, file));
    await Deno.writeTextFile(join(dir, file), text);
  }
  return runStoq([
    "scan",
    "--plugin-dir",
    join(dir, "plugins"),
    "--config",
    config,
    ...extra,
    ...paths,
  ]);
}

Deno.test("a plugin that blocks its scan thread is stopped; the scan completes without it", async () => {
  const run = await scanWith(
    "spin",
    SPIN,
    { "stuck.txt": "SPIN forever\n", "fine.txt": "nothing odd here\n" },
    ["--threads", "2"],
  );
  equal(run.code, 0, run.stderr);
  const docs = run.stdout.trim().split("\n").map((l) => JSON.parse(l) as Doc);
  const byName = new Map(docs.map((d) => [d.results[0].payload_meta.extra_data.filename, d]));
  const stuck = byName.get("stuck.txt")!;
  const fine = byName.get("fine.txt")!;
  deepEqual(Object.keys(stuck.results[0].workers), ["hash"]);
  equal(stuck.errors.length, 1);
  equal(stuck.errors[0].plugin_name, "spin");
  match(stuck.errors[0].error, /blocked its scan thread .* run again without it/);
  deepEqual(Object.keys(fine.results[0].workers).sort(), ["hash", "spin"]);
  deepEqual(fine.errors, []);
  ok(run.stderr.includes("thread was restarted"));
});

// A plugin whose stray callback throws outside any plugin call must not end the process (main
// thread) or its scan thread: the error is logged and the call itself times out.
const STRAY = `import type { StoqAPI } from "../no/such/core/engine/plugin.ts";
export default (stoq: StoqAPI) =>
  stoq.plugin({
    name: "stray",
    version: "1",
    description: "throws from a timer on payloads that contain BOOM, and never answers",
    classes: ["worker"],
    create: () => ({
      scan(payload) {
        if (!new TextDecoder().decode(payload.content).includes("BOOM")) return { results: { ok: 1 } };
        setTimeout(() => { throw new Error("stray boom"); }, 0);
        return new Promise(() => {});
      },
    }),
  });
`;

for (const threads of [[], ["--threads", "2"]]) {
  Deno.test(`an error thrown outside any plugin call is logged; the scan goes on (${threads.join(" ") || "main thread"})`, async () => {
    const run = await scanWith("stray", STRAY, { "boom.txt": "BOOM\n" }, threads);
    equal(run.code, 0, run.stderr);
    const doc = JSON.parse(run.stdout) as Doc;
    deepEqual(Object.keys(doc.results[0].workers), ["hash"]);
    deepEqual(doc.errors.map((e) => [e.plugin_name, e.error]), [["stray", "timed out after 1 s"]]);
    match(run.stderr, /uncaught error outside any plugin call .*stray boom/);
  });
}
