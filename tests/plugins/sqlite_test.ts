/**
 * The `sqlite` connector: the whole result kept with its index rows, a versioned schema made on
 * first use, WAL mode, idempotent re-saves, and several stoq processes writing one store at once
 * (also while another connection holds the write lock).
 */
import { deepEqual, equal, match, ok, rejects } from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import type { StoqResponse } from "../../core/engine/plugin.ts";
import sqlite from "../../plugins/sqlite.ts";
import { MIGRATIONS, openStore, SCHEMA_VERSION } from "../../plugins/lib/store/sqlite.ts";
import { parseDoc, runStoq, show, sums, writeText } from "../cli_helpers.ts";
import { instantiate, tempDir } from "../helpers.ts";

const EICAR = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

function rows(db: DatabaseSync, sql: string, ...params: (string | number)[]) {
  return db.prepare(sql).all(...params).map((r) => ({ ...r }));
}

Deno.test("sqlite: a scan's whole result and its index rows land in $STOQ_HOME/stoq.sqlite", async () => {
  const home = join(await tempDir(), "not-yet"); // created on first use
  const dir = await tempDir();
  const eicar = await writeText(dir, "eicar.com", EICAR);
  const results = join(dir, "results");
  const r = await runStoq(
    ["scan", "-C", "sqlite", "filedir", "--plugin-opts", `filedir:results_dir=${results}`, eicar],
    { home },
  );
  equal(r.code, 0, show(r));
  const [file] = [...Deno.readDirSync(results)].map((e) => join(results, e.name));
  const saved = parseDoc(await Deno.readTextFile(file));

  const db = new DatabaseSync(join(home, "stoq.sqlite"), { readOnly: true });
  try {
    equal(rows(db, "PRAGMA user_version")[0].user_version, SCHEMA_VERSION);
    equal(rows(db, "PRAGMA journal_mode")[0].journal_mode, "wal");
    const scans = rows(db, "SELECT * FROM scans");
    equal(scans.length, 1);
    equal(scans[0].scan_id, saved.scan_id);
    equal(scans[0].time, saved.time);
    equal(scans[0].payloads, 1);
    equal(scans[0].errors, 0);
    // EICAR matches the bundled eicar_test_file rule, a critical finding: 100 points, malicious.
    equal(scans[0].verdict, "malicious");
    equal(scans[0].score, 100);
    deepEqual(JSON.parse(String(scans[0].result)), saved, "the same document filedir wrote");
    const { sha256, md5 } = await sums(eicar);
    deepEqual(
      rows(db, "SELECT idx, filename, mimetype, md5, sha256, size FROM payloads"),
      [{ idx: 0, filename: "eicar.com", mimetype: "text/plain", md5, sha256, size: 68 }],
    );
    deepEqual(rows(db, "SELECT idx, rule, namespace FROM rules"), [
      { idx: 0, rule: "eicar_test_file", namespace: "builtin:stoq.yar" },
    ]);
    deepEqual(rows(db, "SELECT idx, name FROM names"), [{ idx: 0, name: "eicar.com" }]);
    const indexes = rows(db, "SELECT name FROM sqlite_master WHERE type = 'index'")
      .map((r) => String(r.name)).filter((n) => !n.startsWith("sqlite_"));
    deepEqual(indexes.sort(), [
      "names_name",
      "names_scan",
      "payloads_filename",
      "payloads_md5",
      "payloads_mimetype",
      "payloads_sha1",
      "payloads_sha256",
      "rules_rule",
      "rules_scan",
      "scans_time",
      "scans_verdict",
    ]);
  } finally {
    db.close();
  }
});

/** A result document with `n` payloads, the first matching a rule. */
function response(scan_id: string, n: number): StoqResponse {
  return {
    results: Array.from({ length: n }, (_, i) => ({
      size: i,
      payload_id: `p${i}`,
      payload_meta: {
        should_archive: true,
        should_scan: true,
        extra_data: { filename: `f${i}` },
        dispatch_to: [],
      },
      plugins_run: { workers: [], archivers: [] },
      extracted_from: [],
      extracted_by: [],
      workers: {
        hash: { sha256: "AB".repeat(32) },
        ...(i === 0 ? { yara: { matches: [{ rule: "r1", namespace: "ns" }] } } : {}),
      },
      archivers: {},
    })),
    request_meta: { archive_payloads: true, source: "unit", extra_data: {} },
    errors: [],
    time: "2026-11-22T10:00:00.000Z",
    decorators: {},
    scan_id,
  } as StoqResponse;
}

Deno.test("sqlite: saving a scan id again replaces it (at-least-once delivery stores it once)", async () => {
  const path = join(await tempDir(), "s.sqlite");
  const { instance, call } = await instantiate(sqlite, { path, synchronous: "normal" });
  await instance.save!(response("scan-1", 3), call);
  await instance.save!(response("scan-1", 2), call);
  await instance.save!(response("scan-2", 1), call);
  await instance.close!();
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    deepEqual(rows(db, "SELECT scan_id, payloads, source FROM scans ORDER BY scan_id"), [
      { scan_id: "scan-1", payloads: 2, source: "unit" },
      { scan_id: "scan-2", payloads: 1, source: "unit" },
    ]);
    deepEqual(rows(db, "SELECT scan_id, count(*) AS n FROM payloads GROUP BY scan_id"), [
      { scan_id: "scan-1", n: 2 },
      { scan_id: "scan-2", n: 1 },
    ]);
    equal(rows(db, "SELECT count(*) AS n FROM rules WHERE scan_id = 'scan-1'")[0].n, 1);
    equal(rows(db, "SELECT DISTINCT sha256 FROM payloads")[0].sha256, "ab".repeat(32));
  } finally {
    db.close();
  }
});

/** A config that keeps scans cheap, and `n` files in each of `folders` fresh folders. */
async function batches(folders: number, n: number) {
  const root = await tempDir();
  const config = await writeText(root, "stoq.toml", '[core]\nalways_dispatch = ["hash"]\n');
  const dirs: string[] = [];
  for (let d = 0; d < folders; d++) {
    const dir = join(root, `batch${d}`);
    await Deno.mkdir(dir);
    for (let i = 0; i < n; i++) await writeText(dir, `f${i}.txt`, `batch ${d} file ${i}\n`);
    dirs.push(dir);
  }
  return { config, dirs };
}

Deno.test("sqlite: three processes create and fill one store at the same time", async () => {
  const home = await tempDir();
  const { config, dirs } = await batches(3, 25);
  const runs = await Promise.all(
    dirs.map((d) => runStoq(["scan", "--config", config, "-C", "sqlite", d], { home })),
  );
  for (const r of runs) equal(r.code, 0, show(r));
  const db = new DatabaseSync(join(home, "stoq.sqlite"), { readOnly: true });
  try {
    equal(rows(db, "SELECT count(*) AS n FROM scans")[0].n, 75);
    equal(rows(db, "SELECT count(DISTINCT sha256) AS n FROM payloads")[0].n, 75);
  } finally {
    db.close();
  }
});

Deno.test("sqlite: a writer waits for another connection's write lock (busy_timeout)", async () => {
  const home = await tempDir();
  const path = join(home, "stoq.sqlite");
  (await openStore(path, { busyTimeoutMs: 1000, synchronous: "normal" })).close();
  const { config, dirs } = await batches(2, 5);
  const holder = new DatabaseSync(path);
  holder.exec("BEGIN IMMEDIATE");
  const started = Date.now();
  const running = dirs.map((d) =>
    runStoq(["scan", "--config", config, "-C", "sqlite", d], { home })
  );
  await new Promise((r) => setTimeout(r, 1500));
  holder.exec("COMMIT");
  const runs = await Promise.all(running);
  for (const r of runs) equal(r.code, 0, show(r));
  ok(Date.now() - started >= 1500);
  equal(rows(holder, "SELECT count(*) AS n FROM scans")[0].n, 10);
  holder.close();
});

Deno.test("sqlite: an unusable path or a newer schema is a clear error at start-up", async () => {
  const dir = await tempDir();
  const file = await writeText(dir, "a-file", "not a folder\n");
  const r = await runStoq(
    ["scan", "-C", "sqlite", "--plugin-opts", `sqlite:path=${file}/stoq.sqlite`, file],
  );
  equal(r.code, 1, show(r));
  match(r.stderr, /sqlite: cannot open the result store .*a-file\/stoq\.sqlite/);
  equal(r.stdout, "");

  const newer = join(dir, "newer.sqlite");
  const db = new DatabaseSync(newer);
  db.exec(`PRAGMA user_version = ${SCHEMA_VERSION + 1}`);
  db.close();
  await rejects(
    instantiate(sqlite, { path: newer }),
    new RegExp(
      `schema version ${SCHEMA_VERSION + 1}, newer than this stoq.s \\(${SCHEMA_VERSION}\\)`,
    ),
  );
});

Deno.test("sqlite: a store of schema version 1 is migrated, its filenames searchable as names", async () => {
  const dir = await tempDir();
  const path = join(dir, "v1.sqlite");
  const v1 = new DatabaseSync(path);
  v1.exec(MIGRATIONS[0]);
  v1.exec("PRAGMA user_version = 1");
  v1.exec(`INSERT INTO scans VALUES ('s1', '2026-01-01T00:00:00.000Z', '', NULL, 1, 0, '{}')`);
  v1.exec(
    `INSERT INTO payloads (scan_id, idx, payload_id, filename) VALUES ('s1', 0, 'p', 'Old.ZIP')`,
  );
  v1.close();
  const store = await openStore(path, { busyTimeoutMs: 1000, synchronous: "full" });
  deepEqual(rows(store.db, "SELECT scan_id, idx, name FROM names"), [
    { scan_id: "s1", idx: 0, name: "Old.ZIP" },
  ]);
  equal(rows(store.db, "PRAGMA user_version")[0].user_version, SCHEMA_VERSION);
  store.close();
});

Deno.test("sqlite: a store of schema version 2 is migrated, the verdicts of its results indexed", async () => {
  const path = join(await tempDir(), "v2.sqlite");
  const v2 = new DatabaseSync(path);
  v2.exec(MIGRATIONS[0]);
  v2.exec(MIGRATIONS[1]);
  v2.exec("PRAGMA user_version = 2");
  const insert = v2.prepare("INSERT INTO scans VALUES (?, ?, '', NULL, 1, 0, ?)");
  const doc = (verdict: unknown) => JSON.stringify({ decorators: { verdict } });
  insert.run("judged", "2026-01-01T00:00:00.000Z", doc({ verdict: "suspicious", score: 45 }));
  insert.run("fraction", "2026-01-02T00:00:00.000Z", doc({ verdict: "clean", score: 2.5 }));
  insert.run("none", "2026-01-03T00:00:00.000Z", "{}");
  insert.run("odd", "2026-01-04T00:00:00.000Z", doc({ verdict: "evil", score: "high" }));
  insert.run("broken", "2026-01-05T00:00:00.000Z", "{not json");
  v2.close();
  const store = await openStore(path, { busyTimeoutMs: 1000, synchronous: "full" });
  deepEqual(rows(store.db, "SELECT scan_id, verdict, score FROM scans ORDER BY time"), [
    { scan_id: "judged", verdict: "suspicious", score: 45 },
    { scan_id: "fraction", verdict: "clean", score: 2.5 },
    { scan_id: "none", verdict: null, score: null },
    { scan_id: "odd", verdict: null, score: null },
    { scan_id: "broken", verdict: null, score: null },
  ]);
  store.close();
});

Deno.test("sqlite: get_result finds one stored scan by id; search filters by verdict", async () => {
  const path = join(await tempDir(), "s.sqlite");
  const { instance, call } = await instantiate(sqlite, { path, synchronous: "normal" });
  const judged = (id: string, verdict: string, score: number) => {
    const r = response(id, 1);
    r.decorators = { verdict: { verdict, score } };
    return r;
  };
  await instance.save!(judged("a", "malicious", 150), call);
  await instance.save!(judged("b", "clean", 0), call);
  await instance.save!(response("c", 1), call);
  const got = await instance.get_result!("a", call);
  equal(got?.scan_id, "a");
  equal(JSON.parse(got!.result).decorators.verdict.score, 150);
  equal(await instance.get_result!("nope", call), null);
  const ids = async (verdict: string[]) =>
    (await instance.search!({ verdict, limit: 10 }, call)).map((s) => s.scan_id).sort();
  deepEqual(await ids(["malicious"]), ["a"]);
  deepEqual(await ids(["clean", "MALICIOUS"]), ["a", "b"]);
  deepEqual(await ids(["unknown"]), []);
  await instance.close!();
  // Read-only, as stoq show opens it.
  const ro = await instantiate(sqlite, { path, read_only: true });
  equal((await ro.instance.get_result!("b", ro.call))?.scan_id, "b");
  await ro.instance.close!();
});
