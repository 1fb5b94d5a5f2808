/**
 * Drives many scans: a bounded queue fed by providers (or by the command line) and drained by
 * concurrent consumers, each scan followed by its connectors. Used by `stoq scan` and `stoq run`.
 */
import type { ScanOptions } from "./engine.ts";
import { formatException, listSome } from "./errors.ts";
import { execTool, spawnTool, withTempFile } from "./exec.ts";
import type { PluginHost } from "./host.ts";
import { getLogger } from "./log.ts";
import { errorRecord, type RequestMeta, RequestMetaSchema, type StoqResponse } from "./model.ts";
import type {
  ArchivedInput,
  FileInput,
  PayloadInput,
  ProviderItem,
  ProviderQueue,
} from "./plugin.ts";
import { ScanPool, type TextResult } from "./pool.ts";
import { PayloadInputSchema, whyInvalid } from "./responses.ts";
import type { Stoq, StoqInit } from "./stoq.ts";
import type { LogSettings } from "./log.ts";

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
  const outs = await Promise.all(names.map(async (name) => {
    try {
      const c = await host.load(name, "connector");
      return { name, out: await host.invoke(c, (call) => c.instance.save!(response, call)) };
    } catch (e) {
      return { name, out: { ok: false as const, error: (e as Error).message, timedOut: false } };
    }
  }));
  let ok = true;
  for (const { name, out } of outs) {
    if (out.ok) continue;
    ok = false;
    const msg = out.timedOut ? out.error : `connector:failed to save: ${out.error}`;
    response.errors.push(errorRecord(msg, name, null));
    log.error(`connector ${name} failed to save scan ${response.scan_id}: ${out.error}`);
  }
  return ok;
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
      return { ...(out.value as PayloadInput), request_meta: item.request_meta };
    } catch (e) {
      problems.push(`${name}: ${(e as Error).message}`);
    }
  }
  throw new Error(
    `could not fetch the archived payload (${problems.join("; ") || "no source archiver named"})`,
  );
}

/** Scans one queued item and delivers the result. Returns whether it was scanned. */
export async function processItem(ctx: RunContext, item: ProviderItem): Promise<boolean> {
  const meta = RequestMetaSchema.parse({
    ...structuredClone(ctx.request_meta),
    ...(item.request_meta ?? {}),
    extra_data: { ...ctx.request_meta.extra_data, ...(item.request_meta?.extra_data ?? {}) },
  });
  const opts: ScanOptions = { request_meta: meta, start_dispatch: ctx.start_dispatch };
  const started = performance.now();
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
    await deliver(ctx.stoq.host, ctx.connectors, response);
    if (ctx.emit) await ctx.emit(response);
    return true;
  } catch (e) {
    log.error(`${describeItem(item)}: not scanned: ${e instanceof Error ? e.message : String(e)}`);
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
  const queue = new BoundedQueue<ProviderItem>(maxQueue);
  const summary: RunSummary = { scanned: 0, failed: 0, abandoned: 0 };
  const pq: ProviderQueue = {
    put: async (item) => {
      if (!(await queue.put(item))) throw new DOMException("the run is stopping", "AbortError");
    },
  };
  const onStop = () => queue.close();
  stop.signal.addEventListener("abort", onStop, { once: true });
  stop.hard.addEventListener("abort", () => {
    const left = queue.clear();
    summary.abandoned += left.length;
    if (!left.length || stop.quiet?.()) return;
    const names = listSome(left.map(describeItem), 20);
    log.warn(`${left.length} queued item(s) not scanned (stopped): ${names}`);
  }, { once: true });

  const feeding = Promise.allSettled(producers.map((p) => p(pq, stop.signal))).then((rs) => {
    for (const r of rs) if (r.status === "rejected") summary.failed++;
    queue.close();
  });
  const consumers = Array.from({ length: Math.max(1, ctx.consumers) }, async () => {
    for (let item = await queue.take(); item !== null; item = await queue.take()) {
      const scanned = await processItem(ctx, item);
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
      log.error(
        `provider ${name} failed: ${
          e instanceof Error && !(e.stack ?? "").includes("\n    at ")
            ? e.message
            : formatException(e)
        }`,
      );
      throw e;
    }
  };
}
