/**
 * Extracts the members of an archive as child payloads (stoQ's `decompress`).
 *
 * The format is detected here from magic bytes, so any dispatcher may send payloads here without
 * the mimetype worker having run. ZIP (ZipCrypto and AES too), gzip, bzip2, xz and tar are read
 * in-process, and so is ar (.deb, .a: lib/archive/ar.ts); 7z, rar, cab, iso, udf, arj, lzh, rpm,
 * cpio, wim, xar, chm, squashfs, dmg, vhd, vhdx, SZDD, NSIS data, zstd, Z, and zips zip.js cannot
 * read, go to the `7z` tool (see lib/archive/7z.ts: streamed, never extracted to disk). A
 * compressed tar yields the .tar as a child, which the next round extracts: the recursion stays
 * visible in the results.
 *
 * Data that is not a recognised archive is an error naming its first bytes: a dispatcher sent it
 * here as an archive, and nothing in it was read. With `strict = false` (for `-a decompress` on
 * every payload) it gives `{ format: null }` and no error.
 *
 * Caps (`max_members`, `max_member_size`, `max_total_size`) are enforced on the bytes actually
 * produced; what they drop is named in `errors`. Member names are metadata only
 * (`extra_data.filename`), never paths on disk. Timeouts are the engine's: an aborted
 * `call.signal` stops the extraction (and kills 7z) and is thrown.
 */
import type { StoqAPI } from "../core/engine/plugin.ts";

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
      strict: z.boolean().default(true),
    },
    create: (opts) => ({
      // The readers load on first use: most runs never meet an archive.
      async scan(payload, _request, call) {
        const { decompress } = await import("./lib/archive/extract.ts");
        return await decompress(payload, opts, call);
      },
    }),
  });
};
