/**
 * Binary property lists (`bplist00`), as Apple's CoreFoundation writes them (CFBinaryPList.c:
 * header, objects, offset table, 32-byte trailer).
 *
 * Hand-written because the npm `bplist-parser` is not safe on hostile input: it follows object
 * references recursively with no cycle check or visit budget (an array that holds itself, or
 * forty levels of arrays that each hold the next twice, hang it or blow the stack) and logs
 * to the console on odd length markers. Here every offset is bounds-checked, a reference to an
 * object already on the path is an error, and the total number of objects visited, the depth,
 * and string/data sizes are capped.
 */
import { PlistError, type PlistLimits, type PlistValue } from "./value.ts";

const EPOCH_2001 = Date.UTC(2001, 0, 1);

/** Parses a binary plist; throws {@link PlistError} naming what is wrong and where. */
export function parseBinaryPlist(data: Uint8Array, limits: PlistLimits): PlistValue {
  if (data.length < 40 || new TextDecoder("latin1").decode(data.subarray(0, 6)) !== "bplist") {
    throw new PlistError("not a binary plist (no bplist header or too short for a trailer)", 0);
  }
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const t = data.length - 32;
  const offsetSize = data[t + 6];
  const refSize = data[t + 7];
  const numObjects = u64(view, t + 8);
  const top = u64(view, t + 16);
  const tableOffset = u64(view, t + 24);
  if (![1, 2, 4, 8].includes(offsetSize) || ![1, 2, 4, 8].includes(refSize)) {
    throw new PlistError(`bad trailer: offset size ${offsetSize}, reference size ${refSize}`, t);
  }
  if (numObjects < 1 || tableOffset + numObjects * offsetSize > t || top >= numObjects) {
    throw new PlistError(
      `bad trailer: ${numObjects} objects, offset table at ${tableOffset}, top object ${top}`,
      t,
    );
  }
  const uint = (at: number, size: number): number => {
    if (at < 0 || at + size > data.length) throw new PlistError("read past the end", at);
    let v = 0;
    for (let i = 0; i < size; i++) v = v * 256 + data[at + i];
    return v;
  };
  const offsetOf = (ref: number): number => {
    if (ref >= numObjects) {
      throw new PlistError(`object reference ${ref} out of range`, tableOffset);
    }
    const off = uint(tableOffset + ref * offsetSize, offsetSize);
    if (off < 8 || off >= tableOffset) {
      throw new PlistError(`object ${ref} offset ${off} out of range`, tableOffset);
    }
    return off;
  };
  let visited = 0;
  const path = new Set<number>();

  /** The length in the marker's low nibble, or the integer object that follows (0xF). */
  const lengthAt = (off: number): { length: number; start: number } => {
    const nib = data[off] & 0x0f;
    if (nib !== 0x0f) return { length: nib, start: off + 1 };
    const marker = uint(off + 1, 1);
    if ((marker & 0xf0) !== 0x10 || (marker & 0x0f) > 3) {
      throw new PlistError(`bad length marker 0x${marker.toString(16)}`, off + 1);
    }
    const size = 1 << (marker & 0x0f);
    return { length: uint(off + 2, size), start: off + 2 + size };
  };

  const parse = (ref: number, depth: number): PlistValue => {
    if (++visited > limits.maxObjects) {
      throw new PlistError(
        `more than ${limits.maxObjects} objects visited (shared references or a bomb)`,
        0,
      );
    }
    if (depth > limits.maxDepth) throw new PlistError(`nested deeper than ${limits.maxDepth}`, 0);
    if (path.has(ref)) throw new PlistError(`object ${ref} contains itself`, offsetOf(ref));
    const off = offsetOf(ref);
    const marker = data[off];
    const type = marker >> 4;
    const nib = marker & 0x0f;
    switch (type) {
      case 0x0:
        if (nib === 0x8) return false;
        if (nib === 0x9) return true;
        if (nib === 0x0 || nib === 0xf) return null;
        break;
      case 0x1: {
        if (nib > 4) break;
        const size = 1 << nib;
        if (off + 1 + size > data.length) throw new PlistError("integer past the end", off);
        if (size === 16) return bigToJson(view.getBigInt64(off + 9)); // low 64 bits
        if (size === 8) return bigToJson(view.getBigInt64(off + 1));
        return uint(off + 1, size);
      }
      case 0x2:
        if (nib === 2 && off + 5 <= data.length) return view.getFloat32(off + 1);
        if (nib === 3 && off + 9 <= data.length) return view.getFloat64(off + 1);
        break;
      case 0x3:
        if (nib === 3 && off + 9 <= data.length) {
          const ms = EPOCH_2001 + view.getFloat64(off + 1) * 1000;
          const d = new Date(ms);
          return {
            $date: Number.isFinite(d.getTime())
              ? d.toISOString().replace(".000Z", "Z")
              : String(ms),
          };
        }
        break;
      case 0x4: {
        const { length, start } = lengthAt(off);
        if (start + length > data.length) {
          throw new PlistError(`data of ${length} bytes runs past the end`, off);
        }
        return {
          $data: data.subarray(start, start + Math.min(length, limits.maxData)),
          size: length,
        };
      }
      case 0x5:
      case 0x6: {
        const { length, start } = lengthAt(off);
        const bytes = type === 0x5 ? length : length * 2;
        if (start + bytes > data.length) {
          throw new PlistError(`string of ${length} characters runs past the end`, off);
        }
        const shown = Math.min(bytes, type === 0x5 ? limits.maxString : limits.maxString * 2);
        const raw = data.subarray(start, start + shown);
        const text = type === 0x5
          ? new TextDecoder("latin1").decode(raw)
          : new TextDecoder("utf-16be").decode(raw);
        return shown < bytes ? `${text}…` : text;
      }
      case 0x8:
        return { $uid: uint(off + 1, nib + 1) };
      case 0xa:
      case 0xc:
      case 0xd: {
        const { length, start } = lengthAt(off);
        const refs = type === 0xd ? length * 2 : length;
        if (start + refs * refSize > data.length) {
          throw new PlistError(`container of ${length} entries runs past the end`, off);
        }
        path.add(ref);
        try {
          if (type === 0xd) {
            const obj: Record<string, PlistValue> = {};
            for (let i = 0; i < length; i++) {
              const key = parse(uint(start + i * refSize, refSize), depth + 1);
              const value = parse(uint(start + (length + i) * refSize, refSize), depth + 1);
              obj[typeof key === "string" ? key : JSON.stringify(key)] = value;
            }
            return obj;
          }
          const list: PlistValue[] = [];
          for (let i = 0; i < length; i++) {
            list.push(parse(uint(start + i * refSize, refSize), depth + 1));
          }
          return list;
        } finally {
          path.delete(ref);
        }
      }
    }
    throw new PlistError(`unknown object marker 0x${marker.toString(16).padStart(2, "0")}`, off);
  };
  return parse(top, 0);
}

function u64(view: DataView, at: number): number {
  const big = view.getBigUint64(at);
  return big > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(big);
}

function bigToJson(v: bigint): number | string {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)
    ? Number(v)
    : v.toString();
}
