/**
 * Bounds-checked reads of fixed-width integers and strings from untrusted binaries (ELF, Mach-O,
 * PE headers). Every read names the field and offset when it falls outside the data, so a parser
 * can stop with a precise error and keep what it had already read.
 */

/** A read past the end of the data, or a value that breaks the format: `what` at `offset`. */
export class FormatError extends Error {
  constructor(readonly what: string, readonly offset: number, detail = "past the end of the data") {
    super(`${what} at offset ${offset}: ${detail}`);
    this.name = "FormatError";
  }
}

/** Little- or big-endian integer reads over one buffer. */
export class Reader {
  readonly view: DataView;
  readonly length: number;
  constructor(readonly data: Uint8Array, readonly little = true, view?: DataView) {
    this.view = view ?? new DataView(data.buffer, data.byteOffset, data.byteLength);
    this.length = data.length;
  }

  /** The same data read in the other byte order (no new view of the buffer). */
  swapped(): Reader {
    return new Reader(this.data, !this.little, this.view);
  }

  /** Throws a FormatError unless `size` bytes from `offset` are inside the data. */
  need(offset: number, size: number, what: string): void {
    if (!(offset >= 0 && size >= 0 && offset + size <= this.length)) {
      throw new FormatError(
        what,
        offset,
        `${size} bytes past the end of the data (${this.length})`,
      );
    }
  }

  /** Whether `size` bytes from `offset` are inside the data. */
  has(offset: number, size: number): boolean {
    return offset >= 0 && size >= 0 && offset + size <= this.length;
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
      throw new FormatError(
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

  /** A NUL-terminated string starting at `offset`, at most `max` bytes, decoded as latin1. */
  cstring(offset: number, max = 4096, what = "string"): string {
    this.need(offset, 1, what);
    const end = Math.min(this.length, offset + max);
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
}

const latin1Decoder = new TextDecoder("latin1");

/**
 * Bytes `start` to `end` as latin1 text. Short names (most symbol and section names) skip
 * TextDecoder's overhead and go through a plain array, which fromCharCode.apply reads faster
 * than a view; no view is made for them either.
 */
function latin1(data: Uint8Array, start: number, end: number): string {
  const n = end - start;
  if (n > 256) return latin1Decoder.decode(data.subarray(start, end));
  const codes: number[] = new Array(n);
  for (let i = 0; i < n; i++) codes[i] = data[start + i];
  return String.fromCharCode.apply(null, codes);
}

/** A number or bigint as lower-case hex with 0x. */
export function hex(v: number | bigint): string {
  return `0x${v.toString(16)}`;
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
