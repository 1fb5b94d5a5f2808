/**
 * Per-payload cost of built-in workers beside the `yara` worker on the same payloads (the speed
 * rule: no plugin may cost more per payload than yara). Each figure is the median, over RUNS
 * samples, of the mean time of one `scan()` call; a sample repeats the call until it lasts at
 * least 1 ms, so that timer resolution does not count. Time is this process's CPU time (user +
 * system), which depends far less than wall-clock time on what else the machine runs (`--wall`
 * times wall-clock instead). The script runs itself again under V8's --single-threaded: the
 * garbage collector's and the compiler's helper threads would otherwise add their CPU time to
 * whichever job they happen to overlap, and the work they do falls instead on the job that
 * caused it. Every job is warmed up before any is timed, and each run takes one sample of every
 * job in turn (see time()). Results are not serialised.
 *
 *   deno run -A scripts/bench_plugins.ts                      # the default sets below
 *   deno run -A scripts/bench_plugins.ts elf macho             # two of them
 *   deno run -A scripts/bench_plugins.ts --runs 51 elf=/bin/ls,/bin/cat macho=./a.out
 *   deno run -A scripts/bench_plugins.ts --wall --baseline hash strings=/etc/services
 *
 * A set is `PLUGIN=FILE[,FILE...]`, or the name of one of the DEFAULT_SETS below alone (`elf`);
 * plugins run with their default options. Without sets, all the DEFAULT_SETS run, on the
 * fixtures the tests build (tests/fixtures/*_files.ts): add a plugin there, with its payloads, to
 * keep it under watch.
 */
import process from "node:process";
import { stoqAPI } from "../core/engine/api.ts";
import type { PluginFactory, PluginInstance } from "../core/engine/plugin.ts";
import { BUILTIN_PLUGINS } from "../plugins/index.ts";
import { makeCall, makePayload, makeRequest } from "../tests/helpers.ts";
import { binaryFiles } from "../tests/fixtures/binaries_files.ts";
import { scriptFiles } from "../tests/fixtures/script_files.ts";

/** A payload to time: a name for the table and its bytes. */
interface Sample {
  label: string;
  content: Uint8Array;
}

/** Files as samples, labelled by their base names. */
function read(paths: string[]): Promise<Sample[]> {
  return Promise.all(paths.map(async (p) => ({
    label: p.split("/").pop()!,
    content: await Deno.readFile(p).catch((e) => usage(`${p}: ${e.message}`)),
  })));
}

/** Text as a sample (a script the fixtures hide inside another). */
const text = (label: string, t: string): Sample => ({
  label,
  content: new TextEncoder().encode(t),
});

/** Plugin → payloads, used when no set is given on the command line. */
const DEFAULT_SETS: Record<string, () => Promise<Sample[]>> = {
  elf: async () => {
    const f = await binaryFiles();
    return read([f["pie.elf"], f["stripped.elf"], f["libdemo.so"], f["static.elf"], f["i386.o"]]);
  },
  macho: async () => {
    const f = await binaryFiles();
    return read([f["x86_64.macho"], f["arm64.macho"], f["libdemo.dylib"], f["fat.macho"]]);
  },
  pecarve: async () => {
    const f = await binaryFiles();
    return read([f["decoys.bin"], f["memdump.bin"], f["attach_raw.pdf"], f["image_exe.png"]]);
  },
  imagetrailer: async () => {
    const f = await binaryFiles();
    return read([f["image_trailer.png"], f["image_trailer.jpg"], f["image.gif"], f["image.bmp"]]);
  },
  html: async () => {
    const { files: f, manifest } = await scriptFiles();
    return [
      ...await read([f["phish.html"], f["app.hta"]]),
      text("written.html", manifest.written_html),
    ];
  },
  javascript: async () => read([(await scriptFiles()).files["dropper.js"]]),
  powershell: async () => {
    const { files: f, manifest } = await scriptFiles();
    return [
      ...await read([f["oneliner.txt"], f["obfuscated.ps1"]]),
      text("encoded_command.ps1", manifest.oneliner_script),
    ];
  },
  vbscript: async () => read([(await scriptFiles()).files["dropper.vbs"]]),
  batch: async () => read([(await scriptFiles()).files["dropper.bat"]]),
};

const CHILD = "STOQ_BENCH_PLUGINS_CHILD";
if (!Deno.env.get(CHILD)) {
  const args = ["run", "-A", "--v8-flags=--single-threaded", import.meta.filename!, ...Deno.args];
  const env = { [CHILD]: "1" };
  const { code } = await new Deno.Command(Deno.execPath(), { args, env }).spawn().status;
  Deno.exit(code);
}

const MIN_SAMPLE_MS = 1;
/** CPU spent on each job, twice over, before anything is timed. */
const WARM_UP_MS = 30;

function usage(msg: string): never {
  console.error(`bench_plugins: ${msg}`);
  console.error(
    "usage: deno run -A scripts/bench_plugins.ts [--runs N] [--wall] [--baseline PLUGIN] [PLUGIN[=FILE,...]]...",
  );
  Deno.exit(2);
}

function parseArgs(args: string[]) {
  let runs = 101, baseline = "yara", wall = false;
  const sets: [string, () => Promise<Sample[]>][] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--runs") {
      runs = Number(args[++i]);
      if (!Number.isInteger(runs) || runs < 1) usage("--runs needs a positive integer");
    } else if (a === "--wall") wall = true;
    else if (a === "--baseline") {
      baseline = args[++i] ?? usage("--baseline needs a plugin name");
    } else if (a.includes("=")) {
      const [name, files] = [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)];
      sets.push([name, () => read(files.split(",").filter(Boolean))]);
    } else if (Object.hasOwn(DEFAULT_SETS, a)) sets.push([a, DEFAULT_SETS[a]]);
    else usage(`unknown argument ${JSON.stringify(a)}`);
  }
  return { runs, baseline, wall, sets };
}

const factories = new Map<string, PluginFactory>(
  BUILTIN_PLUGINS.map((f) => [f(stoqAPI).name, f]),
);
const instances = new Map<string, Promise<PluginInstance>>();

/** One instance per plugin name, created with default options. */
function instance(name: string): Promise<PluginInstance> {
  let p = instances.get(name);
  if (!p) {
    const factory = factories.get(name) ?? usage(`no built-in plugin named ${name}`);
    const def = factory(stoqAPI);
    if (!def.classes.includes("worker")) usage(`${name} is not a worker`);
    const quiet = () => {};
    const log = { debug: quiet, info: quiet, warn: quiet, error: quiet };
    p = Deno.makeTempDir({ prefix: "stoq-bench-" }).then((home) =>
      def.create(def.optionsSchema.parse({}), { name, log, home })
    );
    instances.set(name, p);
  }
  return p;
}

/** Milliseconds of this process's CPU time, or of wall-clock time. */
let now = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};

/** A timed caller of one plugin's scan() on one payload. */
async function caller(name: string, content: Uint8Array): Promise<() => unknown> {
  const plugin = await instance(name);
  const payload = makePayload(content, { extra_data: { filename: "bench" } });
  const request = makeRequest(payload);
  const call = makeCall();
  return () => plugin.scan!(payload, request, call);
}

/** Calls `once` `reps` times; a synchronous scan() is not awaited (no microtask per call). */
async function repeat(once: () => unknown, reps: number): Promise<void> {
  for (let i = 0; i < reps; i++) {
    const r = once();
    if (r instanceof Promise) await r;
  }
}

/** Calls needed to fill one sample. */
async function calibrate(once: () => unknown): Promise<number> {
  for (let reps = 1;; reps *= 2) {
    const t = now();
    await repeat(once, reps);
    if (now() - t >= MIN_SAMPLE_MS) return reps;
  }
}

/** A plugin on one payload, ready to time. */
interface Job {
  once: () => unknown;
  reps: number;
}

/** Warms every job up (JIT tiers, lazy imports), then counts the calls of one sample. */
async function prepare(jobs: Job[]): Promise<void> {
  for (let round = 0; round < 2; round++) {
    for (const j of jobs) {
      const t = now();
      while (now() - t < WARM_UP_MS) await repeat(j.once, 1);
    }
  }
  for (const j of jobs) j.reps = await calibrate(j.once);
}

/**
 * Median milliseconds of one call of each job. Each run takes one sample of every job in turn,
 * so that a change of load, or the garbage collector's and compiler's work in the background
 * (this process's CPU time too), falls on every job alike.
 */
async function time(jobs: Job[], runs: number): Promise<number[]> {
  const samples: number[][] = jobs.map(() => []);
  for (let s = 0; s < runs; s++) {
    for (let k = 0; k < jobs.length; k++) {
      const t = now();
      await repeat(jobs[k].once, jobs[k].reps);
      samples[k].push((now() - t) / jobs[k].reps);
    }
  }
  return samples.map((list) => list.sort((a, b) => a - b)[Math.floor(list.length / 2)]);
}

const { runs, baseline, wall, sets: given } = parseArgs(Deno.args);
if (wall) now = () => performance.now();
const sets = given.length ? given : Object.entries(DEFAULT_SETS);

const pairs: { name: string; label: string; size: number; jobs: Job[] }[] = [];
for (const [name, samples] of sets) {
  for (const { label, content } of await samples()) {
    const jobs = [
      { once: await caller(name, content), reps: 1 },
      { once: await caller(baseline, content), reps: 1 },
    ];
    pairs.push({ name, label, size: content.length, jobs });
  }
}
await prepare(pairs.flatMap((p) => p.jobs));

const medians = await time(pairs.flatMap((p) => p.jobs), runs);

const rows: string[][] = [["plugin", "payload", "bytes", "plugin ms", `${baseline} ms`, "ratio"]];
let slower = 0;
for (const [i, { name, label, size }] of pairs.entries()) {
  const [mine, base] = [medians[2 * i], medians[2 * i + 1]];
  if (mine > base) slower++;
  rows.push([
    name,
    label,
    String(size),
    mine.toFixed(4),
    base.toFixed(4),
    (mine / base).toFixed(2),
  ]);
}
const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
for (const r of rows) {
  console.log(r.map((v, c) => c < 2 ? v.padEnd(widths[c]) : v.padStart(widths[c])).join("  "));
}
console.log(
  `\n${wall ? "wall-clock" : "CPU"} ms per scan() call, median of ${runs} samples; ` +
    `${slower} payload(s) cost more than ${baseline}`,
);
for (const p of instances.values()) await (await p).close?.();
Deno.exit(0);
