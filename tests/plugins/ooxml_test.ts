/**
 * ooxml on LibreOffice-made documents (tests/fixtures/ooxml_files.ts): properties against
 * exiftool, relationships, sheets and DDE links against python3's zipfile + xml.etree (an
 * independent XML parser), embedded objects against unzip.
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import type { WorkerResponse } from "../../core/engine/plugin.ts";
import ooxml from "../../plugins/ooxml.ts";
import { strToU8, zipSync } from "fflate";
import { instantiate, makePayload, makeRequest, sh, sha256 } from "../helpers.ts";
import { corruptedCopies } from "../fixtures/cache.ts";
import { OOXML, ooxmlFiles } from "../fixtures/ooxml_files.ts";
import { realFiles } from "../realfiles.ts";

// deno-lint-ignore no-explicit-any
type Report = Record<string, any>;

async function scan(content: Uint8Array, options: Record<string, unknown> = {}) {
  const { instance, call } = await instantiate(ooxml, options);
  const p = makePayload(content);
  return await instance.scan!(p, makeRequest(p), call) as WorkerResponse;
}

/** python3's reading of the package: relationships, sheets, DDE links (xml.etree, not regexes). */
async function etree(path: string): Promise<Report> {
  return JSON.parse(await sh("python3", ["-c", ETREE_PY, path]));
}
const ETREE_PY = `
import json, posixpath, sys, zipfile, xml.etree.ElementTree as ET
z = zipfile.ZipFile(sys.argv[1])
local = lambda t: t.rsplit("}", 1)[-1]
out = {"external": [], "sheets": [], "dde": [], "parts": {}}
for n in z.namelist():
    out["parts"][n] = z.getinfo(n).file_size
    if n.endswith(".rels"):
        for r in ET.fromstring(z.read(n)).iter():
            if local(r.tag) == "Relationship" and r.get("TargetMode") == "External":
                out["external"].append([r.get("Type").rsplit("/", 1)[-1], r.get("Target")])
    if n == "xl/workbook.xml":
        for s in ET.fromstring(z.read(n)).iter():
            if local(s.tag) == "sheet":
                out["sheets"].append([s.get("name"), s.get("state", "visible")])
    if n.startswith("xl/externalLinks/") and n.endswith(".xml"):
        for d in ET.fromstring(z.read(n)).iter():
            if local(d.tag) == "ddeLink":
                items = [i.get("name") for i in d.iter() if local(i.tag) == "ddeItem"]
                out["dde"].append("%s|'%s'!%s" % (d.get("ddeService"), d.get("ddeTopic"), ",".join(items)))
print(json.dumps(out))
`;

/** exiftool's "2026:12:03 08:07:07Z" as ISO 8601. */
const exifDate = (s: string) =>
  new Date(s.replace(/^(\d{4}):(\d\d):(\d\d) /, "$1-$2-$3T")).toISOString();

Deno.test("ooxml: invoice.docx properties, field by field against exiftool", async () => {
  const path = (await ooxmlFiles())["invoice.docx"];
  const res = await scan(await Deno.readFile(path));
  deepEqual(res.errors, []);
  const r = res.results as Report;
  const ex = JSON.parse(await sh("exiftool", ["-j", path]))[0];
  const p = r.properties;
  equal(p.title, ex.Title);
  equal(p.subject, ex.Subject);
  equal(p.creator, ex.Creator);
  equal(p.keywords, ex.Keywords);
  equal(p.description, ex.Description);
  equal(p.last_modified_by, ex.LastModifiedBy);
  equal(Number(p.revision), ex.RevisionNumber);
  equal(p.language, ex.Language);
  equal(p.modified, exifDate(ex.ModifyDate));
  equal(p.template, ex.Template);
  equal(p.total_time, ex.TotalEditTime);
  equal(p.application, ex.Application);
  equal(Number(p.app_version), ex.AppVersion);
  equal(p.company, ex.Company);
  // And what the builder wrote.
  equal(p.title, OOXML.title);
  equal(p.last_modified_by, OOXML.lastModifiedBy);
  equal(p.company, OOXML.company);
  equal(r.document_type, "word");
  equal(r.main_part, "word/document.xml");
  equal(r.macro_enabled, false);
});

Deno.test("ooxml: remote template, linked OLE object, embedded object and DDE field of invoice.docx", async () => {
  const path = (await ooxmlFiles())["invoice.docx"];
  const r = (await scan(await Deno.readFile(path))).results as Report;
  const py = await etree(path);
  deepEqual(
    r.external_relationships.map((e: Report) => [e.type, e.target]).sort(),
    py.external.sort(),
  );
  deepEqual(r.remote_templates, [OOXML.remoteTemplate]);
  deepEqual(r.ole_objects, [
    {
      part: "word/document.xml",
      prog_id: "Excel.Sheet.12",
      type: "Embed",
      target: "word/embeddings/oleObject1.xlsx",
      external: false,
    },
    {
      part: "word/document.xml",
      prog_id: "Word.Document.8",
      type: "Link",
      target: OOXML.oleLink,
      external: true,
    },
  ]);
  deepEqual(r.embedded_objects, [{
    name: "word/embeddings/oleObject1.xlsx",
    size: py.parts["word/embeddings/oleObject1.xlsx"],
    content_type: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
  }]);
  // The DDEAUTO instruction was split over two instrText runs; it comes back whole.
  deepEqual(r.dde, [
    { part: "word/document.xml", kind: "field", instruction: OOXML.dde },
    { part: "word/document.xml", kind: "field", instruction: OOXML.ddeSimple },
  ]);
  deepEqual(r.findings.map((f: Report) => [f.id, f.severity]), [
    ["ooxml_remote_template", "high"],
    ["ooxml_external_ole_link", "high"],
    ["ooxml_dde", "high"],
  ]);
  equal(r.findings[0].detail, OOXML.remoteTemplate);
  deepEqual(r.findings[0].mitre, ["T1221"]);
});

Deno.test("ooxml: extract_embedded gives the embedded objects as children, as unzip reads them", async () => {
  const path = (await ooxmlFiles())["invoice.docx"];
  const res = await scan(await Deno.readFile(path), { extract_embedded: true });
  equal(res.extracted!.length, 1);
  const child = res.extracted![0];
  deepEqual(child.payload_meta!.extra_data, { filename: "word/embeddings/oleObject1.xlsx" });
  const bytes = new Uint8Array(
    (await new Deno.Command("unzip", {
      args: ["-p", path, "word/embeddings/oleObject1.xlsx"],
      stdout: "piped",
    }).output()).stdout,
  );
  equal(sha256(child.content as Uint8Array), sha256(bytes));
  // By default decompress extracts the parts: nothing is extracted twice.
  deepEqual((await scan(await Deno.readFile(path))).extracted, []);
});

Deno.test("ooxml: hidden and very hidden sheets, DDE link and DDE formula of sheets.xlsx", async () => {
  const path = (await ooxmlFiles())["sheets.xlsx"];
  const r = (await scan(await Deno.readFile(path))).results as Report;
  const py = await etree(path);
  deepEqual(r.sheets.map((s: Report) => [s.name, s.state]), py.sheets);
  deepEqual(r.hidden_sheets, [
    { name: "Secret", state: "hidden" },
    { name: "VerySecret", state: "veryHidden" },
  ]);
  deepEqual(
    r.dde.filter((d: Report) => d.kind === "dde_link").map((d: Report) => d.instruction),
    py.dde,
  );
  deepEqual(r.dde.find((d: Report) => d.kind === "formula"), {
    part: "xl/worksheets/sheet1.xml",
    kind: "formula",
    instruction: "cmd|' /c calc.exe'!A0",
  });
  deepEqual(r.findings.map((f: Report) => [f.id, f.severity]), [
    ["ooxml_dde", "high"],
    ["ooxml_hidden_sheets", "medium"],
  ]);
});

Deno.test("ooxml: a macro-enabled workbook (LibreOffice's VBA export) is flagged with its VBA project", async () => {
  const path = (await realFiles())["macro.xlsm"];
  const r = (await scan(await Deno.readFile(path))).results as Report;
  const py = await etree(path);
  equal(r.macro_enabled, true);
  deepEqual(r.vba_projects, [{ name: "xl/vbaProject.bin", size: py.parts["xl/vbaProject.bin"] }]);
  ok(/macroEnabled/.test(r.main_content_type), r.main_content_type);
  equal(r.findings.find((f: Report) => f.id === "ooxml_macros")?.severity, "medium");
});

Deno.test("ooxml: broken packages give named errors, never a throw", async () => {
  const data = await Deno.readFile((await ooxmlFiles())["invoice.docx"]);
  // Cut: the zip directory is gone.
  const cut = await scan(data.subarray(0, data.length - 200));
  ok(/^ooxml: not a readable zip package: /.test(String(cut.errors?.[0])), String(cut.errors));
  equal(cut.results, undefined);
  // Corrupted bytes anywhere: a result or a named error, whatever the bytes.
  for (const copy of corruptedCopies(data, { count: 200, from: 0, flips: 6, seed: 7 })) {
    const res = await scan(copy);
    ok(res.results || res.errors?.every((e) => String(e).startsWith("ooxml: ")));
  }
  // A part bigger than the cap is skipped and named.
  const capped = await scan(data, { max_part_size: 2000 });
  ok(
    capped.errors!.some((e) => /word\/document\.xml: \d+ bytes, over the read cap/.test(String(e))),
    String(capped.errors),
  );
});

Deno.test("ooxml: parts built to make backtracking parsers quadratic are read in one pass", async () => {
  const REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships";
  const zip = zipSync({
    "[Content_Types].xml": strToU8(
      '<Types><Default Extension="xml" ContentType="' +
        'application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>',
    ),
    "_rels/.rels": strToU8(
      `<Relationships><Relationship Id="r1" Type="${REL}/officeDocument" ` +
        `Target="word/document.xml"/></Relationships>`,
    ),
    // Start tags that never close, attributes with no closing quote, fields never ended.
    "word/document.xml": strToU8(
      "<w:document>" + '<w:fldChar w:fldCharType="begin"/><w:instrText>DDE '.repeat(20_000) +
        '<w:fldSimple w:instr="DDEAUTO x'.repeat(100_000),
    ),
    "docProps/custom.xml": strToU8('<Properties><property name="a">'.repeat(100_000)),
    "docProps/core.xml": strToU8("<cp:coreProperties><dc:title a='".repeat(100_000)),
  });
  const res = await scan(zip);
  deepEqual(res.errors, []);
  const r = res.results as Report;
  equal(r.document_type, "word");
  deepEqual(r.dde, []);
  deepEqual(r.custom_properties, {});
});
