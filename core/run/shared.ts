/**
 * Plugins' shared parts across threads (PluginSpec.shared): built once per process in the main
 * thread, they answer the plugin's instances in every scan thread, each of which talks to the
 * main thread through a MessagePort of its own. A scan thread that waits for an answer keeps
 * its event loop, so its heartbeat and its calls' timeouts keep running.
 */
import { addThreadHook } from "../entry.ts";
import type { PluginHost } from "../engine/host.ts";
import type { SharedLink } from "../engine/plugin.ts";

const OPEN = "stoq-shared-open";

interface Call {
  id: number;
  method: string;
  args: unknown[];
}
type Reply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: string };

const inMainThread = typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope ===
  "undefined";

let provide: (host: PluginHost) => void = () => {};
let mainHost = new Promise<PluginHost>((resolve) => provide = resolve);

/** Main thread: the host whose plugins' shared parts answer the scan threads. */
export function serveSharedParts(host: PluginHost): void {
  provide(host);
  mainHost = Promise.resolve(host);
}

/** An error from the main thread: its message, without a stack of this thread's frames. */
function remoteError(message: string): Error {
  const e = new Error(message);
  e.stack = `Error: ${message}`;
  return e;
}

/**
 * Main thread: connects a thread's port to the shared part it asks for, and answers call 0 once
 * the part is built (or could not be).
 */
function onOpen(e: MessageEvent): void {
  const m = e.data as { type?: string; plugin?: string };
  const port = e.ports?.[0];
  if (m?.type !== OPEN || !port || typeof m.plugin !== "string") return;
  const plugin = m.plugin;
  mainHost.then((host) => host.sharedPart(plugin)).then(
    () => port.postMessage({ id: 0, ok: true, value: null } satisfies Reply),
    (err) =>
      port.postMessage(
        {
          id: 0,
          ok: false,
          error: err instanceof Error ? err.message : String(err),
        } satisfies Reply,
      ),
  );
  port.onmessage = async (ev: MessageEvent) => {
    const c = ev.data as Call;
    let reply: Reply;
    try {
      const part = await (await mainHost).sharedPart(plugin);
      reply = { id: c.id, ok: true, value: await part.call(c.method, c.args) };
    } catch (err) {
      reply = { id: c.id, ok: false, error: err instanceof Error ? err.message : String(err) };
    }
    try {
      port.postMessage(reply);
    } catch (err) {
      const error = `plugin ${plugin}: its shared part's answer to ${c.method} cannot be sent ` +
        `to the scan thread: ${(err as Error).message}`;
      port.postMessage({ id: c.id, ok: false, error } satisfies Reply);
    }
  };
}
if (inMainThread) addThreadHook(onOpen);

/**
 * Scan thread: a link whose calls go to the main thread's shared part of `plugin`, and `ready`,
 * which settles once the part is built there (rejecting with why it could not be).
 */
export function threadSharedLink(plugin: string): { link: SharedLink; ready: Promise<void> } {
  const channel = new MessageChannel();
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  const ready = new Promise<void>((resolve, reject) =>
    pending.set(0, { resolve: () => resolve(), reject })
  );
  ready.catch(() => {}); // the host awaits it
  let next = 1;
  channel.port1.onmessage = (e: MessageEvent) => {
    const r = e.data as Reply;
    const p = pending.get(r.id);
    if (!p) return;
    pending.delete(r.id);
    if (r.ok) p.resolve(r.value);
    else p.reject(remoteError(r.error));
  };
  const scope = globalThis as unknown as { postMessage(m: unknown, t: Transferable[]): void };
  scope.postMessage({ type: OPEN, plugin }, [channel.port2]);
  const link: SharedLink = {
    call<T>(method: string, args: unknown[] = [], transfer: ArrayBuffer[] = []) {
      const id = next++;
      return new Promise<T>((resolve, reject) => {
        pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
        try {
          channel.port1.postMessage({ id, method, args } satisfies Call, transfer);
        } catch (e) {
          pending.delete(id); // arguments that cannot be sent (a function, a detached buffer)
          throw e;
        }
      });
    },
  };
  return { link, ready };
}
