/** DOS, COFF and optional headers, data directories and the section table of a PE image. */
import {
  DIRECTORIES,
  DLL_CHARACTERISTICS,
  FILE_CHARACTERISTICS,
  flagNames,
  MACHINES,
  SECTION_CHARACTERISTICS,
  SUBSYSTEMS,
} from "./constants.ts";
import { FormatError, hex, Reader } from "../bytes/reader.ts";

/** More sections than Windows loads (96) are refused beyond this cap. */
export const MAX_SECTIONS = 96;

/** One entry of the section table. */
export interface SectionHeader {
  name: string;
  virtual_address: number;
  virtual_size: number;
  raw_address: number;
  raw_size: number;
  characteristics: number;
}

/** One data directory entry. */
export interface DataDirectory {
  rva: number;
  size: number;
}

/** The parsed headers, and the means to map RVAs to file offsets. */
export interface PeHeaders {
  e_lfanew: number;
  machine: number;
  number_of_sections: number;
  time_date_stamp: number;
  pointer_to_symbol_table: number;
  number_of_symbols: number;
  size_of_optional_header: number;
  characteristics: number;
  /** 0x10b PE32, 0x20b PE32+. */
  magic: number;
  is64: boolean;
  linker_version: string;
  size_of_code: number;
  address_of_entry_point: number;
  base_of_code: number;
  image_base: bigint;
  section_alignment: number;
  file_alignment: number;
  os_version: string;
  image_version: string;
  subsystem_version: string;
  size_of_image: number;
  size_of_headers: number;
  checksum: number;
  /** File offset of the CheckSum field (skipped by the Authenticode hash). */
  checksum_offset: number;
  subsystem: number;
  dll_characteristics: number;
  /** File offset of the data directory array. */
  directories_offset: number;
  directories: DataDirectory[];
  sections: SectionHeader[];
  /** Sections the file declared beyond MAX_SECTIONS (not parsed). */
  sections_dropped: number;
}

/** Parses the headers; throws FormatError when the file is not a PE image or its headers are cut. */
export function parseHeaders(r: Reader): PeHeaders {
  if (r.u16(0, "DOS header magic") !== 0x5a4d) {
    throw new FormatError("not a PE file: no MZ signature at offset 0", 0);
  }
  const e_lfanew = r.u32(0x3c, "e_lfanew");
  if (r.u32(e_lfanew, "PE signature") !== 0x4550) {
    throw new FormatError(`not a PE file: no PE signature at e_lfanew ${hex(e_lfanew)}`, e_lfanew);
  }
  const c = e_lfanew + 4; // COFF file header
  const number_of_sections = r.u16(c + 2, "COFF NumberOfSections");
  const size_of_optional_header = r.u16(c + 16, "COFF SizeOfOptionalHeader");
  const o = c + 20; // optional header
  const magic = r.u16(o, "optional header magic");
  if (magic !== 0x10b && magic !== 0x20b) {
    throw new FormatError(
      `optional header magic ${hex(magic)} at ${hex(o)} is neither PE32 (0x10b) nor PE32+ (0x20b)`,
      o,
    );
  }
  const is64 = magic === 0x20b;
  const ver = (off: number, what: string) => `${r.u16(off, what)}.${r.u16(off + 2, what)}`;
  const nDirOff = o + (is64 ? 108 : 92);
  const numberOfRvaAndSizes = r.u32(nDirOff, "NumberOfRvaAndSizes");
  const directories_offset = nDirOff + 4;
  const directories: DataDirectory[] = [];
  // The loader reads at most 16 entries, and only those the optional header's size covers.
  const fit = Math.floor((o + size_of_optional_header - directories_offset) / 8);
  const nDirs = Math.max(0, Math.min(16, numberOfRvaAndSizes, fit));
  for (let i = 0; i < nDirs; i++) {
    const at = directories_offset + i * 8;
    directories.push({
      rva: r.u32(at, `data directory ${DIRECTORIES[i]}`),
      size: r.u32(at + 4, `data directory ${DIRECTORIES[i]}`),
    });
  }
  const h: PeHeaders = {
    e_lfanew,
    machine: r.u16(c, "COFF Machine"),
    number_of_sections,
    time_date_stamp: r.u32(c + 4, "COFF TimeDateStamp"),
    pointer_to_symbol_table: r.u32(c + 8, "COFF PointerToSymbolTable"),
    number_of_symbols: r.u32(c + 12, "COFF NumberOfSymbols"),
    size_of_optional_header,
    characteristics: r.u16(c + 18, "COFF Characteristics"),
    magic,
    is64,
    linker_version: `${r.u8(o + 2, "linker version")}.${r.u8(o + 3, "linker version")}`,
    size_of_code: r.u32(o + 4, "SizeOfCode"),
    address_of_entry_point: r.u32(o + 16, "AddressOfEntryPoint"),
    base_of_code: r.u32(o + 20, "BaseOfCode"),
    image_base: is64 ? r.u64(o + 24, "ImageBase") : BigInt(r.u32(o + 28, "ImageBase")),
    section_alignment: r.u32(o + 32, "SectionAlignment"),
    file_alignment: r.u32(o + 36, "FileAlignment"),
    os_version: ver(o + 40, "OS version"),
    image_version: ver(o + 44, "image version"),
    subsystem_version: ver(o + 48, "subsystem version"),
    size_of_image: r.u32(o + 56, "SizeOfImage"),
    size_of_headers: r.u32(o + 60, "SizeOfHeaders"),
    checksum: r.u32(o + 64, "CheckSum"),
    checksum_offset: o + 64,
    subsystem: r.u16(o + 68, "Subsystem"),
    dll_characteristics: r.u16(o + 70, "DllCharacteristics"),
    directories_offset,
    directories,
    sections: [],
    sections_dropped: Math.max(0, number_of_sections - MAX_SECTIONS),
  };
  const s0 = o + size_of_optional_header;
  for (let i = 0; i < Math.min(number_of_sections, MAX_SECTIONS); i++) {
    const at = s0 + i * 40;
    const what = `section header ${i}`;
    r.need(at, 40, what);
    h.sections.push({
      name: r.cstring(at, 8, what),
      virtual_size: r.u32(at + 8, what),
      virtual_address: r.u32(at + 12, what),
      raw_size: r.u32(at + 16, what),
      raw_address: r.u32(at + 20, what),
      characteristics: r.u32(at + 36, what),
    });
  }
  return h;
}

/** The data directory `name`, or undefined when absent or empty. */
export function directory(
  h: PeHeaders,
  name: typeof DIRECTORIES[number],
): DataDirectory | undefined {
  const d = h.directories[DIRECTORIES.indexOf(name)];
  return d && d.rva !== 0 && d.size !== 0 ? d : undefined;
}

/** Where a section's raw data starts, as the loader reads it (rounded down to 512). */
function rawStart(h: PeHeaders, s: SectionHeader): number {
  return h.file_alignment >= 0x200 ? s.raw_address - (s.raw_address % 0x200) : s.raw_address;
}

/** The section an RVA falls in (its virtual extent), or undefined. */
export function sectionOf(h: PeHeaders, rva: number): SectionHeader | undefined {
  return h.sections.find((s) =>
    rva >= s.virtual_address && rva < s.virtual_address + Math.max(s.virtual_size, s.raw_size)
  );
}

/**
 * The file offset of an RVA, or undefined when the RVA is in no section's raw data (memory the
 * loader zero-fills, or nowhere at all).
 */
export function rvaToOffset(h: PeHeaders, rva: number): number | undefined {
  const s = sectionOf(h, rva);
  if (!s) return rva < h.size_of_headers ? rva : undefined;
  const delta = rva - s.virtual_address;
  if (delta >= s.raw_size) return undefined;
  return rawStart(h, s) + delta;
}

/** An RVA's file offset; throws FormatError naming `what` when it has none. */
export function offsetOf(h: PeHeaders, rva: number, what: string): number {
  const off = rvaToOffset(h, rva);
  if (off === undefined) {
    throw new FormatError(`${what} at RVA ${hex(rva)} is not in the file's section data`);
  }
  return off;
}

/** The end of the last section's raw data (where an overlay starts), at least the headers' end. */
export function endOfImageData(h: PeHeaders, fileSize: number): number {
  let end = Math.min(h.size_of_headers, fileSize);
  for (const s of h.sections) {
    if (s.raw_size === 0) continue;
    const e = rawStart(h, s) + s.raw_size;
    if (e <= fileSize && e > end) end = e;
    else if (e > fileSize && rawStart(h, s) < fileSize) end = fileSize;
  }
  return end;
}

/** Header fields as the plugin reports them. */
export function describeHeaders(h: PeHeaders) {
  return {
    machine: { value: hex(h.machine, 4), name: MACHINES[h.machine] ?? "unknown" },
    characteristics: {
      value: hex(h.characteristics, 4),
      flags: flagNames(h.characteristics, FILE_CHARACTERISTICS),
    },
    subsystem: { value: h.subsystem, name: SUBSYSTEMS[h.subsystem] ?? "unknown" },
    dll_characteristics: {
      value: hex(h.dll_characteristics, 4),
      flags: flagNames(h.dll_characteristics, DLL_CHARACTERISTICS),
    },
    image_base: hex(h.image_base),
    linker_version: h.linker_version,
    os_version: h.os_version,
    image_version: h.image_version,
    subsystem_version: h.subsystem_version,
    section_alignment: h.section_alignment,
    file_alignment: h.file_alignment,
    size_of_image: h.size_of_image,
    size_of_headers: h.size_of_headers,
    size_of_code: h.size_of_code,
    number_of_sections: h.number_of_sections,
    pointer_to_symbol_table: h.pointer_to_symbol_table,
    number_of_symbols: h.number_of_symbols,
  };
}

/** A section's characteristics as names. */
export function sectionFlags(characteristics: number): string[] {
  return flagNames(characteristics, SECTION_CHARACTERISTICS);
}

/** ISO 8601 of a Unix timestamp in seconds, or null for 0. */
export function isoTime(seconds: number): string | null {
  if (!seconds) return null;
  return new Date(seconds * 1000).toISOString().replace(".000Z", "Z");
}
