/**
 * Creates plugin instances on demand (one per name per process), validates their options and
 * `required_workers`, and calls them under a deadline.
 */
import type { z } from "zod";
import type { CoreConfig } from "../config.ts";
import { formatException, UserError, userMessage } from "../errors.ts";
import { execTool, removeTempFiles, spawnTool, withTempFile } from "../exec.ts";
import { getLogger } from "../log.ts";
import { metrics } from "../metrics.ts";
import type {
  CallContext,
  PluginClass,
  PluginDefinition,
  PluginInstance,
  SharedLink,
  SharedPart,
  SpawnedProcess,
} from "./plugin.ts";
import { describeIssues, keysAt } from "../suggest.ts";

/**
 * Where the host finds plugins by name. The loading layer's Registry is one; the engine needs
 * only this much of it.
 */
export interface PluginLookup {
  /** Makes the plugins of these names ready for {@link get} (loads built-ins on first need). */
  need(names: Iterable<string>): Promise<void>;
  get(name: string): { definition: PluginDefinition } | undefined;
  /** A " (did you mean …?)" hint for an unknown name, or "". */
  hint(name: string): string;
}

/** Everything an engine needs besides the plugin lookup. */
export interface Settings {
  core: CoreConfig;
  /** Options from the config file, by plugin name. */
  fileOptions: Record<string, Record<string, unknown>>;
  /** Where `fileOptions` came from, for messages. */
  configSource?: string;
  /** Options from `--plugin-opts`, by plugin name (values as typed: strings or booleans). */
  cliOptions: Record<string, Record<string, unknown>>;
  home: string;
}

/** A created plugin. */
export interface LoadedPlugin {
  name: string;
  def: PluginDefinition;
  instance: PluginInstance;
  timeoutMs: number;
  /** Processes the plugin started with `call.spawn` that are still running. */
  spawned: Set<SpawnedProcess>;
}

/** The outcome of one plugin call. */
export type CallOutcome<T> =
  | { ok: true; value: T }
  | { ok: false; error: string; timedOut: boolean };

/**
 * Raised when a named plugin cannot be used; the message is meant for the user. `cause` is what
 * the plugin itself threw, when it failed to start.
 */
export class PluginLoadError extends UserError {
  constructor(message: string, options: { exitCode?: number; cause?: unknown } = {}) {
    super(message, options.exitCode);
    if ("cause" in options) this.cause = options.cause;
  }
}

function field(schema: z.ZodObject<z.ZodRawShape>, key: string): z.ZodType | undefined {
  return (schema.shape as Record<string, z.ZodType>)[key];
}

/** Turns a command-line string into the value the option's schema accepts, if any does. */
function coerceCliValue(schema: z.ZodType, raw: unknown): unknown {
  if (typeof raw !== "string") return raw;
  const candidates: unknown[] = [raw];
  if (/^(true|false)$/i.test(raw)) candidates.push(raw.toLowerCase() === "true");
  try {
    candidates.push(JSON.parse(raw));
  } catch { /* not JSON */ }
  candidates.push(raw.split(",").map((s) => s.trim()).filter((s) => s !== ""));
  let best: unknown = raw;
  for (const c of candidates) {
    const r = schema.safeParse(c);
    if (r.success) return c;
    // When nothing fits, keep the candidate of the right shape, so the error names the bad part.
    if (!r.error.issues.some((i) => i.code === "invalid_type" && i.path.length === 0)) best = c;
  }
  return best;
}

/** Validated options for `def`: schema defaults < config file < command line. */
export function resolveOptions(
  def: PluginDefinition,
  fileOptions: Record<string, unknown> = {},
  cliOptions: Record<string, unknown> = {},
  source = "file",
): Record<string, unknown> {
  const schema = def.optionsSchema;
  const valid = (path: PropertyKey[]) => keysAt(schema, path);
  const fromFile = schema.safeParse(fileOptions, { reportInput: true });
  if (!fromFile.success) {
    throw new PluginLoadError(
      describeIssues(fromFile.error, `config ${source} [${def.name}]`, valid),
    );
  }
  const merged: Record<string, unknown> = { ...fileOptions };
  for (const [key, raw] of Object.entries(cliOptions)) {
    const f = field(schema, key);
    merged[key] = f ? coerceCliValue(f, raw) : raw;
  }
  const all = schema.safeParse(merged, { reportInput: true });
  if (!all.success) {
    throw new PluginLoadError(describeIssues(all.error, `--plugin-opts ${def.name}`, valid), {
      exitCode: 2,
    });
  }
  return all.data as Record<string, unknown>;
}

/** Creates and caches plugin instances; checks classes and worker dependencies. */
export class PluginHost {
  readonly #cache = new Map<string, Promise<LoadedPlugin>>();
  readonly #shared = new Map<string, Promise<SharedPart>>();
  /** Told the plugin's name each time a plugin call starts (the pool's watchdog uses it). */
  onEnter?: (plugin: string) => void;
  /**
   * How a plugin's instances reach its shared part, and a promise that settles once the part is
   * built. By default (the main thread) the part is built by this host; a scan thread sets a
   * link that sends each call to the main thread.
   */
  sharedLink: (plugin: string) => { link: SharedLink; ready: Promise<void> } = (plugin) => ({
    link: {
      direct: true,
      call: async (method, args = []) =>
        await (await this.sharedPart(plugin)).call(method, args) as never,
    },
    ready: this.sharedPart(plugin).then(() => {}),
  });

  constructor(readonly registry: PluginLookup, readonly settings: Settings) {}

  /** The definition of `name`, or a clear error naming the closest known plugin. */
  definition(name: string): PluginDefinition {
    const reg = this.registry.get(name);
    if (!reg) {
      throw new PluginLoadError(
        `plugin "${name}" does not exist${
          this.registry.hint(name)
        }; \`stoq list\` shows the plugins`,
      );
    }
    return reg.definition;
  }

  /** The instance of `name`, created on first use and checked to be of class `cls`. */
  async load(name: string, cls?: PluginClass): Promise<LoadedPlugin> {
    await this.#need(name, new Set());
    const def = this.definition(name);
    if (cls && !def.classes.includes(cls)) {
      throw new PluginLoadError(
        `plugin "${name}" is not a ${cls} (it is: ${def.classes.join(", ")})`,
      );
    }
    if (cls === "worker") this.checkRequiredWorkers(name);
    let p = this.#cache.get(name);
    if (!p) {
      p = this.#create(def);
      this.#cache.set(name, p);
    }
    return await p;
  }

  /** Makes `name` and the workers it requires, transitively, ready in the registry. */
  async #need(name: string, seen: Set<string>): Promise<void> {
    if (seen.has(name) || seen.size > 1000) return;
    seen.add(name);
    await this.registry.need([name]);
    const deps = this.registry.get(name)?.definition.required_workers ?? [];
    await Promise.all(deps.map((d) => this.#need(d, seen)));
  }

  /** `def`'s options: defaults < config file < command line. */
  #options(def: PluginDefinition): Record<string, unknown> {
    return resolveOptions(
      def,
      this.settings.fileOptions[def.name],
      this.settings.cliOptions[def.name],
      this.settings.configSource,
    );
  }

  /**
   * The process-wide part of plugin `name` (see PluginSpec.shared), built on first use with the
   * plugin's options. Called in the main thread; a failure to build is every caller's answer.
   */
  sharedPart(name: string): Promise<SharedPart> {
    let part = this.#shared.get(name);
    if (!part) {
      part = this.registry.need([name]).then(() => {
        const def = this.definition(name);
        const build = def.shared;
        if (!build) throw new Error(`plugin ${name} has no shared part`);
        return build(this.#options(def), {
          name,
          log: getLogger(`stoq.${name}`),
          home: this.settings.home,
        });
      });
      part.catch(() => {}); // its callers see the failure
      this.#shared.set(name, part);
    }
    return part;
  }

  async #create(def: PluginDefinition): Promise<LoadedPlugin> {
    const opts = this.#options(def);
    let instance: PluginInstance;
    try {
      // The shared part is built before the first instance: a part that cannot be built is the
      // plugin failing to start.
      const shared = def.shared ? this.sharedLink(def.name) : undefined;
      await shared?.ready;
      instance = await def.create(opts, {
        name: def.name,
        log: getLogger(`stoq.${def.name}`),
        home: this.settings.home,
        ...(shared ? { shared: shared.link } : {}),
      });
    } catch (e) {
      throw new PluginLoadError(`plugin "${def.name}" failed to start: ${userMessage(e)}`, {
        cause: e,
      });
    }
    const core = this.settings.core;
    const secs = core.plugin_timeouts[def.name] ?? core.plugin_timeout;
    return { name: def.name, def, instance, timeoutMs: secs * 1000, spawned: new Set() };
  }

  /**
   * Checks that every worker `name` requires exists, is a worker, and that the chain has no
   * cycle and is no deeper than `max_required_worker_depth`.
   */
  checkRequiredWorkers(name: string, chain: string[] = []): void {
    if (chain.includes(name)) {
      throw new PluginLoadError(
        `circular required_workers: ${[...chain, name].join(" -> ")}`,
      );
    }
    const max = this.settings.core.max_required_worker_depth;
    if (chain.length > max) {
      throw new PluginLoadError(
        `required_workers of ${
          chain[0]
        } are nested deeper than max_required_worker_depth (${max}): ${
          [...chain, name].join(" -> ")
        }`,
      );
    }
    const def = this.definition(name);
    if (!def.classes.includes("worker")) {
      throw new PluginLoadError(
        `${chain.at(-1)} requires "${name}", which is not a worker (it is: ${
          def.classes.join(", ")
        })`,
      );
    }
    for (const dep of def.required_workers) {
      if (!this.registry.get(dep)) {
        throw new PluginLoadError(
          `plugin "${name}" requires worker "${dep}", which does not exist${
            this.registry.hint(dep)
          }`,
        );
      }
      this.checkRequiredWorkers(dep, [...chain, name]);
    }
  }

  /** Calls `fn` with a call context whose signal aborts after the plugin's timeout. */
  async invoke<T>(
    plugin: LoadedPlugin,
    fn: (call: CallContext) => T | Promise<T>,
  ): Promise<CallOutcome<T>> {
    const ctl = new AbortController();
    const temps = new Set<string>();
    const call: CallContext = {
      signal: ctl.signal,
      exec: (tool, args, o) => execTool(plugin.def.tools, tool, args, ctl.signal, o),
      withTempFile: (content, use) => withTempFile(content, use, undefined, temps),
      spawn: (tool, args, o) => spawnTool(plugin.def.tools, tool, args, o, plugin.spawned),
    };
    let timer: ReturnType<typeof setTimeout> | undefined;
    const began = performance.now();
    let timedOut = false;
    const timeout = new Promise<"timeout">((res) => {
      timer = setTimeout(() => res("timeout"), plugin.timeoutMs);
    });
    try {
      const started = Promise.resolve().then(() => {
        this.onEnter?.(plugin.name);
        return fn(call);
      });
      const value = await Promise.race([started, timeout]);
      if (value === "timeout") {
        timedOut = true;
        ctl.abort(new Error(`timed out after ${plugin.timeoutMs / 1000} s`));
        return { ok: false, error: `timed out after ${plugin.timeoutMs / 1000} s`, timedOut: true };
      }
      return { ok: true, value: value as T };
    } catch (e) {
      return { ok: false, error: formatException(e), timedOut: false };
    } finally {
      clearTimeout(timer);
      if (!ctl.signal.aborted) ctl.abort(new Error("call finished"));
      // What the call left in use (it timed out, or forgot to wait): gone with the call.
      if (temps.size) await removeTempFiles(temps);
      if (metrics.enabled) {
        const labels = { plugin: plugin.name };
        metrics.inc("stoq_plugin_calls_total", labels);
        metrics.inc("stoq_plugin_seconds_total", labels, (performance.now() - began) / 1000);
        if (timedOut) metrics.inc("stoq_plugin_timeouts_total", labels);
      }
    }
  }

  /** Closes every created plugin (errors are logged, not thrown). */
  async closeAll(): Promise<void> {
    const log = getLogger("stoq");
    for (const p of this.#cache.values()) {
      try {
        const loaded = await p;
        try {
          await loaded.instance.close?.();
        } finally {
          for (const child of loaded.spawned) child.kill();
        }
      } catch (e) {
        log.debug(`closing a plugin failed: ${formatException(e)}`);
      }
    }
    for (const part of this.#shared.values()) {
      try {
        await (await part).close?.();
      } catch (e) {
        log.debug(`closing a plugin's shared part failed: ${formatException(e)}`);
      }
    }
  }
}
