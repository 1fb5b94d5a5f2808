/**
 * The Worker side of a plugin loaded by URL. The Worker runs with exactly the Deno permissions
 * the plugin declared (see core/loading/isolate.ts, the host side); here the plugin module is
 * imported from a `data:` URL, described or created, and its methods are called on request.
 */
import { z } from "zod";
import { PluginDefinitionError, stoqAPI } from "../engine/api.ts";
import { execTool, spawnTool, withTempFile } from "../exec.ts";
import type {
  CallContext,
  Payload,
  PluginClass,
  PluginDefinition,
  PluginInstance,
  PluginPermissions,
  ProviderItem,
  Request,
  SpawnedProcess,
} from "../engine/plugin.ts";
import { dataUrl } from "./source.ts";

/** The name sandbox Workers get; main.ts serves a sandbox when it runs in a Worker so named. */
export const SANDBOX_NAME = "stoq-plugin-sandbox";

/** What a module says about itself, worked out in a sandbox without any permission. */
export interface PluginMeta {
  name: string;
  version: string;
  description: string;
  classes: PluginClass[];
  tools: Record<string, string>;
  permissions: Required<PluginPermissions>;
  required_workers: string[];
  /** JSON Schema (input side) of the options. */
  options: Record<string, unknown>;
  /** Options whose schema JSON Schema cannot express: checked only when the plugin starts. */
  unrepresentable: string[];
}

/** Methods a sandboxed instance may have, with how their arguments travel. */
export const METHODS = [
  "scan",
  "get_dispatches",
  "explain",
  "archive",
  "get",
  "decorate",
  "save",
  "ingest",
] as const;
export type Method = typeof METHODS[number];

/** An error as it crosses the Worker boundary. */
export interface ErrorInfo {
  name: string;
  message: string;
  stack?: string;
}

/** Messages to a sandbox (the first, `attach`, hands it the port all the others come by). */
export type ToSandbox =
  | { type: "attach" }
  | { type: "describe"; js: string }
  | {
    type: "init";
    js: string;
    name: string;
    module_name: string;
    options: Record<string, unknown>;
    home: string;
    tmp: string;
    /** The tools and permissions the host granted: the module must still declare exactly these. */
    expect: { tools: Record<string, string>; permissions: Required<PluginPermissions> };
  }
  | { type: "call"; id: number; method: Method; args: unknown[] }
  | { type: "abort"; id: number; reason: string }
  | { type: "put-done"; seq: number; error?: string }
  | { type: "ping"; seq: number }
  | { type: "close" };

/** Messages from a sandbox. */
export type FromSandbox =
  | { type: "described"; meta: PluginMeta }
  | { type: "ready"; methods: Method[]; dispatch_targets?: string[] }
  | { type: "fatal"; error: ErrorInfo }
  | { type: "result"; id: number; value: unknown }
  | { type: "failed"; id: number; error: ErrorInfo }
  | { type: "put"; id: number; seq: number; item: ProviderItem }
  | { type: "log"; level: "debug" | "info" | "warn" | "error"; msg: string; fields?: unknown }
  | { type: "pong"; seq: number }
  | { type: "closed" };

interface Scope {
  onmessage: ((e: MessageEvent) => void) | null;
  addEventListener(type: string, fn: (e: Event) => void): void;
}
const self_ = globalThis as unknown as Scope;
// The host's port, from the `attach` message; everything else travels on it.
let scope: { postMessage(msg: FromSandbox): void } = {
  postMessage: () => {},
};

const DATA_URL = /data:application\/javascript;base64,[A-Za-z0-9+/=]+/g;

/** An error as plain data, so it can be posted; the module's data: URL is shortened. */
export function errorInfo(e: unknown): ErrorInfo {
  // Deno colours some messages; they end up in results and JSON logs.
  // deno-lint-ignore no-control-regex
  const ansi = /\x1b\[[0-9;]*m/g;
  const short = (s: string) =>
    s.replace(ansi, "").replace(DATA_URL, "<plugin module>").replace(/\s*\n\s*/g, " ");
  // What is wrong with the module itself needs no stack: stoq's own frames would mislead.
  const own = e instanceof PluginDefinitionError || e instanceof ModuleError;
  return e instanceof Error
    ? { name: e.name, message: short(e.message), stack: own ? "" : e.stack }
    : { name: "Error", message: short(String(e)) };
}

/** What is wrong with a module's shape (no default export, a wrong name). */
class ModuleError extends Error {}

let def: PluginDefinition | undefined;
let instance: PluginInstance | undefined;
let tmp = "";
const spawned = new Set<SpawnedProcess>();
const calls = new Map<number, AbortController>();
const puts = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
let nextPut = 1;

/** Serves the host in this Worker, starting with messages that arrived while it loaded. */
export function serveSandbox(early: MessageEvent[] = []): void {
  const attach = (e: MessageEvent) => {
    if ((e.data as ToSandbox)?.type !== "attach" || !e.ports[0]) return;
    const port = e.ports[0];
    port.onmessage = (m: MessageEvent) => void onMessage(m.data as ToSandbox);
    scope = port;
  };
  self_.onmessage = attach;
  // A plugin's stray error (a timer that throws) must not end the sandbox: it is logged.
  const stray = (what: unknown) => {
    const info = errorInfo(what);
    scope.postMessage({ type: "log", level: "error", msg: `stray error: ${info.message}` });
  };
  self_.addEventListener("error", (e) => {
    e.preventDefault();
    stray((e as ErrorEvent).error ?? (e as ErrorEvent).message);
  });
  self_.addEventListener("unhandledrejection", (e) => {
    e.preventDefault();
    stray((e as PromiseRejectionEvent).reason);
  });
  for (const e of early) attach(e);
}

async function load(js: string): Promise<PluginDefinition> {
  let mod;
  try {
    mod = await import(dataUrl(js));
  } catch (e) {
    // Where in stoq the import failed says nothing; the message says where in the module.
    const info = errorInfo(e);
    throw Object.assign(new Error(info.message), { name: info.name, stack: "" });
  }
  if (typeof mod.default !== "function") {
    throw new ModuleError(
      "the module has no default export of the form (stoq) => stoq.plugin({...})",
    );
  }
  const d = mod.default(stoqAPI);
  if (!d || typeof d !== "object" || typeof d.create !== "function") {
    throw new ModuleError("the default export did not return stoq.plugin({...})");
  }
  return d as PluginDefinition;
}

function describe(d: PluginDefinition): PluginMeta {
  const unrepresentable: string[] = [];
  for (const [key, field] of Object.entries(d.optionsSchema.shape)) {
    try {
      z.toJSONSchema(field as z.ZodType, { io: "input", unrepresentable: "throw" });
    } catch {
      unrepresentable.push(key);
    }
  }
  return {
    name: d.name,
    version: d.version,
    description: d.description,
    classes: [...d.classes],
    tools: { ...d.tools },
    permissions: structuredClone(d.permissions),
    required_workers: [...d.required_workers],
    options: z.toJSONSchema(d.optionsSchema, { io: "input", unrepresentable: "any" }) as Record<
      string,
      unknown
    >,
    unrepresentable,
  };
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

async function onMessage(msg: ToSandbox): Promise<void> {
  switch (msg.type) {
    case "describe":
      try {
        scope.postMessage({ type: "described", meta: describe(await load(msg.js)) });
      } catch (e) {
        scope.postMessage({ type: "fatal", error: errorInfo(e) });
      }
      return;
    case "init":
      try {
        const d = await load(msg.js);
        if (d.name !== msg.module_name) {
          throw new ModuleError(`the module calls itself ${d.name}, not ${msg.module_name}`);
        }
        if (!same(d.tools, msg.expect.tools) || !same(d.permissions, msg.expect.permissions)) {
          throw new ModuleError(
            "the module's tools or permissions differ from those it was granted",
          );
        }
        const parsed = d.optionsSchema.safeParse(msg.options);
        if (!parsed.success) {
          throw new ModuleError(
            `bad options: ${z.prettifyError(parsed.error).replace(/\n/g, " ")}`,
          );
        }
        tmp = msg.tmp;
        const inst = await d.create(parsed.data, { name: msg.name, log: logger, home: msg.home });
        def = d;
        instance = inst;
        const methods = METHODS.filter((m) => typeof inst[m] === "function");
        scope.postMessage({ type: "ready", methods, dispatch_targets: inst.dispatch_targets });
      } catch (e) {
        scope.postMessage({ type: "fatal", error: errorInfo(e) });
      }
      return;
    case "call":
      await serveCall(msg.id, msg.method, msg.args);
      return;
    case "abort":
      calls.get(msg.id)?.abort(new Error(msg.reason));
      return;
    case "ping":
      scope.postMessage({ type: "pong", seq: msg.seq });
      return;
    case "put-done": {
      const p = puts.get(msg.seq);
      puts.delete(msg.seq);
      if (msg.error === undefined) p?.resolve();
      else p?.reject(new Error(msg.error));
      return;
    }
    case "close":
      try {
        await instance?.close?.();
      } catch (e) {
        scope.postMessage({
          type: "log",
          level: "debug",
          msg: `close failed: ${errorInfo(e).message}`,
        });
      }
      for (const p of spawned) p.kill();
      scope.postMessage({ type: "closed" });
      return;
  }
}

const logger = Object.fromEntries(
  (["debug", "info", "warn", "error"] as const).map((
    level,
  ) => [
    level,
    (msg: string, fields?: unknown) => scope.postMessage({ type: "log", level, msg, fields }),
  ]),
) as Record<"debug" | "info" | "warn" | "error", (msg: string, fields?: unknown) => void>;

/** A request as a sandboxed plugin sees it: the other payloads stay with the engine. */
function sandboxRequest(r: Omit<Request, "payloads">): Request {
  return {
    request_meta: r.request_meta,
    errors: r.errors,
    get payloads(): Payload[] {
      throw new Error(
        "request.payloads is not available to a plugin loaded by URL (it runs in its own Worker); use the payload argument",
      );
    },
  };
}

async function serveCall(id: number, method: Method, args: unknown[]): Promise<void> {
  const ctl = new AbortController();
  calls.set(id, ctl);
  const signal = ctl.signal;
  const tools = def!.tools;
  const call: CallContext = {
    signal,
    exec: (tool, a, o) => execTool(tools, tool, a, signal, o),
    withTempFile: (content, use) => {
      if (!tmp) {
        throw new Error(
          'call.withTempFile is for tools: this plugin declares none (tools: { name: "debian-package" })',
        );
      }
      return withTempFile(content, use, tmp);
    },
    spawn: (tool, a, o) => spawnTool(tools, tool, a, o, spawned),
  };
  try {
    const inst = instance as Record<Method, (...a: unknown[]) => unknown>;
    let value: unknown;
    if (method === "ingest") {
      const queue = {
        put: (item: ProviderItem) =>
          new Promise<void>((resolve, reject) => {
            const seq = nextPut++;
            puts.set(seq, { resolve, reject });
            scope.postMessage({ type: "put", id, seq, item });
          }),
      };
      value = await inst.ingest(queue, call);
    } else if (args.length === 2) {
      const [payload, request] = args as [Payload, Omit<Request, "payloads">];
      value = await inst[method](payload, sandboxRequest(request), call);
    } else value = await inst[method](args[0], call);
    scope.postMessage({ type: "result", id, value: value ?? null });
  } catch (e) {
    scope.postMessage({ type: "failed", id, error: errorInfo(e) });
  } finally {
    calls.delete(id);
  }
}
