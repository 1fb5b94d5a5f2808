/**
 * `stoq search`: asks a result store plugin (sqlite by default: any connector with `search`) for
 * the scans that match, and prints their stored results.
 */
import { VERDICTS } from "../engine/model.ts";
import type { SearchQuery } from "../engine/plugin.ts";
import { UsageError, UserError } from "../errors.ts";
import { LOG_LEVELS, type LogLevel } from "../log.ts";
import { didYouMean } from "../suggest.ts";
import type { CliArgs } from "./args.ts";
import { writeAll } from "./output.ts";
import { setup } from "./setup.ts";
import { openResultStore } from "./store.ts";
import { type AnyDoc, summarize } from "./view/facts.ts";

/** The flags of `stoq search`, parsed. */
export interface SearchArgs {
  query: SearchQuery;
  db?: string;
  store: string;
  summary: boolean;
  config?: string;
  log_level?: LogLevel;
  log_format?: "text" | "json";
}

/** The flags that filter (the HTTP API's search takes the same, as query parameters). */
export const LIST_FLAGS = [
  "--sha256",
  "--md5",
  "--sha1",
  "--hash",
  "--rule",
  "--type",
  "--filename",
  "--verdict",
];
const VALUE_FLAGS = [
  "--since",
  "--until",
  "--limit",
  "--db",
  "--store",
  "--config",
  "--log-level",
  "--log-format",
];
const BOOL_FLAGS = ["--summary"];

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/**
 * A time for --since/--until as ISO-8601 UTC: an ISO date or time (`2026-11-22`,
 * `2026-11-22T10:00:00Z`), or an age before `now` such as `90s`, `30m`, `24h`, `7d`, `2w`.
 */
export function parseWhen(text: string, now: Date, flag = "--since"): string {
  const rel = /^(\d+(?:\.\d+)?)\s*([smhdw])$/i.exec(text.trim());
  if (rel) {
    return new Date(now.getTime() - Number(rel[1]) * UNITS[rel[2].toLowerCase()] * 1000)
      .toISOString();
  }
  const t = /^\d{4}-\d{2}-\d{2}/.test(text) ? Date.parse(text) : NaN;
  if (Number.isNaN(t)) {
    throw new UsageError(
      `${flag} "${text}" is not a time: give an ISO time (2026-11-22, 2026-11-22T10:00:00Z) ` +
        `or an age (90s, 30m, 24h, 7d, 2w)`,
    );
  }
  return new Date(t).toISOString();
}

/** Parses `stoq search`'s flags (argv after the command name). */
export function parseSearchArgs(argv: string[], now = new Date()): SearchArgs {
  const out: SearchArgs = { query: { limit: 100 }, summary: false, store: "sqlite" };
  const q = out.query;
  for (let i = 0; i < argv.length; i++) {
    let flag = argv[i];
    let value: string | undefined;
    const eq = flag.indexOf("=");
    if (flag.startsWith("--") && eq > 0) {
      value = flag.slice(eq + 1);
      flag = flag.slice(0, eq);
    }
    const take = () => {
      if (value !== undefined) return value;
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${flag} needs a value`);
      return v;
    };
    if (BOOL_FLAGS.includes(flag)) {
      if (value !== undefined) throw new UsageError(`${flag} takes no value`);
      out.summary = true;
    } else if (LIST_FLAGS.includes(flag)) {
      const v = take();
      if (flag === "--hash") {
        const kind = ({ 64: "sha256", 40: "sha1", 32: "md5" } as const)[v.length];
        if (!kind || !/^[0-9a-f]+$/i.test(v)) {
          throw new UsageError(
            `--hash "${v}" is not a sha256, sha1 or md5 (64, 40 or 32 hex characters)`,
          );
        }
        (q[kind] ??= []).push(v);
      } else if (flag === "--verdict") {
        const verdict = v.toLowerCase();
        if (!(VERDICTS as readonly string[]).includes(verdict)) {
          throw new UsageError(`--verdict must be one of ${VERDICTS.join(", ")}, not "${v}"`);
        }
        (q.verdict ??= []).push(verdict);
      } else {
        const key = flag.slice(2) as "sha256" | "md5" | "sha1" | "rule" | "type" | "filename";
        const hexLen = { sha256: 64, sha1: 40, md5: 32 }[key as string];
        if (hexLen && (v.length !== hexLen || !/^[0-9a-f]+$/i.test(v))) {
          throw new UsageError(`${flag} "${v}" is not ${hexLen} hex characters`);
        }
        (q[key] ??= []).push(v);
      }
    } else if (VALUE_FLAGS.includes(flag)) {
      const v = take();
      switch (flag) {
        case "--since":
        case "--until":
          q[flag.slice(2) as "since" | "until"] = parseWhen(v, now, flag);
          break;
        case "--limit": {
          const n = Number(v);
          if (!Number.isInteger(n) || n < 1) {
            throw new UsageError(`--limit must be a whole number of at least 1, not "${v}"`);
          }
          q.limit = n;
          break;
        }
        case "--db":
          out.db = v;
          break;
        case "--store":
          out.store = v;
          break;
        case "--config":
          out.config = v;
          break;
        case "--log-level": {
          const l = v.toLowerCase() === "warn" ? "warning" : v.toLowerCase();
          if (!(LOG_LEVELS as readonly string[]).includes(l)) {
            throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(", ")}, not "${v}"`);
          }
          out.log_level = l as LogLevel;
          break;
        }
        case "--log-format":
          if (v !== "text" && v !== "json") {
            throw new UsageError(`--log-format must be text or json, not "${v}"`);
          }
          out.log_format = v;
          break;
      }
    } else if (flag.startsWith("-")) {
      throw new UsageError(
        `unknown option ${flag}${
          didYouMean(flag, [...LIST_FLAGS, ...VALUE_FLAGS, ...BOOL_FLAGS])
        } (stoq search --help)`,
      );
    } else {
      throw new UsageError(
        `stoq search takes flags, not "${flag}" (e.g. --hash ${flag}; stoq search --help)`,
      );
    }
  }
  if (q.since && q.until && q.since > q.until) {
    throw new UsageError(`--since (${q.since}) is after --until (${q.until}): nothing can match`);
  }
  return out;
}

/**
 * One line about a stored scan: time, scan id, payloads, errors, root filename, sha256, rules,
 * verdict.
 */
export function summaryLine(result: string): string {
  const s = summarize(JSON.parse(result) as AnyDoc);
  return [
    s.time,
    s.scan_id,
    `${s.payloads} payload(s)`,
    `${s.errors} error(s)`,
    s.filename ?? "-",
    s.sha256 ?? "-",
    s.rules.length ? s.rules.join(",") : "-",
    s.verdict ? `${s.verdict}(${s.score})` : "-",
  ].join("\t");
}

/** `stoq search`; returns the exit status. */
export async function searchCommand(args: CliArgs): Promise<number> {
  const s = parseSearchArgs(args.command_argv ?? []);
  const { config, home, sources } = await setup({
    ...args,
    config: s.config,
    log_level: s.log_level,
    log_format: s.log_format,
  });
  const { host, store, where } = await openResultStore({
    config,
    home,
    sources,
    store: s.store,
    db: s.db,
    readOnly: true,
    command: "search",
  });
  try {
    const search = store.instance.search!;
    const found = await host.invoke(store, (call) => search(s.query, call));
    if (!found.ok) throw new UserError(`stoq search: ${found.error}`);
    if (!found.value.length) {
      Deno.stderr.writeSync(new TextEncoder().encode(`stoq: no scans match${where}\n`));
      return 0;
    }
    for (const row of found.value) {
      await writeAll((s.summary ? summaryLine(row.result) : row.result) + "\n");
    }
    return 0;
  } finally {
    await host.closeAll();
  }
}
