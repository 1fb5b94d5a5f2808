/**
 * The rabbitmq plugin against the RabbitMQ server on 127.0.0.1:5672, through real `./stoq`
 * processes: acknowledgement only after the result is stored, redelivery after SIGKILL, SIGTERM
 * draining, and dead letters. Every test uses its own queues and deletes them afterwards.
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import rabbitmqPlugin from "../plugins/rabbitmq.ts";
import { instantiate, makePayload, makeRequest } from "./helpers.ts";
import {
  killLeftovers,
  ResultStore,
  startStoq,
  stop,
  uniqueName,
  waitFor,
  workspace,
} from "./queue_helpers.ts";

const URL = "amqp://guest:guest@127.0.0.1:5672";
const opts = { sanitizeOps: false, sanitizeResources: false };

/** Queues of their own for one test; `done` deletes them. */
async function testQueue(pluginOpts: Record<string, unknown> = {}) {
  const name = uniqueName("stoq-test");
  const amqp = await import("amqplib");
  const conn = await amqp.connect(URL);
  const ch = await conn.createChannel();
  const { instance, call } = await instantiate(rabbitmqPlugin, { queue: name, ...pluginOpts });
  return {
    name,
    ch,
    flags: (...more: string[]) => ["--plugin-opts", `rabbitmq:queue=${name}`, ...more],
    /** Publishes messages numbered `from`..`to-1` with the plugin's own archiver. */
    async publish(from: number, to: number) {
      for (let n = from; n < to; n++) {
        const p = makePayload(`message ${n}\n`, { extra_data: { n } });
        await instance.archive!(p, makeRequest(p), call);
      }
    },
    /** Messages waiting for a consumer (not those delivered and not yet acked). */
    ready: async (queue = name) => (await ch.checkQueue(queue)).messageCount,
    async done() {
      await killLeftovers();
      await Promise.resolve().then(() => instance.close!()).catch(() => {});
      await ch.deleteQueue(name).catch(() => {});
      await ch.deleteQueue(`${name}.dead`).catch(() => {});
      await conn.close();
    },
  };
}

Deno.test({
  ...opts,
  name:
    "rabbitmq: a message is acknowledged only after its result is stored; until then it is retried",
}, async () => {
  const q = await testQueue();
  try {
    const ws = await workspace(0, "connector_retries = 0");
    await Deno.mkdir(ws.home, { recursive: true });
    await Deno.writeTextFile(ws.results, "in the way");
    await Deno.writeTextFile(join(ws.home, "dead-letter"), "in the way");
    await q.publish(0, 1);
    const p = startStoq(
      ["run", "-P", "rabbitmq", ...ws.flags, ...q.flags("rabbitmq:retry_delay_seconds=0.2")],
      ws.root,
      ws.home,
    );
    await waitFor("three failed saves", () => p.stderr().split("not saved").length > 3);
    deepEqual(await new ResultStore(ws.results).read(), []);
    await Deno.remove(ws.results);
    const counts = await new ResultStore(ws.results).waitAll(1);
    equal(counts.get(0), 1);
    const { code, stderr } = await stop(p);
    equal(code, 0, stderr);
    // Acked: nothing went back to the queue when the consumer left.
    equal(await q.ready(), 0);
    equal(await q.ready(`${q.name}.dead`), 0);
  } finally {
    await q.done();
  }
});

Deno.test({
  ...opts,
  name: "rabbitmq: SIGKILL mid-scan loses nothing: the restarted consumer gets the messages again",
}, async () => {
  const q = await testQueue();
  try {
    const ws = await workspace(4000);
    await q.publish(0, 3);
    const flags = [...ws.flags, ...q.flags()];
    const first = startStoq(["run", "-P", "rabbitmq", ...flags], ws.root, ws.home);
    await waitFor("all three taken", async () => (await q.ready()) === 0);
    const store = new ResultStore(ws.results);
    deepEqual(await store.read(), [], "killed before any scan finished");
    await stop(first, "SIGKILL");
    await waitFor("the broker to take them back", async () => (await q.ready()) === 3);
    const second = startStoq(["run", "-P", "rabbitmq", ...flags], ws.root, ws.home);
    deepEqual([...(await store.waitAll(3)).values()], [1, 1, 1]);
    const { code, stderr } = await stop(second);
    equal(code, 0, stderr);
    equal(await q.ready(), 0);
  } finally {
    await q.done();
  }
});

Deno.test({
  ...opts,
  name:
    "rabbitmq: run waits on an empty queue; SIGTERM drains in-flight scans, stores and acks them",
}, async () => {
  const q = await testQueue();
  try {
    const ws = await workspace(3000);
    await q.publish(0, 0); // declares the queue
    const p = startStoq(["run", "-P", "rabbitmq", ...ws.flags, ...q.flags()], ws.root, ws.home);
    await new Promise((r) => setTimeout(r, 1500));
    let exited = false;
    p.status.then(() => exited = true);
    ok(!exited, `stoq run ended on an empty queue:\n${p.stderr()}`);
    await q.publish(0, 3);
    await waitFor("all three taken", async () => (await q.ready()) === 0);
    // Delivered to the process is not yet queued in it: a moment for that (scans take 3 s).
    await new Promise((r) => setTimeout(r, 1000));
    const store = new ResultStore(ws.results);
    deepEqual(await store.read(), [], "stopped before any scan finished");
    p.child.kill("SIGTERM");
    await new Promise((r) => setTimeout(r, 300));
    await q.publish(3, 4);
    const status = await p.status;
    equal(status.code, 0, p.stderr());
    deepEqual([...(await store.counts()).entries()].sort(), [[0, 1], [1, 1], [2, 1]]);
    equal(await q.ready(), 1, "only the message published after SIGTERM is left");
  } finally {
    await q.done();
  }
});

Deno.test({
  ...opts,
  name: "rabbitmq: an unreadable message, and one that keeps failing, go to the dead-letter queue",
}, async () => {
  const q = await testQueue({ max_deliveries: 2 });
  try {
    const ws = await workspace(0);
    await q.publish(0, 1);
    q.ch.sendToQueue(q.name, Buffer.from("{not json"));
    const ref = { archived: { filedir: { sha256: "0".repeat(64) } } };
    q.ch.sendToQueue(q.name, Buffer.from(JSON.stringify(ref)));
    const p = startStoq(
      [
        "run",
        "-P",
        "rabbitmq",
        ...ws.flags,
        ...q.flags("rabbitmq:max_deliveries=2", "rabbitmq:retry_delay_seconds=0.1"),
      ],
      ws.root,
      ws.home,
    );
    await new ResultStore(ws.results).waitAll(1);
    await waitFor("two dead letters", async () => (await q.ready(`${q.name}.dead`)) === 2);
    const { code, stderr } = await stop(p);
    equal(code, 1, stderr); // two failed fetches of the reference
    match(stderr, /moved to .*\.dead: the body is not JSON/);
    const got = [];
    for (let i = 0; i < 2; i++) {
      const m = await q.ch.get(`${q.name}.dead`, { noAck: true });
      ok(m);
      got.push([m.content.toString(), m.properties.headers]);
    }
    equal(got[0][0], "{not json");
    match(String((got[0][1] as Record<string, unknown>)["stoq-dead-reason"]), /not JSON/);
    equal(got[1][0], JSON.stringify(ref));
    equal((got[1][1] as Record<string, unknown>)["x-first-death-reason"], "delivery_limit");
  } finally {
    await q.done();
  }
});
