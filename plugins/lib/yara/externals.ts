/**
 * External variables (YARA's `-d name=value`), as LOKI and THOR define them for signature-base's
 * rules. The configured values are the defaults the rules are compiled with; for each payload
 * stoq fills these, when they are declared as strings:
 * - `filename`: the base name of `extra_data.filename`;
 * - `filepath`: the folder the file was read from (`extra_data.source_dir`), else the folder
 *   part of `extra_data.filename` (an archive member's path);
 * - `extension`: the file name's extension, lower-case with its dot (`.exe`), as LOKI;
 * - `filetype`: the detected type's usual extension, upper-case (`EXE`, `ZIP`, `PDF`, `ELF`).
 * Any other external (`owner`, ...) keeps its configured value.
 *
 * The binding reads a string that looks like a whole number or true/false as that type, and
 * YARA-X then refuses it for a string variable; such a value (a file named `123`) is not set,
 * and the rules see the configured one. {@link misread} says which strings those are.
 */
import type { ExternalValues } from "./yarax.ts";

/** The names stoq fills per payload. */
export const PAYLOAD_EXTERNALS = ["filename", "filepath", "extension", "filetype"] as const;

/** What a payload tells about itself. */
export interface PayloadFacts {
  extra_data: Record<string, unknown>;
  /** The detected type's usual extension, without a dot (lib/magic), or null. */
  detectedExtension: string | null;
}

/** Whether the binding would read this string as a number or a boolean. */
export function misread(value: string): boolean {
  return /^(true|false)$/i.test(value) ||
    (/^[+-]?\d+$/.test(value) && Math.abs(Number(value)) < 2 ** 63);
}

/**
 * The values of the declared externals for one payload, and the names whose value could not be
 * passed (see {@link misread}).
 */
export function payloadExternals(
  declared: ExternalValues,
  facts: PayloadFacts,
): { values: ExternalValues; unset: string[] } {
  const out: ExternalValues = {};
  const unset: string[] = [];
  const name = typeof facts.extra_data.filename === "string" ? facts.extra_data.filename : "";
  const cut = Math.max(name.lastIndexOf("/"), name.lastIndexOf("\\"));
  const base = name.slice(cut + 1);
  const dot = base.lastIndexOf(".");
  const dir = typeof facts.extra_data.source_dir === "string"
    ? facts.extra_data.source_dir
    : cut > 0
    ? name.slice(0, cut)
    : "";
  const values: Record<(typeof PAYLOAD_EXTERNALS)[number], string> = {
    filename: base,
    filepath: dir,
    extension: dot > 0 ? base.slice(dot).toLowerCase() : "",
    filetype: facts.detectedExtension ? facts.detectedExtension.toUpperCase() : "",
  };
  for (const key of PAYLOAD_EXTERNALS) {
    if (typeof declared[key] !== "string" || values[key] === "") continue;
    if (misread(values[key])) unset.push(key);
    else out[key] = values[key];
  }
  return { values: out, unset };
}
