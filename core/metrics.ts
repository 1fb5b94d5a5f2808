/**
 * Run metrics in Prometheus' text format (`--metrics [HOST:]PORT`). Every thread counts into its
 * own registry; pool threads ship what they counted with each finished scan, and the main
 * thread, which serves `/metrics`, adds it to its own.
 */
import { UsageError } from "./errors.ts";

/** Counter values by series key (`name{labels}`). */
export type MetricsDelta = Record<string, number>;

const HELP: Record<string, [type: "counter" | "gauge", help: string]> = {
  stoq_scans_total: ["counter", "Requests processed, by outcome (scanned or failed)"],
  stoq_payloads_total: ["counter", "Payloads in finished scans, extracted ones included"],
  stoq_payload_bytes_total: ["counter", "Bytes of the payloads in finished scans"],
  stoq_plugin_calls_total: ["counter", "Plugin calls, by plugin"],
  stoq_plugin_seconds_total: ["counter", "Seconds spent in plugin calls, by plugin"],
  stoq_plugin_errors_total: ["counter", "Errors in results, by plugin"],
  stoq_plugin_timeouts_total: ["counter", "Plugin calls that timed out, by plugin"],
  stoq_connector_failures_total: ["counter", "Failed connector saves (retried), by connector"],
  stoq_dead_letters_total: ["counter", "Results written to the dead-letter folder"],
  stoq_deliveries_total: ["counter", "Provider items settled, by result (ack or nack)"],
  stoq_queue_depth: ["gauge", "Items waiting in the provider queue"],
  stoq_scans_in_flight: ["gauge", "Scans running now"],
  stoq_start_time_seconds: ["gauge", "When this process started (Unix time)"],
};

function key(name: string, labels?: Record<string, string>): string {
  if (!labels) return name;
  const parts = Object.entries(labels).map(([k, v]) =>
    `${k}="${v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`
  );
  return `${name}{${parts.join(",")}}`;
}

/** One thread's metrics. */
export class Metrics {
  #counters = new Map<string, number>();
  #gauges = new Map<string, () => number>();
  #delta = new Map<string, number>();
  /** Off until a run asks for metrics, so scans without --metrics count nothing. */
  enabled = false;

  /** Adds `by` to a counter. */
  inc(name: string, labels?: Record<string, string>, by = 1): void {
    if (!this.enabled) return;
    const k = key(name, labels);
    this.#counters.set(k, (this.#counters.get(k) ?? 0) + by);
    this.#delta.set(k, (this.#delta.get(k) ?? 0) + by);
  }

  /** A gauge read when metrics are rendered. */
  gauge(name: string, read: () => number, labels?: Record<string, string>): void {
    this.#gauges.set(key(name, labels), read);
  }

  /** What was counted since the last call (for a pool thread to send to the main thread). */
  takeDelta(): MetricsDelta | undefined {
    if (!this.#delta.size) return undefined;
    const out = Object.fromEntries(this.#delta);
    this.#delta.clear();
    return out;
  }

  /** Adds counts from another thread. */
  merge(delta: MetricsDelta | undefined): void {
    if (!delta) return;
    for (const [k, v] of Object.entries(delta)) {
      this.#counters.set(k, (this.#counters.get(k) ?? 0) + v);
    }
  }

  /** The current value of a series, for tests. */
  value(name: string, labels?: Record<string, string>): number | undefined {
    const k = key(name, labels);
    return this.#counters.get(k) ?? this.#gauges.get(k)?.();
  }

  /** Everything in Prometheus' text exposition format. */
  render(): string {
    const series = new Map<string, string[]>();
    const add = (k: string, v: number) => {
      const name = k.replace(/\{.*$/, "");
      if (!series.has(name)) series.set(name, []);
      series.get(name)!.push(`${k} ${Number.isInteger(v) ? v : v.toFixed(6)}`);
    };
    for (const [k, v] of this.#counters) add(k, v);
    for (const [k, read] of this.#gauges) add(k, read());
    const lines: string[] = [];
    for (const name of [...series.keys()].sort()) {
      const [type, help] = HELP[name] ?? ["gauge", name];
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...series.get(name)!.sort());
    }
    return lines.join("\n") + "\n";
  }
}

/** This thread's metrics. */
export const metrics = new Metrics();

/**
 * Serves `/metrics` on `listen` (`PORT` or `HOST:PORT`; the host defaults to 127.0.0.1).
 * Returns the server, to shut down when the run ends.
 */
export function serveMetrics(listen: string): Deno.HttpServer {
  const m = /^(?:\[?([^\]]*?)\]?:)?(\d{1,5})$/.exec(listen.trim());
  if (!m || Number(m[2]) > 65535) {
    throw new UsageError(`--metrics wants PORT or HOST:PORT, not "${listen}"`);
  }
  metrics.enabled = true;
  metrics.gauge("stoq_start_time_seconds", () => Math.floor(performance.timeOrigin / 1000));
  return Deno.serve({
    hostname: m[1] || "127.0.0.1",
    port: Number(m[2]),
    onListen: () => {},
  }, (req) => {
    const path = new URL(req.url).pathname;
    if (path !== "/metrics") return new Response("see /metrics\n", { status: 404 });
    return new Response(metrics.render(), {
      headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
    });
  });
}
