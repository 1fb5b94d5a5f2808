/** Windows code page numbers as TextDecoder labels, for VBA projects and property sets. */

const LABELS: Record<number, string> = {
  1200: "utf-16le",
  1201: "utf-16be",
  65001: "utf-8",
  932: "shift_jis",
  936: "gbk",
  949: "euc-kr",
  950: "big5",
  874: "windows-874",
  10000: "macintosh",
  20866: "koi8-r",
  28591: "iso-8859-1",
};
const DECODERS = new Map<number, TextDecoder>();

/**
 * A decoder for a code page (a signed 16-bit value such as -535 is read as unsigned 65001);
 * unknown pages read as windows-1252, which maps every byte. Cached: constructing one is not free.
 */
export function codePageDecoder(codePage: number): TextDecoder {
  const cp = codePage < 0 ? codePage + 65536 : codePage;
  let d = DECODERS.get(cp);
  if (!d) {
    const label = LABELS[cp] ?? (cp >= 1250 && cp <= 1258 ? `windows-${cp}` : "windows-1252");
    try {
      d = new TextDecoder(label);
    } catch {
      d = new TextDecoder("windows-1252");
    }
    DECODERS.set(cp, d);
  }
  return d;
}
