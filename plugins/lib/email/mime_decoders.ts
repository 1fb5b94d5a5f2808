/**
 * Body decoders for postal-mime's MIME nodes (base64, quoted-printable, 7bit/8bit/binary) with
 * the same output as postal-mime's own, built for Deno.
 *
 * postal-mime's decoders gather a part's bytes in a Blob. In Deno every Blob part is an op:
 * a 7bit part of 300 lines (a forwarded message) costs 7 ms, and its quoted-printable decoder
 * allocates 100 KiB per part; the base64 decoder decodes line by line in JavaScript. These
 * decoders keep views of the lines (the input is not copied until the end), decode base64 with
 * the built-in Uint8Array.fromBase64, and join synchronously: the email worker's cost per
 * message drops five- to tenfold. postal-mime has no option for its decoders, so its node
 * class's `setupContentDecoder` is replaced (reached through a parser's root node; the version
 * is pinned, and the tests compare every part with Python's and munpack's decoding).
 */
import type PostalMime from "postal-mime";

type FromBase64 = (text: string, options: { lastChunkHandling: "loose" }) => Uint8Array;
const fromBase64 = (Uint8Array as unknown as { fromBase64: FromBase64 }).fromBase64;
const latin1 = new TextDecoder("latin1");
const LF = Uint8Array.of(0x0a);

/** What a MIME node expects of its decoder. */
interface Decoder {
  update(line: Uint8Array): void;
  finalize(): Promise<ArrayBuffer>;
}

function join(chunks: Uint8Array[], size: number): ArrayBuffer {
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out.buffer;
}

/** 7bit, 8bit, binary: each line as it is, then a line feed. */
class PassThrough implements Decoder {
  chunks: Uint8Array[] = [];
  size = 0;
  update(line: Uint8Array): void {
    this.chunks.push(line, LF);
    this.size += line.length + 1;
  }
  finalize(): Promise<ArrayBuffer> {
    return Promise.resolve(join(this.chunks, this.size));
  }
}

/**
 * Base64: characters outside the alphabet are dropped; "=" ends a unit (some mailers pad
 * every line), each unit is decoded on its own, and a unit's dangling sixth bit group is
 * dropped, as postal-mime does.
 */
class Base64 implements Decoder {
  chunks: Uint8Array[] = [];
  size = 0;
  // A part's lines follow one another in the message: while they do, only the span they cover
  // is kept (line breaks in it are whitespace to the decoder), not a view per line.
  span: Uint8Array | null = null;
  whole: Uint8Array | null = null;
  update(line: Uint8Array): void {
    const span = this.span;
    if (span !== null && line.buffer === span.buffer) {
      const end = span.byteOffset + span.length;
      const gap = line.byteOffset - end;
      const all = this.whole ??= new Uint8Array(line.buffer);
      if (
        gap >= 0 && gap <= 2 && (gap < 1 || isBreak(all[end])) && (gap < 2 || isBreak(all[end + 1]))
      ) {
        this.span = all.subarray(span.byteOffset, line.byteOffset + line.length);
        return;
      }
    }
    if (span !== null) {
      this.chunks.push(span);
      this.size += span.length;
    }
    this.span = line;
  }
  finalize(): Promise<ArrayBuffer> {
    if (this.span !== null) {
      this.chunks.push(this.span);
      this.size += this.span.length;
      this.span = null;
    }
    const all = this.chunks.length === 1
      ? this.chunks[0]
      : new Uint8Array(join(this.chunks, this.size));
    let text = latin1.decode(all);
    // Well-formed base64 (padding only at the end) is decoded in one call; anything else
    // (junk characters, padded lines) takes the careful way below.
    try {
      return Promise.resolve(
        fromBase64(text, { lastChunkHandling: "loose" }).buffer as ArrayBuffer,
      );
    } catch { /* not clean: see below */ }
    text = text.replace(/[^a-zA-Z0-9+/=]+/g, "");
    const out: Uint8Array[] = [];
    let size = 0;
    for (let unit of text.split(/=+/)) {
      if (unit.length % 4 === 1) unit = unit.slice(0, -1);
      if (unit === "") continue;
      const bytes = fromBase64(unit, { lastChunkHandling: "loose" });
      out.push(bytes);
      size += bytes.length;
    }
    return Promise.resolve(join(out, size));
  }
}

/** Quoted-printable: `=XX` escapes, soft line breaks (a final "="); a bad escape stays as text. */
class QuotedPrintable implements Decoder {
  chunks: Uint8Array[] = [];
  size = 0;
  update(line: Uint8Array): void {
    let end = line.length;
    const soft = end > 0 && line[end - 1] === 0x3d;
    if (soft) end--;
    let at = line.indexOf(0x3d);
    if (at < 0 || at >= end) {
      this.push(line.subarray(0, end));
    } else {
      const out = new Uint8Array(end);
      let n = 0;
      let from = 0;
      for (; at >= 0 && at < end; at = line.indexOf(0x3d, at + 1)) {
        const hi = at + 2 < end ? nibble(line[at + 1]) : -1;
        const lo = hi < 0 ? -1 : nibble(line[at + 2]);
        if (lo < 0) continue;
        out.set(line.subarray(from, at), n);
        n += at - from;
        out[n++] = hi << 4 | lo;
        from = at + 3;
        at += 2;
      }
      out.set(line.subarray(from, end), n);
      n += end - from;
      this.push(out.subarray(0, n));
    }
    if (!soft) this.push(LF);
  }
  push(bytes: Uint8Array): void {
    this.chunks.push(bytes);
    this.size += bytes.length;
  }
  finalize(): Promise<ArrayBuffer> {
    return Promise.resolve(join(this.chunks, this.size));
  }
}

function isBreak(b: number): boolean {
  return b === 0x0d || b === 0x0a;
}

function nibble(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

let installed = false;

/** Gives every MIME node of postal-mime these decoders (once per process). */
export function installDecoders(Parser: typeof PostalMime): void {
  if (installed) return;
  const root = (new Parser() as unknown as { root: object }).root;
  const node = Object.getPrototypeOf(root) as {
    setupContentDecoder(this: { contentDecoder: Decoder | null }, encoding: string): void;
  };
  node.setupContentDecoder = function (encoding: string) {
    this.contentDecoder = /base64/i.test(encoding)
      ? new Base64()
      : /quoted-printable/i.test(encoding)
      ? new QuotedPrintable()
      : new PassThrough();
  };
  installed = true;
}
