/**
 * The pdf plugin against independent tools, value by value, on PDFs that qpdf, LibreOffice and
 * python3 wrote: qpdf --json (versions, object and stream counts, trailer, encryption, pages,
 * every name, /JS, /URI and /Launch value), qpdf --show-xref, qpdf --show-object
 * --filtered-stream-data (decoded streams), pdfinfo (metadata, pages, scripts, links) and
 * pdfdetach (attachment names and bytes). Damaged copies still give a result and a named error.
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import pdf from "../../plugins/pdf.ts";
import { runStoq, show, sums } from "../cli_helpers.ts";
import { EVIL, FILTER_SCRIPT, pdfFiles } from "../fixtures/pdf_files.ts";
import { instantiate, makePayload, makeRequest, sh, sha256, tempDir } from "../helpers.ts";
import { realFiles } from "../realfiles.ts";

type Rec = Record<string, unknown>;
interface Scan {
  results: Rec;
  extracted: { content: Uint8Array; extra: Rec }[];
  errors: string[];
}

async function scan(bytes: Uint8Array, options: Rec = {}): Promise<Scan> {
  const { instance, call } = await instantiate(pdf, options);
  const p = makePayload(bytes);
  const r = await instance.scan!(p, makeRequest(p), call);
  return {
    results: (r?.results ?? {}) as Rec,
    extracted: (r?.extracted ?? []).map((e) => ({
      content: typeof e.content === "string" ? new TextEncoder().encode(e.content) : e.content,
      extra: (e.payload_meta?.extra_data ?? {}) as Rec,
    })),
    errors: (r?.errors ?? []).map(String),
  };
}
const scanFile = async (path: string, options: Rec = {}) =>
  scan(await Deno.readFile(path), options);

// ---- what the independent tools say ----

interface QpdfView {
  version: string;
  pages: number;
  objects: Map<string, Rec>; // "obj:N G R" → {value} or {stream: {dict}}
  trailer: Rec;
  encrypt: Rec;
}

async function qpdfJson(path: string, password?: string): Promise<QpdfView> {
  const args = ["--json", ...(password ? [`--password=${password}`] : []), path];
  const out = await new Deno.Command("qpdf", { args, stdout: "piped", stderr: "piped" }).output();
  ok(
    out.code === 0 || out.code === 3,
    `qpdf --json ${path}: ${new TextDecoder().decode(out.stderr)}`,
  );
  const d = JSON.parse(new TextDecoder().decode(out.stdout));
  const all = d.qpdf[1] as Record<string, Rec>;
  const objects = new Map(Object.entries(all).filter(([k]) => k !== "trailer"));
  return {
    version: d.qpdf[0].pdfversion,
    pages: d.pages.length,
    objects,
    trailer: all.trailer.value as Rec,
    encrypt: d.encrypt,
  };
}

const dictOf = (o: Rec) => (o.value ?? (o.stream as Rec).dict) as unknown;
const isStream = (o: Rec) => "stream" in o;

/** Occurrences of each name in qpdf's objects, as a key or as a value (pdfid's count). */
function nameCounts(q: QpdfView): Map<string, number> {
  const counts = new Map<string, number>();
  const add = (n: string) => counts.set(n, (counts.get(n) ?? 0) + 1);
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === "object") {
      for (const [k, x] of Object.entries(v)) {
        add(k);
        walk(x);
      }
    } else if (typeof v === "string" && v.startsWith("/")) add(v);
  };
  for (const o of q.objects.values()) walk(dictOf(o));
  return counts;
}

/** Every value of `key` in qpdf's objects (dictionaries at any depth). */
function valuesOf(q: QpdfView, key: string): unknown[] {
  const found: unknown[] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === "object") {
      for (const [k, x] of Object.entries(v)) {
        if (k === key) found.push(x);
        walk(x);
      }
    }
  };
  for (const o of q.objects.values()) walk(dictOf(o));
  return found;
}

/** A qpdf JSON string ("u:text" or "b:hex") as text. */
function qText(v: unknown): string {
  const s = String(v);
  if (s.startsWith("u:")) return s.slice(2);
  if (s.startsWith("b:")) {
    const hex = s.slice(2);
    return String.fromCharCode(
      ...Array.from(
        { length: hex.length / 2 },
        (_, i) => parseInt(hex.slice(2 * i, 2 * i + 2), 16),
      ),
    );
  }
  return s;
}

async function filtered(
  path: string,
  ref: string,
  raw = false,
  password?: string,
): Promise<Uint8Array> {
  const num = ref.split(" ")[0];
  const mode = raw ? "--raw-stream-data" : "--filtered-stream-data";
  const pw = password ? [`--password=${password}`] : [];
  const out = await new Deno.Command("qpdf", {
    args: [...pw, `--show-object=${num}`, mode, path],
    stdout: "piped",
  }).output();
  ok(out.success, `qpdf --show-object=${num} ${mode} ${path}`);
  return out.stdout;
}

/** qpdf's JavaScript: each /JS value, a string or a stream decoded by qpdf. */
async function qpdfScripts(path: string, q: QpdfView, password?: string): Promise<string[]> {
  const out: string[] = [];
  for (const v of valuesOf(q, "/JS")) {
    const s = String(v);
    out.push(
      /^\d+ \d+ R$/.test(s)
        ? new TextDecoder().decode(await filtered(path, s, false, password))
        : qText(s),
    );
  }
  return out.sort();
}

/** pdfinfo's fields (ISO dates), as name → value. */
async function pdfinfo(path: string, ...args: string[]): Promise<Record<string, string>> {
  const text = await sh("pdfinfo", ["-isodates", ...args, path]);
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^([A-Za-z ]+):\s+(.*)$/.exec(line);
    if (m) out[m[1]] = m[2];
  }
  return out;
}

/** pdfdetach's attachments: names in order, and each one's sha256 as -saveall writes it. */
async function pdfdetach(
  path: string,
  password?: string,
): Promise<{ names: string[]; sha: string[] }> {
  const pw = password ? ["-upw", password] : [];
  const list = await sh("pdfdetach", [...pw, "-list", path]);
  const names = list.split("\n").slice(1).filter(Boolean).map((l) => l.replace(/^\d+: /, ""));
  const dir = await tempDir("pdfdetach-");
  await sh("pdfdetach", [...pw, "-saveall", "-o", dir, path]);
  const sha = [];
  for (const n of names) sha.push(sha256(await Deno.readFile(join(dir, n))));
  return { names, sha };
}

// pdfinfo prints "+01" for a whole-hour zone; the plugin writes ISO 8601's "+01:00".
const pdfinfoDate = (s: string) => s.replace(/([+-]\d\d)$/, "$1:00");

const list = <T>(r: Rec, key: string) => r[key] as T[];
const findingIds = (r: Rec) => list<Rec>(r, "findings").map((f) => f.id);

// ---- structure, metadata, keys, actions, scripts, links, attachments ----

/** Checks the fields every fixture shares with qpdf, value by value. */
async function checkAgainstQpdf(path: string, r: Rec, password?: string): Promise<QpdfView> {
  const q = await qpdfJson(path, password);
  equal(r.version, q.version, "version = qpdf's pdfversion");
  equal(r.pages, q.pages, "pages = qpdf's pages");
  equal(r.objects, q.objects.size, "objects = qpdf's objects");
  equal(r.streams, [...q.objects.values()].filter(isStream).length, "streams = qpdf's streams");
  const xref =
    (await sh("qpdf", [...(password ? [`--password=${password}`] : []), "--show-xref", path]))
      .trim().split("\n");
  equal((r.xref as Rec).entries, xref.length, "xref entries = qpdf --show-xref lines");
  equal(
    r.objects_in_object_streams,
    xref.filter((l) => /: compressed;/.test(l)).length,
    "objects in object streams = qpdf's compressed entries",
  );
  const t = r.trailer as Rec;
  equal(t.root, q.trailer["/Root"]);
  equal(t.info ?? undefined, q.trailer["/Info"]);
  equal(t.size, q.trailer["/Size"]);
  const ids = q.trailer["/ID"] as string[] | undefined;
  deepEqual(t.id, ids ? ids.map((x) => x.replace(/^b:/, "")) : null);
  const counts = nameCounts(q);
  const keywords = r.keywords as Record<string, number>;
  for (const [k, n] of Object.entries(keywords)) {
    if (k === "/Encrypt") continue; // qpdf keeps /Encrypt in the trailer only
    equal(n, counts.get(k) ?? 0, `${k}: ${n} = qpdf's ${counts.get(k) ?? 0}`);
  }
  return q;
}

Deno.test("pdf: evil.pdf equals qpdf, pdfinfo and pdfdetach value by value", async () => {
  const files = await pdfFiles();
  const path = files["evil.pdf"];
  const { results: r, extracted, errors } = await scanFile(path);
  deepEqual(errors, []);
  const q = await checkAgainstQpdf(path, r);
  equal(r.encrypted, false);
  equal(r.acroform, true);
  deepEqual((r.xref as Rec).valid, true);
  equal((r.xref as Rec).sections, 1);

  // Metadata as pdfinfo prints it.
  const info = await pdfinfo(path);
  const m = r.metadata as Rec;
  equal(m.title, info.Title);
  equal(m.author, info.Author);
  equal(m.subject, info.Subject);
  equal(m.keywords, info.Keywords);
  equal(m.creator, info.Creator);
  equal(m.producer, info.Producer);
  equal(m.creation_date, pdfinfoDate(info.CreationDate));
  equal(m.mod_date, pdfinfoDate(info.ModDate));
  equal(String(r.pages), info.Pages);
  equal(r.version, info["PDF version"]);

  // JavaScript: every /JS qpdf sees, and what pdfinfo -js prints, with its trigger.
  const scripts = list<Rec>(r, "javascript");
  deepEqual(scripts.map((s) => s.source).sort(), await qpdfScripts(path, q));
  const js = await sh("pdfinfo", ["-js", path]);
  for (const s of [EVIL.pageJs, EVIL.docJs]) ok(js.includes(s), `pdfinfo -js prints ${s}`);
  const trig = Object.fromEntries(scripts.map((s) => [s.source, [s.trigger, s.event ?? null]]));
  deepEqual(trig[EVIL.openJs], ["open_action", null]);
  deepEqual(trig[EVIL.pageJs], ["additional_action", "O"]);
  deepEqual(trig[EVIL.docJs], ["document_javascript", null]);
  // Each script is a child, as UTF-8 text with the sha256 the result gives.
  for (const s of scripts) {
    const child = extracted.find((e) =>
      e.extra.type === "javascript" && sha256(e.content) === s.sha256
    );
    ok(child, `child for ${s.object}`);
    equal(new TextDecoder().decode(child.content), s.source);
    equal(sha256(child.content), s.sha256);
  }

  // Links: pdfinfo -url's annotations, and every /URI and /SubmitForm address in qpdf's objects.
  const uris = list<string>(r, "uris");
  deepEqual([...uris], [...EVIL.uris]);
  const urlLines = (await sh("pdfinfo", ["-url", path])).trim().split("\n").slice(1);
  for (const l of urlLines) ok(uris.includes(l.trim().split(/\s+/).pop()!), l);
  const qUris = valuesOf(q, "/URI").filter((v) => String(v).startsWith("u:")).map(qText);
  const submit = valuesOf(q, "/FS").length ? ["http://collect.example.test/submit"] : [];
  deepEqual([...uris].sort(), [...qUris, ...submit].sort());
  const launch = list<Rec>(r, "actions").find((a) => a.type === "Launch")!;
  const win = valuesOf(q, "/Win")[0] as Rec;
  equal(launch.target, `${qText(win["/F"])} ${qText(win["/P"])}`);
  equal(launch.target, EVIL.launch);
  equal(launch.trigger, "annotation");
  equal(launch.path, "page 1 /Annots[1] /A");
  // An action object of its own, found from the page's annotations.
  const submitAction = list<Rec>(r, "actions").find((a) => a.type === "SubmitForm")!;
  deepEqual([submitAction.trigger, submitAction.path], ["annotation", "page 1 /Annots[3] /A"]);

  // Attachments: pdfdetach's names and bytes, as children.
  const det = await pdfdetach(path);
  const emb = list<Rec>(r, "embedded_files");
  deepEqual(emb.map((e) => e.filename), det.names);
  deepEqual(emb.map((e) => e.sha256), det.sha);
  deepEqual(det.names, [...EVIL.attachments]);
  for (const e of emb) {
    const child = extracted.find((c) =>
      c.extra.type === "embedded_file" && c.extra.filename === e.filename
    );
    ok(child, `child ${e.filename}`);
    equal(sha256(child.content), e.sha256);
  }
  const hello = emb[0];
  equal(hello.kind, "pe");
  equal(hello.mime_type, "application/x-msdownload");
  equal(
    hello.checksum,
    (await sums((await realFiles())["hello.exe"])).md5,
    "declared /CheckSum = md5sum",
  );
  equal(hello.description, "the payload");
  equal(sha256(await Deno.readFile((await realFiles())["hello.exe"])), hello.sha256);

  const ids = findingIds(r);
  for (
    const id of [
      "javascript_auto",
      "launch_action",
      "embedded_executable",
      "embedded_file",
      "submit_form",
      "auto_action",
    ]
  ) {
    ok(ids.includes(id), `finding ${id} in ${ids}`);
  }
  deepEqual(list(r, "repairs"), []);
});

Deno.test("pdf: object streams are decoded; keys hidden in them are a finding", async () => {
  const files = await pdfFiles();
  const path = files["evil_objstm.pdf"];
  const { results: r, extracted, errors } = await scanFile(path);
  deepEqual(errors, []);
  const q = await checkAgainstQpdf(path, r);
  equal(
    r.object_streams,
    [...q.objects.values()].filter((o) => (dictOf(o) as Rec)["/Type"] === "/ObjStm").length,
  );
  ok((r.objects_in_object_streams as number) > 10);
  equal((r.xref as Rec).streams, 1);
  equal((r.xref as Rec).tables, 0);
  deepEqual(list<Rec>(r, "javascript").map((s) => s.source).sort(), await qpdfScripts(path, q));
  deepEqual(list(r, "uris"), [...EVIL.uris]);
  const det = await pdfdetach(path);
  deepEqual(list<Rec>(r, "embedded_files").map((e) => e.sha256), det.sha);
  ok(extracted.some((e) => e.extra.filename === "hello.exe"));
  const hidden = list<Rec>(r, "findings").find((f) => f.id === "keys_in_object_streams");
  ok(hidden, "keys_in_object_streams");
  match(String(hidden.detail), /\/JavaScript \d/);
});

Deno.test("pdf: encrypted with an empty user password (RC4 40/128, AES-128, AES-256) is decrypted", async () => {
  const files = await pdfFiles();
  const plain = await scanFile(files["evil.pdf"]);
  const methods: Record<string, string> = { RC4: "RC4", AESv2: "AESV2", AESv3: "AESV3" };
  for (
    const name of [
      "evil_rc4_40.pdf",
      "evil_rc4_128.pdf",
      "evil_aes128.pdf",
      "evil_aes256.pdf",
    ] as const
  ) {
    const path = files[name];
    const { results: r, extracted, errors } = await scanFile(path);
    deepEqual(errors, [], name);
    const q = await checkAgainstQpdf(path, r);
    equal(r.encrypted, true);
    const e = r.encryption as Rec;
    const p = q.encrypt.parameters as Rec;
    equal(e.v, p.V, `${name} V`);
    equal(e.r, p.R, `${name} R`);
    equal(e.key_bits, p.bits, `${name} bits`);
    equal(e.p, p.P, `${name} P`);
    equal(e.string_method, methods[String(p.stringmethod)], `${name} strings`);
    equal(e.stream_method, methods[String(p.streammethod)], `${name} streams`);
    equal(e.embedded_file_method, methods[String(p.filemethod)], `${name} files`);
    equal(q.encrypt.userpasswordmatched, true);
    equal(e.opened_with, "empty user password");
    // Permissions: qpdf's capability names for the same P bits.
    const cap = q.encrypt.capabilities as Record<string, boolean>;
    const perm = e.permissions as Record<string, boolean>;
    const pairs: [string, string][] = [
      ["print", "printlow"],
      ["print_high_quality", "printhigh"],
      ["modify", "modifyother"],
      ["copy", "extract"],
      ["annotate", "modifyannotations"],
      ["fill_forms", "modifyforms"],
      ["accessibility", "accessibility"],
      ["assemble", "modifyassembly"],
    ];
    for (const [mine, theirs] of pairs) equal(perm[mine], cap[theirs], `${name} ${mine}`);
    // The decrypted content is the plain file's.
    deepEqual(r.metadata, plain.results.metadata, name);
    deepEqual(list<Rec>(r, "javascript").map((s) => s.source).sort(), await qpdfScripts(path, q));
    deepEqual(list(r, "uris"), list(plain.results, "uris"));
    const det = await pdfdetach(path);
    deepEqual(list<Rec>(r, "embedded_files").map((x) => x.sha256), det.sha, name);
    deepEqual(
      extracted.map((x) => sha256(x.content)).sort(),
      plain.extracted.map((x) => sha256(x.content)).sort(),
    );
    ok(findingIds(r).includes("encrypted"));
  }
  // Restricted permissions really differ from the defaults.
  const aes = (await scanFile(files["evil_aes256.pdf"])).results.encryption as Rec;
  equal((aes.permissions as Rec).copy, false);
  equal((aes.permissions as Rec).print_high_quality, false);
});

Deno.test("pdf: a user password: structure without it, everything with it", async () => {
  const files = await pdfFiles();
  const path = files["evil_userpw.pdf"];
  const locked = await scanFile(path);
  const r = locked.results;
  equal(r.encrypted, true);
  equal((r.encryption as Rec).opened_with, null);
  ok(
    locked.errors.some((e) => /encrypted: the user password is not empty/.test(e)),
    String(locked.errors),
  );
  deepEqual(locked.extracted, []);
  equal((r.metadata as Rec).title, null);
  const q = await checkAgainstQpdf(path, r, "secret");
  equal(list<Rec>(r, "javascript").length, 0);
  equal(list<Rec>(r, "actions").length, 7, "the actions are still listed, without targets");
  ok(list<Rec>(r, "embedded_files").every((e) => e.encrypted === true));

  const open = await scanFile(path, { passwords: ["", "secret"] });
  deepEqual(open.errors, []);
  equal((open.results.encryption as Rec).opened_with, "user password 2");
  deepEqual(
    list<Rec>(open.results, "javascript").map((s) => s.source).sort(),
    await qpdfScripts(path, q, "secret"),
  );
  const det = await pdfdetach(path, "secret");
  deepEqual(list<Rec>(open.results, "embedded_files").map((e) => e.sha256), det.sha);
  const owner = await scanFile(path, { passwords: ["owner-secret"] });
  equal((owner.results.encryption as Rec).opened_with, "owner password 1");
  equal((owner.results.metadata as Rec).title, EVIL.title);
});

Deno.test("pdf: hex-escaped names are reported as pdfid does, and counted under their real name", async () => {
  const files = await pdfFiles();
  const path = files["obfuscated.pdf"];
  const { results: r, errors } = await scanFile(path);
  deepEqual(errors, []);
  await checkAgainstQpdf(path, r);
  deepEqual(
    list<Rec>(r, "obfuscated_names").map((n) => [n.raw, n.name]).sort(),
    [["/J#53", "/JS"], ["/J#61vaScript", "/JavaScript"], ["/Open#41ction", "/OpenAction"]],
  );
  const f = list<Rec>(r, "findings").find((x) => x.id === "obfuscated_names")!;
  equal(f.severity, "high");
  const js = list<Rec>(r, "javascript");
  deepEqual(js.map((s) => [s.source, s.trigger]), [["app.alert(1)", "open_action"]]);
});

Deno.test("pdf: streams in every filter decode as qpdf decodes them, and come out as children", async () => {
  const files = await pdfFiles();
  const real = await realFiles();
  const path = files["filters.pdf"];
  const { results: r, extracted, errors } = await scanFile(path);
  deepEqual(errors, []);
  await checkAgainstQpdf(path, r);
  const streams = list<Rec>(r, "decoded_streams");
  const byKind = Object.fromEntries(streams.map((s) => [s.kind, s]));
  deepEqual(Object.keys(byKind).sort(), ["elf", "jpeg", "pdf", "pe", "script", "zip"]);
  deepEqual(byKind.pdf.filters, ["LZWDecode"]);
  deepEqual(byKind.pe.filters, ["ASCII85Decode", "FlateDecode"]);
  deepEqual(byKind.script.filters, ["RunLengthDecode"]);
  deepEqual(byKind.elf.filters, ["ASCIIHexDecode"]);
  deepEqual(byKind.jpeg.filters, ["DCTDecode"]);
  for (const s of streams) {
    const want = await filtered(path, String(s.object), s.kind === "jpeg");
    equal(s.sha256, sha256(want), `${s.object} (${s.kind}) = qpdf's decoded bytes`);
    const child = extracted.find((e) => e.extra.pdf_object === s.object);
    ok(child, `child for ${s.object}`);
    equal(sha256(child.content), s.sha256);
  }
  // And they are the files that went in.
  equal(byKind.pdf.sha256, sha256(await Deno.readFile(real["report.pdf"])));
  equal(byKind.pe.sha256, sha256(await Deno.readFile(real["hello.exe"])));
  equal(byKind.elf.sha256, sha256(await Deno.readFile(real["hello.elf"])));
  equal(byKind.jpeg.sha256, sha256(await Deno.readFile(real["image.jpg"])));
  equal(byKind.script.sha256, sha256(FILTER_SCRIPT));
  // The PNG predictor's rows were padded to whole rows; the data starts as the zip does.
  const zip = await Deno.readFile(real["archive.zip"]);
  const got = extracted.find((e) => e.extra.pdf_object === byKind.zip.object)!.content;
  deepEqual(got.subarray(0, zip.length), zip);
  ok(findingIds(r).includes("embedded_executable"));
  ok(findingIds(r).includes("stream_payload"));
  // Without images, the JPEG is not extracted.
  const noImages = await scanFile(path, { extract_images: false });
  ok(!list<Rec>(noImages.results, "decoded_streams").some((s) => s.kind === "jpeg"));
});

Deno.test("pdf: XFA forms are reported and given as a child", async () => {
  const files = await pdfFiles();
  const path = files["xfa.pdf"];
  const { results: r, extracted } = await scanFile(path);
  const q = await checkAgainstQpdf(path, r);
  const xfa = r.xfa as Rec;
  const ref = String(((valuesOf(q, "/XFA")[0]) as string[])[1]);
  const want = await filtered(path, ref);
  equal(xfa.sha256, sha256(want));
  equal(xfa.size, want.length);
  equal(xfa.scripts, 1);
  const child = extracted.find((e) => e.extra.type === "xfa")!;
  equal(sha256(child.content), sha256(want));
  ok(findingIds(r).includes("xfa_form"));
});

Deno.test("pdf: an incremental update is one more section, and its script is current", async () => {
  const files = await pdfFiles();
  const path = files["incremental.pdf"];
  const { results: r, errors } = await scanFile(path);
  deepEqual(errors, []);
  const q = await checkAgainstQpdf(path, r);
  equal((r.xref as Rec).sections, 2);
  equal((r.xref as Rec).tables, 2);
  equal(r.eof_markers, 2);
  equal(r.object_definitions, (r.objects as number) + 1, "the old catalog is still in the file");
  deepEqual(list<Rec>(r, "javascript").map((s) => [s.source, s.trigger]), [[
    "app.alert('updated');",
    "open_action",
  ]]);
  deepEqual(list<Rec>(r, "javascript").map((s) => s.source), await qpdfScripts(path, q));
  ok(findingIds(r).includes("incremental_updates"));
  // The newest trailer names no /Info: readers (pdfinfo too) show none.
  equal((r.metadata as Rec).producer, (await pdfinfo(path)).Producer ?? null);
  equal((r.trailer as Rec).info, null);
});

Deno.test("pdf: LibreOffice's plain, active and attachment PDFs equal qpdf, pdfinfo and pdfdetach", async () => {
  const real = await realFiles();
  const report = await scanFile(real["report.pdf"]);
  deepEqual(report.errors, []);
  await checkAgainstQpdf(real["report.pdf"], report.results);
  const info = await pdfinfo(real["report.pdf"]);
  equal((report.results.metadata as Rec).producer, info.Producer);
  equal((report.results.metadata as Rec).creation_date, pdfinfoDate(info.CreationDate));
  deepEqual(report.extracted, []);
  deepEqual(findingIds(report.results), []);

  const active = await scanFile(real["active.pdf"]);
  const q = await checkAgainstQpdf(real["active.pdf"], active.results);
  const scripts = list<Rec>(active.results, "javascript");
  deepEqual(scripts.map((s) => s.source).sort(), await qpdfScripts(real["active.pdf"], q));
  const js = await sh("pdfinfo", ["-js", real["active.pdf"]]);
  for (const s of scripts) ok(js.includes(String(s.source)), `pdfinfo -js prints ${s.source}`);
  ok(scripts.every((s) => s.trigger === "additional_action"));
  const launch = list<Rec>(active.results, "actions").find((a) => a.type === "Launch")!;
  // No action object of its own here: placed by where it sits, without walking the pages.
  deepEqual([launch.trigger, launch.path], ["annotation", "annotation 7 0 R /A"]);
  equal(launch.target, qText(valuesOf(q, "/F").find((v) => String(v).includes("calc.exe"))));

  const attach = await scanFile(real["attach.pdf"]);
  await checkAgainstQpdf(real["attach.pdf"], attach.results);
  const det = await pdfdetach(real["attach.pdf"]);
  deepEqual(list<Rec>(attach.results, "embedded_files").map((e) => [e.filename, e.sha256]), [[
    det.names[0],
    det.sha[0],
  ]]);
  equal(sha256(attach.extracted[0].content), det.sha[0]);
});

// ---- damaged files ----

Deno.test("pdf: truncated and corrupted copies still give a result and a named error", async () => {
  const files = await pdfFiles();
  const good = await Deno.readFile(files["evil.pdf"]);
  const text = latin(good); // one character per byte (TextDecoder's "latin1" is windows-1252)
  const bytes = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
  const at = text.lastIndexOf("startxref");
  const firstEnd = text.indexOf("endobj") + 7;
  const length = /\/Length (\d+)/.exec(text)!;
  const cases: [string, Uint8Array, string[]][] = [
    ["truncated at 60%", good.subarray(0, Math.floor(good.length * 0.6)), [
      "no_eof",
      "no_startxref",
      "no_trailer",
    ]],
    ["startxref points nowhere", bytes(text.slice(0, at) + "startxref\n12\n%%EOF\n"), ["bad_xref"]],
    ["no xref, trailer or startxref", bytes(text.slice(0, text.lastIndexOf("\nxref") + 1)), [
      "no_startxref",
      "no_trailer",
      "no_root",
    ]],
    [
      "garbage between objects",
      bytes(text.slice(0, firstEnd) + "\u00ff\u0000 GARBAGE <<< ]]] (((\n" + text.slice(firstEnd)),
      ["bad_xref"],
    ],
    [
      "a wrong /Length",
      bytes(
        text.slice(0, length.index) + "/Length 3" + text.slice(length.index + length[0].length),
      ),
      ["stream_length"],
    ],
  ];
  for (const [what, data, ids] of cases) {
    const { results: r, errors } = await scanFile(await writeTemp(data));
    const repairs = list<Rec>(r, "repairs").map((x) => x.id);
    for (const id of ids) ok(repairs.includes(id), `${what}: repair ${id} in ${repairs}`);
    ok(errors.some((e) => e.startsWith("pdf: malformed PDF, read around: ")), `${what}: ${errors}`);
    ok(findingIds(r).includes("malformed"), what);
    ok(list<Rec>(r, "javascript").length >= 2, `${what}: scripts still found`);
    equal(r.pages, 2, `${what}: pages`);
    // Where qpdf can recover the file too, the pages agree.
    const path = await writeTemp(data);
    const out = new Deno.Command("qpdf", {
      args: ["--json", "--json-key=pages", path],
      stdout: "piped",
      stderr: "null",
    }).outputSync();
    if (out.stdout.length) {
      equal(r.pages, JSON.parse(new TextDecoder().decode(out.stdout)).pages.length, what);
    }
  }
  // Everything but the cut file keeps both attachments, byte for byte.
  const det = await pdfdetach(files["evil.pdf"]);
  for (const [what, data] of cases.slice(1)) {
    const { results: r } = await scanFile(await writeTemp(data));
    deepEqual(list<Rec>(r, "embedded_files").map((e) => e.sha256), det.sha, what);
  }
  // The cut attachment is given as far as it goes, and says so.
  const cut = await scanFile(await writeTemp(cases[0][1]));
  ok(
    cut.errors.some((e) => /embedded file .*: FlateDecode: the data ends early/.test(e)),
    String(cut.errors),
  );
  equal(list<Rec>(cut.results, "embedded_files")[0].damaged, true);
});

Deno.test("pdf: data around the document, and input that is no PDF at all", async () => {
  const files = await pdfFiles();
  const real = await realFiles();
  const good = await Deno.readFile(files["evil.pdf"]);
  const exe = await Deno.readFile(real["hello.exe"]);
  const after = await scan(concat(good, exe));
  const t = after.results.trailing_data as Rec;
  deepEqual(t, { offset: good.length, size: exe.length, kind: "pe" });
  const child = after.extracted.find((e) => e.extra.type === "trailing_data")!;
  equal(sha256(child.content), sha256(exe));
  ok(findingIds(after.results).includes("data_after_eof"));

  const before = await scan(concat(exe.subarray(0, 300), good));
  equal(before.results.header_offset, 300);
  ok(findingIds(before.results).includes("data_before_header"));
  equal(list<Rec>(before.results, "javascript").length, 3);

  for (const junk of [new Uint8Array(0), new TextEncoder().encode("not a pdf at all"), exe]) {
    const { results: r, errors } = await scan(junk);
    ok(list<Rec>(r, "repairs").some((x) => x.id === "no_header"));
    ok(errors.length > 0);
    equal(r.pages, null);
  }
});

Deno.test("pdf: bounds hold on hostile input (bombs, nesting, object floods, no endstream)", async () => {
  // An attachment that inflates to 64 MiB, with a 1 MiB cap: refused, named, not extracted.
  const { deflateSync } = await import("node:zlib");
  const bomb = deflateSync(new Uint8Array(64 * 1024 * 1024));
  const doc = pdfOf([
    "<< /Type /Catalog /Pages 2 0 R /Names << /EmbeddedFiles << /Names [(bomb.bin) 3 0 R] >> >> >>",
    "<< /Type /Pages /Kids [] /Count 0 >>",
    "<< /Type /Filespec /F (bomb.bin) /EF << /F 4 0 R >> >>",
    `<< /Type /EmbeddedFile /Length ${bomb.length} /Filter /FlateDecode >>\nstream\n${
      latin(bomb)
    }\nendstream`,
  ]);
  const capped = await scan(doc, { max_stream_bytes: 1 << 20 });
  ok(
    capped.errors.some((e) => /bomb|decodes to more than 1048576 bytes/.test(e)),
    String(capped.errors),
  );
  deepEqual(capped.extracted, []);
  equal(list<Rec>(capped.results, "embedded_files")[0].truncated, true);

  // 200,000 nested arrays: skipped past the depth cap, not recursed into.
  const deep = pdfOf([
    "<< /Type /Catalog /Pages 2 0 R /Deep " + "[".repeat(200_000) + "]".repeat(200_000) + " >>",
    "<< /Type /Pages /Kids [] /Count 0 >>",
  ]);
  const d = await scan(deep);
  ok(
    list<Rec>(d.results, "repairs").some((x) => x.id === "broken_objects"),
    "the cut value is a repair",
  );

  // More objects than max_objects.
  const many = pdfOf(
    Array.from(
      { length: 500 },
      (_, i) =>
        i === 0
          ? "<< /Type /Catalog /Pages 2 0 R >>"
          : i === 1
          ? "<< /Type /Pages /Kids [] /Count 0 >>"
          : `<< /N ${i} >>`,
    ),
  );
  const m = await scan(many, { max_objects: 100 });
  equal(m.results.object_definitions, 100);
  equal(m.results.truncated, true);
  ok(list<Rec>(m.results, "repairs").some((x) => x.id === "objects_cap"));

  // A stream that never ends: its data runs to the next object, the rest is still read.
  const open = new TextEncoder().encode(
    "%PDF-1.7\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R /OpenAction 3 0 R >>\nendobj\n" +
      "4 0 obj\n<< /Length 99999 >>\nstream\nabc\n" +
      "2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n" +
      "3 0 obj\n<< /S /JavaScript /JS (app.alert\\(2\\)) >>\nendobj\n",
  );
  const o = await scan(open);
  ok(list<Rec>(o.results, "repairs").some((x) => x.id === "no_endstream"));
  deepEqual(list<Rec>(o.results, "javascript").map((s) => s.source), ["app.alert(2)"]);
});

Deno.test("pdf: 400 randomly damaged copies of the fixtures never throw", async () => {
  const files = await pdfFiles();
  const bases = await Promise.all(
    ([
      "evil.pdf",
      "evil_objstm.pdf",
      "evil_aes128.pdf",
      "evil_rc4_40.pdf",
      "filters.pdf",
      "obfuscated.pdf",
      "xfa.pdf",
      "incremental.pdf",
    ] as const)
      .map((n) => Deno.readFile(files[n])),
  );
  let seed = 20240101; // a fixed seed: the same copies on every run
  const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const { instance, call } = await instantiate(pdf);
  for (let i = 0; i < 400; i++) {
    const b = bases[i % bases.length].slice();
    for (let k = 1 + Math.floor(rnd() * 20); k > 0; k--) {
      const pos = Math.floor(rnd() * b.length);
      const r = rnd();
      if (r < 0.5) b[pos] = Math.floor(rnd() * 256);
      else if (r < 0.7) b[pos] = "<>[]()/ 0123456789R#\\%".charCodeAt(Math.floor(rnd() * 22));
      else b.copyWithin(pos, Math.floor(rnd() * b.length), Math.floor(rnd() * b.length));
    }
    const data = rnd() < 0.2 ? b.subarray(0, Math.floor(rnd() * b.length)) : b;
    const p = makePayload(data);
    const out = await instance.scan!(p, makeRequest(p), call);
    ok(out?.results && typeof JSON.stringify(out.results) === "string", `copy ${i}`);
  }
});

// ---- end to end ----

Deno.test("pdf: ./stoq scan with no flags gives the fields and the children with exact sha256", async () => {
  const files = await pdfFiles();
  const path = files["evil.pdf"];
  const run = await runStoq(["scan", path]);
  equal(run.code, 0, show(run));
  const doc = JSON.parse(run.stdout);
  const root = doc.results[0];
  ok(root.plugins_run.workers.includes("pdf"), root.plugins_run.workers.join());
  const r = root.workers.pdf as Rec;
  const q = await checkAgainstQpdf(path, r);
  equal((r.metadata as Rec).title, (await pdfinfo(path)).Title);
  deepEqual(list<Rec>(r, "javascript").map((s) => s.source).sort(), await qpdfScripts(path, q));
  deepEqual(list(r, "uris"), [...EVIL.uris]);
  const children = doc.results.filter((x: Rec) => (x.extracted_by as string[]).includes("pdf"));
  const sha = (x: Rec) => (x.workers as Record<string, Rec>).hash.sha256;
  // The attachments, byte for byte as pdfdetach saves them.
  const det = await pdfdetach(path);
  for (const [i, name] of det.names.entries()) {
    const c = children.find((x: Rec) =>
      (x.payload_meta as Rec & { extra_data: Rec }).extra_data.filename === name
    );
    ok(c, `child ${name}`);
    equal(sha(c), det.sha[i], name);
  }
  // The scripts, each scanned by iocextract too.
  for (const s of list<Rec>(r, "javascript")) {
    const c = children.find((x: Rec) => sha(x) === s.sha256);
    ok(c, `script ${s.object}`);
    equal(sha(c), sha256(String(s.source)));
  }
  const opener = children.find((x: Rec) => sha(x) === sha256(EVIL.openJs));
  ok(opener.plugins_run.workers.includes("iocextract"), opener.plugins_run.workers.join());
  ok(JSON.stringify(opener.workers.iocextract).includes("http://stage2.example.net/payload.bin"));
});

// ---- helpers for the hostile-input cases ----

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function latin(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i += 8192) s += String.fromCharCode(...b.subarray(i, i + 8192));
  return s;
}

/** A PDF with objects 1..n and a correct xref table (latin1 text). */
function pdfOf(bodies: string[]): Uint8Array {
  let s = "%PDF-1.7\n";
  const offsets: number[] = [];
  bodies.forEach((b, i) => {
    offsets.push(s.length);
    s += `${i + 1} 0 obj\n${b}\nendobj\n`;
  });
  const xref = s.length;
  s += `xref\n0 ${bodies.length + 1}\n0000000000 65535 f \n`;
  for (const o of offsets) s += `${String(o).padStart(10, "0")} 00000 n \n`;
  s += `trailer\n<< /Size ${bodies.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

async function writeTemp(data: Uint8Array): Promise<string> {
  const dir = await tempDir("pdf-case-");
  const path = join(dir, "case.pdf");
  await Deno.writeFile(path, data);
  return path;
}
