/** MIME type and usual extension of a payload, from its magic numbers (see lib/magic.ts). */
import type { StoqAPI } from "../core/plugin.ts";
import { detectFor } from "./lib/magic.ts";

export default (stoq: StoqAPI) =>
  stoq.plugin({
    name: "mimetype",
    version: "1.0.0",
    description: "Detects the MIME type and usual file extension of a payload",
    classes: ["worker"],
    create: () => ({
      async scan(payload) {
        // Shared with the route dispatcher, which may have detected this payload already.
        const { mimetype, extension } = await detectFor(payload);
        return { results: { mimetype, extension } };
      },
    }),
  });
