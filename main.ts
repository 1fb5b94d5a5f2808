/** stoq's command line. */
import { main } from "./core/cli/commands.ts";

if (import.meta.main) Deno.exit(await main(Deno.args));
