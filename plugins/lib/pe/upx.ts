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
  const end = Math.min(content.length, MAGIC_WINDOW);
  for (let i = 0; i + 4 <= end; i++) {
    if (MAGIC.every((b, j) => content[i + j] === b)) {
      out.push(`"UPX!" pack header at offset ${i}`);
      break;
    }
  }
  return out;
}
