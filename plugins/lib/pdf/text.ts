/** PDF text strings (ISO 32000-2 §7.9.2) and dates (§7.9.4) as the result shows them. */
import { latin1, PdfString, type PdfValue } from "./lexer.ts";

// PDFDocEncoding where it differs from Latin-1 (Annex D.3): 0x18-0x1F and 0x80-0xA0.
const PDF_DOC: Record<number, number> = {
  0x18: 0x02d8,
  0x19: 0x02c7,
  0x1a: 0x02c6,
  0x1b: 0x02d9,
  0x1c: 0x02dd,
  0x1d: 0x02db,
  0x1e: 0x02da,
  0x1f: 0x02dc,
  0x80: 0x2022,
  0x81: 0x2020,
  0x82: 0x2021,
  0x83: 0x2026,
  0x84: 0x2014,
  0x85: 0x2013,
  0x86: 0x0192,
  0x87: 0x2044,
  0x88: 0x2039,
  0x89: 0x203a,
  0x8a: 0x2212,
  0x8b: 0x2030,
  0x8c: 0x201e,
  0x8d: 0x201c,
  0x8e: 0x201d,
  0x8f: 0x2018,
  0x90: 0x2019,
  0x91: 0x201a,
  0x92: 0x2122,
  0x93: 0xfb01,
  0x94: 0xfb02,
  0x95: 0x0141,
  0x96: 0x0152,
  0x97: 0x0160,
  0x98: 0x0178,
  0x99: 0x017d,
  0x9a: 0x0131,
  0x9b: 0x0142,
  0x9c: 0x0153,
  0x9d: 0x0161,
  0x9e: 0x017e,
  0xa0: 0x20ac,
}; // prettier-ignore

const utf16be = new TextDecoder("utf-16be");
const utf8 = new TextDecoder("utf-8");
const utf8Fatal = new TextDecoder("utf-8", { fatal: true });

/** A text string's characters: UTF-16BE or UTF-8 after a byte order mark, else PDFDocEncoding. */
export function textOf(bytes: Uint8Array): string {
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return utf16be.decode(bytes.subarray(2));
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) {
    return utf8.decode(bytes.subarray(3));
  }
  let plain = true;
  for (let i = 0; i < bytes.length && plain; i++) {
    const b = bytes[i];
    plain = (b >= 0x20 && b < 0x80) || b > 0xa0 || b === 0x09 || b === 0x0a || b === 0x0d;
  }
  if (plain) return latin1(bytes, 0, bytes.length);
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(PDF_DOC[bytes[i]] ?? bytes[i]);
  return s;
}

/** Script or file text: a byte order mark decides, else UTF-8 when valid, else PDFDocEncoding. */
export function scriptText(bytes: Uint8Array): string {
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return textOf(bytes);
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) return textOf(bytes);
  try {
    return utf8Fatal.decode(bytes);
  } catch {
    return textOf(bytes);
  }
}

/** A value's text if it is a string (a name gives its characters without the slash). */
export function textValue(v: PdfValue | undefined): string | undefined {
  if (v instanceof PdfString) return textOf(v.bytes);
  if (typeof v === "string") return v.slice(1);
  return undefined;
}

/**
 * `D:YYYYMMDDHHmmSSOHH'mm'` as ISO 8601 (`2026-12-03T07:50:21Z`, `...+02:00`, or no zone when
 * the date gives none). Anything else is returned as written.
 */
export function isoDate(s: string): string {
  const m =
    /^(?:D:)?(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:([Zz+-])(?:(\d{2})'?(\d{2})?'?)?)?/
      .exec(s.trim());
  if (!m) return s;
  const [, y, mo = "01", d = "01", h = "00", mi = "00", sec = "00", z, zh, zm] = m;
  if (+mo < 1 || +mo > 12 || +d < 1 || +d > 31 || +h > 23 || +mi > 59 || +sec > 59) return s;
  let zone = "";
  if (z === "Z" || z === "z") zone = "Z";
  else if (z) zone = zh ? `${z}${zh}:${zm ?? "00"}` : "Z";
  return `${y}-${mo}-${d}T${h}:${mi}:${sec}${zone}`;
}
