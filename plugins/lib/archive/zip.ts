/**
 * ZIP extraction in-process with zip.js, including ZipCrypto and AES members. Archives zip.js
 * cannot read (a broken directory, or bzip2/LZMA/PPMd members) are signalled with
 * {@link NeedsSevenZip} before anything is extracted, so the caller can hand them to 7z whole.
 */
import type * as ZipJs from "@zip.js/zip.js";
import { type Collector, concat, type CryptoInfo, messageOf, throwIfAborted } from "./common.ts";

type ZipModule = typeof ZipJs;

let zipModule: Promise<ZipModule> | undefined;
function loadZip(): Promise<ZipModule> {
  zipModule ??= import("@zip.js/zip.js").then((zip) => {
    // Web workers would need extra permissions under Deno and buy nothing here: the engine
    // already runs scans concurrently.
    zip.configure({ useWebWorkers: false });
    return zip;
  }).catch((e) => {
    zipModule = undefined;
    throw e;
  });
  return zipModule;
}

/** zip.js cannot extract this archive; the message says why. */
export class NeedsSevenZip extends Error {}

// Stored, deflate, deflate64: what zip.js decompresses.
const SUPPORTED_METHODS = new Set([0, 8, 9]);

type ReadOutcome =
  | { kind: "ok"; data: Uint8Array; note?: string }
  | { kind: "cap" }
  | { kind: "password" | "error"; message: string };

/** The reason given for encrypted members no password opened. */
export function noPasswordReason(tried: number): string {
  return tried === 0
    ? "encrypted, and no passwords are configured"
    : `encrypted, and none of the ${tried} passwords worked (add the right one to the ` +
      "passwords option or to payload_meta.extra_data.passwords)";
}

/**
 * Extracts the file members of the zip in `content` into `col`, trying `passwords` on encrypted
 * members (the password that worked last is tried first). Member names are used as metadata
 * only. Throws {@link NeedsSevenZip} when zip.js cannot read the archive.
 */
export async function extractZip(
  content: Uint8Array,
  col: Collector,
  passwords: readonly string[],
  signal: AbortSignal,
): Promise<CryptoInfo> {
  const zip = await loadZip();
  // Names such as "../x" are only metadata here, and malware zips are often sloppy: accept all.
  const reader = new zip.ZipReader(new zip.Uint8ArrayReader(content), {
    filenameValidation: "tolerant",
    strictness: "tolerant",
  });
  try {
    let entries: ZipJs.Entry[];
    try {
      entries = await reader.getEntries();
    } catch (e) {
      throwIfAborted(signal);
      throw new NeedsSevenZip(`zip.js could not read it (${messageOf(e)})`);
    }
    // A symlink member's data is its target path: listed, not extracted. Members with FIFO or
    // device mode bits hold ordinary data (`7z a -si` writes such modes for what it reads from a
    // pipe), which unzip and 7z x extract as files, and so does this.
    const isLink = (e: ZipJs.Entry) => e.symlink || ((e.unixMode ?? 0) & 0o170000) === 0o120000;
    for (const e of entries) {
      if (e.directory || !isLink(e)) continue;
      const target = await readEntry(zip, e as ZipJs.FileEntry, undefined, 4096, signal);
      col.other(
        e.filename,
        "symlink",
        target.kind === "ok" ? new TextDecoder().decode(target.data) : undefined,
      );
    }
    const files = entries.filter((e): e is ZipJs.FileEntry => !e.directory && !isLink(e));
    const odd = files.find((e) => !SUPPORTED_METHODS.has(e.compressionMethod));
    if (odd) {
      throw new NeedsSevenZip(
        `zip.js does not support compression method ${odd.compressionMethod} (member ${
          JSON.stringify(odd.filename)
        })`,
      );
    }
    const info: CryptoInfo = { encrypted: files.some((e) => e.encrypted) };
    let known: string | undefined;
    const twins: Twins = { bySizeCrc: new Map() };
    for (const entry of files) {
      throwIfAborted(signal);
      const name = entry.filename;
      if (col.full) {
        col.skip(name, col.reasonCount());
        continue;
      }
      // The size the headers declare may lie either way: the cap is enforced on the bytes the
      // member really holds, as they are produced.
      const room = col.room();
      const candidates: (string | undefined)[] = entry.encrypted
        ? [...new Set(known === undefined ? passwords : [known, ...passwords])]
        : [undefined];
      let outcome: ReadOutcome = { kind: "password", message: "" };
      for (const password of candidates) {
        const direct = password === undefined &&
          await inflateDirect(content, entry, room.bytes, twins);
        outcome = direct === "cap"
          ? { kind: "cap" }
          : direct
          ? { kind: "ok", data: direct, note: misstated(entry, direct.length) }
          : await readEntry(zip, entry, password, room.bytes, signal);
        if (outcome.kind !== "password") {
          if (outcome.kind === "ok" && password !== undefined) known = info.password = password;
          break;
        }
      }
      if (outcome.kind === "ok") {
        col.add(name, outcome.data);
        if (outcome.note) col.note(`member ${JSON.stringify(name)}: ${outcome.note}`);
      } else if (outcome.kind === "cap") col.skip(name, room.reason);
      else if (outcome.kind === "password") col.skip(name, noPasswordReason(candidates.length));
      else col.skip(name, `could not be extracted (${outcome.message})`);
    }
    return info;
  } finally {
    await reader.close().catch(() => {});
  }
}

async function readEntry(
  zip: ZipModule,
  entry: ZipJs.FileEntry,
  password: string | undefined,
  cap: number,
  signal: AbortSignal,
): Promise<ReadOutcome> {
  // Into one buffer of the declared size while the data fits it (held once, not as chunks plus
  // a copy); what runs past a size that lied goes to chunks.
  const first = new Uint8Array(Math.min(entry.uncompressedSize, cap));
  let filled = 0;
  const chunks: Uint8Array[] = [];
  let total = 0;
  let over = false;
  const sink = new WritableStream<Uint8Array>({
    write(chunk) {
      total += chunk.length;
      if (total > cap) {
        over = true;
        throw new Error("member size cap exceeded");
      }
      if (chunks.length === 0 && filled + chunk.length <= first.length) {
        first.set(chunk, filled);
        filled += chunk.length;
      } else chunks.push(chunk);
    },
  });
  const data = () =>
    chunks.length === 0
      // A header that overstated the size: keep only what was filled, not the whole allocation.
      ? (filled === first.length ? first : first.slice(0, filled))
      : concat([first.subarray(0, filled), ...chunks], total);
  try {
    await entry.getData(sink, { password, signal, checkCrc32: true });
  } catch (e) {
    throwIfAborted(signal);
    if (over) return { kind: "cap" };
    const message = messageOf(e);
    // Headers that misstate the size: keep what the data holds, as unzip does.
    if (!entry.encrypted && message === zip.ERR_INVALID_UNCOMPRESSED_SIZE && total > 0) {
      return { kind: "ok", data: data(), note: misstated(entry, total) };
    }
    // A wrong ZipCrypto password passes its one-byte check now and then and only shows as bad
    // data, so on an encrypted member any data error means "try the next password".
    const wrongPassword = entry.encrypted && [
      zip.ERR_INVALID_PASSWORD,
      zip.ERR_ENCRYPTED,
      zip.ERR_INVALID_CRC32,
      zip.ERR_INVALID_COMPRESSED_DATA,
      zip.ERR_INVALID_UNCOMPRESSED_SIZE,
      zip.ERR_INVALID_AUTHENTICATION_CODE,
    ].includes(message);
    return { kind: wrongPassword ? "password" : "error", message };
  }
  return { kind: "ok", data: data() };
}

/**
 * A plain (stored or deflated, unencrypted) member read straight from the archive into one
 * buffer of its size (fflate, no chunks to collect), when its local header, size and CRC-32 all
 * agree; undefined otherwise, and the caller reads it with zip.js, which explains any problem.
 * Faster, and a large member is held once instead of as chunks plus a copy.
 */
async function inflateDirect(
  content: Uint8Array,
  entry: ZipJs.FileEntry,
  cap: number,
  twins: Twins,
): Promise<Uint8Array | "cap" | undefined> {
  const method = entry.compressionMethod;
  const size = entry.uncompressedSize;
  if (entry.encrypted || (method !== 0 && method !== 8)) return;
  const dv = new DataView(content.buffer, content.byteOffset, content.byteLength);
  const at = entry.offset;
  if (at + 30 > content.length || dv.getUint32(at, true) !== 0x04034b50) return;
  const start = at + 30 + dv.getUint16(at + 26, true) + dv.getUint16(at + 28, true);
  const raw = content.subarray(start, start + entry.compressedSize);
  if (raw.length !== entry.compressedSize) return;
  // Declared over the cap: the header may lie, so count what the data really yields, holding
  // no more than the cap (a bomb's 4 GB never exists in memory).
  if (size > cap) return await inflateCapped(raw, method, cap);
  // A member with the size and CRC of one already read is most likely its twin (a bomb's one
  // block of zeros under many names): it is inflated into a reused scratch buffer and, when
  // the bytes really are the same, shares the first one's buffer; no new allocation either way.
  const key = `${size}:${entry.signature}`;
  const twin = size >= TWIN_FROM ? twins.bySizeCrc.get(key) : undefined;
  if (twin && (twins.scratch?.length ?? 0) < size) twins.scratch = new Uint8Array(size);
  const target = twin ? twins.scratch!.subarray(0, size) : new Uint8Array(size);
  let out: Uint8Array;
  try {
    if (method === 0) {
      if (raw.length !== size) return;
      target.set(raw);
      out = target;
    } else {
      const { inflateSync } = await loadFflate();
      out = inflateSync(raw, { out: target });
      if (out.length !== size) return;
    }
  } catch {
    return;
  }
  const { crc32 } = await import("node:zlib");
  if ((crc32(out) >>> 0) !== entry.signature) return;
  if (!twin) {
    if (size >= TWIN_FROM && !twins.bySizeCrc.has(key)) twins.bySizeCrc.set(key, out);
    return out;
  }
  const { Buffer } = await import("node:buffer");
  return Buffer.compare(out, twin) === 0 ? twin : out.slice();
}

/** The note for a member whose data holds another size than its header declares, if it does. */
function misstated(entry: ZipJs.FileEntry, held: number): string | undefined {
  return held === entry.uncompressedSize
    ? undefined
    : `its header declares ${entry.uncompressedSize} bytes but its data holds ${held}; ` +
      "the data was kept";
}

/** Inflates `raw` while it yields at most `cap` bytes: the data, or "cap" once it yields more. */
async function inflateCapped(
  raw: Uint8Array,
  method: number,
  cap: number,
): Promise<Uint8Array | "cap" | undefined> {
  if (method === 0) return raw.length > cap ? "cap" : raw.slice();
  const { Inflate } = await loadFflate();
  const chunks: Uint8Array[] = [];
  let total = 0;
  let over = false;
  const inflate = new Inflate((chunk) => {
    total += chunk.length;
    if (total > cap) {
      over = true;
      throw new Error("cap");
    }
    chunks.push(chunk);
  });
  try {
    // Small steps: deflate expands up to ~1,032:1, so 1 KiB in never yields more than ~1 MiB
    // at once, and the cap is checked before anything large is made.
    for (let off = 0; off < raw.length; off += 1024) {
      inflate.push(raw.subarray(off, off + 1024), off + 1024 >= raw.length);
    }
  } catch {
    return over ? "cap" : undefined;
  }
  return concat(chunks, total);
}

/** Members already read whole, for sharing the buffer of identical ones. */
interface Twins {
  bySizeCrc: Map<string, Uint8Array>;
  scratch?: Uint8Array;
}
/** Smaller members are not worth the bookkeeping: copies of them cost little memory. */
const TWIN_FROM = 64 * 1024;

let fflate: Promise<typeof import("fflate")> | undefined;
const loadFflate = () => fflate ??= import("fflate");

/** The members {@link readZipMembers} read, and those it left out. */
export interface ZipMembers {
  members: { name: string; data: Uint8Array }[];
  /** Members selected but not read, with the reason (too large, encrypted, unreadable). */
  skipped: { name: string; reason: string }[];
}

/**
 * Reads the regular members whose names `select` accepts (at most `maxMembers`, each at most
 * `maxSize` bytes once inflated) in archive order. For readers of zip-based documents (OOXML,
 * ODF) that need a few named parts, not an extraction. Throws when zip.js cannot read the
 * archive's directory.
 */
export async function readZipMembers(
  content: Uint8Array,
  select: (name: string) => boolean,
  limits: { maxMembers: number; maxSize: number },
  signal: AbortSignal,
): Promise<ZipMembers> {
  const zip = await loadZip();
  const reader = new zip.ZipReader(new zip.Uint8ArrayReader(content), {
    filenameValidation: "tolerant",
    strictness: "tolerant",
  });
  const out: ZipMembers = { members: [], skipped: [] };
  const twins: Twins = { bySizeCrc: new Map() };
  try {
    const entries = await reader.getEntries();
    for (const entry of entries) {
      throwIfAborted(signal);
      if (entry.directory || !select(entry.filename)) continue;
      const name = entry.filename;
      if (out.members.length >= limits.maxMembers) {
        out.skipped.push({ name, reason: `more than ${limits.maxMembers} parts` });
      } else if (entry.encrypted) out.skipped.push({ name, reason: "encrypted" });
      else if (!SUPPORTED_METHODS.has(entry.compressionMethod)) {
        out.skipped.push({ name, reason: `compression method ${entry.compressionMethod}` });
      } else if (entry.uncompressedSize > limits.maxSize) {
        out.skipped.push({ name, reason: `larger than ${limits.maxSize} bytes` });
      } else {
        // A plain member whose sizes and CRC-32 agree is inflated straight into its buffer;
        // zip.js's streams, which cost more than the inflating of a small part, read the rest.
        const direct = await inflateDirect(content, entry, limits.maxSize, twins);
        if (direct instanceof Uint8Array) {
          out.members.push({ name, data: direct });
          continue;
        }
        const r = await readEntry(zip, entry, undefined, limits.maxSize, signal);
        if (r.kind === "ok") out.members.push({ name, data: r.data });
        else {out.skipped.push({
            name,
            reason: r.kind === "cap"
              ? `larger than ${limits.maxSize} bytes`
              : r.kind === "error"
              ? r.message
              : "encrypted",
          });}
      }
    }
    return out;
  } finally {
    await reader.close().catch(() => {});
  }
}
