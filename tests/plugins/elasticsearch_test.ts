import { deepEqual, equal, match, ok, rejects } from "node:assert/strict";
import elasticsearch from "../../plugins/elasticsearch.ts";
import { stoqAPI } from "../../core/engine/api.ts";
import type { StoqResponse } from "../../core/engine/plugin.ts";
import { instantiate, makeCall } from "../helpers.ts";
import { runStoq, show } from "../cli_helpers.ts";
import {
  json,
  realScan,
  type SeenRequest,
  serve,
  testCertificates,
  type TestServer,
} from "./storage_helpers.ts";

/**
 * No Elasticsearch or OpenSearch can run here, so this server stands in for one. It checks each
 * request against the documented bulk API as both servers accept it — `POST /_bulk`,
 * `content-type: application/x-ndjson`, no compatibility media types (OpenSearch refuses them),
 * an NDJSON body of action line + source line pairs ending in a newline, `index` actions with a
 * valid `_index` and an `_id` and no `_type` — and answers as the bulk API does: 200 with
 * `{took, errors, items: [{index: {_index, _id, status, error?}}]}`. `plan` may answer
 * differently: a whole-request status, or a status per document.
 */
interface FakeEs extends TestServer {
  /** Indexed documents: index → _id → source. */
  indexes: Map<string, Map<string, unknown>>;
  /** Documents in each bulk request, by _id. */
  batches: string[][];
  /** Why requests were refused as malformed. */
  violations: string[];
}

type Plan = (req: SeenRequest, n: number) =>
  | { status: number; body?: unknown }
  | { items: Record<string, { status: number; type: string; reason: string }> }
  | undefined;

function fakeEs(plan: Plan = () => undefined, opts: {
  auth?: string;
  tls?: { cert: string; key: string };
  hold?: Promise<void>;
} = {}): FakeEs {
  const indexes = new Map<string, Map<string, unknown>>();
  const batches: string[][] = [];
  const violations: string[] = [];
  let n = 0;
  const bad = (why: string) => {
    violations.push(why);
    return json(400, { error: { type: "illegal_argument_exception", reason: why }, status: 400 });
  };
  const server = serve(async (req) => {
    if (req.method !== "POST") return bad(`method ${req.method}`);
    if (req.path !== "/_bulk" || req.search !== "") return bad(`path ${req.path}${req.search}`);
    if (req.headers.get("content-type") !== "application/x-ndjson") {
      return bad(`content-type ${req.headers.get("content-type")}`);
    }
    for (const h of ["content-type", "accept"]) {
      if (/compatible-with/.test(req.headers.get(h) ?? "")) return bad(`${h} compatible-with`);
    }
    if (opts.auth !== undefined && req.headers.get("authorization") !== opts.auth) {
      return json(401, {
        error: { type: "security_exception", reason: "missing authentication credentials" },
        status: 401,
      });
    }
    if (!req.text.endsWith("\n")) return bad("body does not end with a newline");
    const lines = req.text.slice(0, -1).split("\n");
    if (lines.length % 2 !== 0) return bad(`odd number of lines (${lines.length})`);
    const docs: { index: string; id: string; source: unknown }[] = [];
    for (let i = 0; i < lines.length; i += 2) {
      let action, source;
      try {
        action = JSON.parse(lines[i]);
        source = JSON.parse(lines[i + 1]);
      } catch {
        return bad(`line ${i + 1} or ${i + 2} is not JSON`);
      }
      const keys = Object.keys(action);
      if (keys.length !== 1 || keys[0] !== "index") return bad(`action ${lines[i]}`);
      const meta = action.index;
      if ("_type" in meta) return bad("_type is gone from both servers");
      if (typeof meta._index !== "string" || !/^[a-z0-9][a-z0-9._-]*$/.test(meta._index)) {
        return bad(`_index ${meta._index}`);
      }
      if (typeof meta._id !== "string" || meta._id === "") return bad(`_id ${meta._id}`);
      if (!source || typeof source !== "object" || Array.isArray(source)) {
        return bad(`source line ${i + 2} is not an object`);
      }
      docs.push({ index: meta._index, id: meta._id, source });
    }
    batches.push(docs.map((d) => d.id));
    await opts.hold;
    const p = plan(req, n++);
    if (p && "status" in p) return json(p.status, p.body ?? { error: "planned", status: p.status });
    const items = docs.map((d) => {
      const fail = p?.items[d.id];
      if (fail) {
        return {
          index: {
            _index: d.index,
            _id: d.id,
            status: fail.status,
            error: { type: fail.type, reason: fail.reason },
          },
        };
      }
      const idx = indexes.get(d.index) ?? new Map();
      indexes.set(d.index, idx);
      const existed = idx.has(d.id);
      idx.set(d.id, d.source);
      return {
        index: {
          _index: d.index,
          _id: d.id,
          _version: 1,
          result: existed ? "updated" : "created",
          status: existed ? 200 : 201,
        },
      };
    });
    return json(200, { took: 3, errors: items.some((i) => i.index.status >= 300), items });
  }, opts.tls);
  return { ...server, indexes, batches, violations };
}

function withId(r: StoqResponse, i: number): StoqResponse {
  return { ...r, scan_id: `${r.scan_id.slice(0, 30)}-${String(i).padStart(5, "0")}` };
}

const FAST = { retry_delay: 0.01 };

Deno.test("elasticsearch: a real scan becomes one document in the month's index, id = scan_id", async () => {
  const es = fakeEs();
  const scan = await realScan();
  const { instance, call } = await instantiate(elasticsearch, { hosts: [es.url] });
  try {
    await instance.save!(scan.response, call);
    deepEqual(es.violations, []);
    const month = scan.response.time.slice(0, 7);
    deepEqual([...es.indexes.keys()], [`stoq-${month}`]);
    const doc = es.indexes.get(`stoq-${month}`)!.get(scan.response.scan_id);
    deepEqual(doc, JSON.parse(JSON.stringify(scan.response)));
    equal(es.seen[0].headers.get("accept"), "application/json");
    equal(es.seen[0].headers.get("authorization"), null);
  } finally {
    await instance.close?.();
    await es.close();
  }
  // index_by_month = false: one index named as given.
  const es2 = fakeEs();
  const { instance: flat } = await instantiate(elasticsearch, {
    hosts: [es2.url],
    index: "results",
    index_by_month: false,
  });
  try {
    await flat.save!(scan.response, makeCall());
    deepEqual([...es2.indexes.keys()], ["results"]);
  } finally {
    await flat.close?.();
    await es2.close();
  }
});

Deno.test("elasticsearch: 429 and 503 answers are retried with backoff until accepted", async () => {
  const es = fakeEs((_req, n) => n === 0 ? { status: 429 } : n === 1 ? { status: 503 } : undefined);
  const scan = await realScan();
  const { instance, call } = await instantiate(elasticsearch, { hosts: [es.url], ...FAST });
  try {
    await instance.save!(scan.response, call);
    equal(es.seen.length, 3);
    equal(es.indexes.size, 1);
  } finally {
    await instance.close?.();
    await es.close();
  }
});

Deno.test("elasticsearch: from a partly failed bulk request only the failed documents are retried", async () => {
  const scan = await realScan();
  const docs = [0, 1, 2, 3].map((i) => withId(scan.response, i));
  const es = fakeEs((_req, n) =>
    n === 0
      ? {
        items: {
          [docs[1].scan_id]: {
            status: 429,
            type: "es_rejected_execution_exception",
            reason: "rejected execution of coordinating operation",
          },
          [docs[2].scan_id]: {
            status: 503,
            type: "unavailable_shards_exception",
            reason: "primary shard is not active",
          },
          [docs[3].scan_id]: {
            status: 400,
            type: "mapper_parsing_exception",
            reason: "failed to parse field [results.workers.yara.matches.strings] of type [long]",
          },
        },
      }
      : undefined
  );
  // A flush interval gathers the four saves into one bulk request.
  const { instance } = await instantiate(elasticsearch, {
    hosts: [es.url],
    flush_interval: 0.2,
    ...FAST,
  });
  try {
    const saves = docs.map((d) =>
      Promise.resolve(instance.save!(d, makeCall())).then(() => "ok", (e: Error) => e.message)
    );
    const outcome = await Promise.all(saves);
    deepEqual(outcome.slice(0, 3), ["ok", "ok", "ok"]);
    equal(
      outcome[3],
      `elasticsearch: document ${docs[3].scan_id} refused with 400: mapper_parsing_exception: ` +
        "failed to parse field [results.workers.yara.matches.strings] of type [long]",
    );
    deepEqual(es.batches, [docs.map((d) => d.scan_id), [docs[1].scan_id, docs[2].scan_id]]);
    deepEqual([...es.indexes.values()][0].size, 3);
    deepEqual(es.violations, []);
  } finally {
    await instance.close?.();
    await es.close();
  }
});

Deno.test("elasticsearch: a save fails after max_retries, and a 4xx is not retried", async () => {
  const scan = await realScan();
  const down = fakeEs(() => ({ status: 503, body: { error: "all shards failed" } }));
  const { instance } = await instantiate(elasticsearch, {
    hosts: [down.url],
    max_retries: 3,
    ...FAST,
  });
  try {
    await rejects(
      async () => await instance.save!(scan.response, makeCall()),
      new RegExp(
        `elasticsearch: not indexed after 4 attempts: ${down.url}/_bulk answered HTTP 503: \\{"error":"all shards failed"\\}$`,
      ),
    );
    equal(down.seen.length, 4);
  } finally {
    await instance.close?.();
    await down.close();
  }
  const locked = fakeEs(() => ({
    status: 403,
    body: {
      error: {
        type: "security_exception",
        reason: "action [indices:data/write/bulk] is unauthorized",
      },
    },
  }));
  const { instance: i2 } = await instantiate(elasticsearch, { hosts: [locked.url], ...FAST });
  try {
    await rejects(
      async () => await i2.save!(scan.response, makeCall()),
      /HTTP 403: .*is unauthorized/,
    );
    equal(locked.seen.length, 1);
  } finally {
    await i2.close?.();
    await locked.close();
  }
});

Deno.test("elasticsearch: a save resolves only after the server accepted its document", async () => {
  let release!: () => void;
  const es = fakeEs(undefined, { hold: new Promise((r) => release = r) });
  const scan = await realScan();
  const { instance } = await instantiate(elasticsearch, { hosts: [es.url] });
  try {
    let done = false;
    const save = Promise.resolve(instance.save!(scan.response, makeCall())).then(() => done = true);
    while (es.batches.length === 0) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 100));
    equal(done, false, "save resolved before the bulk request was answered");
    release();
    await save;
    equal(done, true);
  } finally {
    await instance.close?.();
    await es.close();
  }
});

Deno.test("elasticsearch: saves are batched by batch_size, and close() flushes what is buffered", async () => {
  const scan = await realScan();
  const es = fakeEs();
  const { instance } = await instantiate(elasticsearch, {
    hosts: [es.url],
    batch_size: 4,
    flush_interval: 0.2,
  });
  const docs = Array.from({ length: 10 }, (_, i) => withId(scan.response, i));
  try {
    await Promise.all(docs.map((d) => instance.save!(d, makeCall())));
    deepEqual(es.batches.map((b) => b.length), [4, 4, 2]);
    equal([...es.indexes.values()][0].size, 10);
  } finally {
    await instance.close?.();
    await es.close();
  }
  // A long flush interval: close() must send the buffered document at once.
  const es2 = fakeEs();
  const { instance: slow } = await instantiate(elasticsearch, {
    hosts: [es2.url],
    flush_interval: 600,
  });
  const saved = slow.save!(scan.response, makeCall());
  await slow.close?.();
  // Sent by close() itself, not by the 600 s timer.
  equal(es2.batches.length, 1);
  await saved;
  await es2.close();
  // batch_bytes splits too: each of these documents is bigger than half the limit.
  const es3 = fakeEs();
  const size = new TextEncoder().encode(JSON.stringify(scan.response)).length;
  const { instance: small } = await instantiate(elasticsearch, {
    hosts: [es3.url],
    batch_bytes: Math.max(1024, Math.ceil(size * 1.5)),
    flush_interval: 0.2,
  });
  try {
    await Promise.all(docs.slice(0, 3).map((d) => small.save!(d, makeCall())));
    deepEqual(es3.batches.map((b) => b.length), [1, 1, 1]);
  } finally {
    await small.close?.();
    await es3.close();
  }
});

Deno.test("elasticsearch: basic auth (password from STOQ_ES_PASSWORD) and API keys", async () => {
  const scan = await realScan();
  // The UTF-8 bytes of user:password, base64-encoded, as the servers decode it.
  const basic = `Basic ${
    btoa(String.fromCharCode(...new TextEncoder().encode("elastic:pässwörd")))
  }`;
  const es = fakeEs(undefined, { auth: basic });
  Deno.env.set("STOQ_ES_PASSWORD", "pässwörd");
  try {
    const { instance } = await instantiate(elasticsearch, { hosts: [es.url], username: "elastic" });
    await instance.save!(scan.response, makeCall());
    await instance.close?.();
  } finally {
    Deno.env.delete("STOQ_ES_PASSWORD");
    await es.close();
  }
  equal(es.seen.length, 1);

  const keyed = fakeEs(undefined, {
    auth: "ApiKey VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw==",
  });
  const { instance: k } = await instantiate(elasticsearch, {
    hosts: [keyed.url],
    api_key: "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw==",
  });
  try {
    await k.save!(scan.response, makeCall());
  } finally {
    await k.close?.();
    await keyed.close();
  }
  // Without credentials the server's 401 is the error, not retried.
  const locked = fakeEs(undefined, { auth: basic });
  const { instance: none } = await instantiate(elasticsearch, { hosts: [locked.url], ...FAST });
  try {
    await rejects(
      async () => await none.save!(scan.response, makeCall()),
      /HTTP 401: .*missing authentication credentials/,
    );
    equal(locked.seen.length, 1);
  } finally {
    await none.close?.();
    await locked.close();
  }
  await rejects(
    () => instantiate(elasticsearch, { username: "u", api_key: "k" }),
    /either username\/password or api_key/,
  );
});

Deno.test("elasticsearch: TLS with a private CA: refused by default, accepted with ca_cert or verify_tls=false", async () => {
  const tls = await testCertificates();
  const es = fakeEs(undefined, { tls });
  const scan = await realScan();
  try {
    const { instance: strict } = await instantiate(elasticsearch, {
      hosts: [es.url],
      max_retries: 0,
    });
    await rejects(
      async () => await strict.save!(scan.response, makeCall()),
      /not indexed after 1 attempts: https:\/\/127\.0\.0\.1:\d+: .*certificate/i,
    );
    await strict.close?.();
    equal(es.seen.length, 0);
    for (const o of [{ ca_cert: tls.caPath }, { verify_tls: false }]) {
      const { instance } = await instantiate(elasticsearch, { hosts: [es.url], ...o });
      await instance.save!(withId(scan.response, es.seen.length), makeCall());
      await instance.close?.();
    }
    equal(es.seen.length, 2);
    deepEqual(es.violations, []);
  } finally {
    await es.close();
  }
});

Deno.test("elasticsearch: with several hosts, a host that is down is skipped", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const dead = `http://127.0.0.1:${(l.addr as Deno.NetAddr).port}`;
  l.close();
  const es = fakeEs();
  const scan = await realScan();
  const { instance } = await instantiate(elasticsearch, { hosts: [dead, es.url], ...FAST });
  try {
    await instance.save!(scan.response, makeCall());
    equal(es.seen.length, 1);
  } finally {
    await instance.close?.();
    await es.close();
  }
});

Deno.test("elasticsearch: options are checked", () => {
  const schema = elasticsearch(stoqAPI).optionsSchema;
  deepEqual(schema.parse({}).hosts, ["http://localhost:9200"]);
  for (
    const bad of [{ index: "Stoq" }, { index: "_x" }, { index: "a b" }, { hosts: [] }, {
      hosts: ["ftp://x"],
    }, { batch_size: 0 }]
  ) {
    ok(!schema.safeParse(bad).success, JSON.stringify(bad));
  }
});

Deno.test("elasticsearch: ./stoq scan -C elasticsearch indexes the result", async () => {
  const es = fakeEs();
  const scan = await realScan();
  try {
    const r = await runStoq([
      "scan",
      scan.zipPath,
      "-a",
      "hash",
      "-C",
      "elasticsearch",
      "--plugin-opts",
      `elasticsearch:hosts=${es.url}`,
      "elasticsearch:index=stoq-cli",
    ]);
    equal(r.code, 0, show(r));
    deepEqual(es.violations, []);
    equal(es.indexes.size, 1);
    const [name, docs] = [...es.indexes][0];
    match(name, /^stoq-cli-\d{4}-\d{2}$/);
    const doc = [...docs.values()][0] as StoqResponse;
    equal((doc.results[0].workers.hash as { sha256: string }).sha256, scan.zip.sha256);
  } finally {
    await es.close();
  }
});
