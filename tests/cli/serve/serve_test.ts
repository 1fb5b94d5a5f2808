/**
 * `stoq serve` over real HTTP on 127.0.0.1: scans by raw body and multipart, results and search
 * from the sqlite store, health and metrics, and the guards: headers on every response, sizes,
 * load (429), tokens, Host and Origin checks, and paths that never reach the file system.
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import {
  assertUsageError,
  parseDoc,
  type ResultDoc,
  runStoq,
  show,
  sleepyPlugin,
  sums,
  writeText,
} from "../../cli_helpers.ts";
import { sha256, tempDir } from "../../helpers.ts";
import { rawRequest, type Served, startServe } from "./server.ts";

const SAMPLE = new URL("../../data/sample.tar.gz", import.meta.url).pathname;
const TOKEN = "test-token-0123456789abcdef";

let shared: Promise<Served> | undefined;
/** One server for the tests that only read and scan. */
function server(): Promise<Served> {
  return shared ??= startServe();
}

async function scan(
  s: Served,
  body: BodyInit,
  query = "",
  headers: HeadersInit = {},
): Promise<Response> {
  return await fetch(`${s.url}api/v1/scan${query}`, { method: "POST", body, headers });
}

async function getJson(s: Served, path: string, headers: HeadersInit = {}) {
  const r = await fetch(`${s.url}${path}`, { headers });
  return { status: r.status, headers: r.headers, body: await r.json() };
}

Deno.test({
  name: "serve: POST raw bytes, get the result, find it by sha256, filename, rule and verdict",
  sanitizeResources: false,
  async fn() {
    const s = await server();
    const bytes = await Deno.readFile(SAMPLE);
    const r = await scan(s, bytes, "?filename=sample.tar.gz");
    equal(r.status, 200);
    const doc = parseDoc(await r.text());
    equal(doc.results.length, 7);
    equal(doc.results[0].payload_meta.extra_data.filename, "sample.tar.gz");
    equal(doc.results[0].workers.hash.sha256, (await sums(SAMPLE)).sha256);
    equal((doc.decorators.verdict as { verdict: string }).verdict, "clean");
    equal(r.headers.get("location"), `/api/v1/results/${doc.scan_id}`);

    const stored = await getJson(s, `api/v1/results/${doc.scan_id}`);
    equal(stored.status, 200);
    deepEqual(stored.body, doc);

    const sha = doc.results[0].workers.hash.sha256 as string;
    for (
      const q of [
        `sha256=${sha}`,
        `hash=${sha.toUpperCase()}`,
        "filename=SAMPLE.TAR.*",
        "filename=notes.txt",
        "verdict=clean",
        "type=application/gzip",
      ]
    ) {
      const found = await getJson(s, `api/v1/search?${q}`);
      equal(found.status, 200, q);
      ok(found.body.scans.some((x: { scan_id: string }) => x.scan_id === doc.scan_id), q);
    }
    const one = await getJson(s, `api/v1/search?sha256=${sha}&limit=1`);
    deepEqual(one.body.scans[0], {
      scan_id: doc.scan_id,
      time: doc.time,
      payloads: 7,
      errors: 0,
      filename: "sample.tar.gz",
      sha256: sha,
      mimetype: "application/gzip",
      size: bytes.length,
      rules: [],
      verdict: "clean",
      score: 0,
    });
    const full = await getJson(s, `api/v1/search?sha256=${sha}&full=1`);
    deepEqual(full.body.scans[0].result, doc);
    deepEqual((await getJson(s, "api/v1/search?verdict=malicious&sha256=" + sha)).body.scans, []);
  },
});

Deno.test({
  name: "serve: a multipart upload takes the part's filename; EICAR is found by rule and verdict",
  sanitizeResources: false,
  async fn() {
    const s = await server();
    const eicar = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
    const form = new FormData();
    form.append("file", new File([eicar], "eicar.com"));
    const r = await scan(s, form);
    equal(r.status, 200);
    const doc = parseDoc(await r.text());
    equal(doc.results[0].payload_meta.extra_data.filename, "eicar.com");
    equal(doc.results[0].workers.hash.sha256, sha256(eicar));
    const v = doc.decorators.verdict as { verdict: string; findings: { id: string }[] };
    equal(v.verdict, "malicious");
    equal(v.findings[0].id, "eicar_test_file");
    for (const q of ["rule=eicar_test_file", "rule=eicar_*", "verdict=malicious"]) {
      const found = await getJson(s, `api/v1/search?${q}`);
      ok(found.body.scans.some((x: { scan_id: string }) => x.scan_id === doc.scan_id), q);
    }
    // ?filename wins over the part's name; two files in one request are refused.
    const named = await scan(s, form, "?filename=renamed.txt");
    equal(parseDoc(await named.text()).results[0].payload_meta.extra_data.filename, "renamed.txt");
    const two = new FormData();
    two.append("a", new File(["a"], "a.txt"));
    two.append("b", new File(["b"], "b.txt"));
    const refused = await scan(s, two);
    equal(refused.status, 400);
    match((await refused.json()).error, /exactly one file, not 2/);
  },
});

Deno.test({
  name: "serve: every response carries the CSP and friends; the page and its assets are embedded",
  sanitizeResources: false,
  async fn() {
    const s = await server();
    for (
      const [path, type] of [
        ["", "text/html"],
        ["assets/app.js", "text/javascript"],
        ["assets/style.css", "text/css"],
        ["api/v1/health", "application/json"],
        ["api/v1/search", "application/json"],
        ["nothing/here", "application/json"],
      ]
    ) {
      const r = await fetch(`${s.url}${path}`);
      await r.body?.cancel();
      ok(
        r.headers.get("content-type")?.startsWith(type),
        `${path}: ${r.headers.get("content-type")}`,
      );
      match(
        r.headers.get("content-security-policy") ?? "",
        /^default-src 'none'; script-src 'self'/,
        path,
      );
      equal(r.headers.get("x-content-type-options"), "nosniff", path);
      equal(r.headers.get("x-frame-options"), "DENY", path);
    }
    const page = await (await fetch(s.url)).text();
    match(page, /<script type="module" src="\/assets\/app\.js"><\/script>/);
    ok(!/https?:\/\//.test(page), "the page loads nothing from elsewhere");
    const app = await (await fetch(`${s.url}assets/app.js`)).text();
    ok(!/https?:\/\/(?!www\.)/.test(app.replace(/http:\/\/203\.0\.113\.7/g, "")), "no CDN");
    ok(!app.includes("innerHTML"), "results go into the page as text");
    const health = await getJson(s, "api/v1/health");
    equal(health.body.status, "ok");
    equal(health.body.store, "sqlite");
    equal(health.body.auth, "none");
  },
});

Deno.test({
  name: "serve: no path from a request reaches the file system; bad requests get 4xx",
  sanitizeResources: false,
  async fn() {
    const s = await server();
    const host = `Host: 127.0.0.1:${s.port}\r\nConnection: close\r\n\r\n`;
    for (
      const path of [
        "/../../../../etc/passwd",
        "/assets/../../../etc/passwd",
        "/assets/%2e%2e/%2e%2e/etc/passwd",
        "/assets/..%2f..%2fetc%2fpasswd",
        "//etc/passwd",
        "/api/v1/results/..%2F..%2Fetc%2Fpasswd",
      ]
    ) {
      const status = await rawRequest(s.port, `GET ${path} HTTP/1.1\r\n${host}`);
      match(status, /^HTTP\/1\.1 (400|404) /, `${path}: ${status}`);
    }
    const cases: [string, RequestInit, number, RegExp][] = [
      ["api/v1/scan", { method: "POST", body: "" }, 400, /empty/],
      ["api/v1/scan", { method: "GET" }, 405, /takes POST/],
      ["api/v1/search?color=red", {}, 400, /unknown search parameter "color"/],
      ["api/v1/search?verdict=evil", {}, 400, /verdict must be one of clean, suspicious/],
      ["api/v1/search?sha256=abc", {}, 400, /sha256 "abc" is not 64 hex characters/],
      ["api/v1/search?since=yesterday", {}, 400, /is not a time/],
      ["api/v1/results/0b7f6d1e-0000-4000-8000-000000000000", {}, 404, /no stored scan/],
      ["api/v1/results/%20bad%20id", {}, 400, /not a scan id/],
      ["api/v2/anything", {}, 404, /no API endpoint/],
    ];
    for (const [path, init, status, re] of cases) {
      const r = await fetch(`${s.url}${path}`, init);
      const body = await r.json();
      equal(r.status, status, `${path}: ${JSON.stringify(body)}`);
      match(body.error, re, path);
    }
    // A page elsewhere may not drive the API; a name that is not this server's is refused
    // (DNS rebinding).
    const cross = await scan(s, "x", "", { origin: "http://evil.example" });
    equal(cross.status, 403);
    await cross.body?.cancel();
    const rebound = await rawRequest(
      s.port,
      "GET /api/v1/search HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n",
    );
    match(rebound, /^HTTP\/1\.1 421 /);
    const local = await rawRequest(
      s.port,
      `GET /api/v1/health HTTP/1.1\r\nHost: localhost:${s.port}\r\nConnection: close\r\n\r\n`,
    );
    match(local, /^HTTP\/1\.1 200 /);
  },
});

Deno.test({
  name: "serve: /metrics counts the scans; results land in the store stoq search reads",
  sanitizeResources: false,
  async fn() {
    const s = await startServe();
    const r = await scan(s, "metrics and search\n", "?filename=m.txt");
    const doc = parseDoc(await r.text());
    const text = await (await fetch(`${s.url}metrics`)).text();
    match(text, /^stoq_scans_total\{outcome="scanned"\} 1$/m);
    match(text, /^stoq_plugin_calls_total\{plugin="hash"\} \d+$/m);
    const stopped = await s.stop();
    equal(stopped.code, 0, stopped.stderr);
    match(stopped.stderr, /stopping: finishing the requests in flight/);
    const found = await runStoq(["search", "--verdict", "clean", "--summary"], { home: s.home });
    equal(found.code, 0, show(found));
    match(
      found.stdout,
      new RegExp(`\\t${doc.scan_id}\\t1 payload\\(s\\)\\t0 error\\(s\\)\\tm\\.txt\\t`),
    );
  },
});

Deno.test({
  name: "serve: uploads over max_payload_size get 413; a scan beyond max_scans gets 429",
  sanitizeResources: false,
  async fn() {
    const cwd = await tempDir();
    const plugins = join(cwd, "plugins");
    await Deno.mkdir(plugins);
    await Deno.writeTextFile(join(plugins, "sleepy.ts"), sleepyPlugin("sleepy", 1500));
    await writeText(cwd, "stoq.toml", `[core]\nmax_payload_size = 1000\n[serve]\nmax_scans = 1\n`);
    const s = await startServe(["-a", "sleepy", "--plugin-dir", plugins], { cwd });
    try {
      const big = await scan(s, new Uint8Array(1001).fill(65));
      equal(big.status, 413);
      match((await big.json()).error, /over max_payload_size \(1000 bytes\)/);
      // Declared and streamed alike: a chunked body is cut at the cap.
      const stream = new ReadableStream<Uint8Array>({
        start(c) {
          for (let i = 0; i < 20; i++) c.enqueue(new Uint8Array(100).fill(66));
          c.close();
        },
      });
      const chunked = await scan(s, stream);
      equal(chunked.status, 413);
      await chunked.body?.cancel();
      const exact = await scan(s, new Uint8Array(1000).fill(67), "?filename=a.bin");
      equal(exact.status, 200);
      await exact.body?.cancel();
      const [a, b] = await Promise.all([scan(s, "first\n"), scan(s, "second\n")]);
      const statuses = [a.status, b.status].sort();
      deepEqual(statuses, [200, 429]);
      const busy = a.status === 429 ? a : b;
      equal(busy.headers.get("retry-after"), "1");
      match((await busy.json()).error, /the most at once \(\[serve\] max_scans\)/);
      const done = a.status === 200 ? a : b;
      const doc = parseDoc(await done.text()) as ResultDoc;
      deepEqual(doc.results[0].workers.sleepy, { slept_ms: 1500 });
    } finally {
      await s.stop();
    }
  },
});

Deno.test({
  name: "serve: with a token, the API asks for it; the page and health do not",
  sanitizeResources: false,
  async fn() {
    const s = await startServe(["--token", TOKEN]);
    try {
      const none = await fetch(`${s.url}api/v1/search`);
      equal(none.status, 401);
      equal(none.headers.get("www-authenticate"), 'Bearer realm="stoq"');
      await none.body?.cancel();
      for (const auth of [`Bearer ${TOKEN}x`, `Basic ${btoa(`u:${TOKEN}`)}`, TOKEN]) {
        const bad = await fetch(`${s.url}api/v1/search`, { headers: { authorization: auth } });
        equal(bad.status, 401, auth);
        await bad.body?.cancel();
      }
      const good = await fetch(`${s.url}api/v1/search`, {
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      equal(good.status, 200);
      await good.body?.cancel();
      const scanned = await scan(s, "with a token\n", "", { authorization: `bearer ${TOKEN}` });
      equal(scanned.status, 200);
      await scanned.body?.cancel();
      const metrics = await fetch(`${s.url}metrics`);
      equal(metrics.status, 401);
      await metrics.body?.cancel();
      equal((await fetch(s.url)).status, 200);
      equal((await getJson(s, "api/v1/health")).body.auth, "bearer");
    } finally {
      await s.stop();
    }
    // The token may come from the environment instead.
    const env = await startServe([], { env: { STOQ_SERVE_TOKEN: TOKEN } });
    try {
      equal(
        (await fetch(`${env.url}api/v1/search`).then((r) => (r.body?.cancel(), r))).status,
        401,
      );
    } finally {
      await env.stop();
    }
  },
});

Deno.test("serve: beyond loopback only with a token; short tokens and stray flags refused", async () => {
  assertUsageError(
    await runStoq(["serve", "--listen", "0.0.0.0:0"]),
    /listening on 0\.0\.0\.0 reaches beyond this machine: give a token/,
  );
  assertUsageError(await runStoq(["serve", "--token", "short"]), /at least 16 characters/);
  assertUsageError(await runStoq(["serve", "--listen", "nowhere"]), /--listen wants HOST:PORT/);
  assertUsageError(await runStoq(["serve", "x.bin"]), /stoq serve takes no paths/);
  assertUsageError(
    await runStoq(["scan", "--listen", "1:2", "x"]),
    /--listen belongs to stoq serve/,
  );
  // [serve] is checked like [core]: a typo names the valid keys.
  const cwd = await tempDir();
  await writeText(cwd, "stoq.toml", '[serve]\nlisten = "127.0.0.1:0"\ntoken = ["x"]\n');
  const typo = await runStoq(["serve"], { cwd });
  equal(typo.code, 1, show(typo));
  match(
    typo.stderr,
    /\[serve\]: unknown option "token" \(did you mean "tokens"\?\); valid options: listen, tokens, store, max_scans/,
  );
});

Deno.test({
  name: "serve: SIGTERM stops it cleanly (exit 0) once the requests in flight are answered",
  sanitizeResources: false,
  async fn() {
    const s = await server();
    const pending = scan(s, "in flight while stopping\n");
    await new Promise((r) => setTimeout(r, 50));
    const stopped = s.stop();
    const r = await pending;
    equal(r.status, 200);
    await r.body?.cancel();
    equal((await stopped).code, 0);
  },
});
