/// <reference lib="deno.worker" />
/** A pool thread: builds its own engine from the same configuration and scans what it is sent. */
import { formatException, UserError } from "./errors.ts";
import { configureLogging } from "./log.ts";
import { createStoq, type Stoq, type StoqInit } from "./stoq.ts";
import type { PoolJob, PoolReply } from "./pool.ts";

let stoq: Stoq | undefined;

function reply(msg: PoolReply): void {
  self.postMessage(msg);
}

self.onmessage = async (e: MessageEvent) => {
  const msg = e.data as
    | { type: "init"; init: StoqInit; log: Parameters<typeof configureLogging> }
    | PoolJob;
  if (msg.type === "init") {
    try {
      configureLogging(...msg.log);
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
    self.close();
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
};
