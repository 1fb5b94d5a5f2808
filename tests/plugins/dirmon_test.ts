/**
 * `dirmon` end to end through ./stoq: files are taken only once completely written, each file is
 * scanned exactly once across SIGTERM and restarts, scanned files are moved or deleted, and a file
 * that cannot be read is retried or set aside, never lost. Results are counted with the filedir
 * connector (one JSON file per scan).
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { parseDoc, type ResultDoc, sleepyPlugin, STOQ, writeText } from "../cli_helpers.ts";
import { sha256, tempDir } from "../helpers.ts";

/** A `./stoq` process in the background whose stderr is collected as it arrives. */
function start(args: string[], home: string, cwd: string, wrap: string[] = []) {
  const child = new Deno.Command(wrap[0] ?? STOQ, {
    args: [...wrap.slice(1), ...(wrap.length ? [STOQ] : []), ...args],
    cwd,
    env: { STOQ_HOME: home, NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let stderr = "";
  const dec = new TextDecoder();
  const errDone = child.stderr.pipeTo(
    new WritableStream({ write: (c) => void (stderr += dec.decode(c, { stream: true })) }),
  );
  const outDone = new Response(child.stdout).text();
  return {
    child,
    stderr: () => stderr,
    async finish() {
      const { code } = await child.status;
      await errDone;
      return { code, stdout: await outDone, stderr };
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, cond: () => Promise<boolean> | boolean, ms = 30_000) {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** The result documents the filedir connector wrote. */
async function results(dir: string): Promise<ResultDoc[]> {
  const docs: ResultDoc[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      if (e.isFile && e.name.endsWith(".json") && !e.name.startsWith(".")) {
        docs.push(parseDoc(await Deno.readTextFile(join(dir, e.name))));
      }
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return docs;
}

const filenameOf = (d: ResultDoc) => String(d.results[0].payload_meta.extra_data.filename);

/** How many times each filename was scanned. */
async function counts(dir: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const d of await results(dir)) out[filenameOf(d)] = (out[filenameOf(d)] ?? 0) + 1;
  return out;
}

/** A folder layout and config for one test: in/, results/, a $STOQ_HOME and a config file. */
async function setupRun(core = 'always_dispatch = ["hash"]') {
  const root = await tempDir();
  const input = join(root, "in");
  const out = join(root, "results");
  const home = join(root, "home");
  await Deno.mkdir(input);
  const config = await writeText(root, "stoq.toml", `[core]\n${core}\n`);
  const args = (...opts: string[]) => [
    "run",
    "--config",
    config,
    "-P",
    "dirmon",
    "-C",
    "filedir",
    "--plugin-opts",
    `dirmon:source_dir=${input}`,
    `filedir:results_dir=${out}`,
    ...opts,
  ];
  return { root, input, out, home, args };
}

async function filesUnder(dir: string, prefix = ""): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (e.isDirectory) names.push(...await filesUnder(join(dir, e.name), `${prefix}${e.name}/`));
    else names.push(prefix + e.name);
  }
  return names.sort();
}

Deno.test("dirmon: a file written slowly is taken only once complete, and only once", async () => {
  const t = await setupRun();
  const run = start(
    t.args("dirmon:settle_seconds=2", "dirmon:rescan_seconds=3600"),
    t.home,
    t.root,
  );
  try {
    await waitFor("dirmon to start watching", () => run.stderr().includes("watching"));
    // A writer appending 10 chunks, 300 ms apart (well under settle_seconds).
    const path = join(t.input, "slow.bin");
    const file = await Deno.open(path, { write: true, create: true });
    const written: Uint8Array[] = [];
    for (let i = 0; i < 10; i++) {
      const chunk = crypto.getRandomValues(new Uint8Array(4096));
      for (let off = 0; off < chunk.length;) off += await file.write(chunk.subarray(off));
      written.push(chunk);
      await sleep(300);
      const early = (await results(t.out)).filter((d) => filenameOf(d) === "slow.bin");
      equal(early.length, 0, `slow.bin was scanned while still being written (chunk ${i})`);
    }
    file.close();
    await writeText(t.input, "fast.txt", "written in one go\n");
    await waitFor("both results", async () => (await results(t.out)).length >= 2);
    await sleep(1500); // room for a wrong second scan to show up
  } finally {
    run.child.kill("SIGTERM");
  }
  const r = await run.finish();
  equal(r.code, 0, r.stderr);
  const docs = await results(t.out);
  deepEqual(docs.map(filenameOf).sort(), ["fast.txt", "slow.bin"], r.stderr);
  const slow = docs.find((d) => filenameOf(d) === "slow.bin")!;
  equal(slow.results[0].size, 10 * 4096, "the whole file was scanned");
  equal(
    (slow.results[0].workers.hash as { sha256: string }).sha256,
    sha256(await Deno.readFile(join(t.input, "slow.bin"))),
  );
});

Deno.test("dirmon: SIGTERM drains, and after a restart every file is scanned exactly once", async () => {
  const t = await setupRun(
    'always_dispatch = ["hash", "slow"]\nprovider_consumers = 2\nmax_queue = 2',
  );
  const plugins = join(t.root, "plugins");
  await Deno.mkdir(plugins);
  await writeText(plugins, "slow.ts", sleepyPlugin("slow", 400));
  const names = (from: number, n: number) =>
    Array.from({ length: n }, (_, i) => `f${String(from + i).padStart(2, "0")}.txt`);
  for (const n of names(0, 16)) await writeText(t.input, n, `content of ${n}\n`);
  const args = (...o: string[]) => [
    ...t.args("dirmon:settle_seconds=0.2", ...o),
    "--plugin-dir",
    plugins,
  ];

  const first = start(args(), t.home, t.root);
  await waitFor("a first result", async () => (await results(t.out)).length >= 1);
  first.child.kill("SIGTERM");
  const r1 = await first.finish();
  equal(r1.code, 0, r1.stderr);
  match(r1.stderr, /stopping: no new payloads/);
  const n1 = (await results(t.out)).length;
  ok(n1 >= 1 && n1 < 16, `the first run was stopped part-way (${n1} of 16 scanned)`);
  for (const [name, n] of Object.entries(await counts(t.out))) equal(n, 1, name);

  // Files that arrive while stoq is down.
  for (const n of names(16, 4)) await writeText(t.input, n, `content of ${n}\n`);
  const r2 = await start(args("dirmon:exit_when_idle=true"), t.home, t.root).finish();
  equal(r2.code, 0, r2.stderr);
  deepEqual(await counts(t.out), Object.fromEntries(names(0, 20).map((n) => [n, 1])), r2.stderr);

  // A third start finds nothing new.
  const r3 = await start(args("dirmon:exit_when_idle=true"), t.home, t.root).finish();
  equal(r3.code, 0, r3.stderr);
  match(r3.stderr, /"already_done":20/);
  equal((await results(t.out)).length, 20, "nothing was scanned twice");
  // The files were left where they were (after_scan=leave).
  deepEqual(await filesUnder(t.input), names(0, 20));
});

Deno.test("dirmon: after_scan=move keeps sub-folders in done_dir (inside source_dir, not rescanned)", async () => {
  const t = await setupRun();
  await Deno.mkdir(join(t.input, "sub"));
  await writeText(t.input, "a.txt", "alpha\n");
  await writeText(join(t.input, "sub"), "b.txt", "beta\n");
  await writeText(t.input, ".partial", "a hidden file is not input\n");
  const done = join(t.input, "done");
  const args = t.args(
    "dirmon:settle_seconds=0.1",
    "dirmon:recursive=true",
    "dirmon:after_scan=move",
    `dirmon:done_dir=${done}`,
    "dirmon:exit_when_idle=true",
  );
  const r = await start(args, t.home, t.root).finish();
  equal(r.code, 0, r.stderr);
  deepEqual(await counts(t.out), { "a.txt": 1, "b.txt": 1 });
  deepEqual(await filesUnder(t.input), [".partial", "done/a.txt", "done/sub/b.txt"]);
  equal(await Deno.readTextFile(join(done, "sub", "b.txt")), "beta\n");
  // The moved files are not taken again from done_dir.
  const again = await start(args, t.home, t.root).finish();
  equal(again.code, 0, again.stderr);
  equal((await results(t.out)).length, 2);
  // A second file of the same name goes beside the first, never over it.
  await writeText(t.input, "a.txt", "alpha, second edition\n");
  equal((await start(args, t.home, t.root).finish()).code, 0);
  deepEqual(await filesUnder(done), ["a.txt", "a.txt.1", "sub/b.txt"]);
  equal(await Deno.readTextFile(join(done, "a.txt.1")), "alpha, second edition\n");
});

Deno.test("dirmon: after_scan=delete removes each file once its result is saved", async () => {
  const t = await setupRun();
  for (const n of ["x.txt", "y.txt", "z.txt"]) await writeText(t.input, n, `${n}\n`);
  const r = await start(
    t.args("dirmon:settle_seconds=0.1", "dirmon:after_scan=delete", "dirmon:exit_when_idle=true"),
    t.home,
    t.root,
  ).finish();
  equal(r.code, 0, r.stderr);
  deepEqual(await counts(t.out), { "x.txt": 1, "y.txt": 1, "z.txt": 1 });
  deepEqual(await filesUnder(t.input), []);
});

Deno.test("dirmon: a file over max_payload_size is recorded but never deleted", async () => {
  const t = await setupRun('always_dispatch = ["hash"]\nmax_payload_size = 1024');
  await Deno.writeFile(join(t.input, "big.bin"), new Uint8Array(4096));
  await writeText(t.input, "small.txt", "fine\n");
  const failed = join(t.root, "failed");
  for (const connectors of [true, false]) {
    // With -C filedir the runner sees the result; without, the scan thread prints its text.
    const args = t.args(
      "dirmon:settle_seconds=0.1",
      "dirmon:after_scan=delete",
      "dirmon:retry_seconds=0.1",
      "dirmon:max_attempts=1",
      `dirmon:failed_dir=${failed}`,
      "dirmon:exit_when_idle=true",
    );
    const r = await start(
      connectors ? args : args.filter((a) => a !== "-C" && a !== "filedir"),
      t.home,
      t.root,
    ).finish();
    match(
      r.stderr,
      /big\.bin was not scanned after 1 attempts .*over max_payload_size.*; moved to .*failed\/big\.bin/,
    );
    equal((await Deno.stat(join(failed, "big.bin"))).size, 4096);
    await Deno.rename(join(failed, "big.bin"), join(t.input, "big.bin"));
  }
  deepEqual(await counts(t.out), { "big.bin": 1, "small.txt": 1 });
});

// As root, a mode-000 file is still readable; without the DAC capabilities it is not.
const asRoot = Deno.uid() === 0;
const noDac = asRoot ? ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"] : [];

Deno.test("dirmon: a file the scan cannot read is retried, then moved to failed_dir, not lost", async () => {
  const t = await setupRun();
  const bad = await writeText(t.input, "bad.bin", "cannot be read\n");
  await Deno.chmod(bad, 0o000);
  await writeText(t.input, "good.txt", "fine\n");
  const failed = join(t.root, "failed");
  const r = await start(
    t.args(
      "dirmon:settle_seconds=0.1",
      "dirmon:retry_seconds=0.2",
      "dirmon:max_attempts=2",
      `dirmon:failed_dir=${failed}`,
      "dirmon:exit_when_idle=true",
    ),
    t.home,
    t.root,
    noDac,
  ).finish();
  equal(r.code, 1, "the failed attempts are counted as failed\n" + r.stderr);
  deepEqual(await counts(t.out), { "good.txt": 1 });
  match(r.stderr, /bad\.bin was not scanned \(not scanned: .*ermission denied.*\); trying again/);
  match(r.stderr, /bad\.bin was not scanned after 2 attempts .*; moved to .*failed\/bad\.bin/);
  deepEqual(await filesUnder(t.input), ["good.txt"]);
  await Deno.chmod(join(failed, "bad.bin"), 0o644);
  equal(await Deno.readTextFile(join(failed, "bad.bin")), "cannot be read\n");
});

Deno.test("dirmon: a file that cannot be read yet is scanned once it can be", async () => {
  const t = await setupRun();
  const bad = await writeText(t.input, "late.bin", "readable later\n");
  await Deno.chmod(bad, 0o000);
  const run = start(
    t.args("dirmon:settle_seconds=0.1", "dirmon:retry_seconds=0.3", "dirmon:max_attempts=50"),
    t.home,
    t.root,
    noDac,
  );
  try {
    await waitFor("a failed attempt", () => run.stderr().includes("late.bin was not scanned"));
    equal((await results(t.out)).length, 0);
    await Deno.chmod(bad, 0o644);
    await waitFor("the result", async () => (await results(t.out)).length >= 1);
    await sleep(500);
  } finally {
    run.child.kill("SIGTERM");
  }
  const r = await run.finish();
  deepEqual(await counts(t.out), { "late.bin": 1 }, r.stderr);
  ok(await Deno.stat(bad), "left in place (after_scan=leave)");
});

Deno.test("dirmon: configuration mistakes are clear errors before anything runs", async () => {
  const t = await setupRun();
  const r1 = await start(t.args("dirmon:after_scan=move"), t.home, t.root).finish();
  equal(r1.code, 1);
  match(r1.stderr, /after_scan=move needs done_dir/);
  const r2 = await start(
    ["run", "-P", "dirmon", "--plugin-opts", `dirmon:source_dir=${join(t.root, "nope")}`],
    t.home,
    t.root,
  ).finish();
  equal(r2.code, 1);
  match(r2.stderr, /provider dirmon failed: dirmon: source_dir .*nope is not a folder/);
  // The plugin's words, not where in its code they were raised.
  equal(/\.ts:\d+|Error:/.test(r1.stderr + r2.stderr), false, r1.stderr + r2.stderr);
});
