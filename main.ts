/** stoq's command line; in a pool thread, the same module serves scans (see core/pool_worker.ts). */
import { main } from "./core/cli/commands.ts";
import { setPoolEntry } from "./core/pool.ts";
import { inWorkerThread, servePoolThread } from "./core/pool_worker.ts";

if (inWorkerThread()) servePoolThread();
else if (import.meta.main) {
  setPoolEntry(import.meta.url);
  Deno.exit(await main(Deno.args));
}
