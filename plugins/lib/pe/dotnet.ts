/** The CLR (COM descriptor) header of a .NET assembly and its metadata version string. */
import { directory, offsetOf, type PeHeaders, rvaToOffset } from "./headers.ts";
import { flagNames } from "./constants.ts";
import { hex, type Reader } from "../bytes/reader.ts";

const COMIMAGE_FLAGS: [number, string][] = [
  [0x1, "ILONLY"],
  [0x2, "32BITREQUIRED"],
  [0x4, "IL_LIBRARY"],
  [0x8, "STRONGNAMESIGNED"],
  [0x10, "NATIVE_ENTRYPOINT"],
  [0x10000, "TRACKDEBUGDATA"],
  [0x20000, "32BITPREFERRED"],
];

/** What the CLR header says. */
export interface DotNet {
  runtime_version: string;
  flags: string[];
  entry_point_token: string;
  metadata_version: string | null;
  strong_name_signature: boolean;
}

/** Parses the CLR header; undefined when the image is not .NET. */
export function parseDotNet(r: Reader, h: PeHeaders): DotNet | undefined {
  const dir = directory(h, "com_descriptor");
  if (!dir) return undefined;
  const at = offsetOf(h, dir.rva, "CLR header");
  const w = "CLR header";
  const flags = r.u32(at + 16, w);
  const metaOff = rvaToOffset(h, r.u32(at + 8, w));
  let metadata_version: string | null = null;
  // Metadata root: "BSJB", major, minor, reserved, length, version string.
  if (metaOff !== undefined && r.has(metaOff, 16) && r.u32(metaOff, "metadata") === 0x424a5342) {
    const len = r.u32(metaOff + 12, "metadata version length");
    metadata_version = r.cstring(metaOff + 16, Math.min(len, 255), "metadata version");
  }
  return {
    runtime_version: `${r.u16(at + 4, w)}.${r.u16(at + 6, w)}`,
    flags: flagNames(flags, COMIMAGE_FLAGS),
    entry_point_token: hex(r.u32(at + 20, w), 8),
    metadata_version,
    strong_name_signature: r.u32(at + 32, w) !== 0 && r.u32(at + 36, w) !== 0,
  };
}
