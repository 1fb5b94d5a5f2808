/** ssdeep fuzzy hash of the payload (stoQ's `hash_ssdeep`), computed by Debian's `ssdeep` tool. */
import type { StoqAPI } from "../core/engine/plugin.ts";

/** An ssdeep hash: block size, then the two base64 signatures. */
const SSDEEP_RE = /^\d+:[A-Za-z0-9+/]*:[A-Za-z0-9+/]*$/;

/**
 * The hash from `ssdeep -b FILE` output: a header line, then `HASH,"FILE"` per file. ssdeep
 * exits 0 even when it cannot read the file, so a missing hash line is the only failure sign.
 */
export function parseSsdeep(stdout: string, stderr = ""): string {
  for (const line of stdout.split("\n")) {
    const comma = line.indexOf(",");
    if (comma > 0 && SSDEEP_RE.test(line.slice(0, comma))) return line.slice(0, comma);
  }
  const why = stderr.trim() || stdout.trim() || "no output";
  throw new Error(`ssdeep printed no hash for the payload: ${why.slice(0, 500)}`);
}

export default (stoq: StoqAPI) =>
  stoq.plugin({
    name: "hash_ssdeep",
    version: "1.0.0",
    description: "ssdeep fuzzy hash of the payload (Debian's ssdeep tool)",
    classes: ["worker"],
    // The npm ports (ssdeep.js, ctph.js) differ from ssdeep 2.14 on most binaries; see README.
    tools: { ssdeep: "ssdeep" },
    create: () => ({
      async scan(payload, _request, call) {
        // A file, not stdin: ssdeep 2.14 hashes only named files.
        const ssdeep = await call.withTempFile(payload.content, async (path) => {
          const out = await call.exec("ssdeep", ["-b", path], { maxOutput: 64 * 1024 });
          return parseSsdeep(new TextDecoder().decode(out.stdout), out.stderr);
        });
        return { results: { ssdeep } };
      },
    }),
  });
