/**
 * Carves PE images embedded anywhere in a payload (documents, images, memory dumps, decoded
 * blobs): every "MZ" is checked, decoys included, the headers validated and each image trimmed
 * to its real size (lib/carve/pe.ts says what that includes). A PE at offset 0 is the payload
 * itself and is not carved. stoQ's `pecarve`, plus validation and trimming without pefile.
 */
import type { ExtractedPayload, Finding, StoqAPI } from "../core/engine/plugin.ts";
import { findPes } from "./lib/carve/pe.ts";

export default (stoq: StoqAPI) =>
  stoq.plugin({
    name: "pecarve",
    version: "1.0.0",
    description: "Carves embedded PE images (validated headers, trimmed to their real size)",
    classes: ["worker"],
    options: {
      max_candidates: stoq.z.number().int().positive().default(100_000),
      max_pes: stoq.z.number().int().positive().default(64),
      keep_overlay: stoq.z.boolean().default(false),
    },
    create: (opts) => ({
      scan(payload) {
        const found = findPes(payload.content, {
          maxCandidates: opts.max_candidates,
          maxPes: opts.max_pes,
          keepOverlay: opts.keep_overlay,
        });
        const parent = payload.results.payload_meta.extra_data.filename;
        const base = typeof parent === "string" && parent ? parent : "payload";
        const extracted: ExtractedPayload[] = found.pes.map((pe, index) => ({
          content: payload.content.slice(pe.offset, pe.offset + pe.size),
          payload_meta: {
            extra_data: {
              filename: `${base}@0x${pe.offset.toString(16)}.${pe.dll ? "dll" : "exe"}`,
              offset: pe.offset,
              index,
              size: pe.size,
              truncated: pe.truncated,
            },
          },
        }));
        const findings: Finding[] = found.pes.length
          ? [{
            id: "embedded_pe",
            severity: found.self ? "medium" : "high",
            title: found.self ? "PE image inside a PE" : "Embedded PE image",
            detail: `${found.pes.length} PE image(s) at offset(s) ${
              found.pes.map((p) => p.offset).join(", ")
            }`,
            mitre: ["T1027.009"],
          }]
          : [];
        const errors = found.truncated
          ? [
            `pecarve: stopped after ${found.candidates} candidates and ${found.pes.length} images (max_candidates, max_pes)`,
          ]
          : undefined;
        return {
          results: {
            candidates: found.candidates,
            carved: found.pes,
            self: found.self !== undefined,
            rejected_count: found.rejected_count,
            rejected: found.rejected,
            findings,
          },
          extracted,
          errors,
        };
      },
    }),
  });
