/** End-to-end tests of `./stoq scan`: inputs (files, folders, stdin), output shapes, flags. */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { sh, sha256, tempDir } from "../helpers.ts";
import {
  hashes,
  listFiles,
  parseDoc,
  parseLines,
  type ResultDoc,
  type ResultEntry,
  runStoq,
  show,
  sums,
  writeText,
} from "../cli_helpers.ts";
import { folderOf } from "../../core/engine/engine.ts";

interface Fixtures {
  dir: string;
  /** A small text file. */
  text: string;
  /** tar.gz → outer.zip → (inner.zip → deep.txt, note.txt), built with tar, gzip and zip. */
  nested: string;
  /** sha256 of every payload the nested archive holds, by name (the tar is "tar"). */
  nestedSha: Record<string, string>;
}

let fixtures: Promise<Fixtures> | undefined;

/** Fixtures shared by the tests of this file, built once. */
function getFixtures(): Promise<Fixtures> {
  return fixtures ??= (async () => {
    const dir = await tempDir();
    const text = await writeText(
      dir,
      "text.txt",
      "hello stoq\nthe quick brown fox jumps over the lazy dog\n",
    );
    const nest = join(dir, "nest");
    await Deno.mkdir(nest);
    await writeText(nest, "deep.txt", "deep inside two zips\n");
    await writeText(nest, "note.txt", "a note beside the inner zip\n");
    await sh("zip", ["-q", "-X", "inner.zip", "deep.txt"], nest);
    await sh("zip", ["-q", "-X", "outer.zip", "inner.zip", "note.txt"], nest);
    await sh("tar", ["czf", "nested.tar.gz", "outer.zip"], nest);
    const nested = join(nest, "nested.tar.gz");
    const nestedSha: Record<string, string> = {};
    for (const n of ["nested.tar.gz", "outer.zip", "inner.zip", "note.txt", "deep.txt"]) {
      nestedSha[n] = sha256(await Deno.readFile(join(nest, n)));
    }
    nestedSha.tar = sha256(gunzipSync(await Deno.readFile(nested)));
    return { dir, text, nested, nestedSha };
  })();
}

function byId(doc: ResultDoc): Map<string, ResultEntry> {
  return new Map(doc.results.map((r) => [r.payload_id, r]));
}

/** The payload ids from `entry` up to the root, following `extracted_from[0]`. */
function chain(doc: ResultDoc, entry: ResultEntry): string[] {
  const ids = byId(doc);
  const out = [entry.payload_id];
  let cur = entry;
  while (cur.extracted_from.length) {
    const parent = ids.get(cur.extracted_from[0]);
    ok(parent, `extracted_from ${cur.extracted_from[0]} names a payload of this result`);
    ok(!out.includes(parent.payload_id), "extracted_from has no cycle");
    out.push(parent.payload_id);
    cur = parent;
  }
  return out;
}

function bySha(doc: ResultDoc): Map<string, ResultEntry> {
  return new Map(doc.results.map((r) => [hashes(r).sha256, r]));
}

// A worker plugin directory for the misbehaving-plugin test. Types only from core, as the README
// says; the import is erased at run time, so the relative path need not resolve.
const MISBEHAVING: Record<string, string> = {
  "throwy.ts": `import type { StoqAPI } from "../../core/engine/plugin.ts";
export default (stoq: StoqAPI) =>
  stoq.plugin({
    name: "throwy", version: "1.0.0", description: "always throws", classes: ["worker"],
    create: () => ({ scan() { throw new Error("throwy exploded on purpose"); } }),
  });
`,
  "hang.ts": `import type { StoqAPI } from "../../core/engine/plugin.ts";
export default (stoq: StoqAPI) =>
  stoq.plugin({
    name: "hang", version: "1.0.0", description: "never answers in time", classes: ["worker"],
    create: () => ({
      // Ignores call.signal on purpose, and keeps a timer pending that would hold the process.
      async scan() {
        await new Promise((r) => setTimeout(r, 20_000));
        return { results: { finished: true } };
      },
    }),
  });
`,
  "garbage.ts": `import type { StoqAPI } from "../../core/engine/plugin.ts";
export default (stoq: StoqAPI) =>
  stoq.plugin({
    name: "garbage", version: "1.0.0", description: "returns nonsense", classes: ["worker"],
    // deno-lint-ignore no-explicit-any
    create: () => ({ scan: () => ({ extracted: "not a list", bogus: 1 }) as any }),
  });
`,
};

Deno.test("scan FILE: one indented JSON document with stoQ's keys, filename and hashes", async () => {
  const { text } = await getFixtures();
  const r = await runStoq(["scan", text]);
  equal(r.code, 0, show(r));
  const doc = parseDoc(r.stdout);
  // Exactly the document, indented by 4 spaces, and nothing else on stdout.
  equal(r.stdout, JSON.stringify(doc, null, 4) + "\n");
  match(r.stdout, /^\{\n {4}"results": \[\n {8}\{\n/);
  equal(doc.results.length, 1);
  const [e] = doc.results;
  deepEqual(e.payload_meta.extra_data, {
    filename: "text.txt",
    source_dir: text.slice(0, text.lastIndexOf("/")),
  });
  const want = await sums(text);
  equal(hashes(e).sha256, want.sha256);
  equal(hashes(e).md5, want.md5);
  equal(e.size, (await Deno.stat(text)).size);
  deepEqual(e.extracted_from, []);
  deepEqual(doc.errors, []);
  match(doc.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
  match(doc.scan_id, /^[0-9a-f-]{36}$/);
  ok(!r.stderr.includes('"results"'), `no JSON result on stderr:\n${r.stderr}`);
});

Deno.test("scan tar.gz → zip → zip: every member, its sha256, filename and extracted_from chain", async () => {
  const { nested, nestedSha } = await getFixtures();
  const r = await runStoq(["scan", nested]);
  equal(r.code, 0, show(r));
  const doc = parseDoc(r.stdout);
  deepEqual(doc.errors, []);
  equal(doc.results.length, 6, show(r));
  const root = doc.results[0];
  equal(hashes(root).sha256, nestedSha["nested.tar.gz"]);
  deepEqual(root.extracted_from, []);
  deepEqual(root.extracted_by, []);
  deepEqual(root.payload_meta.extra_data, {
    filename: "nested.tar.gz",
    source_dir: nested.slice(0, nested.lastIndexOf("/")),
  });

  const sha = bySha(doc);
  deepEqual([...sha.keys()].sort(), Object.values(nestedSha).sort(), "each payload once");
  for (const child of doc.results.slice(1)) {
    deepEqual(child.extracted_by, ["decompress"]);
    equal(child.extracted_from.length, 1);
    equal(chain(doc, child).at(-1), root.payload_id, "the chain leads back to the root");
  }
  // Each member hangs under the right parent, and carries its name.
  const depth: Record<string, number> = { "outer.zip": 3, "inner.zip": 4, "note.txt": 4 };
  depth["deep.txt"] = 5;
  for (const [name, d] of Object.entries(depth)) {
    const entry = sha.get(nestedSha[name]);
    ok(entry, `${name} is in the results`);
    equal(entry.payload_meta.extra_data.filename, name);
    equal(chain(doc, entry).length, d, `depth of ${name}`);
  }
  equal(
    sha.get(nestedSha["deep.txt"])!.extracted_from[0],
    sha.get(nestedSha["inner.zip"])!.payload_id,
  );
  equal(chain(doc, sha.get(nestedSha.tar)!).length, 2);
});

Deno.test("scan tests/data/sample.tar.gz (the README's command): 7 results, no errors", async () => {
  const sample = new URL("../data/sample.tar.gz", import.meta.url).pathname;
  const r = await runStoq(["scan", sample]);
  equal(r.code, 0, show(r));
  const doc = parseDoc(r.stdout);
  equal(doc.results.length, 7);
  deepEqual(doc.errors, []);
  equal(hashes(doc.results[0]).sha256, (await sums(sample)).sha256);
  for (const child of doc.results.slice(1)) {
    equal(chain(doc, child).at(-1), doc.results[0].payload_id);
  }
});

Deno.test("scan from stdin: -, < redirect, a plain pipe and a slow pipe give the file's hashes", async () => {
  const { nested } = await getFixtures();
  const bytes = await Deno.readFile(nested);
  const want = await sums(nested);

  // `cat f | ./stoq scan -` and `./stoq scan - < f` both feed stoq's stdin from another process.
  const cat = () => new Deno.Command("cat", { args: [nested], stdout: "piped" }).spawn().stdout;
  const slow = () =>
    new Deno.Command("bash", {
      args: ["-c", 'sleep 1; cat "$0"', nested],
      stdout: "piped",
    }).spawn().stdout;
  const file = await Deno.open(nested);
  const runs = await Promise.all([
    runStoq(["scan", nested]),
    runStoq(["scan", "-"], { stdin: cat() }),
    runStoq(["scan", "-"], { stdin: file.readable }),
    runStoq(["scan"], { stdin: bytes }),
    runStoq(["scan", "-"], { stdin: slow() }),
  ]);
  const docs = runs.map((r) => {
    equal(r.code, 0, show(r));
    return parseDoc(r.stdout);
  });
  const shas = (d: ResultDoc) => d.results.map((e) => hashes(e).sha256).sort();
  for (const [i, d] of docs.entries()) {
    equal(hashes(d.results[0]).sha256, want.sha256, `run ${i}`);
    equal(hashes(d.results[0]).md5, want.md5, `run ${i}`);
    deepEqual(shas(d), shas(docs[0]), `run ${i} finds the same members`);
    deepEqual(d.errors, [], `run ${i}`);
    if (i > 0) equal(d.results[0].payload_meta.extra_data.filename, null, "stdin has no name");
  }
});

Deno.test("scan of empty stdin is a usage error with a clear message", async () => {
  for (const args of [["scan", "-"], ["scan"]]) {
    const r = await runStoq(args, { stdin: new Uint8Array(0) });
    equal(r.code, 2, show(r));
    equal(r.stdout, "");
    match(r.stderr, /stdin was empty/, show(r));
  }
});

Deno.test("scan of stdin stops reading at max_payload_size and says so", async () => {
  const home = await tempDir();
  await Deno.writeTextFile(`${home}/stoq.toml`, `[core]\nmax_payload_size = "1 MiB"\n`);
  // An endless pipe (512 MiB at most): stoq must stop reading soon after the first MiB.
  let sent = 0;
  const chunk = new Uint8Array(64 * 1024);
  const endless = new ReadableStream<Uint8Array>({
    pull(c) {
      if (sent >= 512 * 1024 * 1024) return c.close();
      sent += chunk.length;
      c.enqueue(chunk);
    },
  });
  const r = await runStoq(["scan", "-"], { stdin: endless, home });
  equal(r.code, 1, show(r));
  equal(r.stdout, "");
  match(r.stderr, /stdin is over max_payload_size \(1048576 bytes\): stopped reading there/);
  ok(sent < 64 * 1024 * 1024, `stoq read ${sent} bytes of a pipe it should have stopped reading`);
});

Deno.test("scan -r names what it does not scan: links to folders, broken links, FIFOs", async () => {
  const dir = await tempDir();
  await writeText(dir, "a.txt", "a\n");
  await Deno.mkdir(join(dir, "sub"));
  await writeText(join(dir, "sub"), "b.txt", "b\n");
  await Deno.symlink(join(dir, "sub"), join(dir, "to-sub"));
  await Deno.symlink(join(dir, "nowhere"), join(dir, "broken"));
  await Deno.symlink(join(dir, "a.txt"), join(dir, "to-a"));
  await sh("mkfifo", [join(dir, "pipe")]);
  const r = await runStoq(["scan", "-r", dir]);
  equal(r.code, 0, show(r));
  deepEqual(
    parseLines(r.stdout, 3).map((d) => d.results[0].payload_meta.extra_data.filename).sort(),
    ["a.txt", "b.txt", "to-a"],
  );
  match(r.stderr, /to-sub: not scanned: a link to a folder is not followed/);
  match(r.stderr, /broken: not scanned: a broken symbolic link/);
  match(r.stderr, /pipe: not scanned: not a regular file \(a FIFO, socket or device\)/);
});

Deno.test("a file whose name is not UTF-8 is named as such, not as missing", async () => {
  const dir = await tempDir();
  // Deno cannot make such a name; the shell can.
  await sh("bash", ["-c", `printf 'x\\n' > "$0"/"$(printf 'bad\\377.txt')"`, dir]);
  await writeText(dir, "good.txt", "good\n");
  const one = await runStoq(["scan", join(dir, "bad\uFFFD.txt")]);
  equal(one.code, 2, show(one));
  match(one.stderr, /its name is not valid UTF-8.*stoq scan - < FILE/);
  const all = await runStoq(["scan", dir]);
  equal(all.code, 1, show(all));
  equal(parseLines(all.stdout, 1)[0].results[0].payload_meta.extra_data.filename, "good.txt");
  match(all.stderr, /bad\uFFFD\.txt: not scanned: cannot read .*its name is not valid UTF-8/);
  equal(/no such file|No such file/.test(one.stderr + all.stderr), false, all.stderr);
});

Deno.test("route explain of a path that is not there is a usage error, as for scan", async () => {
  const r = await runStoq(["route", "explain", "/nonexistent/file"]);
  equal(r.code, 2, show(r));
  match(r.stderr, /cannot explain \/nonexistent\/file: no such file/);
  const scan = await runStoq(["scan", "/nonexistent/file"]);
  equal(scan.code, 2, show(scan));
});

Deno.test("options for a plugin that does not run, and a plugin folder that is not there, are warned about", async () => {
  const dir = await tempDir();
  const file = await writeText(dir, "a.txt", "a\n");
  const idle = await runStoq([
    "scan",
    "--plugin-dir",
    join(dir, "no-such-folder"),
    "--plugin-opts",
    "strings:min_length=8",
    "exif:stay_open=false", // routed to by the default pipeline's route rules: not idle
    "hash:algorithms=md5",
    "--",
    file,
  ]);
  equal(idle.code, 0, show(idle));
  match(
    idle.stderr,
    /--plugin-dir .*no-such-folder: no such folder; no plugins are loaded from it/,
  );
  match(
    idle.stderr,
    /--plugin-opts strings: strings does not run in this scan .* add it with -a strings/,
  );
  equal(/--plugin-opts (exif|hash)/.test(idle.stderr), false, idle.stderr);
  const used = await runStoq([
    "scan",
    "-a",
    "strings",
    "--plugin-opts",
    "strings:min_length=8",
    "--",
    file,
  ]);
  equal(used.code, 0, show(used));
  equal(/WARN/.test(used.stderr), false, used.stderr);
});

Deno.test("scan of several files prints one compact JSON object per line", async () => {
  const { text, nested } = await getFixtures();
  const dir = await tempDir();
  const third = await writeText(dir, "third.bin", "third\u0000file");
  const r = await runStoq(["scan", text, nested, third]);
  equal(r.code, 0, show(r));
  const docs = parseLines(r.stdout, 3);
  const byName = new Map(docs.map((d) => [d.results[0].payload_meta.extra_data.filename, d]));
  deepEqual([...byName.keys()].sort(), ["nested.tar.gz", "text.txt", "third.bin"]);
  equal(hashes(byName.get("text.txt")!.results[0]).sha256, (await sums(text)).sha256);
  equal(hashes(byName.get("third.bin")!.results[0]).sha256, (await sums(third)).sha256);
  equal(byName.get("nested.tar.gz")!.results.length, 6);
  equal(new Set(docs.map((d) => d.scan_id)).size, 3, "one scan per input");
});

Deno.test("scan of a folder: top-level files only, sub-folders too with -r", async () => {
  const dir = await tempDir();
  await writeText(dir, "a.txt", "file a\n");
  await writeText(dir, "b.txt", "file b\n");
  await Deno.mkdir(join(dir, "sub", "deeper"), { recursive: true });
  await writeText(join(dir, "sub"), "c.txt", "file c\n");
  await writeText(join(dir, "sub", "deeper"), "d.txt", "file d\n");
  const names = (docs: ResultDoc[]) =>
    docs.map((d) => d.results[0].payload_meta.extra_data.filename).sort();

  const flat = await runStoq(["scan", dir]);
  equal(flat.code, 0, show(flat));
  deepEqual(names(parseLines(flat.stdout, 2)), ["a.txt", "b.txt"]);

  const deep = await runStoq(["scan", "-r", dir]);
  equal(deep.code, 0, show(deep));
  deepEqual(names(parseLines(deep.stdout, 4)), ["a.txt", "b.txt", "c.txt", "d.txt"]);

  const empty = await tempDir();
  await Deno.mkdir(join(empty, "only-a-folder"));
  const none = await runStoq(["scan", empty]);
  equal(none.code, 2, show(none));
  match(none.stderr, /nothing to scan/);
});

Deno.test("scan -C filedir writes one result file per scan and prints nothing", async () => {
  const { text, nested } = await getFixtures();
  const out = join(await tempDir(), "results");
  const r = await runStoq([
    "scan",
    text,
    nested,
    "-C",
    "filedir",
    "--plugin-opts",
    `filedir:results_dir=${out}`,
  ]);
  equal(r.code, 0, show(r));
  equal(r.stdout, "");
  const files = await listFiles(out);
  equal(files.length, 2, files.join(", "));
  const docs: ResultDoc[] = [];
  for (const f of files) {
    match(f, /^[0-9a-f-]{36}\.json$/);
    const doc = parseDoc(await Deno.readTextFile(join(out, f)));
    equal(f, `${doc.scan_id}.json`);
    docs.push(doc);
  }
  deepEqual(
    docs.map((d) => d.results[0].payload_meta.extra_data.filename).sort(),
    ["nested.tar.gz", "text.txt"],
  );

  // One input, one file too.
  const single = join(await tempDir(), "one");
  const r1 = await runStoq([
    "scan",
    "-C",
    "filedir",
    "--plugin-opts",
    `filedir:results_dir=${single}`,
    "--",
    text,
  ]);
  equal(r1.code, 0, show(r1));
  equal(r1.stdout, "");
  equal((await listFiles(single)).length, 1);
});

Deno.test("-a replaces the configured workers; comma and space lists both work", async () => {
  const { text } = await getFixtures();
  const [only, comma, spaced] = await Promise.all([
    runStoq(["scan", "-a", "hash", text]),
    runStoq(["scan", "-a", "hash,entropy", text]),
    runStoq(["scan", "--always-dispatch", "hash", "entropy", text]),
  ]);
  for (const r of [only, comma, spaced]) equal(r.code, 0, show(r));
  const e = parseDoc(only.stdout).results;
  equal(e.length, 1);
  deepEqual(Object.keys(e[0].workers), ["hash", "iocextract", "keywords"]);
  deepEqual(
    e[0].plugins_run.workers,
    ["hash", "iocextract", "keywords"],
    "route sends text to iocextract and keywords",
  );
  for (const r of [comma, spaced]) {
    const doc = parseDoc(r.stdout);
    deepEqual(doc.results[0].plugins_run.workers, ["entropy", "hash", "iocextract", "keywords"]);
    equal(doc.results[0].payload_meta.extra_data.filename, "text.txt");
  }
});

Deno.test("-s runs on the initial payload only; -R replaces the dispatchers", async () => {
  const { nested, nestedSha } = await getFixtures();
  const home = await tempDir();
  // A pipeline without dispatchers: nothing is unpacked unless the command line says so.
  await Deno.writeTextFile(
    join(home, "stoq.toml"),
    [
      "[core]",
      'always_dispatch = ["hash"]',
      "dispatchers = []",
      "[[route.rules]]",
      'workers = ["decompress"]',
      'mime = ["application/gzip", "application/x-tar", "application/zip"]',
    ].join("\n"),
  );
  const [plain, start, routed] = await Promise.all([
    runStoq(["scan", nested], { home }),
    runStoq(["scan", "-s", "decompress", nested], { home }),
    runStoq(["scan", "-R", "route", nested], { home }),
  ]);
  for (const r of [plain, start, routed]) equal(r.code, 0, show(r));

  equal(parseDoc(plain.stdout).results.length, 1);

  // -s decompress unpacks the tar.gz only: its child is hashed but not unpacked.
  const s = parseDoc(start.stdout);
  equal(s.results.length, 2, show(start));
  deepEqual(s.results[0].plugins_run.workers, ["decompress", "hash"]);
  equal(hashes(s.results[1]).sha256, nestedSha.tar);
  deepEqual(s.results[1].plugins_run.workers, ["hash"]);

  // -R route brings routing back: everything is unpacked.
  const r = parseDoc(routed.stdout);
  deepEqual(r.errors, []);
  deepEqual(r.results.map((e) => hashes(e).sha256).sort(), Object.values(nestedSha).sort());
});

Deno.test("--max-recursion 1 on a nested archive names the final worker round", async () => {
  const { nested } = await getFixtures();
  const r = await runStoq(["scan", "--max-recursion", "1", nested]);
  equal(r.code, 0, show(r));
  const doc = parseDoc(r.stdout);
  equal(doc.results.length, 2, "the tar is extracted but not scanned");
  ok(
    doc.errors.some((e) => /Final worker round \(1\)/.test(e.error)),
    JSON.stringify(doc.errors),
  );
  const tar = doc.results[1];
  ok(doc.errors.some((e) => e.payload_id === tar.payload_id), "the error names the payload");
  deepEqual(tar.plugins_run.workers, []);
});

Deno.test("--request-source and --request-extra land in request_meta", async () => {
  const { text } = await getFixtures();
  const r = await runStoq([
    "scan",
    "--request-source",
    "sensor one",
    "--request-extra",
    "a=b",
    "flag=TRUE",
    "url=http://x/?q=1",
    text,
  ]);
  equal(r.code, 0, show(r));
  deepEqual(parseDoc(r.stdout).request_meta, {
    archive_payloads: true,
    source: "sensor one",
    extra_data: { a: "b", flag: true, url: "http://x/?q=1" },
  });
});

Deno.test("--plugin-opts hash:algorithms=md5,sha1 limits the hash keys", async () => {
  const { text } = await getFixtures();
  const r = await runStoq(["scan", "--plugin-opts", "hash:algorithms=md5,sha1", text]);
  equal(r.code, 0, show(r));
  const h = hashes(parseDoc(r.stdout).results[0]);
  deepEqual(Object.keys(h), ["md5", "sha1"]);
  equal(h.md5, (await sums(text)).md5);
});

Deno.test("a list flag right before a file does not swallow the file", async () => {
  const { text, dir } = await getFixtures();
  // Absolute path, and a bare name relative to the working directory.
  const [abs, rel] = await Promise.all([
    runStoq(["scan", "-a", "hash", text]),
    runStoq(["scan", "-a", "hash", "entropy", "text.txt"], { cwd: dir }),
  ]);
  equal(abs.code, 0, show(abs));
  equal(parseDoc(abs.stdout).results[0].payload_meta.extra_data.filename, "text.txt");
  equal(rel.code, 0, show(rel));
  const doc = parseDoc(rel.stdout);
  equal(hashes(doc.results[0]).sha256, (await sums(text)).sha256);
  deepEqual(doc.results[0].plugins_run.workers, ["entropy", "hash", "iocextract", "keywords"]);
});

Deno.test("-A filedir archives a payload; -S filedir SHA256 re-scans it with the same hashes", async () => {
  const { text } = await getFixtures();
  const archive = join(await tempDir(), "archive");
  const opt = `filedir:archive_dir=${archive}`;
  const first = await runStoq(["scan", "-A", "filedir", "--plugin-opts", opt, "-a", "hash", text]);
  equal(first.code, 0, show(first));
  const stored = parseDoc(first.stdout).results[0];
  const sha = hashes(stored).sha256;
  deepEqual(stored.plugins_run.archivers, ["filedir"]);
  const path = stored.archivers.filedir.path as string;
  equal(sha256(await Deno.readFile(path)), sha);

  // The README's form: the reference right after the archiver's name.
  const again = await runStoq(["scan", "-S", "filedir", sha, "--plugin-opts", opt, "-a", "hash"]);
  equal(again.code, 0, show(again));
  const doc = parseDoc(again.stdout);
  deepEqual(hashes(doc.results[0]), hashes(stored));
  deepEqual(doc.errors, []);
});

Deno.test("a worker that throws, hangs or returns garbage is an error; the scan goes on", async () => {
  const { text } = await getFixtures();
  const plugins = await tempDir();
  for (const [name, src] of Object.entries(MISBEHAVING)) await writeText(plugins, name, src);
  const cfg = await writeText(
    await tempDir(),
    "stoq.toml",
    "[core]\nplugin_timeouts = { hang = 1 }\n",
  );
  const r = await runStoq([
    "scan",
    "--config",
    cfg,
    "--plugin-dir",
    plugins,
    "-a",
    "hash",
    "throwy",
    "hang",
    "garbage",
    text,
  ]);
  equal(r.code, 0, show(r));
  const doc = parseDoc(r.stdout);
  const [e] = doc.results;
  equal(hashes(e).sha256, (await sums(text)).sha256);
  deepEqual(Object.keys(e.workers), ["hash"]);
  const errs = [...doc.errors].sort((a, b) => a.plugin_name! < b.plugin_name! ? -1 : 1);
  deepEqual(errs.map((x) => x.plugin_name), ["garbage", "hang", "throwy"], show(r));
  for (const x of errs) equal(x.payload_id, e.payload_id);
  match(errs[0].error, /invalid response/);
  match(errs[1].error, /timed out after 1 s/);
  match(errs[2].error, /throwy exploded on purpose/);
});

Deno.test("folderOf: the absolute, normalised folder of a relative or absolute path", () => {
  const cwd = Deno.cwd();
  equal(folderOf("/a/b/c.txt"), "/a/b");
  equal(folderOf("/c.txt"), "/");
  equal(folderOf("//a//b/./c.txt"), "/a/b");
  equal(folderOf("/a/../../c.txt"), "/");
  equal(folderOf("c.txt"), cwd);
  equal(folderOf("./x/../y/c.txt"), `${cwd}/y`);
});

Deno.test("scan PATH: extra_data.source_dir is the file's folder, which YARA's filepath external sees", async () => {
  const dir = await tempDir();
  await Deno.mkdir(join(dir, "data", "sub"), { recursive: true });
  await Deno.writeTextFile(join(dir, "data", "sub", "tiny.txt"), "tiny\n");
  await Deno.writeTextFile(
    join(dir, "fp.yar"),
    `rule in_data_sub { condition: filepath contains "/data/sub" and filename == "tiny.txt" }
rule no_folder { condition: filepath == "" }
`,
  );
  await Deno.writeTextFile(
    join(dir, "stoq.toml"),
    `[core]
always_dispatch = ["yara"]
[yara]
worker_rules = ["${join(dir, "fp.yar")}"]
dispatch_rules = []
externals = { filename = "", filepath = "" }
`,
  );
  for (const args of [["data/sub/../sub/tiny.txt"], ["-r", "data"]]) {
    const r = await runStoq(["scan", "--config", join(dir, "stoq.toml"), ...args], { cwd: dir });
    equal(r.code, 0, show(r));
    const [root] = parseDoc(r.stdout).results;
    equal(root.payload_meta.extra_data.source_dir, join(dir, "data", "sub"), args.join(" "));
    deepEqual(
      (root.workers.yara as { matches: { rule: string }[] }).matches.map((m) => m.rule),
      ["in_data_sub"],
      args.join(" "),
    );
  }
});
