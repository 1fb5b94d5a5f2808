/**
 * The scan engine: stoQ v3's worker rounds (spec §3) with its [BUG]s fixed. One engine per
 * process (or per pool thread); `scan` may be called concurrently.
 */
import { nodeCrypto } from "./api.ts";
import { formatException, hasLossyName, listSome, NOT_UTF8 } from "../errors.ts";
import type { CallOutcome, LoadedPlugin, PluginHost } from "./host.ts";
import { NotJsonError, toJsonable } from "../json.ts";
import { metrics } from "../metrics.ts";
import {
  type ErrorRecord,
  errorRecord,
  newPayloadResults,
  type Payload,
  type PayloadMeta,
  PayloadMetaSchema,
  type Request,
  type RequestMeta,
  RequestMetaSchema,
  type StoqResponse,
} from "./model.ts";
import type { ExtractedPayload, FileInput, PayloadInput, PluginError } from "./plugin.ts";
import { subresponses } from "./subresponses.ts";
import {
  ArchiverResponseSchema,
  DispatcherResponseSchema,
  whyInvalid,
  WorkerResponseSchema,
} from "./responses.ts";

type Hexable = Uint8Array & { toHex(): string };
let nodeHash: ReturnType<typeof nodeCrypto> | undefined;
let webHashes = 0;

/**
 * Lower-case hex SHA-256. Web Crypto needs no Node compatibility layer, whose loading costs a
 * short run tens of milliseconds, but each call is an asynchronous job on another thread (~25 µs,
 * and a wait) and it is slower on large data; so it hashes the small payloads of a short run, and
 * node:crypto takes over at the first large payload or once the run has hashed 256 payloads.
 */
export async function sha256Hex(data: Uint8Array): Promise<string> {
  if (!nodeHash && (data.length >= 64 * 1024 || ++webHashes > 256)) nodeHash = nodeCrypto();
  if (nodeHash) return nodeHash.createHash("sha256").update(data).digest("hex");
  const digest = await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>);
  return (new Uint8Array(digest) as Hexable).toHex();
}

/** The file name at the end of a path (either separator). */
function baseName(path: string): string {
  return path.slice(Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\")) + 1);
}

/** The absolute, normalised folder of a file path (no Node path module: it loads slowly). */
export function folderOf(path: string): string {
  const windows = Deno.build.os === "windows";
  const absolute = windows ? /^([A-Za-z]:)?[\\/]/.test(path) : path.startsWith("/");
  const full = absolute ? path : `${Deno.cwd()}/${path}`;
  const parts = full.split(windows ? /[\\/]/ : "/");
  parts.pop();
  const out: string[] = [];
  for (const part of parts) {
    if (part === "." || (part === "" && out.length)) continue;
    if (part === ".." && out.length > 1) out.pop();
    else if (part !== "..") out.push(part);
  }
  return out.length === 1 ? (windows ? `${out[0]}\\` : "/") : out.join(windows ? "\\" : "/");
}

/** The workers, dispatchers, archivers and decorators a scan uses. */
export interface Pipeline {
  always_dispatch: string[];
  dispatchers: string[];
  dest_archivers: string[];
  decorators: string[];
}

/** What one scan call needs besides the payload. */
export interface ScanOptions {
  request_meta?: RequestMeta;
  /** Workers for the initial payload(s) only (`-s`). */
  start_dispatch?: string[];
  /** Plugins not to run at all in this scan (the pool's watchdog stopped them once already). */
  exclude?: string[];
  /** Errors to record in this scan besides its own (e.g. why a plugin was excluded). */
  notes?: ErrorRecord[];
}

type Status = "ok" | "failed";

/** Book-keeping of one request, private to the engine. */
class ScanState {
  readonly index = new Map<Payload, number>();
  readonly bySha = new Map<string, Payload>();
  readonly status = new Map<Payload, Map<string, Status>>();
  readonly skipped = new Map<Payload, Set<string>>();
  readonly errorKeys = new Set<string>();
  /** Bumped whenever something adds to a payload's results (a worker ran, another parent). */
  readonly version = new Map<Payload, number>();
  /** What the dispatchers last said about a payload, and the facts they were asked about. */
  readonly asked = new Map<Payload, { facts: string; names: string[] }>();
  extractedBytes = 0;

  constructor(readonly request: Request, readonly exclude: ReadonlySet<string> = new Set()) {}

  add(p: Payload): void {
    this.index.set(p, this.request.payloads.length);
    this.request.payloads.push(p);
    if (!this.bySha.has(p.sha256)) this.bySha.set(p.sha256, p);
    this.status.set(p, new Map());
    this.skipped.set(p, new Set());
    this.version.set(p, 0);
  }

  /** Marks that `p`'s results changed, so that the dispatchers are asked about it again. */
  touch(p: Payload): void {
    this.version.set(p, (this.version.get(p) ?? 0) + 1);
  }

  /**
   * What a dispatcher can learn about `p` and that can change during a scan: its results'
   * version and its payload_meta (which dispatchers and de-duplication may change).
   */
  facts(p: Payload): string {
    return `${this.version.get(p)}\u0000${JSON.stringify(p.results.payload_meta)}`;
  }

  /** Adds an error once: the same text from the same plugin about the same payload is kept once. */
  error(error: string, plugin: string | null, payload: string | null): void {
    const key = `${plugin}\u0000${payload}\u0000${error}`;
    if (this.errorKeys.has(key)) return;
    this.errorKeys.add(key);
    this.request.errors.push(errorRecord(error, plugin, payload));
  }

  pluginErrors(errors: PluginError[] | undefined, plugin: string, payload: string | null): void {
    for (const e of errors ?? []) {
      if (typeof e === "string") this.error(e, plugin, payload);
      else this.error(e.error, e.plugin_name ?? plugin, e.payload_id ?? payload);
    }
  }
}

type Wanted = Map<Payload, Set<string>>;

function want(map: Wanted, p: Payload, names: Iterable<string>): void {
  let set = map.get(p);
  if (!set) map.set(p, set = new Set());
  for (const n of names) set.add(n);
}

/** A payload built by the core (initial or extracted). */
export async function newPayload(content: Uint8Array, meta: PayloadMeta): Promise<Payload> {
  return {
    content,
    sha256: await sha256Hex(content),
    results: newPayloadResults(content.length, meta),
    dispatch_meta: {},
  };
}

/**
 * Why the input of `response` was not scanned at all (it was over max_payload_size), or
 * undefined when it was. A provider must not treat such an input as done.
 */
export function unscannedReason(response: StoqResponse): string | undefined {
  const first = response.results[0];
  if (!first || first.payload_meta.should_scan || first.plugins_run.workers.length) {
    return undefined;
  }
  return response.errors.find((e) =>
    e.payload_id === first.payload_id && e.plugin_name === null &&
    e.error.includes("over max_payload_size")
  )?.error;
}

/** Most names one payload keeps in `extra_data.filenames`. */
const MAX_NAMES = 100;

/**
 * Records another name under which the same content was extracted: `filenames` lists every
 * distinct name, the first (`filename`) included, so that a search by any of them finds it.
 */
function addName(extra: Record<string, unknown>, name: unknown): void {
  if (typeof name !== "string" || name === "" || name === extra.filename) return;
  const names = Array.isArray(extra.filenames)
    ? extra.filenames as unknown[]
    : typeof extra.filename === "string"
    ? [extra.filename]
    : [];
  if (names.includes(name) || names.length >= MAX_NAMES) return;
  extra.filenames = [...names, name];
}

/** Opens an input file; a name that lost bytes on its way in says so instead of "not found". */
function openInput(path: string): Deno.FsFile {
  try {
    return Deno.openSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound && hasLossyName(path)) {
      throw new Error(`cannot read ${path}: ${NOT_UTF8}`);
    }
    throw e;
  }
}

/** The scan engine. */
export class Engine {
  constructor(readonly host: PluginHost, readonly pipeline: Pipeline) {}

  get #core() {
    return this.host.settings.core;
  }

  /**
   * Loads every plugin the pipeline names (and what dispatchers declare they route to), so that
   * unknown names, bad options and bad `required_workers` fail before any scan.
   */
  async preload(extraWorkers: string[] = []): Promise<void> {
    const p = this.pipeline;
    const dispatchers = await Promise.all(
      p.dispatchers.map((n) => this.host.load(n, "dispatcher")),
    );
    const targets = dispatchers.flatMap((d) => d.instance.dispatch_targets ?? []);
    await Promise.all([
      ...[...new Set([...p.always_dispatch, ...extraWorkers, ...targets])].map((n) =>
        this.host.load(n, "worker")
      ),
      ...p.dest_archivers.map((n) => this.host.load(n, "archiver")),
      ...p.decorators.map((n) => this.host.load(n, "decorator")),
    ]);
  }

  /** Reads a file input into a payload input, or explains why it will not be scanned. */
  readInput(input: FileInput): PayloadInput | { oversized: number } {
    // One open, fstat and read into a buffer of the right size: half the cost of stat + readFile.
    // Synchronous: the data is usually in the page cache, and async file ops cost more per file
    // than the read itself.
    using file = openInput(input.path);
    const info = file.statSync();
    if (!info.isFile) throw new Error(`${input.path} is not a regular file`);
    if (info.size > this.#core.max_payload_size) return { oversized: info.size };
    const content = new Uint8Array(info.size);
    let off = 0;
    while (off < content.length) {
      const n = file.readSync(content.subarray(off));
      if (n === null || n === 0) break;
      off += n;
    }
    // A file that shrank while being read is scanned as it was read.
    return { ...input, content: off === content.length ? content : content.slice(0, off) };
  }

  /** Scans one file, reading it here (so pool threads read in parallel); read errors reject. */
  async scanFile(input: FileInput, opts: ScanOptions = {}): Promise<StoqResponse> {
    const meta = { ...input.payload_meta };
    // The folder too, as filedir gives it: YARA's `filepath` external and an analyst need it.
    meta.extra_data = {
      filename: baseName(input.path),
      source_dir: folderOf(input.path),
      ...meta.extra_data,
    };
    const read = this.readInput({ ...input, payload_meta: meta });
    if ("oversized" in read) return await this.#oversized(read.oversized, meta, input, opts);
    return await this.scan([read], opts);
  }

  #oversized(size: number, meta: FileInput["payload_meta"], input: FileInput, opts: ScanOptions) {
    const payloadMeta = PayloadMetaSchema.parse({
      ...meta,
      should_scan: false,
      should_archive: false,
    });
    const p: Payload = {
      content: new Uint8Array(0),
      sha256: "",
      results: newPayloadResults(size, payloadMeta),
      dispatch_meta: {},
    };
    const request: Request = {
      payloads: [p],
      request_meta: opts.request_meta ?? RequestMetaSchema.parse(input.request_meta ?? {}),
      errors: [errorRecord(
        `${input.path} is ${size} bytes, over max_payload_size (${this.#core.max_payload_size}); not read or scanned`,
        null,
        p.results.payload_id,
      )],
    };
    return Promise.resolve(this.#response(request));
  }

  /** Scans payloads as one request and returns the result document (connectors not run). */
  async scan(inputs: PayloadInput[], opts: ScanOptions = {}): Promise<StoqResponse> {
    const request: Request = {
      payloads: [],
      request_meta: opts.request_meta ??
        RequestMetaSchema.parse(inputs[0]?.request_meta ?? {}),
      errors: [],
    };
    const state = new ScanState(request, new Set(opts.exclude));
    for (const n of opts.notes ?? []) state.error(n.error, n.plugin_name, n.payload_id);
    let wanted: Wanted = new Map();
    for (const input of inputs) {
      const meta = PayloadMetaSchema.parse(input.payload_meta ?? {});
      const p = await newPayload(input.content, meta);
      state.add(p);
      if (input.content.length > this.#core.max_payload_size) {
        p.results.payload_meta.should_scan = false;
        state.error(
          `payload is ${input.content.length} bytes, over max_payload_size (${this.#core.max_payload_size}); not scanned`,
          null,
          p.results.payload_id,
        );
        continue;
      }
      // Unlike stoQ v3, an initial payload's own dispatch_to is honoured.
      if (meta.should_scan) want(wanted, p, [...(opts.start_dispatch ?? []), ...meta.dispatch_to]);
    }
    const max = this.#core.max_recursion;
    for (let level = 1; level <= max; level++) {
      const next: Wanted = new Map();
      const ran = await this.#round(state, wanted, next, level);
      wanted = next;
      if (!ran) break;
    }
    for (const [p, names] of wanted) {
      const left = [...names].filter((n) =>
        !state.status.get(p)!.has(n) && !state.skipped.get(p)!.has(n)
      );
      if (left.length) {
        state.error(
          `Final worker round (${max}) reached, workers not run: ${left.sort().join(", ")}`,
          null,
          p.results.payload_id,
        );
      }
    }
    await this.#archive(state);
    const response = this.#response(request);
    await this.#decorate(response, state.exclude);
    return response;
  }

  /** stoQ's `reconstruct_all_subresponses`: one decorated document per payload subtree. */
  async subresponses(response: StoqResponse): Promise<StoqResponse[]> {
    const subs = subresponses(response);
    for (const sub of subs) await this.#decorate(sub);
    return subs;
  }

  #response(request: Request): StoqResponse {
    if (metrics.enabled) {
      metrics.inc("stoq_payloads_total", undefined, request.payloads.length);
      const bytes = request.payloads.reduce((n, p) => n + p.results.size, 0);
      metrics.inc("stoq_payload_bytes_total", undefined, bytes);
      for (const e of request.errors) {
        metrics.inc("stoq_plugin_errors_total", { plugin: e.plugin_name ?? "core" });
      }
    }
    return {
      results: request.payloads.map((p) => p.results),
      request_meta: request.request_meta,
      errors: request.errors,
      time: new Date().toISOString(),
      decorators: {},
      scan_id: crypto.randomUUID(),
    };
  }

  /** One worker round. Returns false when nothing could run (the scan is over). */
  async #round(state: ScanState, wanted: Wanted, next: Wanted, level: number): Promise<boolean> {
    const scannable = state.request.payloads.filter((p) => p.results.payload_meta.should_scan);
    const always = this.pipeline.always_dispatch;
    await Promise.all(scannable.map(async (p) => {
      // A dispatcher is not asked again about a payload whose facts are as they were when it
      // last answered: it would answer the same, and a YARA scan per payload per round is most
      // of a deep archive's cost.
      const facts = state.facts(p);
      const last = state.asked.get(p);
      let names: string[];
      if (last?.facts === facts) names = last.names;
      else {
        const out = await this.#dispatch(state, p);
        names = out.names;
        // A failed dispatcher is asked again next round, as it always was.
        if (out.complete) state.asked.set(p, { facts, names });
        else state.asked.delete(p);
      }
      want(wanted, p, [...always, ...names]);
    }));

    const runnable: [Payload, LoadedPlugin][] = [];
    const ordered = [...wanted.entries()].sort((a, b) =>
      state.index.get(a[0])! - state.index.get(b[0])!
    );
    for (const [p, names] of ordered) {
      const chosen = new Map<string, LoadedPlugin>();
      const queue = [...names].sort();
      const status = state.status.get(p)!;
      const skipped = state.skipped.get(p)!;
      while (queue.length) {
        const name = queue.shift()!;
        if (status.has(name) || skipped.has(name) || chosen.has(name)) continue;
        if (state.exclude.has(name)) {
          skipped.add(name);
          continue;
        }
        let worker: LoadedPlugin;
        try {
          worker = await this.host.load(name, "worker");
        } catch (e) {
          skipped.add(name);
          state.error(
            `worker plugin ${name} could not be used: ${
              e instanceof Error ? e.message : String(e)
            }`,
            name,
            p.results.payload_id,
          );
          continue;
        }
        const deps = worker.def.required_workers;
        const failed = deps.find((d) => status.get(d) === "failed" || skipped.has(d));
        if (failed) {
          skipped.add(name);
          state.error(
            `${name} did not run: its required worker ${failed} failed or could not run`,
            name,
            p.results.payload_id,
          );
          continue;
        }
        const missing = deps.filter((d) => !status.has(d));
        if (missing.length === 0) chosen.set(name, worker);
        else {
          want(next, p, [name]);
          queue.push(...missing.filter((d) => !queue.includes(d)));
        }
      }
      // A dependent deferred above whose requirement was then skipped can never run: say so now
      // (with nothing else runnable, the scan would otherwise end and blame the round limit).
      for (let changed = true; changed;) {
        changed = false;
        const deferred = next.get(p) ?? new Set<string>();
        for (const name of deferred) {
          const deps = (await this.host.load(name, "worker")).def.required_workers;
          const failed = deps.find((d) => status.get(d) === "failed" || skipped.has(d));
          if (!failed) continue;
          deferred.delete(name);
          skipped.add(name);
          state.error(
            `${name} did not run: its required worker ${failed} failed or could not run`,
            name,
            p.results.payload_id,
          );
          changed = true;
        }
      }
      for (const name of [...chosen.keys()].sort()) runnable.push([p, chosen.get(name)!]);
    }
    if (runnable.length === 0) return false;

    const outcomes = await Promise.all(runnable.map(([p, w]) => this.#scanOne(state, p, w)));
    const extracted: [Payload, string, ExtractedPayload][] = [];
    runnable.forEach(([p, w], i) => {
      const out = outcomes[i];
      p.results.plugins_run.workers.push(w.name);
      state.touch(p);
      state.status.get(p)!.set(w.name, out ? "ok" : "failed");
      if (!out) return;
      if (out.results !== undefined) p.results.workers[w.name] = out.results;
      if (out.dispatch_to?.length) want(next, p, out.dispatch_to);
      for (const ep of out.extracted ?? []) extracted.push([p, w.name, ep]);
    });
    await this.#accept(state, extracted, next, level);
    return true;
  }

  /** Asks every dispatcher about `p`; `complete` is false when one of them failed. */
  async #dispatch(
    state: ScanState,
    p: Payload,
  ): Promise<{ names: string[]; complete: boolean }> {
    const names: string[] = [];
    let complete = true;
    for (const name of this.pipeline.dispatchers) {
      if (state.exclude.has(name)) continue;
      const d = await this.host.load(name, "dispatcher");
      const out = await this.host.invoke(
        d,
        (call) => d.instance.get_dispatches!(p, state.request, call),
      );
      const id = p.results.payload_id;
      if (!out.ok) {
        complete = false;
        state.error(
          out.timedOut ? out.error : `dispatcher:failed to dispatch: ${out.error}`,
          name,
          id,
        );
        continue;
      }
      if (out.value == null) continue;
      const parsed = DispatcherResponseSchema.safeParse(out.value);
      if (!parsed.success) {
        state.error(
          `dispatcher:returned an invalid response: ${whyInvalid(parsed.error)}`,
          name,
          id,
        );
        continue;
      }
      const r = parsed.data;
      if (r.meta !== undefined) p.dispatch_meta[name] = r.meta;
      state.pluginErrors(r.errors, name, id);
      names.push(...(r.plugin_names ?? []));
    }
    return { names, complete };
  }

  /** Runs one worker on one payload; returns its checked response, or undefined if it failed. */
  async #scanOne(state: ScanState, p: Payload, w: LoadedPlugin) {
    const id = p.results.payload_id;
    const out = await this.host.invoke(w, (call) => w.instance.scan!(p, state.request, call));
    if (!out.ok) {
      state.error(out.timedOut ? out.error : `worker:failed to scan: ${out.error}`, w.name, id);
      return undefined;
    }
    if (out.value == null) return {};
    const parsed = WorkerResponseSchema.safeParse(out.value);
    if (!parsed.success) {
      state.error(`worker:returned an invalid response: ${whyInvalid(parsed.error)}`, w.name, id);
      return undefined;
    }
    const r = parsed.data;
    state.pluginErrors(r.errors, w.name, id);
    let results: unknown = undefined;
    if (r.results != null) {
      try {
        results = toJsonable(r.results);
      } catch (e) {
        if (!(e instanceof NotJsonError)) throw e;
        state.error(
          `worker:returned results that cannot be written as JSON: ${e.message}`,
          w.name,
          id,
        );
        return undefined;
      }
    }
    return { results, extracted: r.extracted, dispatch_to: r.dispatch_to };
  }

  /** Adds extracted payloads: de-duplicates by SHA-256 and enforces the request limits. */
  async #accept(
    state: ScanState,
    extracted: [Payload, string, ExtractedPayload][],
    next: Wanted,
    level: number,
  ) {
    const core = this.#core;
    const dropped = new Map<
      string,
      { parent: Payload; by: string; reason: string; names: string[] }
    >();
    const drop = (
      parent: Payload,
      by: string,
      reason: string,
      ep: ExtractedPayload,
      size: number,
    ) => {
      const key = `${parent.results.payload_id}\u0000${by}\u0000${reason}`;
      let d = dropped.get(key);
      if (!d) dropped.set(key, d = { parent, by, reason, names: [] });
      const fn = ep.payload_meta?.extra_data?.filename;
      d.names.push(typeof fn === "string" ? `${fn} (${size} bytes)` : `${size} bytes`);
    };
    const contents = extracted.map(([, , ep]) =>
      typeof ep.content === "string" ? new TextEncoder().encode(ep.content) : ep.content
    );
    // Hashed together, so that Web Crypto digests (small payloads) run in parallel.
    const shas = await Promise.all(
      contents.map((c) => c.length > core.max_payload_size ? "" : sha256Hex(c)),
    );
    for (const [i, [parent, by, ep]] of extracted.entries()) {
      const content = contents[i];
      if (content.length > core.max_payload_size) {
        drop(
          parent,
          by,
          `over max_payload_size (${core.max_payload_size} bytes)`,
          ep,
          content.length,
        );
        continue;
      }
      const sha = shas[i];
      const seen = state.bySha.get(sha);
      if (seen) {
        // stoQ v3 also recorded a payload as extracted from itself; we do not.
        const from = parent.results.payload_id;
        const r = seen.results;
        const dup = r.extracted_from.some((f, i) => f === from && r.extracted_by[i] === by);
        if (seen !== parent && !dup) {
          r.extracted_from.push(from);
          r.extracted_by.push(by);
          state.touch(seen);
        }
        addName(r.payload_meta.extra_data, ep.payload_meta?.extra_data?.filename);
        continue;
      }
      if (state.request.payloads.length >= core.max_payloads) {
        drop(parent, by, `max_payloads (${core.max_payloads}) reached`, ep, content.length);
        continue;
      }
      if (state.extractedBytes + content.length > core.max_extracted_bytes) {
        drop(
          parent,
          by,
          `max_extracted_bytes (${core.max_extracted_bytes}) reached`,
          ep,
          content.length,
        );
        continue;
      }
      state.extractedBytes += content.length;
      const meta = PayloadMetaSchema.parse(ep.payload_meta ?? {});
      const child: Payload = {
        content,
        sha256: sha,
        results: newPayloadResults(content.length, meta, [parent.results.payload_id], [by]),
        dispatch_meta: {},
      };
      state.add(child);
      if (level >= core.max_recursion) {
        state.error(
          `Final worker round (${level}) reached, unable to process payload`,
          null,
          child.results.payload_id,
        );
      } else if (meta.should_scan && meta.dispatch_to.length) {
        want(next, child, meta.dispatch_to);
      }
    }
    for (const d of dropped.values()) {
      const names = listSome(d.names.map((n) => JSON.stringify(n)), 10);
      const error = `${d.names.length} extracted payload(s) not kept, ${d.reason}: ${names}`;
      state.error(error, d.by, d.parent.results.payload_id);
    }
  }

  async #archive(state: ScanState): Promise<void> {
    const names = this.pipeline.dest_archivers.filter((n) => !state.exclude.has(n));
    if (!names.length || !state.request.request_meta.archive_payloads) return;
    const archivers = await Promise.all(names.map((n) => this.host.load(n, "archiver")));
    const jobs: [Payload, LoadedPlugin][] = [];
    for (const p of state.request.payloads) {
      if (p.results.payload_meta.should_archive) { for (const a of archivers) jobs.push([p, a]); }
    }
    const outs = await Promise.all(
      jobs.map(([p, a]) =>
        a.instance.archive
          ? this.host.invoke(a, (call) => a.instance.archive!(p, state.request, call))
          : Promise.resolve({ ok: true, value: null } as CallOutcome<null>)
      ),
    );
    jobs.forEach(([p, a], i) => {
      const out = outs[i];
      const id = p.results.payload_id;
      p.results.plugins_run.archivers.push(a.name);
      this.#record(state, out, a.name, id, "archiver", p.results.archivers);
    });
  }

  async #decorate(response: StoqResponse, exclude: ReadonlySet<string> = new Set()): Promise<void> {
    const names = this.pipeline.decorators.filter((n) => !exclude.has(n));
    if (!names.length) return;
    const decorators = await Promise.all(names.map((n) => this.host.load(n, "decorator")));
    const outs = await Promise.all(
      decorators.map((d) => this.host.invoke(d, (call) => d.instance.decorate!(response, call))),
    );
    const state = new ScanState({
      payloads: [],
      request_meta: response.request_meta,
      errors: response.errors,
    });
    decorators.forEach((d, i) => {
      this.#record(state, outs[i], d.name, null, "decorator", response.decorators);
    });
  }

  /** Records an archiver's or decorator's outcome: results into `into[name]`, errors into errors[]. */
  #record(
    state: ScanState,
    out: CallOutcome<unknown>,
    name: string,
    id: string | null,
    kind: "archiver" | "decorator",
    into: Record<string, unknown>,
  ): void {
    if (!out.ok) {
      // stoQ's texts: "archiver:failed to archive: …" and "decorator: …".
      const failed = kind === "archiver" ? "archiver:failed to archive" : "decorator";
      state.error(out.timedOut ? out.error : `${failed}: ${out.error}`, name, id);
      return;
    }
    if (out.value == null) return;
    const parsed = ArchiverResponseSchema.safeParse(out.value);
    if (!parsed.success) {
      state.error(
        `${kind}:returned an invalid response: ${whyInvalid(parsed.error)}`,
        name,
        id,
      );
      return;
    }
    state.pluginErrors(parsed.data.errors, name, id);
    if (parsed.data.results == null) return;
    try {
      into[name] = toJsonable(parsed.data.results);
    } catch (e) {
      state.error(
        `${kind}:returned results that cannot be written as JSON: ${formatException(e)}`,
        name,
        id,
      );
    }
  }
}
