/**
 * Extracts the members of an archive as child payloads (stoQ's `decompress`).
 *
 * The format is detected here from magic bytes, so any dispatcher may send payloads here without
 * the mimetype worker having run. ZIP (ZipCrypto and AES too), gzip, bzip2, xz and tar are read
 * in-process; 7z, rar, cab, iso, arj, lzh, rpm, deb/ar, cpio, wim, xar, chm, squashfs, zstd, Z,
 * and zips zip.js cannot read, go to the `7z` tool (see lib/archive_7z.ts: streamed, never
 * extracted to disk). A compressed tar yields the .tar as a child, which the next round
 * extracts: the recursion stays visible in the results.
 *
 * Data that is not a recognised archive gives results `{ format: null }` and no error (a
 * dispatcher's guess is not a fault of the payload); option `strict` makes it an error.
 *
 * Caps (`max_members`, `max_member_size`, `max_total_size`) are enforced on the bytes actually
 * produced; what they drop is named in `errors`. Member names are metadata only
 * (`extra_data.filename`), never paths on disk. Timeouts are the engine's: an aborted
 * `call.signal` stops the extraction (and kills 7z) and is thrown.
 */
import type { Payload, StoqAPI } from "../core/plugin.ts";
import { extractWith7z } from "./lib/archive_7z.ts";
import { bunzip2 } from "./lib/archive_bzip2.ts";
import { Collector, type CryptoInfo, messageOf, throwIfAborted } from "./lib/archive_common.ts";
import {
  type ArchiveFormat,
  detectArchive,
  singleStreamName,
  ZIP_VIA_7Z,
} from "./lib/archive_detect.ts";
import { type Decoded, gunzip, gzipStoredName, unxz } from "./lib/archive_stream.ts";
import { readTar, TarError } from "./lib/archive_tar.ts";
import { extractZip, NeedsSevenZip } from "./lib/archive_zip.ts";

const MiB = 1024 * 1024;

export default (stoq: StoqAPI) => {
  const z = stoq.z;
  const size = z.number().int().positive();
  return stoq.plugin({
    name: "decompress",
    version: "1.0.0",
    description: "Extracts the members of archives (zip, gzip, bzip2, xz, tar, and 7z's formats)",
    classes: ["worker"],
    tools: { "7z": "p7zip-full" },
    options: {
      passwords: z.array(z.string()).default(["infected", "password", "malware", "virus"]),
      max_members: size.default(10_000),
      max_member_size: size.default(256 * MiB),
      max_total_size: size.default(1024 * MiB),
      archive_extracted: z.boolean().default(true),
      dispatch_to: z.array(z.string()).default([]),
      strict: z.boolean().default(false),
    },
    create: (opts) => ({
      async scan(payload, _request, call) {
        const format = detectArchive(payload.content);
        if (!format) {
          if (!opts.strict) return { results: { format: null } };
          const head = [...payload.content.subarray(0, 8)]
            .map((b) => b.toString(16).padStart(2, "0")).join("");
          return {
            results: { format: null },
            errors: [`decompress: not a recognised archive format (first bytes ${head || "none"})`],
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
            unnamed: singleStreamName(inputName, undefined, payload.sha256),
          });
        let info: CryptoInfo = { encrypted: false };
        try {
          switch (format.extractor) {
            case "gzip":
            case "bzip2":
            case "xz":
              await extractSingle(format, payload, inputName, col, call.signal);
              break;
            case "tar":
              extractTar(payload.content, col, call.signal);
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
      },
    }),
  });
};

/** The payload's own passwords (`extra_data.passwords`, a list or one string), then ours. */
function passwordsFor(payload: Payload, defaults: readonly string[]): string[] {
  const own = payload.results.payload_meta.extra_data.passwords;
  const list = typeof own === "string"
    ? [own]
    : Array.isArray(own)
    ? own.filter((p): p is string => typeof p === "string")
    : [];
  return [...new Set([...list, ...defaults])];
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
      if (entry.kind !== "file") continue; // directories, links, devices, FIFOs
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
