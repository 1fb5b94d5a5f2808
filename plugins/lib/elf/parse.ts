/**
 * ELF parser (System V gABI 4.1 with the 2003+ updates, LSB 5 for the GNU extensions: GNU_STACK,
 * GNU_RELRO, build-id notes, DT_FLAGS_1). Hand-written because no npm package fits: LIEF has
 * only native bindings, `elfy`/`elf-tools`/`elfinfo` are unmaintained, read whole tables without
 * caps and report no dynamic section, notes or symbol classes, and a Kaitai-generated parser
 * reads every table eagerly with no bound. This one reads each table through bounds-checked
 * reads (lib/bytes/reader.ts), caps every list, and reports the part that broke by name while
 * keeping what the other parts gave.
 */
import { shannon } from "../text/entropy.ts";
import { FormatError, hex, messageOf, nameOf, Reader } from "../bytes/reader.ts";
import { FILE_TYPE, MACHINE, OS_ABI, SECTION_FLAGS, SECTION_TYPE, SEGMENT_TYPE } from "./names.ts";

/** Caps on what is listed (tables longer than this are read only that far). */
export interface ElfLimits {
  sections: number;
  segments: number;
  symbols: number;
  /** MD5 as hex, for the symhash (the plugin passes node:crypto's, loaded lazily). */
  md5: (text: string) => string;
}

export interface ElfSegment {
  type: string;
  flags: string;
  offset: number;
  vaddr: string;
  file_size: number;
  mem_size: number;
  align: number;
}

export interface ElfSection {
  index: number;
  name: string;
  type: string;
  flags: string;
  address: string;
  offset: number;
  size: number;
  entropy?: number;
}

export interface ElfSymbol {
  name: string;
  type: string;
  bind: string;
}

export interface ElfInfo {
  class: "ELF32" | "ELF64";
  endianness: "little" | "big";
  os_abi: string;
  abi_version: number;
  type: string;
  machine: string;
  machine_id: number;
  entry_point: string;
  flags: string;
  header: {
    program_header_offset: number;
    program_header_count: number;
    section_header_offset: number;
    section_header_count: number;
    section_name_index: number;
  };
  interpreter?: string;
  build_id?: string;
  abi_tag?: string;
  soname?: string;
  needed: string[];
  rpath?: string;
  runpath?: string;
  segments: ElfSegment[];
  segments_truncated?: boolean;
  sections: ElfSection[];
  sections_truncated?: boolean;
  symbols: {
    source: ".dynsym" | ".symtab" | "none";
    imported: string[];
    exported: string[];
    imported_count: number;
    exported_count: number;
    truncated?: boolean;
  };
  /** md5 over the sorted, comma-joined imported symbol names (Strelka/stoQ symhash). */
  symhash?: string;
  /** No .symtab: only the dynamic symbols survive. */
  stripped: boolean;
  /** An executable with no dynamic section (linked statically). */
  static: boolean;
  security: {
    nx: boolean;
    pie: boolean;
    relro: "full" | "partial" | "none";
    stack_canary: boolean;
    fortify: boolean;
    bind_now: boolean;
  };
}

/** What the parser gives: everything it could read, and what stopped it where. */
export interface ElfParse {
  info?: ElfInfo;
  errors: string[];
}

const PF = { X: 1, W: 2, R: 4 };
const PT_LOAD = 1, PT_DYNAMIC = 2, PT_INTERP = 3, PT_NOTE = 4;
const PT_GNU_STACK = 0x6474e551, PT_GNU_RELRO = 0x6474e552;
const SHT_SYMTAB = 2, SHT_STRTAB = 3, SHT_DYNAMIC = 6, SHT_NOTE = 7, SHT_NOBITS = 8;
const SHT_DYNSYM = 11;
const DT = {
  NULL: 0,
  NEEDED: 1,
  STRTAB: 5,
  STRSZ: 10,
  SONAME: 14,
  RPATH: 15,
  BIND_NOW: 24,
  RUNPATH: 29,
  FLAGS: 30,
  FLAGS_1: 0x6ffffffb,
};
const DF_BIND_NOW = 0x8, DF_1_NOW = 0x1, DF_1_PIE = 0x08000000;
/** Dynamic entries read at most (real files have a few dozen). */
const MAX_DYNAMIC = 4096;
/** Symbols read at most per table, whatever the listing cap. */
const MAX_SYMBOLS_READ = 200_000;
/** Notes read at most. */
const MAX_NOTES = 256;

interface RawSection {
  nameOffset: number;
  type: number;
  flags: number;
  addr: string;
  offset: number;
  size: number;
  link: number;
  entsize: number;
}
interface RawSegment {
  type: number;
  flags: number;
  offset: number;
  vaddr: number;
  filesz: number;
  align: number;
}

/** Whether `data` starts with an ELF identification this parser reads. */
export function isElf(data: Uint8Array): boolean {
  return data.length >= 16 && data[0] === 0x7f && data[1] === 0x45 && data[2] === 0x4c &&
    data[3] === 0x46;
}

/** Parses an ELF file. Never throws for malformed input: errors name what broke and where. */
export function parseElf(data: Uint8Array, limits: ElfLimits): ElfParse {
  const errors: string[] = [];
  if (!isElf(data)) return { errors: ["not an ELF file: no \\x7fELF magic at offset 0"] };
  const cls = data[4], enc = data[5];
  if (cls !== 1 && cls !== 2) {
    return { errors: [`ELF class byte ${cls} at offset 4 is not 1 or 2`] };
  }
  if (enc !== 1 && enc !== 2) {
    return { errors: [`ELF data encoding byte ${enc} at offset 5 is not 1 or 2`] };
  }
  const is64 = cls === 2;
  const r = new Reader(data, enc === 1);
  let info: ElfInfo;
  let phoff: number, shoff: number, phentsize: number, shentsize: number;
  let phnum: number, shnum: number, shstrndx: number;
  try {
    const w = (o32: number, o64: number, what: string) => r.word(is64 ? o64 : o32, is64, what);
    phoff = w(28, 32, "e_phoff");
    shoff = w(32, 40, "e_shoff");
    const at = (o32: number, o64: number) => is64 ? o64 : o32;
    phentsize = r.u16(at(42, 54), "e_phentsize");
    phnum = r.u16(at(44, 56), "e_phnum");
    shentsize = r.u16(at(46, 58), "e_shentsize");
    shnum = r.u16(at(48, 60), "e_shnum");
    shstrndx = r.u16(at(50, 62), "e_shstrndx");
    const machineId = r.u16(18, "e_machine");
    info = {
      class: is64 ? "ELF64" : "ELF32",
      endianness: enc === 1 ? "little" : "big",
      os_abi: nameOf(OS_ABI, data[7]),
      abi_version: data[8],
      type: nameOf(FILE_TYPE, r.u16(16, "e_type")),
      machine: nameOf(MACHINE, machineId),
      machine_id: machineId,
      entry_point: r.addr(24, is64, "e_entry"),
      flags: hex(r.u32(at(36, 48), "e_flags")),
      header: {
        program_header_offset: phoff,
        program_header_count: phnum,
        section_header_offset: shoff,
        section_header_count: shnum,
        section_name_index: shstrndx,
      },
      needed: [],
      segments: [],
      sections: [],
      symbols: {
        source: "none",
        imported: [],
        exported: [],
        imported_count: 0,
        exported_count: 0,
      },
      stripped: true,
      static: false,
      security: {
        nx: false,
        pie: false,
        relro: "none",
        stack_canary: false,
        fortify: false,
        bind_now: false,
      },
    };
  } catch (e) {
    return { errors: [`ELF header: ${messageOf(e)}`] };
  }
  const part = (what: string, f: () => void) => {
    try {
      f();
    } catch (e) {
      errors.push(`${what}: ${messageOf(e)}`);
    }
  };

  // Section headers first: extended numbering keeps the real counts in section 0.
  const sections: RawSection[] = [];
  part("section headers", () => {
    if (shoff === 0) return;
    const minSize = is64 ? 64 : 40;
    if (shentsize < minSize) {
      throw FormatError.field("e_shentsize", is64 ? 58 : 46, `${shentsize} < ${minSize}`);
    }
    const first = readSection(r, shoff, is64);
    if (shnum === 0) {
      shnum = Math.min(first.size, Math.floor((data.length - shoff) / shentsize) + 1);
      info.header.section_header_count = shnum;
    }
    if (shstrndx === 0xffff) {
      shstrndx = first.link;
      info.header.section_name_index = shstrndx;
    }
    sections.push(first);
    for (let i = 1; i < shnum; i++) sections.push(readSection(r, shoff + i * shentsize, is64));
  });
  const shstr = sections[shstrndx];
  const sectionName = (s: RawSection) => {
    if (!shstr || shstr.type === SHT_NOBITS) return "";
    if (s.nameOffset >= shstr.size) return "";
    return r.cstring(shstr.offset + s.nameOffset, Math.min(256, shstr.size - s.nameOffset));
  };
  part("section table", () => {
    for (let i = 0; i < sections.length && info.sections.length < limits.sections; i++) {
      const s = sections[i];
      const out: ElfSection = {
        index: i,
        name: sectionName(s),
        type: nameOf(SECTION_TYPE, s.type),
        flags: sectionFlags(s.flags),
        address: s.addr,
        offset: s.offset,
        size: s.size,
      };
      if (s.type !== SHT_NOBITS && s.size > 0 && r.has(s.offset, s.size)) {
        out.entropy = round(shannon(data, s.offset, s.offset + s.size));
      }
      info.sections.push(out);
    }
    if (sections.length > limits.sections) info.sections_truncated = true;
  });

  const segments: RawSegment[] = [];
  part("program headers", () => {
    if (phoff === 0 || phnum === 0) return;
    const minSize = is64 ? 56 : 32;
    if (phentsize < minSize) {
      throw FormatError.field("e_phentsize", is64 ? 54 : 42, `${phentsize} < ${minSize}`);
    }
    for (let i = 0; i < phnum; i++) {
      const o = phoff + i * phentsize;
      const seg: RawSegment = is64
        ? {
          type: r.u32(o, "p_type"),
          flags: r.u32(o + 4, "p_flags"),
          offset: r.u64n(o + 8, "p_offset"),
          vaddr: r.u64f(o + 16, "p_vaddr"),
          filesz: r.u64n(o + 32, "p_filesz"),
          align: r.u64n(o + 48, "p_align"),
        }
        : {
          type: r.u32(o, "p_type"),
          offset: r.u32(o + 4, "p_offset"),
          vaddr: r.u32(o + 8, "p_vaddr"),
          filesz: r.u32(o + 16, "p_filesz"),
          flags: r.u32(o + 24, "p_flags"),
          align: r.u32(o + 28, "p_align"),
        };
      segments.push(seg);
      if (info.segments.length < limits.segments) {
        info.segments.push({
          type: nameOf(SEGMENT_TYPE, seg.type),
          flags: (seg.flags & PF.R ? "r" : "-") + (seg.flags & PF.W ? "w" : "-") +
            (seg.flags & PF.X ? "x" : "-"),
          offset: seg.offset,
          vaddr: r.addr(o + (is64 ? 16 : 8), is64),
          file_size: seg.filesz,
          mem_size: is64 ? r.u64n(o + 40, "p_memsz") : r.u32(o + 20, "p_memsz"),
          align: seg.align,
        });
      } else info.segments_truncated = true;
    }
  });

  part("interpreter (PT_INTERP)", () => {
    const interp = segments.find((s) => s.type === PT_INTERP);
    if (!interp) return;
    r.need(interp.offset, interp.filesz, "PT_INTERP contents");
    info.interpreter = r.cstring(interp.offset, Math.min(interp.filesz, 4096), "interpreter");
  });

  part("notes", () => {
    // Notes live in PT_NOTE segments; an object file has only SHT_NOTE sections.
    const areas = segments.filter((s) => s.type === PT_NOTE)
      .map((s) => ({ offset: s.offset, size: s.filesz, align: s.align === 8 ? 8 : 4 }));
    if (!areas.length) {
      for (const s of sections) {
        if (s.type === SHT_NOTE) areas.push({ offset: s.offset, size: s.size, align: 4 });
      }
    }
    let count = 0;
    for (const a of areas) {
      if (!r.has(a.offset, a.size)) {
        errors.push(
          `notes: note area of ${a.size} bytes at offset ${a.offset} is past the end of the data`,
        );
        continue;
      }
      for (let o = a.offset; o + 12 <= a.offset + a.size && count < MAX_NOTES; count++) {
        const namesz = r.u32(o, "note namesz"), descsz = r.u32(o + 4, "note descsz");
        const type = r.u32(o + 8, "note type");
        // Names are padded to 4 bytes; descriptors (and the next note) to the area's alignment.
        const nameAt = o + 12;
        const descAt = a.offset + align(nameAt + align(namesz, 4) - a.offset, a.align);
        const next = a.offset + align(descAt + descsz - a.offset, a.align);
        if (next > a.offset + a.size || next <= o) {
          throw FormatError.field("note", o, `sizes ${namesz}/${descsz} overrun the note area`);
        }
        const name = r.cstring(nameAt, namesz, "note name");
        if (name === "GNU" && type === 3) info.build_id = r.hexBytes(descAt, descsz, "build-id");
        if (name === "GNU" && type === 1 && descsz >= 16) {
          const os = ["Linux", "GNU", "Solaris2", "FreeBSD"][r.u32(descAt)] ?? "unknown";
          info.abi_tag = `${os} ${r.u32(descAt + 4)}.${r.u32(descAt + 8)}.${r.u32(descAt + 12)}`;
        }
        o = next;
      }
    }
  });

  // Dynamic section: through the section table when there is one, else PT_DYNAMIC.
  let bindNow = false, flags1 = 0, dynamic = false;
  part("dynamic section", () => {
    const dynSec = sections.find((s) => s.type === SHT_DYNAMIC);
    const dynSeg = segments.find((s) => s.type === PT_DYNAMIC);
    if (!dynSec && !dynSeg) return;
    dynamic = true;
    const offset = dynSec ? dynSec.offset : dynSeg!.offset;
    const size = dynSec ? dynSec.size : dynSeg!.filesz;
    r.need(offset, size, "dynamic section");
    const entSize = is64 ? 16 : 8;
    const entries: [number, number][] = [];
    for (
      let o = offset;
      o + entSize <= offset + size && entries.length < MAX_DYNAMIC;
      o += entSize
    ) {
      // A 64-bit tag past 2^53 is no tag read here, rounded or not.
      const tag = is64 ? r.u64f(o) : r.i32(o);
      const val = is64 ? r.u64f(o + 8) : r.u32(o + 4);
      if (tag === DT.NULL) break;
      entries.push([tag, val]);
    }
    let strOff = -1, strSize = 0;
    const linked = dynSec ? sections[dynSec.link] : undefined;
    if (linked && linked.type === SHT_STRTAB) [strOff, strSize] = [linked.offset, linked.size];
    else {
      const strtab = entries.find(([t]) => t === DT.STRTAB)?.[1];
      strSize = entries.find(([t]) => t === DT.STRSZ)?.[1] ?? 0;
      if (strtab !== undefined) strOff = vaddrToOffset(segments, strtab) ?? -1;
    }
    const str = (v: number, what: string) => {
      if (strOff < 0) {
        throw FormatError.field(what, offset, "no string table for the dynamic section");
      }
      if (v >= strSize) {
        throw FormatError.field(what, strOff + v, `outside the string table (${strSize} bytes)`);
      }
      return r.cstring(strOff + v, Math.min(4096, strSize - v), what);
    };
    for (const [tag, val] of entries) {
      if (tag === DT.NEEDED && info.needed.length < limits.symbols) {
        info.needed.push(str(val, "DT_NEEDED"));
      } else if (tag === DT.SONAME) info.soname = str(val, "DT_SONAME");
      else if (tag === DT.RPATH) info.rpath = str(val, "DT_RPATH");
      else if (tag === DT.RUNPATH) info.runpath = str(val, "DT_RUNPATH");
      else if (tag === DT.BIND_NOW) bindNow = true;
      else if (tag === DT.FLAGS && (val & DF_BIND_NOW)) bindNow = true;
      else if (tag === DT.FLAGS_1) {
        flags1 = val;
        if (val & DF_1_NOW) bindNow = true;
      }
    }
  });

  const hints = { canary: false, fortify: false };
  part("symbols", () => {
    const symtab = sections.find((s) => s.type === SHT_SYMTAB);
    const dynsym = sections.find((s) => s.type === SHT_DYNSYM);
    info.stripped = !symtab;
    const table = dynsym ?? symtab;
    if (!table) return;
    info.symbols.source = dynsym ? ".dynsym" : ".symtab";
    const { imported, exported, truncated } = readSymbols(r, sections, table, is64, hints);
    // Canary and fortify hints also come from .symtab when the binary keeps one (static builds).
    if (symtab && table !== symtab) readSymbols(r, sections, symtab, is64, hints, false);
    const cap = limits.symbols;
    info.symbols.imported = imported.slice(0, cap);
    info.symbols.exported = exported.slice(0, cap);
    info.symbols.imported_count = imported.length;
    info.symbols.exported_count = exported.length;
    if (truncated || imported.length > cap || exported.length > cap) info.symbols.truncated = true;
    if (imported.length) info.symhash = limits.md5([...new Set(imported)].sort().join(","));
  });

  info.static = !dynamic && (info.type === "EXEC" || info.type === "DYN");
  const gnuStack = segments.find((s) => s.type === PT_GNU_STACK);
  const relro = segments.some((s) => s.type === PT_GNU_RELRO);
  const sec = info.security;
  sec.nx = gnuStack !== undefined && (gnuStack.flags & PF.X) === 0;
  sec.bind_now = bindNow;
  sec.relro = relro ? (bindNow ? "full" : "partial") : "none";
  sec.pie = info.type === "DYN" &&
    ((flags1 & DF_1_PIE) !== 0 || segments.some((s) => s.type === PT_INTERP));
  sec.stack_canary = hints.canary;
  sec.fortify = hints.fortify;
  return { info, errors };
}

function readSection(r: Reader, o: number, is64: boolean): RawSection {
  return is64
    ? {
      nameOffset: r.u32(o, "sh_name"),
      type: r.u32(o + 4, "sh_type"),
      flags: r.u64lo(o + 8, "sh_flags"),
      addr: r.addr(o + 16, true, "sh_addr"),
      offset: r.u64n(o + 24, "sh_offset"),
      size: r.u64n(o + 32, "sh_size"),
      link: r.u32(o + 40, "sh_link"),
      entsize: r.u64n(o + 56, "sh_entsize"),
    }
    : {
      nameOffset: r.u32(o, "sh_name"),
      type: r.u32(o + 4, "sh_type"),
      flags: r.u32(o + 8, "sh_flags"),
      addr: r.addr(o + 12, false, "sh_addr"),
      offset: r.u32(o + 16, "sh_offset"),
      size: r.u32(o + 20, "sh_size"),
      link: r.u32(o + 24, "sh_link"),
      entsize: r.u32(o + 36, "sh_entsize"),
    };
}

/** Section flags as readelf's letters (WAXMSILOGTCRE). */
function sectionFlags(flags: number): string {
  let out = "";
  for (const [bit, letter] of SECTION_FLAGS) if (flags & bit) out += letter;
  return out;
}

/** Symbol names that tell a hardening option was used (all begin with "__"). */
const CANARY_SYMBOLS = new Set([
  "__stack_chk_fail",
  "__stack_chk_guard",
  "__intel_security_cookie",
]);
const FORTIFY_SYMBOL = /^__\w+_chk$/;

/**
 * Imported (undefined, global or weak, named) and exported (defined, global or weak, default or
 * protected visibility, not a section or file symbol) names of one symbol table, in table order;
 * sets `hints` from the names of every symbol. With `list` false only the hints are read. Only
 * names that are listed or begin with "__" are decoded: most of a .symtab is neither.
 */
function readSymbols(
  r: Reader,
  sections: RawSection[],
  table: RawSection,
  is64: boolean,
  hints: { canary: boolean; fortify: boolean },
  list = true,
) {
  const entSize = is64 ? 24 : 16;
  const strtab = sections[table.link];
  if (!strtab || strtab.type !== SHT_STRTAB) {
    throw FormatError.field(
      "symbol table sh_link",
      table.offset,
      `section ${table.link} is not a string table`,
    );
  }
  r.need(table.offset, table.size, "symbol table");
  r.need(strtab.offset, strtab.size, "symbol string table");
  const step = table.entsize >= entSize ? table.entsize : entSize;
  const count = Math.floor(table.size / step);
  const imported: string[] = [], exported: string[] = [];
  const n = Math.min(count, MAX_SYMBOLS_READ);
  const { data, view, little } = r;
  // Every entry read below lies inside the table, checked above: no per-field checks.
  for (let i = 1; i < n; i++) {
    const o = table.offset + i * step;
    const nameOff = view.getUint32(o, little);
    if (nameOff === 0 || nameOff >= strtab.size) continue;
    const infoByte = data[o + (is64 ? 4 : 12)];
    const bind = infoByte >> 4, type = infoByte & 15;
    const vis = data[o + (is64 ? 5 : 13)] & 3;
    const shndx = view.getUint16(o + (is64 ? 6 : 14), little);
    const global = bind === 1 || bind === 2 || bind === 10;
    const kind = !list || !global
      ? undefined
      : shndx === 0
      ? imported
      : type !== 3 && type !== 4 && (vis === 0 || vis === 3)
      ? exported
      : undefined;
    const at = strtab.offset + nameOff;
    const hinted = data[at] === 0x5f && data[at + 1] === 0x5f;
    if (!kind && !hinted) continue;
    const name = r.cstring(at, Math.min(1024, strtab.size - nameOff));
    kind?.push(name);
    if (hinted) {
      if (CANARY_SYMBOLS.has(name)) hints.canary = true;
      else if (FORTIFY_SYMBOL.test(name)) hints.fortify = true;
    }
  }
  return { imported, exported, truncated: count > n };
}

function vaddrToOffset(segments: RawSegment[], vaddr: number): number | undefined {
  const s = segments.find((s) =>
    s.type === PT_LOAD && vaddr >= s.vaddr && vaddr < s.vaddr + s.filesz
  );
  return s ? s.offset + (vaddr - s.vaddr) : undefined;
}

function align(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

function round(x: number): number {
  return Math.round(x * 1e4) / 1e4;
}
