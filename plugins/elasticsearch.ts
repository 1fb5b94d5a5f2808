/**
 * Connector that indexes each result document into Elasticsearch or OpenSearch with the bulk API,
 * in monthly indexes named like stoQ's (`stoq-YYYY-MM`). Saves are gathered into bulk requests;
 * a save resolves only once the server has accepted its document. Throttling (429) and server
 * errors are retried with backoff, and from a partly failed bulk request only the failed
 * documents are sent again.
 */
import type { CallContext, StoqAPI, StoqResponse } from "../core/engine/plugin.ts";
import {
  backoffMs,
  fromEnv,
  type HttpSender,
  httpSender,
  NetworkError,
  retryableStatus,
  sleep,
  snippet,
} from "./lib/store/http.ts";

/** One document waiting to be indexed, and the save waiting for it. */
interface Pending {
  scan_id: string;
  lines: string;
  bytes: number;
  signal: AbortSignal;
  settled: boolean;
  resolve(): void;
  reject(e: Error): void;
}

// Lower case, no spaces or \/*?"<>|,# and not starting with - _ +: what both servers accept.
const INDEX_NAME = /^[a-z0-9][a-z0-9._-]*$/;

export default (stoq: StoqAPI) =>
  stoq.plugin({
    name: "elasticsearch",
    version: "1.0.0",
    description: "Indexes results into Elasticsearch or OpenSearch (bulk API, monthly indexes)",
    classes: ["connector"],
    options: {
      hosts: stoq.z.array(stoq.z.url({ protocol: /^https?$/ })).min(1)
        .default(["http://localhost:9200"]),
      index: stoq.z.string().regex(INDEX_NAME, "lower case letters, digits, '.', '_', '-'")
        .default("stoq"),
      index_by_month: stoq.z.boolean().default(true),
      username: stoq.z.string().min(1).optional(),
      password: stoq.z.string().optional(),
      api_key: stoq.z.string().min(1).optional(),
      verify_tls: stoq.z.boolean().default(true),
      ca_cert: stoq.z.string().min(1).optional(),
      timeout: stoq.z.number().positive().default(60),
      max_retries: stoq.z.number().int().min(0).default(5),
      retry_delay: stoq.z.number().positive().default(0.5),
      batch_size: stoq.z.number().int().min(1).default(500),
      batch_bytes: stoq.z.number().int().min(1024).default(5 * 1024 * 1024),
      flush_interval: stoq.z.number().min(0).default(0),
    },
    async create(opts) {
      const password = fromEnv(opts.password, "STOQ_ES_PASSWORD");
      const apiKey = fromEnv(opts.api_key, "STOQ_ES_API_KEY");
      const username = opts.username;
      if (apiKey && username) {
        throw new Error("elasticsearch: give either username/password or api_key, not both");
      }
      if (password && !username) {
        throw new Error("elasticsearch: a password needs a username (option username)");
      }
      const headers: Record<string, string> = {
        "content-type": "application/x-ndjson",
        "accept": "application/json",
      };
      if (apiKey) headers.authorization = `ApiKey ${apiKey}`;
      else if (username) {
        headers.authorization = `Basic ${
          btoa(String.fromCharCode(...new TextEncoder().encode(`${username}:${password ?? ""}`)))
        }`;
      }
      const hosts = opts.hosts.map((h) => h.replace(/\/+$/, ""));
      const sender: HttpSender = await httpSender(opts);
      const encoder = new TextEncoder();
      const queue: Pending[] = [];
      let running: Promise<void> | null = null;
      let nextHost = 0;
      let wake: (() => void) | null = null;
      let closing = false;

      const indexFor = (r: StoqResponse) => {
        if (!opts.index_by_month) return opts.index;
        // The scan's own time, not the clock at save: a retried save lands in the same index.
        const t = new Date(r.time);
        const when = Number.isNaN(t.getTime()) ? new Date() : t;
        return `${opts.index}-${when.toISOString().slice(0, 7)}`;
      };

      const settle = (p: Pending, e?: Error) => {
        if (p.settled) return;
        p.settled = true;
        if (e) p.reject(e);
        else p.resolve();
      };

      /** Sends one batch until every document is accepted, refused, or out of retries. */
      const sendBatch = async (batch: Pending[]) => {
        let pending = batch;
        let why = "";
        for (let attempt = 0; pending.length > 0; attempt++) {
          if (attempt > 0) {
            if (attempt > opts.max_retries) break;
            await sleep(backoffMs(attempt - 1, opts.retry_delay));
            pending = pending.filter((p) => !p.settled); // saves that gave up meanwhile
            if (pending.length === 0) return;
          }
          const host = hosts[nextHost++ % hosts.length];
          let status: number;
          let body: Uint8Array;
          try {
            const reply = await sender.send(`${host}/_bulk`, {
              method: "POST",
              headers,
              body: pending.map((p) => p.lines).join(""),
              timeoutMs: opts.timeout * 1000,
            });
            ({ status, body } = reply);
          } catch (e) {
            if (!(e instanceof NetworkError)) throw e;
            why = `${host}: ${e.message}`;
            continue;
          }
          if (status !== 200) {
            why = `${host}/_bulk answered HTTP ${status}: ${snippet(body)}`;
            if (retryableStatus(status)) continue;
            const hint = status === 413 ? " (lower batch_bytes)" : "";
            for (const p of pending) settle(p, new Error(`elasticsearch: ${why}${hint}`));
            return;
          }
          const items = bulkItems(body, pending.length);
          if (typeof items === "string") {
            why = `${host}/_bulk: ${items}`;
            for (const p of pending) settle(p, new Error(`elasticsearch: ${why}`));
            return;
          }
          const again: Pending[] = [];
          pending.forEach((p, i) => {
            const it = items[i];
            if (it.status >= 200 && it.status < 300) return settle(p);
            const reason = `document ${p.scan_id} refused with ${it.status}: ${it.error}`;
            if (retryableStatus(it.status)) {
              why = reason;
              again.push(p);
            } else settle(p, new Error(`elasticsearch: ${reason}`));
          });
          pending = again;
        }
        const tries = opts.max_retries + 1;
        for (const p of pending) {
          settle(p, new Error(`elasticsearch: not indexed after ${tries} attempts: ${why}`));
        }
      };

      /** Takes the next batch off the queue: up to batch_size documents and batch_bytes. */
      const take = (): Pending[] => {
        const batch: Pending[] = [];
        let bytes = 0;
        while (queue.length > 0 && batch.length < opts.batch_size) {
          const p = queue[0];
          if (batch.length > 0 && bytes + p.bytes > opts.batch_bytes) break;
          queue.shift();
          if (p.settled) continue;
          batch.push(p);
          bytes += p.bytes;
        }
        return batch;
      };

      const full = () =>
        queue.length >= opts.batch_size ||
        queue.reduce((n, p) => n + p.bytes, 0) >= opts.batch_bytes;

      // One bulk request at a time: saves that arrive meanwhile form the next batch.
      const drain = async () => {
        while (queue.length > 0) {
          if (opts.flush_interval > 0 && !closing && !full()) {
            await new Promise<void>((r) => {
              const timer = setTimeout(r, opts.flush_interval * 1000);
              wake = () => {
                clearTimeout(timer);
                r();
              };
            });
            wake = null;
          }
          const batch = take();
          if (batch.length === 0) continue;
          try {
            await sendBatch(batch);
          } catch (e) {
            for (const p of batch) settle(p, e as Error);
          }
        }
      };
      const kick = () => {
        if (wake && full()) wake();
        running ??= drain().finally(() => {
          running = null;
          if (queue.length > 0) kick();
        });
      };

      return {
        save(response: StoqResponse, call: CallContext) {
          const action = JSON.stringify({
            index: { _index: indexFor(response), _id: response.scan_id },
          });
          const lines = `${action}\n${JSON.stringify(response)}\n`;
          return new Promise<void>((resolve, reject) => {
            const p: Pending = {
              scan_id: response.scan_id,
              lines,
              bytes: encoder.encode(lines).length,
              signal: call.signal,
              settled: false,
              resolve,
              reject,
            };
            if (call.signal.aborted) return reject(call.signal.reason);
            // A save that times out stops waiting; if its document was already sent, indexing it
            // again on the core's retry is harmless: the scan_id is the document id.
            call.signal.addEventListener("abort", () => settle(p, call.signal.reason), {
              once: true,
            });
            queue.push(p);
            kick();
          });
        },
        async close() {
          closing = true;
          while (running) {
            wake?.();
            await running;
          }
          sender.close();
        },
      };
    },
  });

/** Each item's status and error text from a bulk response, or what is wrong with it. */
export function bulkItems(
  body: Uint8Array,
  expected: number,
): { status: number; error: string }[] | string {
  let doc: { items?: unknown };
  try {
    doc = JSON.parse(new TextDecoder().decode(body));
  } catch {
    return `the answer is not JSON: ${snippet(body)}`;
  }
  if (!Array.isArray(doc.items) || doc.items.length !== expected) {
    return `the answer does not list ${expected} items: ${snippet(body)}`;
  }
  return doc.items.map((item) => {
    const r = Object.values(item as Record<string, unknown>)[0] as {
      status?: number;
      error?: { type?: string; reason?: string } | string;
    };
    const e = r?.error;
    const error = typeof e === "string" ? e : e ? `${e.type ?? "error"}: ${e.reason ?? ""}` : "";
    return { status: typeof r?.status === "number" ? r.status : 0, error };
  });
}
