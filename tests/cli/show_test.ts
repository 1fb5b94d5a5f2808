/**
 * `stoq show`: a stored result rendered from a file (one document or JSON lines), from stdin, or
 * by its scan id from the sqlite store; JSON out again; clear errors for what is not a result.
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import {
  assertUsageError,
  parseDoc,
  parseLines,
  runStoq,
  show,
  writeText,
} from "../cli_helpers.ts";
import { tempDir } from "../helpers.ts";

const SAMPLE = new URL("../data/sample.tar.gz", import.meta.url).pathname;

let stored: Promise<{ home: string; json: string; id: string; treeText: string }> | undefined;

/** The sample scanned once into a store (and its JSON and tree kept). */
function fixture() {
  return stored ??= (async () => {
    const home = await tempDir();
    const r = await runStoq(["scan", "-C", "sqlite", "--format", "json", SAMPLE], { home });
    equal(r.code, 0, show(r));
    const found = await runStoq(["search", "--limit", "1"], { home });
    const doc = parseLines(found.stdout, 1)[0];
    const json = join(await tempDir(), "sample.json");
    await Deno.writeTextFile(json, JSON.stringify(doc, null, 2));
    const tree = await runStoq(["show", json], { home });
    equal(tree.code, 0, show(tree));
    return { home, json, id: doc.scan_id, treeText: tree.stdout };
  })();
}

Deno.test("show RESULT.json: the tree of a result file", async () => {
  const f = await fixture();
  const lines = f.treeText.split("\n");
  match(lines[0], /^sample\.tar\.gz {2}application\/gzip {2}469 B {2}[0-9a-f]{12}$/);
  equal(lines.filter((l) => /^\s*(?:[│ ]\s*)*(?:[├└]─ )?\S+\s{2}\S+\/\S+/.test(l)).length, 7);
  ok(lines.includes("verdict: CLEAN  score 0  (no plugin reported a finding)"), f.treeText);
  ok(lines.some((l) => l.startsWith(`scan ${f.id}  `)), f.treeText);
});

Deno.test("show SCAN_ID: the same tree, from the sqlite store; --format json gives the document", async () => {
  const f = await fixture();
  const byId = await runStoq(["show", f.id], { home: f.home });
  equal(byId.code, 0, show(byId));
  equal(byId.stdout, f.treeText);
  const json = await runStoq(["show", "--format", "json", f.id], { home: f.home });
  const doc = parseDoc(json.stdout);
  deepEqual(doc, JSON.parse(await Deno.readTextFile(f.json)));
  ok(json.stdout.startsWith('{\n    "results"'), "indented");
  const line = await runStoq(["show", "--format", "jsonl", f.id, f.json], { home: f.home });
  deepEqual(parseLines(line.stdout, 2).map((d) => d.scan_id), [f.id, f.id]);
  // --db names the store's file.
  const other = await runStoq(["show", "--db", join(f.home, "stoq.sqlite"), f.id]);
  equal(other.stdout, f.treeText, show(other));
});

Deno.test("show -: results piped in (JSON lines from stoq search), one tree each", async () => {
  const f = await fixture();
  const docs = await runStoq(["search"], { home: f.home });
  const r = await runStoq(["show", "-"], {
    home: f.home,
    stdin: new TextEncoder().encode(docs.stdout + docs.stdout),
  });
  equal(r.code, 0, show(r));
  equal(r.stdout, `${f.treeText}\n${f.treeText}`);
});

Deno.test("show: a dead-letter file shows its response", async () => {
  const f = await fixture();
  const dir = await tempDir();
  const response = JSON.parse(await Deno.readTextFile(f.json));
  const path = await writeText(
    dir,
    "dead.json",
    JSON.stringify({ failed_connectors: ["postgres"], response }),
  );
  const r = await runStoq(["show", path]);
  equal(r.stdout, f.treeText, show(r));
});

Deno.test("show: what is not a result, an unknown id, no store: one clear line each", async () => {
  const f = await fixture();
  const dir = await tempDir();
  const notJson = await writeText(dir, "notes.txt", "hello\nworld\n");
  let r = await runStoq(["show", notJson]);
  equal(r.code, 1, show(r));
  match(r.stderr, /notes\.txt: line 1 is not JSON .*give a result document, JSON lines of them/);
  const other = await writeText(dir, "other.json", '{"hello": 1}');
  r = await runStoq(["show", other]);
  match(r.stderr, /other\.json is not a stoq result document \(no "results" list\)/);
  r = await runStoq(["show", "0b7f6d1e-0000-4000-8000-000000000000"], { home: f.home });
  equal(r.code, 1, show(r));
  match(
    r.stderr,
    /no file 0b7f6d1e-0000-4000-8000-000000000000, and no stored scan with that id \(in .*stoq\.sqlite\)/,
  );
  r = await runStoq(["show", "abc"]); // a fresh home: no store at all
  equal(r.code, 1, show(r));
  match(
    r.stderr,
    /stoq show: no result store at .*stoq\.sqlite \(results get there with -C sqlite\)/,
  );
  assertUsageError(await runStoq(["show"]), /stoq show needs a RESULT\.json, a scan id, or -/);
  assertUsageError(
    await runStoq(["show", "--store", "stdout", "abc"], { home: f.home }),
    /--store: stdout is a connector that cannot search results/,
  );
});
