/**
 * `--format tree` and the other output formats of `./stoq scan`: the bundled sample's seven
 * payloads drawn as a tree, their sha256 checked against the files tar and unzip extract; colours
 * only on a terminal (a real one, from `script`) and never with NO_COLOR; and the renderer on
 * documents with several parents, loops, escape sequences and errors.
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import type { StoqResponse } from "../../../core/engine/plugin.ts";
import { humanSize, renderTree } from "../../../core/cli/view/tree.ts";
import { assertUsageError, parseDoc, parseLines, runStoq, show, STOQ } from "../../cli_helpers.ts";
import { sh, sha256, tempDir } from "../../helpers.ts";

const SAMPLE = new URL("../../data/sample.tar.gz", import.meta.url).pathname;

/** sha256 of each payload of the sample, from the files tar and unzip extract. */
async function sampleHashes(): Promise<Record<string, string>> {
  const dir = await tempDir();
  await sh("tar", ["xzf", SAMPLE], dir);
  await sh("unzip", ["-q", "report.zip"], dir);
  await sh("unzip", ["-q", "nested.zip"], dir);
  const out: Record<string, string> = {
    "sample.tar.gz": sha256(await Deno.readFile(SAMPLE)),
    "sample.tar": sha256(gunzipSync(await Deno.readFile(SAMPLE))),
  };
  for (const n of ["report.zip", "readme.txt", "nested.zip", "notes.txt", "tool.bin"]) {
    out[n] = sha256(await Deno.readFile(join(dir, n)));
  }
  return out;
}

Deno.test("scan --format tree: the sample's seven payloads, each under its parent", async () => {
  const r = await runStoq(["scan", "--format", "tree", SAMPLE]);
  equal(r.code, 0, show(r));
  ok(!r.stdout.includes("\x1b["), "no colours when stdout is a pipe");
  const h = await sampleHashes();
  const s = (n: string) => h[n].slice(0, 12);
  const lines = r.stdout.split("\n");
  deepEqual(lines.slice(0, 9), [
    `sample.tar.gz  application/gzip  469 B  ${s("sample.tar.gz")}`,
    `└─ sample.tar  application/x-tar  10.0 KiB  ${s("sample.tar")}`,
    `   └─ report.zip  application/zip  576 B  ${s("report.zip")}`,
    `      ├─ readme.txt  text/plain  74 B  ${s("readme.txt")}`,
    `      └─ nested.zip  application/zip  303 B  ${s("nested.zip")}`,
    `         ├─ notes.txt  text/plain  69 B  ${s("notes.txt")}`,
    `         │     iocs: domain example.com; url http://example.com/index.html`,
    `         └─ tool.bin  application/x-msdownload  27 B  ${s("tool.bin")}`,
    "",
  ]);
  equal(lines[9], "verdict: CLEAN  score 0  (no plugin reported a finding)");
  match(
    lines[10],
    /^scan [0-9a-f-]{36} {2}\d{4}-\d\d-\d\dT[\d:.]+Z {2}7 payload\(s\), 0 error\(s\)$/,
  );
  equal(lines.length, 12);
  // The same scan as JSON holds the same seven payloads.
  const json = parseDoc((await runStoq(["scan", "--format", "json", SAMPLE])).stdout);
  deepEqual(
    json.results.map((p) => p.payload_meta.extra_data.filename).sort(),
    Object.keys(h).sort(),
  );
});

Deno.test("scan --format tree: findings under their payload, then the verdict and why", async () => {
  const dir = await tempDir();
  const eicar = join(dir, "eicar.com");
  await Deno.writeTextFile(
    eicar,
    "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*",
  );
  const r = await runStoq(["scan", "--format", "tree", eicar]);
  equal(r.code, 0, show(r));
  const lines = r.stdout.split("\n");
  match(lines[0], /^eicar\.com {2}text\/plain {2}68 B {2}275a021bbfb6$/);
  match(lines[1], /^ {3}! critical yara eicar_test_file: EICAR anti-malware test file/);
  ok(
    lines.includes(
      "verdict: MALICIOUS  score 100  (score 100 reaches malicious (100); 1 finding, each counted)",
    ),
    r.stdout,
  );
  ok(lines.includes("   100  yara eicar_test_file  eicar.com"), r.stdout);
});

/** Runs ./stoq under `script`, which gives it a real terminal. */
async function onTerminal(args: string[], env: Record<string, string>): Promise<string> {
  const home = await tempDir();
  const cmd = [STOQ, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(" ");
  const out = await new Deno.Command("script", {
    args: ["-qfec", cmd, "/dev/null"],
    env: { ...env, STOQ_HOME: home, TERM: "xterm" },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout);
}

Deno.test("scan --format tree: coloured on a terminal, plain with NO_COLOR", async () => {
  const path = Deno.env.get("PATH") ?? "/usr/bin:/bin";
  const colour = await onTerminal(["scan", "--format", "tree", SAMPLE], { PATH: path });
  ok(colour.includes("\x1b[1msample.tar.gz\x1b[0m"), JSON.stringify(colour.slice(0, 300)));
  ok(colour.includes("\x1b[1m\x1b[32mCLEAN\x1b[0m"), "the verdict in green");
  const plain = await onTerminal(["scan", "--format", "tree", SAMPLE], {
    PATH: path,
    NO_COLOR: "1",
  });
  ok(!plain.includes("\x1b["), JSON.stringify(plain.slice(0, 300)));
  match(plain, /^sample\.tar\.gz {2}application\/gzip/);
});

Deno.test("scan --format json|jsonl chooses the JSON shape whatever the number of inputs", async () => {
  const one = await runStoq(["scan", "--format", "jsonl", SAMPLE]);
  equal(one.code, 0, show(one));
  equal(parseLines(one.stdout, 1)[0].results.length, 7);
  const two = await runStoq(["scan", "--format", "json", SAMPLE, SAMPLE]);
  equal(two.code, 0, show(two));
  const docs = two.stdout.split(/\n(?=\{)/).map((t) => parseDoc(t));
  equal(docs.length, 2);
  ok(two.stdout.startsWith('{\n    "results": ['), "indented");
  const trees = await runStoq(["scan", "--format", "tree", SAMPLE, SAMPLE]);
  equal(trees.stdout.match(/^sample\.tar\.gz /gm)?.length, 2);
  assertUsageError(
    await runStoq(["scan", "--format", "xml", SAMPLE]),
    /--format must be one of json, jsonl, tree, not "xml"/,
  );
  assertUsageError(
    await runStoq(["list", "--format", "tree"]),
    /--format belongs to stoq scan, stoq run, stoq show/,
  );
});

function entry(id: string, name: unknown, from: string[] = [], workers = {}) {
  return {
    size: 2048,
    payload_id: id,
    payload_meta: {
      should_archive: true,
      should_scan: true,
      extra_data: { filename: name },
      dispatch_to: [],
    },
    plugins_run: { workers: [], archivers: [] },
    extracted_from: from,
    extracted_by: [],
    workers,
    archivers: {},
  };
}

Deno.test("renderTree: several parents, a loop, escape sequences, errors, no verdict", () => {
  const doc = {
    results: [
      entry("r", "root.zip"),
      entry("a", "a.zip", ["r"]),
      entry("b", "b.zip", ["r"]),
      entry("c", "same.txt", ["a", "b"], {
        x: {
          findings: [
            { id: "low_one", severity: "low", title: "a low one", detail: "" },
            { id: "evil", severity: "high", title: "title\x1b[2J", detail: "d\x1b]0;pwned\x07" },
            { id: "BAD", severity: "high", title: "skipped", detail: "" },
          ],
        },
      }),
      entry("l1", "\x1b[31mred.bin", ["l2"]),
      entry("l2", null, ["l1"]),
    ],
    errors: [
      { error: "broke\nbadly", plugin_name: "x", payload_id: "c" },
      { error: "the whole scan", plugin_name: null, payload_id: null },
    ],
    time: "2026-12-01T00:00:00.000Z",
    decorators: {},
    scan_id: "s1",
  } as unknown as StoqResponse;
  const text = renderTree(doc);
  deepEqual(text.split("\n"), [
    "root.zip  2.0 KiB",
    "├─ a.zip  2.0 KiB",
    "│  └─ same.txt  2.0 KiB  (also in b.zip)",
    "│        ! high     x evil: title?[2J — d?]0;pwned?",
    "│        ! low      x low_one: a low one",
    "│        ✗ x: broke badly",
    "└─ b.zip  2.0 KiB",
    "?[31mred.bin  2.0 KiB",
    "└─ (no name)  2.0 KiB",
    "",
    "verdict: none (the verdict decorator did not run)",
    "errors: 1",
    "  ✗ the whole scan",
    "scan s1  2026-12-01T00:00:00.000Z  6 payload(s), 2 error(s)",
    "",
  ]);
  ok(!text.includes("\x1b"), "no escape sequence from the document reaches the terminal");
  equal(
    renderTree({ results: "nope" } as unknown as StoqResponse).split("\n")[1],
    "verdict: none (the verdict decorator did not run)",
  );
});

Deno.test("humanSize: bytes, then KiB, MiB, GiB with one decimal", () => {
  deepEqual([0, 1023, 1024, 1536, 10 * 1024 ** 2, 3 * 1024 ** 3].map(humanSize), [
    "0 B",
    "1023 B",
    "1.0 KiB",
    "1.5 KiB",
    "10.0 MiB",
    "3.0 GiB",
  ]);
});
