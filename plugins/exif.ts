/** ExifTool metadata of the payload (stoQ's `exif`: `exiftool -j -n`), from a resident exiftool. */
import type { StoqAPI } from "../core/engine/plugin.ts";
import { ExifToolBatch } from "./lib/exif/exiftool.ts";

/** JSON output, numbers as numbers (stoQ's arguments). */
const ARGS = ["-j", "-n"];

/** Tags that describe the temporary file exiftool reads, not the payload. */
const TEMP_FILE_TAGS = [
  "SourceFile",
  "FileName",
  "Directory",
  "FileModifyDate",
  "FileAccessDate",
  "FileInodeChangeDate",
  "FilePermissions",
];

/** The first object of exiftool's `-j` output, without the tags about the temporary file. */
export function parseExifJson(stdout: string, stderr = ""): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(stdout);
  } catch {
    const why = stderr.trim() || (stdout.trim() ? `unreadable output ${stdout.slice(0, 200)}` : "");
    throw new Error(`exiftool gave no JSON result${why ? `: ${why}` : ""}`);
  }
  const first = Array.isArray(parsed) ? parsed[0] : undefined;
  if (first === null || typeof first !== "object" || Array.isArray(first)) {
    throw new Error(`exiftool's JSON is not a list of objects: ${stdout.slice(0, 200)}`);
  }
  const tags = first as Record<string, unknown>;
  for (const t of TEMP_FILE_TAGS) delete tags[t];
  return tags;
}

export default (stoq: StoqAPI) =>
  stoq.plugin({
    name: "exif",
    version: "1.0.0",
    description: "ExifTool metadata of the payload (exiftool -j -n)",
    classes: ["worker"],
    tools: { exiftool: "libimage-exiftool-perl" },
    options: {
      // false runs one exiftool per payload, as stoQ did: same results, ~20× slower.
      stay_open: stoq.z.boolean().default(true),
      max_output: stoq.z.number().int().positive().default(16 * 1024 * 1024),
    },
    create: (opts) => {
      const batch = opts.stay_open ? new ExifToolBatch(opts.max_output) : undefined;
      return {
        async scan(payload, _request, call) {
          // A file, not stdin: from a pipe exiftool reports FileSize 0 and cannot look inside
          // zip-based formats (a .docx is "ZIP"), and batch mode has no per-command stdin.
          const tags = await call.withTempFile(payload.content, async (path) => {
            if (batch) return parseExifJson(await batch.run(call, [...ARGS, path]));
            const out = await call.exec("exiftool", [...ARGS, path], {
              maxOutput: opts.max_output,
            });
            // Exit 1 with a JSON "Error" tag (e.g. "Unknown file type") is a result, as in stoQ.
            return parseExifJson(new TextDecoder().decode(out.stdout), out.stderr);
          });
          return { results: tags };
        },
        close: () => batch?.close(),
      };
    },
  });
