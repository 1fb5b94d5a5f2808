/**
 * Connector that keeps every result document in PostgreSQL as JSONB, beside indexed columns for
 * the facts people search by (sha256, md5, file type, YARA rule, file name, time). The table is
 * created on first use; saving a scan again (a retry) replaces its row.
 */
import type { StoqAPI, StoqResponse } from "../core/engine/plugin.ts";
import { fromEnv } from "./lib/store/http.ts";
import { resultFields } from "./lib/store/result_fields.ts";

// Index names are `<table>_<column>_idx` and PostgreSQL cuts names at 63 bytes: keep room.
const NAME = "[A-Za-z_][A-Za-z0-9_]{0,47}";
const TABLE = new RegExp(`^(${NAME}\\.)?${NAME}$`);
const INDEXED = ["sha256", "md5", "mimetypes", "yara_rules", "filenames"] as const;

type Sql = import("postgres").Sql;

export default (stoq: StoqAPI) =>
  stoq.plugin({
    name: "postgres",
    version: "1.0.0",
    description: "Saves results to a PostgreSQL table (JSONB with indexed hashes, types, rules)",
    classes: ["connector"],
    options: {
      url: stoq.z.string().regex(/^postgres(ql)?:\/\//, "must start with postgres://").optional(),
      host: stoq.z.string().min(1).optional(),
      port: stoq.z.number().int().min(1).max(65535).optional(),
      user: stoq.z.string().min(1).optional(),
      password: stoq.z.string().optional(),
      database: stoq.z.string().min(1).optional(),
      ssl: stoq.z.enum(["disable", "prefer", "require", "verify-full"]).optional(),
      table: stoq.z.string().regex(TABLE, "must be NAME or SCHEMA.NAME (letters, digits, _)")
        .default("stoq_results"),
      max_connections: stoq.z.number().int().min(1).max(100).default(4),
      connect_timeout: stoq.z.number().positive().default(10),
    },
    create(opts, ctx) {
      const table = opts.table.split(".").map((p) => `"${p}"`).join(".");
      const bare = opts.table.split(".").pop()!;
      const schema = opts.table.includes(".") ? opts.table.split(".")[0] : null;
      const url = fromEnv(opts.url, "STOQ_POSTGRES_URL");
      const parsed = url ? parseUrl(url) : undefined;
      const urlDb = parsed ? decodeURIComponent(parsed.pathname.slice(1)) : "";
      // Like psql, except that the database defaults to `stoq` rather than the user's name.
      const config = {
        host: opts.host,
        port: opts.port,
        user: opts.user,
        password: fromEnv(opts.password, "STOQ_POSTGRES_PASSWORD"),
        database: opts.database ?? (urlDb || Deno.env.get("PGDATABASE") || "stoq"),
        ssl: opts.ssl === "disable" ? false : opts.ssl,
        max: opts.max_connections,
        connect_timeout: opts.connect_timeout,
        onnotice: () => {},
      };
      const where = describeTarget(parsed, config);
      let sql: Sql | undefined;
      let ready: Promise<void> | undefined;

      const connect = async (): Promise<Sql> => {
        if (!sql) {
          const { default: postgres } = await import("postgres");
          const defined = Object.fromEntries(
            Object.entries(config).filter(([, v]) => v !== undefined),
          );
          sql = url ? postgres(url, defined) : postgres(defined);
        }
        return sql;
      };

      // Several stoq processes may start on an empty database at once, and CREATE ... IF NOT
      // EXISTS races with itself; a transaction-scoped advisory lock makes them take turns.
      const createTable = async (db: Sql) => {
        await db.begin(async (tx) => {
          await tx.unsafe("SELECT pg_advisory_xact_lock(hashtext($1))", [`stoq:${opts.table}`]);
          if (schema) await tx.unsafe(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
          await tx.unsafe(`CREATE TABLE IF NOT EXISTS ${table} (
            scan_id text PRIMARY KEY,
            time timestamptz NOT NULL,
            saved_at timestamptz NOT NULL DEFAULT now(),
            sha256 text[] NOT NULL,
            md5 text[] NOT NULL,
            mimetypes text[] NOT NULL,
            yara_rules text[] NOT NULL,
            filenames text[] NOT NULL,
            errors integer NOT NULL,
            result jsonb NOT NULL)`);
          await tx.unsafe(`CREATE INDEX IF NOT EXISTS "${bare}_time_idx" ON ${table} (time)`);
          for (const col of INDEXED) {
            await tx.unsafe(
              `CREATE INDEX IF NOT EXISTS "${bare}_${col}_idx" ON ${table} USING gin (${col})`,
            );
          }
        });
      };

      const ensureTable = (db: Sql) => {
        ready ??= createTable(db).catch((e) => {
          ready = undefined; // try again on the next save
          throw e;
        });
        return ready;
      };

      return {
        async save(response: StoqResponse) {
          try {
            const db = await connect();
            await ensureTable(db);
            const f = resultFields(response);
            await db.unsafe(
              `INSERT INTO ${table}
                 (scan_id, time, sha256, md5, mimetypes, yara_rules, filenames, errors, result)
               VALUES ($1, $2::timestamptz, $3, $4, $5, $6, $7, $8, $9::text::jsonb)
               ON CONFLICT (scan_id) DO UPDATE SET time = EXCLUDED.time,
                 saved_at = now(), sha256 = EXCLUDED.sha256, md5 = EXCLUDED.md5,
                 mimetypes = EXCLUDED.mimetypes, yara_rules = EXCLUDED.yara_rules,
                 filenames = EXCLUDED.filenames, errors = EXCLUDED.errors,
                 result = EXCLUDED.result`,
              [
                response.scan_id,
                response.time,
                f.sha256.map(noNul),
                f.md5.map(noNul),
                f.mimetypes.map(noNul),
                f.yara_rules.map(noNul),
                f.filenames.map(noNul),
                response.errors.length,
                jsonbText(response),
              ],
            );
          } catch (e) {
            const err = e as Error & { code?: string };
            const code = err.code && /^[0-9A-Z]{5}$/.test(err.code)
              ? ` [SQLSTATE ${err.code}]`
              : "";
            throw new Error(
              `postgres: cannot save scan ${response.scan_id} to ${opts.table} on ${where}: ` +
                `${err.message}${code}`,
            );
          }
        },
        async close() {
          if (!sql) return;
          const db = sql;
          sql = undefined;
          await db.end({ timeout: 5 }).catch((e: Error) =>
            ctx.log.warn(`postgres: closing the connections failed: ${e.message}`)
          );
        },
      };
    },
  });

/**
 * JSON text of `doc` that PostgreSQL's jsonb accepts: jsonb cannot hold U+0000, so each NUL
 * (in a key or a value) becomes U+FFFD. Every other character is kept.
 */
export function jsonbText(doc: unknown): string {
  // Match whole escape sequences so that an escaped backslash before "u0000" is left alone.
  return JSON.stringify(doc).replace(
    /\\(?:u[0-9a-fA-F]{4}|.)/g,
    (m) => m === "\\u0000" ? "\\ufffd" : m,
  );
}

function noNul(s: string): string {
  return s.replaceAll("\0", "\ufffd");
}

/** The connection URL, parsed; an error never repeats it, since it may hold a password. */
function parseUrl(url: string): URL {
  try {
    return new URL(url);
  } catch {
    throw new Error("postgres: url (or STOQ_POSTGRES_URL) is not a valid postgres:// URL");
  }
}

/** `host:port/database` for messages; never the password. */
function describeTarget(
  u: URL | undefined,
  c: { host?: string; port?: number; database: string },
): string {
  const host = c.host ?? (u?.hostname || Deno.env.get("PGHOST") || "localhost");
  const port = c.port ?? (u?.port || Deno.env.get("PGPORT") || 5432);
  return `${host}:${port}/${c.database}`;
}
