/**
 * The host side of plugins loaded by URL: each runs in a Worker of its own whose Deno permissions
 * are exactly what it declared (core/loading/sandbox.ts is the Worker side). The engine sees an
 * ordinary plugin definition; every call is a message to the Worker and back. A call that hangs in
 * synchronous code cannot stall stoq: after its timeout the Worker is ended and a fresh one serves
 * the next call.
 */
import { z } from "zod";
import { addThreadHook, entryModule } from "../entry.ts";
import { getLogger } from "../log.ts";
import type {
  CallContext,
  PluginContext,
  PluginDefinition,
  PluginInstance,
  ProviderItem,
  ProviderQueue,
} from "../engine/plugin.ts";
import { declared, workerPermissions } from "./permissions.ts";
import {
  type ErrorInfo,
  type FromSandbox,
  type Method,
  type PluginMeta,
  SANDBOX_NAME,
  type ToSandbox,
} from "./sandbox.ts";

/** How long a module may take to describe itself or start. */
const START_MS = 30_000;
/** How long a Worker may take to answer a ping after a call timed out before it is ended. */
const PING_MS = 500;

/** An error thrown in a sandbox, rebuilt with its type, message and stack. */
export function rebuildError(info: ErrorInfo): Error {
  const e = new Error(info.message);
  e.name = info.name;
  // No stack means no frame worth naming: the host's own frames would mislead.
  e.stack = info.stack || `${info.name}: ${info.message}`;
  return e;
}

/** A sandbox Worker as its host sees it: a port to talk on, and a way to end it. */
interface Link {
  port: MessagePort;
  end(): void;
  /** Told when the Worker fails: an uncaught error, an entry module that does not load. */
  onFailure?: (why: string) => void;
}

const BROKER = "stoq-sandbox-request";
const inMainThread = typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope ===
  "undefined";

function startWorker(
  permissions: Deno.PermissionOptions,
  port: MessagePort,
  fail: (why: string) => void,
): Worker {
  const w = new Worker(entryModule(), {
    type: "module",
    name: SANDBOX_NAME,
    deno: { permissions },
  } as WorkerOptions);
  w.onerror = (e) => {
    e.preventDefault();
    fail(e.message);
  };
  w.postMessage({ type: "attach" } satisfies ToSandbox, [port]);
  return w;
}

/**
 * Starts a sandbox Worker. The main thread starts its own; a scan thread asks the main thread
 * (see {@link brokerSandbox}), because a Worker started by a Worker takes about a second to answer.
 */
function openSandbox(permissions: Deno.PermissionOptions): Link {
  const data = new MessageChannel();
  const link: Link = { port: data.port1, end: () => {} };
  if (inMainThread) {
    const w = startWorker(permissions, data.port2, (why) => link.onFailure?.(why));
    link.end = () => {
      w.terminate();
      data.port1.close();
    };
    return link;
  }
  const ctl = new MessageChannel();
  ctl.port1.onmessage = (e: MessageEvent) => link.onFailure?.(String(e.data));
  const scope = globalThis as unknown as { postMessage(m: unknown, t: Transferable[]): void };
  scope.postMessage({ type: BROKER, permissions }, [data.port2, ctl.port2]);
  link.end = () => {
    ctl.port1.postMessage("end");
    ctl.port1.close();
    data.port1.close();
  };
  return link;
}

/** Main thread: starts the sandbox a scan thread asks for and ends it when told. */
function brokerSandbox(e: MessageEvent): void {
  if ((e.data as { type?: string })?.type !== BROKER) return;
  const [port, ctl] = e.ports;
  try {
    const w = startWorker(e.data.permissions, port, (why) => ctl.postMessage(why));
    ctl.onmessage = () => {
      w.terminate();
      ctl.close();
    };
  } catch (err) {
    ctl.postMessage((err as Error).message);
    ctl.close();
  }
}
if (inMainThread) addThreadHook(brokerSandbox);

/** Waits for the first message `want` accepts; a fatal message, a failure or the deadline throws. */
function firstReply<T>(
  link: Link,
  want: (m: FromSandbox) => T | undefined,
  what: string,
  onOther?: (m: FromSandbox) => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${what} took longer than ${START_MS / 1000} s`)),
      START_MS,
    );
    link.port.onmessage = (e: MessageEvent) => {
      const m = e.data as FromSandbox;
      if (m.type === "fatal") {
        clearTimeout(timer);
        reject(rebuildError(m.error));
        return;
      }
      const got = want(m);
      if (got !== undefined) {
        clearTimeout(timer);
        resolve(got);
      } else onOther?.(m);
    };
    link.onFailure = (why) => {
      clearTimeout(timer);
      reject(new Error(`${what} failed: ${why}`));
    };
  });
}

/**
 * What a module says about itself: its default export is run in a Worker that may do nothing
 * (no files, network, environment or tools).
 */
export async function describeModule(js: string): Promise<PluginMeta> {
  const link = openSandbox("none");
  try {
    link.port.postMessage({ type: "describe", js } satisfies ToSandbox);
    return await firstReply(link, (m) => m.type === "described" ? m.meta : undefined, "loading it");
  } finally {
    link.end();
  }
}

interface Pending {
  resolve(v: unknown): void;
  reject(e: Error): void;
  queue?: ProviderQueue;
}

/** A call that failed because its Worker was ended under it (another call blocked the Worker). */
export class WorkerEndedError extends Error {}

/** One running sandbox Worker with a created plugin instance in it. */
class Sandbox {
  #pending = new Map<number, Pending>();
  #next = 1;
  /** While set, a timed-out call is being checked for blocking the Worker: new calls wait. */
  #probing?: Promise<void>;
  #pongs = new Map<number, () => void>();
  dead?: string;
  onClosed?: () => void;

  private constructor(readonly link: Link, readonly log: PluginContext["log"]) {}

  /** Starts a Worker, creates the plugin in it and waits until it is ready. */
  static async start(
    init: Extract<ToSandbox, { type: "init" }>,
    permissions: Deno.PermissionOptions,
    log: PluginContext["log"],
  ): Promise<{ box: Sandbox; ready: Extract<FromSandbox, { type: "ready" }> }> {
    const link = openSandbox(permissions);
    const box = new Sandbox(link, log);
    link.port.postMessage(init);
    try {
      const ready = await firstReply(
        link,
        (m) => m.type === "ready" ? m : undefined,
        "starting it",
        (m) => box.#onMessage(m),
      );
      link.port.onmessage = (e: MessageEvent) => box.#onMessage(e.data as FromSandbox);
      link.onFailure = (why) => box.kill(`its Worker failed: ${why}`);
      return { box, ready };
    } catch (e) {
      link.end();
      throw e;
    }
  }

  #onMessage(m: FromSandbox): void {
    switch (m.type) {
      case "log": {
        const fields = m.fields && typeof m.fields === "object"
          ? m.fields as Record<string, unknown>
          : undefined;
        this.log[m.level](m.msg, fields);
        return;
      }
      case "result":
      case "failed": {
        const p = this.#pending.get(m.id);
        this.#pending.delete(m.id);
        if (m.type === "result") p?.resolve(m.value);
        else p?.reject(rebuildError(m.error));
        return;
      }
      case "put":
        void this.#put(m.id, m.seq, m.item);
        return;
      case "pong":
        this.#pongs.get(m.seq)?.();
        return;
      case "closed":
        this.onClosed?.();
        return;
    }
  }

  async #put(id: number, seq: number, item: ProviderItem): Promise<void> {
    let error: string | undefined;
    const queue = this.#pending.get(id)?.queue;
    try {
      if (!queue) throw new Error("the provider's call has ended");
      await queue.put(item);
    } catch (e) {
      error = (e as Error)?.message ?? String(e);
    }
    if (!this.dead) {
      this.link.port.postMessage({ type: "put-done", seq, error } satisfies ToSandbox);
    }
  }

  /**
   * After a call timed out: a Worker whose event loop does not answer a ping within PING_MS is
   * stuck in synchronous code (it would never read the abort), so it is ended.
   */
  #probe(why: string): Promise<void> {
    this.#probing ??= new Promise<void>((done) => {
      const seq = this.#next++;
      const timer = setTimeout(() => {
        this.#pongs.delete(seq);
        this.kill(`${why}, and the plugin kept its Worker busy`);
        done();
      }, PING_MS);
      this.#pongs.set(seq, () => {
        clearTimeout(timer);
        this.#pongs.delete(seq);
        done();
      });
      this.link.port.postMessage({ type: "ping", seq } satisfies ToSandbox);
    }).finally(() => this.#probing = undefined);
    return this.#probing;
  }

  /** Calls `method` in the Worker; the call's signal aborts it there too. */
  async call(
    method: Method,
    args: unknown[],
    call: CallContext,
    queue?: ProviderQueue,
  ): Promise<unknown> {
    while (this.#probing) await this.#probing;
    if (this.dead) throw new WorkerEndedError(this.dead);
    const id = this.#next++;
    return await new Promise((resolve, reject) => {
      const onAbort = () => {
        const reason = String((call.signal.reason as Error)?.message ?? call.signal.reason);
        if (this.dead) return;
        this.link.port.postMessage({ type: "abort", id, reason } satisfies ToSandbox);
        if (this.#pending.has(id)) void this.#probe(`a ${method} call ${reason}`);
      };
      const settle = () => call.signal.removeEventListener("abort", onAbort);
      this.#pending.set(id, {
        resolve: (v) => (settle(), resolve(v)),
        reject: (e) => (settle(), reject(e)),
        queue,
      });
      call.signal.addEventListener("abort", onAbort, { once: true });
      try {
        this.link.port.postMessage({ type: "call", id, method, args } satisfies ToSandbox);
      } catch (e) {
        this.#pending.get(id)!.reject(e as Error);
        this.#pending.delete(id);
      }
    });
  }

  /** Ends the Worker at once; its pending calls fail with a WorkerEndedError. */
  kill(why: string): void {
    if (this.dead) return;
    this.dead = `the plugin's Worker was ended: ${why}`;
    this.link.end();
    this.log.warn(this.dead);
    for (const p of this.#pending.values()) p.reject(new WorkerEndedError(this.dead));
    this.#pending.clear();
    this.onClosed?.();
  }

  /** Lets the plugin close, then ends the Worker. */
  async close(): Promise<void> {
    if (this.dead) return;
    const closed = new Promise<void>((res) => this.onClosed = res);
    this.link.port.postMessage({ type: "close" } satisfies ToSandbox);
    const timer = setTimeout(() => this.kill("close() took longer than 5 s"), 5_000);
    await closed;
    clearTimeout(timer);
    this.dead = "closed";
    this.link.end();
  }
}

/** Arguments as they cross to the sandbox: a payload without getters, a request without payloads. */
function wireArgs(method: Method, args: unknown[]): unknown[] {
  if (args.length < 2 || method === "get" || method === "decorate" || method === "save") {
    return args.slice(0, 1);
  }
  const [p, r] = args as [
    { content: Uint8Array; sha256: string; results: unknown; dispatch_meta: unknown },
    { request_meta: unknown; errors: unknown },
  ];
  return [
    { content: p.content, sha256: p.sha256, results: p.results, dispatch_meta: p.dispatch_meta },
    { request_meta: r.request_meta, errors: r.errors },
  ];
}

/**
 * The definition of a pinned module: metadata from `meta` (worked out in a sandbox), and a
 * `create` that starts the plugin in a Worker with exactly its declared permissions.
 * `name` is the name it is registered under (the module's own, or the one given with --name).
 */
export function isolatedDefinition(
  name: string,
  meta: PluginMeta,
  js: string,
  home: string,
): PluginDefinition {
  let optionsSchema: z.ZodObject<z.ZodRawShape>;
  try {
    optionsSchema = z.fromJSONSchema(meta.options as z.core.JSONSchema.JSONSchema) as z.ZodObject<
      z.ZodRawShape
    >;
    if (!(optionsSchema instanceof z.ZodObject)) throw new Error("not an object schema");
  } catch {
    optionsSchema = z.object({}).loose() as unknown as z.ZodObject<z.ZodRawShape>;
  }
  const wants = declared(meta.permissions, meta.tools);
  const def: PluginDefinition = {
    name,
    version: meta.version,
    description: meta.description,
    classes: Object.freeze([...meta.classes]),
    optionsSchema,
    required_workers: Object.freeze([...meta.required_workers]),
    tools: Object.freeze({ ...meta.tools }),
    permissions: Object.freeze(structuredClone(meta.permissions)),
    async create(options, ctx) {
      // A private folder for call.withTempFile, which exists for tools: only a plugin with tools
      // gets one (a Worker ended with its thread cannot remove it).
      const tmp = Object.keys(meta.tools).length
        ? await Deno.makeTempDir({ prefix: `stoq-plugin-${name}-` })
        : "";
      const init: Extract<ToSandbox, { type: "init" }> = {
        type: "init",
        js,
        name,
        module_name: meta.name,
        options,
        home,
        tmp,
        expect: { tools: meta.tools, permissions: meta.permissions },
      };
      const permissions = workerPermissions(wants, home, tmp) as Deno.PermissionOptions;
      let started: Awaited<ReturnType<typeof Sandbox.start>>;
      try {
        started = await Sandbox.start(init, permissions, ctx.log);
      } catch (e) {
        if (tmp) await Deno.remove(tmp, { recursive: true }).catch(() => {});
        throw e;
      }
      let box = started.box;
      // After a hung call ended the Worker, the next call starts a fresh one.
      let restarting: Promise<Sandbox> | undefined;
      const current = async (): Promise<Sandbox> => {
        if (!box.dead || box.dead === "closed") return box;
        restarting ??= Sandbox.start(init, permissions, ctx.log).then((s) => {
          box = s.box;
          restarting = undefined;
          return box;
        }, (e) => {
          restarting = undefined;
          throw e;
        });
        return await restarting;
      };
      const instance: Record<string, unknown> = {
        dispatch_targets: started.ready.dispatch_targets,
        async close() {
          await box.close();
          if (tmp) await Deno.remove(tmp, { recursive: true }).catch(() => {});
        },
      };
      for (const m of started.ready.methods) {
        instance[m] = async (...args: unknown[]) => {
          const call = args.at(-1) as CallContext;
          const queue = m === "ingest" ? args[0] as ProviderQueue : undefined;
          const wire = m === "ingest" ? [] : wireArgs(m, args.slice(0, -1));
          try {
            return await (await current()).call(m, wire, call, queue);
          } catch (e) {
            // Ended under this call by another one that blocked the Worker: run it once more on
            // a fresh Worker (not a provider, whose items would be queued twice).
            if (!(e instanceof WorkerEndedError) || call.signal.aborted || m === "ingest") throw e;
            return await (await current()).call(m, wire, call, queue);
          }
        };
      }
      getLogger("stoq").debug(`plugin ${name} runs in its own Worker`, {
        permissions: wants,
      });
      return instance as PluginInstance;
    },
  };
  return Object.freeze(def);
}
