/**
 * Reads a PDF's structure the way a forensic reader must (ISO 32000-2 §7.5): every `N G obj` in
 * the file is found by scanning, not only those the cross-reference table lists, so hidden,
 * shadowed and orphaned objects are seen and a broken table costs nothing. The cross-reference
 * chain (tables, streams, hybrid files, /Prev) is then read and checked against what the scan
 * found: where it holds, it decides which definition of an object is current (as a reader would);
 * where it does not, the last definition in the file wins and the repair is recorded. Object
 * streams are decoded and their objects added; the standard security handler is applied when a
 * password opens the file.
 *
 * Why not pdf-lib or pdf.js: both trust the cross-reference table, give up or silently rebuild
 * on damage that malware uses on purpose, normalise away `#xx` name escapes, decode streams
 * without output caps, and pdf-lib cannot decrypt. Bounds: at most `maxObjects` definitions, each
 * stream decoded to at most `maxStreamBytes` and all of them to `maxDecodedBytes`, nesting depth
 * capped in the lexer, and every search of the file resumes where the last one stopped.
 */
import { Buffer } from "node:buffer";
import { type Decryptor, type EncryptionInfo, openEncryption } from "./crypt.ts";
import { decodeChain, type Decoded, filterChain } from "./filters.ts";
import {
  isBoundary,
  isDict,
  isWhite,
  Lexer,
  nameOf,
  type PdfDict,
  PdfKeyword,
  PdfRef,
  PdfString,
  type PdfValue,
} from "./lexer.ts";

/** What parsing a value needs from its document: the decryptor, and a tally of damage. */
interface ParseContext {
  decryptor?: Decryptor;
  encryptObject: number | null;
  broken: number;
}

/**
 * One definition of an object: in the file body, or in an object stream. Its value is parsed
 * on first use (most objects of a document never need to be), and its strings decrypted then.
 */
export class PdfObject {
  /** The stream's raw (still encrypted and encoded) data, as offsets into the file. */
  stream?: { start: number; end: number };
  /** The object stream it came from, and its index there. */
  container?: number;
  index?: number;
  private parsed: PdfValue | undefined;
  private decrypted = false;

  constructor(
    readonly num: number,
    readonly gen: number,
    /** Offset of `N G obj` in the file; for an object in an object stream, its container's. */
    readonly offset: number,
    /** Where the value's text is: the file, or the decoded object stream. */
    readonly src: Uint8Array,
    readonly start: number,
    readonly end: number,
    private readonly ctx: ParseContext,
  ) {}

  /** The parsed value (a stream's dictionary for a stream). */
  get value(): PdfValue {
    if (this.parsed === undefined) {
      const lx = new Lexer(this.src, this.start, this.end);
      const v = lx.value();
      this.parsed = v === undefined || v instanceof PdfKeyword ? null : v;
      if (lx.broken) this.ctx.broken++;
    }
    const dec = this.ctx.decryptor;
    if (dec && !this.decrypted) {
      this.decrypted = true;
      const v = this.parsed;
      const exempt = this.container !== undefined || this.num === this.ctx.encryptObject ||
        (this.stream && isDict(v) && nameOf(v, "/Type") === "/XRef");
      if (!exempt) decryptStrings(v, this.num, this.gen, dec, 0);
    }
    return this.parsed;
  }
}

/** Something malformed that was read around. */
export interface Repair {
  id: string;
  detail: string;
  offset?: number;
}

/** Caps and passwords for {@link readPdf}. */
export interface ReadOptions {
  maxObjects: number;
  maxStreamBytes: number;
  maxDecodedBytes: number;
  passwords: readonly string[];
}

/** What the cross-reference data says. */
export interface XrefSummary {
  /** `startxref`'s offset, or null when there is none. */
  startxref: number | null;
  /** The chain from `startxref` could be read (else objects come from the scan alone). */
  valid: boolean;
  /** Classic `xref` tables and cross-reference streams found in the file. */
  tables: number;
  streams: number;
  /** In-use entries of the merged table (type 1 and 2). */
  entries: number;
  /** Sections in the /Prev chain: 1 for a file never updated incrementally. */
  sections: number;
}

/** A parsed PDF. */
export class PdfDocument {
  definitions: PdfObject[] = [];
  /** The current definition of each object number. */
  objects = new Map<number, PdfObject>();
  trailer: PdfDict = new Map();
  xref: XrefSummary = {
    startxref: null,
    valid: false,
    tables: 0,
    streams: 0,
    entries: 0,
    sections: 0,
  };
  eofMarkers = 0;
  /** Offset just past the last `%%EOF` (and its end of line), or null. */
  endOffset: number | null = null;
  encryption: EncryptionInfo | null = null;
  decryptor?: Decryptor;
  /** Why an encrypted file's strings and streams could not be decrypted. */
  encryptionProblem: string | null = null;
  /** The /Encrypt dictionary's object number (its strings are not encrypted). */
  encryptObject: number | null = null;
  repairs: Repair[] = [];
  /** The cap on definitions cut the scan short. */
  truncated = false;
  /** Decoded bytes used so far against `maxDecodedBytes`. */
  decodedBytes = 0;
  /** @internal */
  readonly ctx: ParseContext = { encryptObject: null, broken: 0 };

  constructor(
    readonly bytes: Uint8Array,
    /** The file as one character per byte, for searching. */
    readonly text: string,
    readonly headerOffset: number,
    readonly version: string | null,
    private readonly opts: ReadOptions,
  ) {}

  private texts = new Map<Uint8Array, string>();

  /** The text of an object's value, one character per byte (for searching without parsing). */
  region(obj: PdfObject): string {
    let text = obj.src === this.bytes ? this.text : this.texts.get(obj.src);
    if (text === undefined) this.texts.set(obj.src, text = latin1Text(obj.src));
    return text.slice(obj.start, obj.end);
  }

  /** Objects whose value was cut short or garbled, among those parsed so far. */
  get brokenObjects(): number {
    return this.ctx.broken;
  }

  /** Follows references (at most 16 in a chain) to a direct value. */
  resolve(v: PdfValue | undefined): PdfValue | undefined {
    for (let i = 0; i < 16 && v instanceof PdfRef; i++) v = this.objects.get(v.num)?.value;
    return v instanceof PdfRef ? undefined : v;
  }

  /** Decrypts and decodes a stream, within the per-stream and total caps. */
  decode(obj: PdfObject, cap = this.opts.maxStreamBytes): Decoded {
    return decodeObject(this, obj, Math.min(cap, this.opts.maxDecodedBytes - this.decodedBytes));
  }
}

const MAX_XREF_SECTIONS = 256;
const MAX_XREF_ENTRIES = 4_000_000;

/** Reads `bytes` as a PDF, as far as it goes. Never throws for malformed input. */
export function readPdf(bytes: Uint8Array, opts: ReadOptions): PdfDocument {
  const text = latin1Text(bytes);
  const repairs: Repair[] = [];

  // Header (readers accept it anywhere in the first 1024 bytes).
  let headerOffset = text.indexOf("%PDF-");
  let version: string | null = null;
  if (headerOffset < 0) {
    repairs.push({ id: "no_header", detail: "no %PDF- header; objects were read by scanning" });
  } else {
    if (headerOffset > 1024) {
      repairs.push({
        id: "late_header",
        offset: headerOffset,
        detail: `%PDF- header at offset ${headerOffset}, after the first 1024 bytes`,
      });
    }
    const m = /^%PDF-(\d+\.\d+)/.exec(text.slice(headerOffset, headerOffset + 16));
    version = m ? m[1] : null;
  }
  if (headerOffset < 0) headerOffset = 0;

  const doc = new PdfDocument(bytes, text, headerOffset, version, opts);
  doc.repairs = repairs;
  const ctx = doc.ctx;

  const hits = findObjectHeaders(bytes, text);
  scanBody(doc, hits, ctx, opts);

  // %%EOF markers: how many revisions were appended, and where the last one ends.
  for (let i = text.indexOf("%%EOF"); i >= 0; i = text.indexOf("%%EOF", i + 5)) {
    doc.eofMarkers++;
    let end = i + 5;
    if (bytes[end] === 0x0d) end++;
    if (bytes[end] === 0x0a) end++;
    doc.endOffset = end;
  }
  if (doc.eofMarkers === 0) {
    repairs.push({ id: "no_eof", detail: "no %%EOF marker: the file is truncated or was cut" });
  }

  const byOffset = new Map<number, PdfObject>();
  for (const d of doc.definitions) byOffset.set(d.offset, d);
  const entries = readXrefChain(doc, byOffset, repairs);
  countXref(doc);

  // Which definition is current: the table's, where it points at one; else the last one.
  const direct = new Map<number, PdfObject>();
  for (const d of doc.definitions) direct.set(d.num, d);
  if (entries) {
    let wrong = 0;
    let firstWrong: string | undefined;
    for (const [num, e] of entries) {
      if (e.type !== 1) continue;
      let d = byOffset.get(e.offset) ?? byOffset.get(e.offset + headerOffset);
      if (!d || d.num !== num) {
        d = direct.get(num);
        if (!d) continue; // a dangling entry: no such object anywhere
        wrong++;
        firstWrong ??= `object ${num} at ${e.offset}, found at ${d.offset}`;
      }
      doc.objects.set(num, d);
    }
    if (wrong) {
      repairs.push({
        id: "xref_offsets",
        detail: `${wrong} cross-reference entries point where their object does not start ` +
          `(${firstWrong}); the objects found by scanning were used`,
      });
    }
  } else {
    for (const [num, d] of direct) doc.objects.set(num, d);
  }

  setTrailer(doc, entries !== undefined, repairs);
  setEncryption(doc, ctx, opts);
  readObjectStreams(doc, entries, ctx, opts);
  checkCatalog(doc, repairs);
  if (!doc.trailer.has("/Info") && repairs.some((r) => r.id === "no_trailer")) findInfo(doc);
  return doc;
}

interface Hit {
  offset: number;
  num: number;
  gen: number;
  /** Just past the `obj` keyword. */
  body: number;
}

// Every `N G obj` in the file, found by looking back from each "obj": one pass, no regex.
function findObjectHeaders(bytes: Uint8Array, text: string): Hit[] {
  const hits: Hit[] = [];
  for (let i = text.indexOf("obj"); i >= 0; i = text.indexOf("obj", i + 3)) {
    if (!isBoundary(bytes[i + 3])) continue;
    let p = i - 1;
    while (p >= 0 && isWhite(bytes[p]) && i - p < 32) p--;
    const gen = digitsBefore(bytes, p, 5);
    if (!gen || !(gen.start < 1 || isWhite(bytes[gen.start - 1]))) continue;
    p = gen.start - 1;
    const ws = p;
    while (p >= 0 && isWhite(bytes[p]) && ws - p < 32) p--;
    if (p === ws) continue;
    const num = digitsBefore(bytes, p, 10);
    if (!num || !(num.start < 1 || isBoundary(bytes[num.start - 1]))) continue;
    p = num.start - 1;
    hits.push({ offset: p + 1, num: num.value, gen: gen.value, body: i + 3 });
  }
  return hits;
}

// The decimal number (at most `max` digits) that ends at `end`, read backwards.
function digitsBefore(bytes: Uint8Array, end: number, max: number) {
  let value = 0;
  let scale = 1;
  let p = end;
  while (p >= 0 && bytes[p] >= 0x30 && bytes[p] <= 0x39 && end - p < max) {
    value += (bytes[p] - 0x30) * scale;
    scale *= 10;
    p--;
  }
  return p === end ? undefined : { value, start: p + 1 };
}

// Finds each object's extent without parsing it: where its value is, and its stream's data.
// Headers inside an earlier object's stream are skipped.
function scanBody(doc: PdfDocument, hits: Hit[], ctx: ParseContext, opts: ReadOptions): void {
  const { bytes, text, repairs } = doc;
  const size = bytes.length;
  let skipUntil = 0;
  let badLength = 0;
  let firstBadLength: number | undefined;
  let noEnd = 0;
  let noEndobj = 0;
  const endstream = new Finder(text, "endstream", () => true);
  const endobj = new Finder(text, "endobj", (i) => isBoundary(bytes[i + 6]));
  // `stream` after a dictionary's `>>`, not the tail of `endstream`.
  const stream = new Finder(text, "stream", (i) => {
    if (!isBoundary(bytes[i + 6]) || (i >= 3 && text.startsWith("end", i - 3))) return false;
    let p = i - 1;
    while (p >= 0 && isWhite(bytes[p]) && i - p < 64) p--;
    return bytes[p] === 0x3e;
  });
  const byNum = new Map<number, number>(); // object number → index of its last hit
  for (let k = 0; k < hits.length; k++) byNum.set(hits[k].num, k);
  const lengthCache = new Map<number, number | undefined>();
  const indirectLength = (num: number): number | undefined => {
    if (lengthCache.has(num)) return lengthCache.get(num);
    const k = byNum.get(num);
    let n: number | undefined;
    if (k !== undefined) {
      const v = new Lexer(bytes, hits[k].body, Math.min(size, hits[k].body + 64)).value();
      if (typeof v === "number") n = v;
    }
    lengthCache.set(num, n);
    return n;
  };

  for (let k = 0; k < hits.length; k++) {
    const h = hits[k];
    if (h.offset < skipUntil) continue;
    if (doc.definitions.length >= opts.maxObjects) {
      doc.truncated = true;
      repairs.push({
        id: "objects_cap",
        offset: h.offset,
        detail: `stopped after max_objects (${opts.maxObjects}) object definitions`,
      });
      return;
    }
    const bound = k + 1 < hits.length ? hits[k + 1].offset : size;
    const eo = endobj.next(h.body);
    const st = stream.next(h.body);
    let end = h.body;
    if (st >= 0 && st < bound && (eo < 0 || st < eo)) {
      const obj = new PdfObject(h.num, h.gen, h.offset, bytes, h.body, st, ctx);
      doc.definitions.push(obj);
      let start = st + 6;
      if (bytes[start] === 0x0d) start++;
      if (bytes[start] === 0x0a) start++;
      const declared = declaredLength(text, h.body, st, indirectLength);
      let dataEnd = -1;
      if (declared !== undefined && start + declared <= size) {
        let q = start + declared;
        while (q < size && isWhite(bytes[q]) && q - start - declared < 8) q++;
        if (startsWith(bytes, q, "endstream")) {
          dataEnd = start + declared;
          end = q + 9;
        }
      }
      if (dataEnd < 0) {
        const e = endstream.next(start);
        if (e >= 0) {
          dataEnd = e;
          if (dataEnd > start && bytes[dataEnd - 1] === 0x0a) dataEnd--;
          if (dataEnd > start && bytes[dataEnd - 1] === 0x0d) dataEnd--;
          end = e + 9;
          badLength++;
          firstBadLength ??= h.num;
        } else {
          // No endstream: the data runs to the next object header or the end of the file.
          let n = k + 1;
          while (n < hits.length && hits[n].offset < start) n++;
          dataEnd = n < hits.length ? hits[n].offset : size;
          end = dataEnd;
          noEnd++;
        }
      }
      obj.stream = { start, end: dataEnd };
      let q = end;
      while (q < size && isWhite(bytes[q]) && q - end < 64) q++;
      if (startsWith(bytes, q, "endobj")) end = q + 6;
      else if (q < size) noEndobj++;
    } else {
      const valueEnd = eo >= 0 && eo < bound ? eo : bound;
      doc.definitions.push(new PdfObject(h.num, h.gen, h.offset, bytes, h.body, valueEnd, ctx));
      if (valueEnd === eo) end = eo + 6;
      else {
        end = bound;
        if (bound < size) noEndobj++;
      }
    }
    skipUntil = Math.max(end, h.body);
  }
  if (badLength) {
    repairs.push({
      id: "stream_length",
      detail:
        `${badLength} streams' /Length is wrong or missing (first: object ${firstBadLength}); ` +
        "their data was taken up to endstream",
    });
  }
  if (noEnd) {
    repairs.push({
      id: "no_endstream",
      detail: `${noEnd} streams have no endstream; their data was taken up to the next object`,
    });
  }
  if (noEndobj) repairs.push({ id: "no_endobj", detail: `${noEndobj} objects lack endobj` });
}

// A stream dictionary's /Length, read from its text without parsing the dictionary.
const LENGTH =
  /\/Length(?=[\0\t\n\f\r \/<>\[\]()%])[\0\t\n\f\r ]*(\d{1,12})(?:[\0\t\n\f\r ]+(\d{1,5})[\0\t\n\f\r ]+R)?/;
function declaredLength(
  text: string,
  start: number,
  end: number,
  indirect: (num: number) => number | undefined,
): number | undefined {
  const m = LENGTH.exec(text.slice(start, Math.min(end, start + 65536)));
  if (!m) return undefined;
  return m[2] !== undefined ? indirect(Number(m[1])) : Number(m[1]);
}

/** Successive searches for a word: each search starts where the last result allows. */
class Finder {
  private from = -1;
  private at = -1; // -2: none at or after `from`
  constructor(
    private readonly text: string,
    private readonly word: string,
    private readonly accept: (i: number) => boolean,
  ) {}
  next(from: number): number {
    if (this.from >= 0 && from >= this.from && (this.at === -2 || this.at >= from)) {
      return this.at === -2 ? -1 : this.at;
    }
    let i = this.text.indexOf(this.word, from);
    while (i >= 0 && !this.accept(i)) i = this.text.indexOf(this.word, i + 1);
    this.from = from;
    this.at = i < 0 ? -2 : i;
    return i;
  }
}

function startsWith(bytes: Uint8Array, at: number, word: string): boolean {
  if (at + word.length > bytes.length) return false;
  for (let i = 0; i < word.length; i++) if (bytes[at + i] !== word.charCodeAt(i)) return false;
  return true;
}

interface XrefEntry {
  type: number;
  /** Type 1: file offset; type 2: the object stream's number. */
  offset: number;
  index: number;
}

// Reads the cross-reference chain from startxref; undefined when it cannot be read.
function readXrefChain(
  doc: PdfDocument,
  byOffset: Map<number, PdfObject>,
  repairs: Repair[],
): Map<number, XrefEntry> | undefined {
  const at = doc.text.lastIndexOf("startxref");
  if (at < 0) {
    repairs.push({ id: "no_startxref", detail: "no startxref: objects were found by scanning" });
    return undefined;
  }
  const lx = new Lexer(doc.bytes, at + 9);
  lx.skipWhite();
  const start = lx.readUint();
  if (start < 0) {
    repairs.push({
      id: "bad_startxref",
      offset: at,
      detail: "startxref is not followed by an offset",
    });
    return undefined;
  }
  doc.xref.startxref = start;
  const entries = new Map<number, XrefEntry>();
  const trailers: PdfDict[] = [];
  const seen = new Set<number>();
  let offset: number | undefined = start;
  while (offset !== undefined && !seen.has(offset) && seen.size < MAX_XREF_SECTIONS) {
    seen.add(offset);
    let section = readXrefSection(doc, offset, byOffset, entries);
    if (!section && doc.headerOffset > 0) {
      section = readXrefSection(doc, offset + doc.headerOffset, byOffset, entries);
    }
    if (!section) {
      const what = seen.size === 1 ? "startxref" : "a /Prev entry";
      repairs.push({
        id: seen.size === 1 ? "bad_xref" : "bad_prev_xref",
        offset,
        detail: `${what} points at offset ${offset}, where there is no cross-reference section` +
          (seen.size === 1 ? "; objects were found by scanning" : "; older sections were skipped"),
      });
      if (seen.size === 1) return undefined;
      break;
    }
    doc.xref.sections++;
    trailers.push(section);
    const stm = section.get("/XRefStm");
    if (typeof stm === "number" && !seen.has(stm)) {
      seen.add(stm);
      readXrefSection(doc, stm, byOffset, entries, true);
    }
    const prev = section.get("/Prev");
    offset = typeof prev === "number" && prev >= 0 ? prev : undefined;
  }
  // Readers (poppler, mupdf, qpdf) use the newest trailer; older ones only fill a missing /Root.
  const merged: PdfDict = new Map(trailers[0]);
  if (!merged.has("/Root")) {
    const root = trailers.find((t) => t.has("/Root"))?.get("/Root");
    if (root !== undefined) {
      merged.set("/Root", root);
      repairs.push({
        id: "root_from_older_trailer",
        detail: "the newest trailer lacks /Root; an older one gave it",
      });
    }
  }
  for (
    const k of ["/Prev", "/XRefStm", "/Type", "/W", "/Index", "/Filter", "/DecodeParms", "/Length"]
  ) {
    merged.delete(k);
  }
  doc.trailer = merged;
  for (const e of entries.values()) if (e.type === 1 || e.type === 2) doc.xref.entries++;
  doc.xref.valid = true;
  return entries;
}

// One section (table + trailer, or stream) at `offset`; its entries are added where absent
// (a hybrid file's /XRefStm also replaces the free entries its table gives compressed objects).
// Returns its trailer dictionary, or undefined when no section starts there.
function readXrefSection(
  doc: PdfDocument,
  offset: number,
  byOffset: Map<number, PdfObject>,
  entries: Map<number, XrefEntry>,
  hybrid = false,
): PdfDict | undefined {
  const { bytes } = doc;
  if (offset >= bytes.length) return undefined;
  const lx = new Lexer(bytes, offset, bytes.length);
  lx.skipWhite();
  if (startsWith(bytes, lx.pos, "xref")) {
    lx.pos += 4;
    const found: [number, XrefEntry][] = [];
    for (;;) {
      lx.skipWhite();
      const first = lx.readUint();
      if (first < 0) break;
      lx.skipWhite();
      const count = lx.readUint();
      if (count < 0) break;
      for (let i = 0; i < count && found.length < MAX_XREF_ENTRIES; i++) {
        lx.skipWhite();
        // The usual fixed-width row "oooooooooo ggggg n": read in place.
        const p = lx.pos;
        if (bytes[p + 10] === 0x20 && bytes[p + 16] === 0x20 && p + 18 <= bytes.length) {
          const t = bytes[p + 17];
          let off = 0;
          let ok = t === 0x6e || t === 0x66;
          for (let k = 0; k < 10 && ok; k++) {
            const c = bytes[p + k] - 0x30;
            ok = c >= 0 && c <= 9;
            off = off * 10 + c;
          }
          if (ok) {
            found.push([first + i, { type: t === 0x6e ? 1 : 0, offset: off, index: 0 }]);
            lx.pos = p + 18;
            continue;
          }
        }
        const off = lx.readUint();
        lx.skipWhite();
        const gen = lx.readUint();
        lx.skipWhite();
        const t = bytes[lx.pos];
        if (off < 0 || gen < 0 || (t !== 0x6e && t !== 0x66)) return undefined;
        lx.pos++;
        found.push([first + i, { type: t === 0x6e ? 1 : 0, offset: off, index: 0 }]);
      }
    }
    for (const [num, e] of found) if (!entries.has(num)) entries.set(num, e);
    lx.skipWhite();
    if (!startsWith(bytes, lx.pos, "trailer")) return new Map();
    lx.pos += 7;
    const t = lx.value();
    return isDict(t) ? t : new Map();
  }
  // A cross-reference stream: `N G obj << /Type /XRef ... >> stream`.
  const def = byOffset.get(lx.pos);
  if (!def?.stream || !isDict(def.value) || nameOf(def.value, "/Type") !== "/XRef") {
    return undefined;
  }
  const dict = def.value;
  const w = dict.get("/W");
  if (
    !Array.isArray(w) || w.length < 3 || !w.every((x) => typeof x === "number" && x >= 0 && x <= 8)
  ) {
    return undefined;
  }
  const [w0, w1, w2] = w as number[];
  const rowLen = w0 + w1 + w2;
  const size = dict.get("/Size");
  const index = dict.get("/Index");
  const ranges = Array.isArray(index) ? index : [0, typeof size === "number" ? size : 0];
  const data = doc.decode(def).data;
  let pos = 0;
  const field = (width: number, dflt: number) => {
    if (width === 0) return dflt;
    let v = 0;
    for (let i = 0; i < width; i++) v = v * 256 + data[pos++];
    return v;
  };
  for (let r = 0; r + 1 < ranges.length; r += 2) {
    const first = ranges[r];
    const count = ranges[r + 1];
    if (typeof first !== "number" || typeof count !== "number") break;
    for (let i = 0; i < count && rowLen > 0 && pos + rowLen <= data.length; i++) {
      if (entries.size >= MAX_XREF_ENTRIES) break;
      const type = field(w0, 1);
      const f2 = field(w1, 0);
      const f3 = field(w2, 0);
      const had = entries.get(first + i);
      if (!had || (hybrid && had.type === 0)) {
        entries.set(first + i, { type, offset: f2, index: f3 });
      }
    }
  }
  return dict;
}

// Counts classic tables (`xref` at a line start, not `startxref`) and xref streams.
function countXref(doc: PdfDocument): void {
  const { bytes, text } = doc;
  for (let i = text.indexOf("xref"); i >= 0; i = text.indexOf("xref", i + 4)) {
    if (i > 0 && !isWhite(bytes[i - 1])) continue;
    if (!isBoundary(bytes[i + 4])) continue;
    doc.xref.tables++;
  }
  for (const d of doc.definitions) if (isTyped(doc, d, "/XRef")) doc.xref.streams++;
}

// A stream whose dictionary has /Type `type`: its text is checked before it is parsed.
function isTyped(doc: PdfDocument, d: PdfObject, type: string): boolean {
  if (!d.stream || !doc.region(d).includes(type)) return false;
  return isDict(d.value) && nameOf(d.value, "/Type") === type;
}

// The trailer from the chain, else the last `trailer` dictionary or xref stream in the file.
function setTrailer(doc: PdfDocument, fromChain: boolean, repairs: Repair[]): void {
  if (fromChain && doc.trailer.size) return;
  const at = doc.text.lastIndexOf("trailer");
  if (at >= 0) {
    const lx = new Lexer(doc.bytes, at + 7, doc.bytes.length);
    const t = lx.value();
    if (isDict(t)) {
      doc.trailer = t;
      return;
    }
  }
  for (let i = doc.definitions.length - 1; i >= 0; i--) {
    const d = doc.definitions[i];
    if (d.stream && isDict(d.value) && nameOf(d.value, "/Type") === "/XRef") {
      doc.trailer = d.value;
      return;
    }
  }
  repairs.push({
    id: "no_trailer",
    detail: "no trailer dictionary; the catalog was found by scanning",
  });
}

function setEncryption(doc: PdfDocument, ctx: ParseContext, opts: ReadOptions): void {
  const { repairs } = doc;
  const ref = doc.trailer.get("/Encrypt");
  if (ref === undefined || ref === null) return;
  const enc = doc.resolve(ref);
  if (!isDict(enc)) {
    repairs.push({ id: "bad_encrypt", detail: "the trailer's /Encrypt is not a dictionary" });
    return;
  }
  if (ref instanceof PdfRef) doc.encryptObject = ctx.encryptObject = ref.num;
  const ids = doc.trailer.get("/ID");
  const id0 = Array.isArray(ids) && ids[0] instanceof PdfString ? ids[0].bytes : new Uint8Array(0);
  const { info, decryptor, problem } = openEncryption(enc, id0, opts.passwords);
  doc.encryption = info;
  if (problem) doc.encryptionProblem = problem;
  if (!decryptor) return;
  // Values parse lazily; each is decrypted when first read from here on.
  doc.decryptor = ctx.decryptor = decryptor;
}

function decryptStrings(
  v: PdfValue,
  num: number,
  gen: number,
  dec: Decryptor,
  depth: number,
): void {
  if (depth > 64) return;
  if (v instanceof PdfString) v.bytes = dec.string(v.bytes, num, gen);
  else if (Array.isArray(v)) { for (const x of v) decryptStrings(x, num, gen, dec, depth + 1); }
  else if (isDict(v)) { for (const x of v.values()) decryptStrings(x, num, gen, dec, depth + 1); }
}

// Decodes every object stream and adds its members; the table decides which are current.
function readObjectStreams(
  doc: PdfDocument,
  entries: Map<number, XrefEntry> | undefined,
  ctx: ParseContext,
  opts: ReadOptions,
): void {
  const { repairs } = doc;
  const containers = doc.definitions.filter((d) => isTyped(doc, d, "/ObjStm"));
  if (!containers.length) return;
  const members = new Map<number, PdfObject[]>(); // current container → its objects by index
  const added: PdfObject[] = [];
  for (const c of containers) {
    const dict = c.value as PdfDict;
    const n = dict.get("/N");
    const first = dict.get("/First");
    if (typeof n !== "number" || typeof first !== "number" || n < 0 || first < 0) {
      repairs.push({
        id: "bad_object_stream",
        detail: `object stream ${c.num} lacks /N or /First`,
      });
      continue;
    }
    const dec = doc.decode(c);
    for (const p of dec.problems) {
      repairs.push({ id: "object_stream_data", detail: `object stream ${c.num}: ${p}` });
    }
    const data = dec.data;
    const lx = new Lexer(data, 0, Math.min(first, data.length));
    const pairs: [number, number][] = [];
    for (let i = 0; i < n; i++) {
      lx.skipWhite();
      const num = lx.readUint();
      lx.skipWhite();
      const off = lx.readUint();
      if (num < 0 || off < 0) break;
      pairs.push([num, off]);
    }
    if (pairs.length < n) {
      repairs.push({
        id: "bad_object_stream",
        detail: `object stream ${c.num} lists ${pairs.length} of its ${n} objects`,
      });
    }
    const current = doc.objects.get(c.num) === c;
    const list: PdfObject[] = [];
    if (current) members.set(c.num, list);
    for (let i = 0; i < pairs.length; i++) {
      if (doc.definitions.length + added.length >= opts.maxObjects) {
        doc.truncated = true;
        repairs.push({
          id: "objects_cap",
          detail: `stopped after max_objects (${opts.maxObjects}) object definitions`,
        });
        break;
      }
      const [num, off] = pairs[i];
      const start = first + off;
      const end = i + 1 < pairs.length
        ? Math.min(data.length, first + pairs[i + 1][1])
        : data.length;
      const obj = new PdfObject(num, 0, c.offset, data, start, Math.max(start, end), ctx);
      obj.container = c.num;
      obj.index = i;
      added.push(obj);
      list.push(obj);
    }
  }
  doc.definitions.push(...added);
  if (entries) {
    for (const [num, e] of entries) {
      if (e.type !== 2) continue;
      const obj = members.get(e.offset)?.[e.index];
      if (obj && obj.num === num) doc.objects.set(num, obj);
    }
  } else {
    // No table: an object stream's member is current unless a later body object redefines it.
    for (const obj of added) {
      const cur = doc.objects.get(obj.num);
      if (!cur || cur.offset <= obj.offset) doc.objects.set(obj.num, obj);
    }
  }
}

function checkCatalog(doc: PdfDocument, repairs: Repair[]): void {
  const root = doc.resolve(doc.trailer.get("/Root"));
  if (isDict(root) && (nameOf(root, "/Type") === "/Catalog" || root.has("/Pages"))) return;
  for (let i = doc.definitions.length - 1; i >= 0; i--) {
    const d = doc.definitions[i];
    if (isDict(d.value) && nameOf(d.value, "/Type") === "/Catalog") {
      if (doc.objects.get(d.num) !== d) continue;
      doc.trailer.set("/Root", new PdfRef(d.num, d.gen));
      repairs.push({
        id: "no_root",
        detail:
          `the trailer names no usable /Root; the catalog is object ${d.num} (found by scanning)`,
      });
      return;
    }
  }
  repairs.push({ id: "no_catalog", detail: "no document catalog: pages and actions are unknown" });
}

// Without a trailer /Info, the last untyped dictionary with document-information keys.
function findInfo(doc: PdfDocument): void {
  const keys = ["/Producer", "/Creator", "/CreationDate", "/ModDate", "/Author", "/Title"];
  for (let i = doc.definitions.length - 1; i >= 0; i--) {
    const d = doc.definitions[i];
    if (d.stream || doc.objects.get(d.num) !== d || d.src !== doc.bytes) continue;
    const region = doc.text.slice(d.start, Math.min(d.end, d.start + 4096));
    if (!keys.some((k) => region.includes(k))) continue;
    const v = d.value;
    if (!isDict(v) || v.has("/Type") || !keys.some((k) => v.has(k))) continue;
    doc.trailer.set("/Info", new PdfRef(d.num, d.gen));
    doc.repairs.push({
      id: "info_found",
      detail:
        `the trailer names no /Info; object ${d.num} holds document information (found by scanning)`,
    });
    return;
  }
}

// Decrypts (unless exempt) and decodes one stream within `cap` bytes.
function decodeObject(doc: PdfDocument, obj: PdfObject, cap: number): Decoded {
  const dict = isDict(obj.value) ? obj.value : new Map<string, PdfValue>();
  if (!obj.stream) {
    return { data: new Uint8Array(0), truncated: false, problems: [], remaining: [] };
  }
  let raw = doc.bytes.subarray(obj.stream.start, obj.stream.end);
  const type = nameOf(dict, "/Type");
  const chain = filterChain(dict);
  if (doc.decryptor && obj.container === undefined && type !== "/XRef") {
    const identity = chain[0]?.name === "/Crypt" &&
      (chain[0].parms === undefined || nameOf(chain[0].parms, "/Name") === "/Identity");
    const exempt = identity || (type === "/Metadata" && !doc.decryptor.metadata);
    if (!exempt) raw = doc.decryptor.stream(raw, obj.num, obj.gen, type === "/EmbeddedFile");
  }
  if (cap <= 0) {
    return {
      data: new Uint8Array(0),
      truncated: true,
      problems: ["max_decoded_bytes reached"],
      remaining: [],
    };
  }
  const out = decodeChain(raw, chain, cap);
  if (out.data !== raw) doc.decodedBytes += out.data.length;
  return out;
}

/** The object's reference text, `12 0 R`. */
export function refText(obj: { num: number; gen: number }): string {
  return `${obj.num} ${obj.gen} R`;
}

/** Bytes as a string with one character per byte (Buffer's latin1 is native; TextDecoder's is
 * seventy times slower here). */
export function latin1Text(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString("latin1");
}
