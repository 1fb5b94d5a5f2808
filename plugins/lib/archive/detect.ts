/**
 * Archive detection by magic bytes for the `decompress` worker. It looks only at signatures that
 * are specific enough to make a false positive on ordinary data unlikely, because everything it
 * recognises is handed to an extractor (stoQ's decompress sent any octet-stream to 7z).
 */
import { looksLikeTar } from "./tar.ts";

/** How a format is extracted: in-process, or by the 7z tool. */
export type Extractor = "zip" | "gzip" | "bzip2" | "xz" | "tar" | "ar" | "7z";

/** A recognised archive: its name in results, and which extractor reads it. */
export interface ArchiveFormat {
  /** The format name reported in results (`zip`, `gzip`, `7z`, `rar`, `iso`, …). */
  readonly name: string;
  readonly extractor: Extractor;
}

const fmt = (name: string, extractor: Extractor): ArchiveFormat =>
  Object.freeze({ name, extractor });

const ascii = (s: string): number[] => [...s].map((c) => c.charCodeAt(0));

function at(data: Uint8Array, offset: number, bytes: readonly number[]): boolean {
  if (data.length < offset + bytes.length) return false;
  for (let i = 0; i < bytes.length; i++) if (data[offset + i] !== bytes[i]) return false;
  return true;
}

// bzip2: "BZh" + level, then a block magic (pi) or the end-of-stream magic (sqrt pi) of an
// empty stream; "BZh" alone occurs in text.
const BZ_BLOCK = [0x31, 0x41, 0x59, 0x26, 0x53, 0x59];
const BZ_END = [0x17, 0x72, 0x45, 0x38, 0x50, 0x90];

type Rule = [test: (d: Uint8Array) => boolean, format: ArchiveFormat];

// Local file header, empty archive, spanned archive.
const isZip = (d: Uint8Array) =>
  at(d, 0, [0x50, 0x4b]) && [0x0304, 0x0506, 0x0708].includes(d[2] << 8 | d[3]);
// "-lh5-", "-lzs-", … at offset 2.
const isLzh = (d: Uint8Array) =>
  d.length >= 7 && /^-l[hz][0-9a-z]-$/.test(String.fromCharCode(...d.subarray(2, 7)));

const RULES: readonly Rule[] = [
  [isZip, fmt("zip", "zip")],
  [(d) => at(d, 0, [0x1f, 0x8b, 0x08]), fmt("gzip", "gzip")],
  [
    (d) =>
      at(d, 0, ascii("BZh")) && d[3] >= 0x31 && d[3] <= 0x39 &&
      (at(d, 4, BZ_BLOCK) || at(d, 4, BZ_END)),
    fmt("bzip2", "bzip2"),
  ],
  [(d) => at(d, 0, [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]), fmt("xz", "xz")],
  [(d) => at(d, 0, [0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c]), fmt("7z", "7z")],
  [(d) => at(d, 0, [...ascii("Rar!"), 0x1a, 0x07]), fmt("rar", "7z")],
  [(d) => at(d, 0, [...ascii("MSCF"), 0, 0, 0, 0]), fmt("cab", "7z")],
  [(d) => [0x8001, 0x8801, 0x9001].some((o) => at(d, o, ascii("CD001"))), fmt("iso", "7z")],
  // ARJ's two-byte magic is weak: also require a sane header size and the main-header type.
  [(d) => at(d, 0, [0x60, 0xea]) && (d[2] | d[3] << 8) <= 2600 && d[10] === 2, fmt("arj", "7z")],
  [isLzh, fmt("lzh", "7z")],
  [(d) => at(d, 0, [0xed, 0xab, 0xee, 0xdb]), fmt("rpm", "7z")],
  [(d) => at(d, 0, ascii("!<arch>\ndebian-binary")), fmt("deb", "ar")],
  [(d) => at(d, 0, ascii("!<arch>\n")), fmt("ar", "ar")],
  // cpio: the ASCII headers, or the old binary one (070707 octal) in either byte order.
  [
    (d) =>
      ["070701", "070702", "070707"].some((m) => at(d, 0, ascii(m))) ||
      at(d, 0, [0xc7, 0x71]) || at(d, 0, [0x71, 0xc7]),
    fmt("cpio", "7z"),
  ],
  [(d) => at(d, 0, [...ascii("MSWIM"), 0, 0, 0]), fmt("wim", "7z")],
  [(d) => at(d, 0, [...ascii("xar!"), 0]), fmt("xar", "7z")],
  [(d) => at(d, 0, [...ascii("ITSF"), 3, 0, 0, 0]), fmt("chm", "7z")],
  [(d) => at(d, 0, ascii("hsqs")) || at(d, 0, ascii("sqsh")), fmt("squashfs", "7z")],
  [(d) => at(d, 0, [0x28, 0xb5, 0x2f, 0xfd]), fmt("zstd", "7z")],
  [(d) => at(d, 0, [0x1f, 0x9d]), fmt("compress", "7z")],
  [(d) => at(d, 0, ascii("vhdxfile")), fmt("vhdx", "7z")],
  // A fixed VHD has its footer at the end only; a dynamic one also has a copy at 0.
  [
    (d) => at(d, 0, ascii("conectix")) || at(d, d.length - 512, ascii("conectix")),
    fmt("vhd", "7z"),
  ],
  // UDIF: the koly trailer, version 4, header size 512, in the last 512 bytes.
  [(d) => at(d, d.length - 512, [...ascii("koly"), 0, 0, 0, 4, 0, 0, 2, 0]), fmt("dmg", "7z")],
  // UDF without an ISO 9660 bridge (a bridge is iso, above): BEA01 then NSR02/NSR03.
  [
    (d) =>
      at(d, 0x8001, ascii("BEA01")) &&
      [0x8801, 0x9001].some((o) => at(d, o, ascii("NSR02")) || at(d, o, ascii("NSR03"))),
    fmt("udf", "7z"),
  ],
  [(d) => at(d, 0, [...ascii("SZDD"), 0x88, 0xf0, 0x27, 0x33]), fmt("szdd", "7z")],
  // Nullsoft installer data, e.g. an NSIS setup's overlay (which the pe worker extracts).
  [(d) => at(d, 4, [0xef, 0xbe, 0xad, 0xde, ...ascii("NullsoftInst")]), fmt("nsis", "7z")],
  [looksLikeTar, fmt("tar", "tar")],
];

/** The archive format of `data` from its magic bytes, or null when it is not one we extract. */
export function detectArchive(data: Uint8Array): ArchiveFormat | null {
  for (const [test, format] of RULES) if (test(data)) return format;
  return null;
}

/** The 7z-read format used when zip.js cannot read a zip. */
export const ZIP_VIA_7Z: ArchiveFormat = fmt("zip", "7z");

const SINGLE_SUFFIXES: readonly [RegExp, string][] = [
  [/\.(tgz|taz|tbz2?|txz|tzst)$/i, ".tar"],
  [/\.(gz|gzip|bz2|bzip2|xz|zst|zstd|z)$/i, ""],
];

/**
 * The filename for the one member of a single-stream compressor: the input's filename without
 * its compression suffix (`.tgz` → `.tar`), else the name the stream itself stores (gzip's
 * FNAME), else `<sha256 prefix>.decompressed`.
 */
export function singleStreamName(
  inputName: string | undefined,
  storedName: string | undefined,
  sha256: string,
): string {
  if (inputName) {
    for (const [re, replacement] of SINGLE_SUFFIXES) {
      const stripped: string = inputName.replace(re, replacement);
      if (stripped !== inputName && stripped !== "" && !stripped.endsWith("/")) return stripped;
    }
  }
  if (storedName) return storedName;
  return `${sha256.slice(0, 16)}.decompressed`;
}
