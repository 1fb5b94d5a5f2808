/**
 * JavaScript and JScript (Strelka's ScanJavascript, on acorn): token statistics, keywords,
 * identifiers, strings, regexes, URLs, suspicious calls with counts, COM objects created,
 * obfuscation signals, strings decoded from constant expressions, findings. Code handed to
 * eval/Function/document.write and base64 blobs become children. The analysis is in
 * lib/script/javascript.ts.
 */
import type { StoqAPI } from "../core/engine/plugin.ts";
import { limitsOf, scriptOptions } from "./lib/script/options.ts";

export default (stoq: StoqAPI) =>
  stoq.plugin({
    name: "javascript",
    version: "1.0.0",
    description:
      "JavaScript/JScript: tokens, identifiers, strings, URLs, suspicious calls, obfuscation, decoded code as children",
    classes: ["worker"],
    options: scriptOptions(stoq.z),
    create: async (opts) => {
      // acorn and the URL validator load only when this worker is used.
      const { analyzeJavaScript } = await import("./lib/script/javascript.ts");
      const { readSource, toResponse } = await import("./lib/script/common.ts");
      const limits = limitsOf(opts);
      return {
        scan(payload) {
          const source = readSource(payload.content, limits.maxChars);
          return toResponse("javascript", source, analyzeJavaScript(source.text, limits));
        },
      };
    },
  });
