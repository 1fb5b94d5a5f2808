/**
 * A pool thread: builds its own engine from the same configuration and scans what it is sent.
 * The thread runs the program's entry module (main.ts), which calls {@link servePoolThread} when
 * it finds itself in a Worker; so a bundle or compiled binary needs no second module.
 */
import { formatException, UserError } from "./errors.ts";
import { configureLogging, type LogSettings } from "./log.ts";
import { createStoq, type Stoq, type StoqInit } from "./stoq.ts";
import type { PoolJob, PoolReply } from "./pool.ts";

let stoq: Stoq | undefined;

interface WorkerScope {
  postMessage(msg: unknown): void;
  onmessage: ((e: MessageEvent) => void) | null;
  close(): void;
}
const scope = globalThis as unknown as WorkerScope;

function reply(msg: PoolReply): void {
  scope.postMessage(msg);
}

/** Whether this code runs inside a Worker thread. */
export function inWorkerThread(): boolean {
  const g = globalThis as { WorkerGlobalScope?: new () => unknown };
  return typeof g.WorkerGlobalScope === "function" && globalThis instanceof g.WorkerGlobalScope;
}

/** Serves scan requests from the pool in this Worker thread. */
export function servePoolThread(): void {
  scope.onmessage = onMessage;
}

async function onMessage(e: MessageEvent): Promise<void> {
  const msg = e.data as
    | { type: "init"; init: StoqInit; log: LogSettings }
    | PoolJob;
  if (msg.type === "init") {
    try {
      configureLogging(msg.log.level, msg.log.format, msg.log.file);
      stoq = await createStoq(msg.init);
      await stoq.engine.preload();
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
  try {
    const engine = stoq!.engine;
    const response = msg.file
      ? await engine.scanFile(msg.file, msg.opts)
      : await engine.scan([msg.payload!], msg.opts);
    reply({ type: "result", id: msg.id, response });
  } catch (err) {
    reply({ type: "error", id: msg.id, message: err instanceof Error ? err.message : String(err) });
  }
}
