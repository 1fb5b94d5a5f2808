/** MD5, SHA-1, SHA-256 and SHA-512 digests of the payload (stoQ's `hash`, plus SHA-512). */
import type { StoqAPI } from "../core/engine/plugin.ts";

/** Supported algorithms, in the key order of the results. */
export const ALGORITHMS = ["md5", "sha1", "sha256", "sha512"] as const;

export default (stoq: StoqAPI) =>
  stoq.plugin({
    name: "hash",
    version: "1.0.0",
    description: "MD5, SHA-1, SHA-256 and SHA-512 of the payload, as lower-case hex",
    classes: ["worker"],
    options: {
      algorithms: stoq.z.array(stoq.z.enum(ALGORITHMS)).nonempty().default([...ALGORITHMS]),
    },
    create: async (opts) => {
      // Loaded here, not at the top: a run without this worker skips Node's crypto layer.
      const { createHash } = await import("node:crypto");
      // Fixed order regardless of how the option lists them, so output is stable.
      const wanted = ALGORITHMS.filter((a) => opts.algorithms.includes(a));
      return {
        scan(payload) {
          const results: Record<string, string> = {};
          for (const alg of wanted) {
            // The engine already hashed the content with SHA-256; this is a hot path.
            results[alg] = alg === "sha256"
              ? payload.sha256
              : createHash(alg).update(payload.content).digest("hex");
          }
          return { results };
        },
      };
    },
  });
