/**
 * bzip2 decoding with seek-bzip, one block at a time. seek-bzip's `decode` is synchronous and
 * slow (a few MB/s), so a large stream would hold the event loop for seconds with no chance to
 * notice `call.signal`; driving its block decoder ourselves lets us yield and check the signal
 * between blocks (≤ 900 kB of output each) and stop as soon as the output passes the cap.
 * This uses seek-bzip 2.0.0's block API (`_init_block`, `_read_bunzip`), pinned in package.json.
 */
import { throwIfAborted } from "./common.ts";
import type { Decoded } from "./stream.ts";

interface InStream {
  pos: number;
  readByte(): number;
  read(buf: Uint8Array, offset: number, length: number): number;
  seek(pos: number): void;
  eof(): boolean;
}
interface OutStream {
  writeByte(byte: number): void;
}
interface BunzipBlocks {
  reader: { read(bits: number): number };
  streamCRC: number;
  _init_block(): boolean;
  _read_bunzip(): void;
  _start_bunzip(input: InStream, output: OutStream): void;
}
type BunzipCtor = new (input: InStream, output: OutStream) => BunzipBlocks;

class CapExceeded extends Error {}

function inStream(data: Uint8Array): InStream {
  return {
    pos: 0,
    readByte() {
      if (this.pos >= data.length) throw new Error("unexpected end of bzip2 data");
      return data[this.pos++];
    },
    read(buf, offset, length) {
      const n = Math.min(length, data.length - this.pos);
      buf.set(data.subarray(this.pos, this.pos + n), offset);
      this.pos += n;
      return n;
    },
    seek(pos) {
      this.pos = pos;
    },
    eof() {
      return this.pos >= data.length;
    },
  };
}

/** A growable output buffer that refuses to hold more than `cap` bytes. */
class CappedOut implements OutStream {
  buf = new Uint8Array(64 * 1024);
  length = 0;
  constructor(readonly cap: number) {}
  writeByte(byte: number): void {
    if (this.length === this.buf.length) {
      if (this.length >= this.cap) throw new CapExceeded();
      const bigger = new Uint8Array(Math.min(this.buf.length * 2, this.cap + 1));
      bigger.set(this.buf);
      this.buf = bigger;
    }
    this.buf[this.length++] = byte;
    if (this.length > this.cap) throw new CapExceeded();
  }
}

const yieldToLoop = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/**
 * Decodes a (possibly multi-stream) bzip2 file; null data when the output would pass `cap`
 * bytes. Bytes after the last stream that do not start another one are ignored (with a warning
 * unless they are zero padding), as bzip2(1) does.
 */
export async function bunzip2(
  data: Uint8Array,
  cap: number,
  signal: AbortSignal,
): Promise<Decoded> {
  const Bunzip = (await import("seek-bzip")).default as unknown as BunzipCtor;
  const input = inStream(data);
  const out = new CappedOut(cap);
  let warning: string | undefined;
  try {
    const bz = new Bunzip(input, out);
    while (true) {
      if (bz._init_block()) {
        bz._read_bunzip();
        await yieldToLoop();
        throwIfAborted(signal);
        continue;
      }
      const crc = bz.reader.read(32) >>> 0;
      if (crc !== bz.streamCRC) throw new Error("bad bzip2 stream CRC");
      const next = data.subarray(input.pos, input.pos + 3);
      if (String.fromCharCode(...next) !== "BZh") {
        if (data.subarray(input.pos).some((b) => b !== 0)) {
          warning = "data after the bzip2 stream was ignored";
        }
        break;
      }
      bz._start_bunzip(input, out);
    }
  } catch (e) {
    if (e instanceof CapExceeded) return { data: null };
    throw e;
  }
  // A copy, so the doubling slack of the buffer is not kept alive with the member.
  return { data: out.buf.slice(0, out.length), warning };
}
