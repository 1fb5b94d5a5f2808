/**
 * Windows shortcut (.lnk) metadata, per [MS-SHLLINK]: target, arguments, working directory, icon,
 * volume, machine id and MAC address of the machine that made it, timestamps, known folders; with
 * findings for shortcuts that run interpreters with hidden, padded or encoded command lines.
 * Data appended after the link's last block becomes a child. Parser: lib/lnk/.
 */
import type { StoqAPI } from "../core/engine/plugin.ts";
import { lnkFindings } from "./lib/lnk/findings.ts";
import { NotLnkError, parseLnk } from "./lib/lnk/parse.ts";

export default (stoq: StoqAPI) =>
  stoq.plugin({
    name: "lnk",
    version: "1.0.0",
    description:
      "Windows shortcut (.lnk) target, arguments, volume, machine id, MAC address, times",
    classes: ["worker"],
    options: {
      extract_appended: stoq.z.boolean().default(true),
    },
    create: (opts) => ({
      scan(payload) {
        let parsed;
        try {
          parsed = parseLnk(payload.content);
        } catch (e) {
          if (e instanceof NotLnkError) return { errors: [`lnk: ${e.message}`] };
          throw e;
        }
        const { info, error } = parsed;
        const findings = lnkFindings(info);
        const extracted = [];
        if (opts.extract_appended && info.trailing_offset !== null) {
          const parent = payload.results.payload_meta.extra_data.filename;
          extracted.push({
            content: payload.content.subarray(info.trailing_offset),
            payload_meta: {
              extra_data: {
                filename: `${typeof parent === "string" ? parent : "shortcut.lnk"}.appended`,
                offset: info.trailing_offset,
              },
            },
          });
        }
        return {
          results: { ...info, findings },
          extracted,
          errors: error
            ? [`lnk: malformed shortcut: ${error}; the fields before it are reported`]
            : [],
        };
      },
    }),
  });
