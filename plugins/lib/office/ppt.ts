/**
 * PowerPoint 97-2003 presentations ([MS-PPT]): the slides' and notes' text in slide order, and
 * the VBA project storage. Both hang off the persist directory: the Current User stream points
 * at the newest UserEditAtom, each UserEditAtom at its PersistDirectoryAtom and at the edit
 * before it (PowerPoint's fast save appends edits), and the directory maps persist ids to the
 * offsets of the DocumentContainer, each slide and the VBA project's ExOleObjStg record.
 *
 * Hand-written: catppt (Debian catdoc) finds no text in the files LibreOffice writes, which keep
 * slide text in the slides' drawings (OfficeArt ClientTextbox records) instead of the
 * SlideListWithText, and no npm package reads the format. Every record header is checked
 * against its parent, the walk is depth- and count-capped, the edit chain cannot loop, and a
 * broken directory falls back to the slides in stream order, with an error.
 */
import { inflateSync } from "node:zlib";

/** Record types ([MS-PPT] 2.13.24). */
const RT = {
  document: 0x03e8,
  slide: 0x03ee,
  notes: 0x03f0,
  slidePersistAtom: 0x03f3,
  vbaInfo: 0x03ff,
  vbaInfoAtom: 0x0400,
  docInfoList: 0x07d0,
  textCharsAtom: 0x0fa0,
  textBytesAtom: 0x0fa8,
  slideListWithText: 0x0ff0,
  userEditAtom: 0x0ff5,
  currentUserAtom: 0x0ff6,
  exOleObjStg: 0x1011,
  persistDirectoryAtom: 0x1772,
};
const MAX_RECORDS = 200_000;
const MAX_DEPTH = 16;
const MAX_EDITS = 1024;
const MAX_SLIDES = 10_000;
const ENCRYPTED_TOKEN = 0xf3d1c4df;

/** Limits on what is read. */
export interface PptLimits {
  /** Largest decompressed VBA storage; 0 skips it. */
  maxVbaSize: number;
  /** Most characters of text kept; 0 skips the text. */
  maxChars: number;
}

/** One slide's (or notes page's) text, paragraphs in order. */
export interface PptPage {
  persist_id: number;
  text: string[];
}

/** What was read. */
export interface PptDocument {
  slides: PptPage[];
  notes: PptPage[];
  /** The VBA project storage (an OLE2 file), decompressed. */
  vba?: { persist_id: number; offset: number; compressed: boolean; storage: Uint8Array };
  /** fHasMacros of the VBAInfoAtom, when there is one. */
  has_macros?: boolean;
  encrypted: boolean;
  edits: number;
  truncated: boolean;
  errors: string[];
}

interface Rec {
  type: number;
  instance: number;
  container: boolean;
  /** Offset of the body. */
  body: number;
  len: number;
}

/** A bounded reader of records in the PowerPoint Document stream. */
class Records {
  private seen = 0;
  readonly dv: DataView;
  constructor(readonly data: Uint8Array) {
    this.dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  }
  /** The record at `off`, or undefined when its header or body runs past `end`. */
  at(off: number, end = this.data.length): Rec | undefined {
    if (!Number.isSafeInteger(off) || off < 0 || off + 8 > end) return undefined;
    if (++this.seen > MAX_RECORDS) throw new Error(`more than ${MAX_RECORDS} records`);
    const vi = this.dv.getUint16(off, true), len = this.dv.getUint32(off + 4, true);
    if (off + 8 + len > end) return undefined;
    return {
      type: this.dv.getUint16(off + 2, true),
      instance: vi >> 4,
      container: (vi & 0xf) === 0xf,
      body: off + 8,
      len,
    };
  }
  /** The children of a container, in order. */
  *children(r: Rec): Generator<Rec> {
    const end = r.body + r.len;
    for (let p = r.body; p < end;) {
      const c = this.at(p, end);
      if (!c) return;
      yield c;
      p = c.body + c.len;
    }
  }
  /** Depth-first, every record under `r`. */
  *walk(r: Rec, depth = 0): Generator<Rec> {
    for (const c of this.children(r)) {
      yield c;
      if (c.container && depth < MAX_DEPTH) yield* this.walk(c, depth + 1);
    }
  }
  u32(off: number): number {
    return off + 4 <= this.data.length ? this.dv.getUint32(off, true) : 0;
  }
}

const utf16 = new TextDecoder("utf-16le");

/** The text atoms' paragraphs (\r and vertical tab end paragraphs and lines). */
function atomText(recs: Records, r: Rec): string[] {
  const bytes = recs.data.subarray(r.body, r.body + r.len);
  let s = "";
  if (r.type === RT.textCharsAtom) s = utf16.decode(bytes.subarray(0, bytes.length & ~1));
  else for (const b of bytes) s += String.fromCharCode(b);
  return s.split(/[\r\v]/).map((p) => p.trim()).filter(Boolean);
}

/** Reads the presentation from its two streams. */
export function readPpt(
  doc: Uint8Array,
  currentUser: Uint8Array | undefined,
  limits: PptLimits,
): PptDocument {
  const recs = new Records(doc);
  const out: PptDocument = {
    slides: [],
    notes: [],
    encrypted: false,
    edits: 0,
    truncated: false,
    errors: [],
  };
  let chars = 0;
  const pageText = (r: Rec): string[] => {
    const text: string[] = [];
    if (limits.maxChars === 0) return text; // the caller wants the VBA project only
    for (const c of recs.walk(r)) {
      if (c.type !== RT.textCharsAtom && c.type !== RT.textBytesAtom) continue;
      for (const p of atomText(recs, c)) {
        if (chars + p.length > limits.maxChars) {
          out.truncated = true;
          return text;
        }
        chars += p.length;
        text.push(p);
      }
    }
    return text;
  };
  try {
    const dir = persistDirectory(recs, currentUser, out);
    if (out.encrypted) return out;
    const docRec = dir && recs.at(dir.persist.get(dir.docRef) ?? -1);
    if (!dir || !docRec || docRec.type !== RT.document) {
      if (dir) out.errors.push(`persist directory: no DocumentContainer for id ${dir.docRef}`);
      // Fall back to the slides in the order the stream holds them.
      const top = { type: 0, instance: 0, container: true, body: 0, len: doc.length };
      for (const r of recs.children(top)) {
        if (r.type === RT.slide || r.type === RT.notes) {
          (r.type === RT.slide ? out.slides : out.notes).push({ persist_id: 0, text: pageText(r) });
        }
      }
      return out;
    }
    for (const c of recs.children(docRec)) {
      if (c.type === RT.slideListWithText && (c.instance === 0 || c.instance === 2)) {
        // A SlidePersistAtom per slide, then the text PowerPoint keeps in the list for it
        // (placeholders; LibreOffice leaves the list empty and writes all text in the drawing).
        const listed: { id: number; list: string[] }[] = [];
        for (const a of recs.children(c)) {
          if (a.type === RT.slidePersistAtom) {
            if (listed.length >= MAX_SLIDES) {
              out.truncated = true;
              break;
            }
            listed.push({ id: recs.u32(a.body), list: [] });
          } else if (a.type === RT.textCharsAtom || a.type === RT.textBytesAtom) {
            listed.at(-1)?.list.push(...atomText(recs, a));
          }
        }
        for (const { id, list } of listed) {
          const at = dir.persist.get(id);
          const r = at === undefined ? undefined : recs.at(at);
          if (!r || (r.type !== RT.slide && r.type !== RT.notes)) {
            out.errors.push(`slide persist id ${id}: no slide record at ${at ?? "(none)"}`);
          }
          const text = [...list, ...(r ? pageText(r) : [])];
          (c.instance === 0 ? out.slides : out.notes).push({ persist_id: id, text });
        }
      }
      if (c.type === RT.docInfoList) {
        for (const v of recs.walk(c)) {
          if (v.type !== RT.vbaInfoAtom || v.len < 12) continue;
          out.has_macros = recs.u32(v.body + 4) !== 0;
          const id = recs.u32(v.body);
          if (out.has_macros && limits.maxVbaSize > 0) {
            out.vba = vbaStorage(recs, id, dir.persist, limits, out.errors);
          }
        }
      }
    }
  } catch (e) {
    out.errors.push((e as Error).message);
  }
  return out;
}

/** The persist id → offset map from the newest edit back, and the document's persist id. */
function persistDirectory(
  recs: Records,
  currentUser: Uint8Array | undefined,
  out: PptDocument,
): { persist: Map<number, number>; docRef: number } | undefined {
  if (!currentUser || currentUser.length < 20) {
    out.errors.push("no Current User stream: slides read in stream order");
    return undefined;
  }
  const cu = new DataView(currentUser.buffer, currentUser.byteOffset, currentUser.byteLength);
  if (cu.getUint16(2, true) !== RT.currentUserAtom) {
    out.errors.push("Current User: no CurrentUserAtom; slides read in stream order");
    return undefined;
  }
  if (cu.getUint32(12, true) === ENCRYPTED_TOKEN) {
    out.encrypted = true;
    out.errors.push("the presentation is encrypted (RC4 CryptoAPI); its text cannot be read");
    return undefined;
  }
  const persist = new Map<number, number>();
  const visited = new Set<number>();
  let docRef: number | undefined;
  for (let off = cu.getUint32(16, true);;) {
    if (visited.has(off) || visited.size >= MAX_EDITS) {
      out.errors.push(`UserEditAtom chain loops or is too long at offset ${off}`);
      break;
    }
    visited.add(off);
    const edit = recs.at(off);
    if (!edit || edit.type !== RT.userEditAtom || edit.len < 28) {
      out.errors.push(`no UserEditAtom at offset ${off}`);
      break;
    }
    out.edits++;
    docRef ??= recs.u32(edit.body + 16);
    if (edit.len >= 32 && recs.u32(edit.body + 28) !== 0) {
      out.encrypted = true;
      out.errors.push("the presentation is encrypted (CryptSession10Container)");
      return undefined;
    }
    const d = recs.at(recs.u32(edit.body + 12));
    if (!d || d.type !== RT.persistDirectoryAtom) {
      out.errors.push(`UserEditAtom at ${off}: no PersistDirectoryAtom`);
    } else {
      // Entries: persistId (20 bits) and a count (12 bits), then that many offsets.
      for (let p = d.body; p + 4 <= d.body + d.len;) {
        const head = recs.u32(p), first = head & 0xfffff, n = head >>> 20;
        for (let i = 0; i < n && p + 8 + i * 4 <= d.body + d.len; i++) {
          // The newest edit is read first: older entries never replace its offsets.
          if (!persist.has(first + i)) persist.set(first + i, recs.u32(p + 4 + i * 4));
        }
        p += 4 + n * 4;
      }
    }
    off = recs.u32(edit.body + 8);
    if (off === 0) break;
  }
  if (docRef === undefined) return undefined;
  return { persist, docRef };
}

/** The VBA project storage from its ExOleObjStg record (zlib-compressed when instance is 1). */
function vbaStorage(
  recs: Records,
  id: number,
  persist: Map<number, number>,
  limits: PptLimits,
  errors: string[],
): PptDocument["vba"] {
  const at = persist.get(id);
  const r = at === undefined ? undefined : recs.at(at);
  if (!r || r.type !== RT.exOleObjStg) {
    errors.push(`VBA project: persist id ${id} is no ExOleObjStg record`);
    return undefined;
  }
  const body = recs.data.subarray(r.body, r.body + r.len);
  if (r.instance !== 1) return { persist_id: id, offset: at!, compressed: false, storage: body };
  const size = recs.u32(r.body);
  if (size > limits.maxVbaSize) {
    errors.push(`VBA project: ${size} bytes decompressed, over the ${limits.maxVbaSize} limit`);
    return undefined;
  }
  try {
    const storage = inflateSync(body.subarray(4), { maxOutputLength: Math.max(size, 1) });
    return { persist_id: id, offset: at!, compressed: true, storage: new Uint8Array(storage) };
  } catch (e) {
    errors.push(`VBA project at offset ${at}: zlib: ${(e as Error).message}`);
    return undefined;
  }
}
