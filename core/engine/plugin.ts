/**
 * The plugin contract. This module holds types only: a plugin imports it with `import type`,
 * so a plugin file needs nothing from stoq at run time. Everything a plugin uses at run time
 * (zod, the logger, the tool runner) is handed to it by the engine.
 *
 * A plugin module's default export is a function that receives the {@link StoqAPI} and returns
 * `stoq.plugin({...})`:
 *
 * ```ts
 * import type { StoqAPI } from "./plugin.ts";
 * export default (stoq: StoqAPI) => stoq.plugin({
 *   name: "size_class", version: "1.0.0", description: "Says whether a payload is small",
 *   classes: ["worker"],
 *   options: { limit: stoq.z.number().int().positive().default(1024) },
 *   create: (opts) => ({
 *     scan: (payload) => ({ results: { small: payload.content.length < opts.limit } }),
 *   }),
 * });
 * ```
 */
import type { z } from "zod";
import type {
  ErrorRecord,
  Payload,
  PayloadMetaInput,
  Request,
  RequestMetaInput,
  StoqResponse,
} from "./model.ts";

export type {
  ErrorRecord,
  Finding,
  Payload,
  PayloadMeta,
  PayloadMetaInput,
  PayloadResults,
  Request,
  RequestMeta,
  RequestMetaInput,
  ScoredFinding,
  Severity,
  StoqResponse,
  Verdict,
  VerdictName,
} from "./model.ts";
import type { ExecOptions, ExecResult, SpawnedProcess, SpawnOptions } from "../exec.ts";
import type { Logger } from "../log.ts";
// The tool runner's and the logger's shapes are defined beside their implementations (core/
// utilities, below the engine) and are part of the contract.
export type { ExecOptions, ExecResult, Logger, SpawnedProcess, SpawnOptions };

/** The six plugin classes of stoQ. */
export type PluginClass =
  | "provider"
  | "worker"
  | "dispatcher"
  | "archiver"
  | "decorator"
  | "connector";

/** An error a plugin reports: a message, or a record naming plugin and payload. */
export type PluginError = string | Partial<ErrorRecord> & { error: string };

/** A child payload produced by a worker. Strings are encoded as UTF-8. */
export interface ExtractedPayload {
  content: Uint8Array | string;
  payload_meta?: PayloadMetaInput;
}

/** What `scan` returns. `null`/`undefined` means "nothing to say". */
export interface WorkerResponse {
  /** Anything JSON-like; Uint8Array values become text (see README, "bytes in results"). */
  results?: unknown;
  extracted?: ExtractedPayload[];
  errors?: PluginError[];
  /** Further workers to run on this same payload in a later round. */
  dispatch_to?: string[];
}

/** What `get_dispatches` returns. */
export interface DispatcherResponse {
  plugin_names?: string[];
  meta?: Record<string, unknown>;
  errors?: PluginError[];
}

/** What `archive` and `decorate` return. */
export interface ArchiverResponse {
  results?: unknown;
  errors?: PluginError[];
}
export type DecoratorResponse = ArchiverResponse;

/** A payload handed to the engine by a provider, an archiver's `get` or the CLI. */
export interface PayloadInput {
  content: Uint8Array;
  payload_meta?: PayloadMetaInput;
  request_meta?: RequestMetaInput;
}

/** A file to be read by the engine itself (lets scans of many files read in parallel). */
export interface FileInput {
  path: string;
  payload_meta?: PayloadMetaInput;
  request_meta?: RequestMetaInput;
}

/** A reference to an archived payload: source-archiver name → what its `get` needs. */
export interface ArchivedInput {
  archived: Record<string, unknown>;
  /** Merged over the payload_meta that the archiver's `get` returns. */
  payload_meta?: PayloadMetaInput;
  request_meta?: RequestMetaInput;
}

/** Anything a provider may put on the queue. */
export type ProviderItem = PayloadInput | FileInput | ArchivedInput;

/** The bounded queue a provider feeds. `put` waits while the queue is full. */
export interface ProviderQueue {
  /**
   * How many items the run scans at once. A provider that pulls from a broker keeps no more
   * than this unacknowledged, so that other instances on the same queue get the rest.
   */
  readonly consumers?: number;
  /**
   * Queues `item`. With `delivery`, the provider learns the item's fate: `ack` once it was
   * scanned and its result saved by every connector (or kept in the dead-letter folder), `nack`
   * when it was not (it could not be scanned, or the run stopped first). At-least-once sources
   * (queues, folders) remove an item only on `ack`.
   */
  put(item: ProviderItem, delivery?: Delivery): Promise<void>;
}

/** How a provider hears what became of an item it queued. */
export interface Delivery {
  ack(outcome: { scan_id: string; dead_lettered: boolean }): Awaitable<void>;
  nack(reason: string): Awaitable<void>;
}

/** Per-call context: the call's deadline and the means to honour it. */
export interface CallContext {
  /** Aborted when the call times out or the run stops; long work should check it. */
  signal: AbortSignal;
  /**
   * Runs a tool the plugin declared in `tools` with an argument array (never a shell).
   * The process is killed when `signal` aborts. A missing tool throws one clear error.
   */
  exec(tool: string, args: string[], options?: ExecOptions): Promise<ExecResult>;
  /**
   * Writes `content` to a private temporary file (mode 0600 in a 0700 folder), calls `use`
   * with its path, and removes it afterwards whatever happens. For tools that cannot read stdin.
   */
  withTempFile<T>(content: Uint8Array, use: (path: string) => Promise<T>): Promise<T>;
  /**
   * Starts a declared tool as a long-lived process (argument array, never a shell) with piped
   * stdin, stdout and stderr, for tools with a batch mode that serves many calls. Unlike `exec`,
   * `signal` does not kill it: the plugin kills it when a call it serves times out, and in
   * `close()`; the engine kills what is still running after `close()` and when stoq exits.
   * A missing tool throws the same error as `exec`.
   */
  spawn(tool: string, args: string[], options?: SpawnOptions): SpawnedProcess;
}

/** What a plugin's `create` receives besides its options. */
export interface PluginContext {
  name: string;
  log: Logger;
  /** `$STOQ_HOME`, for plugins that keep state. */
  home: string;
  /** The plugin's process-wide part, when it declares one (see {@link PluginSpec.shared}). */
  shared?: SharedLink;
}

/**
 * A plugin's process-wide part (see {@link PluginSpec.shared}): built once per process, in the
 * main thread, and called by the plugin's instances in every scan thread.
 */
export interface SharedPart {
  /**
   * Answers a call of an instance. Arguments and result are copied between threads (structured
   * clone): plain data, typed arrays, no functions.
   */
  call(method: string, args: unknown[]): Awaitable<unknown>;
  /** Called once when the process is done with it. */
  close?(): Awaitable<void>;
}

/** How an instance calls its plugin's shared part: directly in the main thread, else by message. */
export interface SharedLink {
  /**
   * True when calls run in this thread: arguments are passed as they are, so a caller need not
   * copy a buffer to move it (a large payload would otherwise be held twice).
   */
  readonly direct?: boolean;
  /**
   * Calls `method`; rejects with the shared part's error. Buffers in `transfer` are moved to the
   * main thread instead of copied (the caller can no longer use them).
   */
  call<T = unknown>(method: string, args?: unknown[], transfer?: ArrayBuffer[]): Promise<T>;
}

/** A command a plugin adds to stoq's command line, e.g. `stoq rules check PATH...`. */
export interface PluginCommand<S extends z.ZodRawShape = z.ZodRawShape> {
  /** The words after `stoq` (lower-case words separated by one space), e.g. "rules check". */
  name: string;
  /** One line for `stoq --help`. */
  summary: string;
  /** Usage, options and examples, for `stoq <name> --help`. */
  help: string;
  /**
   * Runs the command with the plugin's options (defaults, config file, --plugin-opts); returns
   * the exit status. `words` are the words after the name; `json` is whether --json was given.
   */
  run(
    args: { words: string[]; json: boolean },
    options: z.output<z.ZodObject<S>>,
    ctx: CommandContext,
  ): Awaitable<number>;
}

/** What a plugin command receives besides its arguments and options. */
export interface CommandContext extends PluginContext {
  /** Writes to stdout. */
  write(text: string): Promise<void>;
}

type Awaitable<T> = T | Promise<T>;

export interface WorkerRole {
  scan(
    payload: Payload,
    request: Request,
    call: CallContext,
  ): Awaitable<WorkerResponse | null | undefined | void>;
}
export interface DispatcherRole {
  get_dispatches(
    payload: Payload,
    request: Request,
    call: CallContext,
  ): Awaitable<DispatcherResponse | null | undefined | void>;
  /** Worker names this dispatcher may return; the engine loads and checks them up front. */
  dispatch_targets?: string[];
  /** For `stoq route explain`: what the dispatcher sees in a payload and why rules (do not) match. */
  explain?(
    payload: Payload,
    request: Request,
    call: CallContext,
  ): Awaitable<DispatchExplanation>;
}

/** A dispatcher's account of one payload: the facts it tested and each rule's verdict. */
export interface DispatchExplanation {
  facts: Record<string, unknown>;
  rules: { name: string; workers: string[]; matched: boolean; why: string[] }[];
}
export interface ArchiverRole {
  archive?(
    payload: Payload,
    request: Request,
    call: CallContext,
  ): Awaitable<ArchiverResponse | null | undefined | void>;
  /** Fetches an archived payload from what `archive` returned (or a user's reference). */
  get?(task: unknown, call: CallContext): Awaitable<PayloadInput | null | undefined>;
}
export interface DecoratorRole {
  decorate(
    response: StoqResponse,
    call: CallContext,
  ): Awaitable<DecoratorResponse | null | undefined | void>;
}
export interface ConnectorRole {
  save(response: StoqResponse, call: CallContext): Awaitable<void>;
  /**
   * A result store (a connector that can find the results it keeps) answers `stoq search`: the
   * scans matching `query`, newest first. By convention its options `path` (where the store is)
   * and `read_only` (open an existing store only to read it) let `stoq search --db` and the
   * search command open it without writing.
   */
  search?(query: SearchQuery, call: CallContext): Awaitable<StoredScan[]>;
  /** A result store's one stored scan by its id (`stoq show SCAN_ID`, the HTTP API), or null. */
  get_result?(scan_id: string, call: CallContext): Awaitable<StoredScan | null | undefined>;
  /** For messages: where a result store keeps its results (a path or a URL). */
  location?: string;
}

/** What a search asks a result store for. Values of one field are alternatives; fields must all hold. */
export interface SearchQuery {
  sha256?: string[];
  md5?: string[];
  sha1?: string[];
  /** YARA rule names (exact) or globs. */
  rule?: string[];
  /** MIME type globs. */
  type?: string[];
  /** Filename globs. */
  filename?: string[];
  /** The scan's verdict (`decorators.verdict.verdict`): clean, suspicious, malicious, unknown. */
  verdict?: string[];
  /** ISO times, inclusive. */
  since?: string;
  until?: string;
  limit: number;
}

/** One stored scan: its id, its time, and the result document as JSON text. */
export interface StoredScan {
  scan_id: string;
  time: string;
  result: string;
}
export interface ProviderRole {
  /** Puts items on the queue until exhausted or `call.signal` aborts. */
  ingest(queue: ProviderQueue, call: CallContext): Awaitable<void>;
}

/** The object a plugin's `create` returns: the methods of each class it declares. */
export type PluginInstance =
  & Partial<WorkerRole>
  & Partial<Omit<DispatcherRole, "dispatch_targets">>
  & { dispatch_targets?: string[] }
  & ArchiverRole
  & Partial<DecoratorRole>
  & Partial<ConnectorRole>
  & Partial<ProviderRole>
  & {
    /** Called once when the process is done with the plugin. */
    close?(): Awaitable<void>;
  };

/**
 * Hosts, paths and environment variables a plugin needs (its tools are declared in `tools`).
 * Paths are absolute, or start with `$STOQ_HOME/` or `~/`.
 */
export interface PluginPermissions {
  /** Hosts it connects to: `host` or `host:port`. */
  net?: string[];
  /** Files or folders it reads. */
  read?: string[];
  /** Files or folders it writes. */
  write?: string[];
  /** Environment variables it reads. */
  env?: string[];
}

/** What a plugin author writes. */
export interface PluginSpec<S extends z.ZodRawShape = z.ZodRawShape> {
  name: string;
  version: string;
  description: string;
  classes: PluginClass[];
  /** zod shape of the options; give every option a default where one makes sense. */
  options?: S;
  /** Workers that must have run on a payload before this one. */
  required_workers?: string[];
  /** External programs this plugin runs: name → Debian package that provides it. */
  tools?: Record<string, string>;
  /**
   * What else the plugin touches. Enforced for plugins loaded by URL, which run in a Worker
   * with exactly these permissions, and only if `[core] allow_plugin_*` grants them.
   */
  permissions?: PluginPermissions;
  create(
    options: z.output<z.ZodObject<S>>,
    ctx: PluginContext,
  ): Awaitable<PluginInstance>;
  /**
   * The plugin's process-wide part, for state too large or slow to build once per scan thread
   * (compiled rule sets, models): built once per process, in the main thread, with the same
   * options, the first time an instance needs it. Each instance reaches it as `ctx.shared`.
   * Plugins loaded by URL run isolated and get no shared part.
   */
  shared?(options: z.output<z.ZodObject<S>>, ctx: PluginContext): Awaitable<SharedPart>;
  /** Commands the plugin adds to the command line (`stoq --help` lists them). */
  commands?: PluginCommand<S>[];
}

/** A checked plugin definition, as returned by `stoq.plugin`. */
export interface PluginDefinition {
  readonly name: string;
  readonly version: string;
  readonly description: string;
  readonly classes: readonly PluginClass[];
  readonly optionsSchema: z.ZodObject<z.ZodRawShape>;
  readonly required_workers: readonly string[];
  readonly tools: Readonly<Record<string, string>>;
  readonly permissions: Readonly<Required<PluginPermissions>>;
  create(options: Record<string, unknown>, ctx: PluginContext): Promise<PluginInstance>;
  readonly shared?: (options: Record<string, unknown>, ctx: PluginContext) => Promise<SharedPart>;
  readonly commands?: readonly PluginCommand[];
}

/** What the engine hands to a plugin module's default export. */
export interface StoqAPI {
  /** zod, for option schemas. */
  z: typeof z;
  /** Checks a plugin spec and returns its definition. */
  plugin<S extends z.ZodRawShape>(spec: PluginSpec<S>): PluginDefinition;
  /** Lower-case hex digests, via node:crypto. */
  hash(algorithm: "md5" | "sha1" | "sha256" | "sha512", data: Uint8Array): string;
  /** The version of stoq running the plugin. */
  version: string;
}

/** A plugin module's default export. */
export type PluginFactory = (stoq: StoqAPI) => PluginDefinition;

/** The shape of a plugin module. */
export type PluginModule = { default: PluginFactory };
