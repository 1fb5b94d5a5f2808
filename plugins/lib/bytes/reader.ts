/**
 * Bounds-checked reads of fixed-width integers and strings from untrusted binaries (the ELF,
 * Mach-O and PE parsers, PE carving). Every read names what it was reading, so a malformed file
 * fails with "<what> (<n> bytes at 0x<offset>) is past the end of the file" instead of a
 * RangeError or a silent zero, and a parser can stop there and keep what it had already read.
 */

/** A structure that does not fit the file or breaks the format; `offset` is a file offset. */
export class FormatError extends Error {
  constructor(message: string, readonly offset?: number) {
    super(message);
    this.name = "FormatError";
  }

  /** "<what> at offset <offset>: <detail>", for a field whose value breaks the format. */
  static field(what: string, offset: number, detail: string): FormatError {
    return new FormatError(`${what} at offset ${offset}: ${detail}`, offset);
  }
}

/** Little-endian (the default) or big-endian reads over one buffer. */
export class Reader {
  readonly view: DataView;
  constructor(readonly data: Uint8Array, readonly little = true, view?: DataView) {
    this.view = view ?? new DataView(data.buffer, data.byteOffset, data.byteLength);
  }

  get size(): number {
    return this.data.length;
  }

  /** The same data read in the other byte order (no new view of the buffer). */
  swapped(): Reader {
    return new Reader(this.data, !this.little, this.view);
  }

  /** Whether `len` bytes at `off` lie inside the data. */
  has(off: number, len: number): boolean {
    return Number.isSafeInteger(off) && off >= 0 && len >= 0 && off + len <= this.data.length;
  }

  /** Throws a FormatError unless `len` bytes at `off` lie inside the data. */
  need(off: number, len: number, what: string): void {
    if (!this.has(off, len)) {
      throw new FormatError(
        `${what} (${len} bytes at ${hex(off)}) is past the end of the file (${this.size} bytes)`,
        off,
      );
    }
  }

  u8(offset: number, what = "byte"): number {
    this.need(offset, 1, what);
    return this.data[offset];
  }
  u16(offset: number, what = "u16"): number {
    this.need(offset, 2, what);
    return this.view.getUint16(offset, this.little);
  }
  u32(offset: number, what = "u32"): number {
    this.need(offset, 4, what);
    return this.view.getUint32(offset, this.little);
  }
  i32(offset: number, what = "i32"): number {
    this.need(offset, 4, what);
    return this.view.getInt32(offset, this.little);
  }
  u64(offset: number, what = "u64"): bigint {
    this.need(offset, 8, what);
    return this.view.getBigUint64(offset, this.little);
  }
  /** The high and low 32-bit halves of a 64-bit field (no BigInt: parsers read thousands). */
  private halves(offset: number, what: string): [number, number] {
    this.need(offset, 8, what);
    const a = this.view.getUint32(offset, this.little);
    const b = this.view.getUint32(offset + 4, this.little);
    return this.little ? [b, a] : [a, b];
  }
  /** A 64-bit field used as a size or offset: a number, or a FormatError past 2^53. */
  u64n(offset: number, what = "u64"): number {
    const [hi, lo] = this.halves(offset, what);
    if (hi > 0x1fffff) {
      throw FormatError.field(
        what,
        offset,
        `value 0x${hi.toString(16)}${lo.toString(16).padStart(8, "0")} is too large`,
      );
    }
    return hi * 0x1_0000_0000 + lo;
  }
  /** The low 32 bits of a 64-bit field (flags words whose high half holds nothing defined). */
  u64lo(offset: number, what = "u64"): number {
    return this.halves(offset, what)[1];
  }
  /** A 64-bit field as a number, rounded past 2^53 (values only compared, never used as sizes). */
  u64f(offset: number, what = "u64"): number {
    const [hi, lo] = this.halves(offset, what);
    return hi * 0x1_0000_0000 + lo;
  }
  /** A word of the file's class: 4 bytes (32-bit) or 8 bytes (64-bit), as a number. */
  word(offset: number, is64: boolean, what = "word"): number {
    return is64 ? this.u64n(offset, what) : this.u32(offset, what);
  }
  /** An address of the file's class as lower-case hex with 0x, exact for 64-bit values. */
  addr(offset: number, is64: boolean, what = "address"): string {
    if (!is64) return `0x${this.u32(offset, what).toString(16)}`;
    const [hi, lo] = this.halves(offset, what);
    return hi === 0
      ? `0x${lo.toString(16)}`
      : `0x${hi.toString(16)}${lo.toString(16).padStart(8, "0")}`;
  }

  /** `len` bytes at `off` (a view, not a copy). */
  bytes(off: number, len: number, what: string): Uint8Array {
    this.need(off, len, what);
    return this.data.subarray(off, off + len);
  }

  /** A NUL-terminated single-byte (latin1) string of at most `max` bytes (cut there, or at the end). */
  cstring(offset: number, max = 4096, what = "string"): string {
    this.need(offset, 1, what);
    const end = Math.min(this.data.length, offset + max);
    const data = this.data;
    let i = offset;
    while (i < end && data[i] !== 0) i++;
    return latin1(data, offset, i);
  }
  /** A fixed-size field holding a NUL-padded name (Mach-O segment and section names). */
  fixedString(offset: number, size: number, what = "name"): string {
    this.need(offset, size, what);
    const data = this.data, end = offset + size;
    let i = offset;
    while (i < end && data[i] !== 0) i++;
    return latin1(data, offset, i);
  }
  /** Bytes as lower-case hex. */
  hexBytes(offset: number, size: number, what = "bytes"): string {
    this.need(offset, size, what);
    return toHex(this.data.subarray(offset, offset + size));
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

const utf16 = new TextDecoder("utf-16le");

/**
 * Bytes `start` to `end` as latin1 text, one character per byte (TextDecoder's "latin1" is
 * windows-1252, which maps 0x80-0x9f elsewhere). Short names (most symbol and section names) go
 * through a plain array, which fromCharCode.apply reads faster than a view; longer text in
 * slices, to keep the argument list short.
 */
function latin1(data: Uint8Array, start: number, end: number): string {
  const n = end - start;
  if (n <= 256) {
    const codes: number[] = new Array(n);
    for (let i = 0; i < n; i++) codes[i] = data[start + i];
    return String.fromCharCode.apply(null, codes);
  }
  let out = "";
  for (let i = start; i < end; i += 4096) {
    const part = data.subarray(i, Math.min(end, i + 4096));
    out += String.fromCharCode.apply(null, part as unknown as number[]);
  }
  return out;
}

/** `0x`-prefixed lower-case hex of a number or bigint, zero-padded to `width` digits. */
export function hex(n: number | bigint, width = 0): string {
  return `0x${n.toString(16).padStart(width, "0")}`;
}

/** Bytes as lower-case hex, no separators. */
export function toHex(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}

/** A name from a constants table, or the value in hex when the table has none. */
export function nameOf(table: Record<number, string>, value: number): string {
  return table[value] ?? `0x${value.toString(16)}`;
}

/** The message of anything thrown, for an error string in a result. */
export function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
