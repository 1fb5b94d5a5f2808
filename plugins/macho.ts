/**
 * Mach-O binaries: header, load commands, segments and sections (with entropy), dylibs, dyld,
 * UUID, build/min OS version, entry point, code signature, symbols and symhash. A fat (universal)
 * binary is split: each architecture's slice is a child, scanned in turn.
 */
import type { ExtractedPayload, Finding, StoqAPI } from "../core/engine/plugin.ts";
import { type MachoInfo, parseMacho } from "./lib/macho/parse.ts";

/** Findings from a parsed thin Mach-O. */
export function machoFindings(info: MachoInfo): Finding[] {
  const out: Finding[] = [];
  const linked = info.file_type === "MH_EXECUTE" || info.file_type === "MH_DYLIB" ||
    info.file_type === "MH_BUNDLE";
  if (info.encryption && info.encryption.cryptid !== 0) {
    out.push({
      id: "encrypted",
      severity: "medium",
      title: "Encrypted segment",
      detail:
        `cryptid ${info.encryption.cryptid}: ${info.encryption.size} bytes from offset ${info.encryption.offset} are encrypted (FairPlay or a packer)`,
    });
  }
  if (info.allows_stack_execution) {
    out.push({
      id: "executable_stack",
      severity: "medium",
      title: "Executable stack allowed",
      detail: "Header flag MH_ALLOW_STACK_EXECUTION is set",
    });
  }
  if (info.file_type === "MH_EXECUTE" && !info.pie) {
    out.push({
      id: "no_pie",
      severity: "low",
      title: "Not position independent",
      detail: "An executable without MH_PIE loads at a fixed address (no ASLR)",
    });
  }
  if (linked && !info.code_signature) {
    out.push({
      id: "unsigned",
      severity: info.arch.startsWith("arm64") ? "medium" : "low",
      title: "No code signature",
      detail:
        "No LC_CODE_SIGNATURE: macOS refuses to run unsigned arm64 code, and Gatekeeper blocks unsigned downloads",
    });
  } else if (linked && info.code_signature?.adhoc && !info.code_signature.cms_signature) {
    out.push({
      id: "adhoc_signature",
      severity: "low",
      title: "Ad-hoc code signature",
      detail: `Signed without a certificate (identifier ${
        JSON.stringify(info.code_signature.identifier ?? "")
      })`,
    });
  }
  const odd = info.dylibs.filter((d) =>
    /^(\/tmp\/|\/private\/tmp\/|\/Users\/|\/var\/folders\/)/.test(d.name)
  );
  if (odd.length) {
    out.push({
      id: "dylib_from_user_path",
      severity: "medium",
      title: "Library loaded from a user-writable path",
      detail: odd.map((d) => d.name).join(", "),
      mitre: ["T1574.004"],
    });
  }
  const weakRpath = info.dylibs.filter((d) => d.kind === "weak" && d.name.startsWith("@rpath/"));
  if (weakRpath.length) {
    out.push({
      id: "weak_rpath_dylib",
      severity: "low",
      title: "Weak library resolved through @rpath",
      detail: `${weakRpath.map((d) => d.name).join(", ")}: a candidate for dylib hijacking`,
      mitre: ["T1574.004"],
    });
  }
  return out;
}

export default (stoq: StoqAPI) =>
  stoq.plugin({
    name: "macho",
    version: "1.0.0",
    description:
      "Mach-O header, load commands, segments, dylibs, symbols, code signature; splits fat binaries",
    classes: ["worker"],
    options: {
      max_load_commands: stoq.z.number().int().positive().default(256),
      max_sections: stoq.z.number().int().positive().default(256),
      max_symbols: stoq.z.number().int().positive().default(500),
    },
    create: async (opts) => {
      const { createHash } = await import("node:crypto");
      const limits = {
        load_commands: opts.max_load_commands,
        sections: opts.max_sections,
        symbols: opts.max_symbols,
        md5: (text: string) => createHash("md5").update(text).digest("hex"),
      };
      return {
        scan(payload) {
          const parsed = parseMacho(payload.content, limits);
          const errors = parsed.errors.length ? parsed.errors.map((e) => `macho: ${e}`) : undefined;
          if (parsed.kind === "thin") {
            const results = parsed.info
              ? { ...parsed.info, findings: machoFindings(parsed.info) }
              : undefined;
            return { results, errors };
          }
          const parent = payload.results.payload_meta.extra_data.filename;
          const base = typeof parent === "string" && parent ? parent : "macho";
          const extracted: ExtractedPayload[] = [];
          for (const a of parsed.fat?.architectures ?? []) {
            if (a.offset + a.size > payload.content.length || a.size === 0) continue;
            extracted.push({
              content: payload.content.slice(a.offset, a.offset + a.size),
              payload_meta: {
                extra_data: {
                  filename: `${base}.${a.arch}`,
                  offset: a.offset,
                  index: a.index,
                  arch: a.arch,
                },
              },
            });
          }
          return { results: { fat: parsed.fat }, extracted, errors };
        },
      };
    },
  });
