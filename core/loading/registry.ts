/**
 * Which plugins exist: the built-ins, every plugin module found in the plugin folders, and the
 * plugins pinned by URL (the lock file's and those named on the command line).
 */
import { BUILTIN_PLUGINS, type BuiltinLoader } from "../../plugins/index.ts";
import { stoqAPI } from "../engine/api.ts";
import type { CoreConfig } from "../config.ts";
import { formatException, UserError } from "../errors.ts";
import { getLogger } from "../log.ts";
import type { PluginDefinition, PluginFactory } from "../engine/plugin.ts";
import type { PinnedRef } from "./pins.ts";
import type { PluginSources } from "./sources.ts";
import { didYouMean } from "../suggest.ts";

/** A plugin the registry knows, and where it came from. */
export interface RegisteredPlugin {
  definition: PluginDefinition;
  /** "built-in", the module's path, or its URL. */
  source: string;
  /** For a plugin pinned by URL: its sha256. */
  sha256?: string;
}

/** Plugins pinned by URL, and what loading them needs. */
export interface PinSettings {
  refs: readonly PinnedRef[];
  home: string;
  core: CoreConfig;
}

/** A plugin module that could not be loaded, and why. */
export interface LoadProblem {
  path: string;
  reason: string;
}

const log = getLogger("stoq");
const MODULE = /\.(ts|js|mjs)$/;
const SKIP = /(^[._])|(_test\.(ts|js|mjs)$)|(\.d\.ts$)/;

/** The set of known plugins, by name. */
export class Registry {
  readonly #plugins = new Map<string, RegisteredPlugin>();
  /** Built-ins not loaded yet (see {@link need}), by name. */
  readonly #lazy = new Map<string, BuiltinLoader>();
  readonly #loading = new Map<string, Promise<void>>();
  /** Why each pinned plugin that could not be loaded was not, by name. */
  readonly #failed = new Map<string, string>();
  readonly problems: LoadProblem[] = [];

  private constructor(readonly quiet: boolean) {}

  /**
   * The registry of a run: stoq's built-in plugins, then `sources` (see {@link create}).
   */
  static load(
    sources: PluginSources,
    settings: { home: string; core: CoreConfig },
    quiet = false,
  ): Promise<Registry> {
    return Registry.create(BUILTIN_PLUGINS, sources.dirs, quiet, {
      refs: sources.pinned,
      ...settings,
    });
  }

  /**
   * Registers the built-ins, then the plugin folders in order, then the pinned plugins (a later
   * one overrides). With `quiet`, what it finds is only recorded, not logged (pool threads: the
   * main thread said it).
   */
  static async create(
    builtins: readonly PluginFactory[] | Readonly<Record<string, BuiltinLoader>>,
    pluginDirs: readonly string[],
    quiet = false,
    pins?: PinSettings,
  ): Promise<Registry> {
    const reg = new Registry(quiet);
    if (Array.isArray(builtins)) {
      for (const factory of builtins as readonly PluginFactory[]) {
        reg.#add(factory(stoqAPI), "built-in");
      }
    } else {
      for (const [name, load] of Object.entries(builtins)) reg.#lazy.set(name, load);
    }
    for (const dir of pluginDirs) await reg.#loadDir(dir);
    if (pins?.refs.length) {
      // Loaded only when there are pinned plugins: it brings the sandbox code with it.
      const { loadPinned } = await import("./url.ts");
      const loaded = await Promise.all(
        pins.refs.map((ref) =>
          loadPinned(ref, pins.home, pins.core).then((l) => ({ ref, l }), (e) => ({ ref, e }))
        ),
      );
      for (const r of loaded) {
        if ("l" in r) reg.#add(r.l.def, r.ref.url, r.ref.sha256);
        else {
          const e = r.e;
          const reason = e instanceof UserError ? e.message : formatException(e);
          if (r.ref.name) reg.#failed.set(r.ref.name, reason);
          // The reason names the plugin and its URL already.
          reg.problems.push({ path: r.ref.url, reason });
          if (!quiet) log.warn(reason);
        }
      }
    }
    return reg;
  }

  /**
   * Loads the built-ins among `names` that are not loaded yet; other names are left alone (an
   * unknown one is for the caller to report). {@link get} finds a built-in only after this.
   */
  async need(names: Iterable<string>): Promise<void> {
    const waits: Promise<void>[] = [];
    for (const name of names) {
      const load = this.#lazy.get(name);
      if (!load) {
        const pending = this.#loading.get(name);
        if (pending) waits.push(pending);
        continue;
      }
      this.#lazy.delete(name);
      const p = load().then((factory) => {
        const def = factory(stoqAPI);
        if (def.name !== name) {
          throw new Error(`built-in plugin ${name}: its module defines "${def.name}"`);
        }
        // A plugin folder or pin of the same name registered meanwhile wins.
        if (!this.#plugins.has(name)) {
          this.#plugins.set(name, { definition: def, source: "built-in" });
        }
      });
      this.#loading.set(name, p);
      waits.push(p);
    }
    await Promise.all(waits);
  }

  /** Loads every built-in not loaded yet (for listings of all plugins). */
  async needAll(): Promise<void> {
    await this.need([...this.#lazy.keys()]);
  }

  /** Whether a plugin called `name` exists, loaded or not. */
  has(name: string): boolean {
    return this.#plugins.has(name) || this.#lazy.has(name);
  }

  /** The plugin called `name`, if any (a built-in only once loaded: see {@link need}). */
  get(name: string): RegisteredPlugin | undefined {
    return this.#plugins.get(name);
  }

  /** Every plugin name, loaded or not, sorted. */
  names(): string[] {
    return [...new Set([...this.#plugins.keys(), ...this.#lazy.keys()])].sort();
  }

  /** All registered plugins, sorted by name: call {@link needAll} first. */
  all(): RegisteredPlugin[] {
    if (this.#lazy.size) throw new Error("Registry.all() before needAll()");
    return this.names().map((n) => this.#plugins.get(n)!);
  }

  /** A "did you mean" hint for an unknown name, or why a pinned plugin of that name did not load. */
  hint(name: string): string {
    const failed = this.#failed.get(name);
    if (failed) return ` (it is pinned but was not loaded: ${failed})`;
    return didYouMean(name, this.names());
  }

  #add(definition: PluginDefinition, source: string, sha256?: string): void {
    // A plugin of a built-in's name overrides it: the built-in need not be loaded at all.
    if (this.#lazy.delete(definition.name) && !this.quiet) {
      log.info(`plugin ${definition.name} from ${source} overrides the one from built-in`);
    }
    const prior = this.#plugins.get(definition.name);
    if (prior && prior.source !== source && !this.quiet) {
      log.info(`plugin ${definition.name} from ${source} overrides the one from ${prior.source}`);
    }
    this.#plugins.set(
      definition.name,
      sha256 ? { definition, source, sha256 } : { definition, source },
    );
  }

  async #loadDir(dir: string): Promise<void> {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(dir)].sort((a, b) => a.name < b.name ? -1 : 1);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) {
        this.#problem(dir, `cannot read plugin folder: ${(e as Error).message}`);
      }
      return;
    }
    for (const entry of entries) {
      const path = `${dir}/${entry.name}`;
      if (SKIP.test(entry.name)) continue;
      if (entry.isDirectory) await this.#loadDir(path);
      else if (entry.isFile && MODULE.test(entry.name)) await this.#loadModule(path);
    }
  }

  async #loadModule(path: string): Promise<void> {
    try {
      // Loaded only when a plugin folder exists: most runs need no Node layer at all.
      const { pathToFileURL } = await import("node:url");
      const mod = await import(pathToFileURL(Deno.realPathSync(path)).href);
      if (typeof mod.default !== "function") {
        throw new Error(
          "the module has no default export of the form (stoq) => stoq.plugin({...})",
        );
      }
      const def = mod.default(stoqAPI);
      if (!def || typeof def !== "object" || typeof def.create !== "function") {
        throw new Error("the default export did not return stoq.plugin({...})");
      }
      this.#add(def, path);
    } catch (e) {
      this.#problem(path, formatException(e));
    }
  }

  #problem(path: string, reason: string): void {
    this.problems.push({ path, reason });
    if (!this.quiet) log.warn(`plugin ${path} was not loaded: ${reason}`);
  }
}

/** The names of stoq's built-in plugins. */
export function builtinNames(): Set<string> {
  return new Set(Object.keys(BUILTIN_PLUGINS));
}
