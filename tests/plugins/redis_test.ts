/**
 * The redis plugin against the Redis server on 127.0.0.1:6379, through real `./stoq` processes:
 * publish-archive between two instances, acknowledgement only after the result is stored,
 * redelivery after SIGKILL, three consumers sharing 1,000 messages, SIGTERM draining, and the
 * dead-letter stream. Every test uses its own stream and deletes it afterwards.
 */
import { deepEqual, equal, match } from "node:assert/strict";
import { join } from "node:path";
import redisPlugin from "../../plugins/redis.ts";
import { runStoq, show, writeText } from "../cli_helpers.ts";
import { sha256 } from "../helpers.ts";
import {
  ackedAfterSave,
  archiverOf,
  deadLetters,
  ResultStore,
  sigkillMidScan,
  sigtermDrains,
  startStoq,
  stop,
  uniqueName,
  UNREADABLE_REF,
  waitFor,
  workspace,
} from "./queue_helpers.ts";

const URL = "redis://127.0.0.1:6379";
const opts = { sanitizeOps: false, sanitizeResources: false };

/** A stream of its own for one test (its name and a client `r` besides); `done` deletes it. */
async function testStream() {
  const name = uniqueName("stoq-test");
  const { Redis } = await import("ioredis");
  const r = new Redis(URL);
  const archiver = await archiverOf(redisPlugin, { stream: name });
  /** The pending entries: [id, consumer, idle ms, deliveries]. */
  const pendingRows = async () => {
    try {
      return await r.call("XPENDING", name, "stoq", "-", "+", 10_000) as unknown[][];
    } catch (e) {
      if (String(e).includes("NOGROUP")) return [];
      throw e;
    }
  };
  return {
    name,
    r,
    pendingRows,
    plugin: "redis",
    flags: (...more: string[]) => ["--plugin-opts", `redis:stream=${name}`, ...more],
    publish: archiver.publish,
    send: async (body: string) => void await r.xadd(name, "*", "body", body),
    left: () => r.xlen(name),
    /** 0 before the first consumer made the group. */
    held: async () => (await pendingRows()).length,
    dead: () => r.xlen(`${name}:dead`),
    async done() {
      await archiver.close();
      await r.del(name, `${name}:dead`);
      r.disconnect();
    },
  };
}

Deno.test({
  ...opts,
  name: "redis: one instance archives and publishes references, another fetches and scans them",
}, async () => {
  const s = await testStream();
  try {
    const ws = await workspace(0);
    const files = join(ws.root, "incoming");
    await Deno.mkdir(files);
    await writeText(files, "invoice.doc", "not really a document\n");
    await writeText(files, "readme.txt", "hello\n");
    const archive = join(ws.root, "archive");
    const sensorCfg = await writeText(ws.root, "sensor.toml", "[core]\nalways_dispatch = []\n");
    // The sensor: archive each file with filedir, publish a reference on the stream.
    const sensor = await runStoq([
      "scan",
      "-r",
      files,
      "--config",
      sensorCfg,
      "-A",
      "filedir",
      "-C",
      "redis",
      "--plugin-opts",
      `filedir:archive_dir=${archive}`,
      ...s.flags(),
    ]);
    equal(sensor.code, 0, show(sensor));
    equal(await s.r.xlen(s.name), 2);
    const [[, fields]] = await s.r.xrange(s.name, "-", "+", "COUNT", 1);
    const msg = JSON.parse(fields[1]);
    deepEqual(Object.keys(msg), ["archived", "payload_meta", "request_meta"]);
    match(
      msg.archived.filedir.path,
      /\/archive\/[0-9a-f]\/[0-9a-f]\/[0-9a-f]\/[0-9a-f]\/[0-9a-f]\//,
    );
    // The scanner: fetch each reference with the filedir source archiver, hash it, store it.
    const scanner = startStoq(
      [
        "run",
        "-P",
        "redis",
        "-S",
        "filedir",
        "-a",
        "hash",
        ...ws.flags,
        `filedir:archive_dir=${archive}`,
        ...s.flags(),
      ],
      ws.root,
      ws.home,
    );
    const store = new ResultStore(ws.results);
    const docs = await waitFor("two results", async () => {
      const d = await store.read();
      return d.length === 2 && d;
    });
    const seen = docs.map((d) => [
      d.results[0].payload_meta.extra_data.filename,
      (d.results[0].workers.hash as { sha256: string }).sha256,
    ]).sort();
    deepEqual(seen, [
      ["invoice.doc", sha256("not really a document\n")],
      ["readme.txt", sha256("hello\n")],
    ]);
    await waitFor("the stream to be empty", async () => (await s.r.xlen(s.name)) === 0);
    equal(await s.held(), 0);
    const { code, stderr } = await stop(scanner);
    equal(code, 0, stderr);
  } finally {
    await s.done();
  }
});

Deno.test({
  ...opts,
  name:
    "redis: a message is acknowledged only after its result is stored; until then it is retried",
}, async () => {
  const s = await testStream();
  await ackedAfterSave(s, "redis:claim_idle_seconds=0.5", async (p) => {
    await waitFor("a third delivery", async () => {
      const rows = await s.pendingRows();
      return rows.length === 1 && Number(rows[0][3]) >= 3;
    });
    equal(await s.left(), 1);
    match(p.stderr(), /the provider's|not saved/);
  });
});

Deno.test({
  ...opts,
  name:
    "redis: SIGKILL mid-scan loses nothing: the restarted consumer claims and finishes the work",
}, async () => sigkillMidScan(await testStream(), "redis:claim_idle_seconds=2"));

Deno.test({
  ...opts,
  name: "redis: a scan longer than claim_idle_seconds is not taken over by another live consumer",
}, async () => {
  const s = await testStream();
  try {
    const ws = await workspace(4000);
    await s.publish(0, 4);
    const flags = [...ws.flags, ...s.flags("redis:claim_idle_seconds=1.5")];
    const a = startStoq(["run", "-P", "redis", ...flags], ws.root, ws.home);
    const b = startStoq(["run", "-P", "redis", ...flags], ws.root, ws.home);
    const store = new ResultStore(ws.results);
    await store.waitAll(4);
    await waitFor("the acks", async () => (await s.r.xlen(s.name)) === 0);
    // Stopped (draining whatever is in flight) before counting, so a second scan would show.
    for (const p of [a, b]) {
      const { code, stderr } = await stop(p);
      equal(code, 0, stderr);
    }
    deepEqual([...(await store.counts()).values()], [1, 1, 1, 1], "each scanned once");
  } finally {
    await s.done();
  }
});

Deno.test({
  ...opts,
  name: "redis: three stoq processes on one stream process every one of 1,000 messages",
}, async () => {
  const s = await testStream();
  try {
    const ws = await workspace(0);
    const procs = ["a", "b", "c"].map((name) =>
      startStoq(
        ["run", "-P", "redis", ...ws.flags, ...s.flags(), "--request-extra", `process=${name}`],
        ws.root,
        ws.home,
      )
    );
    // All three are waiting on the stream before the first message arrives.
    await waitFor("three consumers", async () => {
      try {
        return (await s.r.call("XINFO", "CONSUMERS", s.name, "stoq") as unknown[]).length === 3;
      } catch {
        return false;
      }
    });
    await s.publish(0, 1000);
    const store = new ResultStore(ws.results);
    await store.waitAll(1000, 120_000);
    await waitFor("the acks", async () => (await s.r.xlen(s.name)) === 0);
    for (const p of procs) {
      const { code, stderr } = await stop(p);
      equal(code, 0, stderr);
      match(stderr, /stopping: no new payloads/);
    }
    const counts = await store.counts();
    equal(counts.size, 1000);
    const total = [...counts.values()].reduce((a, b) => a + b, 0);
    const by: Record<string, number> = {};
    for (const d of await store.read()) {
      const who = String((d.request_meta.extra_data as Record<string, unknown>).process);
      by[who] = (by[who] ?? 0) + 1;
    }
    console.log(
      `1,000 messages: ${total} results, ${total - 1000} duplicate(s); by process ${
        JSON.stringify(by)
      }`,
    );
    equal(total, 1000, "no duplicates when no consumer died");
    deepEqual(Object.keys(by).sort(), ["a", "b", "c"], "all three took part");
  } finally {
    await s.done();
  }
});

Deno.test({
  ...opts,
  name: "redis: run waits on an empty stream; SIGTERM drains in-flight scans, stores and acks them",
}, async () => sigtermDrains(await testStream()));

Deno.test({
  ...opts,
  name: "redis: a message that cannot be read, or keeps failing, goes to the dead-letter stream",
}, async () => {
  const s = await testStream();
  await deadLetters(s, {
    core: "connector_retries = 0",
    options: ["redis:claim_idle_seconds=0.3"],
    async inspect(stderr) {
      const dead = await s.r.xrange(`${s.name}:dead`, "-", "+");
      const reasons = dead.map(([, f]) => f[f.indexOf("reason") + 1]);
      match(reasons[0], /the body is not JSON/);
      match(
        reasons[1],
        /delivered 5 times without being acknowledged \(last failure here: .*-S filedir/,
      );
      equal(dead[1][1][1], UNREADABLE_REF, "the dead letter keeps the message");
      // Five failed attempts to fetch the reference.
      match(stderr, /1 scanned, 5 failed/);
    },
  });
});
