/**
 * Extracts IOCs (hashes, IPs, MAC addresses, e-mail addresses, domains, URLs) from the payload's
 * text after re-fanging defanged forms (stoQ's `iocextract`). The engine is in lib/ioc/extract.ts.
 */
import type { StoqAPI } from "../core/engine/plugin.ts";
import { IOC_TYPES } from "./lib/ioc/types.ts";

export default (stoq: StoqAPI) => {
  const z = stoq.z;
  return stoq.plugin({
    name: "iocextract",
    version: "1.0.0",
    description:
      "IOCs (hashes, IPs, MACs, e-mail addresses, domains, URLs) from the payload's text, re-fanged",
    classes: ["worker"],
    options: {
      allowlist: z.array(z.string()).default([]),
      allowlist_file: z.string().min(1).optional(),
      types: z.array(z.enum(IOC_TYPES)).nonempty().default([...IOC_TYPES]),
      max_per_type: z.number().int().positive().default(1000),
    },
    create: async (opts) => {
      // Loaded here: tldts carries the whole public suffix list, which a run without this
      // worker should not pay for.
      const ioc = await import("./lib/ioc/extract.ts");
      const allowlist = new ioc.Allowlist();
      opts.allowlist.forEach((line, i) => {
        const problem = allowlist.add(line);
        if (problem) {
          throw new Error(
            `iocextract: option allowlist, entry ${i + 1} (${JSON.stringify(line)}): ${problem}`,
          );
        }
      });
      if (opts.allowlist_file !== undefined) {
        const path = opts.allowlist_file;
        let text: string;
        try {
          text = await Deno.readTextFile(path);
        } catch (e) {
          throw new Error(
            `iocextract: cannot read allowlist_file ${path}: ${(e as Error).message}; ` +
              "give a readable file of type:pattern lines, or drop the option",
          );
        }
        text.split(/\r?\n/).forEach((line, i) => {
          const problem = allowlist.add(line);
          if (problem) {
            throw new Error(
              `iocextract: allowlist_file ${path}, line ${i + 1} (${
                JSON.stringify(line.trim())
              }): ${problem}`,
            );
          }
        });
      }
      const domains = new ioc.DomainValidator();
      const max = opts.max_per_type;
      return {
        scan(payload) {
          // A window at a time: memory stays bounded however large the payload's text.
          const { results, capped } = ioc.extractFromPayload(payload.content, {
            types: opts.types,
            maxPerType: max,
            allowlist,
            domains,
          });
          // The cap is reported as an error, not a result key: consumers iterate the result keys
          // as IOC types, as stoQ's vtmis-search did.
          const errors = capped.map((type) =>
            `iocextract: more than ${max} unique ${type} values; kept the first ${max} ` +
            `(raise max_per_type to keep more)`
          );
          return errors.length > 0 ? { results, errors } : { results };
        },
      };
    },
  });
};
