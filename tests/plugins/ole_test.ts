/**
 * The ole worker against python3-olefile on real files: stream names, sizes and bytes, summary
 * properties value by value, Ole10Native unwrapped to the mingw-built executable, caps, and
 * hostile copies. `7z l` cannot be the reference here: Debian's p7zip 16.02+really26.02 refuses
 * every compound file ("Cannot open the file as [Compound] archive", the 7-Zip 26.01 regression
 * ip7z/7zip#240), so libgsf's `gsf list` is the second opinion on names and sizes.
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import type { WorkerResponse } from "../../core/engine/plugin.ts";
import ole from "../../plugins/ole.ts";
import { CompoundFile } from "../../plugins/lib/office/cfb.ts";
import { parseDoc, runStoq, show } from "../cli_helpers.ts";
import { archiveFiles, SOURCES } from "../fixtures/archive_files.ts";
import { instantiate, makePayload, makeRequest, sh, sha256 } from "../helpers.ts";
import { realFiles } from "../realfiles.ts";
import {
  DOC_PROPERTIES,
  officeFiles,
  PACKAGE_LABEL,
  PACKAGE_PATH,
} from "../fixtures/office_files.ts";

async function scan(content: Uint8Array, options: Record<string, unknown> = {}) {
  const { instance, call } = await instantiate(ole, options);
  const p = makePayload(content);
  return await instance.scan!(p, makeRequest(p), call) as WorkerResponse;
}

/** What python3-olefile says about a file: streams with size and sha256, and its metadata. */
async function olefile(path: string) {
  const out = await sh("/usr/bin/python3", [
    "-c",
    `import hashlib, json, sys, olefile
o = olefile.OleFileIO(sys.argv[1])
streams = [{"path": "/".join(e), "size": o.get_size("/".join(e)),
            "sha256": hashlib.sha256(o.openstream("/".join(e)).read()).hexdigest()}
           for e in o.listdir(streams=True, storages=False)]
m = o.get_metadata()
def val(v):
    if isinstance(v, bytes): return v.decode("utf-8", "replace")
    if hasattr(v, "isoformat"): return v.isoformat()
    return v
meta = {k: val(getattr(m, k)) for k in m.SUMMARY_ATTRIBS + m.DOCSUM_ATTRIBS}
print(json.dumps({"streams": streams, "meta": meta}))`,
    path,
  ]);
  return JSON.parse(out) as {
    streams: { path: string; size: number; sha256: string }[];
    meta: Record<string, unknown>;
  };
}

/** `gsf list`: "f <size> <path>" lines for streams. */
async function gsfList(path: string): Promise<Map<string, number>> {
  const out = await sh("gsf", ["list", path]);
  const m = new Map<string, number>();
  for (const line of out.split("\n")) {
    const f = /^f\s+(?:\S+ \S+\s+)?(\d+) (.+)$/.exec(line);
    if (f) m.set(f[2], Number(f[1]));
  }
  return m;
}

Deno.test("ole: every stream as a child, names, sizes and bytes as olefile and gsf read them", async () => {
  const real = await realFiles();
  const office = await officeFiles();
  for (
    const path of [
      real["report.doc"],
      real["macro.xls"],
      office["evil.xls"],
      office["embedded.doc"],
      office["macro.doc"],
      office["xlm.xls"],
      office["vbaProject.bin"],
    ]
  ) {
    const data = await Deno.readFile(path);
    const res = await scan(data);
    deepEqual(res.errors, [], path);
    const r = res.results as { streams: { path: string; size: number; index: number }[] };
    const ref = await olefile(path);
    deepEqual(
      r.streams.map((s) => [s.path, s.size]).sort(),
      ref.streams.map((s) => [s.path, s.size]).sort(),
      path,
    );
    const gsf = await gsfList(path);
    deepEqual(
      r.streams.map((s) => [s.path, s.size]).sort(),
      [...gsf].sort(),
      `${path} vs gsf list`,
    );
    // Each stream's bytes, except Ole10Native, which is unwrapped (checked below).
    const kids = res.extracted!;
    for (const s of ref.streams) {
      if (s.path.endsWith("\u0001Ole10Native") || s.size === 0) continue;
      const kid = kids.find((k) => k.payload_meta?.extra_data?.name === s.path);
      ok(kid, `${path}: child for ${s.path}`);
      equal(sha256(kid.content as Uint8Array), s.sha256, `${path}: ${s.path}`);
      const idx = r.streams.find((x) => x.path === s.path)!.index;
      equal(kid.payload_meta?.extra_data?.index, idx);
    }
  }
});

Deno.test("ole: summary properties equal olefile's, and the values LibreOffice was given", async () => {
  const office = await officeFiles();
  const res = await scan(await Deno.readFile(office["embedded.doc"]));
  const si = (res.results as Record<string, Record<string, unknown>>).summary_information;
  const ref = (await olefile(office["embedded.doc"])).meta;
  const iso = (v: unknown) => v === null ? undefined : new Date(`${v}Z`).toISOString();
  equal(si.title, ref.title);
  equal(si.subject, ref.subject);
  equal(si.author, ref.author);
  equal(si.keywords, ref.keywords);
  equal(si.comments, ref.comments);
  equal(si.last_saved_by, ref.last_saved_by ?? undefined);
  equal(si.revision_number, ref.revision_number);
  equal(si.created, iso(ref.create_time));
  equal(si.modified, iso(ref.last_saved_time));
  equal(si.last_printed, iso(ref.last_printed));
  equal(si.code_page, ref.codepage === -535 ? 65001 : ref.codepage);
  equal(si.creating_application, ref.creating_application ?? undefined);
  // What the fixture set through UNO (LibreOffice writes the saving user, not ModifiedBy).
  equal(si.title, DOC_PROPERTIES.title);
  equal(si.subject, DOC_PROPERTIES.subject);
  equal(si.author, DOC_PROPERTIES.author);
  equal(si.keywords, DOC_PROPERTIES.keywords);
  equal(si.comments, DOC_PROPERTIES.comments);
  equal(si.created, "2024-03-05T10:20:30.000Z");
  equal(si.last_printed, "2024-03-07T09:15:00.000Z");
});

Deno.test("ole: the Package in a LibreOffice .doc comes out as the mingw executable, by name", async () => {
  const real = await realFiles();
  const office = await officeFiles();
  const res = await scan(await Deno.readFile(office["embedded.doc"]));
  const exe = res.extracted!.find((k) => k.payload_meta?.extra_data?.filename === PACKAGE_LABEL);
  ok(exe, "the packaged file is a child named as packaged");
  equal(sha256(exe.content as Uint8Array), sha256(await Deno.readFile(real["hello.exe"])));
  const extra = exe.payload_meta!.extra_data!;
  match(String(extra.name), new RegExp("^ObjectPool/_\\d+/\u0001Ole10Native$"));
  deepEqual((extra.ole10native as Record<string, unknown>).source_path, PACKAGE_PATH);
  const findings = (res.results as { findings: { id: string; severity: string }[] }).findings;
  deepEqual(findings.map((f) => [f.id, f.severity]), [["embedded_executable", "high"]]);
});

Deno.test("ole: caps and skip_streams are options, and say what they left out", async () => {
  const office = await officeFiles();
  const data = await Deno.readFile(office["evil.xls"]);
  const capped = await scan(data, { max_streams: 2 });
  equal(capped.extracted!.length, 2);
  equal((capped.results as Record<string, unknown>).truncated, true);
  match(String(capped.errors![0]), /not extracted: over max_streams \(2\)/);
  const skipped = await scan(data, {
    skip_streams: ["*SummaryInformation", "_VBA_PROJECT_CUR/**"],
  });
  const names = skipped.extracted!.map((k) => k.payload_meta?.extra_data?.name);
  deepEqual(names, ["\u0001CompObj", "\u0001Ole", "Workbook"]);
  equal((skipped.results as Record<string, unknown>).skipped_streams, 7);
});

/** A small deterministic PRNG, so a failing corruption can be replayed. */
function prng(seed: number) {
  return () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
}

Deno.test("ole: truncated and corrupted files give named errors, never a throw or a hang", async () => {
  const office = await officeFiles();
  const data = await Deno.readFile(office["embedded.doc"]);
  for (let n = 0; n < data.length; n += 97) {
    const res = await scan(data.slice(0, n));
    ok(res.results !== undefined || res.errors!.length > 0, `prefix ${n}`);
    for (const e of res.errors ?? []) match(String(e), /^ole: /);
  }
  const rnd = prng(7);
  for (let round = 0; round < 300; round++) {
    const bad = data.slice();
    for (let k = 0; k < 8; k++) bad[Math.floor(rnd() * bad.length)] = Math.floor(rnd() * 256);
    bad[Math.floor(rnd() * 4096)] = Math.floor(rnd() * 256);
    const res = await scan(bad);
    ok(res.results !== undefined || res.errors!.length > 0);
  }
  // A FAT chain that loops (this is what sends npm cfb@1.2.2 out of memory).
  const cfb = new CompoundFile(data);
  const big = cfb.entries.find((e) => e.type === "stream" && e.size >= 4096)!;
  const loop = data.slice();
  const dv = new DataView(loop.buffer);
  const fatSector = dv.getUint32(0x4c, true);
  const start = startOf(loop, big.sid);
  dv.setUint32(512 + fatSector * 512 + start * 4, start, true);
  const res = await scan(loop);
  ok(res.errors!.some((e) => /loops back to sector/.test(String(e))), JSON.stringify(res.errors));
});

/** The start sector of directory entry `sid` (version 3 file, first directory sector only). */
function startOf(data: Uint8Array, sid: number): number {
  const dv = new DataView(data.buffer);
  const dir = 512 + dv.getUint32(0x30, true) * 512;
  return dv.getUint32(dir + sid * 128 + 116, true);
}

Deno.test("ole: stoq scan with no flags gives streams, properties and the packaged executable", async () => {
  const real = await realFiles();
  const office = await officeFiles();
  const run = await runStoq(["scan", office["embedded.doc"]]);
  equal(run.code, 0, show(run));
  const doc = JSON.parse(run.stdout);
  const root = doc.results[0];
  ok(root.plugins_run.workers.includes("ole"), show(run));
  equal(root.workers.ole.summary_information.title, DOC_PROPERTIES.title);
  equal(root.workers.ole.application, "word");
  const exe = doc.results.find((r: { payload_meta: { extra_data: { filename?: string } } }) =>
    r.payload_meta.extra_data.filename === PACKAGE_LABEL
  );
  ok(exe, "invoice.exe is a child");
  equal(exe.workers.hash.sha256, sha256(await Deno.readFile(real["hello.exe"])));
  ok(exe.plugins_run.workers.includes("exif"), "the child is scanned as a PE");
});

Deno.test("ole: an MSI's packed stream names are decoded as msiinfo lists them; the cabinet still gives its files", async () => {
  const msi = (await archiveFiles((await realFiles())["hello.exe"]))["a.msi"];
  const out = await scan(await Deno.readFile(msi));
  const rows = (out.results as Record<string, unknown>).streams as Record<string, unknown>[];
  const ref = await olefile(msi);
  // Every stream, in olefile's order, its stored name kept beside the readable one.
  deepEqual(
    rows.map((r) => r.raw_name ?? r.path).sort(),
    ref.streams.map((s: { path: string }) => s.path).sort(),
  );
  const streams = (await sh("msiinfo", ["streams", msi])).trim().split("\n");
  const tables = (await sh("msiinfo", ["tables", msi])).trim().split("\n");
  const plain = rows.map((r) => r.path as string).filter((p) => !p.startsWith("!"));
  deepEqual(plain.sort(), streams.sort()); // product.cab and \u0005SummaryInformation
  // Table streams: each is a table msiinfo lists, or one of the database's own tables.
  const own = ["_Tables", "_Columns", "_StringPool", "_StringData", "_Validation"];
  const decoded = rows.map((r) => r.path as string).filter((p) => p.startsWith("!"));
  for (const t of decoded) ok(tables.includes(t.slice(1)) || own.includes(t.slice(1)), t);
  ok(decoded.includes("!_StringPool") && decoded.includes("!File") && decoded.includes("!Media"));
  for (const r of rows.filter((r) => r.raw_name)) match(r.raw_name as string, /^[\u3800-\u4840]+$/);
  // Children carry the readable name and file name, and the stored name.
  const cab = out.extracted!.find((c) => c.payload_meta?.extra_data?.name === "product.cab")!;
  ok(cab, "product.cab child");
  equal(cab.payload_meta!.extra_data!.filename, "product.cab");
  match(cab.payload_meta!.extra_data!.raw_name as string, /^[\u3800-\u483f]+$/);
  const cabRef = ref.streams.find((s: { path: string }) =>
    s.path === cab.payload_meta!.extra_data!.raw_name
  );
  equal(sha256(cab.content as Uint8Array), cabRef?.sha256);
});

Deno.test("ole: ./stoq scan a.msi names the cabinet product.cab and the cabinet's files come out", async () => {
  const real = await realFiles();
  const msi = (await archiveFiles(real["hello.exe"]))["a.msi"];
  const run = await runStoq(["scan", msi]);
  equal(run.code, 0, show(run));
  const doc = parseDoc(run.stdout);
  const cab = doc.results.find((e) => e.payload_meta.extra_data.name === "product.cab")!;
  ok(cab, show(run));
  equal(cab.payload_meta.extra_data.filename, "product.cab");
  equal(cab.workers.decompress?.format, "cab");
  const files = doc.results.filter((e) => e.extracted_from.includes(cab.payload_id));
  deepEqual(
    files.map((e) => (e.workers.hash as Record<string, string>).sha256).sort(),
    [sha256(await Deno.readFile(real["hello.exe"])), sha256(SOURCES["notes.txt"])].sort(),
  );
  const tables = doc.results.filter((e) => String(e.payload_meta.extra_data.name).startsWith("!"));
  ok(tables.some((e) => e.payload_meta.extra_data.filename === "!_StringData"), show(run));
});
