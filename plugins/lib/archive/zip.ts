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
        outcome = await readEntry(zip, entry, password, room.bytes, signal);
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
      chunks.push(chunk);
    },
  });
  try {
    await entry.getData(sink, { password, signal, checkCrc32: true });
  } catch (e) {
    throwIfAborted(signal);
    if (over) return { kind: "cap" };
    const message = messageOf(e);
    // Headers that misstate the size: keep what the data holds, as unzip does.
    if (!entry.encrypted && message === zip.ERR_INVALID_UNCOMPRESSED_SIZE && total > 0) {
      return {
        kind: "ok",
        data: concat(chunks, total),
        note: `its header declares ${entry.uncompressedSize} bytes but its data holds ${total}; ` +
          "the data was kept",
      };
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
  return { kind: "ok", data: concat(chunks, total) };
}
