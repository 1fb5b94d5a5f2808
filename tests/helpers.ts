/** Shared test helpers: instantiate a plugin, build payloads, run real tools to make fixtures. */
import { createHash } from "node:crypto";
import { stoqAPI } from "../core/engine/api.ts";
import { execTool, spawnTool, withTempFile } from "../core/exec.ts";
import { newPayloadResults, PayloadMetaSchema, RequestMetaSchema } from "../core/engine/model.ts";
import type {
  CallContext,
  Payload,
  PayloadMetaInput,
  PluginFactory,
  PluginInstance,
  Request,
} from "../core/engine/plugin.ts";

/**
 * Creates a plugin instance from its module's default export with `options` over the defaults;
 * `logged` collects what it logs.
 */
export async function instantiate(
  factory: PluginFactory,
  options: Record<string, unknown> = {},
): Promise<{ instance: PluginInstance; call: CallContext; logged: string[] }> {
  const def = factory(stoqAPI);
  const opts = def.optionsSchema.parse(options);
  const home = await tempDir("stoq-home-");
  // What the plugin logs, as "level: message", for tests that check it.
  const logged: string[] = [];
  const at = (level: string) => (msg: string) => void logged.push(`${level}: ${msg}`);
  const log = { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
  const instance = await def.create(opts, { name: def.name, log, home });
  return { instance, call: makeCall(def.tools), logged };
}

/** A call context with a generous deadline, as the engine would give. */
export function makeCall(
  tools: Readonly<Record<string, string>> = {},
  timeoutMs = 60_000,
): CallContext {
  const signal = AbortSignal.timeout(timeoutMs);
  return {
    signal,
    exec: (tool, args, o) => execTool(tools, tool, args, signal, o),
    withTempFile,
    spawn: (tool, args, o) => spawnTool(tools, tool, args, o),
  };
}

/** A payload as the engine builds it. */
export function makePayload(content: Uint8Array | string, meta: PayloadMetaInput = {}): Payload {
  const bytes = typeof content === "string" ? new TextEncoder().encode(content) : content;
  return {
    content: bytes,
    sha256: createHash("sha256").update(bytes).digest("hex"),
    results: newPayloadResults(bytes.length, PayloadMetaSchema.parse(meta)),
    dispatch_meta: {},
  };
}

/** A request holding `payloads`. */
export function makeRequest(...payloads: Payload[]): Request {
  return { payloads, request_meta: RequestMetaSchema.parse({}), errors: [] };
}

/** Hex SHA-256 of bytes or a string. */
export function sha256(data: Uint8Array | string): string {
  return createHash("sha256").update(data).digest("hex");
}

/** Runs a real command (to build fixtures) and fails loudly if it fails. */
export async function sh(cmd: string, args: string[], cwd?: string): Promise<string> {
  const out = await new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(
      `${cmd} ${args.join(" ")} failed (${out.code}): ${new TextDecoder().decode(out.stderr)}`,
    );
  }
  return text;
}

const made: string[] = [];
// Test folders (some hold tens of megabytes) are removed when the test process ends.
globalThis.addEventListener("unload", () => {
  for (const dir of made) {
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch { /* already gone */ }
  }
});

/** A fresh temporary folder, removed when the test process ends. */
export async function tempDir(prefix = "stoq-test-"): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix });
  made.push(dir);
  return dir;
}

/** Writes `files` (relative path → text, sub-folders made as needed) into a new temporary folder. */
export async function writeTree(
  files: Record<string, string>,
  prefix = "stoq-tree-",
): Promise<string> {
  const dir = await tempDir(prefix);
  for (const [name, text] of Object.entries(files)) {
    const path = `${dir}/${name}`;
    await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
    await Deno.writeTextFile(path, text);
  }
  return dir;
}

/**
 * `call` as it behaves on a machine without the plugin's tools: every tool it runs gets an empty
 * PATH. The process-wide PATH stays as it is, since test files run in parallel in one process.
 */
export async function withoutTools(call: CallContext): Promise<CallContext> {
  const PATH = await tempDir("no-tools-");
  return {
    ...call,
    exec: (tool, args, o) => call.exec(tool, args, { ...o, env: { ...o?.env, PATH } }),
    spawn: (tool, args, o) => call.spawn(tool, args, { ...o, env: { ...o?.env, PATH } }),
  };
}
