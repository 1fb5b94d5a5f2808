/**
 * VBScript (.vbs, the scripts of HTAs) as Strelka's ScanVb reports it (tokens, functions, names,
 * strings, URLs) plus keywords, findings, and constant folding of Chr()/ChrW() chains and other
 * string expressions: the folded script and the PowerShell command lines it holds become
 * children. The analysis is in lib/script/vbscript.ts.
 */
import type { StoqAPI } from "../core/engine/plugin.ts";
import { limitsOf, scriptOptions } from "./lib/script/options.ts";

export default (stoq: StoqAPI) =>
  stoq.plugin({
    name: "vbscript",
    version: "1.0.0",
    description:
      "VBScript/HTA scripts: tokens, functions, strings, URLs, keywords, findings; Chr()-built strings decoded, the folded script as a child",
    classes: ["worker"],
    options: scriptOptions(stoq.z),
    create: async (opts) => {
      const { analyzeVbscript } = await import("./lib/script/vbscript.ts");
      const { readSource, toResponse } = await import("./lib/script/common.ts");
      const limits = limitsOf(opts);
      return {
        scan(payload) {
          const source = readSource(payload.content, limits.maxChars);
          return toResponse("vbscript", source, analyzeVbscript(source.text, limits));
        },
      };
    },
  });
