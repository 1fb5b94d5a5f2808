import { deepEqual, equal, ok } from "node:assert/strict";
import { dummyWorker, extractPayload, GC, simpleWorker } from "../fixtures/plugins.ts";
import { errorTexts, input, testEngine } from "./harness.ts";

Deno.test("engine: a scan with no workers gives one result of the right size", async () => {
  const e = await testEngine({ plugins: [] });
  const r = await e.scan([input(GC)]);
  equal(r.results.length, 1);
  equal(r.results[0].size, 19);
  deepEqual(Object.keys(r), ["results", "request_meta", "errors", "time", "decorators", "scan_id"]);
});

Deno.test("engine: required chain runs dependency first, dedups, no self-reference", async () => {
  const e = await testEngine({
    plugins: [simpleWorker("simple_worker", ["dummy_worker"]), dummyWorker()],
    options: { simple_worker: { extracted_dispatch_to: ["simple_worker"] } },
  });
  const r = await e.scan([input(GC)], { start_dispatch: ["simple_worker"] });
  equal(r.results.length, 2);
  for (const res of r.results) {
    deepEqual([...res.plugins_run.workers].sort(), ["dummy_worker", "simple_worker"]);
  }
  deepEqual(r.results[1].extracted_by, ["simple_worker"]);
  deepEqual(errorTexts(r), []);
});

Deno.test("engine: max_recursion names the payload left unscanned", async () => {
  const e = await testEngine({
    plugins: [extractPayload()],
    pipeline: { always_dispatch: ["extract_payload"] },
  });
  const r = await e.scan([input(GC)]);
  equal(r.results.length, 11);
  equal(r.errors.length, 1);
  ok(r.errors[0].error.includes("Final worker round (10)"));
  equal(r.errors[0].payload_id, r.results[10].payload_id);
});
