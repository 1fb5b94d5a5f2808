/**
 * Bounds-checked little-endian reads over a byte array, for parsers of hostile files: every read
 * names what it was reading, so a malformed file fails with "<what> at 0x<offset> is past the end
 * of the file" instead of a RangeError or a silent zero.
 */

/** A structure that does not fit the file or breaks the format; `offset` is a file offset. */
export class FormatError extends Error {
  constructor(message: string, readonly offset?: number) {
    super(message);
    this.name = "FormatError";
  }
}

/** `0x`-prefixed lower-case hex of a number or bigint. */
export function hex(n: number | bigint, width = 0): string {
  return `0x${n.toString(16).padStart(width, "0")}`;
}

const latin1 = new TextDecoder("latin1");
const utf16 = new TextDecoder("utf-16le");

/** Bounded reads of `data`. */
export class Reader {
  readonly view: DataView;
  constructor(readonly data: Uint8Array) {
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  }

  get size(): number {
    return this.data.length;
  }

  /** Whether `len` bytes at `off` lie inside the data. */
  has(off: number, len: number): boolean {
    return Number.isSafeInteger(off) && off >= 0 && len >= 0 && off + len <= this.data.length;
  }

  /** Throws unless `len` bytes at `off` lie inside the data. */
  need(off: number, len: number, what: string): void {
    if (!this.has(off, len)) {
      throw new FormatError(
        `${what} (${len} bytes at ${hex(off)}) is past the end of the file (${this.size} bytes)`,
        off,
      );
    }
  }

  u8(off: number, what: string): number {
    this.need(off, 1, what);
    return this.data[off];
  }
  u16(off: number, what: string): number {
    this.need(off, 2, what);
    return this.view.getUint16(off, true);
  }
  u32(off: number, what: string): number {
    this.need(off, 4, what);
    return this.view.getUint32(off, true);
  }
  u64(off: number, what: string): bigint {
    this.need(off, 8, what);
    return this.view.getBigUint64(off, true);
  }

  /** `len` bytes at `off` (a view, not a copy). */
  bytes(off: number, len: number, what: string): Uint8Array {
    this.need(off, len, what);
    return this.data.subarray(off, off + len);
  }

  /** A NUL-terminated single-byte string of at most `max` bytes (cut there, or at the end). */
  cstring(off: number, max: number, what: string): string {
    this.need(off, 1, what);
    const end = Math.min(this.size, off + max);
    let i = off;
    while (i < end && this.data[i] !== 0) i++;
    return latin1.decode(this.data.subarray(off, i));
  }

  /** `chars` UTF-16LE code units at `off`. */
  utf16(off: number, chars: number, what: string): string {
    this.need(off, chars * 2, what);
    return utf16.decode(this.data.subarray(off, off + chars * 2));
  }

  /** A NUL-terminated UTF-16LE string of at most `maxChars` units, within `end`. */
  utf16z(off: number, end: number, maxChars: number): { text: string; next: number } {
    const stop = Math.min(end, this.size, off + maxChars * 2);
    let i = off;
    while (i + 1 < stop && this.view.getUint16(i, true) !== 0) i += 2;
    return { text: utf16.decode(this.data.subarray(off, i)), next: i + 2 };
  }
}

/** ISO 8601 of a Unix timestamp in seconds, or null for 0. */
export function isoTime(seconds: number): string | null {
  if (!seconds) return null;
  return new Date(seconds * 1000).toISOString().replace(".000Z", "Z");
}
