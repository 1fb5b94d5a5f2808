/** The README's plugin example is real: it is taken from README.md and run as a user would. */
import { deepEqual, equal, ok } from "node:assert/strict";
import { join } from "node:path";
import { parseDoc, runStoq } from "./cli_helpers.ts";
import { tempDir } from "./helpers.ts";

const README = new URL("../README.md", import.meta.url);
const SAMPLE = new URL("./data/sample.tar.gz", import.meta.url).pathname;

Deno.test("README: the 'Writing a plugin' example loads from a plugin folder and scans", async () => {
  const text = await Deno.readTextFile(README);
  const block = [...text.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1])
    .find((b) => b.includes('name: "tiny_strings"'));
  ok(block, "README has the tiny_strings example");
  const plugins = join(await tempDir(), "plugins");
  await Deno.mkdir(plugins);
  await Deno.writeTextFile(join(plugins, "tiny_strings.ts"), block);
  const run = await runStoq([
    "scan",
    "--plugin-dir",
    plugins,
    "-a",
    "tiny_strings",
    "--plugin-opts",
    "tiny_strings:min_length=8",
    "-s",
    "decompress",
    SAMPLE,
  ]);
  equal(run.code, 0, run.stderr);
  const doc = parseDoc(run.stdout);
  deepEqual(doc.errors, []);
  const readme = doc.results.find((r) => r.payload_meta.extra_data.filename === "readme.txt");
  ok(readme, "the sample's readme.txt was extracted");
  const strings = (readme.workers.tiny_strings as { strings: string[] }).strings;
  deepEqual(strings, [
    "This archive is a stoq demo sample: a tar.gz holding a zip holding a zip.",
  ]);
});
