/**
 * The bounds-checked reader the shell-link and OneNote parsers use: lib/bytes' Reader (every read
 * names what it reads; a cut structure throws FormatError with its offset), with their default
 * names, Number-valued 64-bit reads and GUIDs in lib/office's registry text form.
 */
import { guid } from "../office/cfb.ts";
import { FormatError, Reader } from "../bytes/reader.ts";

export { FormatError };

/** lib/bytes' little-endian Reader with the reads the Microsoft structures of lnk and onenote need. */
export class LeReader extends Reader {
  get length(): number {
    return this.size;
  }
  override u16(o: number, what = "uint16"): number {
    return super.u16(o, what);
  }
  override u32(o: number, what = "uint32"): number {
    return super.u32(o, what);
  }
  override i32(o: number, what = "int32"): number {
    return super.i32(o, what);
  }
  /** An unsigned 64-bit value as a Number: exact up to 2^53, enough for offsets and sizes. */
  override u64n(o: number, what = "uint64"): number {
    return super.u64f(o, what);
  }
  override bytes(o: number, n: number, what = "bytes"): Uint8Array {
    return super.bytes(o, n, what);
  }
  guid(o: number, what = "GUID"): string {
    this.need(o, 16, what);
    return guid(this.data, o);
  }
}
