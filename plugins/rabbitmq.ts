/**
 * RabbitMQ as a work queue: a provider that consumes a quorum queue with manual acknowledgement
 * (a message is acked only once its result is safe; RabbitMQ itself dead-letters a message
 * delivered max_deliveries times), a connector that publishes references to archived payloads
 * (or results), and an archiver that publishes the payload itself.
 * Message format: plugins/lib/queue/message.ts (the body, and the `stoq-meta` header).
 */
import type { Delivery, StoqAPI } from "../core/engine/plugin.ts";
import type { Channel, ChannelModel, ConfirmChannel, ConsumeMessage } from "amqplib";
import {
  decodeMessage,
  isStopping,
  META_FIELD,
  type OutMessage,
  PoisonMessage,
  publishing,
  queueOptions,
} from "./lib/queue/message.ts";

export default (stoq: StoqAPI) =>
  stoq.plugin({
    name: "rabbitmq",
    version: "1.0.0",
    description: "Consumes payloads from a RabbitMQ queue (ack after save) and publishes to it",
    classes: ["provider", "connector", "archiver"],
    options: {
      url: stoq.z.string().default("amqp://guest:guest@127.0.0.1:5672"),
      queue: stoq.z.string().min(1).default("stoq"),
      dead_letter_queue: stoq.z.string().default(""),
      retry_delay_seconds: stoq.z.number().min(0).default(5),
      ...queueOptions(stoq.z),
    },
    async create(opts, ctx) {
      const amqp = await import("amqplib");
      const { Buffer } = await import("node:buffer");
      const dead = opts.dead_letter_queue || `${opts.queue}.dead`;
      // A quorum queue counts deliveries (an abandoned one included) and dead-letters a message
      // once it was delivered max_deliveries times.
      const queueArgs = {
        "x-queue-type": "quorum",
        "x-delivery-limit": opts.max_deliveries - 1,
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": dead,
      };
      let closing = false;
      let conn: Promise<ChannelModel> | undefined;
      const connection = () =>
        conn ??= amqp.connect(opts.url).then((c) => {
          c.on("error", (e: Error) => ctx.log.warn(`rabbitmq ${safeUrl(opts.url)}: ${e.message}`));
          return c;
        }, (e: Error) => {
          conn = undefined;
          throw new Error(`rabbitmq: cannot connect to ${safeUrl(opts.url)}: ${e.message}`);
        });

      const declare = async (ch: Channel) => {
        await ch.assertQueue(dead, { durable: true, arguments: { "x-queue-type": "quorum" } });
        await ch.assertQueue(opts.queue, { durable: true, arguments: queueArgs });
      };
      let publisher: Promise<ConfirmChannel> | undefined;
      const confirmChannel = () =>
        publisher ??= (async () => {
          const c = await connection();
          // A publisher uses the queue as the consumers declared it, and declares it only if
          // it is missing (the default exchange drops what is sent to no queue).
          const probe = await c.createChannel();
          probe.on("error", () => {});
          const exists = await probe.checkQueue(opts.queue).then(() => true, () => false);
          if (exists) await probe.close();
          const ch = await c.createConfirmChannel();
          if (!exists) await declare(ch);
          return ch;
        })().catch((e) => {
          publisher = undefined;
          throw e;
        });
      const send = async (msgs: OutMessage[], to = opts.queue, headers = {}) => {
        const ch = await confirmChannel();
        for (const m of msgs) {
          ch.sendToQueue(to, Buffer.from(m.body.buffer, m.body.byteOffset, m.body.byteLength), {
            persistent: true,
            contentType: m.meta ? "application/octet-stream" : "application/json",
            headers: { ...headers, ...(m.meta ? { [META_FIELD]: m.meta } : {}) },
          });
        }
        await ch.waitForConfirms();
      };
      const delayed = new Map<ReturnType<typeof setTimeout>, () => void>();

      return {
        ...publishing(ctx.name, opts.publish_archive, send, () => ({ queue: opts.queue })),

        async ingest(queue, call) {
          const c = await connection();
          const ch = await c.createChannel();
          await declare(ch);
          await ch.prefetch(queue.consumers ?? 4);
          let fail!: (e: Error) => void;
          const failed = new Promise<never>((_, reject) => fail = reject);
          failed.catch(() => {}); // raced below; a late failure has no one to tell
          ch.on("close", () => {
            if (!closing && !call.signal.aborted) {
              fail(new Error(`rabbitmq: the channel to ${safeUrl(opts.url)} closed`));
            }
          });
          ch.on("error", (e: Error) => ctx.log.warn(`rabbitmq: ${e.message}`));

          // On a closed channel there is nothing to give back: RabbitMQ requeued it already.
          const requeue = (m: ConsumeMessage) => {
            try {
              ch.nack(m, false, true);
            } catch (e) {
              ctx.log.warn(`rabbitmq: could not give a message back: ${(e as Error).message}`);
            }
          };
          const delivery = (m: ConsumeMessage): Delivery => ({
            ack: () => ch.ack(m),
            // Given back after retry_delay_seconds (RabbitMQ would redeliver it at once); at
            // once when the run is stopping.
            nack: () => {
              if (call.signal.aborted || closing) return requeue(m);
              const t = setTimeout(() => {
                delayed.delete(t);
                requeue(m);
              }, opts.retry_delay_seconds * 1000);
              delayed.set(t, () => requeue(m));
            },
          });
          const handle = async (m: ConsumeMessage) => {
            if (call.signal.aborted) return requeue(m);
            try {
              const h = m.properties.headers?.[META_FIELD];
              const meta = h === undefined ? undefined : String(h);
              await queue.put(decodeMessage(stoq.z, m.content, meta), delivery(m));
            } catch (e) {
              if (!(e instanceof PoisonMessage)) {
                requeue(m);
                if (!isStopping(e)) ctx.log.error(`rabbitmq: ${(e as Error).message}`);
                return;
              }
              try {
                const body = new Uint8Array(m.content);
                const headers = { ...m.properties.headers, "stoq-dead-reason": e.message };
                const meta = m.properties.headers?.[META_FIELD];
                const out = { body, meta: meta === undefined ? undefined : String(meta) };
                await send([out], dead, headers);
                ch.ack(m);
                ctx.log.error(
                  `rabbitmq: a message of ${opts.queue} moved to ${dead}: ${e.message}`,
                );
              } catch (e2) {
                ctx.log.error(
                  `rabbitmq: could not dead-letter a message: ${(e2 as Error).message}`,
                );
                requeue(m);
              }
            }
          };
          const { consumerTag } = await ch.consume(opts.queue, (m) => {
            if (m) void handle(m);
            else fail(new Error(`rabbitmq: the broker cancelled the consumer of ${opts.queue}`));
          }, { noAck: false });
          const stopped = new Promise<void>((resolve) => {
            if (call.signal.aborted) resolve();
            call.signal.addEventListener("abort", () => resolve(), { once: true });
          });
          try {
            await Promise.race([stopped, failed]);
          } finally {
            // No new deliveries; those in flight are still acked on this channel.
            await ch.cancel(consumerTag).catch(() => {});
          }
        },

        async close() {
          closing = true;
          for (const [t, now] of delayed) {
            clearTimeout(t);
            now();
          }
          delayed.clear();
          if (conn) await (await conn.catch(() => undefined))?.close().catch(() => {});
        },
      };
    },
  });

/** The URL without its password, for messages. */
function safeUrl(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, "//$1:***@");
}
