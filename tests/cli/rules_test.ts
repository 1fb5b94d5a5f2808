/**
 * YARA rule sets from the command line, as a SOC runs them: `stoq rules check`, a rule path that
 * does not exist, warnings logged once per process whatever the thread count, and a slow rule
 * that times out on one payload without costing the others their results.
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { assertUsageError, parseDoc, runStoq, show } from "../cli_helpers.ts";
import { sh, tempDir, writeTree } from "../helpers.ts";
import { SLOW_LOOP_RULES } from "../fixtures/yara_rules.ts";

const SLOW = `rule fine { strings: $f = "fine" condition: $f }
rule slow {
  strings:
    $s = /\\w+\\d+/
  condition:
    $s
}
`;

Deno.test("stoq rules check: each file loaded or skipped with the full message, warnings named, a summary", async () => {
  const dir = await writeTree({
    "a_ok.yar": `rule ok_rule { strings: $a = "ok" condition: $a }\n`,
    "b_slow.yar": SLOW,
    "c_broken.yar": `rule broken {\n  condition:\n    nosuch\n}\n`,
    "d_ext.yar": `rule by_name { condition: filename == "x.exe" }\n`,
  });
  const run = await runStoq(["rules", "check", dir]);
  equal(run.code, 1, show(run));
  const out = run.stdout;
  match(out, new RegExp(`^${dir}/a_ok\\.yar: loaded \\(1 rule\\)$`, "m"));
  match(out, new RegExp(`^${dir}/b_slow\\.yar: loaded \\(2 rules\\), 1 warning$`, "m"));
  match(
    out,
    /^ {2}warning: .*b_slow\.yar:4:5: slow pattern \(rule slow, pattern \$s\) \[slow_pattern\]$/m,
  );
  match(out, new RegExp(`^${dir}/c_broken\\.yar: skipped$`, "m"));
  match(
    out,
    /^ {2}error: .*c_broken\.yar:3:5: unknown identifier `nosuch` \(rule broken\) \[E009\]/m,
  );
  // YARA-X's whole message, not only its first line.
  match(
    out,
    /--> c_broken\.yar:3:5\n\s+\|\n\s+3 \| {5}nosuch\n\s+\| {5}\^+ this identifier has not been declared/,
  );
  match(
    out,
    /d_ext\.yar:1:27: unknown identifier `filename`.*declare it: \[yara\] externals = \{ filename = "" \}/,
  );
  match(out, /^4 files: 2 loaded, 2 skipped, 1 warning \(1 slow pattern\); 3 rules$/m);

  // With the external declared (as in the config), d_ext.yar loads.
  const json = await runStoq([
    "rules",
    "check",
    "--json",
    dir,
    "--plugin-opts",
    'yara:externals={"filename":""}',
  ]);
  equal(json.code, 1, show(json));
  const report = JSON.parse(json.stdout);
  deepEqual(report.summary, {
    files: 4,
    loaded: 3,
    partly_loaded: 0,
    skipped: 1,
    warnings: 1,
    slow_patterns: 1,
    rules: 4,
  });
  const slow = report.files[1].warnings[0];
  deepEqual([slow.code, slow.line, slow.rule, slow.pattern], ["slow_pattern", 4, "slow", "$s"]);

  const good = await runStoq(["rules", "check", `${dir}/a_ok.yar`, `${dir}/b_slow.yar`]);
  equal(good.code, 0, show(good));
  match(good.stdout, /^2 files: 2 loaded, 0 skipped, 1 warning \(1 slow pattern\); 3 rules$/m);
});

Deno.test("stoq rules: usage and help come from the plugin that adds the command", async () => {
  assertUsageError(
    await runStoq(["rules"]),
    /stoq rules takes the subcommand check: stoq rules check/,
  );
  const none = await runStoq(["rules", "check"]);
  equal(none.code, 2, show(none));
  match(none.stderr, /stoq rules check needs one or more rule files or folders/);
  assertUsageError(await runStoq(["rulez"]), /unknown command "rulez" \(did you mean "rules"\?\)/);
  const help = await runStoq(["rules", "check", "--help"]);
  equal(help.code, 0, show(help));
  match(help.stdout, /^Usage: stoq rules check PATH\.\.\. \[--json\]/);
  match(help.stdout, /a command of the yara plugin/);
  const all = await runStoq(["--help"]);
  match(
    all.stdout,
    /Commands that plugins add:\n {2}rules check +say what YARA rule files load.* \(yara\)/,
  );
});

Deno.test("a rule path that does not exist stops the scan (exit 1), unless it is marked optional:", async () => {
  const sample = `${await tempDir()}/s.txt`;
  await Deno.writeTextFile(sample, "hello");
  const missing = await runStoq([
    "scan",
    sample,
    "--plugin-opts",
    "yara:worker_rules=builtin:stoq.yar,/no/such/rules",
  ]);
  equal(missing.code, 1, show(missing));
  equal(missing.stdout, "");
  match(
    missing.stderr,
    /yara.*worker_rules: \/no\/such\/rules does not exist; fix the path, or write "optional:\/no\/such\/rules"/,
  );
  const optional = await runStoq([
    "scan",
    sample,
    "--plugin-opts",
    "yara:worker_rules=builtin:stoq.yar,optional:/no/such/rules",
  ]);
  equal(optional.code, 0, show(optional));
  match(
    optional.stderr,
    /worker rules: \/no\/such\/rules: optional rule path does not exist: left out/,
  );
  equal(parseDoc(optional.stdout).errors.length, 0);
});

Deno.test("rules are compiled once per process: summary and each warning (file:line) logged once with 2 threads", async () => {
  const dir = await writeTree({ "slow.yar": SLOW });
  const samples = await tempDir();
  for (const n of ["a", "b", "c", "d"]) {
    await Deno.writeTextFile(`${samples}/${n}.txt`, `fine ${n}`);
  }
  const run = await runStoq([
    "scan",
    samples,
    "--threads",
    "2",
    "--log-level",
    "debug",
    "--plugin-opts",
    `yara:worker_rules=${dir}`,
  ]);
  equal(run.code, 0, show(run));
  const lines = run.stderr.split("\n");
  const summaries = lines.filter((l) => /worker rules: 1 loaded, 0 skipped, 1 warning/.test(l));
  equal(summaries.length, 1, run.stderr);
  const warned = lines.filter((l) =>
    /worker rules: warning: .*slow\.yar:4:5: slow pattern \(rule slow, pattern \$s\) \[slow_pattern\]/
      .test(l)
  );
  equal(warned.length, 1, run.stderr);
  const docs = run.stdout.trim().split("\n").map((l) => JSON.parse(l));
  equal(docs.length, 4);
  for (const d of docs) {
    const rules = d.results[0].workers.yara.matches.map((m: { rule: string }) => m.rule);
    deepEqual(rules, ["fine"]);
  }
});

// 400 KB is scanned on a native thread; 60 KB (at most 64 KiB) in the thread that holds the rules.
for (const size of [400_000, 60_000]) {
  Deno.test(`a rule that times out on one extracted payload (${size} bytes) leaves the others their yara results`, async () => {
    const rules = await writeTree({
      "r.yar": SLOW_LOOP_RULES,
    });
    const work = await tempDir();
    await Deno.writeFile(`${work}/slow.bin`, new Uint8Array(size).fill(0x61));
    await Deno.writeTextFile(`${work}/one.txt`, "a needle here");
    await Deno.writeTextFile(`${work}/two.txt`, "another needle");
    // Zipped (deflate), the archive itself holds no run of a's: only slow.bin is slow to match.
    await sh("zip", [
      "-jq",
      `${work}/case.zip`,
      `${work}/one.txt`,
      `${work}/slow.bin`,
      `${work}/two.txt`,
    ]);
    const run = await runStoq([
      "scan",
      `${work}/case.zip`,
      "--threads",
      "1",
      "--plugin-opts",
      `yara:worker_rules=${rules}`,
      "yara:scan_timeout=1",
    ]);
    equal(run.code, 0, show(run));
    ok(!/blocked its scan thread/.test(run.stderr), run.stderr);
    const doc = parseDoc(run.stdout);
    const byName = new Map(
      doc.results.map((
        r,
      ) => [r.payload_meta.extra_data.filename, r.workers.yara as Record<string, unknown>]),
    );
    deepEqual(
      (byName.get("one.txt")!.matches as { rule: string }[]).map((m) => m.rule),
      ["needle"],
    );
    deepEqual(
      (byName.get("two.txt")!.matches as { rule: string }[]).map((m) => m.rule),
      ["needle"],
    );
    deepEqual(byName.get("slow.bin"), { matches: [], timed_out: true });
    const timedOut = doc.errors.filter((e) => /timed out after 1 s \(scan_timeout\)/.test(e.error));
    equal(timedOut.length, 1, JSON.stringify(doc.errors));
    equal(timedOut[0].plugin_name, "yara");
  });
}
