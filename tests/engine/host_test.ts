/** The plugin host (core/engine/host.ts): what a plugin call leaves behind when it ends. */
import { deepEqual, equal, ok } from "node:assert/strict";
import type { StoqAPI } from "../../core/engine/plugin.ts";
import { input, testEngine } from "./harness.ts";

Deno.test("a call that times out inside withTempFile leaves no temporary folder behind", async () => {
  const seen: string[] = [];
  const hang = (stoq: StoqAPI) =>
    stoq.plugin({
      name: "hangs_with_temp",
      version: "1",
      description: "writes the payload to a temporary file, then never finishes",
      classes: ["worker"],
      create: () => ({
        scan: (payload, _req, call) =>
          call.withTempFile(payload.content, (path) => {
            seen.push(path);
            return new Promise<never>(() => {}); // a tool that never answers
          }),
      }),
    });
  const engine = await testEngine({
    plugins: [hang],
    core: { plugin_timeout: 0.3 },
    pipeline: { always_dispatch: ["hangs_with_temp"] },
  });
  const r = await engine.scan([input("secret payload")]);
  deepEqual(r.errors.map((e) => [e.plugin_name, e.error]), [[
    "hangs_with_temp",
    "timed out after 0.3 s",
  ]]);
  equal(seen.length, 1);
  const folder = seen[0].slice(0, seen[0].lastIndexOf("/"));
  ok(folder.includes("stoq-tool-"), folder);
  // Neither the copy of the payload nor its private folder outlives the call.
  deepEqual(await Deno.stat(folder).then(() => "exists", (e) => e.name), "NotFound");
});
