/**
 * PDF stream filters (ISO 32000-2 §7.4): FlateDecode (node:zlib), LZWDecode, ASCIIHexDecode,
 * ASCII85Decode, RunLengthDecode and the PNG/TIFF predictors, each with a hard cap on the bytes
 * it produces. Image codecs (DCT, JPX, JBIG2, CCITT) are not decoded: what they hold is an image
 * file (DCT, JPX) or pixels.
 *
 * The non-Flate decoders are a few lines each from the spec; the npm readers that have them
 * (pdf-lib, pdf.js) decode without any output cap, which a decompression bomb exploits.
 * Damaged data gives what decoded before the damage plus a note, as PDF readers do.
 */
import { constants, inflateRawSync, inflateSync } from "node:zlib";
import { hexValue, isDict, isWhite, type PdfDict, type PdfValue } from "./lexer.ts";

/** What decoding produced: the bytes, and notes on damage or caps. */
export interface Decoded {
  data: Uint8Array;
  /** The output reached the cap and was cut there. */
  truncated: boolean;
  /** What was wrong with the data, in words. */
  problems: string[];
  /** Filters left undecoded at the end of the chain (image codecs, unknown filters). */
  remaining: string[];
}

const ABBREVIATIONS: Record<string, string> = {
  "/AHx": "/ASCIIHexDecode",
  "/A85": "/ASCII85Decode",
  "/LZW": "/LZWDecode",
  "/Fl": "/FlateDecode",
  "/RL": "/RunLengthDecode",
  "/CCF": "/CCITTFaxDecode",
  "/DCT": "/DCTDecode",
};

/** A stream's filter chain as full names, with each filter's parameters. */
export function filterChain(dict: PdfDict): { name: string; parms: PdfDict | undefined }[] {
  const f = dict.get("/Filter") ?? dict.get("/F");
  const p = dict.get("/DecodeParms") ?? dict.get("/DP");
  const names = typeof f === "string" ? [f] : Array.isArray(f) ? f : [];
  const parms = Array.isArray(p) ? p : [p];
  const out: { name: string; parms: PdfDict | undefined }[] = [];
  for (let i = 0; i < names.length && i < 16; i++) {
    const n = names[i];
    if (typeof n !== "string") continue;
    const pi = parms[i];
    out.push({ name: ABBREVIATIONS[n] ?? n, parms: isDict(pi) ? pi : undefined });
  }
  return out;
}

/** Filters whose output is a file of its own (the image), not something to decode further. */
export const IMAGE_FILTERS = new Set([
  "/DCTDecode",
  "/JPXDecode",
  "/JBIG2Decode",
  "/CCITTFaxDecode",
]);

/**
 * Applies `chain` to `data`, producing at most `cap` bytes at each step. Stops at the first
 * image codec or unknown filter (listed in `remaining`).
 */
export function decodeChain(
  data: Uint8Array,
  chain: { name: string; parms: PdfDict | undefined }[],
  cap: number,
): Decoded {
  const out: Decoded = { data, truncated: false, problems: [], remaining: [] };
  for (let i = 0; i < chain.length; i++) {
    const { name, parms } = chain[i];
    let step: Step;
    switch (name) {
      case "/FlateDecode":
        step = flate(out.data, cap);
        break;
      case "/LZWDecode":
        step = lzw(out.data, cap, earlyChange(parms));
        break;
      case "/ASCIIHexDecode":
        step = asciiHex(out.data, cap);
        break;
      case "/ASCII85Decode":
        step = ascii85(out.data, cap);
        break;
      case "/RunLengthDecode":
        step = runLength(out.data, cap);
        break;
      case "/Crypt": // decryption happens before the chain; /Identity is the only other choice
        continue;
      default:
        out.remaining = chain.slice(i).map((f) => f.name);
        return out;
    }
    if (step.problem) out.problems.push(`${name.slice(1)}: ${step.problem}`);
    if (step.truncated) out.truncated = true;
    out.data = step.data;
    if ((name === "/FlateDecode" || name === "/LZWDecode") && parms) {
      const pred = predict(out.data, parms);
      if (pred.problem) out.problems.push(`${name.slice(1)} predictor: ${pred.problem}`);
      out.data = pred.data;
    }
    if (out.truncated) return out;
  }
  return out;
}

interface Step {
  data: Uint8Array;
  truncated?: boolean;
  problem?: string;
}

const EMPTY = new Uint8Array(0);

function isCapError(e: unknown): boolean {
  return (e as { code?: string }).code === "ERR_BUFFER_TOO_LARGE" || e instanceof RangeError;
}

/** Inflates `data` (zlib, or raw deflate as some writers emit); damaged data gives a prefix. */
export function flate(data: Uint8Array, cap: number): Step {
  const max = Math.max(1, cap);
  // A zlib header: CMF.CM = 8 and (CMF*256 + FLG) % 31 == 0.
  const zlib = data.length >= 2 && (data[0] & 0x0f) === 8 && ((data[0] << 8) | data[1]) % 31 === 0;
  const inflate = zlib ? inflateSync : inflateRawSync;
  const partial = { finishFlush: constants.Z_SYNC_FLUSH, maxOutputLength: max };
  try {
    return { data: inflate(data, { maxOutputLength: max }) };
  } catch (e) {
    if (isCapError(e)) {
      return { data: EMPTY, truncated: true, problem: `decodes to more than ${cap} bytes` };
    }
    if ((e as { code?: string }).code === "Z_BUF_ERROR") {
      // The data ends before the compressed stream does: a cut file, or no checksum.
      try {
        const out = inflate(data, partial);
        return { data: out, problem: `the data ends early; kept ${out.length} decoded bytes` };
      } catch { /* damaged as well: find the good prefix below */ }
    }
    // Keep what decodes before the damage: the longest prefix of the input that inflates.
    let lo = 0;
    let hi = data.length;
    let best: Uint8Array = EMPTY;
    for (let round = 0; round < 16 && lo < hi; round++) {
      const mid = (lo + hi + 1) >> 1;
      try {
        best = inflate(data.subarray(0, mid), partial);
        lo = mid;
      } catch (e2) {
        if (isCapError(e2)) break;
        hi = mid - 1;
      }
    }
    const why = (e as Error).message.replace(/^.*?: /, "");
    return {
      data: best,
      problem: `damaged data (${why}) after about ${lo} of ${data.length} input bytes; ` +
        `kept ${best.length} decoded bytes`,
    };
  }
}

/** Inflates at most the first `inputBytes` of `data`: a cheap look at how a stream begins. */
export function flatePrefix(data: Uint8Array, inputBytes: number): Uint8Array {
  const part = data.subarray(0, inputBytes);
  const zlib = part.length >= 2 && (part[0] & 0x0f) === 8 && ((part[0] << 8) | part[1]) % 31 === 0;
  const opts = { finishFlush: constants.Z_SYNC_FLUSH, maxOutputLength: 4 << 20 };
  try {
    return zlib ? inflateSync(part, opts) : inflateRawSync(part, opts);
  } catch {
    return EMPTY;
  }
}

function earlyChange(parms: PdfDict | undefined): number {
  const v = parms?.get("/EarlyChange");
  return v === 0 ? 0 : 1;
}

/** LZWDecode: 9-12 bit codes, 256 = clear table, 257 = end of data (§7.4.4). */
export function lzw(data: Uint8Array, cap: number, early = 1): Step {
  // The table as prefix links: entry i = entry prefix[i] followed by byte suffix[i].
  const prefix = new Int32Array(4096);
  const suffix = new Uint8Array(4096);
  const length = new Uint16Array(4096);
  const first = new Uint8Array(4096);
  for (let i = 0; i < 256; i++) {
    prefix[i] = -1;
    suffix[i] = i;
    length[i] = 1;
    first[i] = i;
  }
  let out = new Uint8Array(Math.min(cap, Math.max(4096, data.length * 3)));
  let n = 0;
  let next = 258;
  let width = 9;
  let prev = -1;
  let bits = 0;
  let nbits = 0;
  for (let i = 0; i < data.length;) {
    while (nbits < width && i < data.length) {
      bits = ((bits << 8) | data[i++]) >>> 0;
      nbits += 8;
    }
    if (nbits < width) break;
    const code = (bits >>> (nbits - width)) & ((1 << width) - 1);
    nbits -= width;
    bits &= (1 << nbits) - 1;
    if (code === 256) {
      next = 258;
      width = 9;
      prev = -1;
      continue;
    }
    if (code === 257) return { data: out.subarray(0, n) };
    // The bytes of `code`: an entry, or (the KwKwK case) prev's bytes plus prev's first byte.
    const known = code < next;
    if (!known && (code !== next || prev < 0)) {
      return { data: out.subarray(0, n), problem: `invalid code ${code} at input byte ${i}` };
    }
    const entry = known ? code : prev;
    const len = length[entry] + (known ? 0 : 1);
    if (n + len > out.length) {
      if (n + len > cap) return { data: out.subarray(0, n), truncated: true };
      const grown = new Uint8Array(Math.min(cap, Math.max(out.length * 2, n + len)));
      grown.set(out.subarray(0, n));
      out = grown;
    }
    let c = entry;
    for (let k = n + length[entry] - 1; k >= n; k--) {
      out[k] = suffix[c];
      c = prefix[c];
    }
    if (!known) out[n + len - 1] = first[prev];
    n += len;
    if (prev >= 0 && next < 4096) {
      prefix[next] = prev;
      suffix[next] = first[entry];
      first[next] = first[prev];
      length[next] = length[prev] + 1;
      next++;
    }
    prev = code;
    if (next + early >= 1 << width && width < 12) width++;
  }
  return { data: out.subarray(0, n), problem: "no end-of-data code" };
}

/** ASCIIHexDecode: hex digit pairs up to `>`; white-space ignored. */
export function asciiHex(data: Uint8Array, cap: number): Step {
  const out = new Uint8Array(Math.min(cap, (data.length >> 1) + 1));
  let n = 0;
  let hi = -1;
  let problem: string | undefined;
  let i = 0;
  for (; i < data.length; i++) {
    const b = data[i];
    if (b === 0x3e) break;
    const v = hexValue(b);
    if (v < 0) {
      if (!isWhite(b)) problem ??= `byte 0x${b.toString(16)} at ${i} is not a hex digit`;
      continue;
    }
    if (hi < 0) hi = v;
    else {
      if (n >= cap) return { data: out.subarray(0, n), truncated: true };
      out[n++] = hi * 16 + v;
      hi = -1;
    }
  }
  if (hi >= 0 && n < cap) out[n++] = hi * 16;
  if (i >= data.length) problem ??= "no end marker '>'";
  return { data: out.subarray(0, n), problem };
}

/** ASCII85Decode: base-85 groups, `z` for four zero bytes, `~>` at the end. */
export function ascii85(data: Uint8Array, cap: number): Step {
  const out = new Grow(cap);
  const group = new Uint8Array(4);
  let value = 0;
  let count = 0;
  let i = 0;
  let problem: string | undefined;
  if (data[0] === 0x3c && data[1] === 0x7e) i = 2; // "<~" some writers add
  let ended = false;
  for (; i < data.length; i++) {
    const b = data[i];
    if (b === 0x7e) {
      ended = true;
      break;
    }
    if (isWhite(b)) continue;
    if (b === 0x7a && count === 0) {
      group.fill(0);
      if (!out.push(group, 4)) return { data: out.done(), truncated: true };
      continue;
    }
    if (b < 0x21 || b > 0x75) {
      problem ??= `byte 0x${b.toString(16)} at ${i} is not base-85`;
      continue;
    }
    value = value * 85 + (b - 0x21);
    if (++count === 5) {
      group[0] = value >>> 24;
      group[1] = value >>> 16;
      group[2] = value >>> 8;
      group[3] = value;
      if (!out.push(group, 4)) return { data: out.done(), truncated: true };
      value = 0;
      count = 0;
    }
  }
  if (count > 1) { // a final partial group of count chars gives count - 1 bytes
    for (let k = count; k < 5; k++) value = value * 85 + 84;
    group[0] = value >>> 24;
    group[1] = value >>> 16;
    group[2] = value >>> 8;
    group[3] = value;
    if (!out.push(group, count - 1)) return { data: out.done(), truncated: true };
  }
  if (!ended) problem ??= "no end marker '~>'";
  return { data: out.done(), problem };
}

/** RunLengthDecode: a length byte, then literal bytes (0-127) or one repeated byte (129-255). */
export function runLength(data: Uint8Array, cap: number): Step {
  const out = new Grow(cap);
  const run = new Uint8Array(128);
  let i = 0;
  while (i < data.length) {
    const len = data[i++];
    if (len === 128) return { data: out.done() };
    if (len < 128) {
      const n = Math.min(len + 1, data.length - i);
      if (!out.push(data.subarray(i, i + n), n)) return { data: out.done(), truncated: true };
      i += n;
    } else {
      if (i >= data.length) break;
      run.fill(data[i++], 0, 257 - len);
      if (!out.push(run, 257 - len)) return { data: out.done(), truncated: true };
    }
  }
  return { data: out.done(), problem: "no end-of-data byte" };
}

/** Undoes a PNG (10-15) or TIFF (2) predictor; other values leave the data as is. */
export function predict(data: Uint8Array, parms: PdfDict): Step {
  const num = (k: string, d: number) => {
    const v: PdfValue | undefined = parms.get(k);
    return typeof v === "number" && Number.isInteger(v) && v > 0 ? v : d;
  };
  const predictor = num("/Predictor", 1);
  if (predictor < 2) return { data };
  const colors = num("/Colors", 1);
  const bpc = num("/BitsPerComponent", 8);
  const columns = num("/Columns", 1);
  if (colors > 32 || bpc > 16 || columns > 1 << 20) {
    return { data, problem: "parameters out of range; left undone" };
  }
  const bpp = Math.max(1, Math.ceil((colors * bpc) / 8));
  const rowBytes = Math.ceil((colors * bpc * columns) / 8);
  if (predictor === 2) {
    if (bpc !== 8) {
      return { data, problem: `TIFF predictor with ${bpc}-bit components left undone` };
    }
    const out = data.slice();
    for (let r = 0; r + rowBytes <= out.length; r += rowBytes) {
      for (let k = bpp; k < rowBytes; k++) out[r + k] = (out[r + k] + out[r + k - bpp]) & 0xff;
    }
    return { data: out };
  }
  // PNG: each row starts with its filter type byte.
  const rows = Math.floor(data.length / (rowBytes + 1));
  const out = new Uint8Array(rows * rowBytes);
  let problem: string | undefined;
  for (let r = 0; r < rows; r++) {
    const src = r * (rowBytes + 1);
    const type = data[src];
    const dst = r * rowBytes;
    const up = dst - rowBytes;
    for (let k = 0; k < rowBytes; k++) {
      const raw = data[src + 1 + k];
      const a = k >= bpp ? out[dst + k - bpp] : 0;
      const b = r > 0 ? out[up + k] : 0;
      const c = r > 0 && k >= bpp ? out[up + k - bpp] : 0;
      let v: number;
      switch (type) {
        case 0:
          v = raw;
          break; // prettier-ignore
        case 1:
          v = raw + a;
          break; // prettier-ignore
        case 2:
          v = raw + b;
          break; // prettier-ignore
        case 3:
          v = raw + ((a + b) >> 1);
          break; // prettier-ignore
        case 4: {
          const p = a + b - c;
          const pa = Math.abs(p - a);
          const pb = Math.abs(p - b);
          const pc = Math.abs(p - c);
          v = raw + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
          break;
        }
        default:
          problem ??= `unknown PNG filter type ${type} in row ${r}`;
          v = raw;
      }
      out[dst + k] = v & 0xff;
    }
  }
  return { data: out, problem };
}

/** A byte buffer that grows up to `cap`; `push` returns false once the cap cut something. */
class Grow {
  private buf: Uint8Array;
  private n = 0;
  full = false;
  constructor(private readonly cap: number) {
    this.buf = new Uint8Array(Math.min(cap, 4096));
  }
  push(src: Uint8Array, len: number): boolean {
    let take = len;
    if (this.n + len > this.cap) {
      take = this.cap - this.n;
      this.full = true;
    }
    if (this.n + take > this.buf.length) {
      const grown = new Uint8Array(
        Math.min(this.cap, Math.max(this.buf.length * 2, this.n + take)),
      );
      grown.set(this.buf.subarray(0, this.n));
      this.buf = grown;
    }
    if (take <= 16) { for (let i = 0; i < take; i++) this.buf[this.n + i] = src[i]; }
    else this.buf.set(take === src.length ? src : src.subarray(0, take), this.n);
    this.n += take;
    return !this.full;
  }
  done(): Uint8Array {
    return this.buf.subarray(0, this.n);
  }
}
