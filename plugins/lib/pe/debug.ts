/** The debug directory: entry types and timestamps, and the CodeView record's PDB path and GUID. */
import { DEBUG_TYPES } from "./constants.ts";
import type { Reader } from "../bytes/reader.ts";
import { directory, isoTime, offsetOf, type PeHeaders } from "./headers.ts";

const MAX_ENTRIES = 64;

/** One debug directory entry. */
export interface DebugEntry {
  type: string;
  timestamp: string | null;
  timestamp_raw: number;
  size: number;
  offset: number;
  /** The PDB named by a CodeView (RSDS or NB10) record. */
  pdb?: { signature: string; guid?: string; age: number; path: string };
}

/** A GUID in registry format from its 16 bytes (first three fields little-endian). */
export function guid(b: Uint8Array): string {
  const h = (from: number, to: number, rev: boolean) => {
    const part = [...b.subarray(from, to)];
    if (rev) part.reverse();
    return part.map((x) => x.toString(16).padStart(2, "0")).join("");
  };
  return `${h(0, 4, true)}-${h(4, 6, true)}-${h(6, 8, true)}-${h(8, 10, false)}-${h(10, 16, false)}`
    .toUpperCase();
}

/** Parses the debug directory; throws FormatError when its table is cut. */
export function parseDebug(r: Reader, h: PeHeaders): DebugEntry[] {
  const dir = directory(h, "debug");
  if (!dir) return [];
  const at = offsetOf(h, dir.rva, "debug directory");
  const out: DebugEntry[] = [];
  const n = Math.min(Math.floor(dir.size / 28), MAX_ENTRIES);
  for (let i = 0; i < n; i++) {
    const e = at + i * 28;
    const what = `debug entry ${i}`;
    const type = r.u32(e + 12, what);
    const stamp = r.u32(e + 4, what);
    const size = r.u32(e + 16, what);
    const offset = r.u32(e + 24, what);
    const entry: DebugEntry = {
      type: DEBUG_TYPES[type] ?? String(type),
      timestamp: type === 16 ? null : isoTime(stamp), // REPRO: the stamp is a hash, not a time
      timestamp_raw: stamp,
      size,
      offset,
    };
    if (type === 2 && r.has(offset, 24)) {
      const sig = r.u32(offset, "CodeView signature");
      if (sig === 0x53445352) { // RSDS
        entry.pdb = {
          signature: "RSDS",
          guid: guid(r.bytes(offset + 4, 16, "CodeView GUID")),
          age: r.u32(offset + 20, "CodeView age"),
          path: r.has(offset + 24, 1)
            ? r.cstring(offset + 24, Math.min(size, 1024), "PDB path")
            : "",
        };
      } else if (sig === 0x3031424e) { // NB10
        entry.pdb = {
          signature: "NB10",
          age: r.u32(offset + 12, "CodeView age"),
          path: r.has(offset + 16, 1)
            ? r.cstring(offset + 16, Math.min(size, 1024), "PDB path")
            : "",
        };
      }
    }
    out.push(entry);
  }
  return out;
}
