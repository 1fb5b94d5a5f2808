/** Shared by the storage plugin tests: a real scan to store, and a loopback HTTP test server. */
import { join } from "node:path";
import decompress from "../../plugins/decompress.ts";
import hash from "../../plugins/hash.ts";
import mimetype from "../../plugins/mimetype.ts";
import yara from "../../plugins/yara.ts";
import type { StoqResponse } from "../../core/engine/plugin.ts";
import { input, testEngine } from "../engine/harness.ts";
import { sh, tempDir } from "../helpers.ts";

/** What `realScan` scanned, to check stores against. */
export interface RealScan {
  response: StoqResponse;
  /** The zip's path on disk. */
  zipPath: string;
  /** sha256sum / md5sum of the zip and of the member that the rule matches. */
  zip: { sha256: string; md5: string };
  note: { sha256: string; md5: string };
  rule: string;
}

/**
 * Scans a zip (made by `zip`) holding a text file that a YARA rule matches and a random binary,
 * with decompress, hash, mimetype and yara: a result with three payloads, as stoq makes it.
 */
export async function realScan(): Promise<RealScan> {
  const dir = await tempDir();
  const rule = `storage_test_${crypto.randomUUID().replaceAll("-", "").slice(0, 8)}`;
  const note = `invoice ${crypto.randomUUID()} please pay\n`;
  await Deno.writeTextFile(join(dir, "note.txt"), note);
  await sh("dd", ["if=/dev/urandom", "of=blob.bin", "bs=1k", "count=4", "status=none"], dir);
  await sh("zip", ["-q", "bundle.zip", "note.txt", "blob.bin"], dir);
  const rules = join(dir, "rules.yar");
  await Deno.writeTextFile(rules, `rule ${rule} { strings: $a = "please pay" condition: $a }\n`);
  const e = await testEngine({
    plugins: [decompress, hash, mimetype, yara],
    pipeline: { always_dispatch: ["hash", "mimetype", "yara"] },
    options: { yara: { worker_rules: [rules] } },
  });
  const zipPath = join(dir, "bundle.zip");
  const response = await e.scan(
    [input(await Deno.readFile(zipPath), {
      payload_meta: { extra_data: { filename: "bundle.zip" } },
    })],
    { start_dispatch: ["decompress"] },
  );
  await e.host.closeAll();
  return {
    response,
    zipPath,
    zip: await sums(zipPath),
    note: await sums(join(dir, "note.txt")),
    rule,
  };
}

async function sums(path: string): Promise<{ sha256: string; md5: string }> {
  const first = async (cmd: string) => (await sh(cmd, [path])).split(" ")[0];
  return { sha256: await first("sha256sum"), md5: await first("md5sum") };
}

/** One request as the test server saw it. */
export interface SeenRequest {
  method: string;
  path: string;
  search: string;
  headers: Headers;
  body: Uint8Array;
  text: string;
}

/** A loopback HTTP(S) server run by a test; `close()` stops it. */
export interface TestServer {
  url: string;
  seen: SeenRequest[];
  close(): Promise<void>;
}

/**
 * Serves `handle` on 127.0.0.1 (an ephemeral port), recording every request. With `tls`, serves
 * HTTPS with that certificate and key.
 */
export function serve(
  handle: (req: SeenRequest) => Response | Promise<Response>,
  tls?: { cert: string; key: string },
): TestServer {
  const seen: SeenRequest[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {}, ...tls },
    async (req) => {
      const u = new URL(req.url);
      const body = new Uint8Array(await req.arrayBuffer());
      const r: SeenRequest = {
        method: req.method,
        path: u.pathname,
        search: u.search,
        headers: req.headers,
        body,
        text: new TextDecoder().decode(body),
      };
      seen.push(r);
      return await handle(r);
    },
  );
  return {
    url: `${tls ? "https" : "http"}://127.0.0.1:${server.addr.port}`,
    seen,
    close: () => server.shutdown(),
  };
}

/** A JSON response. */
export function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json" },
  });
}

/**
 * A private CA and a server certificate it signed for 127.0.0.1, made with openssl, for the
 * TLS tests: PEM texts and the CA's path.
 */
export async function testCertificates(): Promise<{ cert: string; key: string; caPath: string }> {
  const dir = await tempDir();
  const run = (...args: string[]) => sh("openssl", args, dir);
  await run(
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    "2",
    "-subj",
    "/CN=stoq test CA",
  );
  await run(
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "key.pem",
    "-out",
    "srv.csr",
    "-subj",
    "/CN=127.0.0.1",
  );
  await Deno.writeTextFile(
    join(dir, "ext.cnf"),
    "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
  );
  await run(
    "x509",
    "-req",
    "-in",
    "srv.csr",
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "cert.pem",
    "-days",
    "2",
    "-extfile",
    "ext.cnf",
  );
  return {
    cert: await Deno.readTextFile(join(dir, "cert.pem")),
    key: await Deno.readTextFile(join(dir, "key.pem")),
    caPath: join(dir, "ca.pem"),
  };
}
