/**
 * ELF executables, shared objects and object files: header, segments, sections (with entropy),
 * interpreter, needed libraries, imported/exported symbols, build-id, symhash and hardening
 * (NX, PIE, RELRO, stack canary, FORTIFY), with findings for what an analyst would flag.
 */
import type { Finding, StoqAPI } from "../core/engine/plugin.ts";
import { type ElfInfo, parseElf } from "./lib/elf/parse.ts";

/** Interpreters of the usual Linux, BSD and Android loaders. */
const USUAL_INTERPRETER =
  /^\/(lib|lib32|lib64|libx32|usr\/lib|usr\/libexec|system\/bin|usr\/local\/lib)\/(ld[-.\w]*\.so[.\d]*|ld-elf\.so\.1|linker(64)?)$/;

/** Findings from a parsed ELF. */
export function elfFindings(info: ElfInfo, size: number): Finding[] {
  const out: Finding[] = [];
  const executable = info.type === "EXEC" || info.type === "DYN";
  if (executable && info.segments.length && !info.sections.length) {
    out.push({
      id: "no_section_headers",
      severity: "medium",
      title: "No section headers",
      detail:
        "The file has program headers but no section table: packers and anti-analysis tools strip it",
    });
  }
  const rwx = info.segments.filter((s) => s.type === "LOAD" && s.flags === "rwx");
  if (rwx.length) {
    out.push({
      id: "rwx_segment",
      severity: "medium",
      title: "Writable and executable LOAD segment",
      detail: `${rwx.length} LOAD segment(s) are rwx (at ${rwx.map((s) => s.vaddr).join(", ")})`,
    });
  }
  if (executable && info.interpreter && !USUAL_INTERPRETER.test(info.interpreter)) {
    out.push({
      id: "unusual_interpreter",
      severity: "medium",
      title: "Unusual program interpreter",
      detail: `PT_INTERP names ${JSON.stringify(info.interpreter)}`,
    });
  }
  if (executable && info.segments.length && !info.security.nx) {
    out.push({
      id: "executable_stack",
      severity: "low",
      title: "Executable stack",
      detail: "No PT_GNU_STACK segment, or it is executable",
    });
  }
  const entry = BigInt(info.entry_point);
  if (executable && entry !== 0n && info.segments.length) {
    const inExec = info.segments.some((s) =>
      s.type === "LOAD" && s.flags.includes("x") && entry >= BigInt(s.vaddr) &&
      entry < BigInt(s.vaddr) + BigInt(s.mem_size)
    );
    if (!inExec) {
      out.push({
        id: "entry_outside_code",
        severity: "medium",
        title: "Entry point outside executable segments",
        detail: `Entry point ${info.entry_point} is in no executable LOAD segment`,
      });
    }
  }
  const lastEnd = Math.max(
    0,
    ...info.sections.filter((s) => s.type !== "NOBITS").map((s) => s.offset + s.size),
    ...info.segments.map((s) => s.offset + s.file_size),
    info.header.section_header_offset +
      info.header.section_header_count * (info.class === "ELF64" ? 64 : 40),
  );
  if (lastEnd && size > lastEnd + 4096) {
    out.push({
      id: "overlay",
      severity: "low",
      title: "Data appended after the ELF image",
      detail: `${
        size - lastEnd
      } bytes follow the last section, segment and section table (from offset ${lastEnd})`,
    });
  }
  if (info.stripped && executable) {
    out.push({
      id: "stripped",
      severity: "info",
      title: "Stripped",
      detail: "No .symtab: local symbol names were removed",
    });
  }
  return out;
}

export default (stoq: StoqAPI) =>
  stoq.plugin({
    name: "elf",
    version: "1.0.0",
    description:
      "ELF header, segments, sections, interpreter, libraries, symbols, build-id, hardening",
    classes: ["worker"],
    options: {
      max_sections: stoq.z.number().int().positive().default(256),
      max_segments: stoq.z.number().int().positive().default(64),
      max_symbols: stoq.z.number().int().positive().default(500),
    },
    create: async (opts) => {
      const { createHash } = await import("node:crypto");
      const limits = {
        sections: opts.max_sections,
        segments: opts.max_segments,
        symbols: opts.max_symbols,
        md5: (text: string) => createHash("md5").update(text).digest("hex"),
      };
      return {
        scan(payload) {
          const { info, errors } = parseElf(payload.content, limits);
          const results = info
            ? { ...info, findings: elfFindings(info, payload.content.length) }
            : undefined;
          return { results, errors: errors.length ? errors.map((e) => `elf: ${e}`) : undefined };
        },
      };
    },
  });
