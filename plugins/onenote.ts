/**
 * OneNote sections (.one): the header's GUIDs, versions and build numbers, and every embedded
 * file (FileDataStoreObject, [MS-ONESTORE] 2.6.13) as a child, named as the section records it
 * (EmbeddedFileName, else the declared extension); findings for embedded scripts and programs,
 * the lure of OneNote phishing. Parser: lib/onenote/.
 */
import type { Finding, StoqAPI } from "../core/engine/plugin.ts";
import { NotOneNoteError, parseOneNote } from "./lib/onenote/parse.ts";

// What phishing sections embed behind a "double-click to view" picture.
const RUNNABLE =
  /\.(exe|dll|scr|com|pif|bat|cmd|hta|vbs|vbe|js|jse|wsf|wsh|ps1|lnk|msi|cpl|chm|jar|iso|img|vhdx?|one)$/i;

export default (stoq: StoqAPI) =>
  stoq.plugin({
    name: "onenote",
    version: "1.0.0",
    description: "OneNote section header and embedded files (FileDataStoreObject) as children",
    classes: ["worker"],
    create: () => ({
      scan(payload) {
        let parsed;
        try {
          parsed = parseOneNote(payload.content);
        } catch (e) {
          if (e instanceof NotOneNoteError) return { errors: [`onenote: ${e.message}`] };
          throw e;
        }
        const files = parsed.files.map((f) => ({
          ...f,
          filename: f.name ?? `embedded_${f.index}${f.extension ?? ".bin"}`,
        }));
        const findings: Finding[] = [];
        const runnable = files.filter((f) =>
          RUNNABLE.test(f.filename) ||
          (payload.content[f.data_offset] === 0x4d && payload.content[f.data_offset + 1] === 0x5a)
        );
        if (runnable.length) {
          findings.push({
            id: "onenote_embedded_executable",
            severity: "high",
            title: "OneNote section embeds a script or program",
            detail: runnable.map((f) => `${f.filename} (${f.size} bytes)`).join("; "),
            mitre: ["T1566.001", "T1204.002"],
          });
        }
        if (files.length > runnable.length) {
          findings.push({
            id: "onenote_embedded_file",
            severity: "low",
            title: "OneNote section embeds files",
            detail: files.filter((f) => !runnable.includes(f)).map((f) =>
              `${f.filename} (${f.size} bytes)`
            )
              .slice(0, 10).join("; "),
          });
        }
        return {
          results: {
            ...parsed.header,
            embedded_files: files.map(({ data_offset: _, ...f }) => f),
            file_node_lists: parsed.file_node_lists,
            file_nodes: parsed.file_nodes,
            truncated: parsed.truncated,
            findings,
          },
          extracted: files.map((f) => ({
            content: payload.content.subarray(f.data_offset, f.data_offset + f.size),
            payload_meta: {
              extra_data: {
                filename: f.filename,
                index: f.index,
                offset: f.data_offset,
                ...(f.guid ? { guid: f.guid } : {}),
              },
            },
          })),
          errors: parsed.errors.map((e) => `onenote: ${e}`),
        };
      },
    }),
  });
