/**
 * PE executables (EXE, DLL, driver, EFI, .NET): headers, sections, imports with imphash, exports,
 * resources and version info, Rich header, debug/PDB, TLS callbacks, CLR header, overlay and the
 * Authenticode signature (digest recomputed, signer signature checked), with findings. The
 * overlay and executables or archives found in resources become children.
 */
import type { StoqAPI } from "../core/engine/plugin.ts";
import { peFindings } from "./lib/pe/findings.ts";
import { FormatError, parsePe } from "./lib/pe/index.ts";

export default (stoq: StoqAPI) =>
  stoq.plugin({
    name: "pe",
    version: "1.0.0",
    description:
      "PE/COFF analysis: headers, sections, imports/imphash, exports, resources, version info, Rich header, PDB, TLS, .NET, overlay, Authenticode",
    classes: ["worker"],
    options: {
      extract_overlay: stoq.z.boolean().default(true),
      extract_resources: stoq.z.boolean().default(true),
      max_children: stoq.z.number().int().min(0).default(64),
    },
    create: (opts) => ({
      scan(payload) {
        let parse;
        try {
          parse = parsePe(payload.content, opts);
        } catch (e) {
          if (e instanceof FormatError) return { errors: [`pe: ${e.message}`] };
          throw e;
        }
        const now = new Date();
        return {
          results: { ...parse.result, findings: peFindings(parse.facts, now) },
          extracted: parse.children.map((c) => ({
            content: c.content,
            payload_meta: { extra_data: c.extra_data },
          })),
          errors: parse.errors.map((e) => `pe: ${e}`),
        };
      },
    }),
  });
