/**
 * The x509 plugin against openssl, value by value: PEM and DER certificates (`openssl x509`),
 * PKCS#7 bundles in DER and PEM (`openssl pkcs7 -print_certs`), an expired, self-signed RSA-1024
 * SHA-1 certificate (findings), a malformed file, and `./stoq scan` with no flags.
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import x509 from "../../plugins/x509.ts";
import { parseDoc, runStoq, show } from "../cli_helpers.ts";
import { instantiate, makePayload, makeRequest, sh } from "../helpers.ts";
import { peFiles } from "../fixtures/pe_files.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

async function scan(content: Uint8Array) {
  const { instance, call } = await instantiate(x509);
  const p = makePayload(content);
  return await instance.scan!(p, makeRequest(p), call) as { results?: Json; errors: string[] };
}

const MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(" ");
/** openssl's "Mar 12 19:35:19 2026 GMT" as ISO 8601. */
function opensslDate(s: string): string {
  const m = /^(\w{3})\s+(\d+) (\d\d:\d\d:\d\d) (\d{4}) GMT$/.exec(s.trim())!;
  const mm = String(MONTHS.indexOf(m[1]) + 1).padStart(2, "0");
  return `${m[4]}-${mm}-${m[2].padStart(2, "0")}T${m[3]}Z`;
}

/** What openssl says about each certificate in a PEM file. */
async function openssl(pemPath: string): Promise<Json[]> {
  const pem = await Deno.readTextFile(pemPath);
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  const out = [];
  for (const b of blocks) {
    const tmp = await Deno.makeTempFile();
    await Deno.writeTextFile(tmp, b + "\n");
    const args = ["x509", "-in", tmp, "-noout", "-nameopt", "utf8,sep_comma_plus_space,sname"];
    const info = await sh("openssl", [
      ...args,
      "-subject",
      "-issuer",
      "-serial",
      "-startdate",
      "-enddate",
    ]);
    const sha1 = await sh("openssl", [...args, "-fingerprint", "-sha1"]);
    const sha256 = await sh("openssl", [...args, "-fingerprint", "-sha256"]);
    const text = await sh("openssl", ["x509", "-in", tmp, "-noout", "-text"]);
    await Deno.remove(tmp);
    const field = (k: string) => new RegExp(`^${k}=(.*)$`, "m").exec(info)![1];
    const fp = (t: string) => /Fingerprint=(.*)$/m.exec(t)![1].replaceAll(":", "").toLowerCase();
    const san = /X509v3 Subject Alternative Name:.*\n\s*(.*)/.exec(text)?.[1].split(", ") ?? [];
    out.push({
      subject: field("subject"),
      issuer: field("issuer"),
      serial: field("serial").toLowerCase(),
      not_before: opensslDate(field("notBefore")),
      not_after: opensslDate(field("notAfter")),
      sha1: fp(sha1),
      sha256: fp(sha256),
      bits: Number(/Public-Key: \((\d+) bit\)/.exec(text)![1]),
      signature_algorithm: /Signature Algorithm: (\S+)/.exec(text)![1],
      san,
      is_ca: /CA:TRUE/.test(text),
    });
  }
  return out;
}

const ours = (c: Json) => ({
  subject: c.subject,
  issuer: c.issuer,
  serial: c.serial,
  not_before: c.not_before,
  not_after: c.not_after,
  sha1: c.fingerprints.sha1,
  sha256: c.fingerprints.sha256,
  bits: c.public_key.bits,
  signature_algorithm: c.signature_algorithm === "ecdsa-with-SHA256"
    ? "ecdsa-with-SHA256"
    : c.signature_algorithm,
  san: c.subject_alt_names,
  is_ca: c.is_ca === true,
});

Deno.test("x509: PEM and DER certificates match openssl x509 value by value", async () => {
  const f = await peFiles();
  for (const name of ["signer.pem", "ca.pem", "tsa.pem", "weak.pem"] as const) {
    const r = await scan(await Deno.readFile(f[name]));
    deepEqual(r.errors, []);
    equal(r.results.format, "pem");
    deepEqual(r.results.certificates.map(ours), await openssl(f[name]), name);
  }
  const der = await scan(await Deno.readFile(f["ca.der"]));
  equal(der.results.format, "der");
  deepEqual(der.results.certificates.map(ours), await openssl(f["ca.pem"]));
  const signer = (await scan(await Deno.readFile(f["signer.pem"]))).results.certificates[0];
  deepEqual(signer.extended_key_usage, ["codeSigning"]);
  deepEqual(signer.key_usage, ["digitalSignature"]);
  deepEqual(signer.subject_alt_names, [
    "DNS:signer.stoq.test",
    "email:signer@stoq.test",
    "IP Address:192.0.2.7",
  ]);
  equal(signer.public_key.algorithm, "RSA");
  const tsa = (await scan(await Deno.readFile(f["tsa.pem"]))).results.certificates[0];
  deepEqual([tsa.public_key.algorithm, tsa.public_key.curve, tsa.public_key.bits], [
    "EC",
    "prime256v1",
    256,
  ]);
});

Deno.test("x509: PKCS#7 bundles (DER and PEM) list the certificates openssl pkcs7 -print_certs prints", async () => {
  const f = await peFiles();
  const printed = await Deno.makeTempFile();
  await sh("openssl", [
    "pkcs7",
    "-inform",
    "DER",
    "-in",
    f["chain.p7b"],
    "-print_certs",
    "-out",
    printed,
  ]);
  const ref = await openssl(printed);
  equal(ref.length, 2);
  for (const name of ["chain.p7b", "chain_pem.p7b"] as const) {
    const r = await scan(await Deno.readFile(f[name]));
    deepEqual(r.errors, []);
    deepEqual(r.results.certificates.map(ours), ref, name);
    equal(r.results.pkcs7[0].content_type, "data");
    deepEqual(r.results.pkcs7[0].chain.map((c: Json) => c.verified_by_issuer), [true, true]);
  }
});

Deno.test("x509: an expired self-signed RSA-1024 SHA-1 certificate is flagged; garbage gives a named error", async () => {
  const f = await peFiles();
  const r = await scan(await Deno.readFile(f["weak.pem"]));
  const c = r.results.certificates[0];
  equal(c.self_signed, true);
  equal(c.expired, true);
  deepEqual(r.results.findings.map((x: Json) => x.id).sort(), [
    "expired",
    "self_signed",
    "weak_key",
    "weak_signature_algorithm",
  ]);
  const signer = await scan(await Deno.readFile(f["signer.pem"]));
  deepEqual(signer.results.findings, []);
  const der = await Deno.readFile(f["ca.der"]);
  for (const cut of [10, 100, der.length - 1]) {
    const bad = await scan(der.subarray(0, cut));
    equal(bad.results, undefined);
    ok(
      /x509: DER: not a certificate or PKCS#7 SignedData: .* at offset \d+/.test(bad.errors[0]),
      bad.errors[0],
    );
  }
});

Deno.test("x509: ./stoq scan with no flags routes DER, PEM and PKCS#7 files to x509", async () => {
  const f = await peFiles();
  for (const name of ["ca.der", "signer.pem", "chain.p7b"] as const) {
    const run = await runStoq(["scan", f[name]]);
    equal(run.code, 0, show(run));
    const w = parseDoc(run.stdout).results[0].workers.x509 as Json;
    ok(w, `${name} was not routed to x509:\n${show(run)}`);
    ok(w.certificates[0].fingerprints.sha256.length === 64);
  }
});

Deno.test("typing: certificate files get exactly their certificate flavor; PE fixtures get pe_file", async () => {
  const f = await peFiles();
  const want: [keyof typeof f, string[]][] = [
    ["ca.der", ["x509_der_file"]],
    ["chain.p7b", ["pkcs7_file"]],
    ["signer.pem", ["x509_pem_file"]],
    ["chain_pem.p7b", ["x509_pem_file"]],
    ["weak.pem", ["x509_pem_file"]],
    ["app_signed.exe", ["pe_file"]],
    ["shimx64.efi.signed", ["pe_file"]],
    ["stoqlib.dll", ["pe_file"]],
  ];
  const r = await runStoq(["route", "explain", "--json", ...want.map(([n]) => f[n])]);
  equal(r.code, 0, show(r));
  const got = JSON.parse(r.stdout) as {
    dispatchers: { explanation: { facts: { flavors: string[] } } }[];
  }[];
  want.forEach(([name, flavors], i) => {
    const typed = got[i].dispatchers[0].explanation.facts.flavors.filter((x) => !x.includes("/"));
    deepEqual(typed, flavors, name);
  });
});
