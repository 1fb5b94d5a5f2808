/**
 * Property sets ([MS-OLEPS]): the SummaryInformation and DocumentSummaryInformation streams of an
 * OLE2 document (title, author, dates, creating application, code page, user-defined properties).
 * Bounded: property counts are capped, every offset is checked, strings are cut at MAX_STRING.
 */
import { filetime, guid } from "./cfb.ts";
import { codePageDecoder } from "./codepage.ts";

const FMTID_SUMMARY = "F29F85E0-4FF9-1068-AB91-08002B27B3D9";
const FMTID_DOC_SUMMARY = "D5CDD502-2E9C-101B-9397-08002B2CF9AE";
const FMTID_USER = "D5CDD505-2E9C-101B-9397-08002B2CF9AE";
const MAX_PROPERTIES = 1000;
const MAX_STRING = 4096;
const MAX_VECTOR = 256;

/** Property names of SummaryInformation ([MS-OLEPS] 3.2.3). */
const SUMMARY_NAMES: Record<number, string> = {
  2: "title",
  3: "subject",
  4: "author",
  5: "keywords",
  6: "comments",
  7: "template",
  8: "last_saved_by",
  9: "revision_number",
  10: "total_editing_time",
  11: "last_printed",
  12: "created",
  13: "modified",
  14: "num_pages",
  15: "num_words",
  16: "num_chars",
  18: "creating_application",
  19: "security",
};

/** Property names of DocumentSummaryInformation ([MS-OLEPS] 3.2.4). */
const DOC_SUMMARY_NAMES: Record<number, string> = {
  2: "category",
  3: "presentation_target",
  4: "bytes",
  5: "lines",
  6: "paragraphs",
  7: "slides",
  8: "notes",
  9: "hidden_slides",
  10: "mm_clips",
  11: "scale_crop",
  12: "heading_pairs",
  13: "titles_of_parts",
  14: "manager",
  15: "company",
  16: "links_dirty",
  17: "chars_with_spaces",
  19: "shared_doc",
  22: "hyperlinks_changed",
  23: "app_version",
  26: "content_type",
  27: "content_status",
  28: "language",
  29: "doc_version",
};

/** What a property set stream holds, by section. */
export interface PropertySets {
  /** Named properties of the well-known sections; other sections under their FMTID. */
  properties: Record<string, unknown>;
  /** User-defined properties (DocumentSummaryInformation's second section), by name. */
  custom?: Record<string, unknown>;
  errors: string[];
}

/** Parses a property set stream; names the well-known sections' properties. */
export function parsePropertySets(data: Uint8Array): PropertySets {
  const out: PropertySets = { properties: {}, errors: [] };
  if (data.length < 28) {
    out.errors.push(
      `property set stream of ${data.length} bytes is shorter than its 28-byte header`,
    );
    return out;
  }
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (dv.getUint16(0, true) !== 0xfffe) {
    out.errors.push(
      `property set byte order 0x${dv.getUint16(0, true).toString(16)} (expected 0xFFFE)`,
    );
    return out;
  }
  const count = Math.min(dv.getUint32(24, true), 4);
  for (let i = 0; i < count; i++) {
    const at = 28 + i * 20;
    if (at + 20 > data.length) {
      out.errors.push(`property set header cut at section ${i}`);
      break;
    }
    const fmtid = guid(data, at);
    const offset = dv.getUint32(at + 16, true);
    const section = readSection(data, dv, offset, out.errors);
    if (!section) continue;
    if (fmtid === FMTID_SUMMARY || fmtid === FMTID_DOC_SUMMARY) {
      const names = fmtid === FMTID_SUMMARY ? SUMMARY_NAMES : DOC_SUMMARY_NAMES;
      for (const [pid, value] of section.values) {
        if (pid === 1) {
          out.properties.code_page = typeof value === "number" && value < 0 ? value + 65536 : value;
        } else if (names[pid]) {
          const v = shape(names[pid], value);
          if (v !== undefined) out.properties[names[pid]] = v;
        } else out.properties[`pid_${pid}`] = value;
      }
    } else if (fmtid === FMTID_USER) {
      const custom: Record<string, unknown> = {};
      for (const [pid, value] of section.values) {
        if (pid === 1) continue;
        custom[section.dictionary.get(pid) ?? `pid_${pid}`] = value;
      }
      out.custom = custom;
    } else {
      out.properties[fmtid] = Object.fromEntries(section.values);
    }
  }
  return out;
}

/** Editing time is a FILETIME-sized duration, not a date: report it in seconds. */
function shape(name: string, value: unknown): unknown {
  if (name === "total_editing_time" && typeof value === "object" && value && "ticks" in value) {
    return Math.round(Number((value as { ticks: number }).ticks) / 1e7);
  }
  if (typeof value === "object" && value && "ticks" in value) {
    return (value as { iso?: string }).iso;
  }
  return value;
}

interface Section {
  values: [number, unknown][];
  dictionary: Map<number, string>;
}

function readSection(
  data: Uint8Array,
  dv: DataView,
  base: number,
  errors: string[],
): Section | undefined {
  if (base + 8 > data.length) {
    errors.push(`property section at offset ${base} is outside the stream`);
    return undefined;
  }
  const size = Math.min(dv.getUint32(base, true), data.length - base);
  const n = dv.getUint32(base + 4, true);
  if (n > MAX_PROPERTIES) {
    errors.push(`section at ${base} claims ${n} properties; read ${MAX_PROPERTIES}`);
  }
  const pairs: [number, number][] = [];
  for (let i = 0; i < Math.min(n, MAX_PROPERTIES); i++) {
    const at = base + 8 + i * 8;
    if (at + 8 > base + size) {
      errors.push(`section at ${base} cut after ${i} of ${n} properties`);
      break;
    }
    pairs.push([dv.getUint32(at, true), dv.getUint32(at + 4, true)]);
  }
  // The code page (PID 1) decides how the 8-bit strings read.
  const cpPair = pairs.find(([pid]) => pid === 1);
  let dec = codePageDecoder(1252);
  if (cpPair && base + cpPair[1] + 6 <= data.length) {
    dec = codePageDecoder(dv.getInt16(base + cpPair[1] + 4, true));
  }
  const values: [number, unknown][] = [];
  const dictionary = new Map<number, string>();
  for (const [pid, off] of pairs) {
    const at = base + off;
    if (off >= size || at + 4 > data.length) {
      errors.push(`property ${pid} at offset ${at} is outside its section`);
      continue;
    }
    if (pid === 0) {
      readDictionary(data, dv, at, base + size, dec, dictionary);
      continue;
    }
    try {
      values.push([pid, readValue(data, dv, at, base + size, dec, 0)]);
    } catch (e) {
      errors.push(`property ${pid} at offset ${at}: ${(e as Error).message}`);
    }
  }
  return { values, dictionary };
}

function readDictionary(
  data: Uint8Array,
  dv: DataView,
  at: number,
  end: number,
  dec: TextDecoder,
  out: Map<number, string>,
) {
  const n = Math.min(dv.getUint32(at, true), MAX_PROPERTIES);
  let p = at + 4;
  const wide = dec.encoding === "utf-16le";
  for (let i = 0; i < n && p + 8 <= end; i++) {
    const pid = dv.getUint32(p, true);
    const len = dv.getUint32(p + 4, true);
    const bytes = wide ? len * 2 : len;
    if (p + 8 + bytes > end) break;
    out.set(pid, cstr(dec.decode(data.subarray(p + 8, p + 8 + Math.min(bytes, MAX_STRING)))));
    p += 8 + bytes;
    if (wide) p += (4 - (p - at) % 4) % 4;
  }
}

function cstr(s: string): string {
  const nul = s.indexOf("\0");
  return nul >= 0 ? s.slice(0, nul) : s;
}

/** One TypedPropertyValue ([MS-OLEPS] 2.15); vectors of variants recurse once. */
function readValue(
  data: Uint8Array,
  dv: DataView,
  at: number,
  end: number,
  dec: TextDecoder,
  depth: number,
): unknown {
  const need = (n: number) => {
    if (at + 4 + n > end) throw new Error(`value of ${n} bytes runs past the section`);
  };
  const type = dv.getUint16(at, true);
  const v = at + 4;
  switch (type) {
    case 0x0002: // VT_I2
      need(2);
      return dv.getInt16(v, true);
    case 0x0003: // VT_I4
    case 0x0016: // VT_INT
      need(4);
      return dv.getInt32(v, true);
    case 0x0013: // VT_UI4
    case 0x0017: // VT_UINT
      need(4);
      return dv.getUint32(v, true);
    case 0x0012: // VT_UI2
      need(2);
      return dv.getUint16(v, true);
    case 0x0005: // VT_R8
      need(8);
      return dv.getFloat64(v, true);
    case 0x0004: // VT_R4
      need(4);
      return dv.getFloat32(v, true);
    case 0x000b: // VT_BOOL
      need(2);
      return dv.getInt16(v, true) !== 0;
    case 0x0040: { // VT_FILETIME
      need(8);
      const ticks = dv.getUint32(v + 4, true) * 2 ** 32 + dv.getUint32(v, true);
      return { ticks, iso: filetime(dv, v) };
    }
    case 0x001e: { // VT_LPSTR (in the section's code page)
      need(4);
      const len = dv.getUint32(v, true);
      need(4 + Math.min(len, end - v - 4));
      const n = Math.min(len, end - v - 4, MAX_STRING);
      return cstr(dec.decode(data.subarray(v + 4, v + 4 + n)));
    }
    case 0x001f: { // VT_LPWSTR
      need(4);
      const chars = dv.getUint32(v, true);
      const n = Math.min(chars * 2, end - v - 4, MAX_STRING * 2);
      return cstr(new TextDecoder("utf-16le").decode(data.subarray(v + 4, v + 4 + n)));
    }
    case 0x0041: // VT_BLOB
    case 0x0047: { // VT_CF (thumbnail)
      need(4);
      return { type: type === 0x41 ? "blob" : "clipboard", size: dv.getUint32(v, true) };
    }
    case 0x100c: // VT_VECTOR | VT_VARIANT
    case 0x101e: // VT_VECTOR | VT_LPSTR
    case 0x101f: { // VT_VECTOR | VT_LPWSTR
      need(4);
      if (depth > 0) throw new Error("nested vector");
      const n = Math.min(dv.getUint32(v, true), MAX_VECTOR);
      const items: unknown[] = [];
      let p = v + 4;
      for (let i = 0; i < n && p < end; i++) {
        if (type === 0x100c) {
          items.push(readValue(data, dv, p, end, dec, depth + 1));
          p += valueSize(dv, p, end);
        } else {
          const len = dv.getUint32(p, true);
          const bytes = type === 0x101f ? len * 2 : len;
          if (p + 4 + bytes > end) break;
          const sub = data.subarray(p + 4, p + 4 + Math.min(bytes, MAX_STRING));
          items.push(
            cstr(type === 0x101f ? new TextDecoder("utf-16le").decode(sub) : dec.decode(sub)),
          );
          p += 4 + bytes;
          if (type === 0x101f) p += (4 - (bytes % 4)) % 4;
        }
      }
      return items;
    }
    default:
      return { type: `0x${type.toString(16).padStart(4, "0")}` };
  }
}

/** Bytes a variant in a vector takes, padded to 4 ([MS-OLEPS] 2.15). */
function valueSize(dv: DataView, at: number, end: number): number {
  const type = dv.getUint16(at, true);
  const pad = (n: number) => n + ((4 - (n % 4)) % 4);
  switch (type) {
    case 0x0002:
    case 0x000b:
    case 0x0012:
      return 8;
    case 0x0003:
    case 0x0013:
    case 0x0004:
    case 0x0016:
    case 0x0017:
      return 8;
    case 0x0005:
    case 0x0040:
      return 12;
    case 0x001e:
      return at + 8 <= end ? 8 + pad(dv.getUint32(at + 4, true)) : end - at;
    case 0x001f:
      return at + 8 <= end ? 8 + pad(dv.getUint32(at + 4, true) * 2) : end - at;
    default:
      return end - at; // unknown: stop the vector here
  }
}
