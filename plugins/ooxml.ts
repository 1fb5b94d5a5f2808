/**
 * Office Open XML (.docx/.xlsx/.pptx and macro variants) analysis: document properties, external
 * relationships (remote template injection, linked OLE objects), OLE and other embedded objects,
 * hidden sheets, DDE, macros. The package's parts themselves are extracted as children by
 * `decompress` in the default pipeline; this plugin reads only the parts it needs, and extracts
 * the embedded objects only with option `extract_embedded` (when decompress does not run).
 * Parser: lib/ooxml/.
 */
import type { StoqAPI } from "../core/engine/plugin.ts";

const MiB = 1024 * 1024;

export default (stoq: StoqAPI) => {
  const size = stoq.z.number().int().positive();
  return stoq.plugin({
    name: "ooxml",
    version: "1.0.0",
    description:
      "Office Open XML properties, external relationships, embedded objects, hidden sheets, DDE, macros",
    classes: ["worker"],
    options: {
      max_part_size: size.default(64 * MiB),
      max_total_read: size.default(256 * MiB),
      max_parts: size.default(10_000),
      extract_embedded: stoq.z.boolean().default(false),
    },
    create: (opts) => ({
      async scan(payload) {
        const { analyzeOoxml } = await import("./lib/ooxml/analyze.ts");
        const limits = {
          maxPartSize: opts.max_part_size,
          maxTotalRead: opts.max_total_read,
          maxParts: opts.max_parts,
        };
        let out;
        try {
          out = analyzeOoxml(payload.content, limits, opts.extract_embedded);
        } catch (e) {
          return { errors: [`ooxml: ${(e as Error).message}`] };
        }
        return {
          results: out.report,
          extracted: out.embedded.map((p) => ({
            content: p.content,
            payload_meta: { extra_data: { filename: p.name } },
          })),
          errors: out.problems.map((p) => `ooxml: part not read: ${p}`),
        };
      },
    }),
  });
};
