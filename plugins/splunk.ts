/**
 * Connector that sends each result document to Splunk's HTTP Event Collector as one event
 * (`POST /services/collector/event`). A save succeeds only on HEC's `{"code":0}`; a busy or
 * failing server (5xx, 429) is retried with backoff, a refusal (bad token, index, format) is not.
 */
import type { CallContext, StoqAPI, StoqResponse } from "../core/engine/plugin.ts";
import { fromEnv, httpSender, sendRetrying, snippet } from "./lib/store/http.ts";

export default (stoq: StoqAPI) =>
  stoq.plugin({
    name: "splunk",
    version: "1.0.0",
    description: "Sends results to Splunk's HTTP Event Collector",
    classes: ["connector"],
    options: {
      url: stoq.z.url({ protocol: /^https?$/ }).default("https://localhost:8088"),
      token: stoq.z.string().min(1).optional(),
      index: stoq.z.string().min(1).optional(),
      source: stoq.z.string().min(1).default("stoq"),
      sourcetype: stoq.z.string().min(1).default("_json"),
      host: stoq.z.string().min(1).optional(),
      channel: stoq.z.uuid().optional(),
      verify_tls: stoq.z.boolean().default(true),
      ca_cert: stoq.z.string().min(1).optional(),
      timeout: stoq.z.number().positive().default(30),
      max_retries: stoq.z.number().int().min(0).default(5),
      retry_delay: stoq.z.number().positive().default(0.5),
    },
    async create(opts) {
      const token = fromEnv(opts.token, "STOQ_SPLUNK_TOKEN");
      if (!token) {
        throw new Error(
          "splunk: no HEC token: set the option token or the environment variable STOQ_SPLUNK_TOKEN",
        );
      }
      const endpoint = `${opts.url.replace(/\/+$/, "")}/services/collector/event`;
      const headers: Record<string, string> = {
        "authorization": `Splunk ${token}`,
        "content-type": "application/json",
      };
      if (opts.channel) headers["x-splunk-request-channel"] = opts.channel;
      const host = opts.host ?? Deno.hostname();
      const sender = await httpSender(opts);

      return {
        async save(response: StoqResponse, call: CallContext) {
          const t = Date.parse(response.time);
          const event: Record<string, unknown> = {
            time: Number.isNaN(t) ? Date.now() / 1000 : t / 1000,
            host,
            source: opts.source,
            sourcetype: opts.sourcetype,
          };
          if (opts.index) event.index = opts.index;
          event.event = response;
          const body = JSON.stringify(event);
          const { reply, attempts } = await sendRetrying(
            sender,
            () => [endpoint, { method: "POST", headers, body, timeoutMs: opts.timeout * 1000 }],
            opts,
            call.signal,
          ).catch((e: Error) => {
            throw new Error(`splunk: cannot reach ${endpoint}: ${e.message}`);
          });
          const hec = parseHec(reply.body);
          if (reply.status === 200 && hec?.code === 0) return;
          const what = hec
            ? `${hec.text} (HEC code ${hec.code}, HTTP ${reply.status})`
            : `HTTP ${reply.status}: ${snippet(reply.body)}`;
          const tries = attempts > 1 ? ` after ${attempts} attempts` : "";
          throw new Error(`splunk: ${endpoint} refused scan ${response.scan_id}${tries}: ${what}`);
        },
        close: () => sender.close(),
      };
    },
  });

/** HEC's `{text, code}` answer, or null when the body is not one. */
export function parseHec(body: Uint8Array): { text: string; code: number } | null {
  try {
    const doc = JSON.parse(new TextDecoder().decode(body));
    if (doc && typeof doc.code === "number") {
      return { text: String(doc.text ?? ""), code: doc.code };
    }
  } catch { /* not JSON: a proxy's page, say */ }
  return null;
}
