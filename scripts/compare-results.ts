/**
 * Proves two stoq checkouts give the same results: scans folders with each (`scan -r`, default
 * pipeline, a fresh STOQ_HOME each) and compares the full result documents, with what changes
 * from run to run normalised: `scan_id` and `time` dropped, payload ids replaced by their
 * position in the document, `errors` sorted (parallel plugins add them in any order), and the
 * documents sorted (`scan -r` prints them as they finish). Prints each difference and the count.
 *
 *   deno run -A scripts/compare-results.ts OLD_STOQ NEW_STOQ DIR... [--fixtures] [--config F]
 *
 * `--fixtures` adds the test fixtures (tests/fixtures/*_files.ts, built into /tmp on first use).
 * Exit status 0 when there is no difference, 1 otherwise.
 */
import { realFiles } from "../tests/realfiles.ts";

type Doc = Record<string, unknown> & { results?: { payload_id?: string }[] };

/** Folders of the test fixtures (each module builds them once per machine). */
async function fixtureDirs(): Promise<string[]> {
  const here = new URL("../tests/fixtures/", import.meta.url);
  const dirs = new Set<string>();
  const add = (files: Record<string, string>) => {
    for (const p of Object.values(files)) dirs.add(p.slice(0, p.lastIndexOf("/")));
  };
  const real = await realFiles();
  add(real);
  for await (const e of Deno.readDir(here)) {
    if (!e.name.endsWith("_files.ts")) continue;
    const mod = await import(new URL(e.name, here).href);
    for (const [name, fn] of Object.entries(mod)) {
      if (typeof fn !== "function" || !/^[a-z]\w*Files$/.test(name)) continue;
      const out = name === "archiveFiles" ? await fn(real["hello.exe"]) : await fn();
      add("files" in out && typeof out.files === "object" ? out.files : out);
    }
  }
  return [...dirs].sort();
}

/** The documents `stoq scan -r dir` prints, one per input file. */
async function scan(stoq: string, home: string, dir: string, config?: string): Promise<Doc[]> {
  const args = ["scan", "-r", dir, "--format", "jsonl", "--no-progress"];
  if (config) args.push("--config", config);
  const out = await new Deno.Command(stoq, {
    args,
    env: { STOQ_HOME: home },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  const docs = text.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l) as Doc);
  if (!docs.length) {
    throw new Error(`${stoq} scan -r ${dir}: no output\n${new TextDecoder().decode(out.stderr)}`);
  }
  return docs;
}

/** A document with its run-to-run noise taken out, as canonical JSON text. */
export function normalise(doc: Doc): string {
  const ids = new Map<string, string>();
  (doc.results ?? []).forEach((r, i) => {
    if (typeof r.payload_id === "string") ids.set(r.payload_id, `#payload${i}`);
  });
  const walk = (v: unknown): unknown => {
    if (typeof v === "string") return ids.get(v) ?? v;
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === "object") {
      const o: Record<string, unknown> = {};
      for (const k of Object.keys(v).sort()) o[k] = walk((v as Record<string, unknown>)[k]);
      return o;
    }
    return v;
  };
  const copy = walk(doc) as Record<string, unknown>;
  delete copy.scan_id;
  delete copy.time;
  if (Array.isArray(copy.errors)) {
    copy.errors = copy.errors.map((e) => JSON.stringify(e)).sort().map((e) => JSON.parse(e));
  }
  return JSON.stringify(copy);
}

/** The paths (`results.3.workers.yara`) where two JSON values differ, at most `max`. */
function differences(a: unknown, b: unknown, path = "", out: string[] = [], max = 8): string[] {
  if (out.length >= max) return out;
  if (JSON.stringify(a) === JSON.stringify(b)) return out;
  const isObj = (v: unknown) => v !== null && typeof v === "object";
  if (isObj(a) && isObj(b) && Array.isArray(a) === Array.isArray(b)) {
    const ka = Object.keys(a as object), kb = Object.keys(b as object);
    for (const k of [...new Set([...ka, ...kb])]) {
      differences(
        (a as Record<string, unknown>)[k],
        (b as Record<string, unknown>)[k],
        path ? `${path}.${k}` : k,
        out,
        max,
      );
    }
    return out;
  }
  out.push(`${path}: ${JSON.stringify(a)?.slice(0, 200)} -> ${JSON.stringify(b)?.slice(0, 200)}`);
  return out;
}

/** What names an input's document: its file name and size. */
function inputKey(text: string): string {
  const r = (JSON.parse(text).results ?? [])[0] ?? {};
  return `${r.payload_meta?.extra_data?.filename} (${r.size} bytes)`;
}

/** Compares the normalised documents of two runs; returns the number that differ. */
function compare(label: string, before: string[], after: string[]): number {
  const count = (list: string[]) => {
    const m = new Map<string, number>();
    for (const t of list) m.set(t, (m.get(t) ?? 0) + 1);
    return m;
  };
  const a = count(before), b = count(after);
  const onlyA: string[] = [], onlyB: string[] = [];
  for (const [t, n] of a) for (let i = b.get(t) ?? 0; i < n; i++) onlyA.push(t);
  for (const [t, n] of b) for (let i = a.get(t) ?? 0; i < n; i++) onlyB.push(t);
  const unmatched = [...onlyB];
  for (const t of onlyA) {
    const key = inputKey(t);
    const i = unmatched.findIndex((u) => inputKey(u) === key);
    const other = i >= 0 ? unmatched.splice(i, 1)[0] : undefined;
    console.log(`DIFF ${label}: ${key}`);
    const errors = (JSON.parse(t).errors ?? []) as { error: string }[];
    for (const e of errors) console.log(`  (error: ${e.error.slice(0, 160)})`);
    if (other === undefined) console.log("  only in the first checkout's output");
    else for (const d of differences(JSON.parse(t), JSON.parse(other))) console.log(`  ${d}`);
  }
  for (const t of unmatched) console.log(`DIFF ${label}: ${inputKey(t)}: only in the second`);
  return Math.max(onlyA.length, onlyB.length);
}

if (import.meta.main) {
  const args = [...Deno.args];
  const take = (flag: string) => {
    const i = args.indexOf(flag);
    return i < 0 ? undefined : args.splice(i, 2)[1];
  };
  const config = take("--config");
  const withFixtures = args.includes("--fixtures");
  const [old, neu, ...dirs] = args.filter((a) => a !== "--fixtures");
  if (!old || !neu || (!dirs.length && !withFixtures)) {
    console.error("usage: compare-results OLD_STOQ NEW_STOQ DIR... [--fixtures] [--config FILE]");
    Deno.exit(2);
  }
  if (withFixtures) dirs.push(...await fixtureDirs());
  const homes = [await Deno.makeTempDir(), await Deno.makeTempDir()];
  let total = 0, docs = 0;
  try {
    for (const dir of dirs) {
      // One after the other: two scans at once on a small machine make plugins' timeouts fire.
      const before = (await scan(old, homes[0], dir, config)).map(normalise);
      const after = (await scan(neu, homes[1], dir, config)).map(normalise);
      docs += before.length;
      const n = compare(dir, before, after);
      console.log(`${dir}: ${before.length} vs ${after.length} documents, ${n} differ`);
      total += n;
    }
  } finally {
    for (const h of homes) await Deno.remove(h, { recursive: true });
  }
  console.log(`compare-results: ${docs} documents in ${dirs.length} folders, ${total} differ`);
  Deno.exit(total ? 1 : 0);
}
