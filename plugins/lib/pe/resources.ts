/**
 * The resource tree (type / name / language) and the version-information resource.
 *
 * VS_VERSIONINFO is parsed here rather than with resedit: resedit's parser loops forever on a
 * block whose length is 0 (it advances by roundUp(0, 4)), which a hostile file can hold, and it
 * needs pe-library's NtExecutable, which refuses images with COFF symbols or a signature.
 */
import { LANGUAGES, RESOURCE_TYPES } from "./constants.ts";
import { directory, offsetOf, type PeHeaders, rvaToOffset } from "./headers.ts";
import { FormatError, hex, Reader } from "../bytes/reader.ts";

export const MAX_RESOURCES = 4096;

/** One leaf of the resource tree. */
export interface ResourceEntry {
  type: string;
  name: string;
  language: number;
  codepage: number;
  rva: number;
  /** File offset of the data, when it is in the file. */
  offset: number | null;
  size: number;
  /** The data (a view into the file), cut to what the file holds. */
  data: Uint8Array;
}

/** The tree's leaves, its root timestamp, and what went wrong where. */
export interface Resources {
  timestamp: number;
  entries: ResourceEntry[];
  truncated: boolean;
  errors: string[];
}

/** Walks the resource tree; returns undefined when there is none. */
export function parseResources(r: Reader, h: PeHeaders): Resources | undefined {
  const dir = directory(h, "resource");
  if (!dir) return undefined;
  const base = offsetOf(h, dir.rva, "resource directory");
  const res: Resources = {
    timestamp: r.u32(base + 4, "resource directory"),
    entries: [],
    truncated: false,
    errors: [],
  };
  const seen = new Set<number>();
  const label = (nameField: number, level: number): string => {
    if (nameField & 0x80000000) {
      const at = base + (nameField & 0x7fffffff);
      const len = r.u16(at, "resource name");
      return r.utf16(at + 2, Math.min(len, 256), "resource name");
    }
    return level === 0 ? RESOURCE_TYPES[nameField] ?? String(nameField) : String(nameField);
  };
  const walk = (rel: number, level: number, path: string[]) => {
    const at = base + rel;
    if (seen.has(at)) throw new FormatError(`resource directory at ${hex(at)} is a loop`, at);
    seen.add(at);
    const what = `resource directory at ${hex(at)}`;
    const n = r.u16(at + 12, what) + r.u16(at + 14, what);
    for (let i = 0; i < n; i++) {
      if (res.entries.length >= MAX_RESOURCES) {
        res.truncated = true;
        return;
      }
      const e = at + 16 + i * 8;
      const nameField = r.u32(e, what);
      const target = r.u32(e + 4, what);
      try {
        if (level === 2) {
          if (target & 0x80000000) continue; // a language level that points deeper: malformed
          res.entries.push(leaf(r, h, base + target, path, nameField));
        } else if (target & 0x80000000) {
          walk(target & 0x7fffffff, level + 1, [...path, label(nameField, level)]);
        }
      } catch (err) {
        res.errors.push(err instanceof Error ? err.message : String(err));
      }
    }
  };
  walk(0, 0, []);
  return res;
}

function leaf(
  r: Reader,
  h: PeHeaders,
  at: number,
  path: string[],
  language: number,
): ResourceEntry {
  const what = `resource data entry at ${hex(at)}`;
  const rva = r.u32(at, what);
  const size = r.u32(at + 4, what);
  const codepage = r.u32(at + 8, what);
  const offset = rvaToOffset(h, rva) ?? null;
  const data = offset === null
    ? new Uint8Array(0)
    : r.data.subarray(offset, Math.min(r.size, offset + size));
  return { type: path[0], name: path[1], language, codepage, rva, offset, size, data };
}

/** "ENGLISH/0x0409"-style name of a LANGID. */
export function languageName(langid: number): string {
  return LANGUAGES[langid & 0x3ff] ?? "UNKNOWN";
}

/** What a version-information resource holds. */
export interface VersionInfo {
  file_version?: string;
  product_version?: string;
  file_flags?: string;
  file_os?: string;
  file_type?: number;
  /** The string table entries (CompanyName, FileDescription, OriginalFilename, ...). */
  strings: Record<string, string>;
  /** Language/codepage of each string table ("040904b0"). */
  string_tables: string[];
  /** VarFileInfo Translation pairs ("0409/04b0"). */
  translations: string[];
}

const MAX_VERSION_BLOCKS = 512;

/** Parses a VS_VERSIONINFO resource; throws FormatError when it is not one. */
export function parseVersionInfo(data: Uint8Array): VersionInfo {
  const r = new Reader(data);
  const out: VersionInfo = { strings: {}, string_tables: [], translations: [] };
  let budget = MAX_VERSION_BLOCKS;
  const align = (n: number) => (n + 3) & ~3;
  // One block: wLength, wValueLength, wType, szKey, padding, Value, padding, Children.
  const block = (at: number, end: number, depth: number) => {
    if (--budget < 0) throw new FormatError("version info: too many blocks", at);
    const len = r.u16(at, "version info block length");
    const valueLen = r.u16(at + 2, "version info value length");
    const type = r.u16(at + 4, "version info value type");
    const stop = Math.min(at + len, end, r.size);
    if (len < 6) throw new FormatError(`version info block at ${hex(at)} is ${len} bytes`, at);
    const key = r.utf16z(at + 6, stop, 128);
    const valueAt = align(key.next);
    const valueBytes = type === 1 ? valueLen * 2 : valueLen;
    return {
      key: key.text,
      type,
      valueAt,
      valueBytes,
      childAt: align(valueAt + valueBytes),
      stop,
      depth,
    };
  };
  const children = (
    at: number,
    stop: number,
    depth: number,
    visit: (b: ReturnType<typeof block>) => void,
  ) => {
    while (at + 6 <= stop) {
      const b = block(at, stop, depth);
      visit(b);
      const next = align(at + r.u16(at, "version info block length"));
      if (next <= at) break;
      at = next;
    }
  };
  const root = block(0, r.size, 0);
  if (root.key !== "VS_VERSION_INFO") {
    throw new FormatError(
      `version info: key is ${JSON.stringify(root.key)}, not VS_VERSION_INFO`,
      6,
    );
  }
  if (
    root.valueBytes >= 52 && r.has(root.valueAt, 52) &&
    r.u32(root.valueAt, "fixed info") === 0xfeef04bd
  ) {
    const v = root.valueAt;
    const ver = (ms: number, ls: number) =>
      `${ms >>> 16}.${ms & 0xffff}.${ls >>> 16}.${ls & 0xffff}`;
    out.file_version = ver(r.u32(v + 8, "fixed info"), r.u32(v + 12, "fixed info"));
    out.product_version = ver(r.u32(v + 16, "fixed info"), r.u32(v + 20, "fixed info"));
    out.file_flags = hex(r.u32(v + 24, "fixed info") & r.u32(v + 28, "fixed info"));
    out.file_os = hex(r.u32(v + 32, "fixed info"));
    out.file_type = r.u32(v + 36, "fixed info");
  }
  children(root.childAt, root.stop, 1, (b) => {
    if (b.key === "StringFileInfo") {
      children(b.childAt, b.stop, 2, (table) => {
        out.string_tables.push(table.key.toLowerCase());
        children(table.childAt, table.stop, 3, (s) => {
          const valueEnd = Math.min(s.stop, s.valueAt + s.valueBytes);
          const value = s.valueBytes ? r.utf16z(s.valueAt, valueEnd, 4096).text : "";
          if (!(s.key in out.strings)) out.strings[s.key] = value;
        });
      });
    } else if (b.key === "VarFileInfo") {
      children(b.childAt, b.stop, 2, (v) => {
        if (v.key !== "Translation") return;
        for (let i = 0; i + 4 <= v.valueBytes && i < 256; i += 4) {
          if (!r.has(v.valueAt + i, 4)) break;
          const lang = r.u16(v.valueAt + i, "translation").toString(16).padStart(4, "0");
          const cp = r.u16(v.valueAt + i + 2, "translation").toString(16).padStart(4, "0");
          out.translations.push(`${lang}/${cp}`);
        }
      });
    }
  });
  return out;
}
