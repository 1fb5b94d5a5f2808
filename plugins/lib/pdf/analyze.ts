/**
 * What a PDF holds, for an analyst: structure counts, encryption, pages, metadata, risky keys
 * (pdfid's list and more), actions with what triggers them, JavaScript, URIs, attachments, and
 * decoded streams that hold a file or a script. Children: each script, each embedded file and
 * each such stream. Reads the document with ./document.ts; never throws for malformed input.
 */
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { concat } from "../archive/common.ts";
import {
  type PdfDocument,
  type PdfObject,
  type ReadOptions,
  readPdf,
  refText,
} from "./document.ts";
import { type Decoded, filterChain, flatePrefix, IMAGE_FILTERS } from "./filters.ts";
import { isDict, nameOf, type PdfDict, PdfRef, PdfString, type PdfValue } from "./lexer.ts";
import { type NameScan, scanNames } from "./names.ts";
import { type Kind, sniff } from "./sniff.ts";
import { isoDate, scriptText, textOf, textValue } from "./text.ts";

// Keys that make a document act; hiding them in object streams is worth a finding.
const ACTIVE = [
  "/JavaScript",
  "/JS",
  "/OpenAction",
  "/AA",
  "/Launch",
  "/EmbeddedFile",
  "/SubmitForm",
  "/ImportData",
  "/XFA",
  "/RichMedia",
] as const;
const ACTIVE_KEYS = new Set<string>(ACTIVE);

/** The keys an analyst counts: pdfid's list, and the actions it misses. */
export const RISKY_KEYS = [
  ...ACTIVE,
  "/EmbeddedFiles",
  "/URI",
  "/GoToR",
  "/GoToE",
  "/AcroForm",
  "/ObjStm",
  "/JBIG2Decode",
  "/Encrypt",
] as const;
const RISKY = new Set<string>(RISKY_KEYS);

const AUTO_TRIGGERS = new Set(["open_action", "additional_action", "document_javascript"]);
// Actions that reach outside the document.
const OUTWARD = new Set(["URI", "SubmitForm", "ImportData", "GoToR", "GoToE"]);
const IMAGES = new Set(["jpeg", "jpeg2000", "png", "gif", "tiff"]);
type Rec = Record<string, unknown>;

/** Options of one analysis. */
export interface AnalyzeOptions extends ReadOptions {
  /** Children from decoded streams and images (scripts and attachments are always given). */
  maxStreamChildren: number;
  extractImages: boolean;
  /** Longest list in the result (actions, URIs, names...). */
  maxList: number;
  /** JavaScript characters shown in the result (the child has all of it). */
  javascriptChars: number;
}

/** A finding, as core/model.ts defines it. */
export interface PdfFinding {
  id: string;
  severity: "info" | "low" | "medium" | "high" | "critical";
  title: string;
  detail: string;
  mitre?: string[];
}

/** A child payload: content and the `extra_data` that describes it. */
export interface PdfChild {
  content: Uint8Array;
  extra: Record<string, unknown>;
}

/** What {@link analyzePdf} returns. */
export interface PdfAnalysis {
  results: Record<string, unknown>;
  children: PdfChild[];
  errors: string[];
}

interface Action {
  type: string;
  object: string;
  trigger: string;
  event?: string;
  path: string;
  target?: string;
  dict: PdfDict;
  num: number;
  gen: number;
}

interface Walked {
  actions: { num: number; gen: number; path: string[]; dict: PdfDict }[];
  filespecs: { num: number; dict: PdfDict }[];
  embeddedStreams: PdfObject[];
}

/** Where an action sits in the document, and what fires it. */
interface Mark {
  trigger: string;
  event?: string;
  path: string;
}

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.length).toString("hex");

/** Analyses `bytes` as a PDF. */
export function analyzePdf(bytes: Uint8Array, opts: AnalyzeOptions): PdfAnalysis {
  const doc = readPdf(bytes, opts);
  const errors: string[] = [];
  const children: PdfChild[] = [];
  const findings: PdfFinding[] = [];
  const used = new Set<number>(); // stream objects already given as children or parsed
  const catalogRef = doc.trailer.get("/Root");
  const catalog = doc.resolve(catalogRef);
  const catalogDict = isDict(catalog) ? catalog : new Map<string, PdfValue>();

  // Without the key, strings and streams are ciphertext: only the structure can be reported.
  const readable = !doc.encryption || !!doc.decryptor;
  if (doc.encryptionProblem) errors.push(`pdf: encrypted: ${doc.encryptionProblem}`);
  const names = scanNames(doc, RISKY);
  const walked = walk(names.interesting);
  const pageList = pages(doc, catalogDict, errors);
  const roles = names.roles;
  const interesting = new Set(names.interesting);
  const marks = markDocument(doc, catalogDict, interesting);
  // An action object of its own that the catalog does not fire: find it from the pages.
  if (walked.actions.some((a) => !a.path.length && !marks.has(a.dict))) {
    markPages(doc, pageList.refs, interesting, marks);
  }
  let listTruncated = false;
  const capped = <T>(list: T[]) => {
    if (list.length > opts.maxList) listTruncated = true;
    return list.slice(0, opts.maxList);
  };

  // Actions, their triggers and targets.
  const actions: Action[] = walked.actions.map((a) =>
    describeAction(doc, marks.get(a.dict) ?? placeByPath(doc, a), a, readable)
  );
  const uris: string[] = [];
  const seenUri = new Set<string>();
  for (const a of actions) {
    if ((a.type === "URI" || a.type === "SubmitForm") && a.target && !seenUri.has(a.target)) {
      seenUri.add(a.target);
      uris.push(a.target);
    }
  }

  // JavaScript: every /JS, as text; each distinct script is a child.
  const scripts: Record<string, unknown>[] = [];
  const scriptSeen = new Set<string>();
  const childScripts = new Set<string>();
  for (const a of actions) {
    const js = a.dict.get("/JS");
    if (js === undefined || !readable) continue;
    const src = scriptBytes(doc, js, used, errors);
    if (!src) continue;
    const text = scriptText(src);
    const content = new TextEncoder().encode(text);
    const digest = sha256(content);
    const where = `${a.object}${a.path}`;
    if (scriptSeen.has(digest + where)) continue;
    scriptSeen.add(digest + where);
    scripts.push({
      object: a.object,
      trigger: a.trigger,
      ...(a.event ? { event: a.event } : {}),
      path: a.path,
      length: text.length,
      sha256: digest,
      source: text.slice(0, opts.javascriptChars),
      truncated: text.length > opts.javascriptChars,
    });
    if (!childScripts.has(digest)) {
      childScripts.add(digest);
      children.push({
        content,
        extra: {
          filename: `javascript_${a.num}_${a.gen}${a.event ? "_" + a.event : ""}.js`,
          pdf_object: a.object,
          type: "javascript",
          trigger: a.trigger,
        },
      });
    }
  }

  // XFA forms: their XML (which may carry scripts) as one child.
  const acroform = doc.resolve(catalogDict.get("/AcroForm"));
  const xfaValue = isDict(acroform) ? acroform.get("/XFA") : undefined;
  let xfa: Record<string, unknown> | null = null;
  if (xfaValue !== undefined && xfaValue !== null && !readable) {
    xfa = { size: null, sha256: null, scripts: null };
  } else if (xfaValue !== undefined && xfaValue !== null) {
    const xml = xfaBytes(doc, xfaValue, used);
    const text = new TextDecoder().decode(xml.subarray(0, 1 << 20));
    xfa = {
      size: xml.length,
      sha256: sha256(xml),
      scripts: (text.match(/<script\b/gi) ?? []).length,
    };
    if (xml.length) children.push({ content: xml, extra: { filename: "xfa.xml", type: "xfa" } });
  }

  // Embedded files: each attachment is a child, named as the document names it.
  const embedded = embeddedFiles(doc, walked, catalogDict, used, errors, readable);
  for (const e of embedded) if (e.data.length) children.push({ content: e.data, extra: e.extra });

  // Streams that hold a file or a script.
  const { extracted, dropped } = readable
    ? decodedStreams(doc, roles, used, opts, errors)
    : { extracted: [], dropped: 0 };
  for (const e of extracted) children.push({ content: e.data, extra: e.extra });

  // Data after the last %%EOF, or before the header: polyglots and appended payloads.
  let trailing: Record<string, unknown> | null = null;
  if (doc.endOffset !== null && doc.endOffset < bytes.length) {
    const rest = bytes.subarray(doc.endOffset);
    if (rest.some((b) => b !== 0x20 && b !== 0x0a && b !== 0x0d && b !== 0x09 && b !== 0)) {
      const kind = sniff(rest);
      trailing = { offset: doc.endOffset, size: rest.length, kind: kind?.kind ?? null };
      if (kind) {
        children.push({
          content: rest,
          extra: {
            filename: `trailing_data.${kind.ext}`,
            type: "trailing_data",
            offset: doc.endOffset,
            kind: kind.kind,
          },
        });
      }
    }
  }

  const info = doc.resolve(doc.trailer.get("/Info"));
  const metadata = infoFields(readable && isDict(info) ? info : undefined, opts.maxList);
  const xmp = readable ? xmpFields(doc, catalogDict, used) : null;

  const counts: Record<string, number> = {};
  for (const k of RISKY_KEYS) counts[k] = names.counts.get(k) ?? 0;
  const obfuscatedNames: { name: string; raw: string; count: number }[] = [];
  for (const [name, raws] of names.obfuscated) {
    for (const [raw, count] of raws) obfuscatedNames.push({ name, raw, count });
  }

  let streams = 0;
  let objectStreams = 0;
  let inObjectStreams = 0;
  for (const o of doc.objects.values()) {
    if (o.stream) streams++;
    if (o.stream && isDict(o.value) && nameOf(o.value, "/Type") === "/ObjStm") objectStreams++;
    if (o.container !== undefined) inObjectStreams++;
  }
  const trailerRef = (k: string) => {
    const v = doc.trailer.get(k);
    return v instanceof PdfRef ? v.toString() : null;
  };
  const ids = doc.trailer.get("/ID");
  const size = doc.trailer.get("/Size");
  const first = doc.definitions[0];
  const linearized = !!first && isDict(first.value) && first.value.has("/Linearized");
  const catalogVersion = nameOf(catalogDict, "/Version");

  const results: Record<string, unknown> = {
    version: doc.version,
    catalog_version: catalogVersion ? catalogVersion.slice(1) : null,
    header_offset: doc.headerOffset,
    linearized,
    pages: pageList.count,
    objects: doc.objects.size,
    object_definitions: doc.definitions.length,
    streams,
    object_streams: objectStreams,
    objects_in_object_streams: inObjectStreams,
    xref: doc.xref,
    eof_markers: doc.eofMarkers,
    trailer: {
      root: trailerRef("/Root"),
      info: trailerRef("/Info"),
      encrypt: trailerRef("/Encrypt"),
      size: typeof size === "number" ? size : null,
      id: Array.isArray(ids)
        ? ids.filter((x) => x instanceof PdfString).map((x) => hex(x.bytes))
        : null,
    },
    encrypted: doc.encryption !== null,
    encryption: doc.encryption,
    metadata,
    xmp,
    keywords: counts,
    obfuscated_names: capped(obfuscatedNames),
    acroform: isDict(acroform),
    xfa,
    actions: capped(actions).map(({ type, object, trigger, event, path, target }) => ({
      type,
      object,
      trigger,
      ...(event ? { event } : {}),
      path,
      ...(target !== undefined ? { target } : {}),
    })),
    javascript: capped(scripts),
    uris: capped(uris),
    embedded_files: capped(embedded.map((e) => e.summary)),
    decoded_streams: capped(extracted.map((e) => e.summary)),
    trailing_data: trailing,
    repairs: capped(doc.repairs).map((r) => ({ id: r.id, detail: r.detail })),
  };

  if (doc.brokenObjects) {
    doc.repairs.push({
      id: "broken_objects",
      detail:
        `${doc.brokenObjects} objects hold an unterminated or garbled value; what parsed was kept`,
    });
  }
  results.repairs = capped(doc.repairs).map((r) => ({ id: r.id, detail: r.detail }));
  addFindings(findings, {
    doc,
    actions,
    scripts,
    embedded,
    extracted,
    names,
    catalog: catalogDict,
    xfa,
    obfuscatedNames,
    trailing,
    counts,
  });
  results.findings = findings;
  results.truncated = doc.truncated || listTruncated || dropped > 0;
  if (doc.repairs.length) {
    const [r, ...more] = doc.repairs;
    errors.unshift(
      `pdf: malformed PDF, read around: ${r.id}: ${r.detail}` +
        (more.length ? ` (and ${more.length} more in results.repairs)` : ""),
    );
  }
  return { results, children, errors };
}

// Action dictionaries, file specifications and embedded-file streams in the objects that hold
// risky names (the name scan found them; nothing else can hold an action or an attachment).
function walk(objects: PdfObject[]): Walked {
  const w: Walked = { actions: [], filespecs: [], embeddedStreams: [] };
  const path: string[] = [];
  let num = 0;
  let gen = 0;
  const visit = (v: PdfValue, depth: number): void => {
    if (depth >= 64) return;
    if (Array.isArray(v)) {
      for (const x of v) visit(x, depth + 1);
    } else if (v instanceof Map) {
      if (typeof v.get("/S") === "string" || v.has("/JS")) {
        w.actions.push({ num, gen, path: path.slice(), dict: v });
      }
      if (v.has("/EF")) w.filespecs.push({ num, dict: v });
      for (const [k, x] of v) {
        if (x instanceof Map || Array.isArray(x)) {
          path.push(k);
          visit(x, depth + 1);
          path.pop();
        }
      }
    }
  };
  for (const o of objects) {
    num = o.num;
    gen = o.gen;
    const v = o.value;
    if (o.stream && isDict(v) && nameOf(v, "/Type") === "/EmbeddedFile") w.embeddedStreams.push(o);
    else visit(v, 0);
  }
  return w;
}

type Marker = (v: PdfValue | undefined, m: Mark, depth?: number) => void;

// Marks an action (a dictionary, a reference or an array of them) and its /Next chain.
function marker(
  doc: PdfDocument,
  marks: Map<PdfDict, Mark>,
  worth: (v: PdfValue | undefined) => boolean,
): Marker {
  const mark: Marker = (v, m, depth = 0) => {
    if (depth > 32 || v === undefined || !worth(v)) return;
    const d = doc.resolve(v);
    if (Array.isArray(d)) {
      d.slice(0, 64).forEach((x, i) => mark(x, { ...m, path: `${m.path}[${i}]` }, depth + 1));
      return;
    }
    if (!isDict(d) || marks.has(d)) return;
    marks.set(d, m);
    mark(d.get("/Next"), { ...m, path: `${m.path} /Next` }, depth + 1);
  };
  return mark;
}

// Objects that hold no risky name cannot hold an action, so they are never parsed.
const worthOf = (doc: PdfDocument, interesting: Set<PdfObject>) => (v: PdfValue | undefined) =>
  !(v instanceof PdfRef) || interesting.has(doc.objects.get(v.num)!);

// Marks each /AA entry of `aa` with its event.
function events(doc: PdfDocument, mark: Marker, aa: PdfValue | undefined, path: string): void {
  const d = doc.resolve(aa);
  if (!isDict(d)) return;
  for (const [ev, a] of d) {
    mark(a, { trigger: "additional_action", event: ev.slice(1), path: `${path} /AA ${ev}` });
  }
}

// What fires each action, found top-down from the catalog: /OpenAction, document /AA, the
// /JavaScript name tree, form fields. /Next chains inherit.
function markDocument(
  doc: PdfDocument,
  catalog: PdfDict,
  interesting: Set<PdfObject>,
): Map<PdfDict, Mark> {
  const marks = new Map<PdfDict, Mark>();
  const worth = worthOf(doc, interesting);
  const mark = marker(doc, marks, worth);
  const open = catalog.get("/OpenAction");
  if (open !== undefined && !Array.isArray(open)) {
    mark(open, { trigger: "open_action", path: "catalog /OpenAction" });
  }
  if (worth(catalog.get("/AA"))) events(doc, mark, catalog.get("/AA"), "catalog");
  for (const [name, v] of nameTree(doc, catalog, "/JavaScript")) {
    mark(v, { trigger: "document_javascript", path: `catalog /Names /JavaScript (${name})` });
  }
  const form = doc.resolve(catalog.get("/AcroForm"));
  const fields = isDict(form) ? doc.resolve(form.get("/Fields")) : undefined;
  const stack: [PdfValue, string][] = Array.isArray(fields)
    ? fields.map((f, i) => [f, `catalog /AcroForm /Fields[${i}]`])
    : [];
  const seen = new Set<PdfDict>();
  for (let steps = 0; stack.length && steps < 100_000; steps++) {
    const [f, where] = stack.pop()!;
    const d = doc.resolve(f);
    if (!isDict(d) || seen.has(d)) continue;
    seen.add(d);
    if (worth(f)) {
      mark(d.get("/A"), { trigger: "form_field", path: `${where} /A` });
      if (worth(d.get("/AA"))) events(doc, mark, d.get("/AA"), where);
    }
    const kids = doc.resolve(d.get("/Kids"));
    if (Array.isArray(kids)) kids.forEach((k, i) => stack.push([k, `${where} /Kids[${i}]`]));
  }
  return marks;
}

// Pages' /AA and their annotations' /A and /AA: parses the pages, so only when an action
// object of its own was not placed otherwise.
function markPages(
  doc: PdfDocument,
  pages: { index: number; value: PdfValue }[],
  interesting: Set<PdfObject>,
  marks: Map<PdfDict, Mark>,
): void {
  const worth = worthOf(doc, interesting);
  const mark = marker(doc, marks, worth);
  for (const { index, value } of pages) {
    const page = doc.resolve(value);
    if (!isDict(page)) continue;
    if (worth(page.get("/AA"))) events(doc, mark, page.get("/AA"), `page ${index}`);
    const annots = doc.resolve(page.get("/Annots"));
    if (!Array.isArray(annots)) continue;
    annots.slice(0, 10_000).forEach((a, i) => {
      const where = `page ${index} /Annots[${i}]`;
      const d = doc.resolve(a);
      if (!isDict(d)) return;
      mark(d.get("/A"), { trigger: "annotation", path: `${where} /A` });
      if (worth(d.get("/AA"))) events(doc, mark, d.get("/AA"), where);
    });
  }
}

// An action inside a page, annotation or field object: its key there says what fires it.
function placeByPath(
  doc: PdfDocument,
  a: { num: number; gen: number; path: string[] },
): Mark | undefined {
  const first = a.path[0];
  if (first !== "/AA" && first !== "/A" && first !== "/OpenAction") return undefined;
  const root = doc.objects.get(a.num)?.value;
  if (!isDict(root)) return undefined;
  const type = nameOf(root, "/Type");
  const kind = type === "/Page"
    ? "page"
    : type === "/Catalog"
    ? "catalog"
    : root.has("/Rect")
    ? "annotation"
    : root.has("/FT") || root.has("/T")
    ? "field"
    : "object";
  const path = `${kind} ${a.num} ${a.gen} R ${a.path.join(" ")}`;
  if (first === "/AA") return { trigger: "additional_action", event: a.path[1]?.slice(1), path };
  if (first === "/OpenAction") return { trigger: "open_action", path };
  return { trigger: kind === "field" ? "form_field" : "annotation", path };
}

// An action with its trigger; actions nothing in the document fires are "unreferenced".
function describeAction(
  doc: PdfDocument,
  m: Mark | undefined,
  a: { num: number; gen: number; path: string[]; dict: PdfDict },
  readable: boolean,
): Action {
  const s = a.dict.get("/S");
  const type = typeof s === "string" ? s.slice(1) : "JavaScript";
  const here = `${a.num} ${a.gen} R${a.path.length ? " " + a.path.join(" ") : ""}`;
  return {
    type,
    object: `${a.num} ${a.gen} R`,
    trigger: m?.trigger ?? "other",
    event: m?.event,
    path: m ? m.path : here,
    target: readable ? actionTarget(doc, type, a.dict) : undefined,
    dict: a.dict,
    num: a.num,
    gen: a.gen,
  };
}

// What an action opens or sends to: a URI, a file, a program and its parameters.
function actionTarget(doc: PdfDocument, type: string, d: PdfDict): string | undefined {
  const fileSpec = (v: PdfValue | undefined): string | undefined => {
    const r = doc.resolve(v);
    if (r instanceof PdfString) return textOf(r.bytes);
    if (isDict(r)) {
      for (const k of ["/UF", "/F", "/Unix", "/DOS", "/Mac"]) {
        const t = textValue(doc.resolve(r.get(k)));
        if (t !== undefined) return t;
      }
    }
    return undefined;
  };
  switch (type) {
    case "URI": {
      const u = doc.resolve(d.get("/URI"));
      return u instanceof PdfString ? textOf(u.bytes) : undefined;
    }
    case "Launch": {
      const win = doc.resolve(d.get("/Win"));
      if (isDict(win)) {
        const f = textValue(doc.resolve(win.get("/F")));
        const p = textValue(doc.resolve(win.get("/P")));
        if (f !== undefined) return p ? `${f} ${p}` : f;
      }
      return fileSpec(d.get("/F"));
    }
    case "SubmitForm":
    case "GoToR":
    case "GoToE":
    case "ImportData":
      return fileSpec(d.get("/F"));
    case "Named": {
      const n = d.get("/N");
      return typeof n === "string" ? n.slice(1) : undefined;
    }
  }
  return undefined;
}

// The bytes of a /JS value: a string, or a stream (marked used).
function scriptBytes(
  doc: PdfDocument,
  js: PdfValue,
  used: Set<number>,
  errors: string[],
): Uint8Array | undefined {
  if (js instanceof PdfString) return js.bytes;
  if (js instanceof PdfRef) {
    const o = doc.objects.get(js.num);
    if (!o) return undefined;
    if (o.stream) {
      used.add(o.num);
      const d = doc.decode(o);
      for (const p of d.problems) errors.push(`pdf: JavaScript stream ${refText(o)}: ${p}`);
      return d.data;
    }
    if (o.value instanceof PdfString) return o.value.bytes;
  }
  return undefined;
}

// XFA: one stream, or an array of (packet name, stream) pairs.
function xfaBytes(doc: PdfDocument, v: PdfValue, used: Set<number>): Uint8Array {
  const parts: Uint8Array[] = [];
  const add = (x: PdfValue | undefined) => {
    if (!(x instanceof PdfRef)) return;
    const o = doc.objects.get(x.num);
    if (!o?.stream || used.has(o.num)) return;
    used.add(o.num);
    parts.push(doc.decode(o).data);
  };
  if (Array.isArray(v)) { for (const x of v.slice(0, 512)) add(x); }
  else add(v);
  return concat(parts, parts.reduce((n, p) => n + p.length, 0));
}

interface EmbeddedFile {
  data: Uint8Array;
  extra: Record<string, unknown>;
  summary: Record<string, unknown>;
  kind: Kind | null;
}

// Attachments: each /EmbeddedFile stream once, named by its file specification.
function embeddedFiles(
  doc: PdfDocument,
  w: Walked,
  catalog: PdfDict,
  used: Set<number>,
  errors: string[],
  readable: boolean,
): EmbeddedFile[] {
  const out: EmbeddedFile[] = [];
  const treeNames = nameTree(doc, catalog, "/EmbeddedFiles");
  const found: { stream: PdfObject; name: string | undefined; spec?: PdfDict; specNum?: number }[] =
    [];
  const seen = new Set<number>();
  for (const fs of w.filespecs) {
    const ef = doc.resolve(fs.dict.get("/EF"));
    if (!isDict(ef)) continue;
    const ref = ef.get("/UF") ?? ef.get("/F") ?? [...ef.values()][0];
    if (!(ref instanceof PdfRef)) continue;
    const stream = doc.objects.get(ref.num);
    if (!stream?.stream || seen.has(stream.num)) continue;
    seen.add(stream.num);
    let name: string | undefined;
    for (const k of ["/UF", "/F", "/Unix", "/DOS", "/Mac"]) {
      name = textValue(doc.resolve(fs.dict.get(k)));
      if (name) break;
    }
    if (!name) {
      for (const [key, v] of treeNames) if (v instanceof PdfRef && v.num === fs.num) name = key;
    }
    found.push({ stream, name, spec: fs.dict, specNum: fs.num });
  }
  // Streams typed as embedded files that no file specification names.
  for (const o of w.embeddedStreams) {
    if (!seen.has(o.num)) {
      seen.add(o.num);
      found.push({ stream: o, name: undefined });
    }
  }
  for (const f of found) {
    used.add(f.stream.num);
    const v = f.stream.value;
    const dict: PdfDict = isDict(v) ? v : new Map();
    const ref = refText(f.stream);
    if (!readable) {
      const subtype = nameOf(dict, "/Subtype");
      const summary = {
        filename: null,
        object: ref,
        encrypted: true,
        mime_type: subtype?.slice(1) ?? null,
      };
      out.push({ data: new Uint8Array(0), kind: null, summary, extra: {} });
      continue;
    }
    const dec = doc.decode(f.stream);
    for (const p of dec.problems) errors.push(`pdf: embedded file ${ref}: ${p}`);
    if (dec.truncated && !dec.problems.length) {
      errors.push(`pdf: embedded file ${ref}: cut at the decoded-size cap`);
    }
    const params = doc.resolve(dict.get("/Params"));
    const pd = isDict(params) ? params : undefined;
    const declaredSize = pd?.get("/Size");
    const checksum = doc.resolve(pd?.get("/CheckSum"));
    const subtype = nameOf(dict, "/Subtype");
    const desc = f.spec ? textValue(doc.resolve(f.spec.get("/Desc"))) : undefined;
    const created = textValue(doc.resolve(pd?.get("/CreationDate")));
    const modified = textValue(doc.resolve(pd?.get("/ModDate")));
    const digest = sha256(dec.data);
    const kind = sniff(dec.data);
    const name = f.name || `embedded_${f.stream.num}_${f.stream.gen}.bin`;
    const summary: Record<string, unknown> = {
      filename: name,
      object: ref,
      size: dec.data.length,
      sha256: digest,
      mime_type: subtype ? subtype.slice(1) : null,
      kind: kind?.kind ?? null,
      description: desc ?? null,
      declared_size: typeof declaredSize === "number" ? declaredSize : null,
      // The declared MD5: the hash worker gives the child's own for comparison.
      checksum: checksum instanceof PdfString ? hex(checksum.bytes) : null,
      created: created ? isoDate(created) : null,
      modified: modified ? isoDate(modified) : null,
      truncated: dec.truncated,
      damaged: dec.problems.length > 0,
    };
    out.push({
      data: dec.data,
      kind,
      summary,
      extra: {
        filename: name,
        pdf_object: ref,
        type: "embedded_file",
        ...(subtype ? { mime_type: subtype.slice(1) } : {}),
        ...(desc ? { description: desc } : {}),
      },
    });
  }
  return out;
}

// A name tree's (name, value) pairs (§7.9.6), each node visited once.
function nameTree(doc: PdfDocument, catalog: PdfDict, which: string): [string, PdfValue][] {
  const out: [string, PdfValue][] = [];
  const names = doc.resolve(catalog.get("/Names"));
  if (!isDict(names)) return out;
  const stack: PdfValue[] = [names.get(which) ?? null];
  const seen = new Set<PdfValue>();
  for (let steps = 0; stack.length && steps < 10_000; steps++) {
    const node = doc.resolve(stack.pop());
    if (!isDict(node) || seen.has(node)) continue;
    seen.add(node);
    const pairs = doc.resolve(node.get("/Names"));
    if (Array.isArray(pairs)) {
      for (let i = 0; i + 1 < pairs.length && out.length < 100_000; i += 2) {
        const k = doc.resolve(pairs[i]);
        if (k instanceof PdfString) out.push([textOf(k.bytes), pairs[i + 1]]);
      }
    }
    const kids = doc.resolve(node.get("/Kids"));
    if (Array.isArray(kids)) stack.push(...kids.slice(0, 10_000));
  }
  return out;
}

interface Extracted {
  data: Uint8Array;
  extra: Record<string, unknown>;
  summary: Record<string, unknown>;
  kind: Kind;
}

// Stream roles that never hold a file worth extracting.
const PLAIN_ROLES = new Set([
  "/Contents",
  "/FontFile",
  "/FontFile2",
  "/FontFile3",
  "/ToUnicode",
  "/Metadata",
  "/Thumb",
  "/SMask",
  "/Mask",
  "/Function",
  "/Functions",
  "/Encoding",
  "/CIDSet",
  "/CIDToGIDMap",
]);
const PLAIN_TYPES = new Set([
  "/XRef",
  "/ObjStm",
  "/Metadata",
  "/Pattern",
  "/EmbeddedFile",
  "/CMap",
  "/XObject",
]);
const PLAIN_KEYS = [
  "/Length1",
  "/Length2",
  "/FunctionType",
  "/ShadingType",
  "/PatternType",
  "/CMapName",
];

// Streams that decode to another file (PDF, executable, archive, image) or to script text.
function decodedStreams(
  doc: PdfDocument,
  roles: Map<number, string>,
  used: Set<number>,
  opts: AnalyzeOptions,
  errors: string[],
): { extracted: Extracted[]; dropped: number } {
  const out: Extracted[] = [];
  let dropped = 0;
  for (const o of doc.objects.values()) {
    if (!o.stream || used.has(o.num) || PLAIN_ROLES.has(roles.get(o.num) ?? "")) continue;
    const d = o.value;
    if (!isDict(d)) continue;
    const type = nameOf(d, "/Type");
    const subtype = nameOf(d, "/Subtype");
    const chain = filterChain(d);
    const last = chain[chain.length - 1]?.name;
    let kind: Kind | null = null;
    let full: Decoded | undefined;
    if (subtype === "/Image" || IMAGE_FILTERS.has(last ?? "")) {
      if (!opts.extractImages || (last !== "/DCTDecode" && last !== "/JPXDecode")) continue;
      kind = last === "/DCTDecode"
        ? { kind: "jpeg", ext: "jpg" }
        : { kind: "jpeg2000", ext: "jp2" };
    } else {
      if (type && PLAIN_TYPES.has(type)) continue;
      if (PLAIN_ROLES.has(roles.get(o.num) ?? "") || PLAIN_KEYS.some((k) => d.has(k))) continue;
      if (d.has("/N") && (d.has("/Alternate") || d.has("/Range"))) continue; // an ICC profile
      // A look at how the stream begins; RC4 and AES-CBC decrypt a prefix on its own.
      let raw = doc.bytes.subarray(o.stream.start, Math.min(o.stream.end, o.stream.start + 528));
      if (doc.decryptor) raw = doc.decryptor.stream(raw, o.num, o.gen, false);
      let head: Uint8Array;
      if (chain.length === 0) head = raw;
      else if (chain.length === 1 && chain[0].name === "/FlateDecode" && !chain[0].parms) {
        head = flatePrefix(raw, 512);
      } else head = (full = doc.decode(o)).data;
      kind = sniff(head);
      if (!kind) continue;
    }
    if (out.length >= opts.maxStreamChildren) {
      dropped++;
      continue;
    }
    const dec = full ?? doc.decode(o);
    used.add(o.num);
    const ref = refText(o);
    for (const p of dec.problems) errors.push(`pdf: stream ${ref}: ${p}`);
    if (!dec.data.length) continue;
    const filters = chain.map((f) => f.name.slice(1));
    const digest = sha256(dec.data);
    out.push({
      data: dec.data,
      kind,
      summary: {
        object: ref,
        kind: kind.kind,
        filters,
        size: dec.data.length,
        sha256: digest,
        truncated: dec.truncated,
        damaged: dec.problems.length > 0,
      },
      extra: {
        filename: `stream_${o.num}_${o.gen}.${kind.ext}`,
        pdf_object: ref,
        type: "decoded_stream",
        kind: kind.kind,
        filters,
      },
    });
  }
  if (dropped) {
    errors.push(
      `pdf: ${dropped} more streams hold a file or script; max_stream_children ` +
        `(${opts.maxStreamChildren}) stopped their extraction`,
    );
  }
  return { extracted: out, dropped };
}

// The page tree's leaves from the catalog's /Pages, each node visited once: how many, and each
// page (numbered from 1) as its reference. A node whose text has no /Kids is a leaf: counted
// without parsing it (a 700-page document has 700 page dictionaries).
function pages(
  doc: PdfDocument,
  catalog: PdfDict,
  errors: string[],
): { count: number | null; refs: { index: number; value: PdfValue }[] } {
  const root = catalog.get("/Pages");
  const refs: { index: number; value: PdfValue }[] = [];
  if (root === undefined) return { count: null, refs };
  let count = 0;
  const leaf = (v: PdfValue) => {
    count++;
    if (refs.length < 100_000) refs.push({ index: count, value: v });
  };
  const seen = new Set<PdfDict | number>();
  const stack: PdfValue[] = [root];
  for (let steps = 0; stack.length; steps++) {
    if (steps > 2_000_000) {
      errors.push("pdf: page tree larger than 2,000,000 nodes; page count cut there");
      break;
    }
    const v = stack.pop()!;
    if (v instanceof PdfRef) {
      const obj = doc.objects.get(v.num);
      if (!obj || seen.has(v.num)) continue;
      seen.add(v.num);
      if (v !== root && !doc.region(obj).includes("/Kids")) {
        leaf(v);
        continue;
      }
    }
    const node = doc.resolve(v);
    if (!isDict(node) || seen.has(node)) continue;
    seen.add(node);
    const kids = doc.resolve(node.get("/Kids"));
    const type = nameOf(node, "/Type");
    if (Array.isArray(kids) && type !== "/Page") {
      for (let i = kids.length - 1; i >= 0; i--) stack.push(kids[i]);
    } else if (type === "/Page" || !node.has("/Kids")) leaf(v);
  }
  return { count, refs };
}

const INFO_KEYS: [string, string][] = [
  ["/Title", "title"],
  ["/Author", "author"],
  ["/Subject", "subject"],
  ["/Keywords", "keywords"],
  ["/Creator", "creator"],
  ["/Producer", "producer"],
  ["/CreationDate", "creation_date"],
  ["/ModDate", "mod_date"],
  ["/Trapped", "trapped"],
];

// The document information dictionary: standard entries by name, others under `custom`.
function infoFields(info: PdfDict | undefined, maxList: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [, name] of INFO_KEYS) out[name] = null;
  if (!info) return out;
  const custom: Record<string, string> = {};
  let n = 0;
  for (const [k, v] of info) {
    const std = INFO_KEYS.find(([key]) => key === k);
    const text = textValue(v);
    if (text === undefined) continue;
    if (std) out[std[1]] = std[1].endsWith("_date") ? isoDate(text) : text;
    else if (n++ < maxList) custom[k.slice(1)] = text;
  }
  if (n) out.custom = custom;
  return out;
}

const XMP_FIELDS: [string, string][] = [
  ["xmp:CreatorTool", "creator_tool"],
  ["pdf:Producer", "producer"],
  ["xmp:CreateDate", "create_date"],
  ["xmp:ModifyDate", "modify_date"],
  ["xmpMM:DocumentID", "document_id"],
  ["xmpMM:InstanceID", "instance_id"],
];

// A few XMP properties analysts pivot on (tool, dates, document and instance IDs).
function xmpFields(
  doc: PdfDocument,
  catalog: PdfDict,
  used: Set<number>,
): Record<string, string> | null {
  const ref = catalog.get("/Metadata");
  if (!(ref instanceof PdfRef)) return null;
  const o = doc.objects.get(ref.num);
  if (!o?.stream) return null;
  used.add(o.num);
  const xml = new TextDecoder().decode(doc.decode(o, 1 << 20).data);
  const out: Record<string, string> = {};
  for (const [tag, name] of XMP_FIELDS) {
    const esc = tag.replace(".", "\\.");
    const m = new RegExp(`<${esc}>([^<]{0,1000})</${esc}>|${esc}="([^"]{0,1000})"`).exec(xml);
    if (m) out[name] = (m[1] ?? m[2]).trim();
  }
  return out;
}

interface FindingFacts {
  doc: PdfDocument;
  actions: Action[];
  scripts: Record<string, unknown>[];
  embedded: EmbeddedFile[];
  extracted: Extracted[];
  names: NameScan;
  catalog: PdfDict;
  xfa: Record<string, unknown> | null;
  obfuscatedNames: { name: string; raw: string; count: number }[];
  trailing: Record<string, unknown> | null;
  counts: Record<string, number>;
}

const list = (items: string[], max = 5) =>
  items.slice(0, max).join(", ") + (items.length > max ? `, and ${items.length - max} more` : "");

function addFindings(f: PdfFinding[], x: FindingFacts): void {
  const { doc, actions, scripts } = x;
  // A finding when there is evidence; `items` is the evidence, listed in `detail`.
  const flag = (
    id: string,
    severity: PdfFinding["severity"],
    title: string,
    items: string[],
    mitre?: string[],
  ) => {
    if (items.length) {
      f.push({ id, severity, title, detail: list(items), ...(mitre ? { mitre } : {}) });
    }
  };
  const js = (s: Rec) => `${s.object} (${s.trigger}${s.event ? ` ${s.event}` : ""})`;
  const autoJs = scripts.filter((s) => AUTO_TRIGGERS.has(s.trigger as string));
  flag(
    "javascript_auto",
    "high",
    "JavaScript runs when the document opens or on a document event",
    autoJs.map(js),
    ["T1059.007", "T1204.002"],
  );
  if (!autoJs.length) {
    flag("javascript", "medium", "JavaScript in the document", scripts.map(js), ["T1059.007"]);
  }
  const of = (type: string) => actions.filter((a) => a.type === type);
  flag(
    "launch_action",
    "high",
    "Launch action: opens a program or file",
    of("Launch").map((a) => `${a.object} (${a.trigger}): ${a.target ?? "no target"}`),
    ["T1204.002"],
  );
  flag(
    "auto_action",
    "medium",
    "An action that reaches outside the document runs automatically",
    actions.filter((a) => AUTO_TRIGGERS.has(a.trigger) && OUTWARD.has(a.type))
      .map((a) => `${a.type} ${a.target ?? ""} (${a.trigger})`.replace("  ", " ")),
    ["T1204.002"],
  );
  flag(
    "submit_form",
    "medium",
    "Form data is sent to an address",
    of("SubmitForm").map((a) => a.target ?? a.object),
    ["T1566.001"],
  );
  flag("embedded_executable", "high", "An executable is embedded in the document", [
    ...x.embedded.filter((e) => e.kind?.executable)
      .map((e) => `${e.summary.filename} (${e.kind!.kind})`),
    ...x.extracted.filter((e) => e.kind.executable)
      .map((e) => `stream ${e.summary.object} (${e.kind.kind})`),
  ], ["T1027.009"]);
  flag(
    "embedded_file",
    "medium",
    "Files are attached to the document",
    x.embedded.map((e) =>
      e.summary.encrypted
        ? `${e.summary.object} (encrypted)`
        : `${e.summary.filename} (${e.summary.size} bytes)`
    ),
    ["T1027.009"],
  );
  flag(
    "stream_payload",
    "medium",
    "Streams hold another file or script",
    x.extracted.filter((e) => !e.kind.executable && !IMAGES.has(e.kind.kind))
      .map((e) => `${e.summary.object}: ${e.kind.kind}`),
    ["T1027.009"],
  );
  if (x.xfa) {
    flag(
      "xfa_form",
      "medium",
      "XFA form (its scripts run in the reader; a common exploit vector)",
      [
        `${x.xfa.size} bytes of XFA, ${x.xfa.scripts} <script> elements`,
      ],
      ["T1203"],
    );
  }
  const e = doc.encryption;
  if (e) {
    const method = `${e.filter} V${e.v} R${e.r}, ${e.key_bits}-bit ${e.stream_method}`;
    if (e.opened_with === "empty user password") {
      flag(
        "encrypted",
        "low",
        "Encrypted with an empty user password: it opens without one, but byte scanners see ciphertext",
        [`${method}; decrypted for this analysis`],
        ["T1027"],
      );
    } else {
      flag(
        "encrypted",
        "medium",
        e.opened_with
          ? "Encrypted; opened with a given password"
          : "Encrypted; strings and streams could not be read",
        [method],
        ["T1027"],
      );
    }
  }
  const riskyObfuscated = x.obfuscatedNames.some((n) => RISKY.has(n.name));
  flag(
    "obfuscated_names",
    riskyObfuscated ? "high" : "medium",
    "Names spelled with #xx escapes of plain letters (pdfid's obfuscation sign)",
    x.obfuscatedNames.map((n) => `${n.raw} = ${n.name}`),
    ["T1027"],
  );
  // A catalog's /OpenAction that only sets the first view hides nothing.
  const view = Array.isArray(x.catalog.get("/OpenAction"));
  flag(
    "keys_in_object_streams",
    "medium",
    "Active keys only inside compressed object streams (invisible to byte scanners)",
    [...x.names.hidden].filter(([k]) => ACTIVE_KEYS.has(k) && !(view && k === "/OpenAction"))
      .map(([k, n]) => `${k} ${n}`),
    ["T1027"],
  );
  const count = (k: string) => x.counts[k] ? [`${x.counts[k]} ${k} names`] : [];
  flag("rich_media", "medium", "RichMedia (embedded Flash or video)", count("/RichMedia"), [
    "T1203",
  ]);
  flag(
    "jbig2",
    "low",
    "JBIG2 image data (the decoder of CVE-2009-0658 and CVE-2021-30860)",
    count("/JBIG2Decode"),
    ["T1203"],
  );
  if (doc.headerOffset > 0) {
    flag(
      "data_before_header",
      "medium",
      "Data before the %PDF- header (a polyglot, or a PDF wrapped in another format)",
      [`header at offset ${doc.headerOffset}`],
      ["T1027"],
    );
  }
  const t = x.trailing;
  if (t) {
    flag("data_after_eof", t.kind ? "medium" : "low", "Data after the last %%EOF", [
      `${t.size} bytes at offset ${t.offset}${t.kind ? ` (${t.kind})` : ""}`,
    ], ["T1027"]);
  }
  if (doc.xref.sections > 1) {
    flag("incremental_updates", "info", "The document was updated incrementally", [
      `${doc.xref.sections} cross-reference sections, ${doc.eofMarkers} %%EOF markers`,
    ]);
  }
  flag(
    "malformed",
    "low",
    "Malformed structure (readers repair it silently; malware uses this to evade parsers)",
    doc.repairs.map((r) => r.id),
    ["T1027"],
  );
}
