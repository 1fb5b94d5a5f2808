/** End-to-end tests of `./stoq run`: providers feeding scans, connectors, and draining on SIGTERM. */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { sha256, tempDir } from "../helpers.ts";
import {
  assertUsageError,
  hashes,
  listFiles,
  parseDoc,
  parseLines,
  type ResultDoc,
  runStoq,
  show,
  sleepyPlugin,
  STOQ,
  writeText,
} from "../cli_helpers.ts";

const N = 12;

let shared: Promise<{ source: string; shas: Map<string, string> }> | undefined;

/** A folder of N files with distinct contents (and a hidden file the provider skips). */
function sourceDir() {
  return shared ??= (async () => {
    const source = await tempDir();
    const shas = new Map<string, string>();
    for (let i = 0; i < N; i++) {
      const name = `file${String(i).padStart(2, "0")}.txt`;
      const text = `payload number ${i}\n`.repeat(i + 1);
      await writeText(source, name, text);
      shas.set(sha256(text), name);
    }
    await writeText(source, ".hidden", "the provider skips dot-files\n");
    return { source, shas };
  })();
}

/** Checks that `docs` hold exactly one scan of each input file. */
function assertOnePerFile(docs: ResultDoc[], source: string, shas: Map<string, string>): void {
  equal(docs.length, shas.size);
  const seen = new Map<string, number>();
  for (const d of docs) {
    const [root] = d.results;
    const sha = hashes(root).sha256;
    seen.set(sha, (seen.get(sha) ?? 0) + 1);
    equal(root.payload_meta.extra_data.filename, shas.get(sha), "filename matches content");
    equal(root.payload_meta.extra_data.source_dir, source);
    deepEqual(d.errors, []);
  }
  deepEqual([...seen.keys()].sort(), [...shas.keys()].sort());
  for (const [sha, n] of seen) equal(n, 1, `${shas.get(sha)} scanned once`);
}

Deno.test("run -P filedir -C filedir: exactly one result file per input file", async () => {
  const { source, shas } = await sourceDir();
  const out = join(await tempDir(), "results");
  const r = await runStoq([
    "run",
    "-P",
    "filedir",
    "-C",
    "filedir",
    "--plugin-opts",
    `filedir:source_dir=${source}`,
    `filedir:results_dir=${out}`,
  ]);
  equal(r.code, 0, show(r));
  equal(r.stdout, "", "results go to the connector only");
  const files = await listFiles(out);
  equal(files.length, N, files.join(", "));
  const docs: ResultDoc[] = [];
  for (const f of files) docs.push(parseDoc(await Deno.readTextFile(join(out, f))));
  assertOnePerFile(docs, source, shas);
});

Deno.test("run -P filedir without connectors prints one JSON line per input file", async () => {
  const { source, shas } = await sourceDir();
  const r = await runStoq([
    "run",
    "-P",
    "filedir",
    "--plugin-opts",
    `filedir:source_dir=${source}`,
  ]);
  equal(r.code, 0, show(r));
  assertOnePerFile(parseLines(r.stdout, N), source, shas);
});

Deno.test("run without providers is a usage error; a provider on a missing folder fails", async () => {
  const missing = join(await tempDir(), "does-not-exist");
  const [none, bad] = await Promise.all([
    runStoq(["run", "-a", "hash"]),
    runStoq(["run", "-P", "filedir", "--plugin-opts", `filedir:source_dir=${missing}`]),
  ]);
  assertUsageError(none, /needs providers.*-P/);
  equal(bad.code, 1, show(bad));
  equal(bad.stdout, "");
  ok(bad.stderr.includes(`source_dir ${missing} does not exist`), show(bad));
  match(bad.stderr, /provider filedir failed/);
});

// Sleeps on every payload so that a run of 300 files lasts seconds: the signal then surely
// arrives while the provider still has files to queue.
const SLEEPY = sleepyPlugin("sleepy", 20);

Deno.test("run drains on SIGTERM: exit 0, every result file whole, fewer than all scanned", async () => {
  const total = 300;
  const root = await tempDir();
  const source = join(root, "in");
  const out = join(root, "out");
  const plugins = join(root, "plugins");
  await Deno.mkdir(source);
  await Deno.mkdir(plugins);
  await writeText(plugins, "sleepy.ts", SLEEPY);
  const cfg = await writeText(
    root,
    "stoq.toml",
    "[core]\nprovider_consumers = 2\nmax_queue = 5\n",
  );
  const base = new Uint8Array(200 * 1024);
  for (let i = 0; i < base.length; i += 65536) crypto.getRandomValues(base.subarray(i, i + 65536));
  const inputs = new Set<string>();
  for (let i = 0; i < total; i++) {
    new DataView(base.buffer).setUint32(0, i);
    inputs.add(sha256(base));
    await Deno.writeFile(join(source, `f${String(i).padStart(3, "0")}.bin`), base);
  }

  const child = new Deno.Command(STOQ, {
    args: [
      "run",
      "--config",
      cfg,
      "--plugin-dir",
      plugins,
      "-P",
      "filedir",
      "-C",
      "filedir",
      "-a",
      "hash,entropy,mimetype,sleepy",
      "--plugin-opts",
      `filedir:source_dir=${source}`,
      `filedir:results_dir=${out}`,
    ],
    cwd: root,
    env: { STOQ_HOME: await tempDir(), NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = child.output();
  const json = async () => (await listFiles(out)).filter((f) => f.endsWith(".json"));
  // A guard against hanging the suite, not a timing assertion.
  const deadline = Date.now() + 60_000;
  while ((await json()).length === 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
  }
  ok((await json()).length > 0, "a first result appeared");
  child.kill("SIGTERM");
  const done = await output;
  const r = {
    code: done.code,
    stdout: new TextDecoder().decode(done.stdout),
    stderr: new TextDecoder().decode(done.stderr),
  };

  // The first signal stops the provider; what is queued and in flight is scanned and saved,
  // and the run ends normally (core/cli/commands.ts scanOrRun, core/run/runner.ts runQueue).
  equal(r.code, 0, show(r));
  equal(r.stdout, "");
  match(r.stderr, /stopping: no new payloads/);
  const all = await listFiles(out);
  deepEqual(all.filter((f) => !f.endsWith(".json")), [], "no half-written temp files");
  const seen = new Set<string>();
  for (const f of all) {
    const doc = parseDoc(await Deno.readTextFile(join(out, f)));
    const sha = hashes(doc.results[0]).sha256;
    ok(inputs.has(sha), `${f} is the result of an input file`);
    ok(!seen.has(sha), `${f}: each file is scanned at most once`);
    seen.add(sha);
    equal(doc.results[0].workers.sleepy?.slept_ms, 20, "a drained scan is complete");
  }
  ok(all.length > 0);
  // 300 scans at 20 ms each on 2 consumers take at least 3 s; the signal came at the first.
  ok(all.length < total, `stopped early: ${all.length} of ${total}`);
  // 60 MB of inputs: not left behind in /tmp.
  await Deno.remove(root, { recursive: true });
});

Deno.test("run: payloads that are views of one shared Node Buffer are each scanned whole", async () => {
  // Client libraries (amqplib, ioredis) hand out Buffers that share memory; the scan threads
  // must get copies, or the first transfer would detach the memory of the others.
  const plugins = await tempDir();
  await writeText(
    plugins,
    "views.ts",
    `import { Buffer } from "node:buffer";
export default (stoq) => stoq.plugin({ name: "views", version: "1", description: "d",
  classes: ["provider"], create: () => ({ async ingest(queue) {
    const all = Buffer.from("first payload|second payload|third payload");
    let at = 0;
    for (const part of all.toString().split("|")) {
      await queue.put({ content: all.subarray(at, at + part.length) });
      at += part.length + 1;
    }
  } }) });
`,
  );
  const r = await runStoq([
    "run",
    "-P",
    "views",
    "--plugin-dir",
    plugins,
    "-a",
    "hash",
    "--threads",
    "2",
  ]);
  equal(r.code, 0, show(r));
  const got = parseLines(r.stdout, 3).map((d) => hashes(d.results[0]).sha256).sort();
  deepEqual(got, ["first payload", "second payload", "third payload"].map((t) => sha256(t)).sort());
});
