/**
 * The text reader on documents LibreOffice wrote from one known text, compared with that text
 * and with independent extractors: pdftotext for the PDF, LibreOffice's own text and CSV export
 * for DOCX, DOC, ODT, XLSX and XLS, pdftotext of LibreOffice's PDF export for PPT, slide by slide
 * (white space normalised). Caps, the no-loop rule and damaged files are checked too.
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import textreader, { capUtf8 } from "../../plugins/textreader.ts";
import { instantiate, makePayload, makeRequest, sh, tempDir } from "../helpers.ts";
import {
  DOC_LINES,
  SHEET_ROWS,
  SLIDE_LINES,
  type TextFileName,
  textFiles,
} from "../fixtures/text_files.ts";
import { PPT_NOTES, PPT_SLIDES, pptFiles } from "../fixtures/ppt_files.ts";
import { CompoundFile } from "../../plugins/lib/office/cfb.ts";
import { readPpt } from "../../plugins/lib/office/ppt.ts";

// deno-lint-ignore no-explicit-any
type Any = any;

async function scan(
  content: Uint8Array | string,
  options: Record<string, unknown> = {},
  meta = {},
) {
  const { instance, call } = await instantiate(textreader, options);
  const p = makePayload(content, { extra_data: meta });
  return (await instance.scan!(p, makeRequest(p), call)) as Any;
}

const norm = (s: string) => s.replace(/\s+/g, " ").trim();
const childText = (out: Any) =>
  new TextDecoder().decode(new TextEncoder().encode(out.extracted[0].content));

/** LibreOffice's export of `path` to `filter` (txt:Text, csv, pdf): the file it wrote. */
async function libreOfficeFile(path: string, filter: string, ext: string): Promise<string> {
  const dir = await tempDir("lo-");
  await sh("soffice", [
    `-env:UserInstallation=file://${dir}/profile`,
    "--headless",
    "--convert-to",
    filter,
    "--outdir",
    dir,
    path,
  ]);
  const base = path.slice(path.lastIndexOf("/") + 1).replace(/\.[^.]+$/, "");
  return `${dir}/${base}.${ext}`;
}

/** LibreOffice's export of `path` to `filter` (txt:Text, csv), read back as text. */
async function libreOffice(path: string, filter: string, ext: string): Promise<string> {
  return await Deno.readTextFile(await libreOfficeFile(path, filter, ext));
}

Deno.test("textreader: PDF text equals the source text and pdftotext's, with the child's metadata", async () => {
  const files = await textFiles();
  const out = await scan(await Deno.readFile(files["keyword.pdf"]), {}, {
    filename: "keyword.pdf",
  });
  const text = childText(out);
  equal(norm(text), norm(DOC_LINES.join("\n")));
  equal(norm(text), norm(await sh("pdftotext", ["-enc", "UTF-8", files["keyword.pdf"], "-"])));
  deepEqual(out.results, {
    format: "pdf",
    extractor: "pdftotext",
    characters: text.trim().length,
    bytes: new TextEncoder().encode(text.trim()).length,
    truncated: false,
    pages: 1,
  });
  deepEqual(out.extracted[0].payload_meta.extra_data, {
    filename: "keyword.pdf.txt",
    source: "textreader",
    text_of: "pdf",
    extractor: "pdftotext",
  });
});

for (
  const [name, format, extractor] of [
    ["keyword.docx", "docx", "ooxml"],
    ["keyword.doc", "doc", "catdoc"],
    ["keyword.odt", "odf", "odf"],
  ] as [TextFileName, string, string][]
) {
  Deno.test(`textreader: ${name} text equals LibreOffice's text export and the source`, async () => {
    const files = await textFiles();
    const out = await scan(await Deno.readFile(files[name]));
    equal(out.results.format, format);
    equal(out.results.extractor, extractor);
    const text = childText(out);
    equal(norm(text), norm(await libreOffice(files[name], "txt:Text", "txt")));
    equal(norm(text), norm(DOC_LINES.join("\n")));
  });
}

for (const name of ["sheet.xlsx", "sheet.xls"] as TextFileName[]) {
  Deno.test(`textreader: ${name} cells equal LibreOffice's CSV export, row by row`, async () => {
    const files = await textFiles();
    const out = await scan(await Deno.readFile(files[name]));
    const csv = (await libreOffice(files[name], "csv", "csv")).trim().split("\n")
      .map((l) => l.split(",").map((c) => c.replace(/^"|"$/g, "")));
    deepEqual(csv, SHEET_ROWS);
    const rows = childText(out).trim().split("\n").map((l) =>
      name.endsWith("xlsx") ? l.split("\t") : l.split(",").map((c) => c.replace(/^"|"$/g, ""))
    );
    deepEqual(rows, csv);
  });
}

Deno.test("textreader: PPTX slide text in slide order equals the slides' text", async () => {
  const files = await textFiles();
  const out = await scan(await Deno.readFile(files["slides.pptx"]));
  deepEqual(out.results.parts, ["ppt/slides/slide1.xml", "ppt/slides/slide2.xml"]);
  equal(norm(childText(out)), norm(SLIDE_LINES.flat().join("\n")));
});

Deno.test("textreader: max_bytes caps the child on a character boundary and says so", async () => {
  const files = await textFiles();
  for (
    const name of ["keyword.pdf", "keyword.docx", "keyword.odt", "keyword.doc"] as TextFileName[]
  ) {
    const out = await scan(await Deno.readFile(files[name]), { max_bytes: 40 });
    equal(out.results.truncated, true, name);
    ok(new TextEncoder().encode(childText(out)).length <= 41, name);
    equal(out.extracted[0].payload_meta.extra_data.truncated, true);
    ok(norm(DOC_LINES.join(" ")).startsWith(norm(childText(out))), name);
  }
  // Multi-byte characters are never cut in half.
  deepEqual(capUtf8("é".repeat(50), 11), { text: "ééééé", truncated: true });
  deepEqual(capUtf8("abc", 3), { text: "abc", truncated: false });
});

Deno.test("textreader: its own child is not read again (no loop), damaged documents give one error", async () => {
  // A text child that starts like a PDF: pdftotext is tried on a fresh payload, never on the
  // text reader's own child.
  const { instance, call } = await instantiate(textreader);
  const fake = makePayload("%PDF-1.7 is the version this report describes.\n");
  const fresh = (await instance.scan!(fake, makeRequest(fake), call)) as Any;
  ok(fresh.errors[0].startsWith("textreader: pdftotext failed"), fresh.errors[0]);
  const child = makePayload("%PDF-1.7 is the version this report describes.\n");
  child.results.extracted_by.push("textreader");
  equal(await instance.scan!(child, makeRequest(child), call), null);
  deepEqual((await scan("<html><body>hi</body></html>")).results, {
    text: false,
    reason: "not a PDF, OOXML, OpenDocument or OLE document",
  });

  const files = await textFiles();
  const pdf = await Deno.readFile(files["keyword.pdf"]);
  const broken = await scan(pdf.subarray(0, 200));
  ok(/^textreader: pdftotext failed \(exit 1\): \S/.test(broken.errors[0]), broken.errors[0]);
  const docx = await Deno.readFile(files["keyword.docx"]);
  const cut = await scan(docx.subarray(0, docx.length / 2));
  deepEqual(cut.errors, ["textreader: cannot read the zip: End of central directory not found"]);
  const ole = await scan(
    new Uint8Array([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1, ...new Uint8Array(600)]),
  );
  deepEqual(ole.results, {
    text: false,
    reason: "an OLE file that is not a Word, Excel or PowerPoint document",
  });
});

/** pdftotext's pages of LibreOffice's PDF export of `path` (`filter` e.g. "pdf"). */
async function pdfPages(path: string, filter = "pdf"): Promise<string[]> {
  const pdf = await libreOfficeFile(path, filter, "pdf");
  const text = await sh("pdftotext", ["-enc", "UTF-8", pdf, "-"]);
  return text.split("\f").slice(0, -1).map(norm);
}

Deno.test("textreader: .ppt slides equal pdftotext of LibreOffice's PDF, slide by slide, then the notes", async () => {
  const ppt = await pptFiles();
  const out = await scan(await Deno.readFile(ppt["text.ppt"]), {}, { filename: "text.ppt" });
  deepEqual(out.errors, []);
  deepEqual(out.results, {
    format: "ppt",
    extractor: "ppt",
    characters: childText(out).trim().length,
    bytes: new TextEncoder().encode(childText(out).trim()).length,
    truncated: false,
    slides: 3,
  });
  deepEqual(out.extracted[0].payload_meta.extra_data, {
    filename: "text.ppt.txt",
    source: "textreader",
    text_of: "ppt",
    extractor: "ppt",
  });
  // One block a slide, then the notes pages that have text.
  const blocks = childText(out).trim().split("\n\n").map(norm);
  const pages = await pdfPages(ppt["text.ppt"]);
  equal(pages.length, 3);
  deepEqual(blocks.slice(0, 3), pages);
  deepEqual(pages, PPT_SLIDES.map((s) => norm(s.join(" "))));
  const notes = await pdfPages(
    ppt["text.ppt"],
    'pdf:impress_pdf_Export:{"ExportNotesPages":{"type":"boolean","value":"true"},' +
      '"ExportOnlyNotesPages":{"type":"boolean","value":"true"}}',
  );
  deepEqual(blocks.slice(3), [PPT_NOTES]);
  ok(notes[0].includes(PPT_NOTES), notes[0]);
  // The .ppt of the text fixtures (LibreOffice too): what catppt could not read.
  const files = await textFiles();
  const slides = await scan(await Deno.readFile(files["slides.ppt"]));
  deepEqual(
    childText(slides).trim().split("\n\n").map(norm),
    await pdfPages(files["slides.ppt"]),
  );
  equal(norm(childText(slides)), norm(SLIDE_LINES.flat().join("\n")));
});

Deno.test("textreader: .ppt cap, broken Current User (stream order), truncated and corrupted copies", async () => {
  const whole = await Deno.readFile((await pptFiles())["text.ppt"]);
  const capped = await scan(whole, { max_bytes: 30 });
  equal(capped.results.truncated, true);
  ok(new TextEncoder().encode(childText(capped)).length <= 31);
  const cfb = new CompoundFile(whole);
  const stream = cfb.read(cfb.find("PowerPoint Document")!);
  const user = cfb.read(cfb.find("Current User")!);
  const limits = { maxVbaSize: 1 << 20, maxChars: 1 << 20 };
  const good = readPpt(stream, user, limits);
  // Without the Current User stream the slides are read in the order the stream holds them.
  const fallback = readPpt(stream, undefined, limits);
  deepEqual(fallback.slides.map((s) => s.text), good.slides.map((s) => s.text));
  deepEqual(fallback.errors, ["no Current User stream: slides read in stream order"]);
  // A Current User pointing nowhere: a named error, then the fallback.
  const badUser = user.slice();
  new DataView(badUser.buffer).setUint32(16, stream.length + 100, true);
  const lost = readPpt(stream, badUser, limits);
  ok(lost.errors[0].startsWith("no UserEditAtom at offset"), lost.errors.join());
  // Truncated streams and flipped bytes: values or named errors, never a throw.
  for (let cut = 0; cut < stream.length; cut += 211) {
    const r = readPpt(stream.subarray(0, cut), user, limits);
    for (const e of r.errors) ok(/UserEditAtom|persist|slide|DocumentContainer|records/.test(e), e);
  }
  let seed = 7;
  const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  for (let n = 0; n < 300; n++) {
    const copy = stream.slice();
    for (let k = 0; k < 4; k++) copy[Math.floor(rnd() * copy.length)] = Math.floor(rnd() * 256);
    JSON.stringify(readPpt(copy, user, limits));
  }
  // A record claiming 4 GiB ends the walk at its parent instead of reading past it.
  const huge = stream.slice();
  new DataView(huge.buffer).setUint32(4, 0xffffffff, true);
  JSON.stringify(readPpt(huge, user, limits));
  // A compound file cut inside its directory (LibreOffice writes it last): one named error.
  const broken = await scan(whole.subarray(0, whole.length - 300));
  deepEqual(broken.errors, ["textreader: no PowerPoint Document stream in the directory"]);
});

Deno.test("textreader: a TextBytesAtom (latin1, as PowerPoint writes ASCII text) is read too", () => {
  // [MS-PPT] 2.13.24 record headers: a SlideContainer holding a TextBytesAtom, no Current User.
  const rec = (inst: number, type: number, body: Uint8Array, container = false) => {
    const h = new Uint8Array(8 + body.length);
    const v = new DataView(h.buffer);
    v.setUint16(0, (inst << 4) | (container ? 0xf : 0), true);
    v.setUint16(2, type, true);
    v.setUint32(4, body.length, true);
    h.set(body, 8);
    return h;
  };
  const latin1 = Uint8Array.from("Caf\xe9 menu\rsecond line", (c) => c.charCodeAt(0));
  const slide = rec(0, 0x03ee, rec(0, 0x0fa8, latin1), true);
  const r = readPpt(slide, undefined, { maxVbaSize: 0, maxChars: 1000 });
  deepEqual(r.slides.map((s) => s.text), [["Café menu", "second line"]]);
});
