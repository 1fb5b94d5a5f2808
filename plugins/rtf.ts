/**
 * Embedded objects of RTF documents (stoQ's `rtf`, oletools rtfobj): each `\objdata` as a child,
 * unwrapped from its OLE1 header ([MS-OLEDS] 2.2.4): a Package object gives the packaged file under
 * its original name, other classes their native data (often an OLE2 file, which the ole worker
 * opens next). Robust to the usual obfuscation; see lib/office/rtf.ts.
 */
import type { ExtractedPayload, Finding, StoqAPI } from "../core/engine/plugin.ts";

const MiB = 1024 * 1024;

/** Object classes of known Office exploits. */
const EXPLOITED: Record<string, string> = {
  "equation.3": "Equation Editor object: the classic target of CVE-2017-11882 and CVE-2018-0802",
  "ole2link": "OLE2Link object: fetches a remote document when opened (CVE-2017-0199)",
  "package": "",
};

export default (stoq: StoqAPI) => {
  const z = stoq.z;
  return stoq.plugin({
    name: "rtf",
    version: "1.0.0",
    description:
      "Embedded objects of RTF documents as children (OLE1 unwrapped, OLE Package files by name)",
    classes: ["worker"],
    options: {
      max_objects: z.number().int().positive().default(1000),
      max_total_size: z.number().int().positive().default(256 * MiB),
      max_depth: z.number().int().positive().default(10_000),
    },
    create: async (opts) => {
      const { scanRtf } = await import("./lib/office/rtf.ts");
      const { packageFinding, parseOle1, parsePackage } = await import("./lib/office/ole1.ts");
      return {
        scan(payload) {
          const scan = scanRtf(payload.content, {
            maxObjects: opts.max_objects,
            maxBytes: opts.max_total_size,
            maxDepth: opts.max_depth,
          });
          const findings: Finding[] = [];
          const errors: string[] = [];
          const extracted: ExtractedPayload[] = [];
          const objects = scan.objects.map((o, index) => {
            const row: Record<string, unknown> = { index, offset: o.offset, size: o.data.length };
            if (o.class_name) row.class_name = o.class_name;
            if (o.kind) row.kind = o.kind;
            if (o.update) row.update = true;
            if (o.junk) row.junk_characters = o.junk;
            if (o.unterminated) row.unterminated = true;
            const meta = { index, rtf_offset: o.offset };
            const ole1 = parseOle1(o.data);
            if (typeof ole1 === "string") {
              errors.push(`rtf: object ${index} at offset ${o.offset}: ${ole1}; kept as raw bytes`);
              if (o.data.length) {
                extracted.push({
                  content: o.data,
                  payload_meta: { extra_data: { ...meta, filename: `object_${index}.bin` } },
                });
              }
              return row;
            }
            row.ole1 = {
              class_name: ole1.class_name,
              format: ole1.format_id === 2 ? "embedded" : "linked",
              ...(ole1.topic_name ? { topic_name: ole1.topic_name } : {}),
              ...(ole1.item_name ? { item_name: ole1.item_name } : {}),
              ...(ole1.native ? { native_size: ole1.native.length } : {}),
            };
            const cls = ole1.class_name.toLowerCase();
            if (EXPLOITED[cls]) {
              findings.push({
                id: cls === "ole2link" ? "ole2link_object" : "equation_editor_object",
                severity: "high",
                title: EXPLOITED[cls],
                detail: `object ${index} at offset ${o.offset}, class ${ole1.class_name}`,
                mitre: ["T1203"],
              });
            }
            if (ole1.format_id === 1) {
              findings.push({
                id: "linked_object",
                severity: "medium",
                title: "Linked OLE object",
                detail: `object ${index} links to ${ole1.topic_name || "?"} ${ole1.item_name || ""}`
                  .trim(),
              });
            }
            const native = ole1.native;
            if (!native || native.length === 0) return row;
            const pkg = cls === "package" ? parsePackage(native) : undefined;
            if (pkg) {
              row.package = {
                label: pkg.label,
                source_path: pkg.source_path,
                temp_path: pkg.temp_path,
                filename: pkg.filename,
                size: pkg.data.length,
              };
              extracted.push({
                content: pkg.data,
                payload_meta: {
                  extra_data: {
                    ...meta,
                    filename: pkg.filename,
                    class_name: ole1.class_name,
                    package: row.package,
                  },
                },
              });
              findings.push(packageFinding(pkg.filename, pkg.source_path, pkg.data));
              return row;
            }
            const ole2 = native.length >= 8 && native[0] === 0xd0 && native[1] === 0xcf;
            extracted.push({
              content: native,
              payload_meta: {
                extra_data: {
                  ...meta,
                  filename: `object_${index}.${ole2 ? "ole" : "bin"}`,
                  class_name: ole1.class_name,
                },
              },
            });
            return row;
          });
          const results: Record<string, unknown> = { objects, max_depth: scan.max_depth };
          if (scan.truncated) {
            results.truncated = true;
            errors.push(
              `rtf: caps reached (max_objects ${opts.max_objects}, max_total_size ${opts.max_total_size}, max_depth ${opts.max_depth}); some object data was not read`,
            );
          }
          if (findings.length) results.findings = findings;
          return { results, extracted, errors };
        },
      };
    },
  });
};
