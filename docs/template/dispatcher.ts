// A dispatcher: sends payloads to workers by their leading bytes ("magic").
import type { StoqAPI } from "../../core/engine/plugin.ts";

export default (stoq: StoqAPI) =>
  stoq.plugin({
    name: "magic_dispatch",
    version: "1.0.0",
    description: "Routes payloads to workers by the hex bytes they start with",
    classes: ["dispatcher"],
    options: {
      rules: stoq.z.array(stoq.z.object({
        magic: stoq.z.string().regex(/^([0-9a-f]{2})+$/i),
        workers: stoq.z.array(stoq.z.string()).min(1),
      })).default([{ magic: "4d5a", workers: ["head_hex"] }]),
    },
    create: (opts) => ({
      dispatch_targets: [...new Set(opts.rules.flatMap((r) => r.workers))],
      get_dispatches(payload) {
        const hex = [...payload.content.subarray(0, 16)]
          .map((b) => b.toString(16).padStart(2, "0"))
          .join("");
        const hits = opts.rules.filter((r) => hex.startsWith(r.magic.toLowerCase()));
        return {
          plugin_names: [...new Set(hits.flatMap((r) => r.workers))],
          meta: { magic: hits.map((r) => r.magic) },
        };
      },
    }),
  });
