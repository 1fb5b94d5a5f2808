/**
 * `stoq search` through ./stoq: real files are scanned into the sqlite store with `-C sqlite`
 * (default pipeline: hash, mimetype, yara, decompress), then found by hash, rule, type, filename
 * and time, alone and combined.
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import {
  assertUsageError,
  parseLines,
  type ResultDoc,
  runStoq,
  show,
  sums,
  writeText,
} from "../cli_helpers.ts";
import { sh, tempDir } from "../helpers.ts";

const EICAR = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

interface Fixture {
  home: string;
  cwd: string;
  dir: string;
  /** Scan ids of the first batch (eicar.com, bundle.zip, notes.txt) by root filename. */
  first: Record<string, string>;
  /** Scan id of the second batch (Later.TXT), scanned after `between`. */
  later: string;
  between: string;
}

let fixture: Promise<Fixture> | undefined;

/** Two batches of scans into one store, a moment apart. */
function setup(): Promise<Fixture> {
  return fixture ??= (async () => {
    const home = await tempDir();
    const cwd = await tempDir();
    const dir = await tempDir();
    await writeText(dir, "eicar.com", EICAR);
    await writeText(dir, "notes.txt", "meeting notes, nothing to see\n");
    const inner = await tempDir();
    await writeText(inner, "eicar.com", EICAR);
    await writeText(inner, "readme.md", "# a readme\n");
    await sh("zip", ["-q", "-X", join(dir, "bundle.zip"), "eicar.com", "readme.md"], inner);
    const r1 = await runStoq(["scan", "-C", "sqlite", dir], { home, cwd });
    equal(r1.code, 0, show(r1));
    const all = await search(home, cwd, []);
    equal(all.code, 0, show(all));
    const first = Object.fromEntries(
      parseLines(all.stdout, 3).map((d) => [rootName(d), d.scan_id]),
    );
    await new Promise((r) => setTimeout(r, 50));
    const between = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 50));
    const later = await tempDir();
    await writeText(later, "Later.TXT", "scanned after the others\n");
    const r2 = await runStoq(["scan", "-C", "sqlite", join(later, "Later.TXT")], { home, cwd });
    equal(r2.code, 0, show(r2));
    const newest = parseLines((await search(home, cwd, ["--limit", "1"])).stdout, 1)[0];
    equal(rootName(newest), "Later.TXT");
    return { home, cwd, dir, first, later: newest.scan_id, between };
  })();
}

function search(home: string, cwd: string, args: string[]) {
  return runStoq(["search", ...args], { home, cwd });
}

function rootName(d: ResultDoc): string {
  return String(d.results[0].payload_meta.extra_data.filename);
}

/** Runs a search and returns the root filenames of the scans found, sorted. */
async function found(args: string[]): Promise<string[]> {
  const f = await setup();
  const r = await search(f.home, f.cwd, args);
  equal(r.code, 0, show(r));
  if (r.stdout === "") {
    match(r.stderr, /no scans match/);
    return [];
  }
  const n = r.stdout.split("\n").length - 1;
  return parseLines(r.stdout, n).map(rootName).sort();
}

Deno.test("search: every stored result comes back whole, newest first", async () => {
  const f = await setup();
  const r = await search(f.home, f.cwd, []);
  const docs = parseLines(r.stdout, 4);
  equal(docs[0].scan_id, f.later);
  const bundle = docs.find((d) => rootName(d) === "bundle.zip")!;
  // The zip's members were extracted and stored with it.
  deepEqual(
    bundle.results.map((p) => p.payload_meta.extra_data.filename).sort(),
    ["bundle.zip", "eicar.com", "readme.md"],
  );
  deepEqual(Object.keys(bundle), [
    "results",
    "request_meta",
    "errors",
    "time",
    "decorators",
    "scan_id",
  ]);
});

Deno.test("search: by sha256, md5 and --hash (any case), as sha256sum/md5sum compute them", async () => {
  const f = await setup();
  const notes = await sums(join(f.dir, "notes.txt"));
  deepEqual(await found(["--sha256", notes.sha256]), ["notes.txt"]);
  deepEqual(await found(["--md5", notes.md5.toUpperCase()]), ["notes.txt"]);
  deepEqual(await found(["--hash", notes.md5]), ["notes.txt"]);
  // EICAR is a file of its own and a member of the zip: both scans hold it.
  const eicar = await sums(join(f.dir, "eicar.com"));
  deepEqual(await found(["--hash", eicar.sha256]), ["bundle.zip", "eicar.com"]);
  deepEqual(await found(["--hash", eicar.sha256, "--hash", notes.sha256]), [
    "bundle.zip",
    "eicar.com",
    "notes.txt",
  ]);
  deepEqual(await found(["--sha256", "0".repeat(64)]), []);
});

Deno.test("search: by YARA rule (exact or glob), by MIME type glob, and both together", async () => {
  deepEqual(await found(["--rule", "eicar_test_file"]), ["bundle.zip", "eicar.com"]);
  deepEqual(await found(["--rule", "eicar_*"]), ["bundle.zip", "eicar.com"]);
  deepEqual(await found(["--rule", "EICAR_TEST_FILE"]), [], "rule names are case-sensitive");
  deepEqual(await found(["--type", "application/zip"]), ["bundle.zip"]);
  deepEqual(await found(["--type", "TEXT/*"]), [
    "Later.TXT",
    "bundle.zip",
    "eicar.com",
    "notes.txt",
  ]);
  deepEqual(await found(["--rule", "eicar_test_file", "--type", "application/zip"]), [
    "bundle.zip",
  ]);
});

Deno.test("search: by filename glob, case-insensitive, extracted members included", async () => {
  deepEqual(await found(["--filename", "*.zip"]), ["bundle.zip"]);
  deepEqual(await found(["--filename", "later.txt"]), ["Later.TXT"]);
  deepEqual(await found(["--filename", "readme.??"]), ["bundle.zip"]);
  deepEqual(await found(["--filename", "eicar.com"]), ["bundle.zip", "eicar.com"]);
  deepEqual(await found(["--filename", "[n]otes.*"]), ["notes.txt"]);
  deepEqual(await found(["--filename", "100%_*"]), [], "% and _ are literal characters");
});

Deno.test("search: by time, ISO or relative; --limit; --summary", async () => {
  const f = await setup();
  deepEqual(await found(["--since", f.between]), ["Later.TXT"]);
  deepEqual(await found(["--until", f.between]), ["bundle.zip", "eicar.com", "notes.txt"]);
  deepEqual(await found(["--since", "1h"]), ["Later.TXT", "bundle.zip", "eicar.com", "notes.txt"]);
  deepEqual(await found(["--until", "1h"]), []);
  deepEqual(await found(["--since", "2000-01-01", "--until", "2000-12-31"]), []);
  deepEqual(await found(["--limit", "2"]).then((l) => l.length), 2);
  const r = await search(f.home, f.cwd, ["--summary", "--filename", "eicar.com"]);
  equal(r.code, 0, show(r));
  const lines = r.stdout.trim().split("\n").map((l) => l.split("\t"));
  equal(lines.length, 2);
  const eicar = lines.find((l) => l[4] === "eicar.com")!;
  const sha = (await sums(join(f.dir, "eicar.com"))).sha256;
  deepEqual(eicar.slice(1), [
    f.first["eicar.com"],
    "1 payload(s)",
    "0 error(s)",
    "eicar.com",
    sha,
    "eicar_test_file",
    "malicious(100)",
  ]);
  ok(!Number.isNaN(Date.parse(eicar[0])));
});

Deno.test("search: by the verdict decorator's verdict (an indexed column), alone or with others", async () => {
  // EICAR matches the bundled eicar_test_file rule (critical): malicious, here and in the zip.
  deepEqual(await found(["--verdict", "malicious"]), ["bundle.zip", "eicar.com"]);
  deepEqual(await found(["--verdict", "CLEAN"]), ["Later.TXT", "notes.txt"]);
  deepEqual(await found(["--verdict", "clean", "--verdict", "malicious"]), [
    "Later.TXT",
    "bundle.zip",
    "eicar.com",
    "notes.txt",
  ]);
  deepEqual(await found(["--verdict", "suspicious"]), []);
  deepEqual(await found(["--verdict", "malicious", "--type", "application/zip"]), ["bundle.zip"]);
  const f = await setup();
  assertUsageError(
    await search(f.home, f.cwd, ["--verdict", "evil"]),
    /--verdict must be one of clean, suspicious, malicious, unknown, not "evil"/,
  );
});

Deno.test("search: --db and [sqlite] path pick the store; a missing store and bad flags are errors", async () => {
  const home = await tempDir();
  const cwd = await tempDir();
  const file = await writeText(cwd, "one.txt", "one\n");
  const db = join(cwd, "elsewhere", "results.sqlite");
  const r = await runStoq(
    ["scan", "-C", "sqlite", "--plugin-opts", `sqlite:path=${db}`, file],
    { home, cwd },
  );
  equal(r.code, 0, show(r));
  const none = await search(home, cwd, []);
  equal(none.code, 1, show(none));
  match(none.stderr, /no result store at .*stoq\.sqlite \(results get there with -C sqlite\)/);
  equal(parseLines((await search(home, cwd, ["--db", db])).stdout, 1)[0].results[0].size, 4);
  // A relative --db is taken from the working directory; [sqlite] path from the config.
  equal((await search(home, cwd, ["--db", "elsewhere/results.sqlite"])).code, 0);
  const config = await writeText(cwd, "stoq.toml", `[core]\n[sqlite]\npath = "${db}"\n`);
  equal(parseLines((await search(home, cwd, ["--config", config])).stdout, 1).length, 1);

  assertUsageError(await search(home, cwd, ["--hash", "abc"]), /not a sha256, sha1 or md5/);
  assertUsageError(await search(home, cwd, ["--since", "yesterday"]), /is not a time/);
  assertUsageError(await search(home, cwd, ["--limit", "0"]), /--limit must be/);
  assertUsageError(await search(home, cwd, ["--rul", "x"]), /did you mean "--rule"/);
  assertUsageError(await search(home, cwd, ["deadbeef"]), /takes flags/);
  // The store is a plugin: any connector with search; others are refused by name.
  assertUsageError(await search(home, cwd, ["--store", "sqlit"]), /no plugin "sqlit".*"sqlite"/);
  const worker = await search(home, cwd, ["--store", "hash"]);
  equal(worker.code, 1, show(worker));
  match(worker.stderr, /stoq search: plugin "hash" is not a connector/);
  const stdout = await search(home, cwd, ["--store", "stdout"]);
  assertUsageError(stdout, /--store: stdout is a connector that cannot search results/);
  const help = await search(home, cwd, ["--help"]);
  equal(help.code, 0);
  match(help.stdout, /Usage: stoq search/);
});

Deno.test("search: content extracted under several names is found by each of them", async () => {
  const home = await tempDir();
  const cwd = await tempDir();
  const inner = await tempDir();
  await writeText(inner, "invoice.pdf.exe", "the same bytes under three names\n");
  await Deno.copyFile(join(inner, "invoice.pdf.exe"), join(inner, "copy.txt"));
  await Deno.copyFile(join(inner, "invoice.pdf.exe"), join(inner, "third.bin"));
  await sh(
    "zip",
    ["-q", "-X", join(cwd, "names.zip"), "invoice.pdf.exe", "copy.txt", "third.bin"],
    inner,
  );
  const r = await runStoq(["scan", "-C", "sqlite", "names.zip"], { home, cwd });
  equal(r.code, 0, show(r));
  for (const name of ["invoice.pdf.exe", "copy.txt", "THIRD.BIN", "*.pdf.exe"]) {
    const found = await search(home, cwd, ["--filename", name]);
    equal(found.code, 0, show(found));
    const doc = parseLines(found.stdout, 1)[0];
    equal(doc.results.length, 2, name); // the zip and its one member
    deepEqual(doc.results[1].payload_meta.extra_data, {
      filename: "invoice.pdf.exe",
      filenames: ["invoice.pdf.exe", "copy.txt", "third.bin"],
    });
  }
});
