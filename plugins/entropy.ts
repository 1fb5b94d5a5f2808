/** Shannon entropy of the payload bytes, in bits per byte (0–8). */
import type { StoqAPI } from "../core/engine/plugin.ts";
import { shannon } from "./lib/text/entropy.ts";

export default (stoq: StoqAPI) =>
  stoq.plugin({
    name: "entropy",
    version: "1.0.0",
    description: "Shannon entropy of the payload, in bits per byte",
    classes: ["worker"],
    create: () => ({
      scan(payload) {
        return { results: { entropy: shannon(payload.content) } };
      },
    }),
  });
