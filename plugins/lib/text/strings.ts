/** binutils-style string finding (`strings -a`, 7-bit ASCII and UTF-16LE), shared by `strings` and `iocextract`. */

/** Encodings that can be searched, in the order ties at one offset are reported. */
export const ENCODINGS = ["ascii", "utf16le"] as const;
export type Encoding = typeof ENCODINGS[number];

/** One string found, with the byte offset where it starts. */
export interface FoundString {
  offset: number;
  string: string;
}

/** What `findStrings` returns: strings in offset order, and whether more were left out. */
export interface StringsFound {
  strings: FoundString[];
  truncated: boolean;
}

// binutils' STRING_ISGRAPHIC for its default 7-bit encoding: isprint() in the C locale, plus tab.
const GRAPHIC = new Uint8Array(256);
for (let b = 0x20; b <= 0x7e; b++) GRAPHIC[b] = 1;
GRAPHIC[0x09] = 1;

const latin1 = new TextDecoder("latin1");
const utf16le = new TextDecoder("utf-16le");

/**
 * Finds runs of at least `minLength` graphic characters in one pass over `data`. ASCII runs are
 * bytes; UTF-16LE runs are 16-bit units with a graphic low byte and a zero high byte, at either
 * byte alignment. The result is ordered by offset (ASCII first on a tie) and holds at most
 * `maxStrings` entries; `truncated` says there were more.
 */
export function findStrings(
  data: Uint8Array,
  { minLength, encodings, maxStrings }: {
    minLength: number;
    encodings: readonly Encoding[];
    maxStrings: number;
  },
): StringsFound {
  const n = data.length;
  const doAscii = encodings.includes("ascii");
  const doUtf16 = encodings.includes("utf16le");
  // Each list keeps one more than the cap: that is how we know the merged list was cut, and
  // the first maxStrings of the merge are always among the first maxStrings of each list.
  const keep = maxStrings + 1;
  const ascii: FoundString[] = [];
  const wide: FoundString[] = [];
  let asciiStart = -1;
  // UTF-16 runs at even and odd offsets are followed separately; a run at one alignment can
  // never overlap a run at the other (its odd bytes are zero, its even bytes are not).
  const wideStart = [-1, -1];
  const minWideBytes = 2 * minLength;
  let asciiOpen = doAscii;
  let wideOpen = doUtf16;
  for (let i = 0; i < n && (asciiOpen || wideOpen); i++) {
    const g = GRAPHIC[data[i]];
    if (asciiOpen) {
      if (g) {
        if (asciiStart < 0) asciiStart = i;
      } else if (asciiStart >= 0) {
        if (i - asciiStart >= minLength) {
          ascii.push({ offset: asciiStart, string: latin1.decode(data.subarray(asciiStart, i)) });
          if (ascii.length >= keep) asciiOpen = false;
        }
        asciiStart = -1;
      }
    }
    if (wideOpen && i + 1 < n) {
      const p = i & 1;
      if (g && data[i + 1] === 0) {
        if (wideStart[p] < 0) wideStart[p] = i;
      } else if (wideStart[p] >= 0) {
        const s = wideStart[p];
        if (i - s >= minWideBytes) {
          wide.push({ offset: s, string: utf16le.decode(data.subarray(s, i)) });
          if (wide.length >= keep) wideOpen = false;
        }
        wideStart[p] = -1;
      }
    }
  }
  // Runs still open at the end of the data end there, as at binutils' EOF.
  if (asciiOpen && asciiStart >= 0 && n - asciiStart >= minLength) {
    ascii.push({ offset: asciiStart, string: latin1.decode(data.subarray(asciiStart)) });
  }
  if (wideOpen) {
    const tails = wideStart.filter((s) => s >= 0).sort((a, b) => a - b);
    for (const s of tails) {
      const end = s + 2 * Math.floor((n - s) / 2);
      if (end - s >= minWideBytes) {
        wide.push({ offset: s, string: utf16le.decode(data.subarray(s, end)) });
      }
    }
  }
  const merged = mergeByOffset(ascii, wide, maxStrings);
  return { strings: merged, truncated: ascii.length + wide.length > maxStrings };
}

/** Merges two offset-ordered lists into the first `limit` entries, `a` first on a tie. */
function mergeByOffset(a: FoundString[], b: FoundString[], limit: number): FoundString[] {
  const out: FoundString[] = [];
  let i = 0;
  let j = 0;
  while (out.length < limit && (i < a.length || j < b.length)) {
    if (j >= b.length || (i < a.length && a[i].offset <= b[j].offset)) out.push(a[i++]);
    else out.push(b[j++]);
  }
  return out;
}
