/** Builds a ready engine from configuration: registry, plugin host, pipeline. */
import { BUILTIN_PLUGINS } from "../plugins/index.ts";
import type { Config } from "./config.ts";
import { Engine, type Pipeline } from "./engine.ts";
import { UserError } from "./errors.ts";
import { PluginHost, resolveOptions, type Settings } from "./host.ts";
import type { PinnedRef } from "./plugin_store.ts";
import { Registry } from "./registry.ts";

/** What it takes to build a stoq engine; plain data, so it can be sent to a pool thread. */
export interface StoqInit {
  config: Config;
  cliOptions: Settings["cliOptions"];
  home: string;
  pluginDirs: string[];
  pipeline: Pipeline;
  /** Workers for the initial payloads (`-s`), loaded and checked up front like the pipeline's. */
  start_dispatch?: string[];
  /** Plugins pinned by URL (the lock file's and those named by URL), already fetched and cached. */
  pinned?: PinnedRef[];
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
 * The plugin folders: `--plugin-dir`, else `[core] plugin_dir_list`, else `$STOQ_HOME/plugins`.
 * Relative ones are relative to the working directory (pool threads share it).
 */
export function pluginDirs(config: Config, cli: string[] | undefined, home: string): string[] {
  return cli ?? config.core.plugin_dir_list ?? [`${home}/plugins`];
}

/**
 * Builds registry, host and engine; checks every plugin table and the options given on the CLI.
 * `quiet`: do not log what the plugin folders hold (pool threads; the main thread has).
 */
export async function createStoq(init: StoqInit, quiet = false): Promise<Stoq> {
  const registry = await Registry.create(BUILTIN_PLUGINS, init.pluginDirs, quiet, {
    refs: init.pinned ?? [],
    home: init.home,
    core: init.config.core,
  });
  const settings: Settings = {
    core: init.config.core,
    fileOptions: init.config.plugins,
    configSource: init.config.source,
    cliOptions: init.cliOptions,
    home: init.home,
  };
  const host = new PluginHost(registry, settings);
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
