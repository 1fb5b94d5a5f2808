// A connector: appends each result as one JSON line to a file in $STOQ_HOME/jsonl/. It declares
// the folder it writes; `[core] allow_plugin_write = ["$STOQ_HOME/jsonl"]` grants it.
import type { StoqAPI } from "../../core/engine/plugin.ts";

export default (stoq: StoqAPI) =>
  stoq.plugin({
    name: "jsonl_file",
    version: "1.0.0",
    description: "Appends each result as one JSON line to $STOQ_HOME/jsonl/<file>",
    classes: ["connector"],
    permissions: { write: ["$STOQ_HOME/jsonl"] },
    options: { file: stoq.z.string().regex(/^[\w.-]+$/).default("results.jsonl") },
    create: async (opts, ctx) => {
      const dir = `${ctx.home}/jsonl`;
      await Deno.mkdir(dir, { recursive: true });
      const path = `${dir}/${opts.file}`;
      return {
        async save(response) {
          // One write per line with append: lines from concurrent scans never interleave.
          await Deno.writeTextFile(path, JSON.stringify(response) + "\n", { append: true });
          ctx.log.debug(`saved scan ${response.scan_id} to ${path}`);
        },
      };
    },
  });
