/** The `stoq` command line: parses it and runs the command; user errors become one line. */
import { formatException, UsageError, UserError } from "../errors.ts";
import { getLogger, logSettings } from "../log.ts";
import { VERSION } from "../version.ts";
import { parseArgs } from "./args.ts";
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
      // Literal dynamic imports: loaded only by the commands that need them.
      case "help": {
        const cmds = () => import("./plugin_command.ts");
        if (args.helpFor === "plugin_command") return await (await cmds()).pluginCommandHelp(args);
        const text = (await import("./help.ts")).helpText(args.helpFor, args.paths[0]);
        const more = args.helpFor ? "" : await (await cmds()).pluginCommandLines(args);
        await writeAll(text + "\n" + more);
        return 0;
      }
      case "plugin_command":
        return await (await import("./plugin_command.ts")).pluginCommand(args);
      case "list":
        return await (await import("./list.ts")).listCommand(args);
      case "config":
        return await (await import("./list.ts")).configCommand(args);
      case "explain":
        return await (await import("./explain.ts")).explainCommand(args);
      case "search":
        return await (await import("./search.ts")).searchCommand(args);
      case "deadletter":
        return await (await import("./deadletter.ts")).deadletterCommand(args);
      case "show":
        return await (await import("./show.ts")).showCommand(args);
      case "serve":
        return await (await import("./serve/command.ts")).serveCommand(args);
      case "plugin":
        return await (await import("./plugin_cmd.ts")).pluginCommand(args);
      case "scan":
      case "run":
        return await scanOrRun(args);
    }
  } catch (e) {
    const user = e instanceof UserError;
    const message = user ? e.message : formatException(e);
    // With --log-format json, a machine reads stderr: the last word is a log record too.
    if (logSettings().format === "json") getLogger("stoq").error(message);
    else {
      const hint = e instanceof UsageError ? "\n(stoq --help shows usage)" : "";
      Deno.stderr.writeSync(enc.encode(`stoq: ${user ? "error" : "fatal"}: ${message}${hint}\n`));
    }
    return user ? e.exitCode : 1;
  }
}
