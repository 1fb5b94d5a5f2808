/**
 * HTML pages and HTAs (Strelka's ScanHtml, on htmlparser2): title, links with their tag, forms
 * with their inputs, frames, meta refresh, scripts, data: URIs, event handlers, the HTA
 * application tag, and findings for phishing forms, hidden frames, redirects, obfuscated scripts
 * and HTML smuggling. Inline scripts, handler code, data: payloads and the visible text become
 * children, so the script analyzers and iocextract see them. The analysis is in lib/html/.
 */
import type { StoqAPI } from "../core/engine/plugin.ts";
import { limitsOf, scriptOptions } from "./lib/script/options.ts";

export default (stoq: StoqAPI) =>
  stoq.plugin({
    name: "html",
    version: "1.0.0",
    description:
      "HTML/HTA: title, links, forms, frames, meta refresh, scripts; inline scripts, data: blobs and visible text as children",
    classes: ["worker"],
    options: scriptOptions(stoq.z),
    create: async (opts) => {
      const { analyzeHtml } = await import("./lib/html/analyze.ts");
      const { readSource, toResponse } = await import("./lib/script/common.ts");
      const limits = limitsOf(opts);
      return {
        scan(payload) {
          const source = readSource(payload.content, limits.maxChars);
          return toResponse("html", source, analyzeHtml(source.text, limits));
        },
      };
    },
  });
