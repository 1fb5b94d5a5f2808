/**
 * Where a run's plugins come from: the built-ins, the plugin folders and the plugins pinned by
 * URL. The commands ask here and get plain data they can hand to the registry (and to scan
 * threads); how pinned plugins are fetched, checked and loaded stays in this layer.
 */
import type { Config } from "../config.ts";
import { getLogger } from "../log.ts";
import { lockPath, type PinnedRef } from "./pins.ts";

/** A run's plugin folders and pinned plugins. */
export interface PluginSources {
  dirs: string[];
  pinned: PinnedRef[];
}

/**
 * The plugin folders: `--plugin-dir`, else `[core] plugin_dir_list`, else `$STOQ_HOME/plugins`.
 * Relative ones are relative to the working directory (pool threads share it).
 */
export function pluginDirs(config: Config, cli: string[] | undefined, home: string): string[] {
  return cli ?? config.core.plugin_dir_list ?? [`${home}/plugins`];
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * The sources of a run. `lists` holds the command line's plugin lists; each `URL#sha256=` entry
 * in them or in `[core]` is loaded now (a bad one is a fatal error) and replaced by the plugin's
 * name, so that the lists name plugins the registry knows.
 */
export async function pluginSources(
  lists: Record<string, unknown>,
  config: Config,
  cliDirs: string[] | undefined,
  home: string,
): Promise<PluginSources> {
  let pinned: PinnedRef[] = [];
  const lockExists = exists(lockPath(home));
  if (lockExists || JSON.stringify([lists, config.core]).includes("://")) {
    // Loaded only when plugins are pinned: most runs need none of it.
    const { anyPins, collectPins } = await import("./url.ts");
    if (anyPins(lists, config, lockExists)) pinned = await collectPins(lists, config, home);
  }
  const dirs = pluginDirs(config, cliDirs, home);
  // The default folder may well not exist; one the user named should.
  const named = cliDirs
    ? "--plugin-dir"
    : config.core.plugin_dir_list
    ? "[core] plugin_dir_list"
    : "";
  if (named) {
    for (const dir of dirs) {
      let why = "";
      try {
        if (!Deno.statSync(dir).isDirectory) why = "not a folder";
      } catch (e) {
        why = e instanceof Deno.errors.NotFound ? "no such folder" : (e as Error).message;
      }
      if (why) getLogger("stoq").warn(`${named} ${dir}: ${why}; no plugins are loaded from it`);
    }
  }
  return { dirs, pinned };
}
