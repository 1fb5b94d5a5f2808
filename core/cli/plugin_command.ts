/**
 * Commands that plugins add to the command line (PluginSpec.commands), e.g. `stoq rules check`:
 * found by their words once the plugins are loaded, run with the plugin's options (defaults <
 * config file < --plugin-opts).
 */
import { resolveOptions } from "../engine/host.ts";
import type { PluginCommand, PluginDefinition } from "../engine/plugin.ts";
import { UsageError } from "../errors.ts";
import { getLogger } from "../log.ts";
import { Registry } from "../loading/registry.ts";
import { type CliArgs, unknownCommand } from "./args.ts";
import { writeAll } from "./output.ts";
import { setup } from "./setup.ts";

interface Found {
  def: PluginDefinition;
  command: PluginCommand;
  /** The words after the command's name. */
  rest: string[];
}

/** Every plugin command of `registry`, with its plugin. */
export function pluginCommands(
  registry: Registry,
): { def: PluginDefinition; command: PluginCommand }[] {
  return registry.all().flatMap(({ definition: def }) =>
    (def.commands ?? []).map((command) => ({ def, command }))
  );
}

/** The command whose name the words start with (the longest such name). */
function find(registry: Registry, words: string[]): Found | undefined {
  let best: Found | undefined;
  for (const { def, command } of pluginCommands(registry)) {
    const name = command.name.split(" ");
    if (
      name.every((w, i) => words[i] === w) &&
      name.length > (best?.command.name.split(" ").length ?? 0)
    ) {
      best = { def, command, rest: words.slice(name.length) };
    }
  }
  return best;
}

/** The configuration and the plugins it names, as every plugin command needs them. */
async function loadPlugins(args: CliArgs) {
  const { config, home, sources } = await setup(args);
  const registry = await Registry.load(sources, { home, core: config.core }, true);
  // Which plugin has a command is in its definition: every plugin is loaded.
  await registry.needAll();
  return { config, home, registry };
}

async function load(args: CliArgs) {
  const { config, home, registry } = await loadPlugins(args);
  const words = [args.plugin_command!, ...args.paths];
  const found = find(registry, words);
  if (!found) {
    const names = pluginCommands(registry).map((c) => c.command.name);
    // A first word that begins a plugin command: say which subcommands it has.
    const same = names.filter((n) => n.split(" ")[0] === words[0]);
    if (same.length) {
      throw new UsageError(
        `stoq ${words[0]} takes the subcommand${same.length > 1 ? "s" : ""} ${
          same.map((n) => n.split(" ").slice(1).join(" ")).join(", ")
        }: ${same.map((n) => `stoq ${n}`).join("; ")} (stoq ${words[0]} --help)`,
      );
    }
    throw unknownCommand(words[0], names);
  }
  return { ...found, config, home };
}

/** Runs a plugin's command; returns the exit status. */
export async function pluginCommand(args: CliArgs): Promise<number> {
  const { def, command, rest, config, home } = await load(args);
  const options = resolveOptions(
    def,
    config.plugins[def.name],
    args.plugin_opts[def.name],
    config.source,
  );
  return await command.run({ words: rest, json: args.json }, options, {
    name: def.name,
    log: getLogger(`stoq.${def.name}`),
    home,
    write: writeAll,
  });
}

/** `stoq <plugin command> --help`, `stoq help <words>`: the help of each command they begin. */
export async function pluginCommandHelp(args: CliArgs): Promise<number> {
  const { registry } = await loadPlugins(args);
  const words = [args.plugin_command!, ...args.paths];
  const all = pluginCommands(registry);
  const exact = find(registry, words);
  const shown = exact
    ? [exact]
    : all.filter((c) =>
      c.command.name.split(" ").every((w, i) => i >= words.length || words[i] === w)
    );
  if (!shown.length) throw unknownCommand(words[0], all.map((c) => c.command.name));
  await writeAll(
    shown.map((c) => `${c.command.help}\n\n(a command of the ${c.def.name} plugin)\n`).join("\n"),
  );
  return 0;
}

/** The lines `stoq --help` adds for plugins' commands (built-in plugins and plugin folders). */
export async function pluginCommandLines(args: CliArgs): Promise<string> {
  let registry: Registry;
  try {
    ({ registry } = await loadPlugins(args));
  } catch {
    return "";
  }
  const cmds = pluginCommands(registry);
  if (!cmds.length) return "";
  const width = Math.max(...cmds.map((c) => c.command.name.length), 12) + 2;
  return `\nCommands that plugins add:\n${
    cmds.map((c) => `  ${c.command.name.padEnd(width)} ${c.command.summary} (${c.def.name})`).join(
      "\n",
    )
  }\n`;
}
