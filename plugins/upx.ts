/**
 * UPX-packed executables (PE or ELF): the evidence that UPX packed it, and the unpacked program
 * as a child when the `upx` tool is on the machine (`upx -d`). Debian 12 has no upx package;
 * without the tool the plugin says so in one line and reports only the detection.
 */
import type { StoqAPI } from "../core/engine/plugin.ts";
import { parseHeaders } from "./lib/pe/headers.ts";
import { Reader } from "./lib/bytes/reader.ts";
import { upxEvidence } from "./lib/pe/upx.ts";

/** Why `content` looks UPX-packed; empty when it does not. */
function evidence(content: Uint8Array): string[] {
  let names: string[] = [];
  if (content[0] === 0x4d && content[1] === 0x5a) {
    try {
      names = parseHeaders(new Reader(content)).sections.map((s) => s.name);
    } catch { /* not a readable PE: the pack header may still say UPX */ }
  }
  return upxEvidence(names, content);
}

export default (stoq: StoqAPI) =>
  stoq.plugin({
    name: "upx",
    version: "1.0.0",
    description: "Detects UPX packing and unpacks with upx -d when the upx tool is installed",
    classes: ["worker"],
    tools: { upx: "upx-ucl" },
    create: () => {
      // Once upx is known to be missing, later payloads skip the temporary file and the spawn.
      let missing: string | undefined;
      return {
        async scan(payload, _request, call) {
          const found = evidence(payload.content);
          if (!found.length) return { results: { packed: false } };
          if (missing) {
            return {
              results: { packed: true, evidence: found, unpacked: false },
              errors: [missing],
            };
          }
          let out;
          try {
            out = await call.withTempFile(payload.content, async (path) => {
              const run = await call.exec("upx", ["-d", "-q", "--no-color", path]);
              return { run, unpacked: run.code === 0 ? await Deno.readFile(path) : null };
            });
          } catch (e) {
            const msg = (e as Error).message;
            if (!/not installed|not permitted/.test(msg)) throw e;
            missing =
              "upx: packed with UPX, not unpacked: the upx tool is not installed (Debian 12 has no upx package; Debian 13's is upx-ucl, or put UPX's upx on PATH)";
            return {
              results: { packed: true, evidence: found, unpacked: false },
              errors: [missing],
            };
          }
          if (!out.unpacked) {
            const why = out.run.stderr.trim().split("\n").at(-1) ?? `exit ${out.run.code}`;
            return {
              results: { packed: true, evidence: found, unpacked: false },
              errors: [`upx: upx -d failed: ${why}`],
            };
          }
          const name = payload.results.payload_meta.extra_data.filename;
          return {
            results: {
              packed: true,
              evidence: found,
              unpacked: true,
              unpacked_size: out.unpacked.length,
            },
            extracted: [{
              content: out.unpacked,
              payload_meta: {
                extra_data: {
                  filename: typeof name === "string" ? `${name}.unpacked` : "upx_unpacked",
                  source: "upx -d",
                },
              },
            }],
          };
        },
      };
    },
  });
