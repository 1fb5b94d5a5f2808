/**
 * Command-line parsing with stoQ v3's flags (spec §5), where list flags take one or more values.
 * Unlike stoQ, a list flag never swallows a file: a token that exists on disk (or `-`) ends the list.
 */
import { MAX_RECURSION, MAX_SCAN_THREADS } from "../bounds.ts";
import type { ListKey } from "../config.ts";
import { UsageError } from "../errors.ts";
import { LOG_LEVELS, type LogFormat, type LogLevel } from "../log.ts";
import { didYouMean } from "../suggest.ts";

export type Command =
  | "scan"
  | "run"
  | "explain"
  | "list"
  | "config"
  | "search"
  | "deadletter"
  | "show"
  | "serve"
  | "plugin"
  | "help"
  | "version"
  /** A command a plugin adds (PluginSpec.commands); its first word is `plugin_command`. */
  | "plugin_command";

/** How results are printed: today's JSON (indented for one input), JSON lines, or a tree. */
export type OutputFormat = "json" | "jsonl" | "tree";
const FORMATS: OutputFormat[] = ["json", "jsonl", "tree"];

/** Everything the command line can say. */
export interface CliArgs {
  command: Command;
  helpFor?: Command;
  paths: string[];
  recursive: boolean;
  start_dispatch?: string[];
  always_dispatch?: string[];
  dispatchers?: string[];
  dest_archivers?: string[];
  source_archivers?: string[];
  decorators?: string[];
  connectors?: string[];
  providers?: string[];
  plugin_dirs?: string[];
  plugin_opts: Record<string, Record<string, string | boolean>>;
  request_source?: string;
  request_extra: Record<string, string | boolean>;
  max_recursion?: number;
  threads?: number;
  /** `[HOST:]PORT` to serve Prometheus metrics on. */
  metrics?: string;
  config?: string;
  log_level?: LogLevel;
  log_format?: LogFormat;
  json: boolean;
  progress?: boolean;
  show_default: boolean;
  /** `stoq plugin add --name N`. */
  plugin_name?: string;
  /** `stoq plugin add/update --yes`: pin without asking. */
  yes?: boolean;
  /** The own flags of `stoq search` and `stoq deadletter`, parsed by their modules. */
  command_argv?: string[];
  /** `--format` of scan, run and show. */
  format?: OutputFormat;
  /** `stoq serve --listen HOST:PORT`. */
  listen?: string;
  /** `stoq serve --token T` (repeatable). */
  tokens?: string[];
  /** `stoq show` and `stoq serve`: the result store plugin, and its file. */
  store?: string;
  db?: string;
  /** The first word of a command a plugin adds (the rest are in `paths`). */
  plugin_command?: string;
}

const LIST_FLAGS: Record<string, ListKey> = {
  "-s": "start_dispatch",
  "--start-dispatch": "start_dispatch",
  "-a": "always_dispatch",
  "--always-dispatch": "always_dispatch",
  "-R": "dispatchers",
  "--dispatchers": "dispatchers",
  "-A": "dest_archivers",
  "--dest-archivers": "dest_archivers",
  "-S": "source_archivers",
  "--source-archivers": "source_archivers",
  "-D": "decorators",
  "--decorators": "decorators",
  "-C": "connectors",
  "--connectors": "connectors",
  "-P": "providers",
  "--providers": "providers",
};

const VALUE_FLAGS = [
  "--max-recursion",
  "--request-source",
  "--config",
  "--config-file",
  "--log-level",
  "--log-format",
  "--plugin-dir",
  "--threads",
  "--metrics",
  "--name",
  "--format",
  "--listen",
  "--token",
  "--store",
  "--db",
] as const;
const BOOL_FLAGS = [
  "-r",
  "--recursive",
  "-h",
  "--help",
  "--json",
  "--progress",
  "--no-progress",
  "--default",
  "--yes",
  "-y",
];
const COMMANDS: Command[] = [
  "scan",
  "run",
  "explain",
  "list",
  "config",
  "search",
  "deadletter",
  "show",
  "serve",
  "plugin",
  "help",
  "version",
];

/** The error for a command that neither stoq nor a plugin has; `more` are plugins' commands. */
export function unknownCommand(word: string, more: string[]): UsageError {
  const known = [
    "scan",
    "run",
    "route explain",
    "list",
    "config",
    "search",
    "show",
    "serve",
    "deadletter",
    "plugin",
    ...more,
  ];
  return new UsageError(
    `unknown command "${word}"${
      didYouMean(word, [...COMMANDS, ...more.map((m) => m.split(" ")[0])])
    }; commands: ${known.join(", ")} (stoq --help)`,
  );
}

function boolish(v: string): string | boolean {
  return /^true$/i.test(v) ? true : /^false$/i.test(v) ? false : v;
}

/** Parses `plugin:option=value` (split on the first `:`, then the first `=`, as stoQ 3.0.1). */
export function parsePluginOpt(token: string, into: CliArgs["plugin_opts"]): void {
  const colon = token.indexOf(":");
  const eq = token.indexOf("=", colon + 1);
  if (colon <= 0 || eq < 0 || eq === colon + 1) {
    throw new UsageError(
      `malformed --plugin-opts value "${token}": expected plugin:option=value, e.g. filedir:recursive=true`,
    );
  }
  const plugin = token.slice(0, colon);
  (into[plugin] ??= {})[token.slice(colon + 1, eq)] = boolish(token.slice(eq + 1));
}

/** Parses `key=value` (split on the first `=`). */
export function parseRequestExtra(token: string, into: CliArgs["request_extra"]): void {
  const eq = token.indexOf("=");
  if (eq <= 0) {
    throw new UsageError(
      `malformed --request-extra value "${token}": expected key=value, e.g. sensor=zeek01`,
    );
  }
  into[token.slice(0, eq)] = boolish(token.slice(eq + 1));
}

function isPathToken(t: string): boolean {
  if (t === "-") return true;
  try {
    Deno.statSync(t);
    return true;
  } catch {
    return false;
  }
}

/** Parses argv (without the program name). Throws UsageError on anything malformed. */
export function parseArgs(argv: string[]): CliArgs {
  const args: CliArgs = {
    command: "help",
    paths: [],
    recursive: false,
    plugin_opts: {},
    request_extra: {},
    json: false,
    show_default: false,
  };
  let i = 0;
  const first = argv[0];
  if (first === "--version" || first === "-V") return { ...args, command: "version" };
  if (first === undefined || first === "-h" || first === "--help") return args;
  // `stoq route explain` is the documented spelling; `stoq explain` is its short form.
  if (first === "route") {
    if (argv[1] !== "explain") {
      throw new UsageError(`stoq route takes the subcommand explain: stoq route explain FILE...`);
    }
    return parseArgs(["explain", ...argv.slice(2)]);
  }
  if (!COMMANDS.includes(first as Command)) {
    // Perhaps a plugin's command (known once the plugins are loaded: core/cli/plugin_command.ts).
    if (!/^[a-z][a-z0-9-]*$/.test(first)) throw unknownCommand(first, []);
    args.command = "plugin_command";
    args.plugin_command = first;
  } else args.command = first as Command;
  i = 1;
  if (args.command === "search" || args.command === "deadletter") {
    const rest = argv.slice(1);
    if (rest.includes("-h") || rest.includes("--help")) {
      return { ...args, command: "help", helpFor: args.command };
    }
    return { ...args, command_argv: rest };
  }
  if (args.command === "help") {
    const topic = argv[1] as Command | undefined;
    if (topic && COMMANDS.includes(topic)) args.helpFor = topic;
    else if (topic && /^[a-z][a-z0-9-]*$/.test(topic)) {
      args.helpFor = "plugin_command";
      args.plugin_command = topic;
    }
    args.paths = argv.slice(2);
    return args;
  }
  let onlyPaths = false;
  while (i < argv.length) {
    let tok = argv[i++];
    if (onlyPaths || tok === "-" || !tok.startsWith("-")) {
      args.paths.push(tok);
      continue;
    }
    if (tok === "--") {
      onlyPaths = true;
      continue;
    }
    let inline: string | undefined;
    const eq = tok.indexOf("=");
    if (tok.startsWith("--") && eq > 0) {
      inline = tok.slice(eq + 1);
      tok = tok.slice(0, eq);
    }
    const take = (): string => {
      if (inline !== undefined) return inline;
      const v = argv[i];
      // A negative number is a (wrong) value, not the next flag: say what is wrong with it.
      if (v === undefined || (v.startsWith("-") && v !== "-" && !/^-\d/.test(v))) {
        throw new UsageError(`${tok} needs a value`);
      }
      i++;
      return v;
    };
    if (tok in LIST_FLAGS) {
      const key = LIST_FLAGS[tok];
      const values: string[] = inline !== undefined ? [inline] : [];
      while (
        inline === undefined && i < argv.length && !argv[i].startsWith("-") && !isPathToken(argv[i])
      ) {
        values.push(argv[i++]);
      }
      const names = values.flatMap((v) => v.split(",")).map((v) => v.trim()).filter(Boolean);
      if (names.length === 0) throw new UsageError(`${tok} needs one or more plugin names`);
      args[key] = [...(args[key] ?? []), ...names];
      continue;
    }
    if (tok === "--plugin-opts" || tok === "--request-extra") {
      const values: string[] = inline !== undefined ? [inline] : [];
      while (
        inline === undefined && i < argv.length && !argv[i].startsWith("-") && !isPathToken(argv[i])
      ) {
        values.push(argv[i++]);
      }
      if (values.length === 0) throw new UsageError(`${tok} needs one or more values`);
      for (const v of values) {
        if (tok === "--plugin-opts") parsePluginOpt(v, args.plugin_opts);
        else parseRequestExtra(v, args.request_extra);
      }
      continue;
    }
    if ((VALUE_FLAGS as readonly string[]).includes(tok)) {
      const v = take();
      switch (tok) {
        case "--max-recursion":
        case "--threads": {
          const n = Number(v);
          // The same bounds as [core] scan_threads and max_recursion.
          const max = tok === "--threads" ? MAX_SCAN_THREADS : MAX_RECURSION;
          if (!Number.isInteger(n) || n < 1 || n > max) {
            throw new UsageError(
              `${tok} must be a whole number from 1 to ${max}, not "${v}"` +
                (tok === "--threads" && n > max
                  ? " (each scan thread loads its own plugins and rules; one per core is the default)"
                  : ""),
            );
          }
          if (tok === "--threads") args.threads = n;
          else args.max_recursion = n;
          break;
        }
        case "--metrics":
          args.metrics = v;
          break;
        case "--name":
          args.plugin_name = v;
          break;
        case "--format":
          if (!(FORMATS as string[]).includes(v)) {
            throw new UsageError(`--format must be one of ${FORMATS.join(", ")}, not "${v}"`);
          }
          args.format = v as OutputFormat;
          break;
        case "--listen":
          args.listen = v;
          break;
        case "--token":
          args.tokens = [...(args.tokens ?? []), v];
          break;
        case "--store":
          args.store = v;
          break;
        case "--db":
          args.db = v;
          break;
        case "--request-source":
          args.request_source = v;
          break;
        case "--config":
        case "--config-file":
          args.config = v;
          break;
        case "--plugin-dir":
          args.plugin_dirs = [...(args.plugin_dirs ?? []), ...v.split(",").filter(Boolean)];
          break;
        case "--log-level": {
          const l = v.toLowerCase() === "warn" ? "warning" : v.toLowerCase();
          if (!(LOG_LEVELS as readonly string[]).includes(l)) {
            throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(", ")}, not "${v}"`);
          }
          args.log_level = l as LogLevel;
          break;
        }
        case "--log-format":
          if (v !== "text" && v !== "json") {
            throw new UsageError(`--log-format must be text or json, not "${v}"`);
          }
          args.log_format = v;
          break;
      }
      continue;
    }
    if (BOOL_FLAGS.includes(tok)) {
      if (inline !== undefined) throw new UsageError(`${tok} takes no value`);
      switch (tok) {
        case "-r":
        case "--recursive":
          args.recursive = true;
          break;
        case "-h":
        case "--help":
          return { ...args, helpFor: args.command, command: "help" };
        case "--json":
          args.json = true;
          break;
        case "--progress":
          args.progress = true;
          break;
        case "--no-progress":
          args.progress = false;
          break;
        case "--default":
          args.show_default = true;
          break;
        case "--yes":
        case "-y":
          args.yes = true;
          break;
      }
      continue;
    }
    const all = [
      ...Object.keys(LIST_FLAGS),
      ...VALUE_FLAGS,
      ...BOOL_FLAGS,
      "--plugin-opts",
      "--request-extra",
    ];
    throw new UsageError(
      `unknown option ${tok}${didYouMean(tok, all)} (stoq ${args.command} --help)`,
    );
  }
  const only: [keyof CliArgs, string, Command[]][] = [
    ["format", "--format", ["scan", "run", "show"]],
    ["listen", "--listen", ["serve"]],
    ["tokens", "--token", ["serve"]],
    ["store", "--store", ["show", "serve"]],
    ["db", "--db", ["show", "serve"]],
  ];
  for (const [key, flag, commands] of only) {
    if (args[key] !== undefined && !commands.includes(args.command)) {
      throw new UsageError(
        `${flag} belongs to ${
          commands.map((c) => `stoq ${c}`).join(", ")
        }, not stoq ${args.command}`,
      );
    }
  }
  if (args.command === "serve" && args.paths.length) {
    throw new UsageError(
      `stoq serve takes no paths (got "${args.paths[0]}"); files are sent to it over HTTP`,
    );
  }
  if (args.command !== "plugin" && (args.plugin_name !== undefined || args.yes)) {
    throw new UsageError(
      `${args.plugin_name !== undefined ? "--name" : "--yes"} belongs to stoq plugin add/update`,
    );
  }
  if (args.command === "run" && args.paths.length) {
    throw new UsageError(
      `stoq run takes no paths (got "${
        args.paths[0]
      }"); use stoq scan PATH, or -P filedir --plugin-opts filedir:source_dir=PATH`,
    );
  }
  return args;
}

/** Whether `path` names a folder. */
export function isFolder(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}

/**
 * Whether the command scans on pool threads: `serve`, `run`, or a scan with `--threads`, several
 * inputs or a folder.
 * A single input is scanned on the main thread, which starts fastest.
 */
export function usesThreads(args: CliArgs): boolean {
  if (args.command === "serve" || args.command === "run") return true;
  if (args.command !== "scan") return false;
  return args.threads !== undefined || args.paths.length > 1 ||
    (args.paths.length === 1 && !args.source_archivers && isFolder(args.paths[0]));
}
