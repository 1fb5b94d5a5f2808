/** The command line's parser (core/cli/args.ts): bounds and messages of its number flags. */
import { equal, throws } from "node:assert/strict";
import { parseArgs } from "../../core/cli/args.ts";
import { UsageError } from "../../core/errors.ts";

Deno.test("--threads and --max-recursion: a negative or too large number says what is allowed", () => {
  for (
    const [argv, message] of [
      [["--threads", "-3"], /--threads must be a whole number from 1 to 256, not "-3"/],
      [["--threads=-3"], /--threads must be a whole number from 1 to 256, not "-3"/],
      [["--threads", "5000"], /not "5000" \(each scan thread loads its own plugins and rules/],
      [["--threads", "2.5"], /--threads must be a whole number from 1 to 256, not "2.5"/],
      [
        ["--max-recursion", "-1"],
        /--max-recursion must be a whole number from 1 to 1000, not "-1"/,
      ],
      [["--max-recursion", "0"], /--max-recursion must be a whole number from 1 to 1000, not "0"/],
      [["--threads", "--max-recursion", "2"], /--threads needs a value/],
    ] as const
  ) {
    throws(() => parseArgs(["scan", ...argv, "x"]), (e: Error) => {
      equal(e instanceof UsageError, true, String(e));
      return message.test(e.message);
    }, argv.join(" "));
  }
  equal(parseArgs(["scan", "--threads", "256", "x"]).threads, 256);
  equal(parseArgs(["scan", "--max-recursion", "1000", "x"]).max_recursion, 1000);
});
