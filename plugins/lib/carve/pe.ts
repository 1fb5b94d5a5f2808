/**
 * Finds PE images inside arbitrary bytes and works out where each one ends (Microsoft PE/COFF
 * specification, rev. 11). The headers are read by the PE parser's own parseHeaders
 * (plugins/lib/pe/headers.ts); this module adds what carving needs: cheap tests that throw most
 * stray "MZ" bytes out before any parsing, the checks a loader would make (a known machine, an
 * executable image, sane alignments) to refuse the rest of the decoys, and the image's extent.
 *
 * Extent of a carved image: the headers (SizeOfHeaders), every section's raw data
 * (PointerToRawData, rounded down to 512 as the loader does when FileAlignment >= 512, plus
 * SizeOfRawData), and the Authenticode certificate table when the security directory points
 * past them. Any other overlay is left out by default: nothing in a carved blob says where it
 * ends (`keepOverlay` extends each image to the next candidate or the end of the data instead).
 */
import { FormatError, Reader } from "../bytes/reader.ts";
import { MACHINES } from "../pe/constants.ts";
import { directory, endOfImageData, MAX_SECTIONS, parseHeaders } from "../pe/headers.ts";

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
 * the bytes there are not one (offsets in it count from the candidate's "MZ").
 */
export function peAt(data: Uint8Array, offset: number): CarvedPe | string {
  if (data[offset] !== 0x4d || data[offset + 1] !== 0x5a) return "no MZ signature";
  const r = new Reader(data.subarray(offset));
  try {
    const lfanew = r.u32(0x3c, "e_lfanew");
    if (lfanew < 4 || lfanew > 0x10000000) return `e_lfanew ${lfanew} out of range`;
    if (!r.has(lfanew, 4)) return `e_lfanew ${lfanew} points past the end of the data`;
    if (r.u32(lfanew, "PE signature") !== 0x4550) return `no PE signature at e_lfanew ${lfanew}`;
    // Decoys built to pass the signature test mostly fail here: refusing them before parseHeaders
    // spares a FormatError (an exception costs more than reading a whole real header).
    const machine = r.u16(lfanew + 4, "COFF Machine");
    if (!machine || !MACHINES[machine]) return `unknown COFF machine 0x${machine.toString(16)}`;
    const magic = r.u16(lfanew + 24, "optional header magic");
    if (magic !== 0x10b && magic !== 0x20b) return `optional header magic 0x${magic.toString(16)}`;
    const h = parseHeaders(r);
    if (h.number_of_sections > MAX_SECTIONS) {
      return `${h.number_of_sections} sections (the loader allows ${MAX_SECTIONS})`;
    }
    if (!(h.characteristics & 0x2)) return "COFF header lacks IMAGE_FILE_EXECUTABLE_IMAGE";
    if (h.size_of_optional_header < (h.is64 ? 112 : 96)) {
      return `SizeOfOptionalHeader ${h.size_of_optional_header} too small`;
    }
    const fileAlign = h.file_alignment, sectionAlign = h.section_alignment;
    if (!isPow2(fileAlign) || fileAlign > 0x10000) {
      return `FileAlignment 0x${fileAlign.toString(16)}`;
    }
    if (!isPow2(sectionAlign) || sectionAlign < fileAlign) {
      return `SectionAlignment 0x${sectionAlign.toString(16)}`;
    }
    // The image's own end, wherever the data stops.
    let end = endOfImageData(h, Infinity);
    const cert = directory(h, "security");
    // The security directory holds a file offset, not an RVA.
    if (cert && cert.rva >= end && cert.rva + cert.size <= end + 0x10000000) {
      end = cert.rva + cert.size;
    }
    const sectionTable = h.e_lfanew + 24 + h.size_of_optional_header;
    end = Math.max(end, sectionTable + h.number_of_sections * 40);
    const available = r.size;
    return {
      offset,
      size: Math.min(end, available),
      truncated: end > available,
      machine: MACHINES[machine],
      pe32_plus: h.is64,
      dll: (h.characteristics & 0x2000) !== 0,
      section_count: h.number_of_sections,
    };
  } catch (e) {
    if (e instanceof FormatError) return `headers: ${e.message}`;
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
