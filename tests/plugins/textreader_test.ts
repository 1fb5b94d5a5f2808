/**
 * The text reader on documents LibreOffice wrote from one known text, compared with that text
 * and with independent extractors: pdftotext for the PDF, LibreOffice's own text and CSV export
 * for DOCX, DOC, ODT, XLSX and XLS (white space normalised). Caps, the no-loop rule and
 * damaged files are checked too.
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

/** LibreOffice's export of `path` to `filter` (txt:Text, csv), read back as text. */
async function libreOffice(path: string, filter: string, ext: string): Promise<string> {
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
  return await Deno.readTextFile(`${dir}/${base}.${ext}`);
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
