/**
 * Plugins' shared parts (PluginSpec.shared): built once per process in the main thread, called
 * by the plugin's instances in every scan thread; a part that fails to build fails the start.
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { runStoq, show } from "../cli_helpers.ts";
import { tempDir } from "../helpers.ts";
import { SHARED_PLUGIN } from "../fixtures/shared_plugin.ts";

async function home(): Promise<string> {
  const dir = await tempDir("stoq-home-");
  await Deno.mkdir(`${dir}/plugins`);
  await Deno.writeTextFile(`${dir}/plugins/counter.ts`, SHARED_PLUGIN);
  return dir;
}

Deno.test("a shared part is built once, in the main thread, and serves every scan thread", async () => {
  const samples = await tempDir();
  for (const [i, n] of ["a", "bb", "ccc", "dddd", "eeeee", "ffffff"].entries()) {
    await Deno.writeTextFile(`${samples}/${i}.txt`, n);
  }
  const run = await runStoq(
    ["scan", samples, "--threads", "2", "-a", "counter", "--plugin-opts", "counter:label=L"],
    { home: await home() },
  );
  equal(run.code, 0, show(run));
  const docs = run.stdout.trim().split("\n").map((l) => JSON.parse(l));
  const res = docs.map((d) => d.results[0].workers.counter);
  equal(res.length, 6);
  // One part: the same thread built it for all, and its call counter runs across threads.
  equal(new Set(res.map((r) => r.built_in)).size, 1);
  deepEqual(res.map((r) => r.calls).sort((a, b) => a - b), [1, 2, 3, 4, 5, 6]);
  // The scan threads called it from elsewhere: it lives in the main thread.
  ok(!res.some((r) => r.scanned_in === r.built_in));
  deepEqual(res.map((r) => r.bytes).sort(), [1, 2, 3, 4, 5, 6]);
  ok(res.every((r) => r.label === "L"));
  // An error thrown in the main thread reaches the caller as an error with its message.
  equal(res.find((r) => r.bytes === 4).error, "boom in the main thread");
});

Deno.test("a shared part that fails to build fails the start with its message", async () => {
  const sample = `${await tempDir()}/s.txt`;
  await Deno.writeTextFile(sample, "x");
  for (const threads of ["1", "2"]) {
    const run = await runStoq(
      ["scan", sample, "--threads", threads, "-a", "counter", "--plugin-opts", "counter:fail=true"],
      { home: await home() },
    );
    equal(run.code, 1, show(run));
    match(run.stderr, /plugin "counter" failed to start: the shared part was told to fail/);
  }
});
