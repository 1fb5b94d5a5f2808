/**
 * The redis plugin against the Redis server on 127.0.0.1:6379, through real `./stoq` processes:
 * publish-archive between two instances, acknowledgement only after the result is stored,
 * redelivery after SIGKILL, three consumers sharing 1,000 messages, SIGTERM draining, and the
 * dead-letter stream. Every test uses its own stream and deletes it afterwards.
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import type { Redis as RedisClient } from "ioredis";
import redisPlugin from "../plugins/redis.ts";
import { runStoq, show, writeText } from "./cli_helpers.ts";
import { instantiate, makePayload, makeRequest, sha256 } from "./helpers.ts";
import {
  killLeftovers,
  ResultStore,
  startStoq,
  stop,
  uniqueName,
  waitFor,
  workspace,
} from "./queue_helpers.ts";

const URL = "redis://127.0.0.1:6379";
const opts = { sanitizeOps: false, sanitizeResources: false };

async function redis(): Promise<RedisClient> {
  const { Redis } = await import("ioredis");
  return new Redis(URL);
}

/** A stream of its own for one test; `done` deletes it and its dead-letter stream. */
async function testStream() {
  const name = uniqueName("stoq-test");
  const r = await redis();
  const { instance, call } = await instantiate(redisPlugin, { stream: name });
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
    flags: (...more: string[]) => ["--plugin-opts", `redis:stream=${name}`, ...more],
    /** Publishes messages numbered `from`..`to-1` with the plugin's own archiver. */
    async publish(from: number, to: number) {
      for (let n = from; n < to; n++) {
        const p = makePayload(`message ${n}\n`, { extra_data: { n } });
        await instance.archive!(p, makeRequest(p), call);
      }
    },
    /** How many entries consumers hold (0 before the first consumer made the group). */
    pending: async () => (await pendingRows()).length,
    /** The pending entries: [id, consumer, idle ms, deliveries]. */
    pendingRows,
    async done() {
      await killLeftovers();
      await Promise.resolve().then(() => instance.close!()).catch(() => {});
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
    equal(await s.pending(), 0);
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
  try {
    const ws = await workspace(0, "connector_retries = 0");
    // The result store cannot be written (a file where its folder should be), nor the
    // dead-letter folder: each scan is nacked and the entry stays pending.
    await Deno.mkdir(ws.home, { recursive: true });
    await Deno.writeTextFile(ws.results, "in the way");
    await Deno.writeTextFile(join(ws.home, "dead-letter"), "in the way");
    await s.publish(0, 1);
    const p = startStoq(
      ["run", "-P", "redis", ...ws.flags, ...s.flags("redis:claim_idle_seconds=0.5")],
      ws.root,
      ws.home,
    );
    // Delivered again and again, never acknowledged, never lost.
    await waitFor("a third delivery", async () => {
      const rows = await s.pendingRows();
      return rows.length === 1 && Number(rows[0][3]) >= 3;
    });
    equal(await s.r.xlen(s.name), 1);
    match(p.stderr(), /the provider's|not saved/);
    // The store comes back: the next delivery is saved, then acknowledged and deleted.
    await Deno.remove(ws.results);
    const counts = await new ResultStore(ws.results).waitAll(1);
    equal(counts.get(0), 1);
    await waitFor("the ack", async () => (await s.r.xlen(s.name)) === 0 && await s.pending() === 0);
    const { code, stderr } = await stop(p);
    equal(code, 0, stderr);
  } finally {
    await s.done();
  }
});

Deno.test({
  ...opts,
  name:
    "redis: SIGKILL mid-scan loses nothing: the restarted consumer claims and finishes the work",
}, async () => {
  const s = await testStream();
  try {
    const ws = await workspace(4000);
    await s.publish(0, 3);
    const flags = [...ws.flags, ...s.flags("redis:claim_idle_seconds=2")];
    const first = startStoq(["run", "-P", "redis", ...flags], ws.root, ws.home);
    await waitFor("all three taken", async () => (await s.pending()) === 3);
    const store = new ResultStore(ws.results);
    deepEqual(await store.read(), [], "killed before any scan finished");
    await stop(first, "SIGKILL");
    const second = startStoq(["run", "-P", "redis", ...flags], ws.root, ws.home);
    const counts = await store.waitAll(3);
    deepEqual([...counts.values()], [1, 1, 1]);
    await waitFor("the acks", async () => (await s.r.xlen(s.name)) === 0);
    const { code, stderr } = await stop(second);
    equal(code, 0, stderr);
  } finally {
    await s.done();
  }
});

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
}, async () => {
  const s = await testStream();
  try {
    const ws = await workspace(3000);
    const p = startStoq(["run", "-P", "redis", ...ws.flags, ...s.flags()], ws.root, ws.home);
    // Nothing to do yet: the consumer waits for messages instead of ending the run.
    await new Promise((r) => setTimeout(r, 1500));
    let exited = false;
    p.status.then(() => exited = true);
    ok(!exited, `stoq run ended on an empty stream:\n${p.stderr()}`);
    await s.publish(0, 3);
    await waitFor("all three taken", async () => (await s.pending()) === 3);
    // Delivered to the process is not yet queued in it: a moment for that (scans take 3 s).
    await new Promise((r) => setTimeout(r, 1000));
    const store = new ResultStore(ws.results);
    deepEqual(await store.read(), [], "stopped before any scan finished");
    p.child.kill("SIGTERM");
    await new Promise((r) => setTimeout(r, 300));
    await s.publish(3, 4); // after the stop: not taken
    const status = await p.status;
    equal(status.code, 0, p.stderr());
    deepEqual([...(await store.counts()).entries()].sort(), [[0, 1], [1, 1], [2, 1]]);
    equal(await s.pending(), 0, "every in-flight message was acknowledged");
    equal(await s.r.xlen(s.name), 1, "only the message published after SIGTERM is left");
  } finally {
    await s.done();
  }
});

Deno.test({
  ...opts,
  name: "redis: a message that cannot be read, or keeps failing, goes to the dead-letter stream",
}, async () => {
  const s = await testStream();
  try {
    const ws = await workspace(0, "connector_retries = 0");
    await s.r.xadd(s.name, "*", "body", "{not json");
    // A reference to an archive this run cannot read (no -S filedir): fails every time.
    const ref = { archived: { filedir: { sha256: "0".repeat(64) } }, payload_meta: {} };
    await s.r.xadd(s.name, "*", "body", JSON.stringify(ref));
    await s.publish(0, 1);
    const p = startStoq(
      ["run", "-P", "redis", ...ws.flags, ...s.flags("redis:claim_idle_seconds=0.3")],
      ws.root,
      ws.home,
    );
    await new ResultStore(ws.results).waitAll(1);
    const dead = await waitFor("two dead letters", async () => {
      const rows = await s.r.xrange(`${s.name}:dead`, "-", "+");
      return rows.length === 2 && rows;
    });
    const reasons = dead.map(([, f]) => f[f.indexOf("reason") + 1]);
    match(reasons[0], /the body is not JSON/);
    match(
      reasons[1],
      /delivered 5 times without being acknowledged \(last failure here: .*-S filedir/,
    );
    equal(dead[1][1][1], JSON.stringify(ref), "the dead letter keeps the message");
    await waitFor("an empty stream", async () => (await s.r.xlen(s.name)) === 0);
    const { code, stderr } = await stop(p);
    // Five failed attempts to fetch the reference make the run's exit status 1.
    equal(code, 1, stderr);
    match(stderr, /1 scanned, 5 failed/);
  } finally {
    await s.done();
  }
});
