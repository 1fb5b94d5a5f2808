/** What every command does first: find $STOQ_HOME, read the configuration, set up logging. */
import { type Config, loadConfig, stoqHome } from "../config.ts";
import { UserError } from "../errors.ts";
import { configureLogging } from "../log.ts";
import { lockPath, type PinnedRef } from "../plugin_store.ts";
import { pluginDirs } from "../stoq.ts";
import type { CliArgs } from "./args.ts";

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Loads the configuration and configures logging; returns what the commands need. Plugins named
 * by `URL#sha256=` in plugin lists are loaded here and the lists rewritten to their names.
 */
export async function setup(
  args: CliArgs,
): Promise<{ config: Config; home: string; dirs: string[]; pinned: PinnedRef[] }> {
  const home = stoqHome();
  configureLogging(args.log_level ?? "info", args.log_format ?? "text");
  const config = await loadConfig(args.config, home);
  const c = config.core;
  try {
    configureLogging(args.log_level ?? c.log_level, args.log_format ?? c.log_syntax, {
      dir: c.log_dir,
      maxBytes: c.log_maxbytes,
      backups: c.log_backup_count,
    });
  } catch (e) {
    throw new UserError(`cannot write logs to log_dir ${c.log_dir}: ${(e as Error).message}`);
  }
  let pinned: PinnedRef[] = [];
  const lockExists = exists(lockPath(home));
  if (lockExists || JSON.stringify([args, c]).includes("://")) {
    // Loaded only when plugins are pinned: most runs need none of it.
    const { anyPins, collectPins } = await import("../plugin_url.ts");
    const a = args as unknown as Record<string, unknown>;
    if (anyPins(a, config, lockExists)) pinned = await collectPins(a, config, home);
  }
  return { config, home, dirs: pluginDirs(config, args.plugin_dirs, home), pinned };
}
