/**
 * What stoq adds to stoQ v3's engine (spec §3.13 says stoQ had no timeouts and no limits):
 * deadlines on every plugin call, garbage responses, request limits (differences 9 and 10),
 * and the run loop: `BoundedQueue`, `runQueue` with providers (spec §3.12, §7.7).
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { CoreConfigSchema } from "../../core/config.ts";
import { RequestMetaSchema, type StoqResponse } from "../../core/engine/model.ts";
import type { Payload } from "../../core/engine/plugin.ts";
import {
  BoundedQueue,
  deliver,
  localScanner,
  providerProducer,
  type RunContext,
  runQueue,
} from "../../core/run/runner.ts";
import { errorTexts, input, testEngine, type TestEngineSpec, testStoq } from "./harness.ts";
import {
  ARCHIVED_PAYLOAD,
  type Call,
  dummyWorker,
  GARBAGE_KINDS,
  garbageWorker,
  GC,
  hangingPlugin,
  manyWorker,
  orderWorker,
  recordingConnector,
  simpleArchiver,
  simpleProvider,
  simpleWorker,
  sleepWorker,
} from "../fixtures/plugins.ts";
import { tempDir } from "../helpers.ts";

const ran = (r: StoqResponse, i: number) => r.results[i].plugins_run.workers;

// ---------------------------------------------------------------------------------------------
// Timeouts
// ---------------------------------------------------------------------------------------------

Deno.test("timeouts: a worker that never answers times out and blocks its dependent", async () => {
  const e = await testEngine({
    plugins: [hangingPlugin(), dummyWorker("dependent", ["hanging_worker"]), simpleWorker()],
    core: { plugin_timeouts: { hanging_worker: 0.2 } },
  });
  const r = await e.scan([input(GC)], {
    start_dispatch: ["hanging_worker", "dependent", "simple_worker"],
  });
  const id = r.results[0].payload_id;
  deepEqual(r.errors, [
    { error: "timed out after 0.2 s", plugin_name: "hanging_worker", payload_id: id },
    {
      error: "dependent did not run: its required worker hanging_worker failed or could not run",
      plugin_name: "dependent",
      payload_id: id,
    },
  ]);
  deepEqual(ran(r, 0), ["hanging_worker", "simple_worker"]);
  ok(!("hanging_worker" in r.results[0].workers));
  // The rest of the scan completed.
  equal(r.results.length, 2);
  deepEqual(r.results[0].workers.simple_worker, { valuable_insight: "wow" });
});

Deno.test("timeouts: plugin_timeout applies to plugins without their own value", async () => {
  const e = await testEngine({
    plugins: [hangingPlugin()],
    core: { plugin_timeout: 0.25, plugin_timeouts: { other: 100 } },
  });
  const r = await e.scan([input(GC)], { start_dispatch: ["hanging_worker"] });
  deepEqual(errorTexts(r), ["timed out after 0.25 s"]);
});

Deno.test("timeouts: dispatchers, archivers, decorators and connectors time out too", async () => {
  const names = ["hang_d", "hang_a", "hang_dec", "hang_c"];
  const e = await testEngine({
    plugins: [
      hangingPlugin("hang_d", ["dispatcher"]),
      hangingPlugin("hang_a", ["archiver"]),
      hangingPlugin("hang_dec", ["decorator"]),
      hangingPlugin("hang_c", ["connector"]),
      recordingConnector(),
    ],
    core: { plugin_timeouts: Object.fromEntries(names.map((n) => [n, 0.2])) },
    pipeline: { dispatchers: ["hang_d"], dest_archivers: ["hang_a"], decorators: ["hang_dec"] },
  });
  const r = await e.scan([input(GC)]);
  const id = r.results[0].payload_id;
  // A dispatcher's timeout is reported under its failure prefix ("dispatcher:failed to
  // dispatch: timed out after 0.2 s"); the other classes report the bare timeout.
  match(r.errors[0].error, /(^|: )timed out after 0\.2 s$/);
  r.errors[0].error = "timed out after 0.2 s";
  deepEqual(r.errors, [
    { error: "timed out after 0.2 s", plugin_name: "hang_d", payload_id: id },
    { error: "timed out after 0.2 s", plugin_name: "hang_a", payload_id: id },
    { error: "timed out after 0.2 s", plugin_name: "hang_dec", payload_id: null },
  ]);
  deepEqual(r.results[0].plugins_run.archivers, ["hang_a"]);
  equal(await deliver(e.host, ["hang_c", "dummy_connector"], r), false);
  deepEqual(r.errors[3], {
    error: "timed out after 0.2 s",
    plugin_name: "hang_c",
    payload_id: null,
  });
});

/** The pid of a running `sleep <seconds>` process, or null (read from /proc: no pgrep needed). */
async function sleepPid(seconds: string): Promise<number | null> {
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    let argv: string[];
    try {
      argv = (await Deno.readTextFile(`/proc/${entry.name}/cmdline`)).split("\0");
    } catch {
      continue; // the process ended while we looked
    }
    if (argv[0]?.split("/").at(-1) === "sleep" && argv[1] === seconds) return Number(entry.name);
  }
  return null;
}

/** Waits (a bounded while) for a `sleep <seconds>` process to be gone; returns its pid if not. */
async function sleepGone(seconds: string): Promise<number | null> {
  let pid = await sleepPid(seconds);
  for (let i = 0; pid !== null && i < 100; i++) {
    await new Promise((r) => setTimeout(r, 20));
    pid = await sleepPid(seconds);
  }
  return pid;
}

Deno.test("timeouts: a timed-out worker's external process is killed", async () => {
  // The check itself works: it sees a sleep we start ourselves, and sees it go.
  const own = new Deno.Command("sleep", { args: ["41.0625"] }).spawn();
  equal(await sleepPid("41.0625"), own.pid);
  own.kill("SIGKILL");
  await own.status;
  equal(await sleepGone("41.0625"), null);

  const pending: Promise<unknown>[] = [];
  const e = await testEngine({
    plugins: [sleepWorker("sleep_worker", pending)],
    core: { plugin_timeouts: { sleep_worker: 0.3 } },
    options: { sleep_worker: { seconds: "37.0625" } },
  });
  const r = await e.scan([input(GC)], { start_dispatch: ["sleep_worker"] });
  deepEqual(r.errors, [{
    error: "timed out after 0.3 s",
    plugin_name: "sleep_worker",
    payload_id: r.results[0].payload_id,
  }]);
  const left = await sleepGone("37.0625");
  if (left !== null) Deno.kill(left, "SIGKILL"); // do not leave it behind when the test fails
  equal(left, null, "the sleep process was killed when the call timed out");
  equal(pending.length, 1);
  ok(await pending[0] instanceof Error, "the exec call ends with the abort");
});

// ---------------------------------------------------------------------------------------------
// Garbage responses (difference 9)
// ---------------------------------------------------------------------------------------------

Deno.test("difference 9: garbage responses are errors, the worker counts as failed", async () => {
  const names = GARBAGE_KINDS.map((k) => `garbage_${k}`);
  const e = await testEngine({
    plugins: [
      ...names.map((n) => garbageWorker(n)),
      ...names.map((n) => dummyWorker(`after_${n}`, [n])),
      simpleWorker(),
    ],
    options: Object.fromEntries(GARBAGE_KINDS.map((k) => [`garbage_${k}`, { kind: k }])),
  });
  const r = await e.scan([input(GC)], {
    start_dispatch: [...names, ...names.map((n) => `after_${n}`), "simple_worker"],
  });
  const id = r.results[0].payload_id;
  const about = (plugin: string) => {
    const found = r.errors.filter((x) => x.plugin_name === plugin);
    equal(found.length, 1, `one error from ${plugin}`);
    equal(found[0].payload_id, id);
    return found[0].error;
  };
  const invalid = /^worker:returned an invalid response: /;
  match(about("garbage_string"), invalid);
  match(about("garbage_string"), /expected object/);
  match(about("garbage_unknown_key"), invalid);
  match(about("garbage_unknown_key"), /resluts/);
  match(about("garbage_number_content"), invalid);
  match(about("garbage_number_content"), /extracted\.0\.content/);
  match(about("garbage_string_dispatch_to"), invalid);
  match(about("garbage_string_dispatch_to"), /extracted\.0\.payload_meta\.dispatch_to/);
  equal(
    about("garbage_function"),
    "worker:returned results that cannot be written as JSON: a function cannot be written as JSON",
  );
  equal(
    about("garbage_cycle"),
    "worker:returned results that cannot be written as JSON: a value refers to itself (a cycle)",
  );
  for (const n of names) {
    ok(ran(r, 0).includes(n));
    ok(!(n in r.results[0].workers));
    equal(
      about(`after_${n}`),
      `after_${n} did not run: its required worker ${n} failed or could not run`,
    );
  }
  // Nothing a garbage worker said was kept; the good worker's output was.
  equal(r.results.length, 2);
  deepEqual(Object.keys(r.results[0].workers), ["simple_worker"]);
  equal(r.errors.length, 2 * names.length);
  // Nothing that is not plain JSON reached the document.
  deepEqual(JSON.parse(JSON.stringify(r)), r);
});

// ---------------------------------------------------------------------------------------------
// Limits (difference 10)
// ---------------------------------------------------------------------------------------------

Deno.test("difference 10: an initial payload over max_payload_size is kept but not scanned", async () => {
  const e = await testEngine({
    plugins: [simpleWorker()],
    core: { max_payload_size: 18 },
  });
  const r = await e.scan([input(GC), input("small")], { start_dispatch: ["simple_worker"] });
  deepEqual(r.errors, [{
    error: "payload is 19 bytes, over max_payload_size (18); not scanned",
    plugin_name: null,
    payload_id: r.results[0].payload_id,
  }]);
  equal(r.results[0].size, 19);
  deepEqual(ran(r, 0), []);
  equal(r.results[0].payload_meta.should_scan, false);
  deepEqual(ran(r, 1), ["simple_worker"]);
});

Deno.test("difference 10: scanFile reads no file over max_payload_size", async () => {
  const dir = await tempDir();
  const big = join(dir, "big.bin");
  const small = join(dir, "small.txt");
  await Deno.writeFile(big, new Uint8Array(30).fill(7));
  await Deno.writeTextFile(small, "tiny");
  const e = await testEngine({ plugins: [simpleWorker()], core: { max_payload_size: "20 B" } });
  const r = await e.scanFile({ path: big }, { start_dispatch: ["simple_worker"] });
  equal(r.results.length, 1);
  equal(r.results[0].size, 30);
  deepEqual(r.results[0].payload_meta.extra_data, { filename: "big.bin", source_dir: dir });
  deepEqual(ran(r, 0), []);
  deepEqual(r.errors, [{
    error: `${big} is 30 bytes, over max_payload_size (20); not read or scanned`,
    plugin_name: null,
    payload_id: r.results[0].payload_id,
  }]);
  const ok2 = await e.scanFile({ path: small }, { start_dispatch: ["simple_worker"] });
  deepEqual(ok2.errors, []);
  equal(ok2.results[0].size, 4);
  deepEqual(ok2.results[0].payload_meta.extra_data, { filename: "small.txt", source_dir: dir });
});

Deno.test("difference 10: extracted payloads over max_payload_size are dropped with one error", async () => {
  const e = await testEngine({
    plugins: [manyWorker()],
    core: { max_payload_size: 19 },
    options: { many_worker: { count: 3, size: 20, named: true } },
  });
  const r = await e.scan([input(GC)], { start_dispatch: ["many_worker"] });
  equal(r.results.length, 1);
  deepEqual(r.errors, [{
    error:
      '3 extracted payload(s) not kept, over max_payload_size (19 bytes): "f0.bin (20 bytes)", "f1.bin (20 bytes)", "f2.bin (20 bytes)"',
    plugin_name: "many_worker",
    payload_id: r.results[0].payload_id,
  }]);
});

Deno.test("difference 10: max_payloads keeps the first ones and names the rest", async () => {
  const e = await testEngine({
    plugins: [manyWorker()],
    core: { max_payloads: 5 },
    options: { many_worker: { count: 20, named: true } },
  });
  const r = await e.scan([input(GC)], { start_dispatch: ["many_worker"] });
  equal(r.results.length, 5);
  const names = Array.from({ length: 10 }, (_, i) => `"f${i + 4}.bin (8 bytes)"`).join(", ");
  deepEqual(errorTexts(r), [
    `16 extracted payload(s) not kept, max_payloads (5) reached: ${names} and 6 more`,
  ]);
  equal(r.errors[0].plugin_name, "many_worker");
  equal(r.errors[0].payload_id, r.results[0].payload_id);
});

Deno.test("difference 10: max_extracted_bytes counts the bytes of kept payloads", async () => {
  const e = await testEngine({
    plugins: [manyWorker()],
    core: { max_extracted_bytes: 40 },
    options: { many_worker: { count: 7, size: 8 } },
  });
  const r = await e.scan([input(GC)], { start_dispatch: ["many_worker"] });
  equal(r.results.length, 6);
  deepEqual(errorTexts(r), [
    '2 extracted payload(s) not kept, max_extracted_bytes (40) reached: "8 bytes", "8 bytes"',
  ]);
});

Deno.test("difference 10: one error per (parent, worker, reason)", async () => {
  const e = await testEngine({
    plugins: [manyWorker("many_a"), manyWorker("many_b")],
    core: { max_payloads: 3 },
    options: { many_a: { count: 4 }, many_b: { count: 4, size: 9 } },
  });
  const r = await e.scan([input(GC)], { start_dispatch: ["many_b", "many_a"] });
  equal(r.results.length, 3);
  deepEqual(r.results.slice(1).map((x) => x.extracted_by), [["many_a"], ["many_a"]]);
  deepEqual(r.errors.map((x) => [x.plugin_name, x.error]), [
    [
      "many_a",
      '2 extracted payload(s) not kept, max_payloads (3) reached: "8 bytes", "8 bytes"',
    ],
    [
      "many_b",
      '4 extracted payload(s) not kept, max_payloads (3) reached: "9 bytes", "9 bytes", "9 bytes", "9 bytes"',
    ],
  ]);
});

Deno.test("difference 10: duplicates cost nothing against the limits", async () => {
  const e = await testEngine({
    plugins: [manyWorker()],
    core: { max_payloads: 2, max_extracted_bytes: 8 },
    options: { many_worker: { count: 100, same: true } },
  });
  const r = await e.scan([input(GC)], { start_dispatch: ["many_worker"] });
  equal(r.results.length, 2);
  deepEqual(r.results[1].extracted_by, ["many_worker"]);
  deepEqual(r.errors, []);
});

Deno.test("limits: sizes accept units; bad values are rejected by the schema", () => {
  const core = CoreConfigSchema.parse({ max_payload_size: "1 KiB", max_extracted_bytes: "2MB" });
  equal(core.max_payload_size, 1024);
  equal(core.max_extracted_bytes, 2_000_000);
  equal(CoreConfigSchema.safeParse({ max_payload_size: "lots" }).success, false);
  equal(CoreConfigSchema.safeParse({ plugin_timeout: 0 }).success, false);
  equal(CoreConfigSchema.safeParse({ max_payloads: 0 }).success, false);
});

// ---------------------------------------------------------------------------------------------
// BoundedQueue
// ---------------------------------------------------------------------------------------------

/** Lets every pending promise callback and timer run. */
const settle = () => new Promise((r) => setTimeout(r, 10));

Deno.test("BoundedQueue: put waits while full until a take", async () => {
  const q = new BoundedQueue<number>(2);
  equal(await q.put(1), true);
  equal(await q.put(2), true);
  equal(q.size, 2);
  let third: boolean | undefined;
  const putting = q.put(3).then((v) => third = v);
  await settle();
  equal(third, undefined, "the third put waits for room");
  equal(await q.take(), 1);
  await putting;
  equal(third, true);
  equal(await q.take(), 2);
  equal(await q.take(), 3);
  equal(q.size, 0);
});

Deno.test("BoundedQueue: a waiting take gets the next put; close wakes takers with null", async () => {
  const q = new BoundedQueue<string>(1);
  const first = q.take();
  await q.put("a");
  equal(await first, "a");
  const waiting = [q.take(), q.take()];
  await settle();
  q.close();
  deepEqual(await Promise.all(waiting), [null, null]);
  equal(await q.put("late"), false);
});

Deno.test("BoundedQueue: close refuses waiting putters; takers drain what is left", async () => {
  const q = new BoundedQueue<string>(1);
  await q.put("kept");
  const blocked = q.put("refused");
  await settle();
  q.close();
  equal(await blocked, false);
  equal(await q.take(), "kept");
  equal(await q.take(), null);
  deepEqual(q.clear(), []);
});

// ---------------------------------------------------------------------------------------------
// runQueue with providers (spec §3.12, §7.7)
// ---------------------------------------------------------------------------------------------

interface RunSetup {
  spec: TestEngineSpec;
  providers: string[];
  ctx?: Partial<RunContext>;
  maxQueue?: number;
  /** Called after each item with the stop controllers. */
  onItem?: (stop: { soft: AbortController; hard: AbortController }) => void;
}

/** Runs providers through runQueue into a recording connector; returns summary and saves. */
async function run(setup: RunSetup) {
  const saved: StoqResponse[] = [];
  const stoq = await testStoq({
    ...setup.spec,
    plugins: [...setup.spec.plugins, recordingConnector("dummy_connector", saved)],
  });
  const soft = new AbortController();
  const hard = new AbortController();
  const ctx: RunContext = {
    stoq,
    scanner: localScanner(stoq),
    connectors: ["dummy_connector"],
    request_meta: RequestMetaSchema.parse({}),
    start_dispatch: [],
    source_archivers: [],
    consumers: 2,
    onItem: () => setup.onItem?.({ soft, hard }),
    ...setup.ctx,
  };
  const summary = await runQueue(
    ctx,
    setup.providers.map((p) => providerProducer(stoq.host, p)),
    { signal: soft.signal, hard: hard.signal },
    setup.maxQueue ?? 2,
  );
  return { summary, saved };
}

const text = (p: Payload) => new TextDecoder().decode(p.content);

Deno.test("§7.7 test_provider: each provided payload is scanned and saved once", async () => {
  const calls: Call[] = [];
  const { summary, saved } = await run({
    spec: {
      plugins: [simpleProvider(), dummyWorker("dummy_worker", [], calls)],
      options: { simple_provider: { count: 7 } },
    },
    providers: ["simple_provider"],
    ctx: { start_dispatch: ["dummy_worker"] },
  });
  deepEqual(summary, { scanned: 7, failed: 0, abandoned: 0 });
  equal(saved.length, 7);
  equal(new Set(saved.map((s) => s.scan_id)).size, 7);
  // test_provider_with_start_dispatch: the start worker ran once per payload.
  deepEqual(
    calls.map((c) => text(c.args[0] as Payload)).sort(),
    Array.from({ length: 7 }, (_, i) => `Important stuff ${i}`),
  );
  for (const s of saved) deepEqual(s.results[0].plugins_run.workers, ["dummy_worker"]);
});

Deno.test("§7.7 test_multi_providers and test_provider_exception", async () => {
  const { summary, saved } = await run({
    spec: {
      plugins: [
        simpleProvider(),
        simpleProvider("simple_provider2"),
        simpleProvider("failing_provider"),
      ],
      options: { simple_provider: { count: 2 }, failing_provider: { raise: true } },
    },
    providers: ["simple_provider", "failing_provider", "simple_provider2"],
  });
  deepEqual(summary, { scanned: 3, failed: 1, abandoned: 0 });
  equal(saved.length, 3);
});

Deno.test("§7.7 an unknown provider counts as failed; the others still run", async () => {
  const { summary, saved } = await run({
    spec: { plugins: [simpleProvider()] },
    providers: ["no_such_provider", "simple_provider"],
  });
  deepEqual(summary, { scanned: 1, failed: 1, abandoned: 0 });
  equal(saved.length, 1);
});

Deno.test("§7.7 stopping: the provider is told to stop and what was queued is still scanned", async () => {
  const events: string[] = [];
  let scannedAtStop = -1;
  let items = 0;
  const { summary, saved } = await run({
    spec: {
      // slow_worker makes each scan take a while, so the queue is full when the stop comes.
      plugins: [simpleProvider("simple_provider", events), orderWorker("slow_worker")],
      options: { simple_provider: { count: 3, hold: true }, slow_worker: { delay_ms: 30 } },
    },
    providers: ["simple_provider"],
    ctx: { start_dispatch: ["slow_worker"], consumers: 1 },
    maxQueue: 5,
    onItem: ({ soft }) => {
      items++;
      if (!soft.signal.aborted) {
        scannedAtStop = items;
        soft.abort();
      }
    },
  });
  equal(scannedAtStop, 1);
  deepEqual(events, ["put 0", "put 1", "put 2", "stopped", "refused after stop"]);
  deepEqual(summary, { scanned: 3, failed: 0, abandoned: 0 });
  equal(saved.length, 3);
});

Deno.test("§7.7 a second (hard) stop abandons what is still queued", async () => {
  const { summary, saved } = await run({
    spec: {
      plugins: [simpleProvider(), orderWorker("slow_worker")],
      options: { simple_provider: { count: 3, hold: true }, slow_worker: { delay_ms: 30 } },
    },
    providers: ["simple_provider"],
    ctx: { start_dispatch: ["slow_worker"], consumers: 1 },
    maxQueue: 5,
    onItem: ({ soft, hard }) => {
      soft.abort();
      hard.abort();
    },
  });
  deepEqual(summary, { scanned: 1, failed: 0, abandoned: 2 });
  equal(saved.length, 1);
});

Deno.test("§7.7 test_provider_with_task: archived references are fetched by the source archiver", async () => {
  const { summary, saved } = await run({
    spec: {
      plugins: [simpleProvider(), simpleArchiver()],
      options: { simple_provider: { count: 2, archived: true } },
    },
    providers: ["simple_provider"],
    ctx: { source_archivers: ["simple_archiver"] },
  });
  deepEqual(summary, { scanned: 2, failed: 0, abandoned: 0 });
  deepEqual(
    saved.map((s) => s.results[0].payload_meta.extra_data.task).sort(),
    ["task 0", "task 1"],
  );
  for (const s of saved) equal(s.results[0].size, ARCHIVED_PAYLOAD.length);
});

Deno.test("§7.11.13: an item that is not an object fails without stopping the run", async () => {
  // stoQ v3 hung on a str task; stoq counts it as failed and goes on.
  const { summary, saved } = await run({
    spec: {
      plugins: [simpleProvider("garbage_provider"), simpleProvider()],
      options: { garbage_provider: { count: 2, garbage: true }, simple_provider: { count: 2 } },
    },
    providers: ["garbage_provider", "simple_provider"],
  });
  deepEqual(summary, { scanned: 2, failed: 2, abandoned: 0 });
  equal(saved.length, 2);
});

Deno.test("§7.7 an archived item no source archiver can fetch counts as failed", async () => {
  const { summary, saved } = await run({
    // "simple_archiver" is not registered here, so the archived items cannot be fetched.
    spec: {
      plugins: [simpleProvider("archived_provider"), simpleProvider()],
      options: { archived_provider: { count: 2, archived: true } },
    },
    providers: ["archived_provider", "simple_provider"],
  });
  deepEqual(summary, { scanned: 1, failed: 2, abandoned: 0 });
  equal(saved.length, 1);
});

Deno.test("§7.7 test_provider_with_request: the item's request_meta wins, per request", async () => {
  const { summary, saved } = await run({
    spec: {
      plugins: [simpleProvider("with_meta"), simpleProvider("without_meta")],
      options: { with_meta: { request_extra: { dummy: "1" } } },
    },
    providers: ["with_meta", "without_meta"],
    ctx: {
      request_meta: RequestMetaSchema.parse({ source: "run", extra_data: { dummy: "2", k: "v" } }),
    },
  });
  equal(summary.scanned, 2);
  const extras = saved.map((s) => s.request_meta.extra_data).sort((a, b) =>
    String(a.dummy).localeCompare(String(b.dummy))
  );
  deepEqual(extras, [{ dummy: "1", k: "v" }, { dummy: "2", k: "v" }]);
  for (const s of saved) {
    equal(s.request_meta.source, "run");
    deepEqual(Object.keys(s.request_meta), ["archive_payloads", "source", "extra_data"]);
  }
  // Unlike stoQ v3, requests do not share one request_meta object.
  ok(saved[0].request_meta !== saved[1].request_meta);
  ok(saved[0].request_meta.extra_data !== saved[1].request_meta.extra_data);
});
