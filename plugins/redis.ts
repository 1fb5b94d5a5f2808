/**
 * Redis Streams as a work queue: a provider that reads a stream through a consumer group and
 * acknowledges an entry only once its result is safe, a connector that publishes references to
 * archived payloads (or results), and an archiver that publishes the payload itself.
 * Message format: plugins/lib/queue/message.ts (fields `body` and `stoq-meta`).
 */
import type { Delivery, StoqAPI } from "../core/engine/plugin.ts";
import type { Redis as RedisClient } from "ioredis";
import type { Buffer } from "node:buffer";
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

type Buf = Buffer;
type Entry = [id: Buf, fields: Buf[] | null];
/** A stream entry, copied out of the reply. */
type Msg = { id: string; flat: Buf[] | undefined };
// A consumer this long without a read and with nothing pending is gone: its name is dropped.
const GONE_MS = 3_600_000;

export default (stoq: StoqAPI) =>
  stoq.plugin({
    name: "redis",
    version: "1.0.0",
    description: "Consumes payloads from a Redis stream (ack after save) and publishes to it",
    classes: ["provider", "connector", "archiver"],
    options: {
      url: stoq.z.string().default("redis://127.0.0.1:6379"),
      stream: stoq.z.string().min(1).default("stoq"),
      group: stoq.z.string().min(1).default("stoq"),
      consumer: stoq.z.string().default(""),
      claim_idle_seconds: stoq.z.number().positive().default(60),
      dead_letter_stream: stoq.z.string().default(""),
      delete_on_ack: stoq.z.boolean().default(true),
      ...queueOptions(stoq.z),
    },
    async create(opts, ctx) {
      const { Redis } = await import("ioredis");
      const { Buffer } = await import("node:buffer");
      const stream = opts.stream;
      const dead = opts.dead_letter_stream || `${stream}:dead`;
      const idleMs = Math.round(opts.claim_idle_seconds * 1000);
      const me = opts.consumer ||
        `${Deno.hostname()}-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
      const clients: RedisClient[] = [];
      let heartbeat: ReturnType<typeof setInterval> | undefined;

      const connect = async (): Promise<RedisClient> => {
        let last = "";
        // Commands wait through a reconnect (maxRetriesPerRequest: null) instead of failing.
        const c = new Redis(opts.url, {
          lazyConnect: true,
          maxRetriesPerRequest: null,
          retryStrategy: (n: number) => Math.min(n * 200, 2000),
        });
        c.on("error", (e: Error) => {
          if (e.message !== last) ctx.log.warn(`redis ${opts.url}: ${e.message}`);
          last = e.message;
        });
        try {
          await c.connect();
        } catch (e) {
          c.disconnect();
          throw new Error(`redis: cannot connect to ${opts.url}: ${last || (e as Error).message}`);
        }
        clients.push(c);
        return c;
      };
      let cmdClient: Promise<RedisClient> | undefined;
      const cmd = () => cmdClient ??= connect();

      const publish = async (msgs: OutMessage[]): Promise<string[]> => {
        const tx = (await cmd()).multi();
        for (const m of msgs) {
          const fields = [Buffer.from(m.body.buffer, m.body.byteOffset, m.body.byteLength)];
          tx.call("XADD", stream, "*", "body", ...fields, ...(m.meta ? [META_FIELD, m.meta] : []));
        }
        return (await exec(tx)).map(String);
      };

      const text = (b: Buf | undefined) => b?.toString("utf8");
      // Reply buffers are views into the client's read buffer, which it reuses: copy at once.
      const own = (entries: Entry[]): Msg[] =>
        entries.map(([id, flat]) => ({ id: text(id)!, flat: flat?.map((b) => Buffer.from(b)) }));
      const fieldsOf = (flat: Buf[]) => {
        const m = new Map<string, Buf>();
        for (let i = 0; i + 1 < flat.length; i += 2) m.set(text(flat[i])!, flat[i + 1]);
        return m;
      };

      return {
        ...publishing(ctx.name, opts.publish_archive, publish, ([id]) => ({ stream, id })),

        async ingest(queue, call) {
          const c = await cmd();
          const reader = await connect(); // a blocking read holds its connection
          call.signal.addEventListener("abort", () => reader.disconnect(), { once: true });
          try {
            await c.call("XGROUP", "CREATE", stream, opts.group, "0", "MKSTREAM");
          } catch (e) {
            if (!String(e).includes("BUSYGROUP")) throw e;
          }
          await pruneGone(c, stream, opts.group);
          // Listed from the start (Redis makes a consumer only at its first delivery otherwise).
          await c.call("XGROUP", "CREATECONSUMER", stream, opts.group, me);
          const held = new InFlight<true>(queue.consumers ?? 4);
          const failures = new Map<string, string>();
          // Held entries are claimed again by us every so often, so that only the entries of a
          // consumer that died ever look idle to the others.
          heartbeat = setInterval(() => {
            const ids = held.ids();
            if (!ids.length) return;
            c.call("XCLAIM", stream, opts.group, me, "0", ...ids, "JUSTID")
              .catch((e) => ctx.log.warn(`redis: could not refresh held entries: ${e}`));
          }, Math.max(100, idleMs / 3));

          // Makes an entry claimable by the other consumers right away.
          const release = (id: string) =>
            c.call("XCLAIM", stream, opts.group, me, "0", id, "IDLE", idleMs, "JUSTID");
          const deadLetter = async (id: string, flat: Buf[], reason: string) => {
            const tx = c.multi();
            tx.call("XADD", dead, "*", ...flat, "reason", reason, "source_id", id);
            tx.call("XACK", stream, opts.group, id);
            if (opts.delete_on_ack) tx.call("XDEL", stream, id);
            await exec(tx);
            failures.delete(id);
            ctx.log.error(`redis: entry ${id} of ${stream} moved to ${dead}: ${reason}`);
          };
          const delivery = (id: string): Delivery => ({
            ack: async () => {
              const tx = c.multi().call("XACK", stream, opts.group, id);
              if (opts.delete_on_ack) tx.call("XDEL", stream, id);
              await exec(tx);
              held.take(id);
              failures.delete(id);
            },
            // Left pending: another consumer (or this one) claims it after claim_idle_seconds.
            // Once the run is stopping, nobody here will, so it is released at once.
            nack: async (reason) => {
              held.take(id);
              failures.set(id, reason);
              if (call.signal.aborted) await release(id);
            },
          });
          const give = async ({ id, flat }: Msg, deliveries = 1) => {
            if (!flat) return; // deleted from the stream while pending: nothing to scan
            const fields = fieldsOf(flat);
            try {
              checkDeliveries(deliveries, opts.max_deliveries, failures.get(id));
              const body = fields.get("body");
              if (!body) throw new PoisonMessage(`no "body" field`);
              const item = decodeMessage(stoq.z, body, text(fields.get(META_FIELD)));
              held.add(id, true);
              await queue.put(item, delivery(id));
            } catch (e) {
              if (e instanceof PoisonMessage) return await deadLetter(id, flat, e.message);
              held.take(id);
              await release(id);
              if (!isStopping(e)) throw e;
            }
          };

          const claimEvery = Math.min(idleMs / 2, 5000);
          let lastClaim = -Infinity;
          let cursor = "0-0";
          while (!call.signal.aborted) {
            const room = await held.room(call.signal);
            if (!room) break;
            if (cursor !== "0-0" || performance.now() - lastClaim >= claimEvery) {
              lastClaim = performance.now();
              const [next, entries] = await c.callBuffer(
                "XAUTOCLAIM",
                stream,
                opts.group,
                me,
                idleMs,
                cursor,
                "COUNT",
                room,
              ) as [Buf, Entry[]];
              cursor = text(next)!;
              const live = own(entries).filter((m) => m.flat);
              if (live.length) {
                const tx = c.pipeline();
                for (const { id } of live) tx.call("XPENDING", stream, opts.group, id, id, 1);
                const counts = (await exec(tx)) as [[string, string, number, number]?][];
                for (const [i, m] of live.entries()) {
                  if (call.signal.aborted) await release(m.id);
                  else await give(m, counts[i][0]?.[3] ?? 1);
                }
                continue;
              }
            }
            let got: unknown[] | null;
            try {
              got = await reader.callBuffer(
                "XREADGROUP",
                "GROUP",
                opts.group,
                me,
                "COUNT",
                room,
                "BLOCK",
                Math.min(2000, Math.max(100, claimEvery)),
                "STREAMS",
                stream,
                ">",
              ) as unknown[] | null;
            } catch (e) {
              if (call.signal.aborted) break;
              throw e;
            }
            // [[stream, entries]], which ioredis gives as [stream, entries] for one stream.
            const pair = (Array.isArray(got?.[0]) ? got[0] : got) as [Buf, Entry[]] | null;
            for (const m of own(pair?.[1] ?? [])) {
              if (call.signal.aborted) await release(m.id);
              else await give(m);
            }
          }
        },

        async close() {
          clearInterval(heartbeat);
          await Promise.all(clients.map((c) => c.quit().catch(() => c.disconnect())));
        },
      };
    },
  });

/** Runs a MULTI or pipeline and returns its replies; the first failed command throws. */
async function exec(tx: { exec(): Promise<[Error | null, unknown][] | null> }) {
  const replies = await tx.exec();
  if (!replies) throw new Error("redis: the transaction was aborted");
  for (const [err] of replies) if (err) throw err;
  return replies.map(([, v]) => v);
}

/** Drops the names of consumers that read nothing for an hour and hold no entry. */
async function pruneGone(c: RedisClient, stream: string, group: string): Promise<void> {
  const rows = await c.call("XINFO", "CONSUMERS", stream, group) as unknown[][];
  for (const row of rows) {
    const info = new Map<string, unknown>();
    for (let i = 0; i + 1 < row.length; i += 2) info.set(String(row[i]), row[i + 1]);
    if (info.get("pending") === 0 && Number(info.get("idle")) > GONE_MS) {
      await c.call("XGROUP", "DELCONSUMER", stream, group, String(info.get("name")));
    }
  }
}
