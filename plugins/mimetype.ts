/**
 * MIME type and usual extension of a payload, from its magic numbers: file-type (see
 * lib/magic/magic.ts) by default, or libmagic through `file` for stoQ's MIME names. The route
 * dispatcher uses the same engine, so routing follows the type the result shows.
 */
import type { StoqAPI } from "../core/engine/plugin.ts";
import { detectFor, useEngine } from "./lib/magic/magic.ts";

export default (stoq: StoqAPI) =>
  stoq.plugin({
    name: "mimetype",
    version: "1.1.0",
    description: "Detects the MIME type and usual file extension of a payload",
    classes: ["worker"],
    tools: { file: "file" },
    options: {
      engine: stoq.z.enum(["file-type", "libmagic"]).default("file-type"),
    },
    create: (opts) => {
      // The route dispatcher detects through the same engine, so flavors follow the result.
      useEngine(opts.engine);
      return {
        async scan(payload, _request, call) {
          // Shared with the route dispatcher, which may have detected this payload already.
          const { mimetype, extension } = await detectFor(payload, call);
          return { results: { mimetype, extension } };
        },
      };
    },
  });
