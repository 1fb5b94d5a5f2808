/**
 * Per-payload cost of every analyzer beside the `yara` worker on the same payloads (the speed
 * rule: no plugin may cost more per payload than yara). Each figure is the median, over RUNS
 * samples, of the mean time of one `scan()` call; a sample repeats the call until it lasts at
 * least 1 ms, so that timer resolution does not count. Time is this process's CPU time (user +
 * system), which depends far less than wall-clock time on what else the machine runs (`--wall`
 * times wall-clock instead), plus the CPU time of the tools a plugin runs (pdftotext, zbarimg...),
 * which the kernel accounts to this process when it reaps them: a plugin that spawns pays for
 * what it spawns. The script runs itself again under V8's --single-threaded: the garbage
 * collector's and the compiler's helper threads would otherwise add their CPU time to whichever
 * job they happen to overlap, and the work they do falls instead on the job that caused it. Every
 * job is warmed up before any is timed, and each run takes one sample of every job in turn (see
 * time()). Results are not serialised.
 *
 *   deno run -A scripts/bench_plugins.ts                      # every analyzer, DEFAULT_SETS
 *   deno run -A scripts/bench_plugins.ts elf macho             # two of them
 *   deno run -A scripts/bench_plugins.ts --detail pdf          # one row per payload too
 *   deno run -A scripts/bench_plugins.ts --runs 51 elf=/bin/ls,/bin/cat macho=./a.out
 *   deno run -A scripts/bench_plugins.ts --wall --baseline hash strings=/etc/services
 *
 * A set is `PLUGIN=FILE[,FILE...]`, or the name of one of the DEFAULT_SETS below alone (`elf`);
 * plugins run with their default options. Without sets, all the DEFAULT_SETS run: the fixtures
 * the tests build (tests/fixtures/*_files.ts, tests/realfiles.ts) plus real files of the
 * installed Debian packages (ELF programs of /usr/bin, PE and PDF files, HTML, scripts, images,
 * certificates; see installed()). Add a plugin there, with its payloads, to keep it under watch.
 *
 * Per plugin the table gives the payloads, payloads/s (the payloads over the sum of their median
 * costs), the median over its payloads of the per-payload median cost, yara's same median on the
 * same payloads, their ratio and PASS (at most yara's) or OVER; `--detail` adds every payload.
 * The exit status is 0 either way: the figures are for reading, not a gate.
 */
import process from "node:process";
import { createHash } from "node:crypto";
import { stoqAPI } from "../core/engine/api.ts";
import type { PluginFactory, PluginInstance } from "../core/engine/plugin.ts";
import { allBuiltins } from "../plugins/index.ts";
import { makeCall, makePayload, makeRequest } from "../tests/helpers.ts";
import { binaryFiles } from "../tests/fixtures/binaries_files.ts";
import { emailFiles } from "../tests/fixtures/email_files.ts";
import { lnkFiles } from "../tests/fixtures/lnk_files.ts";
import { officeFiles } from "../tests/fixtures/office_files.ts";
import { oneNoteFiles } from "../tests/fixtures/onenote_files.ts";
import { ooxmlFiles } from "../tests/fixtures/ooxml_files.ts";
import { pdfFiles } from "../tests/fixtures/pdf_files.ts";
import { dotnetFiles, peFiles } from "../tests/fixtures/pe_files.ts";
import { pptFiles } from "../tests/fixtures/ppt_files.ts";
import { scriptFiles } from "../tests/fixtures/script_files.ts";
import { textFiles } from "../tests/fixtures/text_files.ts";
import { realFiles } from "../tests/realfiles.ts";

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

/** Where installed() looks, and the most files it lists (a bound on the walk). */
const INSTALLED_ROOTS = ["/usr/bin", "/usr/lib", "/usr/share"];
const MAX_LISTED = 400_000;
/** Real files above this size are left out: one payload must not dominate a run. */
const MAX_REAL_BYTES = 8 * 1024 * 1024;

let listing: Promise<{ path: string; size: number }[]> | undefined;

/** Every regular file under INSTALLED_ROOTS (symbolic links not followed), with its size. */
function installedFiles(): Promise<{ path: string; size: number }[]> {
  listing ??= (async () => {
    const out: { path: string; size: number }[] = [];
    const stack = [...INSTALLED_ROOTS];
    while (stack.length && out.length < MAX_LISTED) {
      const dir = stack.pop()!;
      let entries: Deno.DirEntry[];
      try {
        entries = await Array.fromAsync(Deno.readDir(dir));
      } catch {
        continue; // unreadable: not ours to bench
      }
      for (const e of entries) {
        const path = `${dir}/${e.name}`;
        if (e.isDirectory) stack.push(path);
        else if (e.isFile) {
          const size = (await Deno.stat(path).catch(() => null))?.size ?? 0;
          if (size > 0 && size <= MAX_REAL_BYTES) out.push({ path, size });
        }
      }
    }
    return out.sort((a, b) => a.size - b.size || (a.path < b.path ? -1 : 1));
  })();
  return listing;
}

/** The first bytes of a file. */
async function head(path: string, n = 16): Promise<Uint8Array> {
  const f = await Deno.open(path);
  try {
    const buf = new Uint8Array(n);
    const got = await f.read(buf);
    return buf.subarray(0, got ?? 0);
  } finally {
    f.close();
  }
}

/**
 * Up to `max` installed files whose path matches `name` and whose first bytes start with
 * `magic`, spread evenly over their sizes (small to large), labelled `real:` + base name.
 */
async function installed(name: RegExp, max: number, magic?: string): Promise<Sample[]> {
  const found: string[] = [];
  for (const { path } of await installedFiles()) {
    if (!name.test(path)) continue;
    if (magic !== undefined) {
      const h = await head(path).catch(() => new Uint8Array());
      if (String.fromCharCode(...h.subarray(0, magic.length)) !== magic) continue;
    }
    found.push(path);
  }
  const step = Math.max(1, found.length / max);
  const picked = Array.from(
    { length: Math.min(max, found.length) },
    (_, i) => found[Math.floor(i * step)],
  );
  return (await read(picked)).map((s) => ({ ...s, label: `real:${s.label}` }));
}

const ELF = "\x7fELF";
const realElf = () => installed(/^\/usr\/bin\//, 16, ELF);
const realPe = () => installed(/\.(exe|dll|efi|sys)$/i, 12, "MZ");
const realPdf = () => installed(/\.pdf$/i, 8, "%PDF");
const realPng = () => installed(/\.png$/i, 8, "\x89PNG");
const realJpeg = () => installed(/\.jpe?g$/i, 4, "\xff\xd8\xff");

/** A message with an 8 MiB base64 attachment (deterministic bytes). */
function bigMessage(): Sample {
  const data = new Uint8Array(8 * 1024 * 1024);
  let x = 1;
  for (let i = 0; i < data.length; i++) data[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
  let bin = "";
  for (let i = 0; i < data.length; i += 0x8000) {
    bin += String.fromCharCode(...data.subarray(i, i + 0x8000));
  }
  const lines = btoa(bin).match(/.{1,76}/g)!.join("\r\n");
  return text(
    "big.eml (8 MiB attachment)",
    "From: a@example.com\r\nTo: b@example.org\r\nSubject: big\r\n" +
      "Date: Wed, 06 Mar 2024 08:00:00 +0000\r\nMIME-Version: 1.0\r\n" +
      'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n' +
      "Content-Type: text/plain\r\n\r\nbig attachment\r\n--b\r\n" +
      'Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="big.bin"\r\n' +
      `Content-Transfer-Encoding: base64\r\n\r\n${lines}\r\n--b--\r\n`,
  );
}

/** Several sample lists as one. */
const all = async (...lists: Promise<Sample[]>[]) => (await Promise.all(lists)).flat();

/** Plugin → payloads, used when no set is given on the command line. */
const DEFAULT_SETS: Record<string, () => Promise<Sample[]>> = {
  pe: async () => {
    const [p, d, b] = await Promise.all([peFiles(), dotnetFiles(), binaryFiles()]);
    return all(
      read([
        p["app.exe"],
        p["app_signed.exe"],
        p["rich.exe"],
        p["stoqlib.dll"],
        p["upx_names.exe"],
        p["shimx64.efi.signed"],
        d["hello_net.exe"],
        b["hello.exe"],
        b["demo.dll"],
      ]),
      realPe(),
    );
  },
  x509: async () => {
    const p = await peFiles();
    return all(
      read([
        p["ca.der"],
        p["ca.pem"],
        p["signer.pem"],
        p["tsa.pem"],
        p["chain.p7b"],
        p["chain_pem.p7b"],
        p["weak.pem"],
      ]),
      installed(/^\/usr\/share\/ca-certificates\/.*\.crt$/, 8, "-----BEGIN"),
    );
  },
  upx: async () => {
    const p = await peFiles();
    return all(read([p["upx_names.exe"], p["app.exe"]]), realPe());
  },
  elf: async () => {
    const f = await binaryFiles();
    return all(
      read([
        f["pie.elf"],
        f["stripped.elf"],
        f["libdemo.so"],
        f["static.elf"],
        f["i386.o"],
        f["ppc64.o"],
      ]),
      realElf(),
    );
  },
  macho: async () => {
    const [f, r] = await Promise.all([binaryFiles(), realFiles()]);
    return read([
      f["x86_64.macho"],
      f["arm64.macho"],
      f["libdemo.dylib"],
      f["fat.macho"],
      f["stripped.macho"],
      r["hello.macho"],
      r["hello_fat.macho"],
    ]);
  },
  pecarve: async () => {
    const f = await binaryFiles();
    return all(
      read([f["decoys.bin"], f["memdump.bin"], f["attach_raw.pdf"], f["image_exe.png"]]),
      realPe(),
      realPdf(),
    );
  },
  imagetrailer: async () => {
    const f = await binaryFiles();
    return all(
      read([
        f["image_trailer.png"],
        f["image_trailer.jpg"],
        f["progressive_trailer.jpg"],
        f["image_trailer.gif"],
        f["image_trailer.bmp"],
        f["image.png"],
        f["image.jpg"],
        f["image.gif"],
        f["image.bmp"],
      ]),
      realPng(),
      realJpeg(),
    );
  },
  pdf: async () => {
    const [p, b, r, t] = await Promise.all([pdfFiles(), binaryFiles(), realFiles(), textFiles()]);
    return all(
      read([
        p["evil.pdf"],
        p["evil_objstm.pdf"],
        p["evil_rc4_40.pdf"],
        p["evil_rc4_128.pdf"],
        p["evil_aes128.pdf"],
        p["evil_aes256.pdf"],
        p["evil_userpw.pdf"],
        p["xfa.pdf"],
        p["obfuscated.pdf"],
        p["filters.pdf"],
        p["incremental.pdf"],
        b["attach_raw.pdf"],
        r["report.pdf"],
        r["active.pdf"],
        r["attach.pdf"],
        t["keyword.pdf"],
      ]),
      realPdf(),
    );
  },
  email: async () => {
    const [e, r] = await Promise.all([emailFiles(), realFiles()]);
    return [
      ...await read([
        e["phish.eml"],
        e["alert.eml"],
        e["mpack.eml"],
        e["tnef.eml"],
        e["report.msg"],
        r["mail.eml"],
      ]),
      bigMessage(),
    ];
  },
  tnef: async () => read([(await emailFiles())["winmail.dat"]]),
  ole: async () => {
    const [o, r, x, p, e] = await Promise.all([
      officeFiles(),
      realFiles(),
      ooxmlFiles(),
      pptFiles(),
      emailFiles(),
    ]);
    return read([
      r["report.doc"],
      r["macro.xls"],
      o["evil.xls"],
      o["embedded.doc"],
      o["macro.doc"],
      o["xlm.xls"],
      o["vbaProject.bin"],
      x["rc4.doc"],
      x["velvet.xls"],
      x["agile.docx"],
      p["text.ppt"],
      p["macro.ppt"],
      e["report.msg"],
    ]);
  },
  vba: async () => {
    const [o, r, p] = await Promise.all([officeFiles(), realFiles(), pptFiles()]);
    return read([
      o["evil.xls"],
      o["evil.xlsm"],
      o["vbaProject.bin"],
      o["macro.doc"],
      o["xlm.xls"],
      o["embedded.doc"],
      r["macro.xls"],
      r["macro.xlsm"],
      r["report.doc"],
      p["macro.ppt"],
    ]);
  },
  rtf: async () => {
    const [o, r] = await Promise.all([officeFiles(), realFiles()]);
    return read([o["package.rtf"], o["obfuscated.rtf"], r["object.rtf"], r["report.rtf"]]);
  },
  ooxml: async () => {
    const [x, r, t, o] = await Promise.all([ooxmlFiles(), realFiles(), textFiles(), officeFiles()]);
    return read([
      x["invoice.docx"],
      x["sheets.xlsx"],
      x["plain.docx"],
      r["report.docx"],
      r["report.xlsx"],
      r["macro.xlsm"],
      o["evil.xlsm"],
      t["remote_template.docx"],
      t["slides.pptx"],
      t["sheet.xlsx"],
    ]);
  },
  encrypted_office: async () => {
    const [x, r] = await Promise.all([ooxmlFiles(), realFiles()]);
    return read([
      x["standard.docx"],
      x["agile.docx"],
      x["unknown.docx"],
      x["rc4.doc"],
      x["rc4.xls"],
      x["velvet.xls"],
      x["plain.docx"],
      r["report.doc"],
    ]);
  },
  onenote: async () => read([(await oneNoteFiles())["invoice.one"]]),
  lnk: async () => {
    const [l, r] = await Promise.all([lnkFiles(), realFiles()]);
    return read([l["rich.lnk"], l["network.lnk"], r["shortcut.lnk"]]);
  },
  html: async () => {
    const [{ files: f, manifest }, t, r] = await Promise.all([
      scriptFiles(),
      textFiles(),
      realFiles(),
    ]);
    return all(
      read([f["phish.html"], f["app.hta"], t["keyword.html"], r["page.html"]]),
      Promise.resolve([text("written.html", manifest.written_html)]),
      installed(/^\/usr\/share\/doc\/.*\.html$/i, 8),
    );
  },
  javascript: async () => {
    const [{ files: f, manifest }, r] = await Promise.all([scriptFiles(), realFiles()]);
    return all(
      read([f["dropper.js"], r["script.js"]]),
      Promise.resolve([text("js_eval.js", manifest.js_eval)]),
      installed(/^\/usr\/share\/javascript\/.*\.js$/i, 8),
    );
  },
  powershell: async () => {
    const { files: f, manifest } = await scriptFiles();
    return all(
      read([f["oneliner.txt"], f["obfuscated.ps1"]]),
      Promise.resolve([
        text("encoded_command.ps1", manifest.oneliner_script),
        text("deflated.ps1", manifest.deflated_script),
        text("bat_script.ps1", manifest.bat_script),
      ]),
      installed(/\.ps1$/i, 6),
    );
  },
  vbscript: async () => {
    const { files: f } = await scriptFiles();
    return read([f["dropper.vbs"], f["app.hta"]]);
  },
  batch: async () =>
    all(read([(await scriptFiles()).files["dropper.bat"]]), installed(/\.bat$/i, 8)),
  xml: async () => {
    const t = await textFiles();
    return all(
      read([t["external.xml"], t["xxe.xml"], t["bomb.xml"], t["app.jnlp"], t["launch.plist"]]),
      installed(/\.xml$/i, 8, "<?xml"),
    );
  },
  textreader: async () => {
    const [t, r] = await Promise.all([textFiles(), realFiles()]);
    return read([
      t["keyword.pdf"],
      t["keyword.docx"],
      t["keyword.doc"],
      t["keyword.odt"],
      t["sheet.xlsx"],
      t["sheet.xls"],
      t["slides.pptx"],
      t["keyword.html"],
      r["report.pdf"],
      r["report.docx"],
      r["report.doc"],
      r["page.html"],
    ]);
  },
  keywords: async () => {
    const [t, r] = await Promise.all([textFiles(), realFiles()]);
    return all(
      read([
        t["keyword.txt"],
        t["keyword.html"],
        r["hello.c"],
        r["Hello.java"],
        r["mail.py"],
        r["script.js"],
        r["mail.eml"],
        new URL("../README.md", import.meta.url).pathname,
      ]),
      installed(/^\/usr\/share\/doc\/.*\.txt$/i, 6),
    );
  },
  qr: async () => {
    const [t, r] = await Promise.all([textFiles(), realFiles()]);
    return all(
      read([
        t["quish.png"],
        t["quish.jpg"],
        t["quish_inverted.png"],
        t["two_codes.gif"],
        r["image.png"],
        r["image.jpg"],
        r["image.gif"],
      ]),
      realPng(),
      realJpeg(),
    );
  },
  url_shortcut: async () => read([(await textFiles())["lure.url"]]),
  iqy: async () => read([(await textFiles())["query.iqy"]]),
  jnlp: async () => read([(await textFiles())["app.jnlp"]]),
  plist: async () => {
    const t = await textFiles();
    return all(read([t["launch.plist"], t["launch.bplist"]]), installed(/\.plist$/i, 4));
  },
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
/** A call context's deadline: far beyond any run, so that no tool is refused half-way. */
const CALL_TIMEOUT_MS = 24 * 3600 * 1000;

function usage(msg: string): never {
  console.error(`bench_plugins: ${msg}`);
  console.error(
    "usage: deno run -A scripts/bench_plugins.ts [--runs N] [--wall] [--detail] [--baseline PLUGIN] [PLUGIN[=FILE,...]]...",
  );
  Deno.exit(2);
}

function parseArgs(args: string[]) {
  let runs = 31, baseline = "yara", wall = false, detail = false;
  const sets: [string, () => Promise<Sample[]>][] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--runs") {
      runs = Number(args[++i]);
      if (!Number.isInteger(runs) || runs < 1) usage("--runs needs a positive integer");
    } else if (a === "--wall") wall = true;
    else if (a === "--detail") detail = true;
    else if (a === "--baseline") {
      baseline = args[++i] ?? usage("--baseline needs a plugin name");
    } else if (a.includes("=")) {
      const [name, files] = [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)];
      sets.push([name, () => read(files.split(",").filter(Boolean))]);
    } else if (Object.hasOwn(DEFAULT_SETS, a)) sets.push([a, DEFAULT_SETS[a]]);
    else usage(`unknown argument ${JSON.stringify(a)}`);
  }
  return { runs, baseline, wall, detail, sets };
}

const factories = new Map<string, PluginFactory>(
  (await allBuiltins()).map((f) => [f(stoqAPI).name, f]),
);
const instances = new Map<string, Promise<PluginInstance>>();

let home: Promise<string> | undefined;

/** The plugins' $STOQ_HOME for this run: one temporary folder, removed when the script ends. */
function benchHome(): Promise<string> {
  return home ??= Deno.makeTempDir({ prefix: "stoq-bench-" }).then((dir) => {
    globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
    return dir;
  });
}

/** One instance per plugin name, created with default options. */
function instance(name: string): Promise<PluginInstance> {
  let p = instances.get(name);
  if (!p) {
    const factory = factories.get(name) ?? usage(`no built-in plugin named ${name}`);
    const def = factory(stoqAPI);
    if (!def.classes.includes("worker")) usage(`${name} is not a worker`);
    const quiet = () => {};
    const log = { debug: quiet, info: quiet, warn: quiet, error: quiet };
    p = benchHome().then((home) => def.create(def.optionsSchema.parse({}), { name, log, home }));
    instances.set(name, p);
  }
  return p;
}

/** Milliseconds of this process's CPU time, or of wall-clock time. */
let now = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};

const TICK_MS = 1000 / 100; // USER_HZ: the unit of /proc's times on Linux

/**
 * Milliseconds of CPU time of this process's reaped children (/proc/self/stat's cutime and
 * cstime): the tools the plugins ran. The kernel keeps them to the nanosecond but reports ticks,
 * so only sums over many calls are exact enough to use (see time()).
 */
function childMs(): number {
  try {
    const stat = Deno.readTextFileSync("/proc/self/stat");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[13]) + Number(f[14])) * TICK_MS; // fields 16 and 17 of the whole line
  } catch {
    return 0; // no /proc: tools' time goes uncounted (said in the summary line)
  }
}

/** A timed caller of one plugin's scan() on one payload. */
async function caller(name: string, content: Uint8Array): Promise<() => unknown> {
  const plugin = await instance(name);
  const payload = makePayload(content, { extra_data: { filename: "bench" } });
  const request = makeRequest(payload);
  const tools = factories.get(name)!(stoqAPI).tools ?? {};
  const call = makeCall(tools, CALL_TIMEOUT_MS);
  // Each call sees the bytes through a view of its own: plugins keep results per content view
  // (yara's one scan serves its worker and dispatcher), and a benchmark must not time that cache.
  const fresh = payload as { content: Uint8Array };
  return () => {
    fresh.content = new Uint8Array(content.buffer, content.byteOffset, content.byteLength);
    return plugin.scan!(payload, request, call);
  };
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
 * Milliseconds of one call of each job: the median of its samples, plus (CPU time only) the mean
 * CPU time of the tools it ran per call. Each run takes one sample of every job in turn, so that
 * a change of load, or the garbage collector's and compiler's work in the background (this
 * process's CPU time too), falls on every job alike.
 */
async function time(jobs: Job[], runs: number, tools: boolean): Promise<number[]> {
  const samples: number[][] = jobs.map(() => []);
  const spawned = jobs.map(() => 0);
  for (let s = 0; s < runs; s++) {
    for (let k = 0; k < jobs.length; k++) {
      const c = tools ? childMs() : 0;
      const t = now();
      await repeat(jobs[k].once, jobs[k].reps);
      samples[k].push((now() - t) / jobs[k].reps);
      if (tools) spawned[k] += childMs() - c;
    }
  }
  return samples.map((list, k) =>
    list.sort((a, b) => a - b)[Math.floor(list.length / 2)] + spawned[k] / (runs * jobs[k].reps)
  );
}

/** The middle value (the lower of the two middle ones). */
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];

const { runs, baseline, wall, detail, sets: given } = parseArgs(Deno.args);
if (wall) now = () => performance.now();
const sets = given.length ? given : Object.entries(DEFAULT_SETS);

// One job per plugin and payload; the baseline runs once per distinct payload, however many
// plugins share it.
const jobs: Job[] = [];
const baselineJob = new Map<string, number>();
const pairs: { name: string; label: string; size: number; mine: number; base: number }[] = [];
for (const [name, samples] of sets) {
  for (const { label, content } of await samples()) {
    const sha = createHash("sha256").update(content).digest("hex");
    let base = baselineJob.get(sha);
    if (base === undefined) {
      base = jobs.push({ once: await caller(baseline, content), reps: 1 }) - 1;
      baselineJob.set(sha, base);
    }
    const mine = jobs.push({ once: await caller(name, content), reps: 1 }) - 1;
    pairs.push({ name, label, size: content.length, mine, base });
  }
}
await prepare(jobs);
const ms = await time(jobs, runs, !wall);

/** Prints rows as columns, the first `left` of them left-aligned. */
function table(rows: string[][], left: number): void {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  for (const r of rows) {
    console.log(r.map((v, c) => c < left ? v.padEnd(widths[c]) : v.padStart(widths[c])).join("  "));
  }
}

if (detail) {
  const rows = [["plugin", "payload", "bytes", "plugin ms", `${baseline} ms`, "ratio"]];
  for (const { name, label, size, mine, base } of pairs) {
    rows.push([
      name,
      label,
      String(size),
      ms[mine].toFixed(4),
      ms[base].toFixed(4),
      (ms[mine] / ms[base]).toFixed(2),
    ]);
  }
  table(rows, 2);
  console.log();
}

const summary = [[
  "plugin",
  "payloads",
  "payloads/s",
  "median ms",
  `${baseline} ms`,
  "ratio",
  "over",
  "verdict",
]];
let over = 0;
for (const [name] of sets) {
  const mine = pairs.filter((p) => p.name === name);
  if (!mine.length) continue;
  const [m, b] = [median(mine.map((p) => ms[p.mine])), median(mine.map((p) => ms[p.base]))];
  const total = mine.reduce((s, p) => s + ms[p.mine], 0);
  if (m > b) over++;
  summary.push([
    name,
    String(mine.length),
    (mine.length / total * 1000).toFixed(0),
    m.toFixed(4),
    b.toFixed(4),
    (m / b).toFixed(2),
    String(mine.filter((p) => ms[p.mine] > ms[p.base]).length),
    m > b ? "OVER" : "PASS",
  ]);
}
table(summary, 1);
console.log(
  `\n${wall ? "wall-clock" : "CPU (this process + the tools it ran)"} ms per scan() call, ` +
    `median of ${runs} samples per payload; "median ms": the median of a plugin's payloads, ` +
    `beside ${baseline}'s on the same payloads; "over": payloads that cost more than ${baseline}. ` +
    `${over} of ${summary.length - 1} plugin(s) OVER.`,
);
for (const p of instances.values()) await (await p).close?.();
Deno.exit(0);
