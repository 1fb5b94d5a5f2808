/**
 * Data hidden after the end of a PNG, JPEG, GIF or BMP image (Strelka's ScanPngEof, ScanJpeg,
 * ScanGif, ScanBmpEof in one plugin): the image's structure is walked to its real end
 * (lib/carve/image_end.ts) and whatever follows becomes a child.
 */
import type { Finding, StoqAPI } from "../core/engine/plugin.ts";
import { imageEnd, imageFormat } from "./lib/carve/image_end.ts";

/** Magic numbers that make a trailer worth more than a glance. */
const LOUD_MAGIC: [string, number[]][] = [
  ["PE (MZ)", [0x4d, 0x5a]],
  ["ELF", [0x7f, 0x45, 0x4c, 0x46]],
  ["ZIP", [0x50, 0x4b, 0x03, 0x04]],
  ["RAR", [0x52, 0x61, 0x72, 0x21]],
  ["7-Zip", [0x37, 0x7a, 0xbc, 0xaf]],
  ["OLE2", [0xd0, 0xcf, 0x11, 0xe0]],
];

export default (stoq: StoqAPI) =>
  stoq.plugin({
    name: "imagetrailer",
    version: "1.0.0",
    description: "Carves data appended after the end of a PNG, JPEG, GIF or BMP image",
    classes: ["worker"],
    create: () => ({
      scan(payload) {
        const data = payload.content;
        const format = imageFormat(data);
        if (!format) return { errors: ["imagetrailer: not a PNG, JPEG, GIF or BMP image"] };
        const found = imageEnd(data, format);
        if ("error" in found) {
          return {
            results: { format, parsed_to: found.parsed_to },
            errors: [`imagetrailer: ${format}: ${found.error}`],
          };
        }
        const trailer = data.subarray(found.end);
        const results: Record<string, unknown> = {
          format,
          image_size: found.end,
          trailer_offset: found.end,
          trailer_size: trailer.length,
        };
        if (!trailer.length) return { results };
        // Zero padding after the end is common and says nothing.
        if (trailer.every((b) => b === 0)) return { results: { ...results, trailer_zeros: true } };
        const loud = LOUD_MAGIC.find(([, m]) => m.every((v, i) => trailer[i] === v))?.[0];
        const finding: Finding = {
          id: "data_after_image_end",
          severity: loud ? "high" : "medium",
          title: `Data after the end of the ${format.toUpperCase()} image`,
          detail: `${trailer.length} bytes from offset ${found.end}${
            loud ? `, starting with a ${loud} signature` : ""
          }`,
          mitre: ["T1027.003"],
        };
        const parent = payload.results.payload_meta.extra_data.filename;
        const base = typeof parent === "string" && parent ? parent : "image";
        return {
          results: { ...results, findings: [finding] },
          extracted: [{
            content: trailer.slice(),
            payload_meta: {
              extra_data: { filename: `${base}.trailer`, offset: found.end, image_format: format },
            },
          }],
        };
      },
    }),
  });
