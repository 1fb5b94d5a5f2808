/**
 * Helpers for the queue guarantee tests: real `./stoq run` processes (spawned, so a test can send
 * them signals), a filedir result store to count what was saved, unique queue names so that
 * parallel runs never share a stream, queue or subject, and the guarantee scenarios that each
 * broker's test file runs against its own TestQueue.
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import type { PluginFactory } from "../../core/engine/plugin.ts";
import { type ResultDoc, sleepyPlugin, STOQ, writeText } from "../cli_helpers.ts";
import { instantiate, makePayload, makeRequest, tempDir } from "../helpers.ts";

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

/** One test's own queue on one broker, as the guarantee scenarios below drive it. */
export interface TestQueue {
  /** The plugin's name, for `-P` and its options. */
  plugin: string;
  /** `--plugin-opts` naming this test's queue, then `more` (`plugin:option=value`). */
  flags(...more: string[]): string[];
  /** Publishes messages numbered `from`..`to-1` with the plugin's own archiver. */
  publish(from: number, to: number): Promise<void>;
  /** Puts `body` on the queue as it is (no meta), as a foreign publisher would. */
  send(body: string): Promise<void> | void;
  /**
   * Messages in the queue not acknowledged yet, held ones included; RabbitMQ tells over AMQP only
   * those that no consumer holds (and gives no `held`).
   */
  left(): Promise<number>;
  /** Messages consumers hold unacknowledged, where the broker tells. */
  held?(): Promise<number>;
  /** Messages in the dead-letter stream, queue or subject. */
  dead(): Promise<number>;
  /** Kills what the test started, and deletes the queue and its dead letters. */
  done(): Promise<void>;
}

/** The plugin's own archiver, publishing numbered messages (`extra_data.n`) for a TestQueue. */
export async function archiverOf(
  plugin: PluginFactory,
  options: Record<string, unknown>,
): Promise<{ publish: TestQueue["publish"]; close(): Promise<void> }> {
  const { instance, call } = await instantiate(plugin, options);
  return {
    async publish(from, to) {
      for (let n = from; n < to; n++) {
        const p = makePayload(`message ${n}\n`, { extra_data: { n } });
        await instance.archive!(p, makeRequest(p), call);
      }
    },
    async close() {
      await killLeftovers();
      await Promise.resolve().then(() => instance.close!()).catch(() => {});
    },
  };
}

/** Whether consumers took all `n` messages: counted where the broker tells, else none waits. */
async function taken(q: TestQueue, n: number): Promise<boolean> {
  return q.held ? (await q.held()) === n : (await q.left()) === 0;
}

/** Waits until `p` logged `n` failed saves. */
export function failedSaves(p: StoqProcess, n: number): Promise<boolean> {
  return waitFor(`${n} failed saves`, () => p.stderr().split("not saved").length > n);
}

/**
 * A message is acknowledged only once its result is stored; until then it is delivered again.
 * `retryOption` makes redelivery quick; `failing` waits for retries and checks the message is
 * still there, broker by broker.
 */
export async function ackedAfterSave(
  q: TestQueue,
  retryOption: string,
  failing: (p: StoqProcess) => Promise<unknown>,
): Promise<void> {
  try {
    const ws = await workspace(0, "connector_retries = 0");
    // The result store cannot be written (a file where its folder should be), nor the
    // dead-letter folder: each scan is nacked and the message stays in the queue.
    await Deno.mkdir(ws.home, { recursive: true });
    await Deno.writeTextFile(ws.results, "in the way");
    await Deno.writeTextFile(join(ws.home, "dead-letter"), "in the way");
    await q.publish(0, 1);
    const p = startStoq(
      ["run", "-P", q.plugin, ...ws.flags, ...q.flags(retryOption)],
      ws.root,
      ws.home,
    );
    // Delivered again and again, never acknowledged, never lost.
    await failing(p);
    deepEqual(await new ResultStore(ws.results).read(), []);
    // The store comes back: the next delivery is saved, then acknowledged.
    await Deno.remove(ws.results);
    equal((await new ResultStore(ws.results).waitAll(1)).get(0), 1);
    await waitFor("the ack", async () => (await q.left()) === 0 && (await q.held?.() ?? 0) === 0);
    const { code, stderr } = await stop(p);
    equal(code, 0, stderr);
    // Acked: nothing went back to the queue when the consumer left, nor to the dead letters.
    equal(await q.left(), 0);
    equal(await q.dead(), 0);
  } finally {
    await q.done();
  }
}

/**
 * SIGKILL mid-scan loses nothing: the broker gives the messages to the restarted consumer, which
 * scans each once. `options` makes an abandoned message come back soon.
 */
export async function sigkillMidScan(q: TestQueue, ...options: string[]): Promise<void> {
  try {
    const ws = await workspace(4000);
    await q.publish(0, 3);
    const flags = [...ws.flags, ...q.flags(...options)];
    const first = startStoq(["run", "-P", q.plugin, ...flags], ws.root, ws.home);
    await waitFor("all three taken", () => taken(q, 3));
    const store = new ResultStore(ws.results);
    deepEqual(await store.read(), [], "killed before any scan finished");
    await stop(first, "SIGKILL");
    await waitFor("the broker to take them back", async () => (await q.left()) === 3);
    const second = startStoq(["run", "-P", q.plugin, ...flags], ws.root, ws.home);
    deepEqual([...(await store.waitAll(3)).values()], [1, 1, 1]);
    await waitFor("the acks", async () => (await q.left()) === 0);
    const { code, stderr } = await stop(second);
    equal(code, 0, stderr);
    equal(await q.left(), 0);
    // Scans of 4 s outlast the redelivery timeouts: the live consumer kept them its own.
    deepEqual([...(await store.counts()).values()], [1, 1, 1]);
  } finally {
    await q.done();
  }
}

/**
 * `stoq run` waits on an empty queue; SIGTERM drains the scans in flight, stores and acks them,
 * and takes nothing new. `after` adds the broker's own checks.
 */
export async function sigtermDrains(q: TestQueue, after?: () => Promise<void>): Promise<void> {
  try {
    const ws = await workspace(3000);
    const p = startStoq(["run", "-P", q.plugin, ...ws.flags, ...q.flags()], ws.root, ws.home);
    // Nothing to do yet: the consumer waits for messages instead of ending the run.
    await new Promise((r) => setTimeout(r, 1500));
    let exited = false;
    p.status.then(() => exited = true);
    ok(!exited, `stoq run ended on an empty queue:\n${p.stderr()}`);
    await q.publish(0, 3);
    await waitFor("all three taken", () => taken(q, 3));
    // Delivered to the process is not yet queued in it: a moment for that (scans take 3 s).
    await new Promise((r) => setTimeout(r, 1000));
    const store = new ResultStore(ws.results);
    deepEqual(await store.read(), [], "stopped before any scan finished");
    p.child.kill("SIGTERM");
    await new Promise((r) => setTimeout(r, 300));
    await q.publish(3, 4); // after the stop: not taken
    const status = await p.status;
    equal(status.code, 0, p.stderr());
    deepEqual([...(await store.counts()).entries()].sort(), [[0, 1], [1, 1], [2, 1]]);
    if (q.held) equal(await q.held(), 0, "every in-flight message was acknowledged");
    equal(await q.left(), 1, "only the message published after SIGTERM is left");
    await after?.();
  } finally {
    await q.done();
  }
}

/** A reference to an archive no run here can read (no -S filedir): fetching it always fails. */
export const UNREADABLE_REF = JSON.stringify({ archived: { filedir: { sha256: "0".repeat(64) } } });

/**
 * A message that cannot be read goes to the dead letters at once, one that keeps failing (an
 * UNREADABLE_REF) once delivered too often; a good one is scanned. `options` set max_deliveries
 * and quick retries; `core` goes to `[core]`; `inspect` checks the dead letters and the log.
 */
export async function deadLetters(
  q: TestQueue,
  { core = "", options, inspect }: {
    core?: string;
    options: string[];
    inspect: (stderr: string) => Promise<void>;
  },
): Promise<void> {
  try {
    const ws = await workspace(0, core);
    await q.publish(0, 1);
    await q.send("{not json");
    await q.send(UNREADABLE_REF);
    const p = startStoq(
      ["run", "-P", q.plugin, ...ws.flags, ...q.flags(...options)],
      ws.root,
      ws.home,
    );
    await new ResultStore(ws.results).waitAll(1);
    await waitFor("two dead letters", async () => (await q.dead()) === 2);
    await waitFor("the queue to keep only them", async () => (await q.left()) === 0);
    const { code, stderr } = await stop(p);
    // The failed fetches of the reference make the run's exit status 1.
    equal(code, 1, stderr);
    match(stderr, /moved to \S+[.:]dead: the body is not JSON/);
    await inspect(stderr);
  } finally {
    await q.done();
  }
}
