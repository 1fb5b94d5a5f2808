/**
 * MIME type and usual extension of a payload, from its magic numbers: file-type (see lib/magic/magic.ts)
 * by default, or libmagic through `file` for stoQ's MIME names.
 */
import type { CallContext, StoqAPI } from "../core/engine/plugin.ts";
import { detectFor } from "./lib/magic/magic.ts";

/** What `file --brief --mime-type` prints: `type/subtype`. */
const MIME = /^[a-z0-9][\w.+-]*\/[\w.+-]+$/i;

/** MIME type and first usual extension according to libmagic (`file` reading stdin). */
export async function detectLibmagic(
  content: Uint8Array,
  call: CallContext,
): Promise<{ mimetype: string; extension: string | null }> {
  const run = async (flag: string) => {
    const out = await call.exec("file", ["--brief", flag, "-"], {
      stdin: content,
      maxOutput: 4096,
    });
    const text = new TextDecoder().decode(out.stdout).trim();
    if (out.code !== 0) {
      throw new Error(`file ${flag} failed (exit ${out.code}): ${out.stderr.trim() || text}`);
    }
    return text;
  };
  const [mimetype, extensions] = await Promise.all([run("--mime-type"), run("--extension")]);
  if (!MIME.test(mimetype)) throw new Error(`file --mime-type printed ${JSON.stringify(mimetype)}`);
  // libmagic lists alternatives ("jpeg/jpg/jpe/jfif") and says "???" when it knows none.
  const first = extensions.split("/")[0];
  return { mimetype, extension: first === "???" || first === "" ? null : first };
}

export default (stoq: StoqAPI) =>
  stoq.plugin({
    name: "mimetype",
    version: "1.1.0",
    description: "Detects the MIME type and usual file extension of a payload",
    classes: ["worker"],
    tools: { file: "file" },
    options: {
      engine: stoq.z.enum(["file-type", "libmagic"]).default("file-type"),
    },
    create: (opts) => ({
      async scan(payload, _request, call) {
        if (opts.engine === "libmagic") {
          return { results: await detectLibmagic(payload.content, call) };
        }
        // Shared with the route dispatcher, which may have detected this payload already.
        const { mimetype, extension } = await detectFor(payload);
        return { results: { mimetype, extension } };
      },
    }),
  });
