/**
 * XML documents (Strelka's ScanXml, deeper): declaration, DOCTYPE and entity declarations
 * (never expanded or fetched: XXE and billion-laughs files are inert), root, namespaces, tags,
 * processing instructions and external targets (OPC relationships with TargetMode="External",
 * XInclude, stylesheets, UNC paths, file:// URLs, code-running protocol handlers). The parsing
 * is in lib/xml/.
 */
import type { StoqAPI } from "../core/engine/plugin.ts";
import { analyzeXml } from "./lib/xml/analyze.ts";
import { decodeXml } from "./lib/xml/parser.ts";

export default (stoq: StoqAPI) => {
  const z = stoq.z;
  return stoq.plugin({
    name: "xml",
    version: "1.0.0",
    description:
      "XML structure, DOCTYPE entities (XXE, billion laughs; never expanded), namespaces and external targets (remote templates, OLE links, UNC paths)",
    classes: ["worker"],
    options: {
      max_bytes: z.number().int().positive().default(64 * 1024 * 1024),
      max_parse_chars: z.number().int().positive().default(64 * 1024),
      max_tags: z.number().int().positive().default(100),
      max_targets: z.number().int().positive().default(100),
    },
    create: (opts) => ({
      async scan(payload, _request, call) {
        const content = payload.content;
        const cut = content.length > opts.max_bytes;
        const { text, encoding } = decodeXml(cut ? content.subarray(0, opts.max_bytes) : content);
        const report = await analyzeXml(text, encoding, {
          maxTags: opts.max_tags,
          maxTargets: opts.max_targets,
          maxParse: opts.max_parse_chars,
          signal: call.signal,
        });
        if (!cut) return { results: report };
        return {
          results: { ...report, truncated: true },
          errors: [
            `xml: only the first ${opts.max_bytes} of ${content.length} bytes were parsed (raise max_bytes to read more)`,
          ],
        };
      },
    }),
  });
};
