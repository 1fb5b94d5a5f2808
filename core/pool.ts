/**
 * A pool of Worker threads, each with its own engine, so that a scan of many payloads keeps
 * every core busy (the engine itself is single-threaded JavaScript).
 */
import type { ScanOptions } from "./engine.ts";
import { UserError } from "./errors.ts";
import type { LogSettings } from "./log.ts";
import type { StoqResponse } from "./model.ts";
import type { FileInput, PayloadInput } from "./plugin.ts";
import type { StoqInit } from "./stoq.ts";

/** A scan request sent to a pool thread. */
export type PoolJob =
  | { type: "scan"; id: number; file?: FileInput; payload?: PayloadInput; opts: ScanOptions }
  | { type: "close" };

/** What a pool thread answers. */
export type PoolReply =
  | { type: "ready" }
  | { type: "fatal"; message: string }
  | { type: "result"; id: number; response: StoqResponse }
  | { type: "error"; id: number; message: string };

// The module a pool thread runs; main.ts sets itself here (see pool_worker.ts).
let entry = new URL("../main.ts", import.meta.url).href;

/** Sets the module pool threads run: the program's entry module, which serves the pool in a Worker. */
export function setPoolEntry(url: string): void {
  entry = url;
}

interface Thread {
  worker: Worker;
  busy: number;
}

/** Scans on N threads; `scan` resolves with the thread's result document. */
export class ScanPool {
  readonly #threads: Thread[] = [];
  readonly #pending = new Map<
    number,
    { resolve: (r: StoqResponse) => void; reject: (e: Error) => void; thread: Thread }
  >();
  #next = 1;

  private constructor() {}

  /** Starts `size` threads and waits until each has built its engine. */
  static async start(init: StoqInit, size: number, log: LogSettings): Promise<ScanPool> {
    const pool = new ScanPool();
    const ready: Promise<void>[] = [];
    for (let i = 0; i < size; i++) {
      const worker = new Worker(entry, { type: "module" });
      const thread: Thread = { worker, busy: 0 };
      pool.#threads.push(thread);
      ready.push(
        new Promise((res, rej) => {
          worker.onmessage = (e: MessageEvent<PoolReply>) => {
            const m = e.data;
            if (m.type === "ready") {
              worker.onmessage = (ev: MessageEvent<PoolReply>) => pool.#onReply(ev.data);
              res();
            } else if (m.type === "fatal") rej(new UserError(m.message));
          };
          worker.onerror = (ev) => {
            ev.preventDefault();
            rej(new Error(`scan thread failed to start: ${ev.message}`));
          };
        }),
      );
      worker.postMessage({ type: "init", init, log });
    }
    try {
      await Promise.all(ready);
    } catch (e) {
      pool.terminate();
      throw e;
    }
    for (const t of pool.#threads) {
      t.worker.onerror = (ev) => {
        ev.preventDefault();
        pool.#failThread(t, `scan thread crashed: ${ev.message}`);
      };
    }
    return pool;
  }

  #onReply(m: PoolReply): void {
    if (m.type !== "result" && m.type !== "error") return;
    const p = this.#pending.get(m.id);
    if (!p) return;
    this.#pending.delete(m.id);
    p.thread.busy--;
    if (m.type === "result") p.resolve(m.response);
    else p.reject(new Error(m.message));
  }

  #failThread(t: Thread, message: string): void {
    for (const [id, p] of this.#pending) {
      if (p.thread === t) {
        this.#pending.delete(id);
        p.reject(new Error(message));
      }
    }
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
    const thread = this.#threads.reduce((a, b) => (b.busy < a.busy ? b : a));
    const id = this.#next++;
    thread.busy++;
    let payload = job.payload;
    if (payload) {
      // Transfer rather than copy; a view into a larger buffer is copied first so only it moves.
      const c = payload.content;
      const whole = c.byteOffset === 0 && c.byteLength === c.buffer.byteLength;
      payload = { ...payload, content: whole ? c : c.slice() };
    }
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, thread });
      const transfer = payload ? [payload.content.buffer as ArrayBuffer] : [];
      const msg: PoolJob = { type: "scan", id, file: job.file, payload, opts: job.opts };
      thread.worker.postMessage(msg, transfer);
    });
  }

  /** Lets each thread close its plugins, then stops the threads. */
  async close(): Promise<void> {
    for (const t of this.#threads) t.worker.postMessage({ type: "close" } satisfies PoolJob);
    await new Promise((r) => setTimeout(r, 50));
    this.terminate();
  }

  /** Stops every thread at once. */
  terminate(): void {
    for (const t of this.#threads) t.worker.terminate();
  }
}
