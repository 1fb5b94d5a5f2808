import { deepEqual, equal, match, ok, rejects } from "node:assert/strict";
import postgresPlugin, { jsonbText } from "../../plugins/postgres.ts";
import { stoqAPI } from "../../core/engine/api.ts";
import type { StoqResponse } from "../../core/engine/plugin.ts";
import { instantiate, makeCall, sh } from "../helpers.ts";
import { runStoq, show } from "../cli_helpers.ts";
import { realScan } from "./storage_helpers.ts";

// The PostgreSQL that .ci/run starts on loopback: trust authentication, database `test`.
const URL_ = "postgres://postgres@127.0.0.1:5432/test";

/** Runs SQL through psql (the reference client) and returns its unaligned output lines. */
async function psql(query: string): Promise<string[]> {
  const out = await sh("psql", [URL_, "-v", "ON_ERROR_STOP=1", "-X", "-q", "-At", "-c", query]);
  return out.split("\n").filter((l) => l !== "");
}

/** A table name no other test (or parallel run) uses. */
function freshTable(): string {
  return `stoq_t_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
}

Deno.test("postgres: a real scan is stored as JSONB and found by sha256, md5, type, rule, name and time", async () => {
  const table = freshTable();
  const scan = await realScan();
  const { instance, call } = await instantiate(postgresPlugin, { url: URL_, table });
  try {
    await instance.save!(scan.response, call);
    const id = scan.response.scan_id;
    const one = (where: string) => psql(`SELECT scan_id FROM ${table} WHERE ${where}`);
    deepEqual(await one(`sha256 @> ARRAY['${scan.note.sha256}']`), [id]);
    deepEqual(await one(`sha256 @> ARRAY['${scan.zip.sha256}']`), [id]);
    deepEqual(await one(`md5 @> ARRAY['${scan.note.md5}']`), [id]);
    deepEqual(await one(`yara_rules @> ARRAY['${scan.rule}']`), [id]);
    deepEqual(await one(`mimetypes @> ARRAY['application/zip']`), [id]);
    deepEqual(await one(`filenames @> ARRAY['note.txt']`), [id]);
    deepEqual(await one(`time > now() - interval '1 hour'`), [id]);
    deepEqual(await one(`sha256 @> ARRAY['${"0".repeat(64)}']`), []);
    // The same lookup straight from the JSONB document, as a user might write it.
    deepEqual(
      await one(
        `result @> '{"results":[{"workers":{"yara":{"matches":[{"rule":"${scan.rule}"}]}}}]}'`,
      ),
      [id],
    );
    // The stored document is the result, whole (jsonb orders keys its own way).
    const [text] = await psql(`SELECT result::text FROM ${table} WHERE scan_id = '${id}'`);
    deepEqual(JSON.parse(text), JSON.parse(JSON.stringify(scan.response)));
    deepEqual(
      await psql(`SELECT errors, time = '${scan.response.time}'::timestamptz FROM ${table}`),
      [
        `${scan.response.errors.length}|t`,
      ],
    );
    // The indexes exist and the planner uses them for these lookups.
    const indexes = await psql(
      `SELECT indexname FROM pg_indexes WHERE tablename = '${table}' ORDER BY 1`,
    );
    deepEqual(indexes, [
      `${table}_filenames_idx`,
      `${table}_md5_idx`,
      `${table}_mimetypes_idx`,
      `${table}_pkey`,
      `${table}_sha256_idx`,
      `${table}_time_idx`,
      `${table}_yara_rules_idx`,
    ]);
    const plan = await psql(
      `SET enable_seqscan = off; EXPLAIN SELECT scan_id FROM ${table} WHERE sha256 @> ARRAY['${scan.note.sha256}']`,
    );
    ok(plan.some((l) => l.includes(`${table}_sha256_idx`)), plan.join("\n"));
  } finally {
    await instance.close?.();
    await psql(`DROP TABLE IF EXISTS ${table}`);
  }
});

Deno.test("postgres: saving a scan again replaces its row (retries are idempotent)", async () => {
  const table = freshTable();
  const scan = await realScan();
  const { instance, call } = await instantiate(postgresPlugin, { url: URL_, table });
  try {
    await instance.save!(scan.response, call);
    const changed: StoqResponse = {
      ...scan.response,
      errors: [{ error: "x", plugin_name: null, payload_id: null }],
    };
    await instance.save!(changed, call);
    deepEqual(await psql(`SELECT count(*), max(errors) FROM ${table}`), ["1|1"]);
  } finally {
    await instance.close?.();
    await psql(`DROP TABLE IF EXISTS ${table}`);
  }
});

Deno.test("postgres: NUL characters, which jsonb cannot hold, become U+FFFD and the row is saved", async () => {
  const table = freshTable();
  const scan = await realScan();
  const nul: StoqResponse = structuredClone(scan.response);
  nul.results[0].workers.strings = { "k\0ey": ["a\0b", "back\\u0000slash"] };
  nul.results[0].payload_meta.extra_data.filename = "na\0me";
  const { instance, call } = await instantiate(postgresPlugin, { url: URL_, table });
  try {
    await instance.save!(nul, call);
    const [text] = await psql(`SELECT result->'results'->0->'workers'->>'strings' FROM ${table}`);
    deepEqual(JSON.parse(text), { "k\ufffdey": ["a\ufffdb", "back\\u0000slash"] });
    deepEqual(await psql(`SELECT filenames[1] FROM ${table}`), ["na\ufffdme"]);
  } finally {
    await instance.close?.();
    await psql(`DROP TABLE IF EXISTS ${table}`);
  }
  equal(jsonbText({ a: "\0", b: "\\u0000" }), '{"a":"\\ufffd","b":"\\\\u0000"}');
});

Deno.test("postgres: many instances creating the same new schema and table at once all succeed", async () => {
  const schema = freshTable();
  const table = `${schema}.results`;
  const scan = await realScan();
  // Each instance has its own connection pool, as separate stoq processes would.
  const made = await Promise.all(
    Array.from({ length: 8 }, () => instantiate(postgresPlugin, { url: URL_, table })),
  );
  try {
    await Promise.all(
      made.map(({ instance }, i) =>
        instance.save!({ ...scan.response, scan_id: `${scan.response.scan_id}-${i}` }, makeCall())
      ),
    );
    deepEqual(await psql(`SELECT count(*) FROM ${table}`), ["8"]);
  } finally {
    await Promise.all(made.map(({ instance }) => instance.close?.()));
    await psql(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  }
});

Deno.test("postgres: an unreachable server is an error naming where, never the password", async () => {
  // A port nothing listens on: bind one, note it, close it.
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  const { instance, call } = await instantiate(postgresPlugin, {
    host: "127.0.0.1",
    port,
    user: "postgres",
    password: "s3cret-pw",
    database: "nowhere",
    connect_timeout: 2,
  });
  const scan = await realScan();
  try {
    await rejects(async () => await instance.save!(scan.response, call), (e: Error) => {
      match(
        e.message,
        new RegExp(
          `^postgres: cannot save scan ${scan.response.scan_id} to stoq_results on 127\\.0\\.0\\.1:${port}/nowhere: .*ECONNREFUSED`,
        ),
      );
      ok(!e.message.includes("s3cret-pw"), e.message);
      return true;
    });
  } finally {
    await instance.close?.();
  }
  // A malformed URL is refused without repeating it (it may hold a password).
  await rejects(
    () => instantiate(postgresPlugin, { url: "postgres://u:s3cret-pw@host:port/db" }),
    (e: Error) => {
      equal(e.message, "postgres: url (or STOQ_POSTGRES_URL) is not a valid postgres:// URL");
      return true;
    },
  );
  // A role that does not exist: PostgreSQL's own message and SQLSTATE come through.
  const { instance: bad } = await instantiate(postgresPlugin, {
    url: "postgres://no_such_role:pw@127.0.0.1:5432/test",
  });
  try {
    await rejects(
      async () => await bad.save!(scan.response, call),
      /on 127\.0\.0\.1:5432\/test: role "no_such_role" does not exist \[SQLSTATE 28000\]/,
    );
  } finally {
    await bad.close?.();
  }
});

Deno.test("postgres: the connection URL may come from STOQ_POSTGRES_URL", async () => {
  const table = freshTable();
  const scan = await realScan();
  Deno.env.set("STOQ_POSTGRES_URL", URL_);
  try {
    const { instance, call } = await instantiate(postgresPlugin, { table });
    await instance.save!(scan.response, call);
    await instance.close?.();
    deepEqual(await psql(`SELECT scan_id FROM ${table}`), [scan.response.scan_id]);
  } finally {
    Deno.env.delete("STOQ_POSTGRES_URL");
    await psql(`DROP TABLE IF EXISTS ${table}`);
  }
});

Deno.test("postgres: options are checked: table names, url scheme, ssl mode", () => {
  const schema = postgresPlugin(stoqAPI).optionsSchema;
  equal(schema.parse({}).table, "stoq_results");
  ok(schema.safeParse({ table: "analytics.stoq" }).success);
  for (const table of ["x; DROP TABLE y", "a.b.c", "1abc", "a-b", `"q"`, "x".repeat(49)]) {
    ok(!schema.safeParse({ table }).success, table);
  }
  ok(!schema.safeParse({ url: "mysql://localhost/x" }).success);
  ok(!schema.safeParse({ ssl: "maybe" }).success);
});

Deno.test("postgres: ./stoq scan -C postgres stores the result where psql finds it by sha256", async () => {
  const table = freshTable();
  const scan = await realScan();
  try {
    const r = await runStoq([
      "scan",
      scan.zipPath,
      "-a",
      "hash",
      "-C",
      "postgres",
      "--plugin-opts",
      `postgres:url=${URL_}`,
      `postgres:table=${table}`,
    ]);
    equal(r.code, 0, show(r));
    equal(r.stdout, "", show(r));
    const rows = await psql(
      `SELECT result->>'scan_id', result->'results'->0->'payload_meta'->'extra_data'->>'filename' FROM ${table} WHERE sha256 @> ARRAY['${scan.zip.sha256}']`,
    );
    equal(rows.length, 1, rows.join("\n"));
    match(rows[0], /^[0-9a-f-]{36}\|bundle\.zip$/);
  } finally {
    await psql(`DROP TABLE IF EXISTS ${table}`);
  }
});
