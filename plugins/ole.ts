/**
 * Every stream of an OLE2 compound file (.doc/.xls/.ppt, vbaProject.bin, .msi, .msg...) as a child
 * (stoQ's `ole`), `\u0001Ole10Native` streams unwrapped to the packaged file under its original
 * name, and the document's SummaryInformation / DocumentSummaryInformation properties. Parsing is
 * in lib/office/ (bounded CFB reader, [MS-OLEPS] property sets, [MS-OLEDS] Packager).
 */
import type { ExtractedPayload, Finding, StoqAPI } from "../core/engine/plugin.ts";

const MiB = 1024 * 1024;

export default (stoq: StoqAPI) => {
  const z = stoq.z;
  return stoq.plugin({
    name: "ole",
    version: "1.0.0",
    description:
      "OLE2/CFB streams as children (Ole10Native unwrapped to the packaged file), summary properties",
    classes: ["worker"],
    options: {
      max_streams: z.number().int().positive().default(1000),
      max_stream_size: z.number().int().positive().default(64 * MiB),
      max_total_size: z.number().int().positive().default(256 * MiB),
      // Globs on the stream path (case-insensitive), e.g. "*SummaryInformation". Empty: every
      // stream becomes a child, as the issue asks; a child costs only the always-on workers.
      skip_streams: z.array(z.string()).default([]),
    },
    create: async (opts) => {
      const { CompoundFile, CfbError } = await import("./lib/office/cfb.ts");
      const { parsePropertySets } = await import("./lib/office/oleps.ts");
      const { ole10Native, packageFinding, parsePackage } = await import("./lib/office/ole1.ts");
      const { decodeMsiName } = await import("./lib/office/msi.ts");
      const { default: pm } = await import("picomatch");
      const skip = opts.skip_streams.length
        ? pm(opts.skip_streams, { nocase: true, dot: true })
        : undefined;
      return {
        scan(payload) {
          let cfb;
          try {
            cfb = new CompoundFile(payload.content);
          } catch (e) {
            if (e instanceof CfbError) return { errors: [`ole: ${e.message}`] };
            throw e;
          }
          const findings: Finding[] = [];
          const errors: string[] = [];
          const extracted: ExtractedPayload[] = [];
          const streams = [];
          const storages = [];
          const embedded = [];
          const results: Record<string, unknown> = {
            major_version: cfb.majorVersion,
            sector_size: cfb.sectorSize,
            application: application(cfb.entries.map((e) => e.path)),
          };
          // Windows Installer packs its stream names; they are decoded, the stored name kept.
          const msi = results.application === "windows_installer";
          const readable = (path: string) => msi ? decodeMsiName(path) : path;
          const root = cfb.entries[0];
          if (root?.clsid) results.root_clsid = root.clsid;
          let total = 0, index = 0, skipped = 0, capped = 0;
          for (const e of cfb.entries) {
            if (e.type === "storage") {
              storages.push({
                path: readable(e.path),
                clsid: e.clsid,
                created: e.created,
                modified: e.modified,
              });
              continue;
            }
            if (e.type !== "stream") continue;
            const path = readable(e.path);
            const raw = path === e.path ? {} : { raw_name: e.path };
            const row: Record<string, unknown> = { index, path, ...raw, size: e.size, sid: e.sid };
            if (e.orphan) row.orphan = true;
            streams.push(row);
            const meta = {
              name: path,
              filename: clean(path.slice(path.lastIndexOf("/") + 1)) || `stream_${e.sid}`,
              ...raw,
              index,
            };
            index++;
            if (e.size === 0) continue;
            if (skip?.(e.path)) {
              skipped++;
              continue;
            }
            if (
              extracted.length >= opts.max_streams || e.size > opts.max_stream_size ||
              total + e.size > opts.max_total_size
            ) {
              capped++;
              continue;
            }
            const data = cfb.read(e);
            total += data.length;
            const base = e.name.toLowerCase();
            if (
              base === "\u0005summaryinformation" || base === "\u0005documentsummaryinformation"
            ) {
              const ps = parsePropertySets(data);
              const key = base === "\u0005summaryinformation"
                ? "summary_information"
                : "document_summary_information";
              // Only the root's sets describe the document; embedded objects have their own.
              if (!e.path.includes("/")) {
                results[key] = ps.properties;
                if (ps.custom) results.custom_properties = ps.custom;
              }
              errors.push(...ps.errors.map((m) => `ole: ${e.path}: ${m}`));
            }
            if (base === "\u0001ole10native") {
              const native = ole10Native(data);
              const pkg = native && parsePackage(native);
              if (pkg) {
                const info = {
                  path: e.path,
                  label: pkg.label,
                  source_path: pkg.source_path,
                  temp_path: pkg.temp_path,
                  filename: pkg.filename,
                  size: pkg.data.length,
                };
                embedded.push(info);
                row.unwrapped = "package";
                extracted.push({
                  content: pkg.data,
                  payload_meta: {
                    extra_data: { ...meta, filename: pkg.filename, ole10native: info },
                  },
                });
                findings.push(packageFinding(pkg.filename, pkg.source_path, pkg.data));
                continue;
              }
              if (native) {
                row.unwrapped = "native_data";
                extracted.push({ content: native, payload_meta: { extra_data: meta } });
                continue;
              }
            }
            extracted.push({ content: data, payload_meta: { extra_data: meta } });
          }
          results.streams = streams;
          if (storages.length) results.storages = storages;
          if (embedded.length) results.embedded_files = embedded;
          if (skipped) results.skipped_streams = skipped;
          if (capped) {
            results.truncated = true;
            errors.push(
              `ole: ${capped} streams not extracted: over max_streams (${opts.max_streams}), max_stream_size or max_total_size`,
            );
          }
          const orphans = streams.filter((s) => s.orphan).length;
          if (orphans) {
            findings.push({
              id: "orphan_streams",
              severity: "low",
              title: "Streams outside the storage tree",
              detail:
                `${orphans} stream(s) are not reachable from the root storage; Office ignores them, so they can hide data`,
            });
          }
          if (findings.length) results.findings = findings;
          errors.push(...cfb.errors.map((m) => `ole: ${m}`));
          return { results, extracted, errors };
        },
      };
    },
  });
};

/** A stream name without its control-character prefix, for `filename`. */
function clean(name: string): string {
  // deno-lint-ignore no-control-regex -- OLE names start with \u0001 or \u0005 on purpose
  return name.replace(/[\u0000-\u001f]/g, "");
}

/** Which application wrote the file, from the streams it has. */
function application(paths: string[]): string {
  const has = (re: RegExp) => paths.some((p) => re.test(p));
  if (has(/^WordDocument$/)) return "word";
  if (has(/^(Workbook|Book)$/)) return "excel";
  if (has(/^PowerPoint Document$/)) return "powerpoint";
  if (has(/^__substg1\.0_/)) return "outlook_message";
  if (has(/^[\u3800-\u4840]/)) return "windows_installer";
  if (has(/^VBA\/dir$/i)) return "vba_project";
  if (has(/^(EncryptionInfo|EncryptedPackage)$/)) return "encrypted_ooxml";
  if (paths.includes("\u0001Ole10Native")) return "ole_package";
  return "unknown";
}
