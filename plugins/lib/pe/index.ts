/**
 * A PE/COFF image parser for analysis (PE32 and PE32+: EXE, DLL, driver, EFI, .NET), following
 * Microsoft's "PE Format" specification and the Authenticode PE signature format.
 *
 * Hand-written because no npm library fits hostile input: pe-library and resedit are editors
 * that refuse images with COFF symbols or signatures, copy every section, throw on the first
 * bad offset (losing what was parsed), and resedit's version-info parser can loop forever; none
 * reads imports, exports, debug, TLS, the Rich header or the CLR header. Here every read is
 * bounds-checked (reader.ts), every table capped, and each part is parsed on its own: a broken
 * import table still leaves the sections, resources and signature reported, with an error
 * naming the part and offset. Certificates and PKCS#7 go through lib/x509 (pkijs).
 */
import { createHash } from "node:crypto";
import { shannon } from "../text/entropy.ts";
import { detectArchive } from "../archive/detect.ts";
import { checkAuthenticode } from "./authenticode.ts";
import { parseDebug } from "./debug.ts";
import { type DotNet, parseDotNet } from "./dotnet.ts";
import { describeExports, parseExports } from "./exports.ts";
import {
  describeHeaders,
  endOfImageData,
  isoTime,
  parseHeaders,
  type PeHeaders,
  rvaToOffset,
  sectionFlags,
  sectionOf,
} from "./headers.ts";
import { imphash, message, parseImports } from "./imports.ts";
import { hex, Reader } from "../bytes/reader.ts";
import { languageName, parseResources, parseVersionInfo } from "./resources.ts";
import { parseRich } from "./rich.ts";
import { parseTls } from "./tls.ts";
import { upxEvidence } from "./upx.ts";

export { FormatError } from "../bytes/reader.ts";

/** A child payload found inside the image (overlay, embedded file in a resource). */
export interface PeChild {
  content: Uint8Array;
  extra_data: Record<string, unknown>;
}

/** What to extract. */
export interface PeOptions {
  extract_overlay: boolean;
  extract_resources: boolean;
  max_children: number;
  now?: Date;
}

/** The parse: the report, children, and errors naming what could not be read. */
export interface PeParse {
  result: Record<string, unknown>;
  children: PeChild[];
  errors: string[];
  /** Facts the findings are drawn from. */
  facts: PeFacts;
}

/** What findings.ts looks at. */
export interface PeFacts {
  headers: PeHeaders;
  sections: ReturnType<typeof describeSection>[];
  imports: { dll: string; functions: string[] }[];
  entrySection: string | null;
  resources: { type: string; name: string; embedded: string | null }[];
  tlsCallbacks: number;
  overlay?: {
    offset: number;
    size: number;
    entropy: number;
    sha256: string;
    embedded: string | null;
  };
  checksum: { stored: number; computed: number };
  debugStamps: number[];
  exportStamp?: number;
  isRepro: boolean;
  rich?: { checksum_valid: boolean };
  signature?: ReturnType<typeof checkAuthenticode>;
  dotnet?: DotNet;
  /** Why UPX seems to have packed the image (lib/pe/upx.ts). */
  upx: string[];
  kind: string;
}

const round = (x: number) => Math.round(x * 10000) / 10000;

function describeSection(r: Reader, s: PeHeaders["sections"][number]) {
  const start = Math.min(s.raw_address, r.size);
  const data = r.data.subarray(start, Math.min(r.size, s.raw_address + s.raw_size));
  return {
    name: s.name,
    virtual_address: s.virtual_address,
    virtual_size: s.virtual_size,
    raw_address: s.raw_address,
    raw_size: s.raw_size,
    characteristics: { value: hex(s.characteristics, 8), flags: sectionFlags(s.characteristics) },
    entropy: round(shannon(data)),
    md5: createHash("md5").update(data).digest("hex"),
    sha256: createHash("sha256").update(data).digest("hex"),
    ...(data.length < s.raw_size ? { raw_data_truncated: true } : {}),
  };
}

/** The PE checksum as the loader (and pefile's generate_checksum) computes it. */
export function peChecksum(r: Reader, checksumOffset: number): number {
  const n = r.size;
  const words = Math.floor(n / 4);
  const aligned = (r.data.byteOffset & 3) === 0;
  const w32 = aligned ? new Uint32Array(r.data.buffer, r.data.byteOffset, words) : undefined;
  // A ones'-complement sum with end-around carry: folding once per 2^20 words (below 2^53)
  // gives the same result as folding after each addition, and keeps the loop tight.
  const fold = (x: number) => (x % 0x100000000) + Math.floor(x / 0x100000000);
  let sum = 0;
  for (let start = 0; start < words; start += 0x100000) {
    const end = Math.min(words, start + 0x100000);
    let part = 0;
    if (w32) { for (let i = start; i < end; i++) part += w32[i]; }
    else for (let i = start; i < end; i++) part += r.view.getUint32(i * 4, true);
    sum = fold(sum + part);
  }
  // The CheckSum field itself is not summed.
  const skip = checksumOffset / 4;
  if (Number.isInteger(skip) && skip < words) sum -= r.view.getUint32(checksumOffset, true);
  if (sum < 0) sum += 0xffffffff;
  const rem = n % 4;
  if (rem) {
    let last = 0;
    for (let i = 0; i < rem; i++) last |= r.data[words * 4 + i] << (8 * i);
    sum += last >>> 0;
  }
  sum = fold(fold(sum));
  sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  sum = sum + Math.floor(sum / 0x10000);
  return ((sum & 0xffff) + n) >>> 0;
}

/** The COFF symbol table and string table after it, when the file holds them. */
function symbolTable(r: Reader, h: PeHeaders) {
  const offset = h.pointer_to_symbol_table;
  if (!offset || !h.number_of_symbols) return undefined;
  const strings = offset + h.number_of_symbols * 18;
  if (!r.has(strings, 4)) return undefined;
  const stringsSize = r.u32(strings, "COFF string table size");
  if (stringsSize < 4 || !r.has(strings, stringsSize)) return undefined;
  return {
    offset,
    count: h.number_of_symbols,
    size: strings + stringsSize - offset,
    strings: stringsSize,
  };
}

/** What an embedded file is, from its first bytes: "pe", "elf", "ole", "pdf", an archive, or null. */
export function embeddedKind(d: Uint8Array): string | null {
  if (d.length >= 0x40 && d[0] === 0x4d && d[1] === 0x5a) {
    const v = new DataView(d.buffer, d.byteOffset, d.byteLength);
    const e = v.getUint32(0x3c, true);
    if (e + 4 <= d.length && v.getUint32(e, true) === 0x4550) return "pe";
  }
  if (d.length >= 4 && d[0] === 0x7f && d[1] === 0x45 && d[2] === 0x4c && d[3] === 0x46) {
    return "elf";
  }
  if (d.length >= 8 && d[0] === 0xd0 && d[1] === 0xcf && d[2] === 0x11 && d[3] === 0xe0) {
    return "ole";
  }
  if (d.length >= 5 && new TextDecoder("latin1").decode(d.subarray(0, 5)) === "%PDF-") return "pdf";
  return detectArchive(d)?.name ?? null;
}

function kindOf(h: PeHeaders, imports: { dll: string }[]): string {
  const efi: Record<number, string> = {
    10: "efi_application",
    11: "efi_boot_service_driver",
    12: "efi_runtime_driver",
    13: "efi_rom",
  };
  if (efi[h.subsystem]) return efi[h.subsystem];
  const kernel = imports.some((i) =>
    /^(ntoskrnl\.exe|hal\.dll|ndis\.sys|wdfldr\.sys|fltmgr\.sys)$/i.test(i.dll)
  );
  if (h.subsystem === 1 && (kernel || (h.dll_characteristics & 0x2000) !== 0)) return "driver";
  if (h.characteristics & 0x2000) return "dll";
  return "executable";
}

/** Parses a PE image. Throws FormatError only when the headers themselves cannot be read. */
export function parsePe(data: Uint8Array, opts: PeOptions): PeParse {
  const r = new Reader(data);
  const h = parseHeaders(r);
  const now = opts.now ?? new Date();
  const errors: string[] = [];
  const children: PeChild[] = [];
  const attempt = <T>(part: string, f: () => T): T | undefined => {
    try {
      return f();
    } catch (e) {
      errors.push(`${part}: ${message(e)}`);
      return undefined;
    }
  };
  if (h.sections_dropped) {
    errors.push(
      `section table: ${h.number_of_sections} sections declared, only the first 96 parsed`,
    );
  }
  const strtab = symbolTable(r, h);
  const sections = h.sections.map((s) => {
    const d = describeSection(r, s);
    // "/4": the name is at offset 4 of the COFF string table (GNU linkers write these).
    const long = /^\/(\d+)$/.exec(s.name);
    if (long && strtab && Number(long[1]) < strtab.strings) {
      const at = strtab.offset + strtab.size - strtab.strings + Number(long[1]);
      return { ...d, long_name: r.cstring(at, 256, "section long name") };
    }
    return d;
  });
  const imp = parseImports(r, h);
  errors.push(...imp.errors.map((e) => `imports: ${e}`));
  const exp = attempt("exports", () => parseExports(r, h));
  const res = attempt("resources", () => parseResources(r, h));
  if (res) errors.push(...res.errors.map((e) => `resources: ${e}`));
  const debug = attempt("debug directory", () => parseDebug(r, h)) ?? [];
  const tls = attempt("TLS directory", () => parseTls(r, h));
  const clr = attempt("CLR header", () => parseDotNet(r, h, errors));
  const dotnet = clr?.dotnet;
  const rich = attempt("Rich header", () => parseRich(r, h.e_lfanew));
  let signature;
  try {
    signature = checkAuthenticode(r, h, now, errors);
  } catch (e) {
    errors.push(`certificate table: ${message(e)}`);
  }

  const entry = h.address_of_entry_point;
  const entrySection = entry ? sectionOf(h, entry)?.name ?? null : null;
  const kind = kindOf(h, imp.imports);

  // Resources: the list, version info, and embedded files as children.
  let version_info;
  const resources = [];
  const facts: PeFacts["resources"] = [];
  for (const e of res?.entries ?? []) {
    const embedded = embeddedKind(e.data);
    resources.push({
      type: e.type,
      name: e.name,
      language: languageName(e.language),
      language_id: hex(e.language, 4),
      codepage: e.codepage,
      rva: e.rva,
      offset: e.offset,
      size: e.size,
      sha256: createHash("sha256").update(e.data).digest("hex"),
      ...(embedded ? { embedded } : {}),
      ...(e.data.length < e.size ? { data_truncated: true } : {}),
    });
    facts.push({ type: e.type, name: e.name, embedded });
    if (e.type === "RT_VERSION" && !version_info) {
      version_info = attempt("version info", () => parseVersionInfo(e.data));
    }
    if (embedded && opts.extract_resources && children.length < opts.max_children) {
      children.push({
        content: e.data,
        extra_data: {
          filename: `resource_${e.type}_${e.name}_${e.language}`,
          source: "resource",
          resource_type: e.type,
          resource_name: e.name,
          language: languageName(e.language),
          offset: e.offset,
          size: e.data.length,
          embedded,
        },
      });
    }
  }

  // .NET embedded resources: packers and loaders keep their next stage there.
  for (const m of clr?.resources ?? []) {
    const embedded = embeddedKind(m.data);
    facts.push({ type: ".NET", name: m.name, embedded });
    if (!opts.extract_resources || children.length >= opts.max_children) continue;
    children.push({
      content: m.data,
      extra_data: {
        filename: m.name,
        source: "dotnet_resource",
        offset: m.offset,
        size: m.data.length,
        ...(embedded ? { embedded } : {}),
      },
    });
  }

  // Overlay: data after the last section, not counting a COFF symbol table right after it (GNU
  // linkers keep one) nor the certificate table at the end.
  const symbols = symbolTable(r, h);
  let dataEnd = endOfImageData(h, r.size);
  if (symbols && symbols.offset >= dataEnd && symbols.offset - dataEnd < 0x200) {
    dataEnd = Math.max(dataEnd, symbols.offset + symbols.size);
  }
  let overlayEnd = r.size;
  const table = signature?.table;
  if (table && table.offset >= dataEnd) overlayEnd = table.offset;
  // Signing tools pad the image to 8 bytes before the table: zeros there are no overlay.
  if (
    table && overlayEnd - dataEnd < 8 && r.data.subarray(dataEnd, overlayEnd).every((b) => b === 0)
  ) {
    overlayEnd = dataEnd;
  }
  let overlay;
  if (overlayEnd > dataEnd) {
    const bytes = r.data.subarray(dataEnd, overlayEnd);
    overlay = {
      offset: dataEnd,
      size: bytes.length,
      entropy: round(shannon(bytes)),
      sha256: createHash("sha256").update(bytes).digest("hex"),
      embedded: embeddedKind(bytes),
    };
    if (opts.extract_overlay && children.length < opts.max_children) {
      children.push({
        content: bytes,
        extra_data: { filename: "overlay", source: "overlay", offset: dataEnd, size: bytes.length },
      });
    }
  }

  const stored = h.checksum;
  const computed = peChecksum(r, h.checksum_offset);
  const isRepro = debug.some((d) => d.type === "REPRO");
  const pdb = debug.find((d) => d.pdb)?.pdb;
  const header = describeHeaders(h);
  const result: Record<string, unknown> = {
    format: h.is64 ? "PE32+" : "PE32",
    kind,
    machine: header.machine,
    timestamps: {
      header: isRepro ? null : isoTime(h.time_date_stamp),
      header_raw: h.time_date_stamp,
      ...(isRepro ? { header_is_reproducible_build_hash: true } : {}),
      debug: debug.map((d) => d.timestamp).filter((t) => t !== null),
      ...(res ? { resources: isoTime(res.timestamp) } : {}),
      ...(exp ? { exports: isoTime(exp.timestamp) } : {}),
    },
    subsystem: header.subsystem,
    characteristics: header.characteristics,
    dll_characteristics: header.dll_characteristics,
    entry_point: {
      rva: entry,
      va: hex(h.image_base + BigInt(entry)),
      section: entrySection,
      offset: entry ? rvaToOffset(h, entry) ?? null : null,
    },
    image_base: header.image_base,
    header,
    checksum: { stored: hex(stored, 8), computed: hex(computed, 8), matches: stored === computed },
    sections,
    imphash: imphash(imp.imports),
    import_count: imp.imports.reduce((n, i) => n + i.functions.length, 0),
    imports: imp.imports.map(({ dll, functions }) => ({ dll, functions })),
    ...(imp.delay_imports.length
      ? { delay_imports: imp.delay_imports.map(({ dll, functions }) => ({ dll, functions })) }
      : {}),
    ...(imp.truncated ? { imports_truncated: true } : {}),
    ...(exp ? { exports: describeExports(exp) } : {}),
    resources,
    ...(res?.truncated ? { resources_truncated: true } : {}),
    ...(version_info ? { version_info } : {}),
    ...(rich ? { rich_header: rich } : {}),
    debug,
    ...(pdb ? { pdb } : {}),
    ...(tls ? { tls } : {}),
    ...(dotnet ? { dotnet } : {}),
    ...(symbols
      ? { coff_symbol_table: { offset: symbols.offset, count: symbols.count, size: symbols.size } }
      : {}),
    ...(overlay ? { overlay } : {}),
    signed: signature !== undefined,
    ...(signature ? { signature } : {}),
  };
  const upx = upxEvidence(h.sections.map((s) => s.name), data);
  return {
    result,
    children,
    errors,
    facts: {
      headers: h,
      sections,
      imports: imp.imports,
      entrySection,
      resources: facts,
      tlsCallbacks: tls?.callbacks.length ?? 0,
      overlay,
      checksum: { stored, computed },
      debugStamps: debug.filter((d) => d.type !== "REPRO").map((d) => d.timestamp_raw),
      exportStamp: exp?.timestamp,
      isRepro,
      rich: rich ? { checksum_valid: rich.checksum_valid } : undefined,
      signature,
      dotnet,
      upx,
      kind,
    },
  };
}
