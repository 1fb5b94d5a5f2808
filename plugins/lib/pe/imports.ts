/** Import and delay-import tables, and the imphash (pefile's definition). */
import { createHash } from "node:crypto";
import { directory, offsetOf, type PeHeaders, rvaToOffset } from "./headers.ts";
import { ordinalName } from "./ordinals.ts";
import { FormatError, hex, type Reader } from "../bytes/reader.ts";

/** Caps: more descriptors or functions than this are cut (and said so). */
export const MAX_IMPORT_DLLS = 1024;
export const MAX_IMPORT_FUNCTIONS = 20_000;

/** One imported DLL and the functions taken from it (by name, or `ord<N>` by ordinal). */
export interface ImportedDll {
  dll: string;
  functions: string[];
  /** Ordinals of the functions imported by ordinal, by their position in `functions`. */
  ordinals?: Record<string, number>;
}

/** What the import tables hold. */
export interface Imports {
  imports: ImportedDll[];
  delay_imports: ImportedDll[];
  truncated: boolean;
  errors: string[];
}

/** Reads one thunk array (names or ordinals), capped by `budget`. */
function readThunks(
  r: Reader,
  h: PeHeaders,
  rva: number,
  what: string,
  budget: { left: number },
  vaBase = 0n,
): ImportedDll["functions"] & { ordinals?: Record<string, number>; cut?: boolean } {
  const out: string[] & { ordinals?: Record<string, number>; cut?: boolean } = [];
  const size = h.is64 ? 8 : 4;
  let off = offsetOf(h, rva, what);
  for (;;) {
    if (budget.left <= 0) {
      out.cut = true;
      break;
    }
    const v = h.is64 ? r.u64(off, what) : BigInt(r.u32(off, what));
    if (v === 0n) break;
    budget.left--;
    const byOrdinal = h.is64 ? (v >> 63n) === 1n : (v >> 31n) === 1n;
    if (byOrdinal) {
      const ord = Number(v & 0xffffn);
      (out.ordinals ??= {})[String(out.length)] = ord;
      out.push(`ord${ord}`);
    } else {
      const nameRva = Number((v - vaBase) & 0x7fffffffn);
      const at = rvaToOffset(h, nameRva + 2);
      if (at === undefined) {
        throw new FormatError(`${what}: function name at RVA ${hex(nameRva)} is not in the file`);
      }
      out.push(r.cstring(at, 512, `${what} function name`));
    }
    off += size;
  }
  return out;
}

/** Parses the import and delay-import directories; errors are collected, not thrown. */
export function parseImports(r: Reader, h: PeHeaders): Imports {
  const res: Imports = { imports: [], delay_imports: [], truncated: false, errors: [] };
  const budget = { left: MAX_IMPORT_FUNCTIONS };
  const imp = directory(h, "import");
  if (imp) {
    try {
      let off = offsetOf(h, imp.rva, "import directory");
      for (let i = 0;; i++, off += 20) {
        if (i >= MAX_IMPORT_DLLS) {
          res.truncated = true;
          break;
        }
        const what = `import descriptor ${i}`;
        const oft = r.u32(off, what);
        const nameRva = r.u32(off + 12, what);
        const ft = r.u32(off + 16, what);
        if (oft === 0 && nameRva === 0 && ft === 0) break;
        const dll = r.cstring(offsetOf(h, nameRva, `${what} DLL name`), 256, `${what} DLL name`);
        const entry: ImportedDll = { dll, functions: [] };
        res.imports.push(entry);
        try {
          const f = readThunks(r, h, oft || ft, `imports of ${dll}`, budget);
          entry.functions = [...f];
          if (f.ordinals) entry.ordinals = f.ordinals;
          if (f.cut) res.truncated = true;
        } catch (e) {
          res.errors.push(message(e));
        }
        if (res.truncated) break;
      }
    } catch (e) {
      res.errors.push(message(e));
    }
  }
  const delay = directory(h, "delay_import");
  if (delay) {
    try {
      let off = offsetOf(h, delay.rva, "delay-import directory");
      for (let i = 0;; i++, off += 32) {
        if (i >= MAX_IMPORT_DLLS) {
          res.truncated = true;
          break;
        }
        const what = `delay-import descriptor ${i}`;
        const attributes = r.u32(off, what);
        const nameField = r.u32(off + 4, what);
        const intField = r.u32(off + 16, what);
        if (nameField === 0 && intField === 0) break;
        // Attributes bit 0 clear: the (VC6-era) descriptor holds VAs, not RVAs.
        const base = (attributes & 1) ? 0n : h.image_base;
        const toRva = (v: number) => Number((BigInt(v) - base) & 0xffffffffn);
        const dll = r.cstring(offsetOf(h, toRva(nameField), `${what} DLL name`), 256, what);
        const entry: ImportedDll = { dll, functions: [] };
        res.delay_imports.push(entry);
        try {
          const f = readThunks(r, h, toRva(intField), `delay imports of ${dll}`, budget, base);
          entry.functions = [...f];
          if (f.ordinals) entry.ordinals = f.ordinals;
          if (f.cut) res.truncated = true;
        } catch (e) {
          res.errors.push(message(e));
        }
        if (res.truncated) break;
      }
    } catch (e) {
      res.errors.push(message(e));
    }
  }
  return res;
}

/**
 * imphash as pefile computes it: md5 of "dll.function" pairs (lower case, dll without a
 * .dll/.ocx/.sys extension, ordinals named through pefile's tables), in table order, joined by
 * commas. Empty when there are no imports.
 */
export function imphash(imports: ImportedDll[]): string {
  if (imports.length === 0) return "";
  const parts: string[] = [];
  for (const entry of imports) {
    let lib = entry.dll.toLowerCase();
    const dot = lib.lastIndexOf(".");
    if (dot >= 0 && ["ocx", "sys", "dll"].includes(lib.slice(dot + 1))) lib = lib.slice(0, dot);
    entry.functions.forEach((fn, i) => {
      const ord = entry.ordinals?.[String(i)];
      const name = ord === undefined ? fn : ordinalName(entry.dll, ord);
      if (name) parts.push(`${lib}.${name.toLowerCase()}`);
    });
  }
  return createHash("md5").update(parts.join(",")).digest("hex");
}

/** An error's message. */
export function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
