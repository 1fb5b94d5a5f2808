/**
 * PowerShell scripts and command lines: keywords, cmdlets, variables, functions, strings, URLs,
 * findings (download and execute, encoded command, hidden window, execution policy bypass, AMSI and
 * Defender tampering, in-memory loading, obfuscation). -EncodedCommand arguments (UTF-16LE) and
 * constant FromBase64String blobs (inflated when compressed) are decoded into children, and so is
 * the script with its constant string expressions folded. The analysis is in
 * lib/script/powershell.ts.
 */
import type { StoqAPI } from "../core/engine/plugin.ts";
import { limitsOf, scriptOptions } from "./lib/script/options.ts";

export default (stoq: StoqAPI) =>
  stoq.plugin({
    name: "powershell",
    version: "1.0.0",
    description:
      "PowerShell: keywords, cmdlets, URLs, findings; -EncodedCommand, FromBase64String blobs and the de-obfuscated script as children",
    classes: ["worker"],
    options: scriptOptions(stoq.z),
    create: async (opts) => {
      const { analyzePowerShell } = await import("./lib/script/powershell.ts");
      const { readSource, toResponse } = await import("./lib/script/common.ts");
      const limits = limitsOf(opts);
      return {
        scan(payload) {
          const source = readSource(payload.content, limits.maxChars);
          return toResponse("powershell", source, analyzePowerShell(source.text, limits));
        },
      };
    },
  });
