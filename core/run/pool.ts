/**
 * A pool of Worker threads, each with its own engine, so that a scan of many payloads keeps
 * every core busy (the engine itself is single-threaded JavaScript).
 *
 * A watchdog guards against a plugin that blocks its thread in synchronous code (a runaway
 * regular expression, an endless parse loop): such a plugin cannot be interrupted by its timeout,
 * because the timer never gets to run. Each thread beats a counter in shared memory; a thread whose
 * beat stops for longer than the running plugin's timeout is terminated and replaced, the scan
 * that was running the plugin is re-run without it (its result says why), and the thread's other
 * scans are re-run as they were.
 */
import type { ScanOptions } from "../engine/engine.ts";
import { entryModule, threadMessage } from "../entry.ts";
import { UserError } from "../errors.ts";
import { getLogger, type LogSettings } from "../log.ts";
import { metrics, type MetricsDelta } from "../metrics.ts";
import { errorRecord, type StoqResponse } from "../engine/model.ts";
import type { FileInput, PayloadInput } from "../engine/plugin.ts";
import type { StoqInit } from "./stoq.ts";
// Registers, in the main thread, the hook through which threads reach plugins' shared parts.
import "./shared.ts";

/** A scan request sent to a pool thread. */
export type PoolJob =
  | {
    type: "scan";
    id: number;
    file?: FileInput;
    payload?: PayloadInput;
    opts: ScanOptions;
    /** Answer with the result's JSON text (this indent) instead of the document. */
    text?: { indent?: number };
  }
  | { type: "close" };

/** A result as JSON text, with what the log wants to know of it. */
export interface TextResult {
  text: string;
  scan_id: string;
  payloads: number;
  errors: number;
  /** Set when the input was not scanned at all (see `unscannedReason`). */
  unscanned?: string;
}

/** What a pool thread answers. */
export type PoolReply =
  | { type: "ready" }
  | { type: "fatal"; message: string }
  | { type: "result"; id: number; response: StoqResponse; counted?: MetricsDelta }
  | ({ type: "text"; id: number; counted?: MetricsDelta } & TextResult)
  | { type: "error"; id: number; message: string; counted?: MetricsDelta };

/** Layout of a thread's shared state: beat counter, running job id, plugin name. */
export const BEAT = 0;
export const JOB = 1;
export const NAME_LEN = 2;
export const NAME_OFFSET = 16;
export const NAME_MAX = 64;
const STATE_BYTES = NAME_OFFSET + NAME_MAX;
/** How often a thread beats, and the watchdog looks. */
export const BEAT_MS = 100;
const WATCH_MS = 250;
const MAX_ATTEMPTS = 3;

const log = getLogger("stoq");

// Threads started before the configuration is read, so that loading their code overlaps with
// the main thread's own start-up; the pool takes them when it starts.
const early: Worker[] = [];

/** Starts `n` pool threads now, to be taken by the next {@link ScanPool.start}. */
export function prespawn(n: number): void {
  for (let i = 0; i < n; i++) early.push(new Worker(entryModule(), { type: "module" }));
}

interface Thread {
  worker: Worker;
  state: Int32Array;
  name: Uint8Array;
  lastBeat: number;
  quietSince: number;
  dead: boolean;
}

interface Job {
  id: number;
  file?: FileInput;
  payload?: PayloadInput;
  opts: ScanOptions;
  text?: { indent?: number };
  attempts: number;
  thread?: Thread;
  resolve: (r: StoqResponse | TextResult) => void;
  reject: (e: Error) => void;
}

/** Scans on N threads; `scan` resolves with the thread's result document. */
export class ScanPool {
  readonly #threads: Thread[] = [];
  readonly #pending = new Map<number, Job>();
  readonly #waiting: Job[] = [];
  #next = 1;
  #watch: ReturnType<typeof setInterval> | undefined;

  private constructor(readonly init: StoqInit, readonly logSettings: LogSettings) {}

  /** Starts `size` threads; resolves once the first has built its engine. */
  static async start(init: StoqInit, size: number, logSettings: LogSettings): Promise<ScanPool> {
    const pool = new ScanPool(init, logSettings);
    const spawns = Array.from({ length: size }, () => pool.#spawn());
    for (const w of early.splice(0)) w.terminate();
    let started = false;
    for (const s of spawns) {
      s.catch((e) => {
        if (started) log.error(`a scan thread failed to start: ${(e as Error).message}`);
      });
    }
    try {
      // Ready when the first thread is: it takes work while the others finish starting. A
      // configuration problem fails every thread alike, so the first failure is the answer.
      await Promise.race(spawns);
      started = true;
    } catch (e) {
      pool.terminate();
      throw e;
    }
    pool.#watch = setInterval(() => pool.#watchdog(), WATCH_MS);
    Deno.unrefTimer(pool.#watch as unknown as number);
    return pool;
  }

  /** Starts one thread; resolves once its engine is built. */
  #spawn(): Promise<void> {
    const worker = early.shift() ?? new Worker(entryModule(), { type: "module" });
    worker.addEventListener("message", threadMessage);
    const shared = new SharedArrayBuffer(STATE_BYTES);
    const thread: Thread = {
      worker,
      state: new Int32Array(shared, 0, 4),
      name: new Uint8Array(shared, NAME_OFFSET, NAME_MAX),
      lastBeat: 0,
      quietSince: performance.now(),
      dead: false,
    };
    return new Promise((res, rej) => {
      worker.onmessage = (e: MessageEvent<PoolReply>) => {
        const m = e.data;
        if (m.type === "ready") {
          worker.onmessage = (ev: MessageEvent<PoolReply>) => this.#onReply(ev.data);
          worker.onerror = (ev) => {
            ev.preventDefault();
            this.#replace(thread, `scan thread crashed: ${ev.message}`);
          };
          thread.quietSince = performance.now();
          this.#threads.push(thread);
          this.#drainWaiting();
          res();
        } else if (m.type === "fatal") rej(new UserError(m.message));
      };
      worker.onerror = (ev) => {
        ev.preventDefault();
        rej(new Error(`scan thread failed to start: ${ev.message}`));
      };
      worker.postMessage({ type: "init", init: this.init, log: this.logSettings, state: shared });
    });
  }

  #onReply(m: PoolReply): void {
    if (m.type !== "result" && m.type !== "text" && m.type !== "error") return;
    metrics.merge(m.counted);
    const job = this.#pending.get(m.id);
    if (!job) return;
    this.#pending.delete(m.id);
    if (m.type === "result") job.resolve(m.response);
    else if (m.type === "text") {
      const { text, scan_id, payloads, errors, unscanned } = m;
      job.resolve({ text, scan_id, payloads, errors, unscanned });
    } else job.reject(new Error(m.message));
  }

  /** Number of threads. */
  get size(): number {
    return this.#threads.length;
  }

  /** Scans in flight on all threads. */
  get busy(): number {
    return this.#pending.size;
  }

  /** Scans a file or payload on the least busy thread. */
  scan(
    job: { file?: FileInput; payload?: PayloadInput; opts: ScanOptions },
  ): Promise<StoqResponse> {
    return new Promise((resolve, reject) => {
      const done = resolve as (r: StoqResponse | TextResult) => void;
      this.#submit({ id: this.#next++, ...job, attempts: 0, resolve: done, reject });
    });
  }

  /**
   * Scans and answers with the result's JSON text, made on the scan thread: when results are
   * only printed, this spares the main thread copying and serialising every document.
   */
  scanText(
    job: { file?: FileInput; payload?: PayloadInput; opts: ScanOptions },
    indent?: number,
  ): Promise<TextResult> {
    return new Promise((resolve, reject) => {
      const done = resolve as (r: StoqResponse | TextResult) => void;
      const text = { indent };
      this.#submit({ id: this.#next++, ...job, text, attempts: 0, resolve: done, reject });
    });
  }

  #load(t: Thread): number {
    let n = 0;
    for (const j of this.#pending.values()) if (j.thread === t) n++;
    return n;
  }

  #submit(job: Job): void {
    const live = this.#threads.filter((t) => !t.dead);
    if (!live.length) {
      this.#waiting.push(job);
      return;
    }
    const thread = live.reduce((a, b) => (this.#load(b) < this.#load(a) ? b : a));
    job.thread = thread;
    this.#pending.set(job.id, job);
    let payload = job.payload;
    if (payload) {
      // A copy, not a transfer: the job may have to be sent again if its thread is replaced.
      // A new array, not slice(): a Node Buffer's slice() is a view of the same memory.
      payload = { ...payload, content: new Uint8Array(payload.content) };
    }
    const msg: PoolJob = {
      type: "scan",
      id: job.id,
      file: job.file,
      payload,
      opts: job.opts,
      text: job.text,
    };
    thread.worker.postMessage(msg, payload ? [payload.content.buffer as ArrayBuffer] : []);
  }

  #drainWaiting(): void {
    for (const job of this.#waiting.splice(0)) this.#submit(job);
  }

  /** The plugin a thread last entered, and the job it was for. */
  #culprit(t: Thread): { job: number; plugin: string } {
    const len = Math.min(Atomics.load(t.state, NAME_LEN), NAME_MAX);
    return {
      job: Atomics.load(t.state, JOB),
      plugin: new TextDecoder().decode(t.name.slice(0, len)),
    };
  }

  #limitMs(plugin: string): number {
    const core = this.init.config.core;
    const secs = plugin
      ? core.plugin_timeouts[plugin] ?? core.plugin_timeout
      : Math.max(core.plugin_timeout, ...Object.values(core.plugin_timeouts));
    return secs * 1000 + 2 * BEAT_MS + WATCH_MS;
  }

  #watchdog(): void {
    const now = performance.now();
    for (const t of this.#threads) {
      if (t.dead) continue;
      const beat = Atomics.load(t.state, BEAT);
      if (beat !== t.lastBeat || this.#load(t) === 0) {
        t.lastBeat = beat;
        t.quietSince = now;
        continue;
      }
      const { plugin } = this.#culprit(t);
      const quiet = now - t.quietSince;
      if (quiet > this.#limitMs(plugin)) {
        this.#replace(
          t,
          `plugin ${plugin || "(unknown)"} blocked its scan thread for ${
            (quiet / 1000).toFixed(1)
          } s without yielding`,
        );
      }
    }
  }

  /** Terminates a stuck or crashed thread, starts another, and re-runs its scans. */
  #replace(t: Thread, why: string): void {
    if (t.dead) return;
    t.dead = true;
    t.worker.terminate();
    const { job: blamedJob, plugin } = this.#culprit(t);
    log.error(`${why}; the thread was restarted and its scans are re-run`);
    const jobs = [...this.#pending.values()].filter((j) => j.thread === t);
    for (const j of jobs) this.#pending.delete(j.id);
    this.#threads.splice(this.#threads.indexOf(t), 1);
    this.#spawn().catch((e) =>
      log.error(`could not restart a scan thread: ${(e as Error).message}`)
    );
    for (const j of jobs) {
      j.attempts++;
      if (j.attempts > MAX_ATTEMPTS) {
        j.reject(new Error(`not scanned: its scan thread failed ${MAX_ATTEMPTS} times (${why})`));
        continue;
      }
      if (j.id === blamedJob && plugin) {
        const note = errorRecord(
          `${why}; it was stopped, the scan was run again without it`,
          plugin,
          null,
        );
        j.opts = {
          ...j.opts,
          exclude: [...(j.opts.exclude ?? []), plugin],
          notes: [...(j.opts.notes ?? []), note],
        };
      }
      this.#submit(j);
    }
  }

  /** Lets each thread close its plugins, then stops the threads. */
  async close(): Promise<void> {
    clearInterval(this.#watch);
    for (const t of this.#threads) t.worker.postMessage({ type: "close" } satisfies PoolJob);
    await new Promise((r) => setTimeout(r, 50));
    this.terminate();
  }

  /** Stops every thread at once. */
  terminate(): void {
    clearInterval(this.#watch);
    for (const t of this.#threads) t.worker.terminate();
  }
}
