/**
 * A pool thread: builds its own engine from the same configuration and scans what it is sent.
 * The thread runs the program's entry module (main.ts), which calls {@link servePoolThread} when
 * it finds itself in a Worker; so a bundle or compiled binary needs no second module.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { unscannedReason } from "../engine/engine.ts";
import { formatException, UserError } from "../errors.ts";
import { configureLogging, type LogSettings, survivePluginStrays } from "../log.ts";
import { metrics } from "../metrics.ts";
import { BEAT, BEAT_MS, JOB, NAME_LEN, NAME_MAX, NAME_OFFSET } from "./pool.ts";
import type { PoolJob, PoolReply } from "./pool.ts";
import { createStoq, type Stoq, type StoqInit } from "./stoq.ts";

let stoq: Stoq | undefined;
/** Scans between two full garbage collections this thread asks for (see collectNow). */
const GC_EVERY = 5000;
let scansSinceGc = 0;
/** `gc` is there when the launcher passes V8 `--expose-gc`; a test's Worker may lack it. */
const gc = (globalThis as { gc?: () => void }).gc;

/**
 * A full garbage collection every GC_EVERY scans. V8 sizes each heap for throughput: over tens of
 * thousands of small scans a thread's old space grew far past its live size (under 20 MiB) before
 * V8 collected it, and the process's RSS with it (80,000 files of 100 bytes: 389 MiB; 261–268
 * with this). One collection costs 20 to 50 ms; every 1,000 scans instead of 5,000 added a measurable
 * share to the CPU of 20,000 tiny files and took RSS no lower.
 */
function collectNow(): void {
  if (!gc || ++scansSinceGc < GC_EVERY) return;
  scansSinceGc = 0;
  gc();
}

// Which job a plugin call belongs to, so the watchdog can tell which scan to re-run without it.
const currentJob = new AsyncLocalStorage<number>();
const enc = new TextEncoder();

interface WorkerScope {
  postMessage(msg: unknown): void;
  onmessage: ((e: MessageEvent) => void) | null;
  close(): void;
}
const scope = globalThis as unknown as WorkerScope;

function reply(msg: PoolReply): void {
  scope.postMessage(msg);
}

/** Serves scan requests from the pool in this Worker thread, starting with `early` ones. */
export function servePoolThread(early: MessageEvent[] = []): void {
  scope.onmessage = onMessage;
  for (const e of early) onMessage(e);
}

/** Beats a shared counter and records each plugin call's job and name, for the watchdog. */
function watchMe(shared: SharedArrayBuffer, s: Stoq): void {
  const state = new Int32Array(shared, 0, 4);
  const name = new Uint8Array(shared, NAME_OFFSET, NAME_MAX);
  setInterval(() => Atomics.add(state, BEAT, 1), BEAT_MS);
  let last: string | undefined;
  survivePluginStrays(() => last);
  s.host.onEnter = (plugin) => {
    last = plugin;
    Atomics.store(state, JOB, currentJob.getStore() ?? 0);
    const { written } = enc.encodeInto(plugin, name);
    Atomics.store(state, NAME_LEN, written);
  };
}

async function onMessage(e: MessageEvent): Promise<void> {
  const msg = e.data as
    | { type: "init"; init: StoqInit; log: LogSettings; state: SharedArrayBuffer }
    | PoolJob;
  if (msg.type === "init") {
    try {
      configureLogging(msg.log.level, msg.log.format, msg.log.file);
      metrics.enabled = msg.init.metrics === true;
      stoq = await createStoq(msg.init, true);
      await stoq.engine.preload(msg.init.start_dispatch);
      watchMe(msg.state, stoq);
      reply({ type: "ready" });
    } catch (err) {
      reply({
        type: "fatal",
        message: err instanceof UserError ? err.message : formatException(err),
      });
    }
    return;
  }
  if (msg.type === "close") {
    await stoq?.host.closeAll();
    scope.close();
    return;
  }
  collectNow();
  try {
    const engine = stoq!.engine;
    const response = await currentJob.run(
      msg.id,
      () => msg.file ? engine.scanFile(msg.file, msg.opts) : engine.scan([msg.payload!], msg.opts),
    );
    if (msg.text) {
      const text = JSON.stringify(response, null, msg.text.indent);
      const summary = {
        payloads: response.results.length,
        errors: response.errors.length,
        unscanned: unscannedReason(response),
      };
      const counted = metrics.takeDelta();
      reply({ type: "text", id: msg.id, text, scan_id: response.scan_id, ...summary, counted });
    } else reply({ type: "result", id: msg.id, response, counted: metrics.takeDelta() });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    reply({ type: "error", id: msg.id, message, counted: metrics.takeDelta() });
  }
}
