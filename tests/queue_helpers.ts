/**
 * Helpers for the queue guarantee tests: real `./stoq run` processes (spawned, so a test can send
 * them signals), a filedir result store to count what was saved, and unique queue names so that
 * parallel runs never share a stream, queue or subject.
 */
import { join } from "node:path";
import { type ResultDoc, sleepyPlugin, STOQ, writeText } from "./cli_helpers.ts";
import { tempDir } from "./helpers.ts";

/** A `./stoq` process started in the background. */
export interface StoqProcess {
  child: Deno.ChildProcess;
  /** What it wrote to stderr so far. */
  stderr(): string;
  /** Settles when it exited. */
  status: Promise<Deno.CommandStatus>;
}

const started: StoqProcess[] = [];

/** Starts `./stoq args...` in `cwd` with `$STOQ_HOME` = `home`. */
export function startStoq(args: string[], cwd: string, home: string): StoqProcess {
  const child = new Deno.Command(STOQ, {
    args,
    cwd,
    env: { STOQ_HOME: home, NO_COLOR: "1" },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let text = "";
  const dec = new TextDecoder();
  const reading = child.stderr.pipeTo(
    new WritableStream({ write: (chunk) => void (text += dec.decode(chunk, { stream: true })) }),
  ).catch(() => {});
  const status = child.status.then(async (s) => {
    await reading;
    return s;
  });
  const p = { child, stderr: () => text, status };
  started.push(p);
  return p;
}

/**
 * Kills (SIGKILL) every process a test started that still runs, and waits for it: a test that
 * failed half-way must not leave a consumer behind that recreates the queue it deletes.
 */
export async function killLeftovers(): Promise<void> {
  for (const p of started.splice(0)) {
    try {
      p.child.kill("SIGKILL");
    } catch {
      // exited already
    }
    await p.status;
  }
}

/** A name no other test run uses. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
}

/** Polls `probe` until it gives something truthy; fails after `ms` with `what`. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  ms = 30_000,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A folder with a stoq config, a plugin folder holding a slow worker, and a results folder. */
export interface Workspace {
  root: string;
  home: string;
  results: string;
  /** `--config`, `--plugin-dir` and the filedir connector's flags, for `stoq run`. */
  flags: string[];
}

/**
 * Makes a workspace whose pipeline runs only `slow` (which waits `slowMs` per payload; 0: no
 * worker at all) and saves results with the filedir connector. `core` is added to `[core]`.
 */
export async function workspace(slowMs: number, core = ""): Promise<Workspace> {
  const root = await tempDir("stoq-queue-");
  const plugins = join(root, "plugins");
  await Deno.mkdir(plugins);
  await writeText(plugins, "slow.ts", sleepyPlugin("slow", slowMs));
  const workers = slowMs ? `["slow"]` : "[]";
  const cfg = await writeText(
    root,
    "stoq.toml",
    `[core]\nalways_dispatch = ${workers}\nconnector_retry_delay = 0.05\n${core}\n`,
  );
  const results = join(root, "results");
  const home = join(root, "home");
  return {
    root,
    home,
    results,
    flags: [
      "--config",
      cfg,
      "--plugin-dir",
      plugins,
      "-C",
      "filedir",
      "--plugin-opts",
      `filedir:results_dir=${results}`,
    ],
  };
}

/** Result documents in a filedir results folder, read once each (by file name). */
export class ResultStore {
  readonly #docs = new Map<string, ResultDoc>();
  constructor(readonly dir: string) {}

  /** Reads the files that appeared since the last call; returns every document. */
  async read(): Promise<ResultDoc[]> {
    try {
      for await (const e of Deno.readDir(this.dir)) {
        if (!e.isFile || !e.name.endsWith(".json") || this.#docs.has(e.name)) continue;
        const doc = JSON.parse(await Deno.readTextFile(join(this.dir, e.name))) as ResultDoc;
        this.#docs.set(e.name, doc);
      }
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory)) throw e;
    }
    return [...this.#docs.values()];
  }

  /** How many results each message number (`extra_data.n` of the first payload) has. */
  async counts(): Promise<Map<number, number>> {
    const out = new Map<number, number>();
    for (const d of await this.read()) {
      const n = Number(d.results[0].payload_meta.extra_data.n);
      out.set(n, (out.get(n) ?? 0) + 1);
    }
    return out;
  }

  /** Waits until every message 0..total-1 has a result; returns the counts. */
  waitAll(total: number, ms = 60_000): Promise<Map<number, number>> {
    return waitFor(`${total} stored results`, async () => {
      const c = await this.counts();
      return [...Array(total).keys()].every((n) => c.has(n)) && c;
    }, ms);
  }
}

/** Stops a process with `signal` and returns its exit status and stderr. */
export async function stop(
  p: StoqProcess,
  signal: Deno.Signal = "SIGTERM",
): Promise<{ code: number; stderr: string }> {
  try {
    p.child.kill(signal);
  } catch {
    // already gone
  }
  const s = await p.status;
  return { code: s.code, stderr: p.stderr() };
}
