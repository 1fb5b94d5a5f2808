/** Builds a ready engine from configuration: registry, plugin host, pipeline. */
import type { Config } from "../config.ts";
import { Engine, type Pipeline } from "../engine/engine.ts";
import { UserError } from "../errors.ts";
import { PluginHost, resolveOptions, type Settings } from "../engine/host.ts";
import type { PluginSources } from "../loading/sources.ts";
import { Registry } from "../loading/registry.ts";
import { serveSharedParts, threadSharedLink } from "./shared.ts";

/** What it takes to build a stoq engine; plain data, so it can be sent to a pool thread. */
export interface StoqInit {
  config: Config;
  cliOptions: Settings["cliOptions"];
  home: string;
  /** The plugin folders and the plugins pinned by URL (already fetched and cached). */
  sources: PluginSources;
  pipeline: Pipeline;
  /** Workers for the initial payloads (`-s`), loaded and checked up front like the pipeline's. */
  start_dispatch?: string[];
  /** Whether threads count metrics (`--metrics`). */
  metrics?: boolean;
}

/** A built engine and what it was built from. */
export interface Stoq {
  registry: Registry;
  host: PluginHost;
  engine: Engine;
  init: StoqInit;
}

/**
 * Builds registry, host and engine; checks every plugin table and the options given on the CLI.
 * `quiet`: do not log what the plugin folders hold (pool threads; the main thread has).
 */
export async function createStoq(init: StoqInit, quiet = false): Promise<Stoq> {
  const registry = await Registry.load(
    init.sources,
    { home: init.home, core: init.config.core },
    quiet,
  );
  const settings: Settings = {
    core: init.config.core,
    fileOptions: init.config.plugins,
    configSource: init.config.source,
    cliOptions: init.cliOptions,
    home: init.home,
  };
  const host = new PluginHost(registry, settings);
  // Plugins' shared parts live in the main thread; a scan thread's instances call them there.
  const g = globalThis as { WorkerGlobalScope?: new () => unknown };
  if (typeof g.WorkerGlobalScope === "function" && globalThis instanceof g.WorkerGlobalScope) {
    host.sharedLink = threadSharedLink;
  } else serveSharedParts(host);
  await registry.need([...Object.keys(init.config.plugins), ...Object.keys(init.cliOptions)]);
  for (const [name, opts] of Object.entries(init.config.plugins)) {
    const reg = registry.get(name);
    if (!reg) {
      throw new UserError(
        `config ${init.config.source}: [${name}] names no plugin${registry.hint(name)}`,
      );
    }
    resolveOptions(reg.definition, opts, init.cliOptions[name], init.config.source);
  }
  for (const [name, opts] of Object.entries(init.cliOptions)) {
    const reg = registry.get(name);
    if (!reg) throw new UserError(`--plugin-opts: no plugin "${name}"${registry.hint(name)}`, 2);
    resolveOptions(reg.definition, init.config.plugins[name], opts, init.config.source);
  }
  return { registry, host, engine: new Engine(host, init.pipeline), init };
}
