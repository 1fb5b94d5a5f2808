/** The decompress worker's extraction: format detection, then the in-process readers or 7z. */
import type { CallContext, Payload, WorkerResponse } from "../../../core/engine/plugin.ts";
import { extractWith7z } from "./7z.ts";
import { ArError, readAr } from "./ar.ts";
import { bunzip2 } from "./bzip2.ts";
import { Collector, type CryptoInfo, messageOf, passwordsFor, throwIfAborted } from "./common.ts";
import { type ArchiveFormat, detectArchive, singleStreamName, ZIP_VIA_7Z } from "./detect.ts";
import { type Decoded, gunzip, gzipStoredName, unxz } from "./stream.ts";
import { readTar, TarError } from "./tar.ts";
import { extractZip, NeedsSevenZip } from "./zip.ts";

/** The decompress worker's options. */
export interface DecompressOptions {
  passwords: string[];
  max_members: number;
  max_member_size: number;
  max_total_size: number;
  archive_extracted: boolean;
  dispatch_to: string[];
  strict: boolean;
}

/** bzip2 payloads at least this large go through 7z when it is installed. */
export const BZIP2_VIA_7Z = 1024 * 1024;

/** Runs a 7z extraction; false (and nothing extracted) when 7z is not installed or allowed. */
async function sevenZipWorks(run: () => Promise<CryptoInfo>): Promise<boolean> {
  try {
    await run();
    return true;
  } catch (e) {
    if (/is not installed|is not permitted/.test(messageOf(e))) return false;
    throw e;
  }
}

/** Extracts `payload`'s members as child payloads (see plugins/decompress.ts). */
export async function decompress(
  payload: Payload,
  opts: DecompressOptions,
  call: CallContext,
): Promise<WorkerResponse> {
  const format = detectArchive(payload.content);
  if (!format) {
    if (!opts.strict) return { results: { format: null } };
    const head = [...payload.content.subarray(0, 8)]
      .map((b) => b.toString(16).padStart(2, "0")).join("");
    return {
      results: { format: null },
      errors: [
        `decompress: not an archive format stoq can open (first bytes ${head || "none"}); ` +
        "nothing was extracted (stoq route explain FILE shows why it was sent here)",
      ],
    };
  }
  const col = new Collector({
    maxMembers: opts.max_members,
    maxMemberSize: opts.max_member_size,
    maxTotalSize: opts.max_total_size,
  });
  const extra = payload.results.payload_meta.extra_data;
  const inputName = typeof extra.filename === "string" ? extra.filename : undefined;
  const passwords = passwordsFor(payload, opts.passwords);
  const sevenZip = (f: ArchiveFormat) =>
    extractWith7z(payload.content, col, call, {
      passwords,
      format: f.name,
      unnamed: f.name === "szdd"
        ? szddName(inputName, payload.content[9], payload.sha256)
        : singleStreamName(inputName, undefined, payload.sha256),
    });
  let info: CryptoInfo = { encrypted: false };
  try {
    switch (format.extractor) {
      case "bzip2":
        // 7z decodes bzip2 about 4x faster than seek-bzip; the in-process decoder stays for
        // small payloads (no temp file, no process) and for machines without 7z.
        if (payload.content.length >= BZIP2_VIA_7Z && await sevenZipWorks(() => sevenZip(format))) {
          break;
        }
        await extractSingle(format, payload, inputName, col, call.signal);
        break;
      case "gzip":
      case "xz":
        await extractSingle(format, payload, inputName, col, call.signal);
        break;
      case "tar":
        extractTar(payload.content, col, call.signal);
        break;
      case "ar":
        extractAr(payload.content, col, call.signal);
        break;
      case "zip":
        try {
          info = await extractZip(payload.content, col, passwords, call.signal);
        } catch (e) {
          if (!(e instanceof NeedsSevenZip)) throw e;
          info = await sevenZip(ZIP_VIA_7Z);
          if (col.members.length === 0 && col.noted) col.note(e.message);
        }
        break;
      case "7z":
        info = await sevenZip(format);
    }
  } catch (e) {
    throwIfAborted(call.signal);
    col.note(messageOf(e));
  }
  const results: Record<string, unknown> = {
    format: format.name,
    members: col.members.length,
    encrypted: info.encrypted,
  };
  if (info.password !== undefined) results.password = info.password;
  if (col.otherCount > 0) {
    results.links_and_special_files = col.entries;
    if (col.otherCount > col.entries.length) results.links_and_special_files_total = col.otherCount;
  }
  const errors = col.errors(`decompress: ${format.name} archive`);
  return {
    results,
    extracted: col.members.map((m) => ({
      content: m.content,
      payload_meta: {
        extra_data: { filename: m.name },
        should_archive: opts.archive_extracted,
        dispatch_to: [...opts.dispatch_to],
      },
    })),
    ...(errors.length > 0 ? { errors } : {}),
  };
}

async function extractSingle(
  format: ArchiveFormat,
  payload: Payload,
  inputName: string | undefined,
  col: Collector,
  signal: AbortSignal,
): Promise<void> {
  const stored = format.name === "gzip" ? gzipStoredName(payload.content) : undefined;
  const name = singleStreamName(inputName, stored, payload.sha256);
  const room = col.room();
  const decode = format.name === "gzip" ? gunzip : format.name === "xz" ? unxz : bunzip2;
  let out: Decoded;
  try {
    out = await decode(payload.content, room.bytes, signal);
  } catch (e) {
    throwIfAborted(signal);
    col.note(`corrupt ${format.name} data (${messageOf(e)})`);
    return;
  }
  if (out.warning) col.note(out.warning);
  if (out.data === null) col.skip(name, room.reason);
  else col.add(name, out.data);
}

function extractTar(content: Uint8Array, col: Collector, signal: AbortSignal): void {
  try {
    for (const entry of readTar(content)) {
      throwIfAborted(signal);
      if (entry.kind === "directory") continue;
      if (entry.kind === "other" && entry.data.length === 0) {
        col.other(entry.name, entry.type ?? "other", entry.target);
        continue;
      }
      if (col.full) {
        col.skip(entry.name, col.reasonCount());
        continue;
      }
      const room = col.room();
      if (entry.data.length > room.bytes) col.skip(entry.name, room.reason);
      else col.add(entry.name, entry.data);
    }
  } catch (e) {
    if (!(e instanceof TarError)) throw e;
    col.note(`corrupt tar archive: ${e.message}; extraction stopped there`);
  }
}

function extractAr(content: Uint8Array, col: Collector, signal: AbortSignal): void {
  try {
    for (const m of readAr(content)) {
      throwIfAborted(signal);
      const name = m.symbols ? `${m.name} (symbol table)` : m.name;
      if (col.full) {
        col.skip(name, col.reasonCount());
        continue;
      }
      const room = col.room();
      if (m.data.length > room.bytes) col.skip(name, room.reason);
      else col.add(name, m.data);
    }
  } catch (e) {
    if (!(e instanceof ArError)) throw e;
    col.note(`corrupt ar archive: ${e.message}; extraction stopped there`);
  }
}

/**
 * The name compress.exe's SZDD header implies: the input's name with its trailing "_" replaced by
 * the stored last character (`SETUP.EX_` → `SETUP.EXE`), as expand.exe restores it.
 */
function szddName(inputName: string | undefined, last: number, sha256: string): string {
  const printable = last >= 0x21 && last < 0x7f && !"/\\".includes(String.fromCharCode(last));
  if (inputName?.endsWith("_") && printable) {
    return inputName.slice(0, -1) + String.fromCharCode(last);
  }
  return inputName ? `${inputName}.expanded` : `${sha256.slice(0, 16)}.expanded`;
}
