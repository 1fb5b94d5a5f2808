/**
 * The pe plugin against independent tools, value by value: pefile (sections, imports, imphash,
 * exports, resources, version info, TLS, debug/PDB, Rich header, overlay, checksum), pev's
 * readpe/pehash/pesec, osslsigncode (Authenticode digests and verdict) and openssl (the
 * certificates in the signatures). Plus truncated and corrupted copies, the upx plugin, and
 * `./stoq scan` with no flags.
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import pe from "../../plugins/pe.ts";
import upx from "../../plugins/upx.ts";
import { parsePe } from "../../plugins/lib/pe/index.ts";
import { upxEvidence } from "../../plugins/lib/pe/upx.ts";
import { parseSignedData } from "../../plugins/lib/x509/pkcs7.ts";
import { parseDoc, type ResultEntry, runStoq, show } from "../cli_helpers.ts";
import { instantiate, makePayload, makeRequest, sh, sha256, withoutTools } from "../helpers.ts";
import { peFiles } from "../fixtures/pe_files.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

/** What pefile says about a file (the reference the parser is compared with). */
const PEFILE_PY = `import hashlib, json, sys, pefile
pe = pefile.PE(sys.argv[1])
out = {"machine": pe.FILE_HEADER.Machine, "timestamp": pe.FILE_HEADER.TimeDateStamp,
  "characteristics": pe.FILE_HEADER.Characteristics, "subsystem": pe.OPTIONAL_HEADER.Subsystem,
  "dll_characteristics": pe.OPTIONAL_HEADER.DllCharacteristics,
  "entry": pe.OPTIONAL_HEADER.AddressOfEntryPoint, "image_base": pe.OPTIONAL_HEADER.ImageBase,
  "checksum": pe.OPTIONAL_HEADER.CheckSum, "computed_checksum": pe.generate_checksum(),
  "imphash": pe.get_imphash(), "overlay": pe.get_overlay_data_start_offset()}
out["sections"] = [{"name": s.Name.rstrip(b"\\0").decode(), "va": s.VirtualAddress, "vsize": s.Misc_VirtualSize,
  "raw": s.PointerToRawData, "rsize": s.SizeOfRawData, "chars": s.Characteristics,
  "entropy": s.get_entropy(), "md5": s.get_hash_md5(), "sha256": s.get_hash_sha256()} for s in pe.sections]
out["imports"] = [{"dll": e.dll.decode(), "functions": [i.name.decode() if i.name else "ord%d" % i.ordinal for i in e.imports]}
  for e in getattr(pe, "DIRECTORY_ENTRY_IMPORT", [])]
if hasattr(pe, "DIRECTORY_ENTRY_EXPORT"):
  ex = pe.DIRECTORY_ENTRY_EXPORT
  out["exports"] = {"name": pe.get_string_at_rva(ex.struct.Name).decode(), "functions": [{"ordinal": s.ordinal,
    "name": s.name.decode() if s.name else None, "rva": s.address,
    "forwarder": s.forwarder.decode() if s.forwarder else None} for s in ex.symbols]}
res = []
def walk(d, path):
  for e in d.entries:
    label = str(e.name) if e.name is not None else str(e.id)
    if hasattr(e, "directory"):
      walk(e.directory, path + [(e.id, label)])
    else:
      data = pe.get_data(e.data.struct.OffsetToData, e.data.struct.Size)
      res.append({"type": path[0][0] if path[0][1].isdigit() else path[0][1], "name": path[1][1], "lang": e.id,
        "size": e.data.struct.Size, "offset": pe.get_offset_from_rva(e.data.struct.OffsetToData),
        "sha256": hashlib.sha256(data).hexdigest()})
if hasattr(pe, "DIRECTORY_ENTRY_RESOURCE"):
  walk(pe.DIRECTORY_ENTRY_RESOURCE, [])
out["resources"] = res
vi = {}
for fi in getattr(pe, "FileInfo", []):
  for entry in fi:
    for st in getattr(entry, "StringTable", []):
      for k, v in st.entries.items():
        vi[k.decode()] = v.decode()
out["version_strings"] = vi
if hasattr(pe, "VS_FIXEDFILEINFO"):
  f = pe.VS_FIXEDFILEINFO[0]
  out["file_version"] = "%d.%d.%d.%d" % (f.FileVersionMS >> 16, f.FileVersionMS & 0xffff, f.FileVersionLS >> 16, f.FileVersionLS & 0xffff)
if hasattr(pe, "DIRECTORY_ENTRY_TLS"):
  t = pe.DIRECTORY_ENTRY_TLS.struct
  cbs, rva = [], t.AddressOfCallBacks - pe.OPTIONAL_HEADER.ImageBase
  while True:
    v = pe.get_qword_at_rva(rva) if pe.PE_TYPE == pefile.OPTIONAL_HEADER_MAGIC_PE_PLUS else pe.get_dword_at_rva(rva)
    if not v: break
    cbs.append(v); rva += 8 if pe.PE_TYPE == pefile.OPTIONAL_HEADER_MAGIC_PE_PLUS else 4
  out["tls_callbacks"] = cbs
for d in getattr(pe, "DIRECTORY_ENTRY_DEBUG", []):
  e = d.entry
  if e is not None and hasattr(e, "PdbFileName"):
    g = "%08X-%04X-%04X-%s-%s" % (e.Signature_Data1, e.Signature_Data2, e.Signature_Data3,
      bytes([e.Signature_Data4, e.Signature_Data5]).hex().upper(), e.Signature_Data6.hex().upper())
    out["pdb"] = {"path": e.PdbFileName.rstrip(b"\\0").decode(), "guid": g, "age": e.Age}
rich = pe.parse_rich_header()
if rich:
  v = rich["values"]
  out["rich"] = {"entries": [{"product_id": v[i] >> 16, "build": v[i] & 0xffff, "count": v[i + 1]} for i in range(0, len(v), 2)],
    "hash": pe.get_rich_header_hash()}
sec = pe.OPTIONAL_HEADER.DATA_DIRECTORY[4]
out["security"] = {"offset": sec.VirtualAddress, "size": sec.Size}
print(json.dumps(out))
`;

async function pefile(path: string): Promise<Json> {
  return JSON.parse(await sh("/usr/bin/python3", ["-c", PEFILE_PY, path]));
}

async function scanPe(path: string, opts: Record<string, unknown> = {}) {
  const { instance, call } = await instantiate(pe, opts);
  const p = makePayload(await Deno.readFile(path), { extra_data: { filename: path } });
  const out = await instance.scan!(p, makeRequest(p), call);
  return out as {
    results: Json;
    extracted: { content: Uint8Array; payload_meta: Json }[];
    errors: string[];
  };
}

/** pefile's view equals ours, field by field. */
async function compareWithPefile(path: string) {
  const [ref, { results: r, errors }] = await Promise.all([pefile(path), scanPe(path)]);
  deepEqual(errors, [], path);
  equal(parseInt(r.machine.value, 16), ref.machine, "machine");
  equal(r.timestamps.header_raw, ref.timestamp, "header timestamp");
  equal(parseInt(r.characteristics.value, 16), ref.characteristics, "characteristics");
  equal(r.subsystem.value, ref.subsystem, "subsystem");
  equal(parseInt(r.dll_characteristics.value, 16), ref.dll_characteristics, "dll characteristics");
  equal(r.entry_point.rva, ref.entry, "entry point");
  equal(BigInt(r.image_base), BigInt(ref.image_base), "image base");
  equal(parseInt(r.checksum.stored, 16), ref.checksum, "stored checksum");
  equal(parseInt(r.checksum.computed, 16), ref.computed_checksum, "computed checksum");
  equal(r.imphash, ref.imphash, "imphash");
  equal(r.sections.length, ref.sections.length);
  r.sections.forEach((s: Json, i: number) => {
    const x = ref.sections[i];
    deepEqual(
      [
        s.name,
        s.virtual_address,
        s.virtual_size,
        s.raw_address,
        s.raw_size,
        parseInt(s.characteristics.value, 16),
        s.md5,
        s.sha256,
      ],
      [x.name, x.va, x.vsize, x.raw, x.rsize, x.chars, x.md5, x.sha256],
      `section ${i}`,
    );
    ok(
      Math.abs(s.entropy - x.entropy) < 1e-3,
      `entropy of ${s.name}: ${s.entropy} vs ${x.entropy}`,
    );
  });
  deepEqual(r.imports, ref.imports, "imports");
  if (ref.exports) {
    equal(r.exports.dll_name, ref.exports.name);
    deepEqual(
      r.exports.functions.map((f: Json) => ({
        ordinal: f.ordinal,
        name: f.name,
        rva: f.rva,
        forwarder: f.forwarder ?? null,
      })),
      ref.exports.functions,
      "exports",
    );
  }
  const names: Record<string, number> = {
    RT_RCDATA: 10,
    RT_VERSION: 16,
    RT_MANIFEST: 24,
    RT_ICON: 3,
    RT_GROUP_ICON: 14,
  };
  deepEqual(
    r.resources.map((x: Json) => ({
      type: names[x.type] ?? x.type,
      name: x.name,
      lang: parseInt(x.language_id, 16),
      size: x.size,
      offset: x.offset,
      sha256: x.sha256,
    })),
    ref.resources,
    "resources",
  );
  if (Object.keys(ref.version_strings).length) {
    deepEqual(r.version_info.strings, ref.version_strings, "version strings");
    equal(r.version_info.file_version, ref.file_version);
  }
  if (ref.tls_callbacks) {
    deepEqual(
      r.tls.callbacks.map((c: Json) => BigInt(c.va)),
      ref.tls_callbacks.map(BigInt),
      "TLS callbacks",
    );
  }
  if (ref.pdb) deepEqual({ path: r.pdb.path, guid: r.pdb.guid, age: r.pdb.age }, ref.pdb, "PDB");
  if (ref.rich) {
    deepEqual(r.rich_header.entries, ref.rich.entries, "rich entries");
    equal(r.rich_header.hash, ref.rich.hash, "rich hash");
  } else equal(r.rich_header, undefined);
  return { ref, r };
}

Deno.test("pe: app.exe (TLS, resources, version info, PDB) matches pefile field by field", async () => {
  const f = await peFiles();
  const { r } = await compareWithPefile(f["app.exe"]);
  equal(r.format, "PE32+");
  equal(r.kind, "executable");
  equal(r.pdb.path, "app.pdb");
  equal(r.version_info.strings.CompanyName, "stoq test");
  ok(r.findings.some((x: Json) => x.id === "resource_executable" && /101 is PE/.test(x.detail)));
  ok(r.findings.some((x: Json) => x.id === "tls_callbacks"));
});

Deno.test("pe: the DLL's exports (with a forwarder), the shim EFI binary and the Rich headers match pefile", async () => {
  const f = await peFiles();
  const dll = await compareWithPefile(f["stoqlib.dll"]);
  equal(dll.r.kind, "dll");
  ok(dll.r.exports.functions.some((x: Json) => x.forwarder === "kernel32.GetTickCount"));
  const shim = await compareWithPefile(f["shimx64.efi.signed"]);
  equal(shim.r.kind, "efi_application");
  await compareWithPefile(f["rich.exe"]);
  const forged = await compareWithPefile(f["rich_forged.exe"]);
  equal(forged.r.rich_header.checksum_valid, false);
  ok(forged.r.findings.some((x: Json) => x.id === "rich_header_tampered"));
  equal((await scanPe(f["rich.exe"])).results.rich_header.checksum_valid, true);
});

Deno.test("pe: sections and imphash match readpe and pehash (pev)", async () => {
  const f = await peFiles();
  for (const name of ["app.exe", "stoqlib.dll", "shimx64.efi.signed"] as const) {
    const { results: r } = await scanPe(f[name]);
    const readpe = JSON.parse(await sh("readpe", ["-f", "json", "-S", f[name]])).Sections;
    deepEqual(
      // readpe 0.81 prints at most 7 characters of a name (".buildid" is ".buildi").
      r.sections.map((
        s: Json,
      ) => [
        s.name.slice(0, 7),
        s.virtual_address,
        s.virtual_size,
        s.raw_address,
        s.raw_size,
        s.characteristics.value,
      ]),
      readpe.map((s: Json) => [
        s.Name,
        parseInt(s["Virtual Address"], 16),
        parseInt(s["Virtual Size"], 16),
        parseInt(s["Pointer To Raw Data"], 16),
        parseInt(s["Size Of Raw Data"], 16),
        `0x${parseInt(s.Characteristics, 16).toString(16).padStart(8, "0")}`,
      ]),
      `${name} sections`,
    );
    const pehash = JSON.parse(await sh("pehash", ["-f", "json", "-a", f[name]]));
    if (r.imports.length) equal(r.imphash, pehash.file.imphash, `${name} imphash`);
    deepEqual(
      // pehash gives no hashes for a section without raw data.
      r.sections.map((s: Json) => s.raw_size > 0 ? s.sha256 : null),
      pehash.sections.map((s: Json) => s.sha256 ?? null),
      `${name} section sha256`,
    );
  }
});

/** osslsigncode's digests ("Current" = signed, "Calculated" = recomputed) and verdict. */
async function osslsigncode(path: string) {
  const out = await new Deno.Command("osslsigncode", {
    args: ["verify", "-in", path],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  return {
    signed: /Current message digest\s*:\s*([0-9A-F]+)/.exec(text)![1].toLowerCase(),
    computed: /Calculated message digest\s*:\s*([0-9A-F]+)/.exec(text)![1].toLowerCase(),
    mismatch: /MISMATCH/.test(text),
  };
}

Deno.test("pe: Authenticode digests and verdict agree with osslsigncode; one changed byte gives signature_mismatch", async () => {
  const f = await peFiles();
  const good = await scanPe(f["app_signed.exe"]);
  const sig = good.results.signature.entries[0].signatures[0];
  const ref = await osslsigncode(f["app_signed.exe"]);
  equal(sig.signed_digest, ref.signed);
  equal(sig.computed_digest, ref.computed);
  equal(ref.mismatch, false);
  equal(sig.digest_matches, true);
  equal(sig.digest_algorithm, "sha256");
  const signer = sig.signers[0];
  equal(signer.signature_verified, true);
  equal(signer.message_digest_matches, true);
  equal(signer.program_name, "stoq signed fixture");
  equal(signer.more_info_url, "https://stoq.test/info");
  equal(signer.timestamps[0].type, "rfc3161");
  equal(signer.timestamps[0].digest_matches, true);
  equal(signer.timestamps[0].signature_verified, true);
  equal(signer.timestamps[0].signer, "C=US, O=stoq test, CN=stoq test TSA");
  ok(
    /^digest matches and signer signature verifies; chain to a trusted root not verified/.test(
      good.results.signature.verdict,
    ),
  );
  ok(!good.results.findings.some((x: Json) => x.id === "signature_mismatch"));

  const bad = await scanPe(f["app_tampered.exe"]);
  const badSig = bad.results.signature.entries[0].signatures[0];
  const badRef = await osslsigncode(f["app_tampered.exe"]);
  equal(badRef.mismatch, true);
  equal(badSig.signed_digest, badRef.signed);
  equal(badSig.computed_digest, badRef.computed);
  equal(badSig.digest_matches, false);
  const finding = bad.results.findings.find((x: Json) => x.id === "signature_mismatch");
  equal(finding?.severity, "high");
  equal(finding?.title, "signature does not match");
  ok(/does not match/.test(bad.results.signature.verdict));
});

/** The certificates `pesec -c pem` dumps, as openssl reads them. */
async function opensslCerts(pem: string): Promise<Json[]> {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  const out = [];
  for (const b of blocks) {
    const tmp = await Deno.makeTempFile();
    await Deno.writeTextFile(tmp, b + "\n");
    const text = await sh("openssl", [
      "x509",
      "-in",
      tmp,
      "-noout",
      "-subject",
      "-issuer",
      "-serial",
      "-fingerprint",
      "-sha256",
      "-nameopt",
      "utf8,sep_comma_plus_space,sname",
    ]);
    await Deno.remove(tmp);
    const field = (k: string) => new RegExp(`^${k}=(.*)$`, "m").exec(text)![1];
    out.push({
      subject: field("subject"),
      issuer: field("issuer"),
      serial: field("serial").toLowerCase(),
      sha256: /Fingerprint=(.*)$/m.exec(text)![1].replaceAll(":", "").toLowerCase(),
    });
  }
  return out;
}

Deno.test("pe: certificates in the signatures match pesec's dump read by openssl, entry counts match pesec", async () => {
  const f = await peFiles();
  for (const name of ["app_signed.exe", "shimx64.efi.signed"] as const) {
    const { results: r } = await scanPe(f[name]);
    const pesec = JSON.parse(await sh("pesec", ["-f", "json", f[name]]));
    equal(
      r.signature.entries.length,
      pesec.certificates.length,
      `${name}: WIN_CERTIFICATE entries`,
    );
    r.signature.entries.forEach((e: Json, i: number) => {
      equal(`${e.length} bytes`, pesec.certificates[i].Length);
      equal(e.type, "PKCS_SIGNED_DATA");
    });
    const ours = r.signature.entries.flatMap((e: Json) =>
      e.signatures.flatMap((s: Json) =>
        s.certificates.map((c: Json) => ({
          subject: c.subject,
          issuer: c.issuer,
          serial: c.serial,
          sha256: c.fingerprints.sha256,
        }))
      )
    );
    const dump = await Deno.makeTempFile();
    await sh("pesec", ["-c", "pem", "-o", dump, f[name]]);
    const theirs = await opensslCerts(await Deno.readTextFile(dump));
    await Deno.remove(dump);
    // pesec dumps the outer signatures' certificates; each is among ours with equal values.
    ok(theirs.length > 0);
    for (const c of theirs) {
      ok(
        ours.some((o: Json) => JSON.stringify(o) === JSON.stringify(c)),
        `${name}: ${JSON.stringify(c)}`,
      );
    }
    for (const e of r.signature.entries) {
      equal(e.signatures[0].digest_matches, true, `${name}: digest`);
      equal(e.signatures[0].signers[0].signature_verified, true, `${name}: signer signature`);
    }
  }
});

Deno.test("pe: overlay and resource files are children with exact sha256", async () => {
  const f = await peFiles();
  const data = await Deno.readFile(f["app_signed.exe"]);
  const ref = await pefile(f["app_signed.exe"]);
  const { results: r, extracted } = await scanPe(f["app_signed.exe"]);
  const app = await Deno.readFile(f["app.exe"]);
  equal(r.overlay.offset, app.length, "the overlay starts where app.exe ended");
  // pefile's overlay runs to the end of the file; ours stops at the certificate table.
  equal(ref.overlay, app.length);
  const overlayBytes = data.subarray(ref.overlay, ref.security.offset);
  equal(r.overlay.size, overlayBytes.length);
  equal(r.overlay.sha256, sha256(overlayBytes));
  const overlay = extracted.find((c) => c.payload_meta.extra_data.source === "overlay")!;
  equal(sha256(overlay.content), sha256(overlayBytes));
  const zip = await Deno.readFile(f["bundle.zip"]);
  ok(
    sha256(overlayBytes.subarray(0, zip.length)) === sha256(zip),
    "the overlay begins with the appended zip",
  );
  const byName = (n: string) =>
    extracted.find((c) => c.payload_meta.extra_data.resource_name === n)!;
  equal(sha256(byName("101").content), sha256(await Deno.readFile(f["embedded.exe"])));
  equal(sha256(byName("102").content), sha256(zip));
  equal(byName("101").payload_meta.extra_data.embedded, "pe");
  equal(
    extracted.length,
    3,
    "overlay, embedded.exe, bundle.zip (notes.txt in PAYLOAD is plain text)",
  );
});

Deno.test("pe: truncated and corrupted copies give named errors and what was parsed, never a crash", async () => {
  const f = await peFiles();
  const whole = await Deno.readFile(f["app_signed.exe"]);
  const ctx = { extract_overlay: true, extract_resources: true, max_children: 8 };
  let parsedSome = 0;
  for (
    const cut of [0, 2, 0x3c, 0x90, 0x180, 0x300, 0x500, 4000, 20000, 50000, whole.length - 100]
  ) {
    try {
      const p = parsePe(whole.subarray(0, cut), ctx);
      parsedSome++;
      ok(Array.isArray(p.errors));
    } catch (e) {
      equal((e as Error).name, "FormatError", `cut at ${cut}: ${(e as Error).stack}`);
      ok(/past the end|not a PE/.test((e as Error).message));
    }
  }
  ok(parsedSome >= 4, "truncated images past the headers still parse");
  const cutSig = parsePe(whole.subarray(0, whole.length - 100), ctx);
  ok(cutSig.errors.some((e) => /certificate table/.test(e)), cutSig.errors.join("; "));
  ok(cutSig.result.sections, "sections still reported");
  // Corruption at fixed pseudo-random places, many times over: only values or named errors.
  let seed = 12345;
  const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
  for (let i = 0; i < 300; i++) {
    const copy = whole.slice();
    for (let j = 0; j < 8; j++) copy[rnd() % 0x1000] = rnd() & 0xff; // the headers and tables
    for (let j = 0; j < 8; j++) copy[rnd() % copy.length] = rnd() & 0xff;
    try {
      parsePe(copy, ctx);
    } catch (e) {
      equal((e as Error).name, "FormatError", String((e as Error).stack));
    }
  }
  // A corrupted signature blob still leaves the rest of the report.
  const broken = whole.slice();
  const ref = await pefile(f["app_signed.exe"]);
  broken.fill(0x41, ref.security.offset + 8, ref.security.offset + 40);
  const p = parsePe(broken, ctx);
  ok(p.errors.some((e) => /signature in WIN_CERTIFICATE/.test(e)), p.errors.join("; "));
  equal((p.result.sections as Json[]).length, ref.sections.length);
  const ber = whole.subarray(ref.security.offset + 8, ref.security.offset + ref.security.size);
  ok(parseSignedData(ber).report.certificates.length >= 2);
});

Deno.test("upx: UPX section names are flagged by pe and upx; without the upx tool one clear line, no fake result", async () => {
  const f = await peFiles();
  const { results: r } = await scanPe(f["upx_names.exe"]);
  const finding = r.findings.find((x: Json) => x.id === "packed_upx");
  ok(/section names UPX0, UPX1/.test(finding.detail));
  const { instance, call } = await instantiate(upx);
  const p = makePayload(await Deno.readFile(f["upx_names.exe"]));
  const out = await instance.scan!(p, makeRequest(p), await withoutTools(call)) as Json;
  deepEqual(out.results, { packed: true, evidence: ["section names UPX0, UPX1"], unpacked: false });
  equal(out.errors.length, 1);
  ok(/upx tool is not installed/.test(out.errors[0]));
  equal(out.extracted, undefined);
  const plain = makePayload(await Deno.readFile(f["app.exe"]));
  deepEqual((await instance.scan!(plain, makeRequest(plain), call) as Json).results, {
    packed: false,
  });
});

Deno.test("pe: ./stoq scan with no flags on a signed PE reports the fields and the children's exact sha256", async () => {
  const f = await peFiles();
  const run = await runStoq(["scan", f["app_signed.exe"]]);
  equal(run.code, 0, show(run));
  const doc = parseDoc(run.stdout);
  const root = doc.results[0];
  const r = root.workers.pe as Json;
  ok(r, show(run));
  const ref = await osslsigncode(f["app_signed.exe"]);
  equal(r.signature.entries[0].signatures[0].computed_digest, ref.computed);
  equal(r.imphash, (await pefile(f["app_signed.exe"])).imphash);
  const kids = (by: (e: ResultEntry) => boolean) =>
    doc.results.filter((e) => e.extracted_from.includes(root.payload_id) && by(e));
  const data = await Deno.readFile(f["app_signed.exe"]);
  const sha = (e: ResultEntry) => (e.workers.hash as Record<string, string>).sha256;
  const [overlay] = kids((e) => e.payload_meta.extra_data.source === "overlay");
  equal(sha(overlay), sha256(data.subarray(r.overlay.offset, r.signature.table.offset)));
  const [exe] = kids((e) => e.payload_meta.extra_data.resource_name === "101");
  equal(sha(exe), sha256(await Deno.readFile(f["embedded.exe"])));
  ok(exe.plugins_run.workers.includes("pe"), "the embedded executable is analysed by pe too");
  const [zip] = kids((e) => e.payload_meta.extra_data.resource_name === "102");
  equal(sha(zip), sha256(await Deno.readFile(f["bundle.zip"])));
  const notes = doc.results.filter((e) => e.payload_meta.extra_data.filename === "notes.txt");
  ok(notes.length >= 1, "the zip in the resource was unpacked");
  deepEqual(doc.errors.filter((e) => e.plugin_name === "pe"), []);
});

Deno.test('upx: the "UPX!" pack header is found in the first 4 KiB only, at its offset', () => {
  const at = (offset: number) => {
    const d = new Uint8Array(8192).fill(0x55); // "U" everywhere: every candidate is checked
    d.set([0x55, 0x50, 0x58, 0x21], offset);
    return upxEvidence([], d);
  };
  deepEqual(at(1000), ['"UPX!" pack header at offset 1000']);
  deepEqual(at(4092), ['"UPX!" pack header at offset 4092']);
  deepEqual(at(4093), []);
  deepEqual(upxEvidence(["UPX0", ".text"], new Uint8Array(3)), ["section names UPX0"]);
});
