/**
 * NATS JetStream as a work queue: a provider that pulls from a durable consumer and acknowledges
 * a message only once its result is safe (nak with a delay otherwise; after max_deliveries the
 * message moves to a dead-letter subject), a connector that publishes references to archived
 * payloads (or results), and an archiver that publishes the payload itself.
 * Message format: plugins/lib/queue/message.ts (the data, and the `stoq-meta` header).
 */
import type { Delivery, StoqAPI } from "../core/engine/plugin.ts";
import type { NatsConnection } from "@nats-io/transport-node";
import type { JetStreamClient, JsMsg } from "@nats-io/jetstream";
import {
  checkDeliveries,
  decodeMessage,
  InFlight,
  isStopping,
  META_FIELD,
  type OutMessage,
  PoisonMessage,
  publishing,
  queueOptions,
} from "./lib/queue/message.ts";

export default (stoq: StoqAPI) =>
  stoq.plugin({
    name: "nats",
    version: "1.0.0",
    description:
      "Consumes payloads from a NATS JetStream stream (ack after save) and publishes to it",
    classes: ["provider", "connector", "archiver"],
    options: {
      servers: stoq.z.string().default("127.0.0.1:4222"),
      stream: stoq.z.string().min(1).default("STOQ"),
      subject: stoq.z.string().min(1).default("stoq.payloads"),
      durable: stoq.z.string().min(1).default("stoq"),
      dead_letter_subject: stoq.z.string().default(""),
      ack_wait_seconds: stoq.z.number().positive().default(30),
      retry_delay_seconds: stoq.z.number().min(0).default(5),
      ...queueOptions(stoq.z),
    },
    async create(opts, ctx) {
      const nats = await import("@nats-io/transport-node");
      const js = await import("@nats-io/jetstream");
      const dead = opts.dead_letter_subject || `${opts.subject}.dead`;
      let heartbeat: ReturnType<typeof setInterval> | undefined;
      let conn: Promise<{ nc: NatsConnection; client: JetStreamClient }> | undefined;
      const connect = () =>
        conn ??= (async () => {
          let nc: NatsConnection;
          try {
            nc = await nats.connect({
              servers: opts.servers.split(","),
              name: `stoq ${ctx.name}`,
              maxReconnectAttempts: -1,
            });
          } catch (e) {
            conn = undefined;
            throw new Error(`nats: cannot connect to ${opts.servers}: ${(e as Error).message}`);
          }
          // The stream is made when missing: it keeps the payload and dead-letter subjects, and
          // as a work queue it forgets a message once it was acknowledged.
          const jsm = await js.jetstreamManager(nc);
          try {
            await jsm.streams.info(opts.stream);
          } catch (e) {
            if (!(e instanceof js.JetStreamApiError) || e.status !== 404) throw e;
            await jsm.streams.add({
              name: opts.stream,
              subjects: [opts.subject, dead],
              retention: js.RetentionPolicy.Workqueue,
              storage: js.StorageType.File,
            });
          }
          return { nc, client: js.jetstream(nc) };
        })();
      const publish = async (msgs: OutMessage[], subject = opts.subject, extra = {}) => {
        const { client } = await connect();
        for (const m of msgs) {
          const h = nats.headers();
          for (const [k, v] of Object.entries(extra)) h.set(k, String(v));
          if (m.meta) h.set(META_FIELD, m.meta);
          await client.publish(subject, m.body, { headers: h });
        }
      };

      return {
        ...publishing(ctx.name, opts.publish_archive, publish, () => ({ subject: opts.subject })),

        async ingest(queue, call) {
          const { nc, client } = await connect();
          const jsm = await js.jetstreamManager(nc);
          // One more delivery than max_deliveries: that one moves the message to dead letters,
          // also when every earlier attempt died with its consumer.
          const config = {
            ack_policy: js.AckPolicy.Explicit,
            ack_wait: nats.nanos(opts.ack_wait_seconds * 1000),
            max_deliver: opts.max_deliveries + 1,
            filter_subject: opts.subject,
          };
          try {
            await jsm.consumers.add(opts.stream, { durable_name: opts.durable, ...config });
          } catch {
            await jsm.consumers.update(opts.stream, opts.durable, config);
          }
          const consumer = await client.consumers.get(opts.stream, opts.durable);
          const held = new InFlight<JsMsg>(queue.consumers ?? 4);
          // Held messages are reported as in progress, so only those of a consumer that died
          // are delivered again after ack_wait_seconds.
          heartbeat = setInterval(() => {
            for (const [, m] of held.entries()) m.working();
          }, Math.max(100, opts.ack_wait_seconds * 1000 / 3));

          const deadLetter = async (m: JsMsg, reason: string) => {
            const extra: Record<string, string> = { "stoq-dead-reason": reason };
            for (const [k, v] of m.headers ?? []) extra[k] = v.join(",");
            const meta = m.headers?.get(META_FIELD);
            await publish([{ body: m.data, meta: meta || undefined }], dead, extra);
            // Acked rather than terminated: a work-queue stream forgets only acked messages.
            await m.ackAck();
            ctx.log.error(`nats: message ${m.seq} of ${opts.stream} moved to ${dead}: ${reason}`);
          };
          const delivery = (m: JsMsg): Delivery => ({
            ack: async () => {
              if (!await m.ackAck()) throw new Error(`nats: message ${m.seq} was acked already`);
              held.take(String(m.seq));
            },
            nack: () => {
              held.take(String(m.seq));
              m.nak(call.signal.aborted ? 0 : opts.retry_delay_seconds * 1000);
            },
          });
          const give = async (m: JsMsg) => {
            try {
              checkDeliveries(m.info.deliveryCount, opts.max_deliveries);
              const meta = m.headers?.get(META_FIELD);
              const item = decodeMessage(stoq.z, m.data, meta || undefined);
              held.add(String(m.seq), m);
              await queue.put(item, delivery(m));
            } catch (e) {
              if (e instanceof PoisonMessage) return await deadLetter(m, e.message);
              held.take(String(m.seq));
              m.nak();
              if (!isStopping(e)) throw e;
            }
          };

          while (!call.signal.aborted) {
            const room = await held.room(call.signal);
            if (!room) break;
            const batch = await consumer.fetch({ max_messages: room, expires: 2000 });
            const stop = () => batch.stop();
            call.signal.addEventListener("abort", stop, { once: true });
            try {
              for await (const m of batch) {
                if (call.signal.aborted) m.nak();
                else await give(m);
              }
            } finally {
              call.signal.removeEventListener("abort", stop);
            }
          }
        },

        async close() {
          clearInterval(heartbeat);
          const c = await conn?.catch(() => undefined);
          await c?.nc.drain().catch(() => c.nc.close());
        },
      };
    },
  });
