/**
 * Shannon entropy of bytes, shared by the entropy worker, the analyzers that rate strings and
 * the binary parsers' sections (ELF, Mach-O, PE). Binaries have dozens of sections, many of a
 * few bytes, so the fixed cost of one call matters as much as the cost per byte: the counts
 * table is allocated once and reused (a call is synchronous, and each scan thread has its own
 * copy of this module).
 */

/** Four 256-entry histograms (see shannon); only the first is used for short data. */
const counts = new Uint32Array(1024);
/** Below this many bytes one histogram and a byte loop beat the word loop and its set-up. */
const WORD_LOOP_FROM = 512;

/**
 * Shannon entropy of `data` (of bytes `start` to `end` of it: a section needs no view of its
 * own) in bits per byte (0–8).
 */
export function shannon(data: Uint8Array, start = 0, end = data.length): number {
  const n = end - start;
  if (n <= 0) return 0;
  // Two functions, not two branches of one: V8 optimises the short path far better alone.
  return n < WORD_LOOP_FROM ? shannonShort(data, start, end) : shannonLong(data, start, end);
}

function shannonShort(data: Uint8Array, start: number, end: number): number {
  const c = counts, n = end - start;
  c.fill(0, 0, 256);
  for (let i = start; i < end; i++) c[data[i]]++;
  let h = 0;
  for (let b = 0; b < 256; b++) {
    const count = c[b];
    if (count === 0) continue;
    const p = count / n;
    h -= p * Math.log2(p);
  }
  return h;
}

function shannonLong(data: Uint8Array, start: number, end: number): number {
  const c = counts, n = end - start;
  c.fill(0);
  // Four histograms fed a 32-bit word at a time: fewer loads, and runs of one byte value do not
  // serialise on a single counter. Byte order does not matter: every byte of a word is counted.
  // Bytes before the first 4-byte boundary of the buffer are counted one by one.
  const head = (4 - ((data.byteOffset + start) & 3)) & 3;
  for (let i = start; i < start + head; i++) c[data[i]]++;
  const nw = (n - head) >>> 2;
  const words = new Uint32Array(data.buffer, data.byteOffset + start + head, nw);
  for (let i = 0; i < nw; i++) {
    const w = words[i];
    c[w & 255]++;
    c[256 + ((w >>> 8) & 255)]++;
    c[512 + ((w >>> 16) & 255)]++;
    c[768 + (w >>> 24)]++;
  }
  for (let i = start + head + nw * 4; i < end; i++) c[data[i]]++;
  let h = 0;
  for (let b = 0; b < 256; b++) {
    const count = c[b] + c[256 + b] + c[512 + b] + c[768 + b];
    if (count === 0) continue;
    const p = count / n;
    h -= p * Math.log2(p);
  }
  return h;
}
