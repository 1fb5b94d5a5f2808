/**
 * The one-binary build runs with the launcher's permissions (deno compile itself cannot run here:
 * it downloads its runtime), so a plugin behaves the same under ./stoq and in the binary.
 */
import { deepEqual, ok } from "node:assert/strict";

async function flags(path: string): Promise<string[]> {
  const text = await Deno.readTextFile(new URL(path, import.meta.url));
  return [...text.matchAll(/(--(?:allow|unstable)-[a-z-]+|--v8-flags)(=[^\s"\\]+)?/g)]
    .map((m) => m[1] === "--allow-ffi" ? "--allow-ffi" : m[0])
    .filter((f, i, all) => all.indexOf(f) === i)
    .sort();
}

Deno.test("scripts/compile grants what ./stoq grants, and deno.json builds every target with it", async () => {
  const launcher = await flags("../../stoq");
  ok(launcher.includes("--unstable-worker-options"), launcher.join(" "));
  ok(launcher.includes("--v8-flags=--max-semi-space-size=4,--expose-gc"), launcher.join(" "));
  deepEqual(await flags("../../scripts/compile"), launcher);
  const tasks =
    JSON.parse(await Deno.readTextFile(new URL("../../deno.json", import.meta.url))).tasks;
  for (const t of ["linux", "macos", "windows"]) {
    deepEqual(tasks[`compile:${t}`], `bash scripts/compile ${t}`);
  }
  deepEqual(tasks.compile, "bash scripts/compile");
});

Deno.test("README's Permissions section names the tools the launcher may run", async () => {
  const launcher = (await flags("../../stoq")).find((f) => f.startsWith("--allow-run="));
  const readme = await Deno.readTextFile(new URL("../../README.md", import.meta.url));
  const section = readme.slice(readme.indexOf("\n## Permissions"));
  ok(launcher && section.includes(`\`${launcher}\``), `README should say \`${launcher}\``);
});
