/**
 * Mach-O parser (Apple's <mach-o/loader.h>, <mach-o/fat.h>, <mach-o/nlist.h> and the code
 * signing blob layout of <Security/CSCommon.h> as published in Apple's open-source cctools and
 * dyld). Hand-written because no npm package fits: LIEF has only native bindings, `macho` and
 * `fatmacho` are unmaintained (Node Buffers, no caps, no LC_BUILD_VERSION or code signature), and
 * a Kaitai-generated parser reads every table eagerly with no bound. Every read goes through
 * lib/bytes/reader.ts, every list is capped, and a broken part is reported by name while the
 * rest is kept.
 */
import { shannon } from "../text/entropy.ts";
import { FormatError, messageOf, nameOf, Reader } from "../bytes/reader.ts";
import {
  archName,
  FILE_TYPE,
  HEADER_FLAGS,
  LOAD_COMMAND,
  PLATFORM,
  SECTION_TYPE,
  TOOL,
} from "./names.ts";

/** Caps on what is listed. */
export interface MachoLimits {
  load_commands: number;
  sections: number;
  symbols: number;
  /** MD5 as hex, for the symhash (the plugin passes node:crypto's, loaded lazily). */
  md5: (text: string) => string;
}

export interface FatArch {
  index: number;
  arch: string;
  cpu_type: number;
  cpu_subtype: number;
  offset: number;
  size: number;
  align: number;
}

export interface FatInfo {
  magic: "FAT_MAGIC" | "FAT_MAGIC_64";
  architectures: FatArch[];
}

export interface MachoSection {
  name: string;
  segment: string;
  type: string;
  address: string;
  size: number;
  offset: number;
  entropy?: number;
}

export interface MachoSegment {
  name: string;
  vmaddr: string;
  vmsize: string;
  file_offset: number;
  file_size: number;
  max_protection: string;
  initial_protection: string;
  section_count: number;
}

export interface Dylib {
  name: string;
  kind: "load" | "weak" | "reexport" | "lazy" | "upward";
  current_version: string;
  compatibility_version: string;
}

export interface MachoInfo {
  magic: "MH_MAGIC" | "MH_MAGIC_64";
  endianness: "little" | "big";
  arch: string;
  cpu_type: number;
  cpu_subtype: number;
  file_type: string;
  flags: string[];
  load_command_count: number;
  load_commands_size: number;
  load_commands: { cmd: string; size: number }[];
  load_commands_truncated?: boolean;
  segments: MachoSegment[];
  sections: MachoSection[];
  sections_truncated?: boolean;
  dylibs: Dylib[];
  id_dylib?: string;
  dylinker?: string;
  rpaths: string[];
  uuid?: string;
  entry_point?: { file_offset: number; stack_size: number };
  build_version?: { platform: string; min_os: string; sdk: string; tools: string[] };
  version_min?: { platform: string; min_os: string; sdk: string };
  source_version?: string;
  code_signature?: {
    offset: number;
    size: number;
    identifier?: string;
    team_id?: string;
    adhoc?: boolean;
    cms_signature?: boolean;
  };
  encryption?: { offset: number; size: number; cryptid: number };
  symbols: {
    imported: string[];
    exported: string[];
    imported_count: number;
    exported_count: number;
    local_count: number;
    truncated?: boolean;
  };
  /** md5 over the sorted, comma-joined imported (undefined external) symbol names. */
  symhash?: string;
  /** No symbol table, or one without local symbols. */
  stripped: boolean;
  pie: boolean;
  allows_stack_execution: boolean;
}

export type MachoParse =
  | { kind: "fat"; fat?: FatInfo; errors: string[] }
  | { kind: "thin"; info?: MachoInfo; errors: string[] };

const FAT_MAGIC = 0xcafebabe, FAT_MAGIC_64 = 0xcafebabf;
/** Architectures read at most from a fat header (real ones hold a handful). */
const MAX_FAT_ARCHS = 64;
/** Symbols read at most, whatever the listing cap. */
const MAX_SYMBOLS_READ = 200_000;
const LC = {
  SEGMENT: 0x1,
  SYMTAB: 0x2,
  DYSYMTAB: 0xb,
  LOAD_DYLIB: 0xc,
  ID_DYLIB: 0xd,
  LOAD_DYLINKER: 0xe,
  LOAD_WEAK_DYLIB: 0x80000018,
  SEGMENT_64: 0x19,
  UUID: 0x1b,
  RPATH: 0x8000001c,
  CODE_SIGNATURE: 0x1d,
  REEXPORT_DYLIB: 0x8000001f,
  LAZY_LOAD_DYLIB: 0x20,
  ENCRYPTION_INFO: 0x21,
  LOAD_UPWARD_DYLIB: 0x80000023,
  VERSION_MIN_MACOSX: 0x24,
  VERSION_MIN_IPHONEOS: 0x25,
  MAIN: 0x80000028,
  SOURCE_VERSION: 0x2a,
  ENCRYPTION_INFO_64: 0x2c,
  VERSION_MIN_TVOS: 0x2f,
  VERSION_MIN_WATCHOS: 0x30,
  BUILD_VERSION: 0x32,
};
// Maps, not objects: a load command number at or past 2^31 (LC_MAIN, LC_RPATH...) used as an
// object key makes V8's optimised code bail out on every call.
const DYLIB_KIND = new Map<number, Dylib["kind"]>([
  [LC.LOAD_DYLIB, "load"],
  [LC.LOAD_WEAK_DYLIB, "weak"],
  [LC.REEXPORT_DYLIB, "reexport"],
  [LC.LAZY_LOAD_DYLIB, "lazy"],
  [LC.LOAD_UPWARD_DYLIB, "upward"],
]);
const VERSION_MIN_PLATFORM = new Map<number, string>([
  [LC.VERSION_MIN_MACOSX, "macos"],
  [LC.VERSION_MIN_IPHONEOS, "ios"],
  [LC.VERSION_MIN_TVOS, "tvos"],
  [LC.VERSION_MIN_WATCHOS, "watchos"],
]);

/** Whether `data` starts with a fat header: CAFEBABE (or CAFEBABF) then a small arch count. */
export function isFat(data: Uint8Array): boolean {
  if (data.length < 8) return false;
  const magic = be32(data, 0), count = be32(data, 4);
  return (magic === FAT_MAGIC || magic === FAT_MAGIC_64) && count > 0 && count < 45;
}

/** A big-endian u32 of bytes known to be there (no view needed for one header word). */
function be32(data: Uint8Array, o: number): number {
  return ((data[o] << 24) | (data[o + 1] << 16) | (data[o + 2] << 8) | data[o + 3]) >>> 0;
}

/** Thin header magics read little-endian: [the file is little-endian, the file is 64-bit]. */
const THIN_MAGIC = new Map<number, [boolean, boolean]>([
  [0xfeedface, [true, false]],
  [0xfeedfacf, [true, true]],
  [0xcefaedfe, [false, false]],
  [0xcffaedfe, [false, true]],
]);

/** Parses a thin Mach-O or a fat header. Never throws for malformed input. */
export function parseMacho(data: Uint8Array, limits: MachoLimits): MachoParse {
  if (isFat(data)) return parseFat(data);
  return parseThin(data, limits);
}

function parseFat(data: Uint8Array): MachoParse {
  const r = new Reader(data, false);
  const is64 = r.u32(0) === FAT_MAGIC_64;
  const fat: FatInfo = { magic: is64 ? "FAT_MAGIC_64" : "FAT_MAGIC", architectures: [] };
  const errors: string[] = [];
  const n = r.u32(4);
  if (n > MAX_FAT_ARCHS) errors.push(`fat header: ${n} architectures, only ${MAX_FAT_ARCHS} read`);
  const size = is64 ? 32 : 20;
  try {
    for (let i = 0; i < Math.min(n, MAX_FAT_ARCHS); i++) {
      const o = 8 + i * size;
      const cpu_type = r.i32(o, "fat_arch cputype"), cpu_subtype = r.i32(o + 4, "cpusubtype");
      const offset = is64 ? r.u64n(o + 8, "fat_arch offset") : r.u32(o + 8, "fat_arch offset");
      const len = is64 ? r.u64n(o + 16, "fat_arch size") : r.u32(o + 12, "fat_arch size");
      const alignLog = r.u32(o + (is64 ? 24 : 16), "fat_arch align");
      const arch: FatArch = {
        index: i,
        arch: archName(cpu_type, cpu_subtype),
        cpu_type,
        cpu_subtype: cpu_subtype & 0x00ffffff,
        offset,
        size: len,
        align: alignLog < 31 ? 2 ** alignLog : alignLog,
      };
      if (offset < 8 + n * size || offset + len > data.length) {
        errors.push(
          `fat architecture ${i} (${arch.arch}): slice at offset ${offset} of ${len} bytes is outside the file (${data.length} bytes) or overlaps the fat header`,
        );
      }
      fat.architectures.push(arch);
    }
  } catch (e) {
    errors.push(`fat header: ${messageOf(e)}`);
  }
  return { kind: "fat", fat, errors };
}

function parseThin(data: Uint8Array, limits: MachoLimits): MachoParse {
  const errors: string[] = [];
  if (data.length < 28) return { kind: "thin", errors: ["Mach-O header: shorter than 28 bytes"] };
  const le = (data[0] | (data[1] << 8) | (data[2] << 16) | (data[3] << 24)) >>> 0;
  const magic = THIN_MAGIC.get(le);
  if (!magic) {
    return { kind: "thin", errors: [`not a Mach-O file: magic 0x${le.toString(16)} at offset 0`] };
  }
  const [little, is64] = magic;
  const r = new Reader(data, little);
  const cpu_type = r.i32(4), cpu_subtype = r.i32(8);
  const ncmds = r.u32(16), sizeofcmds = r.u32(20), flags = r.u32(24);
  const info: MachoInfo = {
    magic: is64 ? "MH_MAGIC_64" : "MH_MAGIC",
    endianness: little ? "little" : "big",
    arch: archName(cpu_type, cpu_subtype),
    cpu_type,
    cpu_subtype: cpu_subtype & 0x00ffffff,
    file_type: nameOf(FILE_TYPE, r.u32(12)),
    flags: HEADER_FLAGS.filter(([bit]) => (flags & bit) !== 0).map(([, n]) => n),
    load_command_count: ncmds,
    load_commands_size: sizeofcmds,
    load_commands: [],
    segments: [],
    sections: [],
    dylibs: [],
    rpaths: [],
    symbols: { imported: [], exported: [], imported_count: 0, exported_count: 0, local_count: 0 },
    stripped: true,
    pie: (flags & 0x200000) !== 0,
    allows_stack_execution: (flags & 0x20000) !== 0,
  };
  const start = is64 ? 32 : 28;
  const end = start + sizeofcmds;
  if (end > data.length) {
    errors.push(
      `load commands: sizeofcmds ${sizeofcmds} runs past the end of the file (${data.length} bytes)`,
    );
  }
  let symtab: { symoff: number; nsyms: number; stroff: number; strsize: number } | undefined;
  let o = start;
  for (let i = 0; i < ncmds; i++) {
    if (o + 8 > Math.min(end, data.length)) {
      errors.push(`load command ${i} at offset ${o}: outside the load command area`);
      break;
    }
    const cmd = r.u32(o), size = r.u32(o + 4);
    if (size < 8 || o + size > data.length) {
      errors.push(
        `load command ${i} (${nameOf(LOAD_COMMAND, cmd)}) at offset ${o}: size ${size} is invalid`,
      );
      break;
    }
    if (info.load_commands.length < limits.load_commands) {
      info.load_commands.push({ cmd: nameOf(LOAD_COMMAND, cmd), size });
    } else info.load_commands_truncated = true;
    try {
      const lcString = (at: number, what: string) => {
        const off = r.u32(o + at, what);
        if (off < 8 || off >= size) {
          throw FormatError.field(what, o + at, `offset ${off} outside the command`);
        }
        return r.cstring(o + off, size - off, what);
      };
      if (cmd === LC.SEGMENT || cmd === LC.SEGMENT_64) {
        readSegment(r, o, cmd === LC.SEGMENT_64, info, limits, size);
      } else if (DYLIB_KIND.has(cmd)) {
        if (info.dylibs.length < limits.symbols) {
          info.dylibs.push({
            name: lcString(8, "dylib name"),
            kind: DYLIB_KIND.get(cmd)!,
            current_version: version(r.u32(o + 16)),
            compatibility_version: version(r.u32(o + 20)),
          });
        }
      } else if (cmd === LC.ID_DYLIB) info.id_dylib = lcString(8, "dylib name");
      else if (cmd === LC.LOAD_DYLINKER) info.dylinker = lcString(8, "dylinker name");
      else if (cmd === LC.RPATH) {
        if (info.rpaths.length < limits.symbols) info.rpaths.push(lcString(8, "rpath"));
      } else if (cmd === LC.UUID) info.uuid = uuid(r.hexBytes(o + 8, 16, "uuid"));
      else if (cmd === LC.MAIN) {
        info.entry_point = {
          file_offset: r.u64n(o + 8, "entryoff"),
          stack_size: r.u64n(o + 16, "stacksize"),
        };
      } else if (cmd === LC.BUILD_VERSION) {
        const ntools = Math.min(r.u32(o + 20, "ntools"), Math.floor((size - 24) / 8), 16);
        const tools: string[] = [];
        for (let t = 0; t < ntools; t++) {
          tools.push(`${nameOf(TOOL, r.u32(o + 24 + t * 8))} ${version(r.u32(o + 28 + t * 8))}`);
        }
        info.build_version = {
          platform: nameOf(PLATFORM, r.u32(o + 8, "platform")),
          min_os: osVersion(r.u32(o + 12, "minos")),
          sdk: sdkVersion(r.u32(o + 16, "sdk")),
          tools,
        };
      } else if (VERSION_MIN_PLATFORM.has(cmd)) {
        info.version_min = {
          platform: VERSION_MIN_PLATFORM.get(cmd)!,
          min_os: osVersion(r.u32(o + 8, "version")),
          sdk: sdkVersion(r.u32(o + 12, "sdk")),
        };
      } else if (cmd === LC.SOURCE_VERSION) {
        const v = r.u64(o + 8, "source version");
        info.source_version = [
          v >> 40n,
          (v >> 30n) & 0x3ffn,
          (v >> 20n) & 0x3ffn,
          (v >> 10n) & 0x3ffn,
          v & 0x3ffn,
        ]
          .join(".");
      } else if (cmd === LC.CODE_SIGNATURE) {
        info.code_signature = { offset: r.u32(o + 8, "dataoff"), size: r.u32(o + 12, "datasize") };
      } else if (cmd === LC.ENCRYPTION_INFO || cmd === LC.ENCRYPTION_INFO_64) {
        info.encryption = {
          offset: r.u32(o + 8, "cryptoff"),
          size: r.u32(o + 12, "cryptsize"),
          cryptid: r.u32(o + 16, "cryptid"),
        };
      } else if (cmd === LC.SYMTAB) {
        symtab = {
          symoff: r.u32(o + 8, "symoff"),
          nsyms: r.u32(o + 12, "nsyms"),
          stroff: r.u32(o + 16, "stroff"),
          strsize: r.u32(o + 20, "strsize"),
        };
      }
    } catch (e) {
      errors.push(
        `load command ${i} (${nameOf(LOAD_COMMAND, cmd)}) at offset ${o}: ${messageOf(e)}`,
      );
    }
    o += size;
  }
  if (symtab) {
    try {
      readSymbols(r, symtab, is64, info, limits);
    } catch (e) {
      errors.push(`symbol table: ${messageOf(e)}`);
    }
  }
  if (info.code_signature) {
    try {
      // Signature blobs are big-endian on every architecture.
      readCodeSignature(little ? r.swapped() : r, info.code_signature);
    } catch (e) {
      errors.push(`code signature: ${messageOf(e)}`);
    }
  }
  return { kind: "thin", info, errors };
}

function readSegment(
  r: Reader,
  o: number,
  is64: boolean,
  info: MachoInfo,
  limits: MachoLimits,
  cmdSize: number,
): void {
  const name = r.fixedString(o + 8, 16, "segname");
  const at = (o32: number, o64: number) => o + (is64 ? o64 : o32);
  const nsects = r.u32(at(48, 64), "nsects");
  const prot = (v: number) => (v & 1 ? "r" : "-") + (v & 2 ? "w" : "-") + (v & 4 ? "x" : "-");
  info.segments.push({
    name,
    vmaddr: r.addr(at(24, 24), is64, "vmaddr"),
    vmsize: r.addr(at(28, 32), is64, "vmsize"),
    file_offset: r.word(at(32, 40), is64, "fileoff"),
    file_size: r.word(at(36, 48), is64, "filesize"),
    max_protection: prot(r.u32(at(40, 56), "maxprot")),
    initial_protection: prot(r.u32(at(44, 60), "initprot")),
    section_count: nsects,
  });
  const headerSize = is64 ? 72 : 56, sectSize = is64 ? 80 : 68;
  if (headerSize + nsects * sectSize > cmdSize) {
    throw FormatError.field(
      "nsects",
      at(48, 64),
      `${nsects} sections do not fit the command (${cmdSize} bytes)`,
    );
  }
  for (let s = 0; s < nsects; s++) {
    if (info.sections.length >= limits.sections) {
      info.sections_truncated = true;
      return;
    }
    const so = o + headerSize + s * sectSize;
    const size = is64 ? r.u64n(so + 40, "section size") : r.u32(so + 36, "section size");
    const offset = r.u32(so + (is64 ? 48 : 40), "section offset");
    const type = r.u32(so + (is64 ? 64 : 56), "section flags") & 0xff;
    const sect: MachoSection = {
      name: r.fixedString(so, 16, "sectname"),
      segment: r.fixedString(so + 16, 16, "segname"),
      type: nameOf(SECTION_TYPE, type),
      address: r.addr(so + 32, is64, "section addr"),
      size,
      offset,
    };
    const zerofill = type === 1 || type === 12 || type === 18;
    if (!zerofill && size > 0 && offset > 0 && r.has(offset, size)) {
      sect.entropy = Math.round(shannon(r.data, offset, offset + size) * 1e4) / 1e4;
    }
    info.sections.push(sect);
  }
}

function readSymbols(
  r: Reader,
  st: { symoff: number; nsyms: number; stroff: number; strsize: number },
  is64: boolean,
  info: MachoInfo,
  limits: MachoLimits,
): void {
  const entSize = is64 ? 16 : 12;
  const n = Math.min(st.nsyms, MAX_SYMBOLS_READ);
  r.need(st.symoff, n * entSize, "symbol table (symoff, nsyms)");
  r.need(st.stroff, st.strsize, "string table (stroff, strsize)");
  const imported: string[] = [], exported: string[] = [];
  let locals = 0;
  for (let i = 0; i < n; i++) {
    const o = st.symoff + i * entSize;
    const strx = r.u32(o), type = r.u8(o + 4);
    if (type & 0xe0) continue; // N_STAB: debugger entries
    const ext = (type & 0x01) !== 0, pext = (type & 0x10) !== 0, kind = type & 0x0e;
    if (!ext) {
      locals++;
      continue;
    }
    if (strx === 0 || strx >= st.strsize) continue;
    const name = r.cstring(st.stroff + strx, Math.min(1024, st.strsize - strx));
    if (kind === 0x0) imported.push(name);
    else if (kind === 0x0e && !pext) exported.push(name);
  }
  const cap = limits.symbols;
  info.symbols = {
    imported: imported.slice(0, cap),
    exported: exported.slice(0, cap),
    imported_count: imported.length,
    exported_count: exported.length,
    local_count: locals,
  };
  if (st.nsyms > n || imported.length > cap || exported.length > cap) info.symbols.truncated = true;
  info.stripped = locals === 0;
  if (imported.length) info.symhash = limits.md5([...new Set(imported)].sort().join(","));
}

/** Reads the code directory's identifier, team and flags from the signature SuperBlob. */
function readCodeSignature(r: Reader, sig: NonNullable<MachoInfo["code_signature"]>): void {
  r.need(sig.offset, sig.size, "code signature (dataoff, datasize)");
  const base = sig.offset;
  if (r.u32(base, "SuperBlob magic") !== 0xfade0cc0) {
    throw FormatError.field("SuperBlob magic", base, "not 0xfade0cc0");
  }
  const count = Math.min(r.u32(base + 8, "blob count"), 64);
  for (let i = 0; i < count; i++) {
    const blobOff = r.u32(base + 12 + i * 8 + 4, "blob offset");
    if (blobOff >= sig.size) {
      throw FormatError.field("blob offset", base + 16 + i * 8, "outside the signature");
    }
    const b = base + blobOff;
    const magic = r.u32(b, "blob magic");
    if (magic === 0xfade0b01) sig.cms_signature = r.u32(b + 4, "blob length") > 8;
    if (magic !== 0xfade0c02 || sig.identifier !== undefined) continue;
    const cdLen = r.u32(b + 4, "CodeDirectory length");
    const version = r.u32(b + 8, "CodeDirectory version");
    sig.adhoc = (r.u32(b + 12, "CodeDirectory flags") & 0x2) !== 0;
    const identOff = r.u32(b + 20, "identOffset");
    if (identOff < cdLen) sig.identifier = r.cstring(b + identOff, cdLen - identOff, "identifier");
    if (version >= 0x20200 && cdLen >= 52) {
      const teamOff = r.u32(b + 48, "teamOffset");
      if (teamOff && teamOff < cdLen) {
        sig.team_id = r.cstring(b + teamOff, cdLen - teamOff, "team id");
      }
    }
  }
}

/** A packed xxxx.yy.zz version as text (dylib versions: all three parts, as otool prints them). */
function version(v: number): string {
  return `${v >>> 16}.${(v >> 8) & 0xff}.${v & 0xff}`;
}

/** An OS or SDK version: x.y, and .z only when it is not 0 (as otool prints them). */
function osVersion(v: number): string {
  return (v & 0xff) ? version(v) : `${v >>> 16}.${(v >> 8) & 0xff}`;
}

/** An SDK version; 0 means none was recorded ("n/a", as otool prints it). */
function sdkVersion(v: number): string {
  return v === 0 ? "n/a" : osVersion(v);
}

function uuid(h: string): string {
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
    .toUpperCase();
}
