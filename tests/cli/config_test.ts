/**
 * End-to-end tests of the CLI's edges: usage errors, config files and their errors, `list`,
 * user plugin folders, help, version and JSON logs.
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { tempDir } from "../helpers.ts";
import { stoqAPI } from "../../core/engine/api.ts";
import { allBuiltins } from "../../plugins/index.ts";
import {
  assertUsageError,
  hashes,
  parseDoc,
  runStoq,
  show,
  type StoqRun,
  sums,
  writeText,
} from "../cli_helpers.ts";

// Every plugin plugins/index.ts registers, sorted as `stoq list` prints them.
const BUILTINS = (await allBuiltins()).map((f) => f(stoqAPI).name).sort();

// The README's "Writing a plugin" example, with the type import as a plugin in this repo writes it.
const TINY_STRINGS = `// Types only: the import is erased at run time.
import type { StoqAPI } from "../../core/engine/plugin.ts";

export default (stoq: StoqAPI) =>
  stoq.plugin({
    name: "tiny_strings",
    version: "1.0.0",
    description: "Printable ASCII runs of at least min_length bytes",
    classes: ["worker"],
    options: { min_length: stoq.z.number().int().min(1).default(6) },
    create: (opts) => ({
      scan(payload) {
        const text = new TextDecoder("latin1").decode(payload.content);
        const re = new RegExp(\`[\\\\x20-\\\\x7e]{\${opts.min_length},}\`, "g");
        return { results: { strings: text.match(re) ?? [] } };
      },
    }),
  });
`;

const BROKEN = `import type { StoqAPI } from "../../core/engine/plugin.ts";
throw new Error("broken_plugin cannot load on purpose");
export default (stoq: StoqAPI) => stoq.plugin({} as never);
`;

let shared: Promise<{ dir: string; sample: string; plugins: string; broken: string }> | undefined;

/** A sample file and a plugin folder with one good and one broken module, built once. */
function fixtures() {
  return shared ??= (async () => {
    const dir = await tempDir();
    const sample = await writeText(dir, "sample.bin", "xx\u0001hello world, strings here\u0002yy");
    const plugins = join(dir, "plugins");
    await Deno.mkdir(plugins);
    await writeText(plugins, "tiny_strings.ts", TINY_STRINGS);
    const broken = await writeText(plugins, "broken_plugin.ts", BROKEN);
    return { dir, sample, plugins, broken };
  })();
}

async function withConfig(toml: string, args: (cfg: string) => string[]): Promise<StoqRun> {
  const cfg = await writeText(await tempDir(), "bad.toml", toml);
  return runStoq(args(cfg));
}

/** Asserts a config error: exit 1, nothing on stdout, stderr matching every pattern. */
function assertConfigError(r: StoqRun, ...res: RegExp[]): void {
  equal(r.code, 1, show(r));
  equal(r.stdout, "", show(r));
  for (const re of res) ok(re.test(r.stderr), `stderr should match ${re}:\n${show(r)}`);
}

Deno.test("usage errors exit 2 with a message on stderr and nothing on stdout", async () => {
  const { sample } = await fixtures();
  const cases: [string[], RegExp][] = [
    [["scna", sample], /unknown command "scna" \(did you mean "scan"\?\)/],
    [["frobnicate"], /unknown command "frobnicate"/],
    [["scan", "--frobnicate", sample], /unknown option --frobnicate/],
    [["scan", "--recursiv", sample], /unknown option --recursiv \(did you mean "--recursive"\?\)/],
    [["scan", "-a", "hsh", sample], /no plugin named "hsh" \(did you mean "hash"\?\)/],
    [["scan", "--plugin-opts", "foo", sample], /malformed --plugin-opts value "foo"/],
    [["scan", "--request-extra", "novalue", sample], /malformed --request-extra value "novalue"/],
    [["scan", "/no/such/file.bin"], /\/no\/such\/file\.bin: no such file or folder/],
    [
      ["scan", "--max-recursion", "0", sample],
      /--max-recursion must be a whole number from 1 to 1000, not "0"/,
    ],
    [["scan", "--plugin-opts", "nosuch:x=1", sample], /no plugin "nosuch"/],
    [["scan", "--log-level", "loud", sample], /--log-level must be one of/],
    [["run"], /stoq run needs providers/],
    [["run", sample], /stoq run takes no paths/],
  ];
  const runs = await Promise.all(cases.map(([args]) => runStoq(args)));
  runs.forEach((r, i) => assertUsageError(r, cases[i][1]));
});

Deno.test("a bad --plugin-opts value is a usage error that names the value", async () => {
  const { sample } = await fixtures();
  const r = await runStoq(["scan", "--plugin-opts", "hash:algorithms=md5,sha9", sample]);
  assertUsageError(r, /--plugin-opts hash/);
  match(r.stderr, /algorithms/);
  // "algorithms.1" alone makes the user count; the message should say which value is wrong.
  match(r.stderr, /sha9/);
});

Deno.test("config errors exit 1 and name the file, the table and the key", async () => {
  const { sample } = await fixtures();
  const scan = (cfg: string) => ["scan", "--config", cfg, sample];
  const [typo, type, syntax, nosuch, pluginOpt] = await Promise.all([
    withConfig("[core]\nmax_recusion = 3\n", scan),
    withConfig('[core]\nmax_recursion = "three"\n', scan),
    withConfig("[core]\nmax_recursion = 3\nlog_level = = 'debug'\n", scan),
    withConfig("[nosuchplugin]\nx = 1\n", scan),
    withConfig('[hash]\nalgorithms = ["md5", "sha9"]\n', scan),
  ]);
  assertConfigError(
    typo,
    /bad\.toml/,
    /\[core\]/,
    /"max_recusion"/,
    /did you mean "max_recursion"/,
  );
  assertConfigError(type, /bad\.toml/, /\[core\]/, /max_recursion/, /number/);
  assertConfigError(syntax, /bad\.toml/, /line 3/);
  assertConfigError(nosuch, /bad\.toml/, /\[nosuchplugin\]/);
  assertConfigError(pluginOpt, /bad\.toml/, /\[hash\]/, /algorithms/);
});

Deno.test("--config naming a missing file is a usage error (exit 2)", async () => {
  const { sample } = await fixtures();
  const r = await runStoq(["scan", "--config", "/no/such/stoq.toml", sample]);
  assertUsageError(r, /\/no\/such\/stoq\.toml does not exist/);
});

Deno.test("config is found in $STOQ_HOME/stoq.toml, else ./stoq.toml, without --config", async () => {
  const { sample } = await fixtures();
  const home = await tempDir();
  const cwd = await tempDir();
  await writeText(home, "stoq.toml", '[core]\nalways_dispatch = ["entropy"]\n');
  await writeText(cwd, "stoq.toml", '[core]\nalways_dispatch = ["hash"]\n');
  const workers = (r: StoqRun) => {
    equal(r.code, 0, show(r));
    return parseDoc(r.stdout).results[0].plugins_run.workers;
  };
  const [fromHome, fromCwd, neither, shown] = await Promise.all([
    runStoq(["scan", sample], { home, cwd }),
    runStoq(["scan", sample], { cwd }),
    runStoq(["scan", sample]),
    runStoq(["config"], { home, cwd }),
  ]);
  deepEqual(workers(fromHome), ["entropy"], "$STOQ_HOME/stoq.toml comes first");
  deepEqual(workers(fromCwd), ["hash"], "./stoq.toml when $STOQ_HOME has none");
  deepEqual(workers(neither), ["entropy", "hash", "mimetype", "yara"], "the built-in pipeline");
  equal(shown.code, 0, show(shown));
  equal(shown.stdout.split("\n")[0], `# ${home}/stoq.toml`);

  // A bad config in the working directory is reported by its name too.
  const bad = await tempDir();
  await writeText(bad, "stoq.toml", "[core]\nmax_recursion = 0\n");
  const r = await runStoq(["scan", sample], { cwd: bad });
  assertConfigError(r, /stoq\.toml/, /\[core\]/, /max_recursion/);
});

Deno.test("config --default prints the built-in pipeline, which stoq accepts as a config", async () => {
  const { sample } = await fixtures();
  const r = await runStoq(["config", "--default"]);
  equal(r.code, 0, show(r));
  match(r.stdout, /\[core\]/);
  match(r.stdout, /always_dispatch/);
  const home = await tempDir();
  await writeText(home, "stoq.toml", r.stdout);
  const scan = await runStoq(["scan", sample], { home });
  equal(scan.code, 0, show(scan));
  deepEqual(parseDoc(scan.stdout).results[0].plugins_run.workers, [
    "entropy",
    "hash",
    "mimetype",
    "yara",
  ]);
});

Deno.test("list shows every built-in plugin with its classes; --json has options and defaults", async () => {
  const [text, json] = await Promise.all([runStoq(["list"]), runStoq(["list", "--json"])]);
  equal(text.code, 0, show(text));
  for (const name of BUILTINS) match(text.stdout, new RegExp(`^${name}\\s+v\\d`, "m"));
  match(text.stdout, /^\s+- provider, connector, archiver$/m);
  match(text.stdout, /^\s+- dispatcher$/m);
  match(text.stdout, /^\s+- connector$/m);
  ok(!text.stdout.includes("NOT LOADED"));

  equal(json.code, 0, show(json));
  const parsed = JSON.parse(json.stdout) as {
    plugins: {
      name: string;
      classes: string[];
      source: string;
      options: Record<string, { type: string; default?: unknown }>;
    }[];
    problems: unknown[];
  };
  deepEqual(parsed.plugins.map((p) => p.name), BUILTINS);
  deepEqual(parsed.problems, []);
  const get = (n: string) => parsed.plugins.find((p) => p.name === n)!;
  deepEqual(get("filedir").classes, ["provider", "connector", "archiver"]);
  deepEqual(get("hash").classes, ["worker"]);
  deepEqual(get("route").classes, ["dispatcher"]);
  deepEqual(get("hash").options.algorithms.default, ["md5", "sha1", "sha256", "sha512"]);
  equal(get("filedir").options.results_dir.default, "./results");
  equal(get("filedir").options.recursive.default, false);
  equal(get("stdout").options.indent.default, 4);
  equal(get("decompress").options.max_members.default, 10000);
  for (const p of parsed.plugins) equal(p.source, "built-in");
});

Deno.test("a plugin folder: the good plugin is listed and usable, the broken one reported", async () => {
  const { sample, plugins, broken } = await fixtures();
  const [text, json, scan] = await Promise.all([
    runStoq(["list", "--plugin-dir", plugins]),
    runStoq(["list", "--json", "--plugin-dir", plugins]),
    runStoq([
      "scan",
      "--plugin-dir",
      plugins,
      "-a",
      "hash",
      "tiny_strings",
      "--plugin-opts",
      "tiny_strings:min_length=8",
      sample,
    ]),
  ]);

  equal(text.code, 0, show(text));
  match(text.stdout, /^tiny_strings\s+v1\.0\.0\s+Printable ASCII runs/m);
  match(text.stdout, /min_length \(integer\) = 6/);
  ok(text.stdout.includes(`NOT LOADED: ${broken}: `), show(text));
  match(text.stdout, /broken_plugin cannot load on purpose/);
  ok(text.stderr.includes(broken), `a warning names the broken module:\n${text.stderr}`);

  equal(json.code, 0, show(json));
  const parsed = JSON.parse(json.stdout) as {
    plugins: { name: string; source: string }[];
    problems: { path: string; reason: string }[];
  };
  const tiny = parsed.plugins.find((p) => p.name === "tiny_strings");
  equal(tiny?.source, join(plugins, "tiny_strings.ts"));
  equal(parsed.problems.length, 1);
  equal(parsed.problems[0].path, broken);
  match(parsed.problems[0].reason, /broken_plugin cannot load on purpose/);

  // The broken module does not stop a scan; the good plugin runs with the option given.
  equal(scan.code, 0, show(scan));
  const doc = parseDoc(scan.stdout);
  deepEqual(doc.results[0].workers.tiny_strings, { strings: ["hello world, strings here"] });
  equal(hashes(doc.results[0]).sha256, (await sums(sample)).sha256);
  deepEqual(doc.errors, []);
  ok(scan.stderr.includes(broken), `the scan warns about the broken module:\n${scan.stderr}`);
});

Deno.test("--help, scan --help and run --help show usage and examples; --version", async () => {
  const runs = await Promise.all([
    runStoq(["--help"]),
    runStoq(["scan", "--help"]),
    runStoq(["run", "--help"]),
    runStoq(["help", "scan"]),
    runStoq(["list", "-h"]),
  ]);
  for (const r of runs) {
    equal(r.code, 0, show(r));
    match(r.stdout, /Usage/);
    match(r.stdout, /Examples/);
    equal(r.stderr, "");
  }
  match(runs[1].stdout, /Usage: stoq scan/);
  match(runs[2].stdout, /Usage: stoq run/);
  equal(runs[3].stdout, runs[1].stdout);

  const v = await runStoq(["--version"]);
  equal(v.code, 0, show(v));
  equal(v.stdout, "stoq 0.1.0\n");
});

Deno.test("--log-format json --log-level debug: every stderr line is a JSON log record", async () => {
  const { sample, plugins } = await fixtures();
  const r = await runStoq([
    "scan",
    "--log-format",
    "json",
    "--log-level",
    "debug",
    "--plugin-dir",
    plugins,
    sample,
  ]);
  equal(r.code, 0, show(r));
  parseDoc(r.stdout);
  const lines = r.stderr.split("\n").filter((l) => l !== "");
  ok(lines.length >= 2, `a warning and debug lines expected:\n${r.stderr}`);
  const levels = new Set<string>();
  for (const line of lines) {
    const rec = JSON.parse(line) as Record<string, unknown>;
    for (const k of ["level", "logger", "message"]) {
      equal(typeof rec[k], "string", `${k} in ${line}`);
    }
    levels.add(rec.level as string);
  }
  ok(levels.has("DEBUG"), [...levels].join(","));
  ok(levels.has("WARNING"), "the broken plugin's warning is JSON too");
});
