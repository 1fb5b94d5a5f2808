/**
 * Drives many scans: a bounded queue fed by providers (or by the command line) and drained by
 * concurrent consumers, each scan followed by its connectors. Used by `stoq scan` and `stoq run`.
 */
import { type ScanOptions, unscannedReason } from "../engine/engine.ts";
import { listSome, userMessage } from "../errors.ts";
import { execTool, spawnTool, withTempFile } from "../exec.ts";
import type { PluginHost } from "../engine/host.ts";
import { getLogger } from "../log.ts";
import { metrics } from "../metrics.ts";
import {
  errorRecord,
  type RequestMeta,
  RequestMetaSchema,
  type StoqResponse,
} from "../engine/model.ts";
import type {
  ArchivedInput,
  Delivery,
  FileInput,
  PayloadInput,
  ProviderItem,
  ProviderQueue,
} from "../engine/plugin.ts";
import { ScanPool, type TextResult } from "./pool.ts";
import { PayloadInputSchema, whyInvalid } from "../engine/responses.ts";
import type { Stoq, StoqInit } from "./stoq.ts";
import type { LogSettings } from "../log.ts";

const log = getLogger("stoq");

/** Something that scans: the engine in this thread, or a pool of threads. */
export interface Scanner {
  scanFile(input: FileInput, opts: ScanOptions): Promise<StoqResponse>;
  scanPayload(input: PayloadInput, opts: ScanOptions): Promise<StoqResponse>;
  /** Scans and gives the result as JSON text, when that is cheaper than the document. */
  scanText?(
    job: { file?: FileInput; payload?: PayloadInput },
    opts: ScanOptions,
    indent?: number,
  ): Promise<TextResult>;
  close(): Promise<void>;
}

/** Scans in this thread. */
export function localScanner(stoq: Stoq): Scanner {
  return {
    scanFile: (input, opts) => stoq.engine.scanFile(input, opts),
    scanPayload: (input, opts) => stoq.engine.scan([input], opts),
    close: () => Promise.resolve(),
  };
}

/**
 * Scans on `threads` Worker threads. This thread never scans then: a plugin that blocks a pool
 * thread in synchronous code is stopped by the pool's watchdog (pool.ts), which this thread could
 * not do for itself.
 */
export async function poolScanner(
  init: StoqInit,
  threads: number,
  logCfg: LogSettings,
): Promise<Scanner> {
  const pool = await ScanPool.start(init, threads, logCfg);
  return {
    scanFile: (file, opts) => pool.scan({ file, opts }),
    scanPayload: (payload, opts) => pool.scan({ payload, opts }),
    scanText: (job, opts, indent) => pool.scanText({ ...job, opts }, indent),
    close: () => pool.close(),
  };
}

/** A bounded FIFO: `put` waits while full, `take` waits while empty and gives null once closed. */
export class BoundedQueue<T> {
  readonly #items: T[] = [];
  readonly #waitingTakers: ((v: T | null) => void)[] = [];
  readonly #waitingPutters: (() => void)[] = [];
  #closed = false;

  constructor(readonly max: number) {}

  /** Adds an item, waiting for room. Items put after close are refused (returns false). */
  async put(item: T): Promise<boolean> {
    while (!this.#closed && this.#items.length >= this.max) {
      await new Promise<void>((r) => this.#waitingPutters.push(r));
    }
    if (this.#closed) return false;
    const taker = this.#waitingTakers.shift();
    if (taker) taker(item);
    else this.#items.push(item);
    return true;
  }

  /** The next item, or null when closed and empty. */
  take(): Promise<T | null> {
    const item = this.#items.shift();
    if (item !== undefined) {
      this.#waitingPutters.shift()?.();
      return Promise.resolve(item);
    }
    if (this.#closed) return Promise.resolve(null);
    return new Promise((r) => this.#waitingTakers.push(r));
  }

  /** No more puts; takers get what is left, then null. */
  close(): void {
    this.#closed = true;
    for (const t of this.#waitingTakers.splice(0)) t(null);
    for (const p of this.#waitingPutters.splice(0)) p();
  }

  /** Removes and returns everything still queued. */
  clear(): T[] {
    return this.#items.splice(0);
  }

  get size(): number {
    return this.#items.length;
  }
}

/** How a batch of scans is delivered and reported. */
export interface RunContext {
  stoq: Stoq;
  scanner: Scanner;
  connectors: string[];
  /** Called after the connectors, e.g. to print the result on stdout. */
  emit?: (response: StoqResponse) => Promise<void>;
  /** Prints a result's JSON text; with no connectors, used instead of `emit` when it can be. */
  emitText?: (text: string) => Promise<void>;
  /** The indent of the text `emitText` prints. */
  textIndent?: number;
  request_meta: RequestMeta;
  start_dispatch: string[];
  source_archivers: string[];
  consumers: number;
  /** Called after each item: whether it was scanned. */
  onItem?: (scanned: boolean) => void;
}

/** Counts of one run. */
export interface RunSummary {
  scanned: number;
  failed: number;
  abandoned: number;
}

function describeItem(item: ProviderItem): string {
  if (typeof item !== "object" || item === null) {
    return `a ${typeof item} (${String(item).slice(0, 60)}), not a queue item`;
  }
  if ("path" in item) return item.path;
  if ("archived" in item) return `archived ${JSON.stringify(item.archived)}`;
  const fn = item.payload_meta?.extra_data?.filename;
  return typeof fn === "string" ? fn : `${item.content?.length ?? "?"} bytes`;
}

/** Runs every connector on `response`; a failure is logged and added to its errors. */
export async function deliver(
  host: PluginHost,
  names: string[],
  response: StoqResponse,
): Promise<boolean> {
  return (await saveWith(host, names, response, true)).length === 0;
}

/**
 * Runs the `names` connectors on `response` and returns those that failed. With `record`, each
 * failure is logged and added to the response's errors; otherwise only logged as a warning.
 */
async function saveWith(
  host: PluginHost,
  names: string[],
  response: StoqResponse,
  record: boolean,
): Promise<string[]> {
  const outs = await Promise.all(names.map(async (name) => {
    try {
      const c = await host.load(name, "connector");
      return { name, out: await host.invoke(c, (call) => c.instance.save!(response, call)) };
    } catch (e) {
      return { name, out: { ok: false as const, error: (e as Error).message, timedOut: false } };
    }
  }));
  const failed: string[] = [];
  for (const { name, out } of outs) {
    if (out.ok) continue;
    failed.push(name);
    metrics.inc("stoq_connector_failures_total", { connector: name });
    if (!record) {
      log.warn(
        `connector ${name} failed to save scan ${response.scan_id} (will retry): ${out.error}`,
      );
      continue;
    }
    const msg = out.timedOut ? out.error : `connector:failed to save: ${out.error}`;
    response.errors.push(errorRecord(msg, name, null));
    log.error(`connector ${name} failed to save scan ${response.scan_id}: ${out.error}`);
  }
  return failed;
}

/**
 * Saves `response` with the run's connectors, retrying the ones that fail with exponential
 * backoff (`[core] connector_retries`, `connector_retry_delay`). What still fails is written to
 * the dead-letter folder, so no result is ever dropped. Returns whether it was dead-lettered;
 * throws when even that fails.
 */
export async function deliverReliably(
  ctx: RunContext,
  response: StoqResponse,
): Promise<{ dead_lettered: boolean }> {
  const core = ctx.stoq.init.config.core;
  let pending = ctx.connectors;
  if (!pending.length) return { dead_lettered: false };
  for (let attempt = 0;; attempt++) {
    const last = attempt >= core.connector_retries;
    pending = await saveWith(ctx.stoq.host, pending, response, last);
    if (!pending.length) return { dead_lettered: false };
    if (last) break;
    await new Promise((r) => setTimeout(r, core.connector_retry_delay * 1000 * 2 ** attempt));
  }
  const dir = core.dead_letter_dir || `${ctx.stoq.init.home}/dead-letter`;
  await Deno.mkdir(dir, { recursive: true });
  const path = `${dir}/${response.scan_id}.json`;
  // Written whole, then renamed: a reader never sees half a file.
  await Deno.writeTextFile(
    `${path}.part`,
    JSON.stringify({ failed_connectors: pending, response }),
  );
  await Deno.rename(`${path}.part`, path);
  metrics.inc("stoq_dead_letters_total");
  log.error(
    `scan ${response.scan_id}: ${
      pending.join(", ")
    } still failing after ${core.connector_retries} ` +
      `retries; the result is kept in ${path}`,
  );
  return { dead_lettered: true };
}

async function fromArchive(ctx: RunContext, item: ArchivedInput): Promise<PayloadInput> {
  const problems: string[] = [];
  for (const [name, task] of Object.entries(item.archived)) {
    try {
      // As in stoQ, only the source archivers the run was given (-S) fetch payloads.
      if (!ctx.source_archivers.includes(name)) {
        throw new Error(`${name} is not one of this run's source archivers (give -S ${name})`);
      }
      const a = await ctx.stoq.host.load(name, "archiver");
      if (!a.instance.get) throw new Error(`archiver ${name} has no get()`);
      const out = await ctx.stoq.host.invoke(a, (call) => a.instance.get!(task, call));
      if (!out.ok) throw new Error(out.error);
      if (out.value == null) throw new Error("it returned nothing");
      const parsed = PayloadInputSchema.safeParse(out.value);
      if (!parsed.success) {
        throw new Error(`it returned an invalid payload: ${whyInvalid(parsed.error)}`);
      }
      const got = out.value as PayloadInput;
      // The reference's payload_meta (e.g. the sensor's filename) wins over what get() knows.
      const payload_meta = item.payload_meta
        ? {
          ...got.payload_meta,
          ...item.payload_meta,
          extra_data: { ...got.payload_meta?.extra_data, ...item.payload_meta.extra_data },
        }
        : got.payload_meta;
      return { ...got, payload_meta, request_meta: item.request_meta };
    } catch (e) {
      problems.push(`${name}: ${(e as Error).message}`);
    }
  }
  throw new Error(
    `could not fetch the archived payload (${problems.join("; ") || "no source archiver named"})`,
  );
}

let inFlight = 0;
metrics.gauge("stoq_scans_in_flight", () => inFlight);

/** The provider's delivery, counted in the metrics; a failing ack or nack is logged, not thrown. */
function guarded(item: ProviderItem, delivery?: Delivery): Delivery {
  const call = async (how: "ack" | "nack", settle: (d: Delivery) => unknown) => {
    if (!delivery) return;
    metrics.inc("stoq_deliveries_total", { result: how });
    try {
      await settle(delivery);
    } catch (e) {
      log.error(`${describeItem(item)}: the provider's ${how} failed: ${(e as Error).message}`);
    }
  };
  return {
    ack: (outcome) => call("ack", (d) => d.ack(outcome)),
    nack: (reason) => call("nack", (d) => d.nack(reason)),
  };
}

/**
 * Scans one queued item and delivers the result, then tells the provider (`delivery`) whether
 * the result is safe. Returns whether it was scanned.
 */
export async function processItem(
  ctx: RunContext,
  item: ProviderItem,
  delivery?: Delivery,
): Promise<boolean> {
  const settle = guarded(item, delivery);
  const meta = RequestMetaSchema.parse({
    ...structuredClone(ctx.request_meta),
    ...(item.request_meta ?? {}),
    extra_data: { ...ctx.request_meta.extra_data, ...(item.request_meta?.extra_data ?? {}) },
  });
  const opts: ScanOptions = { request_meta: meta, start_dispatch: ctx.start_dispatch };
  const started = performance.now();
  inFlight++;
  try {
    const ok = await scanAndDeliver(ctx, item, opts, settle, started);
    metrics.inc("stoq_scans_total", { outcome: ok ? "scanned" : "failed" });
    return ok;
  } finally {
    inFlight--;
  }
}

/** The scan of one item, its connectors and the provider's ack or nack (see processItem). */
async function scanAndDeliver(
  ctx: RunContext,
  item: ProviderItem,
  opts: ScanOptions,
  settle: Delivery,
  started: number,
): Promise<boolean> {
  const scanned = (r: { scan_id: string; payloads: number; errors: number }) =>
    log.debug(`scanned ${describeItem(item)}`, {
      ...r,
      ms: Math.round(performance.now() - started),
    });
  try {
    // Only printed: the scan thread makes the JSON text, the main thread just writes it.
    const textOnly = ctx.connectors.length === 0 && ctx.emitText && ctx.scanner.scanText &&
      typeof item === "object" && item !== null && !("archived" in item);
    if (textOnly) {
      const job = "path" in item ? { file: item } : { payload: item as PayloadInput };
      const r = await ctx.scanner.scanText!(job, opts, ctx.textIndent);
      scanned({ scan_id: r.scan_id, payloads: r.payloads, errors: r.errors });
      await ctx.emitText!(r.text + "\n");
      if (r.unscanned) await settle.nack(r.unscanned);
      else await settle.ack({ scan_id: r.scan_id, dead_lettered: false });
      return true;
    }
    let response: StoqResponse;
    if ("path" in item) response = await ctx.scanner.scanFile(item, opts);
    else if ("archived" in item) {
      response = await ctx.scanner.scanPayload(await fromArchive(ctx, item), opts);
    } else if (item.content instanceof Uint8Array) {
      response = await ctx.scanner.scanPayload(item, opts);
    } else throw new Error("a queued item must have content (bytes), path or archived");
    scanned({
      scan_id: response.scan_id,
      payloads: response.results.length,
      errors: response.errors.length,
    });
    let saved: { dead_lettered: boolean };
    try {
      saved = await deliverReliably(ctx, response);
    } catch (e) {
      const why = `result of scan ${response.scan_id} not saved: ${(e as Error).message}`;
      log.error(`${describeItem(item)}: ${why}`);
      await settle.nack(why);
      return true;
    }
    if (ctx.emit) await ctx.emit(response);
    // The result says the input was too big to scan; the provider must keep the input.
    const unscanned = unscannedReason(response);
    if (unscanned) await settle.nack(unscanned);
    else await settle.ack({ scan_id: response.scan_id, ...saved });
    return true;
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    log.error(`${describeItem(item)}: not scanned: ${why}`);
    await settle.nack(`not scanned: ${why}`);
    return false;
  }
}

/**
 * Feeds `queue` from `producers` and drains it with `ctx.consumers` concurrent scans. On `stop`
 * the producers are told to stop (their call signal aborts) and what is queued is still scanned;
 * on a second stop, queued items are abandoned (and named in the log).
 */
export async function runQueue(
  ctx: RunContext,
  producers: ((queue: ProviderQueue, signal: AbortSignal) => Promise<void>)[],
  stop: { signal: AbortSignal; hard: AbortSignal; quiet?: () => boolean },
  maxQueue: number,
): Promise<RunSummary> {
  const queue = new BoundedQueue<{ item: ProviderItem; delivery?: Delivery }>(maxQueue);
  metrics.gauge("stoq_queue_depth", () => queue.size);
  const summary: RunSummary = { scanned: 0, failed: 0, abandoned: 0 };
  const pq: ProviderQueue = {
    consumers: Math.max(1, ctx.consumers),
    put: async (item, delivery) => {
      if (!(await queue.put({ item, delivery }))) {
        throw new DOMException("the run is stopping", "AbortError");
      }
    },
  };
  const onStop = () => queue.close();
  stop.signal.addEventListener("abort", onStop, { once: true });
  stop.hard.addEventListener("abort", () => {
    const left = queue.clear();
    summary.abandoned += left.length;
    for (const { delivery } of left) {
      Promise.resolve().then(() => delivery?.nack("the run stopped before it was scanned"))
        .catch((e) => log.error(`a provider's nack failed: ${(e as Error).message}`));
    }
    if (!left.length || stop.quiet?.()) return;
    const names = listSome(left.map((e) => describeItem(e.item)), 20);
    log.warn(`${left.length} queued item(s) not scanned (stopped): ${names}`);
  }, { once: true });

  const feeding = Promise.allSettled(producers.map((p) => p(pq, stop.signal))).then((rs) => {
    for (const r of rs) if (r.status === "rejected") summary.failed++;
    queue.close();
  });
  const consumers = Array.from({ length: Math.max(1, ctx.consumers) }, async () => {
    for (let entry = await queue.take(); entry !== null; entry = await queue.take()) {
      const scanned = await processItem(ctx, entry.item, entry.delivery);
      if (scanned) summary.scanned++;
      else summary.failed++;
      ctx.onItem?.(scanned);
    }
  });
  await Promise.all([feeding, ...consumers]);
  stop.signal.removeEventListener("abort", onStop);
  return summary;
}

/** A producer that runs a provider plugin's `ingest`. */
export function providerProducer(host: PluginHost, name: string) {
  return async (queue: ProviderQueue, signal: AbortSignal): Promise<void> => {
    try {
      const p = await host.load(name, "provider");
      await p.instance.ingest!(queue, {
        signal,
        exec: (tool, args, o) => execTool(p.def.tools, tool, args, signal, o),
        withTempFile,
        spawn: (tool, args, o) => spawnTool(p.def.tools, tool, args, o, p.spawned),
      });
    } catch (e) {
      if (signal.aborted && e instanceof DOMException && e.name === "AbortError") return;
      log.error(`provider ${name} failed: ${userMessage(e)}`);
      throw e;
    }
  };
}
