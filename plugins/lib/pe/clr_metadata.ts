/**
 * The parts of .NET metadata an analyst reads first (ECMA-335 6th ed., partition II §24): the
 * metadata root and its stream headers, and from the `#~` table stream the Module, Assembly,
 * AssemblyRef, ModuleRef, ImplMap (P/Invoke) and ManifestResource rows, with their names from
 * `#Strings`, keys from `#Blob` and the module GUID from `#GUID`.
 *
 * Hand-written for the reasons in index.ts (no npm PE library reads the CLR header or metadata);
 * only the row sizes of the tables before the ones read are computed (the column schema below),
 * every table offset is checked against the stream and each list is capped, so a hostile row
 * count can neither read past the data nor allocate.
 */
import { createHash } from "node:crypto";
import { guid } from "../office/cfb.ts";
import { FormatError, type Reader, toHex } from "../bytes/reader.ts";

/** Rows kept per table (the rest counted). */
const MAX_ROWS = 256;
const MAX_STREAMS = 16;

/** Coded indexes (§24.2.6): tag bits and the tables they point into. */
const CODED: Record<string, [number, number[]]> = {
  TypeDefOrRef: [2, [0x02, 0x01, 0x1b]],
  HasConstant: [2, [0x04, 0x08, 0x17]],
  HasCustomAttribute: [5, [
    0x06,
    0x04,
    0x01,
    0x02,
    0x08,
    0x09,
    0x0a,
    0x00,
    0x0e,
    0x17,
    0x14,
    0x11,
    0x1a,
    0x1b,
    0x20,
    0x23,
    0x26,
    0x27,
    0x28,
    0x2a,
    0x2c,
    0x2b,
  ]],
  HasFieldMarshal: [1, [0x04, 0x08]],
  HasDeclSecurity: [2, [0x02, 0x06, 0x20]],
  MemberRefParent: [3, [0x02, 0x01, 0x1a, 0x06, 0x1b]],
  HasSemantics: [1, [0x14, 0x17]],
  MethodDefOrRef: [1, [0x06, 0x0a]],
  MemberForwarded: [1, [0x04, 0x06]],
  Implementation: [2, [0x26, 0x23, 0x27]],
  CustomAttributeType: [3, [0x06, 0x0a]],
  ResolutionScope: [2, [0x00, 0x1a, 0x23, 0x01]],
  TypeOrMethodDef: [1, [0x02, 0x06]],
};

/**
 * Columns of tables 0x00-0x2c (§22): "2"/"4" fixed, "S"/"G"/"B" heap indexes, "#NN" an index
 * into table 0xNN, otherwise a coded index name.
 */
const SCHEMA: string[] = [
  "2 S G G G", // 00 Module
  "ResolutionScope S S", // 01 TypeRef
  "4 S S TypeDefOrRef #04 #06", // 02 TypeDef
  "#04", // 03 FieldPtr
  "2 S B", // 04 Field
  "#06", // 05 MethodPtr
  "4 2 2 S B #08", // 06 MethodDef
  "#08", // 07 ParamPtr
  "2 2 S", // 08 Param
  "#02 TypeDefOrRef", // 09 InterfaceImpl
  "MemberRefParent S B", // 0a MemberRef
  "2 HasConstant B", // 0b Constant
  "HasCustomAttribute CustomAttributeType B", // 0c CustomAttribute
  "HasFieldMarshal B", // 0d FieldMarshal
  "2 HasDeclSecurity B", // 0e DeclSecurity
  "2 4 #02", // 0f ClassLayout
  "4 #04", // 10 FieldLayout
  "B", // 11 StandAloneSig
  "#02 #14", // 12 EventMap
  "#14", // 13 EventPtr
  "2 S TypeDefOrRef", // 14 Event
  "#02 #17", // 15 PropertyMap
  "#17", // 16 PropertyPtr
  "2 S B", // 17 Property
  "2 #06 HasSemantics", // 18 MethodSemantics
  "#02 MethodDefOrRef MethodDefOrRef", // 19 MethodImpl
  "S", // 1a ModuleRef
  "B", // 1b TypeSpec
  "2 MemberForwarded S #1a", // 1c ImplMap
  "4 #04", // 1d FieldRVA
  "4 4", // 1e EncLog
  "4", // 1f EncMap
  "4 2 2 2 2 4 B S S", // 20 Assembly
  "4", // 21 AssemblyProcessor
  "4 4 4", // 22 AssemblyOS
  "2 2 2 2 4 B S S B", // 23 AssemblyRef
  "4 #23", // 24 AssemblyRefProcessor
  "4 4 4 #23", // 25 AssemblyRefOS
  "4 S B", // 26 File
  "4 4 S S Implementation", // 27 ExportedType
  "4 4 S Implementation", // 28 ManifestResource
  "#02 #02", // 29 NestedClass
  "2 2 TypeOrMethodDef S", // 2a GenericParam
  "MethodDefOrRef B", // 2b MethodSpec
  "#2a TypeDefOrRef", // 2c GenericParamConstraint
];
const COLUMNS = SCHEMA.map((t) => t.split(" "));
const MODULE = 0x00, MODULEREF = 0x1a, IMPLMAP = 0x1c, ASSEMBLY = 0x20, ASSEMBLYREF = 0x23;
const MANIFESTRESOURCE = 0x28;

/** An assembly or a reference to one. */
export interface AssemblyName {
  name: string;
  version: string;
  culture: string;
  flags: number;
  public_key_token: string | null;
}

/** What the metadata says. */
export interface ClrMetadata {
  version: string;
  streams: { name: string; offset: number; size: number }[];
  module?: { name: string; mvid: string };
  assembly?: AssemblyName & { hash_algorithm: string; public_key: boolean };
  assembly_refs: AssemblyName[];
  module_refs: string[];
  pinvoke: { dll: string; function: string }[];
  manifest_resources: { name: string; offset: number; public: boolean; external: boolean }[];
  /** Tables whose rows were cut at MAX_ROWS. */
  truncated: string[];
  errors: string[];
}

/** SHA-1 algorithm ids of the Assembly table (§23.1.1). */
const HASH_ALGS: Record<number, string> = { 0: "none", 0x8003: "md5", 0x8004: "sha1" };

/** The metadata at file offset `at` (the "BSJB" root), `size` bytes. */
export function parseMetadata(r: Reader, at: number, size: number): ClrMetadata {
  const w = "metadata root";
  if (r.u32(at, w) !== 0x424a5342) throw FormatError.field(w, at, "no BSJB signature");
  const end = Math.min(r.size, at + size);
  const len = r.u32(at + 12, "metadata version length");
  if (len > 255) throw FormatError.field("metadata version length", at + 12, `${len} > 255`);
  const version = r.cstring(at + 16, len, "metadata version");
  let p = at + 16 + len;
  const count = r.u16(p + 2, "metadata stream count");
  p += 4;
  const out: ClrMetadata = {
    version,
    streams: [],
    assembly_refs: [],
    module_refs: [],
    pinvoke: [],
    manifest_resources: [],
    truncated: [],
    errors: [],
  };
  const heaps: Record<string, { start: number; size: number }> = {};
  for (let i = 0; i < Math.min(count, MAX_STREAMS); i++) {
    const offset = r.u32(p, "stream header"), sz = r.u32(p + 4, "stream header");
    const name = r.cstring(p + 8, 32, "stream name");
    p += 8 + ((name.length + 4) & ~3);
    out.streams.push({ name, offset, size: sz });
    if (at + offset + sz > end) {
      out.errors.push(`stream ${name} (${sz} bytes at metadata offset ${offset}) is past the end`);
      continue;
    }
    heaps[name] ??= { start: at + offset, size: sz };
  }
  const tables = heaps["#~"] ?? heaps["#-"];
  if (!tables) {
    out.errors.push("no #~ table stream");
    return out;
  }
  try {
    readTables(r, tables, heaps, out);
  } catch (e) {
    if (!(e instanceof FormatError)) throw e;
    out.errors.push(`tables: ${e.message}`);
  }
  return out;
}

type Heap = { start: number; size: number };

function readTables(r: Reader, t: Heap, heaps: Record<string, Heap>, out: ClrMetadata) {
  const heapSizes = r.u8(t.start + 6, "HeapSizes");
  const lo = r.u32(t.start + 8, "Valid"), hi = r.u32(t.start + 12, "Valid");
  const rows = new Array<number>(64).fill(0);
  let p = t.start + 24;
  for (let i = 0; i < 64; i++) {
    if (!((i < 32 ? lo >>> i : hi >>> (i - 32)) & 1)) continue;
    rows[i] = r.u32(p, "row count");
    p += 4;
  }
  if (heapSizes & 0x40) p += 4; // "#-" streams: an extra dword after the row counts
  const big = (bits: number, tables: number[]) =>
    tables.some((x) => rows[x] >= 1 << (16 - bits)) ? 4 : 2;
  // Only tables that have rows need their column widths: their row sizes place the next ones.
  const size = (col: string): number => {
    if (col === "2" || col === "4") return Number(col);
    if (col === "S") return heapSizes & 1 ? 4 : 2;
    if (col === "G") return heapSizes & 2 ? 4 : 2;
    if (col === "B") return heapSizes & 4 ? 4 : 2;
    if (col[0] === "#") return rows[parseInt(col.slice(1), 16)] >= 0x10000 ? 4 : 2;
    const [bits, tables] = CODED[col];
    return big(bits, tables);
  };
  const layouts = COLUMNS.map((cols, i) => rows[i] ? cols.map(size) : []);
  const tableEnd = t.start + t.size;
  const starts: number[] = [];
  for (let i = 0; i < SCHEMA.length; i++) {
    starts.push(p);
    for (const w of layouts[i]) p += rows[i] * w;
  }
  // A table present past 0x2c would need a schema this reader does not have; the ones read all
  // come before it, so only the overrun of the tables read matters.
  const str = (idx: number) => heapString(r, heaps["#Strings"], idx);
  const blob = (idx: number) => heapBlob(r, heaps["#Blob"], idx);
  const each = (table: number, name: string, f: (col: (i: number) => number) => void) => {
    const widths = layouts[table];
    const rowSize = widths.reduce((a, b) => a + b, 0);
    const n = Math.min(rows[table], MAX_ROWS);
    if (rows[table] > MAX_ROWS) out.truncated.push(name);
    if (n && starts[table] + n * rowSize > tableEnd) {
      throw FormatError.field(name, starts[table], "table runs past the #~ stream");
    }
    const offs: number[] = [];
    for (let i = 0, o = 0; i < widths.length; o += widths[i++]) offs.push(o);
    // The whole table lies inside the stream (checked above), so cells are read unchecked.
    let base = 0;
    const cell = (i: number) =>
      widths[i] === 2
        ? r.view.getUint16(base + offs[i], true)
        : r.view.getUint32(base + offs[i], true);
    for (let row = 0; row < n; row++) {
      base = starts[table] + row * rowSize;
      f(cell);
    }
  };
  each(MODULE, "Module", (c) => {
    const g = heaps["#GUID"], idx = c(2);
    const mvid = g && idx > 0 && (idx - 1) * 16 + 16 <= g.size
      ? guid(r.data, g.start + (idx - 1) * 16)
      : "";
    out.module ??= { name: str(c(1)), mvid };
  });
  each(ASSEMBLY, "Assembly", (c) => {
    const key = blob(c(6));
    out.assembly ??= {
      name: str(c(7)),
      version: `${c(1)}.${c(2)}.${c(3)}.${c(4)}`,
      culture: str(c(8)),
      flags: c(5),
      hash_algorithm: HASH_ALGS[c(0)] ?? `0x${c(0).toString(16)}`,
      public_key: key.length > 0,
      public_key_token: key.length ? keyToken(key) : null,
    };
  });
  each(ASSEMBLYREF, "AssemblyRef", (c) => {
    const key = blob(c(5)), flags = c(4);
    out.assembly_refs.push({
      name: str(c(6)),
      version: `${c(0)}.${c(1)}.${c(2)}.${c(3)}`,
      culture: str(c(7)),
      flags,
      // Flag 1: the blob is the full public key, otherwise its 8-byte token.
      public_key_token: !key.length ? null : flags & 1 ? keyToken(key) : toHex(key),
    });
  });
  each(MODULEREF, "ModuleRef", (c) => out.module_refs.push(str(c(0))));
  each(IMPLMAP, "ImplMap", (c) => {
    out.pinvoke.push({
      dll: out.module_refs[c(3) - 1] ?? `ModuleRef#${c(3)}`,
      function: str(c(2)),
    });
  });
  each(MANIFESTRESOURCE, "ManifestResource", (c) => {
    out.manifest_resources.push({
      name: str(c(2)),
      offset: c(0),
      public: (c(1) & 7) === 1,
      external: c(3) !== 0,
    });
  });
}

/** The public key token: the last 8 bytes of the key's SHA-1, reversed (§6.3). */
function keyToken(key: Uint8Array): string {
  const h = createHash("sha1").update(key).digest();
  return toHex(h.subarray(h.length - 8).reverse());
}

const utf8 = new TextDecoder();

function heapString(r: Reader, h: Heap | undefined, idx: number): string {
  if (!h || idx >= h.size) return "";
  const start = h.start + idx, end = Math.min(h.start + h.size, start + 1024);
  let i = start, ascii = true;
  for (; i < end && r.data[i] !== 0; i++) if (r.data[i] >= 0x80) ascii = false;
  // Names are nearly always ASCII; TextDecoder costs more than the string for a few bytes.
  if (i === start) return "";
  return ascii ? r.cstring(start, i - start) : utf8.decode(r.data.subarray(start, i));
}

/** A #Blob entry: a compressed length (§24.2.4) then the bytes, cut at the heap's end. */
function heapBlob(r: Reader, h: Heap | undefined, idx: number): Uint8Array {
  if (!h || idx === 0 || idx >= h.size) return new Uint8Array();
  const d = r.data, p = h.start + idx, end = h.start + h.size;
  let len: number, skip: number;
  if ((d[p] & 0x80) === 0) [len, skip] = [d[p], 1];
  else if ((d[p] & 0xc0) === 0x80) [len, skip] = [((d[p] & 0x3f) << 8) | d[p + 1], 2];
  else [len, skip] = [((d[p] & 0x1f) << 24 | d[p + 1] << 16 | d[p + 2] << 8 | d[p + 3]) >>> 0, 4];
  return d.subarray(Math.min(end, p + skip), Math.min(end, p + skip + len));
}
