/** Helpers for the end-to-end CLI tests: run `./stoq` as a user would and read what it prints. */
import { join } from "node:path";
import { deepEqual, equal, ok } from "node:assert/strict";
import { tempDir } from "./helpers.ts";

/** The launcher under test. */
export const STOQ = new URL("../stoq", import.meta.url).pathname;

/** What one run of `./stoq` did. */
export interface StoqRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** How to run `./stoq`. */
export interface StoqRunOptions {
  /** Bytes for stdin, or a stream (e.g. another process's stdout); otherwise stdin is /dev/null. */
  stdin?: Uint8Array | ReadableStream<Uint8Array>;
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** `$STOQ_HOME`; a fresh empty folder when not given, so a developer's ~/.stoq never leaks in. */
  home?: string;
  /** Working directory; a fresh empty folder when not given, so no ./stoq.toml is picked up. */
  cwd?: string;
}

/** Runs `./stoq args...` to completion. */
export async function runStoq(args: string[], opts: StoqRunOptions = {}): Promise<StoqRun> {
  const home = opts.home ?? await tempDir();
  const cwd = opts.cwd ?? await tempDir();
  const child = new Deno.Command(STOQ, {
    args,
    cwd,
    env: { ...opts.env, STOQ_HOME: home, NO_COLOR: "1" },
    stdin: opts.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let feeding: Promise<void> = Promise.resolve();
  if (opts.stdin instanceof Uint8Array) {
    const w = child.stdin.getWriter();
    feeding = w.write(opts.stdin).then(() => w.close()).catch(() => {});
  } else if (opts.stdin) {
    feeding = opts.stdin.pipeTo(child.stdin).catch(() => {});
  }
  const out = await child.output();
  await feeding;
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** One payload's entry in a result document (the parts the tests read). */
export interface ResultEntry {
  size: number;
  payload_id: string;
  payload_meta: {
    should_archive: boolean;
    should_scan: boolean;
    extra_data: Record<string, unknown>;
    dispatch_to: string[];
  };
  plugins_run: { workers: string[]; archivers: string[] };
  extracted_from: string[];
  extracted_by: string[];
  workers: Record<string, Record<string, unknown>>;
  archivers: Record<string, Record<string, unknown>>;
}

/** A stoQ result document. */
export interface ResultDoc {
  results: ResultEntry[];
  request_meta: { archive_payloads: boolean; source: string | null; extra_data: unknown };
  errors: { error: string; plugin_name: string | null; payload_id: string | null }[];
  time: string;
  decorators: Record<string, unknown>;
  scan_id: string;
}

/** stoQ v3's top-level key order. */
export const TOP_KEYS = ["results", "request_meta", "errors", "time", "decorators", "scan_id"];

/** Parses one result document and checks its top-level shape. */
export function parseDoc(text: string): ResultDoc {
  const doc = JSON.parse(text) as ResultDoc;
  deepEqual(Object.keys(doc), TOP_KEYS);
  ok(Array.isArray(doc.results) && doc.results.length > 0, "a result has at least one payload");
  return doc;
}

/** Parses JSONL: one compact document per line, `n` lines. */
export function parseLines(stdout: string, n: number): ResultDoc[] {
  ok(stdout.endsWith("\n"), "JSONL ends with a newline");
  const lines = stdout.slice(0, -1).split("\n");
  equal(lines.length, n, `expected ${n} JSON lines, got:\n${stdout.slice(0, 2000)}`);
  return lines.map((line) => {
    const doc = parseDoc(line);
    equal(line, JSON.stringify(doc), "each JSONL line is compact JSON");
    return doc;
  });
}

/** Failure text that shows what stoq said. */
export function show(r: StoqRun): string {
  return `exit ${r.code}\n--- stdout\n${r.stdout.slice(0, 3000)}\n--- stderr\n${
    r.stderr.slice(0, 3000)
  }`;
}

/** Asserts a usage error: exit 2, nothing on stdout, a message on stderr matching `re`. */
export function assertUsageError(r: StoqRun, re: RegExp): void {
  equal(r.code, 2, show(r));
  equal(r.stdout, "", show(r));
  ok(re.test(r.stderr), `stderr should match ${re}:\n${show(r)}`);
}

/** The hash worker's results of a result entry. */
export function hashes(e: ResultEntry): Record<string, string> {
  return e.workers.hash as Record<string, string>;
}

/** `sha256sum`'s and `md5sum`'s opinion of a file. */
export async function sums(path: string): Promise<{ sha256: string; md5: string }> {
  const run = async (cmd: string) => {
    const out = await new Deno.Command(cmd, { args: [path], stdout: "piped" }).output();
    return new TextDecoder().decode(out.stdout).split(" ")[0];
  };
  return { sha256: await run("sha256sum"), md5: await run("md5sum") };
}

/** Writes `text` to `dir/name` and returns the path. */
export async function writeText(dir: string, name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await Deno.writeTextFile(path, text);
  return path;
}

/** The names of the files directly in `dir`, sorted. */
export async function listFiles(dir: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) if (e.isFile) names.push(e.name);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return names.sort();
}

/** Source of a user plugin `name` that waits `ms` on every payload (slows a run down for tests). */
export function sleepyPlugin(name: string, ms: number): string {
  return `import type { StoqAPI } from "../core/engine/plugin.ts";
export default (stoq: StoqAPI) =>
  stoq.plugin({
    name: "${name}", version: "1.0.0", description: "waits ${ms} ms", classes: ["worker"],
    create: () => ({
      async scan() {
        await new Promise((r) => setTimeout(r, ${ms}));
        return { results: { slept_ms: ${ms} } };
      },
    }),
  });
`;
}
