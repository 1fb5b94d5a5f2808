/**
 * The rabbitmq plugin against the RabbitMQ server on 127.0.0.1:5672, through real `./stoq`
 * processes: acknowledgement only after the result is stored, redelivery after SIGKILL, SIGTERM
 * draining, and dead letters. Every test uses its own queues and deletes them afterwards.
 */
import { equal, match, ok } from "node:assert/strict";
import { Buffer } from "node:buffer";
import rabbitmqPlugin from "../../plugins/rabbitmq.ts";
import {
  ackedAfterSave,
  archiverOf,
  deadLetters,
  failedSaves,
  sigkillMidScan,
  sigtermDrains,
  uniqueName,
  UNREADABLE_REF,
} from "./queue_helpers.ts";

const URL = "amqp://guest:guest@127.0.0.1:5672";
const opts = { sanitizeOps: false, sanitizeResources: false };

/** Queues of their own for one test (a channel `ch` besides); `done` deletes them. */
async function testQueue(pluginOpts: Record<string, unknown> = {}) {
  const name = uniqueName("stoq-test");
  const amqp = await import("amqplib");
  const conn = await amqp.connect(URL);
  const ch = await conn.createChannel();
  const archiver = await archiverOf(rabbitmqPlugin, { queue: name, ...pluginOpts });
  return {
    name,
    ch,
    plugin: "rabbitmq",
    flags: (...more: string[]) => ["--plugin-opts", `rabbitmq:queue=${name}`, ...more],
    publish: archiver.publish,
    send: (body: string) => void ch.sendToQueue(name, Buffer.from(body)),
    /** Messages waiting for a consumer (not those delivered and not yet acked). */
    left: async () => (await ch.checkQueue(name)).messageCount,
    dead: async () => (await ch.checkQueue(`${name}.dead`)).messageCount,
    async done() {
      await archiver.close();
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
  await ackedAfterSave(
    await testQueue(),
    "rabbitmq:retry_delay_seconds=0.2",
    (p) => failedSaves(p, 3),
  );
});

Deno.test({
  ...opts,
  name: "rabbitmq: SIGKILL mid-scan loses nothing: the restarted consumer gets the messages again",
}, async () => sigkillMidScan(await testQueue()));

Deno.test({
  ...opts,
  name:
    "rabbitmq: run waits on an empty queue; SIGTERM drains in-flight scans, stores and acks them",
}, async () => sigtermDrains(await testQueue()));

Deno.test({
  ...opts,
  name: "rabbitmq: an unreadable message, and one that keeps failing, go to the dead-letter queue",
}, async () => {
  const q = await testQueue({ max_deliveries: 2 });
  await deadLetters(q, {
    options: ["rabbitmq:max_deliveries=2", "rabbitmq:retry_delay_seconds=0.1"],
    async inspect() {
      const got = [];
      for (let i = 0; i < 2; i++) {
        const m = await q.ch.get(`${q.name}.dead`, { noAck: true });
        ok(m);
        got.push([m.content.toString(), m.properties.headers]);
      }
      equal(got[0][0], "{not json");
      match(String((got[0][1] as Record<string, unknown>)["stoq-dead-reason"]), /not JSON/);
      equal(got[1][0], UNREADABLE_REF);
      equal((got[1][1] as Record<string, unknown>)["x-first-death-reason"], "delivery_limit");
    },
  });
});
