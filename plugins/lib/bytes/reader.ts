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
  constructor(readonly data: Uint8Array, public little = true) {
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    this.length = data.length;
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
  /** A 64-bit field used as a size or offset: a number, or a FormatError past 2^53. */
  u64n(offset: number, what = "u64"): number {
    const v = this.u64(offset, what);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new FormatError(what, offset, `value 0x${v.toString(16)} is too large`);
    }
    return Number(v);
  }
  /** A word of the file's class: 4 bytes (32-bit) or 8 bytes (64-bit), as a number. */
  word(offset: number, is64: boolean, what = "word"): number {
    return is64 ? this.u64n(offset, what) : this.u32(offset, what);
  }
  /** An address of the file's class as lower-case hex with 0x, exact for 64-bit values. */
  addr(offset: number, is64: boolean, what = "address"): string {
    return hex(is64 ? this.u64(offset, what) : this.u32(offset, what));
  }

  /** A NUL-terminated string starting at `offset`, at most `max` bytes, decoded as latin1. */
  cstring(offset: number, max = 4096, what = "string"): string {
    this.need(offset, 1, what);
    const end = Math.min(this.length, offset + max);
    let i = offset;
    while (i < end && this.data[i] !== 0) i++;
    return latin1String(this.data.subarray(offset, i));
  }
  /** A fixed-size field holding a NUL-padded name (Mach-O segment and section names). */
  fixedString(offset: number, size: number, what = "name"): string {
    this.need(offset, size, what);
    const bytes = this.data.subarray(offset, offset + size);
    const nul = bytes.indexOf(0);
    return latin1String(nul < 0 ? bytes : bytes.subarray(0, nul));
  }
  /** Bytes as lower-case hex. */
  hexBytes(offset: number, size: number, what = "bytes"): string {
    this.need(offset, size, what);
    return toHex(this.data.subarray(offset, offset + size));
  }
}

const latin1 = new TextDecoder("latin1");

/** Bytes as latin1 text; short names (most symbol and section names) skip TextDecoder's overhead. */
function latin1String(bytes: Uint8Array): string {
  if (bytes.length > 256) return latin1.decode(bytes);
  return String.fromCharCode.apply(null, bytes as unknown as number[]);
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
