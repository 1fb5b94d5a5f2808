/** Printable ASCII and UTF-16LE strings of the payload, as binutils `strings -a` finds them. */
import type { StoqAPI } from "../core/engine/plugin.ts";
import { ENCODINGS, findStrings } from "./lib/text/strings.ts";

export default (stoq: StoqAPI) => {
  const z = stoq.z;
  return stoq.plugin({
    name: "strings",
    version: "1.0.0",
    description: "Printable ASCII and UTF-16LE strings, as binutils strings -a finds them",
    classes: ["worker"],
    options: {
      min_length: z.number().int().min(1).max(1_000_000).default(4),
      encodings: z.array(z.enum(ENCODINGS)).nonempty().default([...ENCODINGS]),
      max_strings: z.number().int().positive().default(10_000),
      offsets: z.boolean().default(false),
    },
    create: (opts) => ({
      scan(payload) {
        const found = findStrings(payload.content, {
          minLength: opts.min_length,
          encodings: opts.encodings,
          maxStrings: opts.max_strings,
        });
        const strings = opts.offsets ? found.strings : found.strings.map((s) => s.string);
        return { results: found.truncated ? { strings, truncated: true } : { strings } };
      },
    }),
  });
};
