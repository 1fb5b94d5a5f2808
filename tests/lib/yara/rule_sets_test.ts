/**
 * Rule sets as plugins/lib/yara loads them: includes inlined from the including file's folder and
 * bounded to the folder named, every diagnostic traced to its file, line and rule, the compiled
 * set cached by content, and the values filled for external variables.
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { buildRuleSet } from "../../../plugins/lib/yara/compile.ts";
import { misread, payloadExternals } from "../../../plugins/lib/yara/externals.ts";
import { findIncludes, readRuleSources } from "../../../plugins/lib/yara/sources.ts";
import { hint, loadRuleSets, scanAsync, scanParts } from "../../../plugins/lib/yara/rules.ts";
import { sh, tempDir, writeTree } from "../../helpers.ts";

const enc = (s: string) => new TextEncoder().encode(s);

Deno.test("includes: found at top level only, never in comments, strings or rule bodies", () => {
  const text = `// include "in_a_comment.yar"
/* include "in_a_block.yar" */
include "./one.yar"
  include "sub/two.yar"
rule r { strings: $a = "include \\"no.yar\\"" $b = /include "re.yar"/ condition: $a or $b }
include "three.yar"`;
  deepEqual(findIncludes(text).map((i) => [i.line, i.path]), [
    [3, "./one.yar"],
    [4, "sub/two.yar"],
    [6, "three.yar"],
  ]);
});

Deno.test("includes: relative to the including file, each file once, matches as the yara CLI", async () => {
  const dir = await writeTree({
    "index.yar": `include "./sub/a.yar"\ninclude "sub/nested/c.yar"\n` +
      `rule top { strings: $t = "TOPLEVEL" condition: $t }\n`,
    // b.yar is found beside a.yar, not beside index.yar; a_rule uses b.yar's private rule.
    "sub/a.yar": `include "b.yar"\nimport "pe"\n` +
      `rule a_rule { strings: $a = "ALPHA" condition: $a and b_private }\n`,
    "sub/b.yar": `import "pe"\nprivate rule b_private { strings: $b = "BRAVO" condition: $b }\n`,
    "sub/nested/c.yar": `import "pe"\nrule c_rule { condition: uint32(0) == 0x464c457f }\n`,
  });
  const byIndex = await readRuleSources([`${dir}/index.yar`]);
  const byFolder = await readRuleSources([dir]);
  // The folder holds the index and the files it includes: only the index is an entry.
  deepEqual(byFolder.units.map((u) => u.name), [`${dir}/index.yar`]);
  deepEqual(byIndex.units[0].files, [
    `${dir}/index.yar`,
    `${dir}/sub/a.yar`,
    `${dir}/sub/b.yar`,
    `${dir}/sub/nested/c.yar`,
  ]);
  const set = await buildRuleSet(byFolder, { externals: {} });
  deepEqual(set.report.files.map((f) => [f.file.slice(dir.length), f.status, f.rules]), [
    ["/index.yar", "loaded", 1],
    ["/sub/a.yar", "loaded", 1],
    ["/sub/b.yar", "loaded", 1],
    ["/sub/nested/c.yar", "loaded", 1],
  ]);
  // The repeated `import "pe"` of the included files draws no duplicate_import warning.
  equal(set.report.warnings, 0, JSON.stringify(set.report.files.map((f) => f.warnings)));
  const samples: Record<string, Uint8Array> = {
    "all.txt": enc("ALPHA BRAVO TOPLEVEL"),
    "alpha.txt": enc("ALPHA only"),
    "true.elf": await Deno.readFile("/bin/true"),
  };
  for (const [name, data] of Object.entries(samples)) {
    const path = `${dir}/${name}`;
    await Deno.writeFile(path, data);
    const cli = (await sh("yara", [`${dir}/index.yar`, path])).trim().split("\n").filter(Boolean)
      .map((l) => l.split(" ")[0]).sort();
    const ours = set.rules!.scan(data).map((m) => m.ruleIdentifier).sort();
    deepEqual(ours, cli, name);
    // Each match names the file its rule is in.
    const home: Record<string, string> = { top: "index.yar", a_rule: "a.yar", c_rule: "c.yar" };
    for (const m of set.rules!.scan(data)) {
      equal(set.fileOf(m.namespace, m.ruleIdentifier), home[m.ruleIdentifier]);
    }
  }
});

Deno.test("includes: outside the folder named, missing, or in a cycle are errors of the includer", async () => {
  const outside = await writeTree({ "secret.yar": `rule secret { condition: true }` });
  const dir = await writeTree({
    "index.yar": `include "../${outside.split("/").pop()}/secret.yar"\n` +
      `include "${outside}/secret.yar"\ninclude "gone.yar"\ninclude "loop.yar"\n` +
      `rule kept { condition: true }\n`,
    "loop.yar": `include "index.yar"\n`,
  });
  const set = await buildRuleSet(await readRuleSources([`${dir}/index.yar`]), { externals: {} });
  const index = set.report.files.find((f) => f.file.endsWith("index.yar"))!;
  const loop = set.report.files.find((f) => f.file.endsWith("loop.yar"))!;
  equal(index.status, "partly loaded");
  equal(index.rules, 1);
  deepEqual(index.errors.map((e) => [e.line, e.code]), [[1, "include"], [2, "include"], [
    3,
    "include",
  ]]);
  match(index.errors[0].title, /include outside the rule folder: .*secret\.yar is not under /);
  match(index.errors[1].title, /include outside the rule folder/);
  match(index.errors[2].title, /include file not found: "gone\.yar" \(looked for .*\/gone\.yar/);
  match(loop.errors[0].title, /include cycle: .*index\.yar -> .*loop\.yar -> .*index\.yar/);
  deepEqual(set.rules!.scan(enc("x")).map((m) => m.ruleIdentifier), ["kept"]);
});

Deno.test("diagnostics: each error and warning names its file, line, rule and pattern", async () => {
  const dir = await writeTree({
    "a_ok.yar": `rule fine { strings: $a = "fine" condition: $a }\n`,
    "b_slow.yar": `rule quick { strings: $q = "quick" condition: $q }\n` +
      `rule slow {\n  strings:\n    $s = /\\w+\\d+/\n  condition:\n    $s\n}\n`,
    "c_broken.yar": `rule broken {\n  condition:\n    nosuch\n}\n`,
    "d_syntax.yar": `rule ok_before { condition: true }\nrule bad { condition: ( }\n` +
      `rule ok_after { condition: true }\n`,
  });
  const set = await buildRuleSet(await readRuleSources([dir]), { externals: {} });
  const r = set.report;
  const f = (name: string) => r.files.find((x) => x.file.endsWith(name))!;
  deepEqual(
    r.files.map((x) => [x.file.slice(dir.length + 1), x.status, x.rules]),
    [
      ["a_ok.yar", "loaded", 1],
      ["b_slow.yar", "loaded", 2],
      ["c_broken.yar", "skipped", 0],
      ["d_syntax.yar", "partly loaded", 2],
    ],
  );
  const [slow] = f("b_slow.yar").warnings.filter((w) => w.code === "slow_pattern");
  deepEqual([slow.line, slow.column, slow.rule, slow.pattern], [4, 5, "slow", "$s"]);
  match(slow.message, /--> b_slow\.yar:4:5\n[\s\S]*4 \| {5}\$s = \/\\w\+\\d\+\//);
  const [broken] = f("c_broken.yar").errors;
  deepEqual([broken.code, broken.line, broken.rule, broken.title], [
    "E009",
    3,
    "broken",
    "unknown identifier `nosuch`",
  ]);
  const [syntax] = f("d_syntax.yar").errors;
  deepEqual([syntax.code, syntax.line, syntax.rule], ["E001", 2, "bad"]);
  equal(r.slow_patterns, 1);
  deepEqual([r.loaded, r.partly, r.skipped], [2, 1, 1]);
  deepEqual(set.rules!.scan(enc("fine quick")).map((m) => m.ruleIdentifier), [
    "fine",
    "quick",
    "ok_before",
    "ok_after",
  ]);
});

Deno.test("diagnostics: files that quote the same text at the same line are each told apart", async () => {
  // Two broken files whose error lines read the same: the quote alone cannot say whose it is.
  const same = `rule RULE {\n  condition:\n    nosuch\n}\n`;
  const dir = await writeTree({
    "a.yar": same.replace("RULE", "first"),
    "b.yar": `rule fine { condition: true }\n`,
    "c.yar": same.replace("RULE", "second"),
  });
  const set = await buildRuleSet(await readRuleSources([dir]), { externals: {} });
  deepEqual(
    set.report.files.map((
      x,
    ) => [x.file.slice(dir.length + 1), x.status, x.errors.map((e) => e.rule)]),
    [["a.yar", "skipped", ["first"]], ["b.yar", "loaded", []], ["c.yar", "skipped", ["second"]]],
  );
});

Deno.test("cache: a large set is compiled once and then loaded by content; a damaged entry is recompiled", async () => {
  // Over the 64 KiB below which a set is simply compiled.
  const rules = Array.from(
    { length: 400 },
    (_, i) =>
      `rule r${i} {\n  meta:\n    description = "${"padding ".repeat(12)}"\n  strings:\n` +
      `    $a = "marker-${i}-${"x".repeat(8)}"\n  condition:\n    $a\n}\n`,
  ).join("");
  ok(rules.length > 64 * 1024);
  const dir = await writeTree({
    "big.yar": rules,
    "warn.yar": `rule w { strings: $s = /\\w+\\d+/ condition: $s }`,
  });
  const cacheDir = `${await tempDir("yara-cache-")}/yara`;
  const load = async () => buildRuleSet(await readRuleSources([dir]), { externals: {}, cacheDir });
  const first = await load();
  equal(first.report.cached, false);
  const entries = [...Deno.readDirSync(cacheDir)].map((e) => e.name);
  equal(entries.length, 1);
  match(entries[0], /^[0-9a-f]{64}\.yarx$/);
  const second = await load();
  equal(second.report.cached, true);
  deepEqual({ ...second.report, cached: false }, first.report);
  const sample = enc("..marker-7-xxxxxxxx..marker-399-xxxxxxxx..");
  deepEqual(second.rules!.scan(sample).map((m) => m.ruleIdentifier), ["r7", "r399", "w"]);
  // A changed file is a different key: compiled again.
  await Deno.writeTextFile(`${dir}/warn.yar`, `rule w2 { condition: false }`);
  equal((await load()).report.cached, false);
  equal([...Deno.readDirSync(cacheDir)].length, 2);
  // A damaged entry (its checksum fails) is never deserialized: the set is compiled again.
  for (const e of Deno.readDirSync(cacheDir)) {
    const path = `${cacheDir}/${e.name}`;
    const data = Deno.readFileSync(path);
    data[data.length - 100] ^= 0xff;
    Deno.writeFileSync(path, data);
  }
  const again = await load();
  equal(again.report.cached, false);
  deepEqual(again.rules!.scan(sample).map((m) => m.ruleIdentifier), ["r7", "r399"]);
});

Deno.test("externals: the values stoq fills for a payload", () => {
  const declared = { filename: "", filepath: "", extension: "", filetype: "", owner: "SYSTEM" };
  deepEqual(
    payloadExternals(declared, {
      extra_data: { filename: "C:\\Users\\Public\\Invoice.EXE" },
      detectedExtension: "exe",
    }),
    {
      values: {
        filename: "Invoice.EXE",
        filepath: "C:\\Users\\Public",
        extension: ".exe",
        filetype: "EXE",
      },
      unset: [],
    },
  );
  deepEqual(
    payloadExternals(declared, {
      extra_data: { filename: "notes.txt", source_dir: "/srv/in" },
      detectedExtension: "txt",
    }),
    {
      values: { filename: "notes.txt", filepath: "/srv/in", extension: ".txt", filetype: "TXT" },
      unset: [],
    },
  );
  // Nothing known: the configured values stay (the rules were compiled with them).
  deepEqual(payloadExternals(declared, { extra_data: {}, detectedExtension: null }), {
    values: {},
    unset: [],
  });
  // Only declared string variables are filled.
  deepEqual(
    payloadExternals({ filename: 0 }, {
      extra_data: { filename: "a.exe" },
      detectedExtension: "exe",
    }),
    { values: {}, unset: [] },
  );
  // Text the binding would read as a number or a boolean cannot be passed: it is named instead.
  deepEqual(
    payloadExternals(declared, { extra_data: { filename: "docs/TRUE" }, detectedExtension: null }),
    { values: { filepath: "docs" }, unset: ["filename"] },
  );
  deepEqual(["123", "-7", "true", "False", "12a", "1.5", ".123"].map(misread), [
    true,
    true,
    true,
    true,
    false,
    false,
    false,
  ]);
});

Deno.test("includes: an index whose includes another index holds already is left out (Yara-Rules)", async () => {
  const dir = await writeTree({
    "index.yar": `include "./malware/a.yar"\ninclude "./malware/b.yar"\ninclude "./email/c.yar"\n`,
    "malware_index.yar": `include "./malware/a.yar"\ninclude "./malware/b.yar"\n`,
    "own_rules_index.yar": `include "./malware/a.yar"\nrule own { condition: true }\n`,
    "malware/a.yar": `rule a { condition: true }\n`,
    "malware/b.yar": `rule b { condition: true }\n`,
    "email/c.yar": `rule c { condition: true }\n`,
  });
  const sources = await readRuleSources([dir]);
  // own_rules_index.yar has a rule of its own: it stays (a.yar in it is its own copy).
  deepEqual(sources.units.map((u) => u.name.slice(dir.length + 1)), [
    "index.yar",
    "own_rules_index.yar",
  ]);
  const set = await buildRuleSet(sources, { externals: {} });
  deepEqual(set.rules!.scan(enc("x")).map((m) => m.ruleIdentifier).sort(), [
    "a",
    "a",
    "b",
    "c",
    "own",
  ]);
});

Deno.test("diagnostics: an unknown identifier is named a missing import when it is a module, else a possible external", async () => {
  const dir = await writeTree({
    "no_import.yar": `rule uses_pe { condition: pe.is_pe }\n`,
    "no_external.yar": `rule uses_owner { condition: owner == "SYSTEM" }\n`,
  });
  const set = await buildRuleSet(await readRuleSources([dir]), { externals: {} });
  const one = (name: string) => set.report.files.find((x) => x.file.endsWith(name))!.errors[0];
  equal(
    hint(one("no_import.yar")),
    `; the rule file lacks import "pe" (add it at the top of the file)`,
  );
  equal(
    hint(one("no_external.yar")),
    `; if owner is an external variable, declare it: [yara] externals = { owner = "" }`,
  );
});

Deno.test("sets compiled together: one scan, each set its own matches and report", async () => {
  const dir = await writeTree({
    "w/worker.yar": `rule both { strings: $a = "SHARED" condition: $a }\n` +
      `rule w_only { strings: $w = "WORKER" condition: $w }\n`,
    // The same rule name in another set, and a rule that does not compile: reported here only.
    "d/dispatch.yar": `rule both { strings: $a = "SHARED" condition: $a }\n` +
      `rule broken { condition: no_such_identifier }\n`,
  });
  const sets = await loadRuleSets([
    { option: "worker_rules", paths: [`${dir}/w`] },
    { option: "dispatch_rules", paths: [`${dir}/d`] },
  ], { externals: {} });
  equal(sets.length, 2);
  equal(sets[0].rules, sets[1].rules);
  deepEqual(sets.map((s) => [s.report.rules, s.report.partly]), [[2, 0], [1, 1]]);
  const [w, d] = await scanParts(sets, enc("xx SHARED WORKER SHARED"), {}, [1, 5]);
  ok("matches" in w && "matches" in d);
  deepEqual(w.matches.map((m) => [m.rule, m.namespace, m.strings.length]), [
    ["both", "worker.yar", 1],
    ["w_only", "worker.yar", 1],
  ]);
  deepEqual(d.matches.map((m) => [m.rule, m.namespace, m.strings.length]), [
    ["both", "dispatch.yar", 2],
  ]);
  // A set scanned alone still sees only its own rules' matches.
  const alone = await scanAsync(sets[1], enc("WORKER SHARED"), {}, 10);
  ok("matches" in alone);
  deepEqual(alone.matches.map((m) => m.rule), ["both"]);
});
