/**
 * The bounds every script analyzer takes as plugin options, in one place so that html,
 * javascript, powershell, vbscript and batch agree on names and defaults. Kept free of heavy
 * imports: plugin files load it when stoq starts.
 */
import type { StoqAPI } from "../../../core/engine/plugin.ts";

/** The zod shape of the shared options. */
export function scriptOptions(z: StoqAPI["z"]) {
  return {
    /** Characters of source analysed; the rest is skipped and the result says `truncated`. */
    max_chars: z.number().int().positive().default(4_000_000),
    /** Entries kept per list (identifiers, strings, links, keywords...). */
    max_list: z.number().int().positive().default(200),
    /** Children per payload. */
    max_children: z.number().int().min(0).default(100),
    /** Bytes of all the children of one payload together. */
    max_child_bytes: z.number().int().min(0).default(64 << 20),
  };
}

/** The options as the analyzers' `Limits`. */
export function limitsOf(
  o: { max_chars: number; max_list: number; max_children: number; max_child_bytes: number },
) {
  return {
    maxChars: o.max_chars,
    maxList: o.max_list,
    maxChildren: o.max_children,
    maxChildBytes: o.max_child_bytes,
  };
}
