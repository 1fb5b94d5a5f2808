/**
 * Windows batch scripts (Strelka's ScanBatch: labels, variables, commands) with cmd.exe's
 * variable expansion emulated where constant (`set`, `%v%`, `%v:~a,b%`, `%v:x=y%`, `!v!`, carets),
 * findings, and the expanded script and its PowerShell command lines as children. The analysis is
 * in lib/script/batch.ts.
 */
import type { StoqAPI } from "../core/engine/plugin.ts";
import { limitsOf, scriptOptions } from "./lib/script/options.ts";

export default (stoq: StoqAPI) =>
  stoq.plugin({
    name: "batch",
    version: "1.0.0",
    description:
      "Batch (.bat/.cmd): labels, variables, commands, URLs, findings; set/%var:~a,b% expansion and carets undone, the expanded script as a child",
    classes: ["worker"],
    options: scriptOptions(stoq.z),
    create: async (opts) => {
      const { analyzeBatch } = await import("./lib/script/batch.ts");
      const { readSource, toResponse } = await import("./lib/script/common.ts");
      const limits = limitsOf(opts);
      return {
        scan(payload) {
          const source = readSource(payload.content, limits.maxChars);
          return toResponse("batch", source, analyzeBatch(source.text, limits));
        },
      };
    },
  });
