/** The `stoq` command line: parses it and runs the command; user errors become one line. */
import { formatException, UsageError, UserError } from "../errors.ts";
import { VERSION } from "../version.ts";
import { parseArgs } from "./args.ts";
import { helpText } from "./help.ts";
import { configCommand, listCommand } from "./list.ts";
import { writeAll } from "./output.ts";
import { scanOrRun } from "./scan.ts";

const enc = new TextEncoder();

/** Runs the command line and returns the exit status. */
export async function main(argv: string[]): Promise<number> {
  try {
    const args = parseArgs(argv);
    switch (args.command) {
      case "version":
        await writeAll(`stoq ${VERSION}\n`);
        return 0;
      case "help":
        await writeAll(helpText(args.helpFor) + "\n");
        return 0;
      case "list":
        return await listCommand(args);
      case "config":
        return await configCommand(args);
      case "scan":
      case "run":
        return await scanOrRun(args);
    }
  } catch (e) {
    if (e instanceof UserError) {
      const hint = e instanceof UsageError ? "\n(stoq --help shows usage)" : "";
      Deno.stderr.writeSync(enc.encode(`stoq: error: ${e.message}${hint}\n`));
      return e.exitCode;
    }
    Deno.stderr.writeSync(enc.encode(`stoq: fatal: ${formatException(e)}\n`));
    return 1;
  }
}
