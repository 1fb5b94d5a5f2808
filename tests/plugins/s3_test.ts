import { deepEqual, equal, match, ok, rejects } from "node:assert/strict";
import { createHash, createHmac } from "node:crypto";
import { join } from "node:path";
import s3, { fanOut } from "../../plugins/s3.ts";
import { stoqAPI } from "../../core/engine/api.ts";
import type { PluginInstance } from "../../core/engine/plugin.ts";
import { instantiate, makeCall, makePayload, makeRequest, sha256, tempDir } from "../helpers.ts";
import { parseDoc, runStoq, show } from "../cli_helpers.ts";
import { realScan, type SeenRequest, serve, type TestServer } from "./storage_helpers.ts";

/**
 * An S3-compatible server on 127.0.0.1: s3rver (npm), which stores objects on disk and speaks
 * S3's REST API and XML errors, but does not check Signature V4 signatures. So requests reach it
 * through a proxy that checks them as S3 does (independently of the plugin's signer, with
 * node:crypto): the credential scope (access key, date, region, service), the signed headers, the
 * signature over the canonical request, and x-amz-content-sha256 against the body.
 */
interface FakeS3 extends TestServer {
  /** s3rver's folder: objects are files `<bucket>/<key>._S3rver_object`. */
  dir: string;
  /** Reads an object straight from s3rver's folder, or null. */
  object(bucket: string, key: string): Promise<Uint8Array | null>;
}

const ACCESS = "S3RVER"; // s3rver's built-in account
const SECRET = "S3RVER";
const REGION = "us-east-1";

async function fakeS3(): Promise<FakeS3> {
  const { default: S3rver } = await import("s3rver");
  const dir = await tempDir();
  const inner = new S3rver({
    address: "127.0.0.1",
    port: 0,
    silent: true,
    directory: dir,
    configureBuckets: [{ name: "archive" }, { name: "results" }],
  });
  const { port } = await inner.run() as { port: number };
  const proxy = serve(async (req) => {
    const problem = sigV4Problem(req);
    if (problem) {
      return new Response(
        `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${problem[0]}</Code><Message>${
          problem[1]
        }</Message></Error>`,
        {
          status: problem[0] === "XAmzContentSHA256Mismatch" ? 400 : 403,
          headers: { "content-type": "application/xml" },
        },
      );
    }
    const headers = new Headers(req.headers);
    headers.delete("host");
    headers.delete("content-length");
    const res = await fetch(`http://127.0.0.1:${port}${req.path}${req.search}`, {
      method: req.method,
      headers,
      body: req.method === "PUT" ? req.body as BodyInit : undefined,
    });
    const body = req.method === "HEAD" ? null : new Uint8Array(await res.arrayBuffer());
    if (req.method === "HEAD") await res.body?.cancel();
    return new Response(body, { status: res.status, headers: res.headers });
  });
  return {
    ...proxy,
    dir,
    async object(bucket, key) {
      try {
        return await Deno.readFile(join(dir, bucket, `${key}._S3rver_object`));
      } catch {
        return null;
      }
    },
    async close() {
      await proxy.close();
      await inner.close();
    },
  };
}

const hex = (data: string | Uint8Array) => createHash("sha256").update(data).digest("hex");
const hmac = (key: string | Uint8Array, data: string) =>
  createHmac("sha256", key).update(data).digest();
const rfc3986 = (s: string) =>
  encodeURIComponent(s).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );

/** Why S3 would refuse this request's Signature V4, as [code, message], or null if it is valid. */
function sigV4Problem(req: SeenRequest): [string, string] | null {
  const auth = req.headers.get("authorization") ?? "";
  const m = auth.match(
    /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/,
  );
  if (!m) return ["AccessDenied", "Signature V4 Authorization header missing or malformed"];
  const [, akid, date, region, service, signedHeaders, signature] = m;
  if (akid !== ACCESS) {
    return [
      "InvalidAccessKeyId",
      "The AWS Access Key Id you provided does not exist in our records.",
    ];
  }
  if (region !== REGION || service !== "s3") {
    return [
      "AuthorizationHeaderMalformed",
      `the region '${region}' is wrong; expecting '${REGION}'`,
    ];
  }
  const amzDate = req.headers.get("x-amz-date") ?? "";
  if (!amzDate.startsWith(date)) {
    return ["AccessDenied", "x-amz-date does not match the credential date"];
  }
  const signed = signedHeaders.split(";");
  for (const need of ["host", "x-amz-date", "x-amz-content-sha256"]) {
    if (!signed.includes(need)) return ["AccessDenied", `${need} is not signed`];
  }
  const payloadHash = req.headers.get("x-amz-content-sha256") ?? "";
  if (payloadHash !== "UNSIGNED-PAYLOAD" && payloadHash !== hex(req.body)) {
    return [
      "XAmzContentSHA256Mismatch",
      "The provided 'x-amz-content-sha256' header does not match what was computed.",
    ];
  }
  const query = [...new URLSearchParams(req.search)].map(([k, v]) => `${rfc3986(k)}=${rfc3986(v)}`)
    .sort().join("&");
  const headerLines = signed.map((h) =>
    `${h}:${(req.headers.get(h) ?? "").trim().replace(/\s+/g, " ")}\n`
  ).join("");
  const canonical = [req.method, req.path, query, headerLines, signedHeaders, payloadHash].join(
    "\n",
  );
  const scope = `${date}/${region}/${service}/aws4_request`;
  const toSign = ["AWS4-HMAC-SHA256", amzDate, scope, hex(canonical)].join("\n");
  let key: Uint8Array = hmac(`AWS4${SECRET}`, date);
  for (const part of [region, service, "aws4_request"]) key = hmac(key, part);
  if (createHmac("sha256", key).update(toSign).digest("hex") !== signature) {
    return [
      "SignatureDoesNotMatch",
      "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
    ];
  }
  return null;
}

function options(srv: FakeS3, extra: Record<string, unknown> = {}) {
  return {
    endpoint: srv.url,
    access_key: ACCESS,
    secret_key: SECRET,
    archive_bucket: "archive",
    ...extra,
  };
}

function randomBytes(n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) crypto.getRandomValues(b.subarray(i, Math.min(n, i + 65536)));
  return b;
}

async function withS3(fn: (srv: FakeS3) => Promise<void>): Promise<void> {
  const srv = await fakeS3();
  try {
    await fn(srv);
  } finally {
    await srv.close();
  }
}

async function closing<T>(instance: PluginInstance, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } finally {
    await instance.close?.();
  }
}

Deno.test("s3 archiver: content-addressed keys, stored bytes exact, archived once, fetched back", () =>
  withS3(async (srv) => {
    const { instance, call } = await instantiate(s3, options(srv));
    await closing(instance, async () => {
      const bytes = randomBytes(300_000);
      const sha = sha256(bytes);
      const p = makePayload(bytes);
      const res = await instance.archive!(p, makeRequest(p), call);
      const path = `${sha[0]}/${sha[1]}/${sha[2]}/${sha[3]}/${sha[4]}/${sha}`;
      deepEqual(res, { results: { bucket: "archive", path } });
      deepEqual(await srv.object("archive", path), bytes);
      // The signed payload hash was the real digest, which the proxy checked against the body.
      const put = srv.seen.find((r) => r.method === "PUT")!;
      equal(put.headers.get("x-amz-content-sha256"), sha);

      // Archiving the same content again only asks whether it is there.
      const before = srv.seen.length;
      deepEqual(await instance.archive!(p, makeRequest(p), call), res);
      deepEqual(srv.seen.slice(before).map((r) => r.method), ["HEAD"]);

      const want = { content: bytes, payload_meta: { extra_data: { bucket: "archive", path } } };
      for (
        const task of [
          res.results,
          res,
          sha,
          sha.toUpperCase(),
          { sha256: sha },
          `s3://archive/${path}`,
          path,
        ]
      ) {
        deepEqual(await instance.get!(task, call), want, JSON.stringify(task));
      }
    });
  }));

Deno.test("s3 archiver: prefix, fan-out depth, use_sha=false", () =>
  withS3(async (srv) => {
    const p = makePayload("prefixed payload");
    const { instance, call } = await instantiate(
      s3,
      options(srv, { prefix: "stoq/archive/", fan_out: 2 }),
    );
    await closing(instance, async () => {
      const res = await instance.archive!(p, makeRequest(p), call);
      const path = `stoq/archive/${p.sha256.slice(0, 1)}/${p.sha256.slice(1, 2)}/${p.sha256}`;
      deepEqual(res, { results: { bucket: "archive", path } });
      equal(new TextDecoder().decode((await srv.object("archive", path))!), "prefixed payload");
      // A sha256 reference finds it under the same prefix and fan-out.
      equal(
        new TextDecoder().decode((await instance.get!(p.sha256, call))!.content),
        "prefixed payload",
      );
    });
    const { instance: byId } = await instantiate(s3, options(srv, { use_sha: false }));
    await closing(byId, async () => {
      const res = await byId.archive!(p, makeRequest(p), makeCall());
      deepEqual(res, { results: { bucket: "archive", path: p.results.payload_id } });
      deepEqual((await byId.get!(res!.results, makeCall()))!.content, p.content);
    });
    equal(fanOut("abcdef", 0), "abcdef");
  }));

Deno.test("s3: wrong credentials, wrong region, a missing bucket or key are clear errors", () =>
  withS3(async (srv) => {
    const p = makePayload("secret stuff");
    const attempt = async (extra: Record<string, unknown>, re: RegExp) => {
      const { instance } = await instantiate(s3, options(srv, { retry_delay: 0.01, ...extra }));
      await closing(
        instance,
        () =>
          rejects(
            async () => await instance.archive!(p, makeRequest(p), makeCall()),
            (e: Error) => {
              ok(re.test(e.message), e.message);
              ok(
                !e.message.includes("wrong-secret") && !e.message.includes(SECRET + "x"),
                e.message,
              );
              return true;
            },
          ),
      );
    };
    const where = `s3://archive/${fanOut(p.sha256, 5)}`;
    // HEAD answers have no body, so the first refusal is told by its status.
    await attempt(
      { secret_key: "wrong-secret" },
      new RegExp(`^s3: cannot check ${where}: access denied \\(HTTP 403\\)`),
    );
    await attempt(
      { use_sha: false, secret_key: "wrong-secret" },
      /^s3: cannot write s3:\/\/archive\/[0-9a-f-]{36}: SignatureDoesNotMatch: The request signature we calculated/,
    );
    await attempt(
      { use_sha: false, access_key: "NOBODY" },
      /InvalidAccessKeyId: The AWS Access Key Id you provided does not exist/,
    );
    await attempt(
      { use_sha: false, region: "eu-west-1" },
      /AuthorizationHeaderMalformed: the region 'eu-west-1' is wrong/,
    );
    await attempt(
      { archive_bucket: "no-such-bucket" },
      /^s3: cannot write s3:\/\/no-such-bucket\/.*: NoSuchBucket: /,
    );
    await attempt(
      { use_sha: false, archive_bucket: "no-such-bucket" },
      /NoSuchBucket: The specified bucket does not exist \(HTTP 404\)/,
    );
    equal(await srv.object("archive", fanOut(p.sha256, 5)), null);

    const { instance, call } = await instantiate(s3, options(srv));
    await closing(instance, async () => {
      const missing = "ab".repeat(32);
      await rejects(
        async () => await instance.get!(missing, call),
        new RegExp(`^Error: s3: cannot fetch s3://archive/a/b/a/b/a/${missing}: NoSuchKey: `),
      );
      await rejects(
        async () => await instance.get!(42, call),
        /give \{bucket, path\}, s3:\/\/bucket\/key/,
      );
    });
  }));

Deno.test("s3: get refuses an object whose bytes do not match the sha256 its key names", () =>
  withS3(async (srv) => {
    const real = makePayload("the real payload");
    const fake = makePayload("something else");
    // Store other bytes under the real payload's key, as a damaged or tampered store would.
    const { instance: raw } = await instantiate(
      s3,
      options(srv, { use_sha: false, prefix: fanOut(real.sha256, 5).replace(/[^/]+$/, "") }),
    );
    await closing(raw, async () => {
      const forged = { ...fake, results: { ...fake.results, payload_id: real.sha256 } };
      await raw.archive!(forged, makeRequest(forged), makeCall());
    });
    const { instance, call } = await instantiate(s3, options(srv));
    await closing(instance, () =>
      rejects(
        async () => await instance.get!(real.sha256, call),
        new RegExp(`does not hold the payload its key names \\(sha256 ${fake.sha256}\\)`),
      ));
  }));

Deno.test("s3 connector: each result is <scan_id>.json in connector_bucket", () =>
  withS3(async (srv) => {
    const scan = await realScan();
    const { instance, call } = await instantiate(
      s3,
      options(srv, { connector_bucket: "results", prefix: "scans/" }),
    );
    await closing(instance, async () => {
      await instance.save!(scan.response, call);
      const stored = await srv.object("results", `scans/${scan.response.scan_id}.json`);
      deepEqual(
        JSON.parse(new TextDecoder().decode(stored!)),
        JSON.parse(JSON.stringify(scan.response)),
      );
    });
    const { instance: none } = await instantiate(s3, options(srv));
    await closing(
      none,
      () =>
        rejects(async () => await none.save!(scan.response, makeCall()), /set connector_bucket/),
    );
  }));

Deno.test("s3: credentials come from STOQ_S3_* variables; none is a clear error", () =>
  withS3(async (srv) => {
    await rejects(
      () => instantiate(s3, { endpoint: srv.url }),
      /s3: no credentials: set access_key and secret_key/,
    );
    Deno.env.set("STOQ_S3_ACCESS_KEY", ACCESS);
    Deno.env.set("STOQ_S3_SECRET_KEY", SECRET);
    try {
      const p = makePayload("from env");
      const { instance, call } = await instantiate(s3, {
        endpoint: srv.url,
        archive_bucket: "archive",
      });
      await closing(instance, async () => {
        await instance.archive!(p, makeRequest(p), call);
      });
      equal(
        new TextDecoder().decode((await srv.object("archive", fanOut(p.sha256, 5)))!),
        "from env",
      );
    } finally {
      Deno.env.delete("STOQ_S3_ACCESS_KEY");
      Deno.env.delete("STOQ_S3_SECRET_KEY");
    }
  }));

Deno.test("s3: options are checked", () => {
  const schema = s3(stoqAPI).optionsSchema;
  equal(schema.parse({}).path_style, true);
  for (
    const bad of [{ archive_bucket: "Bad_Bucket" }, { prefix: "/abs" }, { prefix: "noslash" }, {
      endpoint: "s3.local",
    }, { fan_out: 17 }]
  ) {
    ok(!schema.safeParse(bad).success, JSON.stringify(bad));
  }
});

Deno.test("s3: ./stoq scan -A s3 archives a file, ./stoq scan -S s3 SHA256 re-scans it", () =>
  withS3(async (srv) => {
    const scan = await realScan();
    const env = { STOQ_S3_ACCESS_KEY: ACCESS, STOQ_S3_SECRET_KEY: SECRET };
    const opts = ["--plugin-opts", `s3:endpoint=${srv.url}`, "s3:archive_bucket=archive"];
    const first = await runStoq([
      "scan",
      scan.zipPath,
      "-a",
      "hash",
      "-A",
      "s3",
      ...opts,
    ], { env });
    equal(first.code, 0, show(first));
    const doc = parseDoc(first.stdout);
    const path = fanOut(scan.zip.sha256, 5);
    deepEqual(doc.results[0].archivers.s3, { bucket: "archive", path });
    deepEqual(await srv.object("archive", path), await Deno.readFile(scan.zipPath));
    ok(!first.stderr.includes(SECRET), first.stderr);

    const again = await runStoq([
      "scan",
      "-S",
      "s3",
      scan.zip.sha256,
      "-a",
      "hash",
      ...opts,
    ], { env });
    equal(again.code, 0, show(again));
    const redo = parseDoc(again.stdout);
    equal((redo.results[0].workers.hash as { sha256: string }).sha256, scan.zip.sha256);
    equal((redo.results[0].workers.hash as { md5: string }).md5, scan.zip.md5);
    match(
      JSON.stringify(redo.results[0].payload_meta.extra_data),
      new RegExp(`"bucket":"archive","path":"${path}"`),
    );
  }));
