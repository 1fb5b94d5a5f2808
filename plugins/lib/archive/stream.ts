/** Single-stream decompressors (gzip, xz; bzip2 is in archive_bzip2.ts) that stop at a cap. */
import { collectCapped, concat, throwIfAborted } from "./common.ts";

/** A decompressed stream (null when it passed the cap), and a remark worth reporting. */
export interface Decoded {
  data: Uint8Array | null;
  warning?: string;
}

/** Where the deflate data of the gzip member at `pos` starts, or -1 if no member starts there. */
function gzipDataStart(data: Uint8Array, pos: number): number {
  if (data[pos] !== 0x1f || data[pos + 1] !== 0x8b || data[pos + 2] !== 8) return -1;
  const flags = data[pos + 3];
  if (flags & 0xe0) return -1;
  let p = pos + 10;
  if (flags & 0x04) p += 2 + (data[p] | data[p + 1] << 8);
  for (const bit of [0x08, 0x10]) { // FNAME, FCOMMENT: NUL-terminated
    if (flags & bit) p = data.indexOf(0, p) + 1 || data.length + 1;
  }
  if (flags & 0x02) p += 2;
  return p <= data.length ? p : -1;
}

type InflateRaw = (
  data: Uint8Array,
  options: { info: true; maxOutputLength: number },
) => { buffer: Uint8Array; engine: { bytesWritten: number } };

/**
 * Decompresses gzip, all members of a multi-member file, each checked against its CRC and
 * length. Data after the last member that is not another member is ignored (with a warning
 * unless it is zero padding), as gzip(1) does. Members are inflated one at a time, each
 * bounded by zlib's `maxOutputLength`, with the event loop given a turn between members.
 */
export async function gunzip(data: Uint8Array, cap: number, signal: AbortSignal): Promise<Decoded> {
  const zlib = await import("node:zlib");
  const inflateRaw = zlib.inflateRawSync as unknown as InflateRaw;
  const parts: Uint8Array[] = [];
  let total = 0;
  let pos = 0;
  while (pos < data.length) {
    throwIfAborted(signal);
    const start = gzipDataStart(data, pos);
    if (start === -1) {
      if (pos === 0) throw new Error("not gzip data");
      const padding = data.subarray(pos).every((b) => b === 0);
      return {
        data: concat(parts, total),
        warning: padding ? undefined : "data after the gzip stream was ignored",
      };
    }
    let member: ReturnType<InflateRaw>;
    try {
      member = inflateRaw(data.subarray(start), { info: true, maxOutputLength: cap - total + 1 });
    } catch (e) {
      if ((e as { code?: string }).code === "ERR_BUFFER_TOO_LARGE") return { data: null };
      throw e;
    }
    const end = start + member.engine.bytesWritten;
    if (end + 8 > data.length) throw new Error("unexpected end of file");
    const trailer = new DataView(data.buffer, data.byteOffset + end, 8);
    const out = member.buffer;
    if (
      trailer.getUint32(0, true) !== zlib.crc32(out) >>> 0 ||
      trailer.getUint32(4, true) !== out.length % 2 ** 32
    ) throw new Error(`CRC or length mismatch in the member at offset ${pos}`);
    total += out.length;
    if (total > cap) return { data: null };
    parts.push(out);
    pos = end + 8;
    await new Promise<void>((resolve) => setTimeout(resolve, 0));
  }
  return { data: concat(parts, total) };
}

interface XzModule {
  XzReadableStream?: new (input: ReadableStream<Uint8Array>) => ReadableStream<Uint8Array>;
  default?: XzModule;
}

// xz-embedded's xz_ret codes, which xz-decompress reports as bare numbers.
const XZ_ERRORS: Record<string, string> = {
  "2": "unsupported integrity check",
  "3": "out of memory",
  "4": "dictionary too large",
  "5": "not xz data",
  "6": "unsupported xz options",
  "7": "corrupt data",
  "8": "truncated data",
};

/** Decompresses xz with xz-decompress's streaming WASM decoder. */
export async function unxz(data: Uint8Array, cap: number, signal: AbortSignal): Promise<Decoded> {
  const mod = (await import("xz-decompress")) as XzModule;
  // A CommonJS module: its exports may sit on the default export.
  const Xz = mod.XzReadableStream ?? mod.default?.XzReadableStream;
  if (!Xz) throw new Error("xz-decompress has no XzReadableStream export");
  const input = new Blob([data as Uint8Array<ArrayBuffer>]).stream();
  try {
    return { data: await collectCapped(new Xz(input), cap, signal) };
  } catch (e) {
    throwIfAborted(signal);
    const code = /error code (\d+)/.exec(String(e))?.[1];
    if (code && XZ_ERRORS[code]) throw new Error(XZ_ERRORS[code]);
    throw e;
  }
}

/** The original filename a gzip header stores (FNAME, ISO-8859-1), if any. */
export function gzipStoredName(data: Uint8Array): string | undefined {
  const flags = data[3];
  if (!(flags & 0x08)) return undefined;
  let pos = 10;
  if (flags & 0x04) pos += 2 + (data[10] | data[11] << 8);
  const end = data.indexOf(0, pos);
  if (end === -1 || end === pos || end - pos > 1024) return undefined;
  return String.fromCharCode(...data.subarray(pos, end));
}
