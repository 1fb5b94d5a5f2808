/** Commands that plugins add (PluginSpec.commands): found, run with the plugin's options, listed. */
import { equal, match } from "node:assert/strict";
import { assertUsageError, runStoq, show } from "../cli_helpers.ts";
import { tempDir } from "../helpers.ts";
import { SHARED_PLUGIN } from "../fixtures/shared_plugin.ts";

async function home(): Promise<string> {
  const dir = await tempDir("stoq-home-");
  await Deno.mkdir(`${dir}/plugins`);
  await Deno.writeTextFile(`${dir}/plugins/counter.ts`, SHARED_PLUGIN);
  await Deno.writeTextFile(`${dir}/stoq.toml`, `[counter]\nlabel = "from-config"\n`);
  return dir;
}

Deno.test("a plugin's command runs with its words, --json and the plugin's options", async () => {
  const h = await home();
  const text = await runStoq(["greet", "all", "ann", "bob"], { home: h });
  equal(text.code, 0, show(text));
  equal(text.stdout, "hello ann bob (from-config)\n");
  const json = await runStoq(
    ["greet", "all", "--json", "cy", "--plugin-opts", "counter:label=cli"],
    { home: h },
  );
  equal(json.code, 0, show(json));
  equal(json.stdout, `{"words":["cy"],"label":"cli"}\n`);
  // Its exit status is stoq's.
  equal((await runStoq(["greet", "all"], { home: h })).code, 3);
});

Deno.test("a plugin's command: help, subcommands and typos", async () => {
  const h = await home();
  const help = await runStoq(["greet", "all", "--help"], { home: h });
  equal(help.code, 0, show(help));
  equal(
    help.stdout,
    "Usage: stoq greet all NAME... [--json]\n\n(a command of the counter plugin)\n",
  );
  equal((await runStoq(["help", "greet"], { home: h })).stdout, help.stdout);
  assertUsageError(
    await runStoq(["greet"], { home: h }),
    /stoq greet takes the subcommand all: stoq greet all \(stoq greet --help\)/,
  );
  assertUsageError(
    await runStoq(["gret", "all"], { home: h }),
    /unknown command "gret" \(did you mean "greet"\?\); commands: .*greet all/,
  );
  const all = await runStoq(["--help"], { home: h });
  match(
    all.stdout,
    /Commands that plugins add:\n(.*\n)*? {2}greet all +greets everyone named \(counter\)/,
  );
});
