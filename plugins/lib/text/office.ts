/**
 * The words of zip-based Office documents, from their XML parts (ECMA-376 Part 1 for OOXML,
 * OpenDocument 1.2 for ODF): Word runs (w:t) of the body, headers, footers, notes and comments;
 * Excel's shared and inline strings; PowerPoint slide and notes runs (a:t); ODF paragraphs and
 * headings of content.xml. Field codes (w:instrText) and deleted runs (w:delText) are not
 * visible text and are left out, as LibreOffice's text export leaves them out.
 */
import { readZipMembers } from "../archive/zip.ts";
import { decodeXml, parseXml } from "../xml/parser.ts";

/** Which kind of document, and the parts to read in reading order. */
interface Layout {
  format: "docx" | "xlsx" | "pptx" | "odf";
  parts: RegExp;
  order: (name: string) => number;
}

const num = (name: string) => Number(/(\d+)\.xml$/.exec(name)?.[1] ?? 0);
const LAYOUTS: Layout[] = [
  {
    format: "docx",
    parts: /^word\/(document|header\d*|footer\d*|footnotes|endnotes|comments)\.xml$/,
    order: (n) =>
      (n === "word/document.xml" ? 0 : n.includes("header") ? 1 : n.includes("footer") ? 3 : 2) *
        1e6 + num(n),
  },
  {
    format: "xlsx",
    parts: /^xl\/(sharedStrings|worksheets\/sheet\d+)\.xml$/,
    order: (n) => (n.endsWith("sharedStrings.xml") ? 0 : 1e6) + num(n),
  },
  {
    format: "pptx",
    parts: /^ppt\/(slides\/slide\d+|notesSlides\/notesSlide\d+)\.xml$/,
    order: (n) => (n.includes("notesSlide") ? 1e6 : 0) + num(n),
  },
  { format: "odf", parts: /^content\.xml$/, order: () => 0 },
];

const ODF_TEXT = "urn:oasis:names:tc:opendocument:xmlns:text:1.0";
const BREAKS = new Set(["br", "cr", "line-break"]);
const PARAGRAPHS = new Set(["p", "h"]);

/** Text of an Office document, and where it came from. */
export interface OfficeText {
  format: string;
  text: string;
  parts: string[];
  skipped: { name: string; reason: string }[];
  truncated: boolean;
}

/**
 * Reads the text of a zip-based document, stopping once `maxChars` characters are collected.
 * Returns null when the zip holds none of the known parts.
 */
export async function officeText(
  content: Uint8Array,
  maxChars: number,
  signal: AbortSignal,
): Promise<OfficeText | null> {
  const names = LAYOUTS.map((l) => l.parts);
  const { members, skipped } = await readZipMembers(
    content,
    (n) => names.some((re) => re.test(n)),
    { maxMembers: 2000, maxSize: 64 * 1024 * 1024 },
    signal,
  );
  const layout = LAYOUTS.find((l) => members.some((m) => l.parts.test(m.name)));
  if (!layout) return null;
  const parts = members.filter((m) => layout.parts.test(m.name))
    .sort((a, b) => layout.order(a.name) - layout.order(b.name));
  const chunks: string[] = [];
  let length = 0;
  const read: string[] = [];
  // Sheets refer to the shared strings by index: cells are read in sheet order, one row a line.
  let shared: string[] | undefined;
  for (const part of parts) {
    if (length >= maxChars) break;
    read.push(part.name);
    const xml = decodeXml(part.data).text;
    if (part.name.endsWith("sharedStrings.xml")) {
      shared = await sharedStrings(xml, signal);
      continue;
    }
    const text = layout.format === "xlsx"
      ? await sheetText(xml, shared ?? [], maxChars - length, signal)
      : await partText(xml, layout.format === "odf", maxChars - length, signal);
    if (text) {
      chunks.push(text);
      length += text.length;
    }
  }
  const text = chunks.join("\n");
  return {
    format: layout.format,
    text: text.slice(0, maxChars),
    parts: read,
    skipped,
    truncated: text.length > maxChars || read.length < parts.length,
  };
}

/** The visible text of one part. */
async function partText(
  xml: string,
  odf: boolean,
  room: number,
  signal: AbortSignal,
): Promise<string> {
  let out = "";
  let inText = 0; // depth inside w:t/a:t/t (OOXML) or text:p/text:h (ODF)
  let line = "";
  const flush = () => {
    out += line.replace(/[ \t]+$/, "") + "\n";
    line = "";
  };
  await parseXml(xml, {
    open(tag) {
      const local = tag.local;
      if (odf) {
        if (tag.uri !== ODF_TEXT) return;
        if (local === "p" || local === "h") inText++;
        else if (local === "tab") line += "\t";
        else if (local === "s") {
          line += " ".repeat(Math.min(1000, Number(tag.attributes["text:c"]?.value ?? 1) || 1));
        } else if (BREAKS.has(local)) line += "\n";
        return;
      }
      if (local === "t") inText++;
      else if (local === "tab" && tag.prefix === "w") line += "\t";
      else if (BREAKS.has(local)) line += "\n";
    },
    close(name) {
      const local = name.slice(name.indexOf(":") + 1);
      if (odf) {
        if (local === "p" || local === "h") {
          inText = Math.max(0, inText - 1);
          if (inText === 0) flush();
        }
        return;
      }
      if (local === "t") inText = Math.max(0, inText - 1);
      else if (PARAGRAPHS.has(local)) flush();
    },
    text(t) {
      if (inText > 0) line += t;
    },
    cdata(t) {
      if (inText > 0) line += t;
    },
  }, { stop: () => out.length > room || signal.aborted });
  if (line) flush();
  return out.replace(/\n{3,}/g, "\n\n").trim();
}

/** A worksheet's cells, row by row (cells separated by tabs), shared strings resolved. */
async function sheetText(
  xml: string,
  shared: string[],
  room: number,
  signal: AbortSignal,
): Promise<string> {
  const rows: string[] = [];
  let length = 0;
  let cells: string[] = [];
  let type = "";
  let value = "";
  let inValue = false;
  await parseXml(xml, {
    open(tag) {
      if (tag.local === "c") {
        type = tag.attributes.t?.value ?? "";
        value = "";
      } else if (tag.local === "v" || (tag.local === "t" && type === "inlineStr")) inValue = true;
    },
    close(name) {
      const local = name.slice(name.indexOf(":") + 1);
      if (local === "v" || local === "t") inValue = false;
      else if (local === "c") {
        cells.push(
          type === "s"
            ? shared[Number(value)] ?? ""
            : type === "b"
            ? (value === "1" ? "TRUE" : "FALSE")
            : value,
        );
      } else if (local === "row") {
        const line = cells.join("\t").replace(/\t+$/, "");
        if (line) {
          rows.push(line);
          length += line.length + 1;
        }
        cells = [];
      }
    },
    text(t) {
      if (inValue) value += t;
    },
  }, { stop: () => length > room || signal.aborted });
  return rows.join("\n");
}

/** xl/sharedStrings.xml: one string per <si>, its runs joined (phonetic guides left out). */
async function sharedStrings(xml: string, signal: AbortSignal): Promise<string[]> {
  const out: string[] = [];
  let current = "";
  let inT = false;
  let phonetic = 0;
  await parseXml(xml, {
    open(tag) {
      if (tag.local === "si") current = "";
      else if (tag.local === "rPh") phonetic++;
      else if (tag.local === "t" && !phonetic) inT = true;
    },
    close(name) {
      const local = name.slice(name.indexOf(":") + 1);
      if (local === "t") inT = false;
      else if (local === "rPh") phonetic--;
      else if (local === "si") out.push(current);
    },
    text(t) {
      if (inT) current += t;
    },
  }, { stop: () => signal.aborted });
  return out;
}
