/**
 * Configuration: the `[core]` table (every stoQ v3 `[core]` key plus stoq's limits) and one table
 * per plugin, read from TOML. Precedence: plugin defaults < config file < command line.
 */
import { MAX_RECURSION, MAX_SCAN_THREADS } from "./bounds.ts";
import { parse as parseToml, TomlError } from "smol-toml";
import { z } from "zod";
import defaultConfigText from "../config/default.toml" with { type: "text" };
import { UserError } from "./errors.ts";
import { LOG_LEVELS } from "./log.ts";
import { describeIssues, keysAt } from "./suggest.ts";

const UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  kb: 1e3,
  kib: 1024,
  mb: 1e6,
  mib: 1024 ** 2,
  gb: 1e9,
  gib: 1024 ** 3,
  tb: 1e12,
  tib: 1024 ** 4,
};

/** A byte count: an integer, or a string such as "256 MiB" or "1GB". */
export const byteSize = z.union([
  z.number().int().positive(),
  z.string().transform((s, ctx) => {
    const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(s);
    const unit = m ? UNITS[m[2].toLowerCase()] : undefined;
    if (!m || unit === undefined) {
      ctx.addIssue({
        code: "custom",
        message: `"${s}" is not a size (e.g. 1048576, "64 MiB", "1GB")`,
      });
      return z.NEVER;
    }
    return Math.round(Number(m[1]) * unit);
  }),
]);

const names = z.array(z.string().min(1)).default([]);
const seconds = z.number().positive().max(86400);

/** The `[core]` table. */
export const CoreConfigSchema = z.object({
  plugin_dir_list: z.array(z.string()).optional(),
  providers: names,
  source_archivers: names,
  dest_archivers: names,
  connectors: names,
  decorators: names,
  dispatchers: names,
  always_dispatch: names,
  max_recursion: z.number().int().min(1).max(MAX_RECURSION).default(10),
  max_required_worker_depth: z.number().int().min(0).max(1000).default(10),
  max_queue: z.number().int().min(1).default(100),
  provider_consumers: z.number().int().min(0).default(0),
  scan_threads: z.number().int().min(0).max(MAX_SCAN_THREADS).default(0),
  plugin_timeout: seconds.default(60),
  plugin_timeouts: z.record(z.string(), seconds).default({}),
  max_payload_size: byteSize.default(256 * 1024 ** 2),
  max_payloads: z.number().int().min(1).default(10_000),
  max_extracted_bytes: byteSize.default(1024 ** 3),
  log_level: z.enum([...LOG_LEVELS, ...LOG_LEVELS.map((l) => l.toUpperCase())]).transform((l) =>
    l.toLowerCase() as typeof LOG_LEVELS[number]
  ).default("info"),
  log_syntax: z.enum(["text", "json"]).default("text"),
  log_dir: z.string().default(""),
  log_maxbytes: byteSize.default(1_500_000),
  log_backup_count: z.number().int().min(0).default(5),
  connector_retries: z.number().int().min(0).max(100).default(3),
  connector_retry_delay: seconds.default(1),
  dead_letter_dir: z.string().default(""),
  metrics_listen: z.string().default(""),
  // What plugins loaded by URL may be granted (see core/loading/permissions.ts); nothing by default.
  allow_plugin_net: z.array(z.string()).default([]),
  allow_plugin_read: z.array(z.string()).default([]),
  allow_plugin_write: z.array(z.string()).default([]),
  allow_plugin_run: z.array(z.string()).default([]),
  allow_plugin_env: z.array(z.string()).default([]),
}).strict();
export type CoreConfig = z.output<typeof CoreConfigSchema>;

/** Shortest bearer token `stoq serve` accepts: a guessable token is no protection. */
export const MIN_TOKEN_LENGTH = 16;

/** The `[serve]` table: `stoq serve`'s listener, tokens, result store and scan bound. */
export const ServeConfigSchema = z.object({
  listen: z.string().min(1).default("127.0.0.1:8080"),
  tokens: z.array(
    z.string().min(MIN_TOKEN_LENGTH, `a token has at least ${MIN_TOKEN_LENGTH} characters`),
  ).default([]),
  store: z.string().min(1).default("sqlite"),
  // Scans at once; more are refused with 429. 0: twice the scan threads.
  max_scans: z.number().int().min(0).max(10_000).default(0),
}).strict();
export type ServeConfig = z.output<typeof ServeConfigSchema>;

/** A loaded configuration: validated `[core]` and the raw plugin tables. */
export interface Config {
  core: CoreConfig;
  /** `stoq serve`'s settings (`[serve]`; every key's default when absent). */
  serve?: ServeConfig;
  /** Plugin name → options from the config file (validated later against the plugin's schema). */
  plugins: Record<string, Record<string, unknown>>;
  /** Where it came from: a path, or "built-in defaults". */
  source: string;
}

/** The embedded default configuration's text (also printed by `stoq config --default`). */
export const DEFAULT_CONFIG_TEXT: string = defaultConfigText;

/** Parses and validates TOML text; `source` names it in messages. */
export function parseConfig(text: string, source: string): Config {
  let raw: Record<string, unknown>;
  try {
    raw = parseToml(text) as Record<string, unknown>;
  } catch (e) {
    const msg = e instanceof TomlError ? e.message.split("\n")[0] : String(e);
    const line = e instanceof TomlError ? ` line ${e.line}, column ${e.column}:` : "";
    throw new UserError(`config ${source}:${line} ${msg}`);
  }
  const { core = {}, serve = {}, ...rest } = raw;
  const parsed = {
    core: table(CoreConfigSchema, core, "core"),
    serve: table(ServeConfigSchema, serve, "serve"),
  };
  const plugins: Record<string, Record<string, unknown>> = {};
  for (const [name, table] of Object.entries(rest)) {
    if (typeof table !== "object" || table === null || Array.isArray(table)) {
      throw new UserError(
        `config ${source}: "${name}" must be a table ([${name}]) of options for the plugin ${name}`,
      );
    }
    plugins[name] = table as Record<string, unknown>;
  }
  return { ...parsed, plugins, source };

  /** A stoq table (`[core]`, `[serve]`) checked against its schema. */
  function table<S extends z.ZodObject>(schema: S, value: unknown, name: string): z.output<S> {
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      throw new UserError(`config ${source}: [${name}] must be a table`);
    }
    const out = schema.safeParse(value, { reportInput: true });
    if (!out.success) {
      throw new UserError(
        describeIssues(out.error, `config ${source} [${name}]`, (path) => keysAt(schema, path)),
      );
    }
    return out.data;
  }
}

/** `$STOQ_HOME`, defaulting to `~/.stoq`. It need not exist. */
export function stoqHome(): string {
  const env = Deno.env.get("STOQ_HOME");
  if (env) return env;
  const home = Deno.env.get("HOME") ?? Deno.env.get("USERPROFILE") ?? ".";
  return `${home}/.stoq`;
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw new UserError(`cannot read config ${path}: ${(e as Error).message}`);
  }
}

/**
 * Loads `--config PATH` (which must exist), else `$STOQ_HOME/stoq.toml`, else `./stoq.toml`,
 * else the embedded default pipeline.
 */
export async function loadConfig(explicit: string | undefined, home: string): Promise<Config> {
  if (explicit) {
    const text = await readIfExists(explicit);
    if (text === undefined) {
      throw new UserError(`config file ${explicit} does not exist (given with --config)`, 2);
    }
    return parseConfig(text, explicit);
  }
  for (const path of [`${home}/stoq.toml`, "stoq.toml"]) {
    const text = await readIfExists(path);
    if (text !== undefined) return parseConfig(text, path);
  }
  return parseConfig(DEFAULT_CONFIG_TEXT, "built-in defaults");
}

/** The plugin lists of a run: `[core]` keys, and the fields of the command line that set them. */
export type ListKey =
  | "start_dispatch"
  | "always_dispatch"
  | "dispatchers"
  | "dest_archivers"
  | "source_archivers"
  | "decorators"
  | "connectors"
  | "providers";

/** Every plugin-list field, in the order help lists them. */
export const LIST_KEYS: readonly ListKey[] = [
  "start_dispatch",
  "always_dispatch",
  "dispatchers",
  "dest_archivers",
  "source_archivers",
  "decorators",
  "connectors",
  "providers",
];
