/** What every command does first: find $STOQ_HOME, read the configuration, set up logging. */
import { type Config, loadConfig, stoqHome } from "../config.ts";
import { UserError } from "../errors.ts";
import { configureLogging } from "../log.ts";
import { type PluginSources, pluginSources } from "../loading/sources.ts";
import type { CliArgs } from "./args.ts";

/**
 * Loads the configuration and configures logging; returns what the commands need. Plugins named
 * by `URL#sha256=` in plugin lists are loaded here and the lists rewritten to their names.
 */
export async function setup(
  args: CliArgs,
): Promise<{ config: Config; home: string; sources: PluginSources }> {
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
  const lists = args as unknown as Record<string, unknown>;
  return { config, home, sources: await pluginSources(lists, config, args.plugin_dirs, home) };
}
