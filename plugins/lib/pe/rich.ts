/**
 * The Rich header MSVC's linker writes into the DOS stub: the tools that built the image, its
 * checksum (recomputed, so a forged or transplanted header shows), and pefile's rich hash.
 */
import { createHash } from "node:crypto";
import { hex, type Reader } from "../bytes/reader.ts";

const DANS = 0x536e6144;
const RICH = 0x68636952;
const MAX_ENTRIES = 256;

/** One @comp.id entry: product id, build number, and how many objects it produced. */
export interface RichEntry {
  product_id: number;
  build: number;
  count: number;
}

/** The decoded Rich header. */
export interface RichHeader {
  offset: number;
  key: string;
  entries: RichEntry[];
  checksum_valid: boolean;
  /** md5 of the decoded header from 0x80 to "Rich" (pefile's get_rich_header_hash). */
  hash: string;
}

const rol = (v: number, n: number) => ((v << (n & 31)) | (v >>> ((32 - (n & 31)) & 31))) >>> 0;

/** Finds and decodes the Rich header between 0x80 and e_lfanew; undefined when there is none. */
export function parseRich(r: Reader, e_lfanew: number): RichHeader | undefined {
  const end = Math.min(e_lfanew, r.size);
  let rich = -1;
  for (let i = 0x80; i + 8 <= end; i += 4) {
    if (r.view.getUint32(i, true) === RICH) {
      rich = i;
      break;
    }
  }
  if (rich < 0) return undefined;
  const key = r.view.getUint32(rich + 4, true);
  // pefile expects "DanS" at 0x80, then three zero (key-XORed) padding words.
  const start = 0x80;
  if (rich < start + 16) return undefined;
  const word = (i: number) => (r.view.getUint32(i, true) ^ key) >>> 0;
  if (
    word(start) !== DANS || word(start + 4) !== 0 || word(start + 8) !== 0 || word(start + 12) !== 0
  ) {
    return undefined;
  }
  const entries: RichEntry[] = [];
  let sum = start;
  for (let i = 0; i < start; i++) {
    if (i >= 0x3c && i < 0x40) continue; // e_lfanew is not part of the checksum
    sum = (sum + rol(r.data[i], i)) >>> 0;
  }
  for (let i = start + 16; i + 8 <= rich && entries.length < MAX_ENTRIES; i += 8) {
    const compid = word(i);
    const count = word(i + 4);
    entries.push({ product_id: compid >>> 16, build: compid & 0xffff, count });
    sum = (sum + rol(compid, count)) >>> 0;
  }
  const clear = new Uint8Array(rich - start);
  for (let i = 0; i < clear.length; i++) {
    clear[i] = r.data[start + i] ^ ((key >>> (8 * (i & 3))) & 0xff);
  }
  return {
    offset: start,
    key: hex(key, 8),
    entries,
    checksum_valid: sum === key,
    hash: createHash("md5").update(clear).digest("hex"),
  };
}
