// A worker: says what a payload starts with. Publish this file at a URL; users pin it with
// `stoq plugin add URL`. The type import is erased when stoq loads it: the module is self-contained.
import type { StoqAPI } from "../../core/engine/plugin.ts";

export default (stoq: StoqAPI) =>
  stoq.plugin({
    name: "head_hex",
    version: "1.0.0",
    description: "The first bytes of a payload in hex, and how much of it is printable ASCII",
    classes: ["worker"],
    options: { length: stoq.z.number().int().min(1).max(64).default(8) },
    create: (opts) => ({
      scan(payload) {
        const bytes = payload.content;
        if (bytes.length === 0) return { errors: ["empty payload: nothing to show"] };
        const head = [...bytes.subarray(0, opts.length)]
          .map((b) => b.toString(16).padStart(2, "0"))
          .join("");
        let printable = 0;
        for (const b of bytes) if (b >= 0x20 && b < 0x7f) printable++;
        return {
          results: { head, printable_ratio: Math.round((printable / bytes.length) * 1000) / 1000 },
        };
      },
    }),
  });
