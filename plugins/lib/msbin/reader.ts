/**
 * Small Microsoft binary types shared by the Office, OneNote and shell-link parsers: GUIDs in
 * their mixed-endian layout ([MS-DTYP] 2.3.4), FILETIMEs ([MS-DTYP] 2.3.3) and a bounds-checked
 * little-endian reader whose errors name the structure and offset that were cut short.
 */

/** A structure ran past the end of its data; `offset` is where the read was attempted. */
export class TruncatedError extends Error {
  constructor(readonly what: string, readonly offset: number, readonly need: number) {
    super(`${what} at offset ${offset} needs ${need} bytes past the end of the data`);
  }
}

/** Little-endian reads over one buffer, every one bounds-checked. */
export class LeReader {
  readonly view: DataView;
  constructor(readonly data: Uint8Array) {
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  }
  get length(): number {
    return this.data.length;
  }
  /** Throws a {@link TruncatedError} unless `n` bytes exist at `offset`. */
  need(offset: number, n: number, what: string): void {
    if (offset < 0 || n < 0 || offset + n > this.data.length) {
      throw new TruncatedError(what, offset, n);
    }
  }
  u8(o: number, what = "byte"): number {
    this.need(o, 1, what);
    return this.data[o];
  }
  u16(o: number, what = "uint16"): number {
    this.need(o, 2, what);
    return this.view.getUint16(o, true);
  }
  u32(o: number, what = "uint32"): number {
    this.need(o, 4, what);
    return this.view.getUint32(o, true);
  }
  i32(o: number, what = "int32"): number {
    this.need(o, 4, what);
    return this.view.getInt32(o, true);
  }
  /** An unsigned 64-bit value; exact only up to 2^53, which is enough for offsets and sizes. */
  u64(o: number, what = "uint64"): number {
    this.need(o, 8, what);
    return this.view.getUint32(o, true) + this.view.getUint32(o + 4, true) * 2 ** 32;
  }
  bytes(o: number, n: number, what = "bytes"): Uint8Array {
    this.need(o, n, what);
    return this.data.subarray(o, o + n);
  }
  guid(o: number, what = "GUID"): string {
    return guidAt(this.bytes(o, 16, what), 0);
  }
}

const hex = (b: Uint8Array, from: number, to: number, reverse: boolean) => {
  const part = Array.from(b.subarray(from, to), (x) => x.toString(16).padStart(2, "0"));
  return (reverse ? part.reverse() : part).join("");
};

/** The GUID in `b` at `o`, as upper-case `XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX` (no braces). */
export function guidAt(b: Uint8Array, o: number): string {
  return [
    hex(b, o, o + 4, true),
    hex(b, o + 4, o + 6, true),
    hex(b, o + 6, o + 8, true),
    hex(b, o + 8, o + 10, false),
    hex(b, o + 10, o + 16, false),
  ].join("-").toUpperCase();
}

/** The 16 bytes of a GUID written as text (braces optional), in its on-disk layout. */
export function guidBytes(text: string): Uint8Array {
  const h = text.replace(/[{}-]/g, "");
  if (!/^[0-9a-fA-F]{32}$/.test(h)) throw new Error(`not a GUID: ${text}`);
  const b = Uint8Array.from(h.match(/../g)!, (x) => parseInt(x, 16));
  return Uint8Array.from([
    b[3],
    b[2],
    b[1],
    b[0],
    b[5],
    b[4],
    b[7],
    b[6],
    ...b.subarray(8),
  ]);
}

const FILETIME_UNIX_EPOCH = 11_644_473_600_000; // ms from 1601-01-01 to 1970-01-01

/** A FILETIME (100 ns ticks since 1601, split in two uint32) as ISO 8601, or null when zero or out of range. */
export function filetimeToIso(low: number, high: number): string | null {
  if (low === 0 && high === 0) return null;
  const ms = Math.floor((high * 2 ** 32 + low) / 10_000) - FILETIME_UNIX_EPOCH;
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}
