/** Signs that UPX packed an executable: its section names, and its "UPX!" pack header. */

const UPX_SECTION = /^(UPX\d|\.UPX\d|UPX!)$/i;
const MAGIC = [0x55, 0x50, 0x58, 0x21]; // "UPX!"
/** UPX writes its pack header within the first pages (after a PE's section table, an ELF's phdrs). */
const MAGIC_WINDOW = 4096;

/** Why `content` looks UPX-packed, given its PE section names (none for ELF); empty when not. */
export function upxEvidence(sectionNames: string[], content: Uint8Array): string[] {
  const out: string[] = [];
  const names = sectionNames.filter((n) => UPX_SECTION.test(n));
  if (names.length) out.push(`section names ${names.join(", ")}`);
  // indexOf jumps from "U" to "U" (a byte-by-byte loop with a callback cost more than the rest
  // of a small PE's parse).
  const head = content.subarray(0, MAGIC_WINDOW);
  for (
    let i = head.indexOf(MAGIC[0]);
    i >= 0 && i + 4 <= head.length;
    i = head.indexOf(MAGIC[0], i + 1)
  ) {
    if (head[i + 1] === MAGIC[1] && head[i + 2] === MAGIC[2] && head[i + 3] === MAGIC[3]) {
      out.push(`"UPX!" pack header at offset ${i}`);
      break;
    }
  }
  return out;
}
