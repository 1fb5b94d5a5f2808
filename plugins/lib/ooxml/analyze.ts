/**
 * What an Office Open XML package (ECMA-376; [MS-DOCX], [MS-XLSX], [MS-PPTX] extensions) says
 * about itself: document properties (docProps/core.xml, app.xml, custom.xml), relationships that
 * point outside the package (remote templates, linked OLE objects, any TargetMode="External"),
 * OLE objects and other embedded parts, hidden and very hidden sheets, Excel 4 macro sheets,
 * DDE (Word field codes DDE/DDEAUTO in fldSimple and instrText, Excel ddeLink external links and
 * `app|'topic'!item` formulas) and VBA projects.
 *
 * Parts are searched for the elements wanted with bounded regular expressions (see xml.ts for
 * why no XML tree is built).
 */
import type { Finding } from "../../../core/engine/plugin.ts";
import { OpcPackage, type PackageLimits } from "./package.ts";
import {
  decodeEntities,
  elementBlocks,
  elements,
  elementText,
  type Tag,
  tagAttributes,
  tags,
} from "./xml.ts";
import { ooxmlFindings } from "./findings.ts";

const MAX_LISTED = 200;
const MAX_SCANNED_PARTS = 64;
const MAX_FIELD_DEPTH = 32;

/** A relationship whose target is outside the package. */
export interface ExternalRelationship {
  part: string;
  id: string;
  type: string;
  target: string;
}

/** One DDE use: a Word field, an Excel DDE link, or an Excel DDE formula. */
export interface DdeUse {
  part: string;
  kind: "field" | "dde_link" | "formula";
  instruction: string;
}

/** An OLE object element of a document body or sheet. */
export interface OleObject {
  part: string;
  prog_id: string | null;
  type: string | null;
  target: string | null;
  external: boolean;
}

/** The analysis of one package. */
export interface OoxmlReport {
  document_type: string;
  main_part: string | null;
  main_content_type: string | null;
  macro_enabled: boolean;
  properties: Record<string, string | number | boolean>;
  custom_properties: Record<string, string>;
  external_relationships: ExternalRelationship[];
  remote_templates: string[];
  ole_objects: OleObject[];
  embedded_objects: { name: string; size: number; content_type: string | null }[];
  vba_projects: { name: string; size: number }[];
  vba_signed: boolean;
  activex_controls: number;
  sheets: { name: string; state: string; type: string }[];
  hidden_sheets: { name: string; state: string }[];
  auto_open_names: string[];
  dde: DdeUse[];
  fields: { part: string; instruction: string }[];
  part_count: number;
  truncated: boolean;
  findings: Finding[];
}

/** The analysis, the parts that could not be read, and the embedded objects when asked for. */
export interface OoxmlAnalysis {
  report: OoxmlReport;
  problems: string[];
  embedded: { name: string; content: Uint8Array }[];
}

// Parts read before anything else: content types, relationships, document properties.
const FIRST_PASS =
  /^\[content_types\]\.xml$|(^|\/)_rels\/[^/]*\.rels$|^docprops\/(core|app|custom)\.xml$/;

/** Analyses the package in `content`. Throws when it is not a readable zip. */
export function analyzeOoxml(
  content: Uint8Array,
  limits: PackageLimits,
  extractEmbedded = false,
): OoxmlAnalysis {
  const pkg = OpcPackage.open(content, limits, (name) => FIRST_PASS.test(name));
  const report = analyze(pkg);
  const embedded: OoxmlAnalysis["embedded"] = [];
  if (extractEmbedded) {
    const names = report.embedded_objects.map((o) => o.name);
    pkg.load(names);
    for (const name of names) {
      const data = pkg.bytes(name);
      if (data) embedded.push({ name, content: data });
    }
  }
  return { report, problems: pkg.problems, embedded };
}

const REL_TYPE = (t: string) => t.replace(/\/+$/, "").split("/").pop() ?? t;

/** Resolves a relationship target against its source part's folder (OPC part names). */
function resolve(sourcePart: string, target: string): string {
  if (target.startsWith("/")) return target.slice(1);
  const parts = sourcePart.split("/").slice(0, -1);
  for (const seg of target.split("/")) {
    if (seg === "..") parts.pop();
    else if (seg !== "." && seg !== "") parts.push(seg);
  }
  return parts.join("/");
}

/** The part a .rels part describes: word/_rels/document.xml.rels → word/document.xml. */
function relsSource(relsPart: string): string {
  const m = /^(.*?)_rels\/([^/]*)\.rels$/i.exec(relsPart);
  return m ? m[1] + m[2] : "";
}

interface Rel {
  id: string;
  type: string;
  target: string;
  external: boolean;
}

function analyze(pkg: OpcPackage): OoxmlReport {
  const report: OoxmlReport = {
    document_type: "unknown",
    main_part: null,
    main_content_type: null,
    macro_enabled: false,
    properties: {},
    custom_properties: {},
    external_relationships: [],
    remote_templates: [],
    ole_objects: [],
    embedded_objects: [],
    vba_projects: [],
    vba_signed: false,
    activex_controls: 0,
    sheets: [],
    hidden_sheets: [],
    auto_open_names: [],
    dde: [],
    fields: [],
    part_count: pkg.parts.length,
    truncated: pkg.truncated,
    findings: [],
  };
  const xml = (name: string): string => pkg.text(name) ?? "";
  const push = <T>(list: T[], item: T) => {
    if (list.length < MAX_LISTED) list.push(item);
    else report.truncated = true;
  };

  // Content types: Override by part name, Default by extension.
  const types = xml("[Content_Types].xml");
  const overrides = new Map<string, string>();
  const defaults = new Map<string, string>();
  for (const o of elements(types, "Override")) {
    if (o.PartName && o.ContentType) {
      overrides.set(o.PartName.replace(/^\//, "").toLowerCase(), o.ContentType);
    }
  }
  for (const d of elements(types, "Default")) {
    if (d.Extension && d.ContentType) defaults.set(d.Extension.toLowerCase(), d.ContentType);
  }
  const contentType = (part: string) =>
    overrides.get(part.toLowerCase()) ??
      defaults.get(part.split(".").pop()?.toLowerCase() ?? "") ?? null;

  // Every relationship part: external targets, and the relationships by source part.
  const rels = new Map<string, Map<string, Rel>>();
  const relParts = pkg.parts.filter((p) => /(^|\/)_rels\/[^/]*\.rels$/i.test(p.name));
  for (const rp of relParts.slice(0, MAX_SCANNED_PARTS * 4)) {
    const source = relsSource(rp.name);
    const map = new Map<string, Rel>();
    for (const r of elements(xml(rp.name), "Relationship")) {
      const id = r.Id ?? "";
      const type = r.Type ?? "";
      const rawTarget = r.Target ?? "";
      const external = (r.TargetMode ?? "").toLowerCase() === "external";
      const target = external ? rawTarget : resolve(source, rawTarget);
      map.set(id, { id, type, target, external });
      if (external) {
        push(report.external_relationships, {
          part: source || "/",
          id,
          type: REL_TYPE(type),
          target: rawTarget,
        });
        if (/attachedTemplate$|\/frame$|subDocument$/i.test(type)) {
          push(report.remote_templates, rawTarget);
        }
      }
    }
    rels.set(source.toLowerCase(), map);
  }
  if (relParts.length > MAX_SCANNED_PARTS * 4) report.truncated = true;
  const relsOf = (part: string) => rels.get(part.toLowerCase()) ?? new Map<string, Rel>();

  // The main part and the kind of document.
  const main = [...relsOf("").values()].find((r) =>
    /\/officeDocument$/.test(r.type) && !r.external
  );
  if (main) {
    report.main_part = main.target;
    report.main_content_type = contentType(main.target);
  }
  const ct = report.main_content_type ?? "";
  report.document_type = /wordprocessingml|ms-word/.test(ct)
    ? "word"
    : /spreadsheetml|ms-excel/.test(ct)
    ? "excel"
    : /presentationml|ms-powerpoint/.test(ct)
    ? "powerpoint"
    : /visio/.test(ct)
    ? "visio"
    : "unknown";

  readProperties(report, xml);

  // Embedded objects, VBA projects, ActiveX controls: by part name.
  for (const p of pkg.parts) {
    const lower = p.name.toLowerCase();
    if (/(^|\/)embeddings\//.test(lower)) {
      push(report.embedded_objects, {
        name: p.name,
        size: p.size,
        content_type: contentType(p.name),
      });
    } else if (lower.endsWith("vbaproject.bin")) {
      push(report.vba_projects, { name: p.name, size: p.size });
    } else if (lower.endsWith("vbaprojectsignature.bin")) {
      report.vba_signed = true;
    } else if (/(^|\/)activex\/[^/]*\.bin$/.test(lower)) {
      report.activex_controls++;
    }
  }
  report.macro_enabled = /macroEnabled/i.test(ct) || report.vba_projects.length > 0;

  // Parts whose bodies are searched: the main part and what it relates to (headers, footers,
  // notes, comments, sheets, slides), capped.
  const bodies: string[] = [];
  if (report.main_part) {
    bodies.push(report.main_part);
    for (const r of relsOf(report.main_part).values()) {
      if (r.external) continue;
      if (
        /\/(header|footer|footnotes|endnotes|comments|worksheet|slide|macrosheet|xlMacrosheet|xlIntlMacrosheet|dialogsheet)$/i
          .test(r.type)
      ) {
        bodies.push(r.target);
      }
    }
  }
  if (bodies.length > MAX_SCANNED_PARTS) report.truncated = true;
  const scanned = bodies.slice(0, MAX_SCANNED_PARTS);
  const externalLinks = report.main_part
    ? [...relsOf(report.main_part).values()]
      .filter((r) => !r.external && /\/externalLink$/.test(r.type)).map((r) => r.target)
    : [];
  pkg.load([...scanned, ...externalLinks.slice(0, MAX_SCANNED_PARTS)]);
  for (const part of scanned) {
    const text = pkg.text(part);
    if (text === undefined) continue;
    scanBody(report, part, text, relsOf(part), push);
  }

  if (report.document_type === "excel" && report.main_part) {
    readWorkbook(report, report.main_part, xml, relsOf(report.main_part), push);
  }

  report.findings = ooxmlFindings(report);
  return report;
}

const CORE: Record<string, string> = {
  title: "title",
  subject: "subject",
  creator: "creator",
  keywords: "keywords",
  description: "description",
  lastModifiedBy: "last_modified_by",
  revision: "revision",
  category: "category",
  contentStatus: "content_status",
  language: "language",
  identifier: "identifier",
  version: "version",
  created: "created",
  modified: "modified",
  lastPrinted: "last_printed",
};
const DATES = new Set(["created", "modified", "last_printed"]);
const APP: Record<string, string> = {
  Application: "application",
  AppVersion: "app_version",
  Company: "company",
  Manager: "manager",
  Template: "template",
  TotalTime: "total_time",
  Pages: "pages",
  Words: "words",
  Characters: "characters",
  CharactersWithSpaces: "characters_with_spaces",
  Lines: "lines",
  Paragraphs: "paragraphs",
  Slides: "slides",
  Notes: "notes",
  HiddenSlides: "hidden_slides",
  MMClips: "multimedia_clips",
  HyperlinkBase: "hyperlink_base",
  DocSecurity: "doc_security",
};
const NUMERIC = new Set([
  "total_time",
  "pages",
  "words",
  "characters",
  "characters_with_spaces",
  "lines",
  "paragraphs",
  "slides",
  "notes",
  "hidden_slides",
  "multimedia_clips",
  "doc_security",
]);

/** A W3CDTF date as ISO 8601 (UTC), or the text as written when it does not parse. */
function isoDate(s: string): string {
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? s : d.toISOString();
}

function readProperties(report: OoxmlReport, xml: (name: string) => string): void {
  const core = xml("docProps/core.xml");
  for (const [el, key] of Object.entries(CORE)) {
    const v = elementText(core, el)?.trim();
    if (!v) continue;
    report.properties[key] = DATES.has(key) ? isoDate(v) : v;
  }
  const app = xml("docProps/app.xml");
  for (const [el, key] of Object.entries(APP)) {
    const v = elementText(app, el)?.trim();
    if (!v) continue;
    report.properties[key] = NUMERIC.has(key) && /^-?\d+$/.test(v) ? Number(v) : v;
  }
  for (const p of elementBlocks(xml("docProps/custom.xml"), "property", MAX_LISTED)) {
    if (!p.attrs.name) continue;
    // The value is the property's one child element (vt:lpwstr, vt:i4, vt:filetime...).
    const value = /<[^>]*>([^<]*)</.exec(p.inner);
    report.custom_properties[p.attrs.name] = decodeEntities(value?.[1] ?? "");
  }
}

const DDE_CODES = new Set(["DDE", "DDEAUTO"]);
const NOTABLE_CODES = new Set(["INCLUDETEXT", "INCLUDEPICTURE", "INCLUDE", "IMPORT", "LINK"]);
const OLE_ELEMENTS = new Set(["OLEObject", "oleObject", "oleObj"]);

/** Whether a formula holds Excel's DDE form application|'topic'!item (e.g. cmd|' /c calc'!A0). */
function isDdeFormula(f: string): boolean {
  for (let bar = f.indexOf("|"), n = 0; bar > 0 && n < 16; bar = f.indexOf("|", bar + 1), n++) {
    if (!/[\w.]/.test(f[bar - 1]) || f[bar + 1] !== "'") continue;
    const close = f.indexOf("'", bar + 2);
    if (close > 0 && f[close + 1] === "!") return true;
  }
  return false;
}

/**
 * Searches a body part, in one pass over its tags: Word fields (fldSimple's instr; the
 * instrText between a complex field's begin and separate fldChar, nested fields apart), OLE
 * object elements, and cell formulas in DDE form.
 */
function scanBody(
  report: OoxmlReport,
  part: string,
  text: string,
  rels: Map<string, Rel>,
  push: <T>(list: T[], item: T) => void,
): void {
  const fieldCode = (instruction: string) => {
    const clean = instruction.replace(/\s+/g, " ").trim();
    const code = clean.split(" ")[0].replace(/^\\/, "").toUpperCase();
    if (DDE_CODES.has(code)) push(report.dde, { part, kind: "field", instruction: clean });
    else if (NOTABLE_CODES.has(code)) push(report.fields, { part, instruction: clean });
  };
  const textAfter = (t: Tag) => {
    const next = text.indexOf("<", t.end);
    return decodeEntities(text.slice(t.end, next < 0 ? text.length : next));
  };
  const stack: { text: string; separated: boolean }[] = [];
  const formulas = text.includes("|");
  for (const t of tags(text)) {
    if (t.closing) continue;
    if (t.name === "fldSimple") {
      const instr = tagAttributes(t.attrText).instr;
      if (instr) fieldCode(instr);
    } else if (t.name === "fldChar") {
      const kind = tagAttributes(t.attrText).fldCharType;
      if (kind === "begin") {
        if (stack.length < MAX_FIELD_DEPTH) stack.push({ text: "", separated: false });
      } else if (kind === "separate" && stack.length) {
        stack[stack.length - 1].separated = true;
      } else if (kind === "end" && stack.length) {
        fieldCode(stack.pop()!.text);
      }
    } else if (t.name === "instrText") {
      const top = stack[stack.length - 1];
      if (top && !top.separated && !t.selfClosing && top.text.length < 65_536) {
        top.text += textAfter(t);
      }
    } else if (OLE_ELEMENTS.has(t.name)) {
      const a = tagAttributes(t.attrText);
      const rel = a.id ? rels.get(a.id) : undefined;
      push(report.ole_objects, {
        part,
        prog_id: a.ProgID ?? a.progId ?? null,
        type: a.Type ?? (rel?.external ? "Link" : rel ? "Embed" : null),
        target: rel?.target ?? null,
        external: rel?.external ?? false,
      });
    } else if (formulas && t.name === "f" && !t.selfClosing) {
      const formula = textAfter(t);
      if (isDdeFormula(formula)) push(report.dde, { part, kind: "formula", instruction: formula });
    }
  }
}

function readWorkbook(
  report: OoxmlReport,
  workbookPart: string,
  xml: (name: string) => string,
  rels: Map<string, Rel>,
  push: <T>(list: T[], item: T) => void,
): void {
  const wb = xml(workbookPart);
  for (const s of elements(wb, "sheet")) {
    const name = s.name ?? "";
    const state = s.state ?? "visible";
    const rel = rels.get(s.id ?? "");
    const type = rel ? REL_TYPE(rel.type) : "unknown";
    push(report.sheets, { name, state, type });
    if (state !== "visible") push(report.hidden_sheets, { name, state });
  }
  for (const d of elements(wb, "definedName")) {
    const name = d.name ?? "";
    if (/^(_xlnm\.)?auto_(open|close|activate|deactivate)/i.test(name)) {
      push(report.auto_open_names, name);
    }
  }
  // External links: DDE links (service, topic and items).
  for (const r of rels.values()) {
    if (r.external || !/\/externalLink$/.test(r.type)) continue;
    const link = xml(r.target);
    for (const dde of elementBlocks(link, "ddeLink", MAX_LISTED)) {
      const items = elements(dde.inner, "ddeItem", MAX_LISTED).map((i) => i.name ?? "")
        .filter(Boolean);
      push(report.dde, {
        part: r.target,
        kind: "dde_link",
        instruction: `${dde.attrs.ddeService ?? ""}|'${dde.attrs.ddeTopic ?? ""}'!${
          items.join(",")
        }`,
      });
    }
  }
}
