/**
 * The SQLite result store, shared by the `sqlite` connector (which writes it) and `stoq search`
 * (which reads it): schema and its versions, the index rows taken from a result, and the search
 * query. node:sqlite is loaded on first use, so importing this module costs nothing.
 */
import type { DatabaseSync, SQLInputValue, StatementSync } from "node:sqlite";
import type { SearchQuery, StoqResponse, StoredScan } from "../../../core/engine/plugin.ts";
import { payloadNames } from "./result_fields.ts";

/** The schema version this code writes (kept in `PRAGMA user_version`). */
export const SCHEMA_VERSION = 3;

// One entry per schema version; a store at version N gets the entries after N, in one
// transaction. Never edit a released entry: add the next one.
export const MIGRATIONS: readonly string[] = [
  `CREATE TABLE scans (
     scan_id  TEXT PRIMARY KEY,
     time     TEXT NOT NULL,   -- the result's time, UTC ISO-8601 with milliseconds
     saved_at TEXT NOT NULL,
     source   TEXT,            -- request_meta.source
     payloads INTEGER NOT NULL,
     errors   INTEGER NOT NULL,
     result   TEXT NOT NULL    -- the whole result document, as JSON
   );
   CREATE INDEX scans_time ON scans(time);
   CREATE TABLE payloads (
     scan_id    TEXT NOT NULL REFERENCES scans(scan_id) ON DELETE CASCADE,
     idx        INTEGER NOT NULL,  -- position in the result's "results"
     payload_id TEXT NOT NULL,
     size       INTEGER,
     filename   TEXT COLLATE NOCASE,
     mimetype   TEXT COLLATE NOCASE,
     md5        TEXT,
     sha1       TEXT,
     sha256     TEXT,
     PRIMARY KEY (scan_id, idx)
   );
   CREATE INDEX payloads_sha256 ON payloads(sha256);
   CREATE INDEX payloads_md5 ON payloads(md5);
   CREATE INDEX payloads_sha1 ON payloads(sha1);
   CREATE INDEX payloads_mimetype ON payloads(mimetype);
   CREATE INDEX payloads_filename ON payloads(filename);
   CREATE TABLE rules (
     scan_id   TEXT NOT NULL REFERENCES scans(scan_id) ON DELETE CASCADE,
     idx       INTEGER NOT NULL,
     rule      TEXT NOT NULL,
     namespace TEXT
   );
   CREATE INDEX rules_rule ON rules(rule);
   CREATE INDEX rules_scan ON rules(scan_id);`,
  // Version 2: every name of a payload (the same content extracted under several names keeps
  // them all in extra_data.filenames), searched by --filename.
  `CREATE TABLE names (
     scan_id TEXT NOT NULL REFERENCES scans(scan_id) ON DELETE CASCADE,
     idx     INTEGER NOT NULL,
     name    TEXT NOT NULL COLLATE NOCASE
   );
   CREATE INDEX names_name ON names(name);
   CREATE INDEX names_scan ON names(scan_id);
   INSERT INTO names (scan_id, idx, name)
     SELECT scan_id, idx, filename FROM payloads WHERE filename IS NOT NULL;`,
  // Version 3: the verdict decorator's verdict and score, searched by --verdict; stored results
  // are read for theirs (a result without a verdict keeps NULL).
  `ALTER TABLE scans ADD COLUMN verdict TEXT;
   ALTER TABLE scans ADD COLUMN score REAL;
   CREATE INDEX scans_verdict ON scans(verdict, time);
   UPDATE scans SET
     verdict = CASE json_extract(result, '$.decorators.verdict.verdict')
       WHEN 'clean' THEN 'clean' WHEN 'suspicious' THEN 'suspicious'
       WHEN 'malicious' THEN 'malicious' WHEN 'unknown' THEN 'unknown' END,
     score = CASE json_type(result, '$.decorators.verdict.score')
       WHEN 'integer' THEN json_extract(result, '$.decorators.verdict.score')
       WHEN 'real' THEN json_extract(result, '$.decorators.verdict.score') END
   WHERE json_valid(result);`,
];

/** How hard SQLite makes a commit durable: `full` survives power loss, `normal` a crash. */
export type Synchronous = "normal" | "full";

/** Where the store is: `path` (relative to `cwd`), or `$STOQ_HOME/stoq.sqlite` when empty. */
export function storePath(path: string, home: string, cwd: string): string {
  if (!path) return `${home.replace(/\/+$/, "")}/stoq.sqlite`;
  return path.startsWith("/") ? path : `${cwd.replace(/\/+$/, "")}/${path}`;
}

/** The rows a result adds to the index tables. */
export interface IndexRows {
  payloads: {
    idx: number;
    payload_id: string;
    size: number | null;
    filename: string | null;
    /** Every name of the payload, `filename` first. */
    names: string[];
    mimetype: string | null;
    md5: string | null;
    sha1: string | null;
    sha256: string | null;
  }[];
  rules: { idx: number; rule: string; namespace: string | null }[];
  /** The verdict decorator's verdict and score, when the result has them. */
  verdict: string | null;
  score: number | null;
}

const VERDICT_NAMES = new Set(["clean", "suspicious", "malicious", "unknown"]);

/** `decorators.verdict`'s verdict and score, when they are there and well-formed. */
export function verdictOf(
  response: StoqResponse,
): { verdict: string | null; score: number | null } {
  const v = response.decorators?.verdict as { verdict?: unknown; score?: unknown } | undefined;
  const verdict = typeof v?.verdict === "string" && VERDICT_NAMES.has(v.verdict) ? v.verdict : null;
  const score = typeof v?.score === "number" && Number.isFinite(v.score) ? v.score : null;
  return { verdict, score };
}

const str = (v: unknown): string | null => typeof v === "string" && v !== "" ? v : null;
// Hex digests and MIME types compare without case.
const lower = (v: unknown): string | null => str(v)?.toLowerCase() ?? null;

/**
 * What gets indexed: per payload its filename, MIME type (`mimetype` worker) and hashes (`hash`
 * worker); and every YARA rule the `yara` worker matched.
 */
export function indexRows(response: StoqResponse): IndexRows {
  const rows: IndexRows = { payloads: [], rules: [], ...verdictOf(response) };
  response.results.forEach((p, idx) => {
    const w = (p.workers ?? {}) as Record<string, Record<string, unknown> | undefined>;
    const hash = w.hash ?? {};
    rows.payloads.push({
      idx,
      payload_id: p.payload_id,
      size: typeof p.size === "number" ? p.size : null,
      filename: str(p.payload_meta?.extra_data?.filename),
      names: payloadNames(p.payload_meta?.extra_data),
      mimetype: lower(w.mimetype?.mimetype),
      md5: lower(hash.md5),
      sha1: lower(hash.sha1),
      sha256: lower(hash.sha256),
    });
    const matches = w.yara?.matches;
    if (!Array.isArray(matches)) return;
    for (const m of matches as (Record<string, unknown> | null)[]) {
      const rule = str(m?.rule);
      if (rule) rows.rules.push({ idx, rule, namespace: str(m?.namespace) });
    }
  });
  return rows;
}

/** An open store. */
export class Store {
  readonly #db: DatabaseSync;
  #stmts?: Record<
    "scan" | "payload" | "rule" | "name" | "delPayloads" | "delRules" | "delNames",
    StatementSync
  >;

  constructor(db: DatabaseSync, readonly path: string) {
    this.#db = db;
  }

  /** The open database, for queries. */
  get db(): DatabaseSync {
    return this.#db;
  }

  /**
   * Saves one result and its index rows in one transaction. Saving a scan id again replaces it,
   * so a result delivered twice (at-least-once) is stored once.
   */
  save(response: StoqResponse): void {
    const s = this.#stmts ??= {
      scan: this.#db.prepare(
        `INSERT OR REPLACE INTO scans
           (scan_id, time, saved_at, source, payloads, errors, result, verdict, score)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      payload: this.#db.prepare(
        `INSERT INTO payloads (scan_id, idx, payload_id, size, filename, mimetype, md5, sha1, sha256)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      rule: this.#db.prepare(
        `INSERT INTO rules (scan_id, idx, rule, namespace) VALUES (?, ?, ?, ?)`,
      ),
      name: this.#db.prepare(`INSERT INTO names (scan_id, idx, name) VALUES (?, ?, ?)`),
      delPayloads: this.#db.prepare(`DELETE FROM payloads WHERE scan_id = ?`),
      delRules: this.#db.prepare(`DELETE FROM rules WHERE scan_id = ?`),
      delNames: this.#db.prepare(`DELETE FROM names WHERE scan_id = ?`),
    };
    const id = response.scan_id;
    const rows = indexRows(response);
    const time = new Date(response.time);
    const json = JSON.stringify(response);
    // IMMEDIATE takes the write lock up front: with several writers, waiting (busy_timeout)
    // happens here, not as a failed upgrade halfway through.
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      s.delPayloads.run(id);
      s.delRules.run(id);
      s.delNames.run(id);
      s.scan.run(
        id,
        Number.isNaN(time.getTime()) ? String(response.time) : time.toISOString(),
        new Date().toISOString(),
        str(response.request_meta?.source),
        response.results.length,
        response.errors.length,
        json,
        rows.verdict,
        rows.score,
      );
      for (const p of rows.payloads) {
        s.payload.run(
          id,
          p.idx,
          p.payload_id,
          p.size,
          p.filename,
          p.mimetype,
          p.md5,
          p.sha1,
          p.sha256,
        );
      }
      for (const p of rows.payloads) for (const n of p.names) s.name.run(id, p.idx, n);
      for (const r of rows.rules) s.rule.run(id, r.idx, r.rule, r.namespace);
      this.#db.exec("COMMIT");
    } catch (e) {
      try {
        this.#db.exec("ROLLBACK");
      } catch { /* the transaction is already gone */ }
      throw e;
    }
  }

  /** Closes the database. */
  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }
}

/**
 * Opens the store at `path` for writing, creating the file, its folder and the schema on first
 * use: WAL mode (readers never block the writer), a busy timeout so several processes can write.
 */
export async function openStore(
  path: string,
  opts: { busyTimeoutMs: number; synchronous: Synchronous },
): Promise<Store> {
  const { DatabaseSync } = await import("node:sqlite");
  const dir = path.slice(0, path.lastIndexOf("/"));
  if (dir) await Deno.mkdir(dir, { recursive: true });
  const db = new DatabaseSync(path, { timeout: opts.busyTimeoutMs });
  try {
    db.exec(`PRAGMA busy_timeout = ${Math.round(opts.busyTimeoutMs)}`);
    db.exec("PRAGMA journal_mode = WAL");
    db.exec(`PRAGMA synchronous = ${opts.synchronous === "full" ? "FULL" : "NORMAL"}`);
    db.exec("PRAGMA foreign_keys = ON");
    migrate(db, path);
  } catch (e) {
    db.close();
    throw e;
  }
  return new Store(db, path);
}

/** Opens an existing store for reading; throws a clear error when it is missing or foreign. */
export async function openStoreForReading(path: string, busyTimeoutMs = 10_000): Promise<Store> {
  try {
    if (!(await Deno.stat(path)).isFile) throw new Error(`${path} is not a file`);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Error(`no result store at ${path} (results get there with -C sqlite)`);
    }
    throw e;
  }
  const { DatabaseSync } = await import("node:sqlite");
  const db = new DatabaseSync(path, { readOnly: true, timeout: busyTimeoutMs });
  try {
    const version = userVersion(db);
    if (version === 0) throw new Error(`${path} is not a stoq result store (no schema)`);
    if (version > SCHEMA_VERSION) {
      throw new Error(
        `${path} has schema version ${version}, newer than this stoq's (${SCHEMA_VERSION}): ` +
          `upgrade stoq`,
      );
    }
  } catch (e) {
    db.close();
    throw e;
  }
  return new Store(db, path);
}

function userVersion(db: DatabaseSync): number {
  return Number((db.prepare("PRAGMA user_version").get() as { user_version: number }).user_version);
}

function migrate(db: DatabaseSync, path: string): void {
  if (userVersion(db) === SCHEMA_VERSION) return;
  // Under the write lock, so two processes starting at once migrate once.
  db.exec("BEGIN IMMEDIATE");
  try {
    const version = userVersion(db);
    if (version > SCHEMA_VERSION) {
      throw new Error(
        `${path} has schema version ${version}, newer than this stoq's (${SCHEMA_VERSION}): ` +
          `upgrade stoq, or give the sqlite connector another path`,
      );
    }
    for (let v = version; v < SCHEMA_VERSION; v++) db.exec(MIGRATIONS[v]);
    db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
    db.exec("COMMIT");
  } catch (e) {
    try {
      db.exec("ROLLBACK");
    } catch { /* nothing to undo */ }
    throw e;
  }
}

/**
 * `*` and `?` globs as a LIKE pattern (case-insensitive, and able to use the NOCASE indexes), or
 * null when the glob has a `[...]` class, which LIKE cannot say.
 */
export function globToLike(glob: string): string | null {
  if (glob.includes("[")) return null;
  return glob.replace(/[\\%_]/g, (c) => `\\${c}`).replace(/\*/g, "%").replace(/\?/g, "_");
}

/** The scans matching `q`, newest first: a scan matches when one of its payloads does. */
export function searchScans(store: Store, q: SearchQuery): StoredScan[] {
  const where: string[] = [];
  const params: SQLInputValue[] = [];
  const inPayloads = (column: string, values: string[] | undefined) => {
    if (!values?.length) return;
    where.push(
      `s.scan_id IN (SELECT scan_id FROM payloads WHERE ${column} IN (${
        values.map(() => "?").join(", ")
      }))`,
    );
    params.push(...values.map((v) => v.toLowerCase()));
  };
  const globIn = (table: string, column: string, globs: string[] | undefined) => {
    if (!globs?.length) return;
    const alts = globs.map((g) => {
      const like = globToLike(g);
      params.push(like ?? g.toLowerCase());
      return like !== null ? `${column} LIKE ? ESCAPE '\\'` : `lower(${column}) GLOB ?`;
    });
    where.push(`s.scan_id IN (SELECT scan_id FROM ${table} WHERE ${alts.join(" OR ")})`);
  };
  inPayloads("sha256", q.sha256);
  inPayloads("md5", q.md5);
  inPayloads("sha1", q.sha1);
  if (q.rule?.length) {
    // Rule names are case-sensitive in YARA; a name with * or ? is a glob.
    const alts = q.rule.map((r) => {
      params.push(r);
      return /[*?[]/.test(r) ? "rule GLOB ?" : "rule = ?";
    });
    where.push(`s.scan_id IN (SELECT scan_id FROM rules WHERE ${alts.join(" OR ")})`);
  }
  globIn("payloads", "mimetype", q.type);
  globIn("names", "name", q.filename);
  if (q.verdict?.length) {
    where.push(`s.verdict IN (${q.verdict.map(() => "?").join(", ")})`);
    params.push(...q.verdict.map((v) => v.toLowerCase()));
  }
  if (q.since) {
    where.push("s.time >= ?");
    params.push(q.since);
  }
  if (q.until) {
    where.push("s.time <= ?");
    params.push(q.until);
  }
  const sql = `SELECT s.scan_id AS scan_id, s.time AS time, s.result AS result FROM scans s
    ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
    ORDER BY s.time DESC, s.scan_id LIMIT ?`;
  params.push(q.limit);
  return store.db.prepare(sql).all(...params) as unknown as StoredScan[];
}

/** One stored scan by its id, or null. */
export function getScan(store: Store, scanId: string): StoredScan | null {
  const row = store.db.prepare(
    "SELECT scan_id, time, result FROM scans WHERE scan_id = ?",
  ).get(scanId);
  return (row as unknown as StoredScan | undefined) ?? null;
}
