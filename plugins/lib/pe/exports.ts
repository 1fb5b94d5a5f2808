/** The export directory: the DLL's own name, timestamp, and each exported function. */
import { hex, type Reader } from "../bytes/reader.ts";
import { directory, isoTime, offsetOf, type PeHeaders, rvaToOffset } from "./headers.ts";

export const MAX_EXPORTS = 20_000;

/** One exported function. */
export interface ExportedFunction {
  ordinal: number;
  name: string | null;
  rva: number;
  /** "OTHERDLL.Function" when the export forwards to another DLL. */
  forwarder?: string;
}

/** What the export directory says. */
export interface Exports {
  dll_name: string;
  timestamp: number;
  ordinal_base: number;
  functions: ExportedFunction[];
  truncated: boolean;
}

/** Parses the export directory, or returns undefined when there is none; throws FormatError. */
export function parseExports(r: Reader, h: PeHeaders): Exports | undefined {
  const dir = directory(h, "export");
  if (!dir) return undefined;
  const at = offsetOf(h, dir.rva, "export directory");
  const w = "export directory";
  const timestamp = r.u32(at + 4, w);
  const nameRva = r.u32(at + 12, w);
  const base = r.u32(at + 16, w);
  const nFunctions = r.u32(at + 20, w);
  const nNames = r.u32(at + 24, w);
  const fnOff = nFunctions ? offsetOf(h, r.u32(at + 28, w), "export address table") : 0;
  const namesOff = nNames ? offsetOf(h, r.u32(at + 32, w), "export name table") : 0;
  const ordsOff = nNames ? offsetOf(h, r.u32(at + 36, w), "export ordinal table") : 0;
  const nameOff = rvaToOffset(h, nameRva);
  const dll_name = nameOff === undefined ? "" : r.cstring(nameOff, 256, "export DLL name");
  // Names first: the name table maps a name to an index in the address table.
  const names = new Map<number, string>();
  const nn = Math.min(nNames, MAX_EXPORTS);
  for (let i = 0; i < nn; i++) {
    const idx = r.u16(ordsOff + i * 2, "export ordinal table");
    const off = rvaToOffset(h, r.u32(namesOff + i * 4, "export name table"));
    if (off !== undefined && !names.has(idx)) names.set(idx, r.cstring(off, 512, "export name"));
  }
  const functions: ExportedFunction[] = [];
  const nf = Math.min(nFunctions, MAX_EXPORTS);
  for (let i = 0; i < nf; i++) {
    const rva = r.u32(fnOff + i * 4, "export address table");
    if (rva === 0) continue;
    const f: ExportedFunction = { ordinal: base + i, name: names.get(i) ?? null, rva };
    // An address inside the export directory is a forwarder string, not code.
    if (rva >= dir.rva && rva < dir.rva + dir.size) {
      const off = rvaToOffset(h, rva);
      if (off !== undefined) f.forwarder = r.cstring(off, 512, `forwarder of export ${hex(rva)}`);
    }
    functions.push(f);
  }
  return {
    dll_name,
    timestamp,
    ordinal_base: base,
    functions,
    truncated: nFunctions > MAX_EXPORTS || nNames > MAX_EXPORTS,
  };
}

/** The export table as the plugin reports it. */
export function describeExports(e: Exports) {
  return {
    dll_name: e.dll_name,
    timestamp: isoTime(e.timestamp),
    ordinal_base: e.ordinal_base,
    count: e.functions.length,
    functions: e.functions,
    ...(e.truncated ? { truncated: true } : {}),
  };
}
