/** Base64-decodes the whole payload into one child (stoQ's `b64decode`), refusing non-base64. */
import type { StoqAPI } from "../core/engine/plugin.ts";
import { decodeBase64 } from "./lib/text/base64.ts";

export default (stoq: StoqAPI) =>
  stoq.plugin({
    name: "b64decode",
    version: "1.0.0",
    description: "Base64-decodes the payload (standard or URL-safe, whitespace ignored)",
    classes: ["worker"],
    create: () => ({
      scan(payload) {
        const decoded = decodeBase64(payload.content);
        if (typeof decoded === "string") return { errors: [`b64decode: ${decoded}`] };
        if (decoded.length === 0) return { results: { size: 0 } };
        const extra: Record<string, unknown> = { encoding: "base64" };
        const parentName = payload.results.payload_meta.extra_data.filename;
        if (typeof parentName === "string" && parentName !== "") {
          extra.filename = `${parentName}.decoded`;
        }
        return {
          results: { size: decoded.length },
          extracted: [{ content: decoded, payload_meta: { extra_data: extra } }],
        };
      },
    }),
  });
