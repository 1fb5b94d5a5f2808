/**
 * Engine conformance: stoQ v3's test list (spec §7.2–§7.11), adapted to stoq's deliberate
 * differences, which are tested as the behaviour and marked "difference N" (numbered as in the
 * engine's design notes: 1 initial dispatch_to, 2 dedup, 3 dispatcher/connector errors, 4 error
 * de-duplication, 5 failed requirements block, 6 required_workers checked up front, 7 order,
 * 8 pending work named, 9 garbage, 10 limits, 11 unknown dispatch, 12 string errors,
 * 13 max_recursion ≥ 1, 14 UTC time, 15 subresponses, 16 split, 17 dispatchers asked again
 * only about changed payloads).
 */
import { deepEqual, equal, match, ok, rejects } from "node:assert/strict";
import { stoqAPI } from "../../core/engine/api.ts";
import { CoreConfigSchema } from "../../core/config.ts";
import { PluginLoadError } from "../../core/engine/host.ts";
import {
  newPayloadResults,
  PayloadMetaSchema,
  RequestMetaSchema,
  type StoqResponse,
} from "../../core/engine/model.ts";
import type { Payload, PluginFactory, Request } from "../../core/engine/plugin.ts";
import { deliver } from "../../core/run/runner.ts";
import { splitResponse, subresponses } from "../../core/engine/subresponses.ts";
import { errorTexts, input, testEngine } from "./harness.ts";
import {
  ARCHIVED_PAYLOAD,
  brokenWorker,
  bytesWorker,
  type Call,
  conditionalDispatcher,
  dummyArchiver,
  dummyWorker,
  extractPayload,
  GC,
  multiclassPlugin,
  orderWorker,
  recordingConnector,
  reportingWorker,
  simpleArchiver,
  simpleDecorator,
  simpleDispatcher,
  simpleWorker,
} from "../fixtures/plugins.ts";
import { makeCall } from "../helpers.ts";

const RESULT_KEYS = [
  "size",
  "payload_id",
  "payload_meta",
  "plugins_run",
  "extracted_from",
  "extracted_by",
  "workers",
  "archivers",
];
const RESPONSE_KEYS = ["results", "request_meta", "errors", "time", "decorators", "scan_id"];
const PAYLOAD_META_KEYS = ["should_archive", "should_scan", "extra_data", "dispatch_to"];
const REQUEST_META_KEYS = ["archive_payloads", "source", "extra_data"];
const ERROR_KEYS = ["error", "plugin_name", "payload_id"];

const sorted = (xs: readonly string[]) => [...xs].sort();
const ran = (r: StoqResponse, i: number) => r.results[i].plugins_run.workers;
const errorsBy = (r: StoqResponse, plugin: string) =>
  r.errors.filter((e) => e.plugin_name === plugin);

/** The payloads a recorded call list saw (its first argument). */
const payloadsOf = (calls: Call[]) => calls.map((c) => c.args[0] as Payload);

// ---------------------------------------------------------------------------------------------
// §1.10 canonical output, §1 key order, difference 14 (time)
// ---------------------------------------------------------------------------------------------

/** The response with ids, scan id and time replaced by stable labels, as JSON text. */
function canonical(r: StoqResponse): string {
  const ids = new Map(r.results.map((x, i) => [x.payload_id, `P${i}`]));
  return JSON.stringify(r, (key, value) => {
    if (key === "time") return "TIME";
    if (key === "scan_id") return "SCAN";
    if (typeof value === "string" && ids.has(value)) return ids.get(value);
    return value;
  });
}

Deno.test("§1.10 canonical scan output: every value and every key in stoQ's order", async () => {
  const e = await testEngine({
    plugins: [
      simpleWorker(),
      dummyWorker(),
      simpleDispatcher(),
      simpleArchiver(),
      simpleDecorator(),
    ],
    pipeline: {
      dispatchers: ["simple_dispatcher"],
      dest_archivers: ["simple_archiver"],
      decorators: ["simple_decorator"],
    },
    options: { simple_worker: { return_errors: true } },
  });
  const r = await e.scan([
    input(GC, {
      payload_meta: { extra_data: { filename: "fox.txt" } },
      request_meta: { extra_data: { k: "v" }, source: "cli" },
    }),
  ], { start_dispatch: ["simple_worker"] });
  const meta = (extra: Record<string, unknown>) => ({
    should_archive: true,
    should_scan: true,
    extra_data: extra,
    dispatch_to: [],
  });
  const expected = {
    results: [
      {
        size: 19,
        payload_id: "P0",
        payload_meta: meta({ filename: "fox.txt" }),
        plugins_run: { workers: ["dummy_worker", "simple_worker"], archivers: ["simple_archiver"] },
        extracted_from: [],
        extracted_by: [],
        workers: { simple_worker: { valuable_insight: "wow" } },
        archivers: { simple_archiver: { file_save_id: 12345 } },
      },
      {
        size: 11,
        payload_id: "P1",
        payload_meta: meta({}),
        plugins_run: { workers: ["dummy_worker"], archivers: ["simple_archiver"] },
        extracted_from: ["P0"],
        extracted_by: ["simple_worker"],
        workers: {},
        archivers: { simple_archiver: { file_save_id: 12345 } },
      },
    ],
    request_meta: { archive_payloads: true, source: "cli", extra_data: { k: "v" } },
    errors: [{ error: "Test error please ignore", plugin_name: "simple_worker", payload_id: "P0" }],
    time: "TIME",
    decorators: { simple_decorator: { simple_decoration: 123 } },
    scan_id: "SCAN",
  };
  equal(canonical(r), JSON.stringify(expected));
});

Deno.test("§1 key order of response, results, metas, plugins_run and error records", async () => {
  const e = await testEngine({
    plugins: [reportingWorker(), extractPayload()],
    options: { extract_payload: { payload: "child" } },
  });
  const r = await e.scan([
    input(GC, {
      // Keys deliberately given out of order: the result must still be in stoQ's order.
      payload_meta: {
        dispatch_to: ["reporting_worker", "extract_payload"],
        extra_data: { a: 1 },
        should_archive: true,
      },
      request_meta: { extra_data: { b: 2 }, source: "test", archive_payloads: false },
    }),
  ]);
  deepEqual(Object.keys(r), RESPONSE_KEYS);
  deepEqual(Object.keys(r.request_meta), REQUEST_META_KEYS);
  equal(r.results.length, 2);
  for (const res of r.results) {
    deepEqual(Object.keys(res), RESULT_KEYS);
    deepEqual(Object.keys(res.payload_meta), PAYLOAD_META_KEYS);
    deepEqual(Object.keys(res.plugins_run), ["workers", "archivers"]);
  }
  ok(r.errors.length > 0);
  for (const err of r.errors) deepEqual(Object.keys(err), ERROR_KEYS);
  // The whole document survives a JSON round trip unchanged (test_*_to_str).
  deepEqual(JSON.parse(JSON.stringify(r)), r);
});

Deno.test("§7.8 to_str: every model object serialises to a JSON object", () => {
  const objects = [
    PayloadMetaSchema.parse({}),
    RequestMetaSchema.parse({}),
    newPayloadResults(19, PayloadMetaSchema.parse({})),
  ];
  for (const o of objects) {
    const back = JSON.parse(JSON.stringify(o));
    equal(typeof back, "object");
    deepEqual(back, o);
  }
  deepEqual(Object.keys(objects[0]), PAYLOAD_META_KEYS);
  deepEqual(Object.keys(objects[1]), REQUEST_META_KEYS);
  deepEqual(Object.keys(objects[2]), RESULT_KEYS);
});

Deno.test("difference 14: time is UTC ISO-8601 ending in Z, scan_id a UUID", async () => {
  const e = await testEngine({ plugins: [] });
  const r = await e.scan([input(GC)]);
  match(r.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  equal(new Date(r.time).toISOString(), r.time);
  match(r.scan_id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  match(r.results[0].payload_id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-/);
});

// ---------------------------------------------------------------------------------------------
// §7.2 Scanning and dispatch
// ---------------------------------------------------------------------------------------------

Deno.test("§7.2 test_scan: one result of 19 bytes, no errors", async () => {
  const e = await testEngine({ plugins: [simpleWorker()] });
  const r = await e.scan([input(GC)]);
  equal(r.results.length, 1);
  equal(r.results[0].size, 19);
  deepEqual(ran(r, 0), []);
  deepEqual(r.errors, []);
});

Deno.test("§7.2 test_split_results / difference 16: one document per worker result", async () => {
  const e = await testEngine({ plugins: [multiclassPlugin(), simpleWorker()] });
  const r = await e.scan([input(GC)], { start_dispatch: ["multiclass_plugin", "simple_worker"] });
  equal(r.results.length, 2);
  const split = splitResponse(r);
  // The extracted Lorem ipsum has no worker output, so it adds no entry (spec §1.8).
  equal(split.length, 2);
  deepEqual(split.map((s) => Object.keys(s.results[0].workers)), [
    ["multiclass_plugin"],
    ["simple_worker"],
  ]);
  for (const s of split) {
    equal(s.results.length, 1);
    equal(s.results[0].payload_id, r.results[0].payload_id);
    deepEqual(Object.keys(s), RESPONSE_KEYS);
    deepEqual(Object.keys(s.results[0]), RESULT_KEYS);
    equal(s.scan_id, r.scan_id);
  }
  // The pieces are copies: changing one leaves the response alone.
  (split[0].results[0].workers.multiclass_plugin as Record<string, unknown>).x = 1;
  split[0].request_meta.extra_data.y = 2;
  deepEqual(r.results[0].workers.multiclass_plugin, { valuable_insight: "wow" });
  deepEqual(r.request_meta.extra_data, {});
});

Deno.test("§7.11.11 split leaves out results without worker output", async () => {
  const e = await testEngine({ plugins: [simpleWorker()] });
  const r = await e.scan([input(GC)], { start_dispatch: ["simple_worker"] });
  equal(r.results.length, 2);
  equal(splitResponse(r).length, 1);
});

Deno.test("§7.2 test_worker_should_scan: an extracted should_scan=false payload is not scanned", async () => {
  const e = await testEngine({
    plugins: [simpleWorker(), dummyWorker()],
    options: { simple_worker: { should_scan: false, extracted_dispatch_to: ["dummy_worker"] } },
  });
  const r = await e.scan([input(GC)], { start_dispatch: ["simple_worker"] });
  equal(ran(r, 0)[0], "simple_worker");
  equal(r.results.length, 2);
  deepEqual(ran(r, 1), []);
  equal(r.results[1].payload_meta.should_scan, false);
  deepEqual(r.errors, []);
});

Deno.test("§7.2 test_always_dispatch: runs on the root and on the extracted payload", async () => {
  const e = await testEngine({
    plugins: [simpleWorker()],
    pipeline: { always_dispatch: ["simple_worker"] },
  });
  await e.preload();
  const r = await e.scan([input(GC)]);
  ok(ran(r, 0).includes("simple_worker"));
  ok(ran(r, 1).includes("simple_worker"));
});

Deno.test("§7.2/§7.1 preload fails before any scan on an unknown always_dispatch worker", async () => {
  const e = await testEngine({
    plugins: [simpleWorker()],
    pipeline: { always_dispatch: ["simple_wroker"] },
  });
  await rejects(e.preload(), (err: Error) => {
    ok(err instanceof PluginLoadError);
    match(err.message, /plugin "simple_wroker" does not exist \(did you mean "simple_worker"\?\)/);
    return true;
  });
});

Deno.test("§7.2 test_start_dispatch: start workers run on the initial payload only", async () => {
  const e = await testEngine({ plugins: [extractPayload()] });
  const r = await e.scan([input(GC)], { start_dispatch: ["extract_payload"] });
  equal(r.results.length, 2);
  deepEqual(ran(r, 0), ["extract_payload"]);
  deepEqual(ran(r, 1), []);
});

Deno.test("§7.2 test_dispatch: the worker gets (payload, request, call) and dispatch_meta", async () => {
  const calls: Call[] = [];
  const e = await testEngine({
    plugins: [simpleDispatcher(), dummyWorker("dummy_worker", [], calls)],
    pipeline: { dispatchers: ["simple_dispatcher"] },
  });
  const r = await e.scan([input(GC)]);
  equal(calls.length, 1);
  const [payload, request, call] = calls[0].args as [Payload, Request, { signal: AbortSignal }];
  equal(calls[0].args.length, 3);
  deepEqual(payload.dispatch_meta.simple_dispatcher, { test_key: "Useful metadata info" });
  equal(payload.results.payload_id, r.results[0].payload_id);
  ok(request.payloads.includes(payload));
  ok(call.signal instanceof AbortSignal);
  ok(ran(r, 0).includes("dummy_worker"));
  // dispatch_meta never reaches the result document.
  ok(!JSON.stringify(r).includes("Useful metadata info"));
});

Deno.test("§7.2 test_conditional_dispatch: a dispatcher sees the previous rounds' results", async () => {
  const calls: Call[] = [];
  const e = await testEngine({
    plugins: [conditionalDispatcher(), simpleWorker("simple_worker", [], calls), dummyWorker()],
    pipeline: { dispatchers: ["conditional_dispatcher"] },
  });
  const r1 = await e.scan([input(GC)]);
  equal(calls.length, 0);
  deepEqual(ran(r1, 0), []);
  const r2 = await e.scan([input(GC)], { start_dispatch: ["dummy_worker"] });
  ok(calls.length >= 1);
  deepEqual(ran(r2, 0), ["dummy_worker", "simple_worker"]);
});

Deno.test("§7.2 test_dispatch_duplicate: a worker dispatched twice runs once", async () => {
  const calls: Call[] = [];
  const e = await testEngine({
    plugins: [simpleDispatcher(), simpleWorker("simple_worker", [], calls)],
    pipeline: { dispatchers: ["simple_dispatcher"] },
    options: {
      simple_dispatcher: { workers: ["simple_worker", "simple_worker"] },
      simple_worker: { should_scan: false },
    },
  });
  const r = await e.scan([input(GC)], { start_dispatch: ["simple_worker"] });
  equal(calls.length, 1);
  equal(calls[0].args.length, 3);
  deepEqual(ran(r, 0), ["simple_worker"]);
});

Deno.test("§7.2 a worker in both always_dispatch and a dispatcher's output runs once", async () => {
  const calls: Call[] = [];
  const e = await testEngine({
    plugins: [simpleDispatcher(), dummyWorker("dummy_worker", [], calls)],
    pipeline: { dispatchers: ["simple_dispatcher"], always_dispatch: ["dummy_worker"] },
  });
  const r = await e.scan([input(GC)], { start_dispatch: ["dummy_worker"] });
  equal(calls.length, 1);
  deepEqual(ran(r, 0), ["dummy_worker"]);
});

Deno.test("§7.2 test_dispatch_from_worker: extracted dispatch_to runs on the child", async () => {
  const e = await testEngine({
    plugins: [simpleWorker(), extractPayload()],
    options: { simple_worker: { extracted_dispatch_to: ["extract_payload"] } },
  });
  const r = await e.scan([input(GC)], { start_dispatch: ["simple_worker"] });
  equal(r.results.length, 3);
  equal(ran(r, 0)[0], "simple_worker");
  equal(ran(r, 1)[0], "extract_payload");
  ok(r.results[2].extracted_by.includes("extract_payload"));
  equal(r.results[2].extracted_from[0], r.results[1].payload_id);
});

Deno.test("§7.2 test_additional_dispatch_from_worker: a worker's dispatch_to runs next round", async () => {
  const e = await testEngine({
    plugins: [simpleWorker(), dummyWorker()],
    options: { simple_worker: { additional_dispatch_to: ["dummy_worker"] } },
  });
  const r = await e.scan([input(GC)], { start_dispatch: ["simple_worker"] });
  equal(r.results.length, 2);
  // Deterministic across rounds: simple_worker in round 1, dummy_worker in round 2.
  deepEqual(ran(r, 0), ["simple_worker", "dummy_worker"]);
  equal(ran(r, 1).length, 0);
});

Deno.test("§7.2 test_dispatch_multiple_plugins: each dispatched worker runs exactly once", async () => {
  for (const content of ["multi-plugin-content", "again-multi-plugin-space-content"]) {
    const calls: Call[] = [];
    const e = await testEngine({
      plugins: [
        simpleDispatcher(),
        simpleWorker("simple_worker", [], calls),
        dummyWorker("dummy_worker", [], calls),
      ],
      pipeline: { dispatchers: ["simple_dispatcher"] },
      options: {
        simple_dispatcher: { workers: ["simple_worker", "dummy_worker"] },
        simple_worker: { should_scan: false },
      },
    });
    await e.scan([input(content)]);
    deepEqual(sorted(calls.map((c) => c.plugin)), ["dummy_worker", "simple_worker"]);
    for (const c of calls) equal(c.args.length, 3);
  }
});

Deno.test("§7.2 test_dispatch_nonexistent_plugin / difference 11: one error, scan completes", async () => {
  const e = await testEngine({ plugins: [simpleWorker()] });
  const r = await e.scan([input(GC)], {
    start_dispatch: ["this_plugin_doesnt_exist", "simple_worker"],
  });
  ok(!ran(r, 0).includes("this_plugin_doesnt_exist"));
  equal(r.errors.length, 1);
  deepEqual(Object.keys(r.errors[0]), ERROR_KEYS);
  equal(r.errors[0].plugin_name, "this_plugin_doesnt_exist");
  equal(r.errors[0].payload_id, r.results[0].payload_id);
  match(
    r.errors[0].error,
    /^worker plugin this_plugin_doesnt_exist could not be used: plugin "this_plugin_doesnt_exist" does not exist/,
  );
  // The rest of the scan went on.
  deepEqual(r.results[0].workers.simple_worker, { valuable_insight: "wow" });
});

Deno.test("difference 11: dispatching to a connector is an error, not a crash (stoQ crashed)", async () => {
  const e = await testEngine({
    plugins: [simpleDispatcher(), recordingConnector(), dummyWorker()],
    pipeline: { dispatchers: ["simple_dispatcher"] },
    options: { simple_dispatcher: { workers: ["dummy_connector", "dummy_worker"] } },
  });
  const r = await e.scan([input(GC)], { start_dispatch: ["dummy_connector"] });
  deepEqual(ran(r, 0), ["dummy_worker"]);
  equal(r.errors.length, 1);
  equal(r.errors[0].plugin_name, "dummy_connector");
  equal(
    r.errors[0].error,
    'worker plugin dummy_connector could not be used: plugin "dummy_connector" is not a worker (it is: connector)',
  );
});

Deno.test("§7.2 test_multiclass_plugin: one instance serves as dispatcher and worker", async () => {
  const calls: Call[] = [];
  const e = await testEngine({
    plugins: [multiclassPlugin("multiclass_plugin", calls)],
    pipeline: { dispatchers: ["multiclass_plugin"] },
  });
  const r = await e.scan([input(GC)]);
  ok(calls.length >= 1);
  const payload = calls[0].args[0] as Payload;
  equal(calls[0].args.length, 3);
  equal(payload.results.payload_id, r.results[0].payload_id);
  const meta = payload.dispatch_meta.multiclass_plugin as Record<string, Record<string, string>>;
  equal(meta.multiclass_plugin.rule0, "multiclass_plugin");
  equal(ran(r, 0)[0], "multiclass_plugin");
  const asWorker = await e.host.load("multiclass_plugin", "worker");
  const asDispatcher = await e.host.load("multiclass_plugin", "dispatcher");
  equal(asWorker.instance, asDispatcher.instance);
});

// ---------------------------------------------------------------------------------------------
// §7.3 Required workers, dedup and recursion
// ---------------------------------------------------------------------------------------------

Deno.test("§7.3 test_scan_with_required_plugin: dependency runs first, on every payload", async () => {
  const e = await testEngine({
    plugins: [simpleWorker("simple_worker", ["dummy_worker"]), dummyWorker()],
    options: { simple_worker: { extracted_dispatch_to: ["simple_worker"] } },
  });
  const r = await e.scan([input(GC)], { start_dispatch: ["simple_worker"] });
  equal(r.results.length, 2);
  deepEqual(ran(r, 0), ["dummy_worker", "simple_worker"]);
  deepEqual(ran(r, 1), ["dummy_worker", "simple_worker"]);
  deepEqual(r.errors, []);
});

Deno.test("§7.3 test_scan_with_duplicate_extracted_payloads / difference 2: no self-reference", async () => {
  const more = GC + "more data";
  const e = await testEngine({
    plugins: [simpleWorker(), extractPayload()],
    options: {
      simple_worker: { extracted_dispatch_to: ["extract_payload"], extracted_payload: more },
      extract_payload: { payload: more },
    },
  });
  const r = await e.scan([input(GC)], { start_dispatch: ["simple_worker"] });
  equal(r.results.length, 2);
  equal(ran(r, 0)[0], "simple_worker");
  ok(!ran(r, 0).includes("extract_payload"));
  equal(ran(r, 1)[0], "extract_payload");
  ok(!ran(r, 1).includes("simple_worker"));
  // stoQ v3 gave ['simple_worker', 'extract_payload']: extract_payload re-extracted the payload
  // it was scanning. stoq records no payload as extracted from itself.
  deepEqual(r.results[1].extracted_by, ["simple_worker"]);
  deepEqual(r.results[1].extracted_from, [r.results[0].payload_id]);
});

Deno.test("§7.3 test_scan_with_nested_required_plugin: chain of three, six rounds", async () => {
  const e = await testEngine({
    plugins: [
      simpleWorker("simple_worker", ["dummy_worker"]),
      dummyWorker("dummy_worker", ["extract_payload"]),
      extractPayload(),
    ],
    options: { simple_worker: { extracted_dispatch_to: ["simple_worker"] } },
  });
  const r = await e.scan([input(GC)], { start_dispatch: ["simple_worker"] });
  equal(r.results.length, 4);
  // Deterministic now: each dependency runs one round before its dependent.
  deepEqual(ran(r, 0), ["extract_payload", "dummy_worker", "simple_worker"]);
  deepEqual(ran(r, 2), ["extract_payload", "dummy_worker", "simple_worker"]);
  deepEqual(r.results[1].extracted_by, ["extract_payload"]);
  deepEqual(r.results[2].extracted_by, ["simple_worker"]);
  deepEqual(r.results[3].extracted_by, ["extract_payload"]);
  deepEqual(r.results[3].extracted_from, [r.results[2].payload_id]);
  deepEqual(r.errors, []);
});

Deno.test("§7.3 test_scan_with_required_plugin_max_depth / difference 6", async (t) => {
  const plugins = [
    simpleWorker("simple_worker", ["dummy_worker"]),
    dummyWorker("dummy_worker", ["extract_payload"]),
    extractPayload(),
  ];
  const deep =
    /required_workers of simple_worker are nested deeper than max_required_worker_depth \(1\): simple_worker -> dummy_worker -> extract_payload/;
  await t.step("the load fails before any scan", async () => {
    const e = await testEngine({ plugins, core: { max_required_worker_depth: 1 } });
    await rejects(e.host.load("simple_worker", "worker"), (err: Error) => {
      ok(err instanceof PluginLoadError);
      match(err.message, deep);
      return true;
    });
    await rejects(e.preload(["simple_worker"]), PluginLoadError);
  });
  await t.step("reached only in a scan: 1 result and 1 error", async () => {
    const e = await testEngine({ plugins, core: { max_required_worker_depth: 1 } });
    const r = await e.scan([input(GC)], { start_dispatch: ["simple_worker"] });
    equal(r.results.length, 1);
    equal(r.errors.length, 1);
    equal(r.errors[0].plugin_name, "simple_worker");
    match(r.errors[0].error, /^worker plugin simple_worker could not be used: /);
    match(r.errors[0].error, deep);
    deepEqual(ran(r, 0), []);
  });
  await t.step("max_required_worker_depth N allows a chain of N+1 plugins", async () => {
    const e = await testEngine({ plugins, core: { max_required_worker_depth: 1 } });
    await e.host.load("dummy_worker", "worker");
    const r = await e.scan([input(GC)], { start_dispatch: ["dummy_worker"] });
    deepEqual(ran(r, 0), ["extract_payload", "dummy_worker"]);
    deepEqual(r.errors, []);
    const e2 = await testEngine({ plugins, core: { max_required_worker_depth: 2 } });
    await e2.preload(["simple_worker"]);
  });
});

Deno.test("§7.3 test_scan_with_required_plugin_circular_reference / difference 6", async () => {
  const plugins = [
    simpleWorker("simple_worker", ["dummy_worker"]),
    dummyWorker("dummy_worker", ["simple_worker"]),
  ];
  const e = await testEngine({ plugins, core: { max_required_worker_depth: 1000 } });
  await rejects(e.preload(["simple_worker"]), (err: Error) => {
    ok(err instanceof PluginLoadError);
    equal(err.message, "circular required_workers: simple_worker -> dummy_worker -> simple_worker");
    return true;
  });
  const r = await e.scan([input(GC)], { start_dispatch: ["simple_worker"] });
  equal(r.results.length, 1);
  equal(r.errors.length, 1);
  match(r.errors[0].error, /Circular|circular/);
  match(r.errors[0].error, /^worker plugin simple_worker could not be used: circular/);
});

Deno.test("difference 6: other required_workers problems fail at load, before any scan", async (t) => {
  const plugins = [
    simpleWorker("needs_missing", ["no_such_worker"]),
    simpleWorker("needs_connector", ["dummy_connector"]),
    dummyWorker("needs_needs_missing", ["needs_missing"]),
    recordingConnector(),
    simpleDispatcher(),
  ];
  const e = await testEngine({ plugins });
  await t.step("an unknown required worker", async () => {
    await rejects(e.host.load("needs_missing", "worker"), (err: Error) => {
      ok(err instanceof PluginLoadError);
      equal(
        err.message,
        'plugin "needs_missing" requires worker "no_such_worker", which does not exist',
      );
      return true;
    });
    // Also when it is one step further down the chain.
    await rejects(e.host.load("needs_needs_missing", "worker"), /requires worker "no_such_worker"/);
  });
  await t.step("a required plugin that is not a worker", async () => {
    await rejects(e.preload(["needs_connector"]), (err: Error) => {
      ok(err instanceof PluginLoadError);
      equal(
        err.message,
        'needs_connector requires "dummy_connector", which is not a worker (it is: connector)',
      );
      return true;
    });
  });
  await t.step("a dispatcher's declared targets are checked by preload", async () => {
    const d = await testEngine({
      plugins,
      pipeline: { dispatchers: ["simple_dispatcher"] },
      options: { simple_dispatcher: { workers: ["needs_missing"], declare_targets: true } },
    });
    await rejects(d.preload(), /requires worker "no_such_worker"/);
  });
  await t.step(
    "reached through an undeclared dispatch: the scan completes with an error",
    async () => {
      const d = await testEngine({
        plugins,
        pipeline: { dispatchers: ["simple_dispatcher"] },
        options: { simple_dispatcher: { workers: ["needs_missing"] } },
      });
      await d.preload();
      const r = await d.scan([input(GC)]);
      equal(r.results.length, 1);
      deepEqual(errorTexts(r), [
        'worker plugin needs_missing could not be used: plugin "needs_missing" requires worker "no_such_worker", which does not exist',
      ]);
    },
  );
});

Deno.test("§7.11.6: a worker with a missing dependency gives one error per payload, not per round", async () => {
  const e = await testEngine({
    plugins: [extractPayload(), simpleWorker("needs_missing", ["no_such_worker"])],
    pipeline: { always_dispatch: ["extract_payload", "needs_missing"] },
    core: { max_recursion: 3 },
  });
  const r = await e.scan([input(GC)]);
  equal(r.results.length, 4);
  const errs = errorsBy(r, "needs_missing");
  // Root, p1 and p2 were scanned; p3 arrived in the final round and was never scanned.
  deepEqual(errs.map((x) => x.payload_id), r.results.slice(0, 3).map((x) => x.payload_id));
  for (const x of errs) match(x.error, /requires worker "no_such_worker"/);
});

Deno.test("§7.3 test_max_recursion: 11 results, one Final worker round error on the last", async () => {
  const e = await testEngine({
    plugins: [extractPayload()],
    pipeline: { always_dispatch: ["extract_payload"] },
  });
  const r = await e.scan([input(GC)]);
  equal(r.results.length, 11);
  deepEqual(r.errors, [{
    error: "Final worker round (10) reached, unable to process payload",
    plugin_name: null,
    payload_id: r.results[10].payload_id,
  }]);
  deepEqual(ran(r, 10), []);
  for (let i = 0; i < 10; i++) deepEqual(ran(r, i), ["extract_payload"]);
});

Deno.test("§7.11.8 / difference 8: max_recursion=1 gives 2 results and names pending work", async () => {
  const e = await testEngine({
    plugins: [simpleWorker(), dummyWorker()],
    core: { max_recursion: 1 },
    options: { simple_worker: { additional_dispatch_to: ["dummy_worker"] } },
  });
  const r = await e.scan([input(GC)], { start_dispatch: ["simple_worker"] });
  equal(r.results.length, 2);
  deepEqual(ran(r, 0), ["simple_worker"]);
  deepEqual(r.errors, [
    {
      error: "Final worker round (1) reached, unable to process payload",
      plugin_name: null,
      payload_id: r.results[1].payload_id,
    },
    {
      error: "Final worker round (1) reached, workers not run: dummy_worker",
      plugin_name: null,
      payload_id: r.results[0].payload_id,
    },
  ]);
});

Deno.test("difference 8: a deferred dependent left at the round limit is named", async () => {
  const e = await testEngine({
    plugins: [simpleWorker("simple_worker", ["dummy_worker"]), dummyWorker(), extractPayload()],
    core: { max_recursion: 1 },
  });
  const r = await e.scan([input(GC)], { start_dispatch: ["simple_worker", "extract_payload"] });
  deepEqual(ran(r, 0), ["dummy_worker", "extract_payload"]);
  deepEqual(errorTexts(r), [
    "Final worker round (1) reached, unable to process payload",
    "Final worker round (1) reached, workers not run: simple_worker",
  ]);
  equal(r.errors[1].payload_id, r.results[0].payload_id);
});

Deno.test("§7.11.15 / difference 13: max_recursion must be at least 1", () => {
  equal(CoreConfigSchema.safeParse({ max_recursion: 0 }).success, false);
  equal(CoreConfigSchema.safeParse({ max_recursion: 1 }).success, true);
  equal(CoreConfigSchema.parse({}).max_recursion, 10);
});

Deno.test("§7.3 test_dedup / difference 2: always_dispatch simple_worker gives 2 results", async () => {
  const e = await testEngine({
    plugins: [simpleWorker()],
    pipeline: { always_dispatch: ["simple_worker"] },
  });
  const r = await e.scan([input(GC)]);
  equal(r.results.length, 2);
  // stoQ v3: extracted_by ['simple_worker', 'simple_worker'] and its own id in extracted_from.
  deepEqual(r.results[1].extracted_by, ["simple_worker"]);
  deepEqual(r.results[1].extracted_from, [r.results[0].payload_id]);
  deepEqual(r.errors, []);
});

Deno.test("§7.11.3 / difference 2: a duplicate merges into the first payload with that hash only", async () => {
  const e = await testEngine({
    plugins: [extractPayload()],
    options: { extract_payload: { payload: "dup me" } },
  });
  const r = await e.scan([
    input("dup me"),
    input("dup me"),
    input("other", { payload_meta: { dispatch_to: ["extract_payload"] } }),
  ]);
  equal(r.results.length, 3);
  deepEqual(r.results[0].extracted_from, [r.results[2].payload_id]);
  deepEqual(r.results[0].extracted_by, ["extract_payload"]);
  deepEqual(r.results[1].extracted_from, []);
  deepEqual(r.results[1].extracted_by, []);
});

Deno.test("difference 2: an identical (extracted_from, extracted_by) pair is added once", async () => {
  const e = await testEngine({
    plugins: [extractPayload(), extractPayload("extract_two"), simpleWorker()],
    options: {
      extract_payload: { payload: "Lorem ipsum" },
      extract_two: { payload: "Lorem ipsum" },
    },
  });
  const r = await e.scan([input(GC)], {
    start_dispatch: ["simple_worker", "extract_two", "extract_payload"],
  });
  equal(r.results.length, 2);
  // Accepted in worker-name order; each (parent, worker) pair once.
  deepEqual(r.results[1].extracted_by, ["extract_payload", "extract_two", "simple_worker"]);
  const root = r.results[0].payload_id;
  deepEqual(r.results[1].extracted_from, [root, root, root]);
  // Scanning the root again in a new request cannot add pairs to this one.
  const again = await e.scan([input(GC)], { start_dispatch: ["extract_payload"] });
  equal(again.results.length, 2);
  deepEqual(again.results[1].extracted_by, ["extract_payload"]);
});

Deno.test("difference 7: pairs run in payload then worker-name order, whatever finishes first", async () => {
  const e = await testEngine({
    plugins: [orderWorker("z_worker"), orderWorker("a_worker"), orderWorker("m_worker")],
    options: {
      a_worker: { delay_ms: 40 },
      m_worker: { delay_ms: 20 },
      z_worker: { delay_ms: 0 },
    },
  });
  const start = { payload_meta: { dispatch_to: ["z_worker", "a_worker", "m_worker"] } };
  const r = await e.scan([input("one", start), input("two", start)]);
  equal(r.results.length, 8);
  deepEqual(ran(r, 0), ["a_worker", "m_worker", "z_worker"]);
  deepEqual(ran(r, 1), ["a_worker", "m_worker", "z_worker"]);
  deepEqual(r.results.slice(2).map((x) => x.payload_meta.extra_data.label), [
    "a_worker of one",
    "m_worker of one",
    "z_worker of one",
    "a_worker of two",
    "m_worker of two",
    "z_worker of two",
  ]);
});

// ---------------------------------------------------------------------------------------------
// §7.4 Results and errors
// ---------------------------------------------------------------------------------------------

Deno.test("§7.4 test_worker_in_results", async () => {
  const e = await testEngine({ plugins: [simpleWorker()] });
  const r = await e.scan([input(GC)], { start_dispatch: ["simple_worker"] });
  equal((r.results[0].workers.simple_worker as Record<string, string>).valuable_insight, "wow");
  equal(r.errors.length, 0);
});

Deno.test("§7.4 test_worker_not_in_results: a worker returning nothing leaves no key", async () => {
  const e = await testEngine({ plugins: [dummyWorker()] });
  const r = await e.scan([input(GC)], { start_dispatch: ["dummy_worker"] });
  ok(!("dummy_worker" in r.results[0].workers));
  deepEqual(ran(r, 0), ["dummy_worker"]);
});

Deno.test("§7.4 test_worker_exception: still in plugins_run, one error naming the exception", async () => {
  const e = await testEngine({
    plugins: [simpleWorker()],
    options: { simple_worker: { raise: true } },
  });
  const r = await e.scan([input(GC)], { start_dispatch: ["simple_worker"] });
  deepEqual(ran(r, 0), ["simple_worker"]);
  equal(r.results.length, 1);
  deepEqual(r.results[0].workers, {});
  equal(r.errors.length, 1);
  equal(r.errors[0].plugin_name, "simple_worker");
  equal(r.errors[0].payload_id, r.results[0].payload_id);
  match(
    r.errors[0].error,
    /^worker:failed to scan: \S+:\d+ ; Error: Test exception please ignore$/,
  );
});

Deno.test("§7.4 test_worker_errors / difference 12: string errors become records", async () => {
  const e = await testEngine({
    plugins: [simpleWorker()],
    options: { simple_worker: { return_errors: true } },
  });
  const r = await e.scan([input(GC)], { start_dispatch: ["simple_worker"] });
  ok(ran(r, 0).includes("simple_worker"));
  ok("simple_worker" in r.results[0].workers);
  deepEqual(r.errors, [{
    error: "Test error please ignore",
    plugin_name: "simple_worker",
    payload_id: r.results[0].payload_id,
  }]);
});

Deno.test("difference 4/12: error records keep given fields, fill the rest, drop exact repeats", async () => {
  const e = await testEngine({ plugins: [reportingWorker()] });
  const r = await e.scan([input(GC)], { start_dispatch: ["reporting_worker"] });
  const id = r.results[0].payload_id;
  deepEqual(r.errors, [
    { error: "plain error", plugin_name: "reporting_worker", payload_id: id },
    { error: "record error", plugin_name: "reporting_worker", payload_id: "elsewhere" },
    { error: "named error", plugin_name: "someone_else", payload_id: id },
  ]);
  for (const err of r.errors) deepEqual(Object.keys(err), ERROR_KEYS);
});

Deno.test("§7.11.14: an extracted string's size is its UTF-8 byte length", async () => {
  const e = await testEngine({
    plugins: [extractPayload()],
    options: { extract_payload: { payload: "é" } },
  });
  const r = await e.scan([input(GC)], { start_dispatch: ["extract_payload"] });
  equal(r.results[1].size, 2);
});

Deno.test("§7.10 bytes in results become text: UTF-8 when valid, else Windows-1252", async () => {
  const e = await testEngine({ plugins: [bytesWorker()] });
  const r = await e.scan([input(GC)], { start_dispatch: ["bytes_worker"] });
  deepEqual(r.errors, []);
  deepEqual(r.results[0].workers.bytes_worker, {
    latin1: "café",
    utf8: "猫",
    mixed: "hi猫",
    nested: [{ raw: "value" }],
  });
});

Deno.test("§7.10 hashes: md5, sha1, sha256, sha512 of GC", () => {
  const gc = new TextEncoder().encode(GC);
  equal(stoqAPI.hash("md5", gc), "a2004f37730b9445670a738fa0fc9ee5");
  equal(stoqAPI.hash("sha1", gc), "c519c1a06cdbeb2bc499e22137fb48683858b345");
  equal(
    stoqAPI.hash("sha256", gc),
    "5cac4f980fedc3d3f1f99b4be3472c9b30d56523e632d151237ec9309048bda9",
  );
  equal(
    stoqAPI.hash("sha512", gc),
    "015e6d23e760f612cca616c54f110cb12dd54213f1e046c7607081372402eff4936b379296ed549236020afb37bd3e728a044a4243754f095498c98bc24f77e0",
  );
});

// ---------------------------------------------------------------------------------------------
// §7.11 and the dispatch differences
// ---------------------------------------------------------------------------------------------

Deno.test("§7.11.1 / difference 1: an initial payload's own dispatch_to is honoured", async () => {
  const e = await testEngine({ plugins: [simpleWorker()] });
  const r = await e.scan([input(GC, { payload_meta: { dispatch_to: ["simple_worker"] } })]);
  deepEqual(ran(r, 0), ["simple_worker"]);
  deepEqual(r.results[0].payload_meta.dispatch_to, ["simple_worker"]);
  // ...but not when the payload is not to be scanned.
  const r2 = await e.scan([
    input(GC, { payload_meta: { dispatch_to: ["simple_worker"], should_scan: false } }),
  ]);
  deepEqual(ran(r2, 0), []);
});

Deno.test("§7.11.2 / difference 17: dispatchers are asked again only about changed payloads", async () => {
  const calls: Call[] = [];
  const e = await testEngine({
    plugins: [simpleDispatcher("simple_dispatcher", calls), extractPayload()],
    pipeline: { dispatchers: ["simple_dispatcher"] },
    options: { simple_dispatcher: { workers: ["extract_payload"] } },
    core: { max_recursion: 3 },
  });
  const r = await e.scan([input(GC)]);
  equal(r.results.length, 4);
  // stoQ asked about every payload in every round (1+2+3 = 6 calls). Payload 0 is asked in round
  // 1 and again in round 2 (extract_payload ran on it), not in round 3 (nothing new since).
  equal(calls.length, 5);
  const ids = payloadsOf(calls).map((p) => r.results.findIndex((x) => x === p.results));
  deepEqual(sorted(ids.map(String)), ["0", "0", "1", "1", "2"]);
});

Deno.test("§7.11.4 / difference 3: a dispatcher's returned errors reach errors[]", async () => {
  const e = await testEngine({
    plugins: [simpleDispatcher(), dummyWorker()],
    pipeline: { dispatchers: ["simple_dispatcher"] },
    options: { simple_dispatcher: { return_errors: true } },
  });
  const r = await e.scan([input(GC)]);
  deepEqual(ran(r, 0), ["dummy_worker"]);
  // Dispatchers run in two rounds here, but the same error about the same payload is kept once.
  deepEqual(r.errors, [{
    error: "Test error please ignore",
    plugin_name: "simple_dispatcher",
    payload_id: r.results[0].payload_id,
  }]);
});

Deno.test("§7.11.7 / difference 4: a failing dispatcher gives one error per payload", async () => {
  const e = await testEngine({
    plugins: [simpleDispatcher(), simpleWorker()],
    pipeline: { dispatchers: ["simple_dispatcher"], always_dispatch: ["simple_worker"] },
    options: { simple_dispatcher: { raise: true } },
  });
  const r = await e.scan([input(GC)]);
  equal(r.results.length, 2);
  // stoQ v3 gave 3 errors (2 rounds × the payloads present); stoq keeps one per payload.
  equal(r.errors.length, 2);
  deepEqual(r.errors.map((x) => x.payload_id), r.results.map((x) => x.payload_id));
  for (const x of r.errors) {
    equal(x.plugin_name, "simple_dispatcher");
    match(x.error, /^dispatcher:failed to dispatch: .*Error: Test exception please ignore$/);
  }
  // The worker still ran: a failing dispatcher only loses its own dispatches.
  ok(ran(r, 0).includes("simple_worker"));
});

Deno.test("§7.11.5 / difference 5: a required worker that raised blocks its dependent", async () => {
  const calls: Call[] = [];
  const e = await testEngine({
    plugins: [simpleWorker(), dummyWorker("dependent", ["simple_worker"], calls)],
    options: { simple_worker: { raise: true } },
  });
  const r = await e.scan([input(GC)], { start_dispatch: ["dependent"] });
  equal(calls.length, 0);
  deepEqual(ran(r, 0), ["simple_worker"]);
  deepEqual(errorTexts(r).length, 2);
  match(r.errors[0].error, /^worker:failed to scan: /);
  deepEqual(r.errors[1], {
    error: "dependent did not run: its required worker simple_worker failed or could not run",
    plugin_name: "dependent",
    payload_id: r.results[0].payload_id,
  });
});

Deno.test("difference 5: a required worker that cannot start blocks its dependent", async () => {
  const e = await testEngine({
    plugins: [brokenWorker(), dummyWorker("dependent", ["broken_worker"])],
  });
  const r = await e.scan([input(GC)], { start_dispatch: ["dependent"] });
  deepEqual(ran(r, 0), []);
  deepEqual(r.errors.map((x) => x.plugin_name), ["broken_worker", "dependent"]);
  match(
    r.errors[0].error,
    /^worker plugin broken_worker could not be used: plugin "broken_worker" failed to start: /,
  );
  equal(
    r.errors[1].error,
    "dependent did not run: its required worker broken_worker failed or could not run",
  );
  // The plugin's own words (a plain Error), without where in its code it raised them.
  match(r.errors[0].error, /failed to start: cannot start: no licence$/);
  // Nothing was left at a round limit: the scan ended after round 1 of 10.
  ok(!errorTexts(r).some((x) => x.startsWith("Final worker round")));
});

// ---------------------------------------------------------------------------------------------
// §7.5 Archivers
// ---------------------------------------------------------------------------------------------

Deno.test("§7.5 test_source_archive: get returns the payload with the task as extra_data", async () => {
  const e = await testEngine({ plugins: [simpleArchiver()] });
  const a = await e.host.load("simple_archiver", "archiver");
  const got = await a.instance.get!({ path: "/tmp/123" }, makeCall());
  ok(got);
  equal(new TextDecoder().decode(got.content), ARCHIVED_PAYLOAD);
  equal(got.payload_meta?.extra_data?.path, "/tmp/123");
});

Deno.test("§7.5 test_source_archiver_exception: get raises", async () => {
  const e = await testEngine({
    plugins: [simpleArchiver()],
    options: { simple_archiver: { raise: true } },
  });
  const a = await e.host.load("simple_archiver", "archiver");
  await rejects(async () => await a.instance.get!("This will fail", makeCall()), /Test exception/);
});

Deno.test("§7.5 test_dest_archive / test_archiver_not_in_results: called once, listed, no result", async () => {
  const calls: Call[] = [];
  const e = await testEngine({
    plugins: [dummyArchiver("dummy_archiver", calls)],
    pipeline: { dest_archivers: ["dummy_archiver"] },
  });
  const r = await e.scan([input(GC, { request_meta: { archive_payloads: true } })]);
  equal(calls.length, 1);
  equal(calls[0].args.length, 3);
  deepEqual(r.results[0].plugins_run.archivers, ["dummy_archiver"]);
  ok(!("dummy_archiver" in r.results[0].archivers));
  deepEqual(r.errors, []);
});

Deno.test("§7.5 test_dont_dest_archive_request: archive_payloads=false archives nothing", async () => {
  const calls: Call[] = [];
  const e = await testEngine({
    plugins: [dummyArchiver("dummy_archiver", calls), extractPayload()],
    pipeline: { dest_archivers: ["dummy_archiver"] },
  });
  const r = await e.scan([input(GC, { request_meta: { archive_payloads: false } })], {
    start_dispatch: ["extract_payload"],
  });
  equal(r.results.length, 2);
  equal(calls.length, 0);
  for (const res of r.results) deepEqual(res.plugins_run.archivers, []);
});

Deno.test("§7.5 test_dont_dest_archive_payload: should_archive=false skips that payload only", async () => {
  const calls: Call[] = [];
  const e = await testEngine({
    plugins: [dummyArchiver("dummy_archiver", calls), extractPayload()],
    pipeline: { dest_archivers: ["dummy_archiver"] },
  });
  const r = await e.scan([input(GC, { payload_meta: { should_archive: false } })], {
    start_dispatch: ["extract_payload"],
  });
  equal(calls.length, 1);
  equal((calls[0].args[0] as Payload).results, r.results[1]);
  deepEqual(r.results[0].plugins_run.archivers, []);
  deepEqual(r.results[1].plugins_run.archivers, ["dummy_archiver"]);
});

Deno.test("§7.5 test_archiver_in_results", async () => {
  const e = await testEngine({
    plugins: [simpleArchiver()],
    pipeline: { dest_archivers: ["simple_archiver"] },
  });
  const r = await e.scan([input(GC)]);
  deepEqual(r.results[0].archivers.simple_archiver, { file_save_id: 12345 });
  equal(r.errors.length, 0);
});

Deno.test("§7.5 test_dest_archiver_exception: listed, one error, no result", async () => {
  const e = await testEngine({
    plugins: [simpleArchiver()],
    pipeline: { dest_archivers: ["simple_archiver"] },
    options: { simple_archiver: { raise: true } },
  });
  const r = await e.scan([input(GC)]);
  deepEqual(r.results[0].plugins_run.archivers, ["simple_archiver"]);
  deepEqual(r.results[0].archivers, {});
  equal(r.errors.length, 1);
  equal(r.errors[0].plugin_name, "simple_archiver");
  equal(r.errors[0].payload_id, r.results[0].payload_id);
  match(r.errors[0].error, /^archiver:failed to archive: .*Test exception please ignore$/);
});

Deno.test("§7.5 test_dest_archiver_errors: listed, result kept, one error", async () => {
  const e = await testEngine({
    plugins: [simpleArchiver()],
    pipeline: { dest_archivers: ["simple_archiver"] },
    options: { simple_archiver: { return_errors: true } },
  });
  const r = await e.scan([input(GC)]);
  deepEqual(r.results[0].plugins_run.archivers, ["simple_archiver"]);
  ok("simple_archiver" in r.results[0].archivers);
  deepEqual(r.errors, [{
    error: "Test error please ignore",
    plugin_name: "simple_archiver",
    payload_id: r.results[0].payload_id,
  }]);
});

Deno.test("§7.11.9: should_scan=false initial payload: no worker, no dispatcher, still archived", async () => {
  const dcalls: Call[] = [];
  const e = await testEngine({
    plugins: [simpleDispatcher("simple_dispatcher", dcalls), dummyWorker(), simpleArchiver()],
    pipeline: {
      dispatchers: ["simple_dispatcher"],
      always_dispatch: ["dummy_worker"],
      dest_archivers: ["simple_archiver"],
    },
  });
  const r = await e.scan([input(GC, { payload_meta: { should_scan: false } })], {
    start_dispatch: ["dummy_worker"],
  });
  equal(dcalls.length, 0);
  deepEqual(ran(r, 0), []);
  deepEqual(r.results[0].plugins_run.archivers, ["simple_archiver"]);
  deepEqual(r.results[0].archivers.simple_archiver, { file_save_id: 12345 });
});

Deno.test("§7.11.10: a dispatcher setting should_archive=false suppresses archiving", async () => {
  const calls: Call[] = [];
  const e = await testEngine({
    plugins: [simpleDispatcher(), dummyWorker(), dummyArchiver("dummy_archiver", calls)],
    pipeline: { dispatchers: ["simple_dispatcher"], dest_archivers: ["dummy_archiver"] },
    options: { simple_dispatcher: { should_archive: false } },
  });
  const r = await e.scan([input(GC)]);
  equal(calls.length, 0);
  equal(r.results[0].payload_meta.should_archive, false);
  deepEqual(r.results[0].plugins_run.archivers, []);
});

// ---------------------------------------------------------------------------------------------
// §7.6 Decorators and connectors
// ---------------------------------------------------------------------------------------------

Deno.test("§7.6 test_connector: deliver saves each scan once", async () => {
  const saved: StoqResponse[] = [];
  const e = await testEngine({ plugins: [recordingConnector("dummy_connector", saved)] });
  const r1 = await e.scan([input(GC)]);
  const r2 = await e.scan([input("second")]);
  equal(await deliver(e.host, ["dummy_connector"], r1), true);
  equal(await deliver(e.host, ["dummy_connector"], r2), true);
  equal(saved.length, 2);
  equal(saved[0], r1);
  equal(saved[1], r2);
  deepEqual(r1.errors, []);
});

Deno.test("§7.6 test_connector_exception / difference 3: the error is recorded, others still save", async () => {
  const saved: StoqResponse[] = [];
  const e = await testEngine({
    plugins: [recordingConnector("bad_connector"), recordingConnector("good_connector", saved)],
    options: { bad_connector: { raise: true } },
  });
  const r = await e.scan([input(GC)]);
  equal(await deliver(e.host, ["bad_connector", "good_connector", "no_such_connector"], r), false);
  equal(saved.length, 1);
  equal(r.errors.length, 2);
  deepEqual(Object.keys(r.errors[0]), ERROR_KEYS);
  equal(r.errors[0].plugin_name, "bad_connector");
  equal(r.errors[0].payload_id, null);
  match(r.errors[0].error, /^connector:failed to save: .*Test exception please ignore$/);
  equal(r.errors[1].plugin_name, "no_such_connector");
  match(r.errors[1].error, /^connector:failed to save: plugin "no_such_connector" does not exist/);
});

Deno.test("§7.6 test_decorator", async () => {
  const calls: Call[] = [];
  const e = await testEngine({
    plugins: [simpleDecorator("simple_decorator", calls)],
    pipeline: { decorators: ["simple_decorator"] },
  });
  const r = await e.scan([input(GC)]);
  deepEqual(r.decorators, { simple_decorator: { simple_decoration: 123 } });
  equal(r.errors.length, 0);
  // The decorator sees the finished response (with its scan_id).
  equal((calls[0].args[0] as StoqResponse).scan_id, r.scan_id);
});

Deno.test("§7.6 test_decorator_errors", async () => {
  const e = await testEngine({
    plugins: [simpleDecorator()],
    pipeline: { decorators: ["simple_decorator"] },
    options: { simple_decorator: { return_errors: true } },
  });
  const r = await e.scan([input(GC)]);
  ok("simple_decorator" in r.decorators);
  deepEqual(r.errors, [{
    error: "Test error please ignore",
    plugin_name: "simple_decorator",
    payload_id: null,
  }]);
});

Deno.test("§7.6 test_decorator_exception: one error, no payload_id", async () => {
  const e = await testEngine({
    plugins: [simpleDecorator()],
    pipeline: { decorators: ["simple_decorator"] },
    options: { simple_decorator: { raise: true } },
  });
  const r = await e.scan([input(GC)]);
  deepEqual(r.decorators, {});
  equal(r.errors.length, 1);
  equal(r.errors[0].plugin_name, "simple_decorator");
  equal(r.errors[0].payload_id, null);
  match(r.errors[0].error, /^decorator: .*Test exception please ignore$/);
});

// ---------------------------------------------------------------------------------------------
// §7.8 / §3.11 subresponses (difference 15)
// ---------------------------------------------------------------------------------------------

/** A response built by hand: A.zip holds B.txt and C.zip; C.zip holds D.txt (spec §7.8). */
function handmade(order: string[] = ["A.zip", "B.txt", "C.zip", "D.txt"]): StoqResponse {
  const parent: Record<string, string | undefined> = {
    "A.zip": undefined,
    "B.txt": "A.zip",
    "C.zip": "A.zip",
    "D.txt": "C.zip",
  };
  const n: Record<string, number> = { "A.zip": 1, "B.txt": 2, "C.zip": 3, "D.txt": 4 };
  return {
    results: order.map((id) => {
      const r = newPayloadResults(10, PayloadMetaSchema.parse({}));
      r.payload_id = id;
      const from = parent[id];
      if (from) {
        r.extracted_from.push(from);
        r.extracted_by.push("fake");
      }
      r.workers.fake = `result-${n[id]}`;
      r.plugins_run.workers.push("fake");
      return r;
    }),
    request_meta: RequestMetaSchema.parse({ extra_data: { check: "me" } }),
    errors: [
      { error: "about D", plugin_name: "fake", payload_id: "D.txt" },
      { error: "about nothing", plugin_name: null, payload_id: null },
    ],
    time: new Date().toISOString(),
    decorators: {},
    scan_id: crypto.randomUUID(),
  };
}

Deno.test("§7.8 test_reconstruct_all_subresponses: counts [4,1,2,1], decorated, one scan_id", async () => {
  const e = await testEngine({
    plugins: [simpleDecorator()],
    pipeline: { decorators: ["simple_decorator"] },
  });
  const resp = handmade();
  const subs = await e.subresponses(resp);
  deepEqual(subs.map((s) => s.results.length), [4, 1, 2, 1]);
  deepEqual(subs.map((s) => s.results[0].workers.fake), [
    "result-1",
    "result-2",
    "result-3",
    "result-4",
  ]);
  deepEqual(subs[0].results.map((x) => x.payload_id), ["A.zip", "B.txt", "C.zip", "D.txt"]);
  deepEqual(subs[2].results.map((x) => x.payload_id), ["C.zip", "D.txt"]);
  for (const s of subs) {
    deepEqual(s.decorators, { simple_decorator: { simple_decoration: 123 } });
    deepEqual(Object.keys(s), RESPONSE_KEYS);
    deepEqual(s.request_meta.extra_data, { check: "me" });
    equal(s.time, resp.time);
  }
  equal(new Set([resp.scan_id, ...subs.map((s) => s.scan_id)]).size, 1);
  // The original response is not decorated by this.
  deepEqual(resp.decorators, {});
});

Deno.test("difference 15: subresponses carry their subtree's errors", () => {
  const subs = subresponses(handmade());
  deepEqual(subs.map((s) => s.errors.map((x) => x.error)), [
    ["about D"],
    [],
    ["about D"],
    ["about D"],
  ]);
});

Deno.test("difference 15: children listed before their parent are found", () => {
  const subs = subresponses(handmade(["D.txt", "C.zip", "B.txt", "A.zip"]));
  deepEqual(subs.map((s) => s.results.map((x) => x.payload_id)), [
    ["D.txt"],
    ["C.zip", "D.txt"],
    ["B.txt"],
    ["A.zip", "C.zip", "B.txt", "D.txt"],
  ]);
});

Deno.test("§7.11.12 / difference 15: each payload appears once per subtree ([2,1], not [3,2])", async () => {
  const e = await testEngine({
    plugins: [simpleWorker()],
    pipeline: { always_dispatch: ["simple_worker"] },
  });
  const r = await e.scan([input(GC)]);
  deepEqual(subresponses(r).map((s) => s.results.length), [2, 1]);
  // Even a self-reference and a repeated parent (as stoQ v3 recorded them) count once.
  const hand = structuredClone(r);
  hand.results[1].extracted_from.push(hand.results[1].payload_id, hand.results[0].payload_id);
  hand.results[1].extracted_by.push("simple_worker", "simple_worker");
  deepEqual(subresponses(hand).map((s) => s.results.length), [2, 1]);
});

Deno.test("§7.9 test_no_reload and test_load_plugin_nonexistent", async () => {
  const e = await testEngine({ plugins: [dummyWorker()] });
  const a = await e.host.load("dummy_worker");
  const b = await e.host.load("dummy_worker", "worker");
  equal(a, b);
  await rejects(e.host.load("nonexistent_plugin"), PluginLoadError);
});

Deno.test("a dispatcher is not asked again about a payload whose results did not change", async () => {
  // A nested archive: "level0" holds "level1", ... down to "level4", one level per round.
  const asked: string[] = [];
  const nested: PluginFactory = (stoq) =>
    stoq.plugin({
      name: "nest",
      version: "0.1",
      description: "extracts the next level of a nested archive",
      classes: ["worker"],
      create: () => ({
        scan: (p: Payload) => {
          const level = Number(new TextDecoder().decode(p.content).slice(5));
          return level < 4 ? { extracted: [{ content: `level${level + 1}` }] } : {};
        },
      }),
    });
  const counting: PluginFactory = (stoq) =>
    stoq.plugin({
      name: "counting_dispatcher",
      version: "0.1",
      description: "routes every payload to nest and counts the questions",
      classes: ["dispatcher"],
      create: () => ({
        get_dispatches: (p: Payload) => {
          asked.push(new TextDecoder().decode(p.content));
          return { plugin_names: ["nest"] };
        },
      }),
    });
  const e = await testEngine({
    plugins: [nested, counting],
    pipeline: { dispatchers: ["counting_dispatcher"] },
  });
  const r = await e.scan([input("level0")]);
  equal(r.results.length, 5);
  deepEqual(r.results.map((_, i) => ran(r, i)), Array(5).fill(["nest"]));
  // Each payload is asked when it first appears and once more after nest ran on it (its results
  // changed); not again in each of the later rounds that its children need.
  const times = (level: number) => asked.filter((a) => a === `level${level}`).length;
  deepEqual([0, 1, 2, 3, 4].map(times), [2, 2, 2, 2, 2]);
});
