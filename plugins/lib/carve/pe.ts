/**
 * Finds PE images inside arbitrary bytes and works out where each one ends (Microsoft PE/COFF
 * specification, rev. 11: MS-DOS header, COFF file header, optional header, section table,
 * certificate table). Only the headers needed to validate a candidate and size it are read; the
 * full PE parser (plugins/lib/pe/) reports the rest once the carved image is scanned, and this
 * validation could share its header reads later.
 *
 * Extent of a carved image: the headers (SizeOfHeaders), every section's raw data
 * (PointerToRawData, rounded down to 512 as the loader does when FileAlignment >= 512, plus
 * SizeOfRawData), and the Authenticode certificate table when the security directory points
 * past them. Any other overlay is left out by default: nothing in a carved blob says where it
 * ends (`keepOverlay` extends each image to the next candidate or the end of the data instead).
 */
import { FormatError, Reader } from "../bytes/reader.ts";

/** COFF machine types a real PE image carries. */
const MACHINES: Record<number, string> = {
  0x14c: "i386",
  0x8664: "amd64",
  0xaa64: "arm64",
  0x1c0: "arm",
  0x1c4: "armnt",
  0xa641: "arm64ec",
  0xa64e: "arm64x",
  0x200: "ia64",
  0x162: "r3000",
  0x166: "r4000",
  0x169: "wcemipsv2",
  0x1a2: "sh3",
  0x1a6: "sh4",
  0x1f0: "powerpc",
  0x1f1: "powerpcfp",
  0x5032: "riscv32",
  0x5064: "riscv64",
  0xebc: "efi_bytecode",
  0x6232: "loongarch32",
  0x6264: "loongarch64",
};

/** A validated PE image inside the data. */
export interface CarvedPe {
  offset: number;
  size: number;
  /** The image runs past the end of the data; `size` stops there. */
  truncated: boolean;
  machine: string;
  pe32_plus: boolean;
  dll: boolean;
  section_count: number;
}

/** What a scan for embedded images found. */
export interface PeScan {
  /** "MZ" positions looked at. */
  candidates: number;
  pes: CarvedPe[];
  /** Why candidates were not PE images (the first few). */
  rejected: { offset: number; reason: string }[];
  rejected_count: number;
  /** A PE at offset 0: the payload itself, never carved. */
  self?: CarvedPe;
  /** The candidate cap stopped the search before the end of the data. */
  truncated: boolean;
}

export interface PeScanOptions {
  maxCandidates: number;
  maxPes: number;
  keepOverlay: boolean;
}

const MAX_REJECTED_LISTED = 20;

/**
 * Validates the PE headers at `offset` and measures the image. Returns the image, or the reason
 * the bytes there are not one.
 */
export function peAt(data: Uint8Array, offset: number): CarvedPe | string {
  const r = new Reader(data, true);
  try {
    if (r.u16(offset, "e_magic") !== 0x5a4d) return "no MZ signature";
    const lfanew = r.u32(offset + 0x3c, "e_lfanew");
    if (lfanew < 4 || lfanew > 0x10000000) return `e_lfanew ${lfanew} out of range`;
    const pe = offset + lfanew;
    if (!r.has(pe, 4)) return `e_lfanew ${lfanew} points past the end of the data`;
    if (r.u32(pe) !== 0x00004550) return `no PE signature at e_lfanew ${lfanew}`;
    const machineId = r.u16(pe + 4, "Machine");
    const machine = MACHINES[machineId];
    if (!machine) return `unknown COFF machine 0x${machineId.toString(16)}`;
    const nsections = r.u16(pe + 6, "NumberOfSections");
    if (nsections > 96) return `${nsections} sections (the loader allows 96)`;
    const optSize = r.u16(pe + 20, "SizeOfOptionalHeader");
    const characteristics = r.u16(pe + 22, "Characteristics");
    if (!(characteristics & 0x2)) return "COFF header lacks IMAGE_FILE_EXECUTABLE_IMAGE";
    const opt = pe + 24;
    const magic = r.u16(opt, "optional header Magic");
    if (magic !== 0x10b && magic !== 0x20b) return `optional header magic 0x${magic.toString(16)}`;
    const plus = magic === 0x20b;
    const dirsAt = opt + (plus ? 112 : 96);
    if (optSize < (plus ? 112 : 96)) return `SizeOfOptionalHeader ${optSize} too small`;
    const sectionAlign = r.u32(opt + 32, "SectionAlignment");
    const fileAlign = r.u32(opt + 36, "FileAlignment");
    if (!isPow2(fileAlign) || fileAlign > 0x10000) {
      return `FileAlignment 0x${fileAlign.toString(16)}`;
    }
    if (!isPow2(sectionAlign) || sectionAlign < fileAlign) {
      return `SectionAlignment 0x${sectionAlign.toString(16)}`;
    }
    const sizeOfHeaders = r.u32(opt + 60, "SizeOfHeaders");
    const ndirs = r.u32(dirsAt - 4, "NumberOfRvaAndSizes");
    const table = opt + optSize;
    r.need(table, nsections * 40, "section table");
    let end = sizeOfHeaders;
    // Below 512, the loader takes PointerToRawData as it is; above, it rounds down to 512.
    const rawAlign = fileAlign >= 0x200 ? 0x200 : 1;
    for (let i = 0; i < nsections; i++) {
      const rawSize = r.u32(table + i * 40 + 16, "SizeOfRawData");
      const rawPtr = r.u32(table + i * 40 + 20, "PointerToRawData");
      if (rawSize === 0) continue;
      end = Math.max(end, Math.floor(rawPtr / rawAlign) * rawAlign + rawSize);
    }
    if (ndirs > 4 && optSize >= (plus ? 112 : 96) + 5 * 8) {
      // The security directory holds a file offset, not an RVA.
      const certAt = r.u32(dirsAt + 32, "certificate table offset");
      const certSize = r.u32(dirsAt + 36, "certificate table size");
      if (certAt >= end && certSize > 0 && certAt + certSize <= end + 0x10000000) {
        end = certAt + certSize;
      }
    }
    end = Math.max(end, table + nsections * 40 - offset);
    const available = data.length - offset;
    return {
      offset,
      size: Math.min(end, available),
      truncated: end > available,
      machine,
      pe32_plus: plus,
      dll: (characteristics & 0x2000) !== 0,
      section_count: nsections,
    };
  } catch (e) {
    if (e instanceof FormatError) return `headers cut short: ${e.message}`;
    throw e;
  }
}

/**
 * Every PE image in `data`, in offset order, skipping the one at offset 0 (the payload itself)
 * and whatever lies inside an image already found.
 */
export function findPes(data: Uint8Array, opts: PeScanOptions): PeScan {
  const out: PeScan = {
    candidates: 0,
    pes: [],
    rejected: [],
    rejected_count: 0,
    truncated: false,
  };
  // After an image is carved the search resumes at its end: images nested in it are found when
  // that child is scanned.
  let next = 0;
  for (let i = data.indexOf(0x4d); i >= 0; i = data.indexOf(0x4d, Math.max(i + 1, next))) {
    if (data[i + 1] !== 0x5a) continue;
    if (out.candidates >= opts.maxCandidates || out.pes.length >= opts.maxPes) {
      out.truncated = true;
      break;
    }
    out.candidates++;
    const found = peAt(data, i);
    if (typeof found === "string") {
      out.rejected_count++;
      if (out.rejected.length < MAX_REJECTED_LISTED) {
        out.rejected.push({ offset: i, reason: found });
      }
      continue;
    }
    if (i === 0) {
      out.self = found;
      continue;
    }
    out.pes.push(found);
    next = i + found.size;
  }
  if (opts.keepOverlay) {
    out.pes.forEach((pe, k) => {
      const next = out.pes[k + 1]?.offset ?? data.length;
      if (!pe.truncated) pe.size = next - pe.offset;
    });
  }
  return out;
}

function isPow2(n: number): boolean {
  return n > 0 && (n & (n - 1)) === 0;
}
