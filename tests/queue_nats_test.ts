/**
 * The nats plugin against the NATS JetStream server on 127.0.0.1:4222, through real `./stoq`
 * processes: acknowledgement only after the result is stored, redelivery after SIGKILL, SIGTERM
 * draining, and dead letters. Every test uses its own stream and deletes it afterwards.
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import natsPlugin from "../plugins/nats.ts";
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

const opts = { sanitizeOps: false, sanitizeResources: false };

/** A stream of its own for one test; `done` deletes it. */
async function testStream(pluginOpts: Record<string, unknown> = {}) {
  const name = uniqueName("stoq-test");
  const subject = `stoqtest.${name}`;
  const { connect } = await import("@nats-io/transport-node");
  const { jetstreamManager } = await import("@nats-io/jetstream");
  const nc = await connect({ servers: "127.0.0.1:4222" });
  const jsm = await jetstreamManager(nc);
  const { instance, call } = await instantiate(natsPlugin, {
    stream: name,
    subject,
    ...pluginOpts,
  });
  return {
    name,
    subject,
    nc,
    jsm,
    flags: (...more: string[]) => [
      "--plugin-opts",
      `nats:stream=${name}`,
      `nats:subject=${subject}`,
      ...more,
    ],
    /** Publishes messages numbered `from`..`to-1` with the plugin's own archiver. */
    async publish(from: number, to: number) {
      for (let n = from; n < to; n++) {
        const p = makePayload(`message ${n}\n`, { extra_data: { n } });
        await instance.archive!(p, makeRequest(p), call);
      }
    },
    /** Messages of `subj` still in the stream (acknowledged ones are removed). */
    stored: async (subj = subject) =>
      (await jsm.streams.info(name, { subjects_filter: subj })).state.subjects?.[subj] ?? 0,
    /** The durable consumer's counts: not yet delivered, and delivered but not acked. */
    async consumer() {
      const i = await jsm.consumers.info(name, "stoq").catch(() => null);
      return { pending: i?.num_pending ?? 0, unacked: i?.num_ack_pending ?? 0 };
    },
    async done() {
      await killLeftovers();
      await Promise.resolve().then(() => instance.close!()).catch(() => {});
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
  try {
    const ws = await workspace(0, "connector_retries = 0");
    await Deno.mkdir(ws.home, { recursive: true });
    await Deno.writeTextFile(ws.results, "in the way");
    await Deno.writeTextFile(join(ws.home, "dead-letter"), "in the way");
    await s.publish(0, 1);
    const p = startStoq(
      ["run", "-P", "nats", ...ws.flags, ...s.flags("nats:retry_delay_seconds=0.2")],
      ws.root,
      ws.home,
    );
    await waitFor("three failed saves", () => p.stderr().split("not saved").length > 3);
    equal(await s.stored(), 1, "still in the stream");
    await Deno.remove(ws.results);
    equal((await new ResultStore(ws.results).waitAll(1)).get(0), 1);
    await waitFor("the ack", async () => (await s.stored()) === 0);
    const { code, stderr } = await stop(p);
    equal(code, 0, stderr);
  } finally {
    await s.done();
  }
});

Deno.test({
  ...opts,
  name: "nats: SIGKILL mid-scan loses nothing: the restarted consumer gets them after ack_wait",
}, async () => {
  const s = await testStream();
  try {
    const ws = await workspace(4000);
    await s.publish(0, 3);
    const flags = [...ws.flags, ...s.flags("nats:ack_wait_seconds=2")];
    const first = startStoq(["run", "-P", "nats", ...flags], ws.root, ws.home);
    await waitFor("all three taken", async () => (await s.consumer()).unacked === 3);
    const store = new ResultStore(ws.results);
    deepEqual(await store.read(), [], "killed before any scan finished");
    await stop(first, "SIGKILL");
    const second = startStoq(["run", "-P", "nats", ...flags], ws.root, ws.home);
    deepEqual([...(await store.waitAll(3)).values()], [1, 1, 1]);
    await waitFor("the acks", async () => (await s.stored()) === 0);
    const { code, stderr } = await stop(second);
    equal(code, 0, stderr);
    // Scans of 4 s with ack_wait 2 s: the live consumer's progress reports kept them its own.
    deepEqual([...(await store.counts()).values()], [1, 1, 1]);
  } finally {
    await s.done();
  }
});

Deno.test({
  ...opts,
  name: "nats: run waits on an empty stream; SIGTERM drains in-flight scans, stores and acks them",
}, async () => {
  const s = await testStream();
  try {
    const ws = await workspace(3000);
    const p = startStoq(["run", "-P", "nats", ...ws.flags, ...s.flags()], ws.root, ws.home);
    await new Promise((r) => setTimeout(r, 1500));
    let exited = false;
    p.status.then(() => exited = true);
    ok(!exited, `stoq run ended on an empty stream:\n${p.stderr()}`);
    await s.publish(0, 3);
    await waitFor("all three taken", async () => (await s.consumer()).unacked === 3);
    // Delivered to the process is not yet queued in it: a moment for that (scans take 3 s).
    await new Promise((r) => setTimeout(r, 1000));
    const store = new ResultStore(ws.results);
    deepEqual(await store.read(), [], "stopped before any scan finished");
    p.child.kill("SIGTERM");
    await new Promise((r) => setTimeout(r, 300));
    await s.publish(3, 4);
    const status = await p.status;
    equal(status.code, 0, p.stderr());
    deepEqual([...(await store.counts()).entries()].sort(), [[0, 1], [1, 1], [2, 1]]);
    equal(await s.stored(), 1, "only the message published after SIGTERM is left");
    deepEqual(await s.consumer(), { pending: 1, unacked: 0 });
  } finally {
    await s.done();
  }
});

Deno.test({
  ...opts,
  name: "nats: an unreadable message, and one that keeps failing, go to the dead-letter subject",
}, async () => {
  const s = await testStream();
  try {
    const ws = await workspace(0);
    await s.publish(0, 1);
    const { jetstream } = await import("@nats-io/jetstream");
    const js = jetstream(s.nc);
    await js.publish(s.subject, "{not json");
    const ref = JSON.stringify({ archived: { filedir: { sha256: "0".repeat(64) } } });
    await js.publish(s.subject, ref);
    const p = startStoq(
      [
        "run",
        "-P",
        "nats",
        ...ws.flags,
        ...s.flags("nats:max_deliveries=2", "nats:retry_delay_seconds=0.1"),
      ],
      ws.root,
      ws.home,
    );
    await new ResultStore(ws.results).waitAll(1);
    const dead = `${s.subject}.dead`;
    await waitFor("two dead letters", async () => (await s.stored(dead)) === 2);
    await waitFor("the stream to keep only them", async () => (await s.stored()) === 0);
    const { code, stderr } = await stop(p);
    equal(code, 1, stderr); // two failed fetches of the reference
    const first = await s.jsm.streams.getMessage(s.name, { last_by_subj: dead });
    equal(new TextDecoder().decode(first!.data), ref);
    match(first!.header.get("stoq-dead-reason"), /delivered 2 times without being acknowledged/);
    match(stderr, /moved to .*\.dead: the body is not JSON/);
  } finally {
    await s.done();
  }
});
