/**
 * The nats plugin against the NATS JetStream server on 127.0.0.1:4222, through real `./stoq`
 * processes: acknowledgement only after the result is stored, redelivery after SIGKILL, SIGTERM
 * draining, and dead letters. Every test uses its own stream and deletes it afterwards.
 */
import { deepEqual, equal, match } from "node:assert/strict";
import natsPlugin from "../../plugins/nats.ts";
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

const opts = { sanitizeOps: false, sanitizeResources: false };

/** A stream of its own for one test (its names and a manager `jsm` besides); `done` deletes it. */
async function testStream() {
  const name = uniqueName("stoq-test");
  const subject = `stoqtest.${name}`;
  const { connect } = await import("@nats-io/transport-node");
  const { jetstream, jetstreamManager } = await import("@nats-io/jetstream");
  const nc = await connect({ servers: "127.0.0.1:4222" });
  const jsm = await jetstreamManager(nc);
  const archiver = await archiverOf(natsPlugin, { stream: name, subject });
  /** Messages of `subj` still in the stream (acknowledged ones are removed). */
  const stored = async (subj: string) =>
    (await jsm.streams.info(name, { subjects_filter: subj })).state.subjects?.[subj] ?? 0;
  /** The durable consumer's counts: not yet delivered, and delivered but not acked. */
  const consumer = async () => {
    const i = await jsm.consumers.info(name, "stoq").catch(() => null);
    return { pending: i?.num_pending ?? 0, unacked: i?.num_ack_pending ?? 0 };
  };
  return {
    name,
    subject,
    jsm,
    consumer,
    plugin: "nats",
    flags: (...more: string[]) => [
      "--plugin-opts",
      `nats:stream=${name}`,
      `nats:subject=${subject}`,
      ...more,
    ],
    publish: archiver.publish,
    send: async (body: string) => void await jetstream(nc).publish(subject, body),
    left: () => stored(subject),
    held: async () => (await consumer()).unacked,
    dead: () => stored(`${subject}.dead`),
    async done() {
      await archiver.close();
      await jsm.streams.delete(name).catch(() => {});
      await nc.close();
    },
  };
}

Deno.test({
  ...opts,
  name: "nats: a message is acknowledged only after its result is stored; until then it is retried",
}, async () => {
  const s = await testStream();
  await ackedAfterSave(s, "nats:retry_delay_seconds=0.2", async (p) => {
    await failedSaves(p, 3);
    equal(await s.left(), 1, "still in the stream");
  });
});

Deno.test({
  ...opts,
  name: "nats: SIGKILL mid-scan loses nothing: the restarted consumer gets them after ack_wait",
}, async () => sigkillMidScan(await testStream(), "nats:ack_wait_seconds=2"));

Deno.test({
  ...opts,
  name: "nats: run waits on an empty stream; SIGTERM drains in-flight scans, stores and acks them",
}, async () => {
  const s = await testStream();
  await sigtermDrains(s, async () => deepEqual(await s.consumer(), { pending: 1, unacked: 0 }));
});

Deno.test({
  ...opts,
  name: "nats: an unreadable message, and one that keeps failing, go to the dead-letter subject",
}, async () => {
  const s = await testStream();
  await deadLetters(s, {
    options: ["nats:max_deliveries=2", "nats:retry_delay_seconds=0.1"],
    async inspect() {
      const dead = `${s.subject}.dead`;
      const first = await s.jsm.streams.getMessage(s.name, { last_by_subj: dead });
      equal(new TextDecoder().decode(first!.data), UNREADABLE_REF);
      match(first!.header.get("stoq-dead-reason"), /delivered 2 times without being acknowledged/);
    },
  });
});
