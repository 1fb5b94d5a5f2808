/**
 * `dirmon`: watches a folder (a sensor's drop folder, e.g. where Zeek or Suricata extract files)
 * and scans each file once it is completely written. A file is taken when two looks at least
 * `settle_seconds` apart see the same size and modification time; after its result is safe
 * (`ack`) it is left, moved to `done_dir` or deleted. A state file under $STOQ_HOME remembers
 * the files whose results are safe, so a restart scans what arrived meanwhile and nothing twice.
 */
import type { Delivery, FileInput, StoqAPI } from "../core/engine/plugin.ts";
import { JsonlJournal } from "./lib/provider/journal.ts";

type NodePath = typeof import("node:path");

/** What identifies one version of a file: a rewritten file is a new file. */
interface Fingerprint {
  size: number;
  mtime: number;
  ino: number | null;
}

interface Failure {
  attempts: number;
  fp: Fingerprint;
  /** When it is tried again (ms since the epoch); Infinity once given up. */
  due: number;
}

function fingerprint(info: Deno.FileInfo): Fingerprint {
  return { size: info.size, mtime: info.mtime?.getTime() ?? 0, ino: info.ino ?? null };
}

function sameFile(a: Fingerprint, b: Fingerprint): boolean {
  return a.size === b.size && a.mtime === b.mtime &&
    (a.ino === null || b.ino === null || a.ino === b.ino);
}

/** The files whose results are safe, kept in a journal (`done` and `gone` lines). */
class Journal {
  readonly entries = new Map<string, Fingerprint & { scan_id: string }>();
  readonly #file: JsonlJournal;

  constructor(path: string, readonly sourceDir: string) {
    this.#file = new JsonlJournal(path);
  }

  /** Reads the journal (if any) and rewrites it compactly. */
  load(): void {
    for (const rec of this.#file.read()) {
      if (typeof rec.done === "string") {
        this.entries.set(rec.done, {
          size: Number(rec.size),
          mtime: Number(rec.mtime),
          ino: typeof rec.ino === "number" ? rec.ino : null,
          scan_id: String(rec.scan_id),
        });
      } else if (typeof rec.gone === "string") this.entries.delete(rec.gone);
    }
    this.compact();
  }

  /** Records that `rel`, as `fp`, has a safe result. */
  done(rel: string, fp: Fingerprint, scan_id: string): void {
    this.entries.set(rel, { ...fp, scan_id });
    this.#append({ done: rel, ...fp, scan_id });
  }

  /** Forgets `rel` (moved away, deleted, or no longer there). */
  gone(rel: string): void {
    if (this.entries.delete(rel)) this.#append({ gone: rel });
  }

  #append(rec: Record<string, unknown>): void {
    if (this.#file.append(rec, this.entries.size)) this.compact();
  }

  /** Rewrites the journal with one line per entry. */
  compact(): void {
    const lines: Record<string, unknown>[] = [{ dirmon: 1, source_dir: this.sourceDir }];
    for (const [rel, e] of this.entries) lines.push({ done: rel, ...e });
    this.#file.rewrite(lines);
  }
}

export default (stoq: StoqAPI) =>
  stoq.plugin({
    name: "dirmon",
    version: "1.0.0",
    description: "Watches a folder and scans each file once it is completely written",
    classes: ["provider"],
    options: {
      source_dir: stoq.z.string().min(1).optional(),
      recursive: stoq.z.boolean().default(false),
      // A file is taken when two looks this far apart see the same size and mtime.
      settle_seconds: stoq.z.number().min(0).max(86400).default(2),
      // Full re-listing of the folder, in case the watcher dropped events.
      rescan_seconds: stoq.z.number().positive().max(86400).default(60),
      after_scan: stoq.z.enum(["leave", "move", "delete"]).default("leave"),
      done_dir: stoq.z.string().min(1).optional(),
      // A file that could not be scanned is tried again after retry_seconds (doubling each
      // time); after max_attempts it goes to failed_dir, or, without one, stays where it is
      // and is tried again when it changes or stoq restarts.
      retry_seconds: stoq.z.number().positive().max(86400).default(60),
      max_attempts: stoq.z.number().int().min(1).max(1000).default(5),
      failed_dir: stoq.z.string().min(1).optional(),
      // Default: $STOQ_HOME/dirmon/<folder name>-<hash of its path>.jsonl
      state_file: stoq.z.string().min(1).optional(),
      // Stop once every file there is has been dealt with (batch jobs, tests).
      exit_when_idle: stoq.z.boolean().default(false),
    },
    async create(opts, ctx) {
      const np: NodePath = await import("node:path");
      const cwd = Deno.cwd();
      const root = opts.source_dir === undefined ? undefined : np.resolve(cwd, opts.source_dir);
      const doneDir = opts.done_dir === undefined ? undefined : np.resolve(cwd, opts.done_dir);
      const failedDir = opts.failed_dir === undefined
        ? undefined
        : np.resolve(cwd, opts.failed_dir);
      if (opts.after_scan === "move" && !doneDir) {
        throw new Error("dirmon: after_scan=move needs done_dir (e.g. dirmon:done_dir=/path)");
      }
      for (const [name, dir] of [["done_dir", doneDir], ["failed_dir", failedDir]] as const) {
        if (root && dir === root) {
          throw new Error(`dirmon: ${name} must not be source_dir itself (${dir})`);
        }
      }
      const statePath = root === undefined
        ? ""
        : opts.state_file
        ? np.resolve(cwd, opts.state_file)
        : np.join(
          ctx.home,
          "dirmon",
          `${np.basename(root) || "root"}-${
            stoq.hash("sha256", new TextEncoder().encode(root)).slice(0, 16)
          }.jsonl`,
        );
      const settleMs = opts.settle_seconds * 1000;
      const tickMs = Math.min(1000, Math.max(50, settleMs / 4));
      // Folders inside source_dir that are not its input (relative paths).
      const excluded = [doneDir, failedDir].flatMap((d) => {
        const rel = d && np.relative(root ?? "/", d);
        return rel && !rel.startsWith("..") && !np.isAbsolute(rel) ? [rel] : [];
      });
      const isInput = (rel: string) =>
        rel !== "" && !rel.startsWith("..") && !np.isAbsolute(rel) &&
        !rel.split(np.sep).some((s) => s.startsWith(".")) &&
        (opts.recursive || !rel.includes(np.sep)) &&
        !excluded.some((x) => rel === x || rel.startsWith(x + np.sep));

      /** Moves `rel` into `dir` (keeping sub-folders), never over an existing file. */
      const moveInto = async (dir: string, rel: string): Promise<string> => {
        const from = np.join(root!, rel);
        let to = np.join(dir, rel);
        await Deno.mkdir(np.dirname(to), { recursive: true });
        for (let n = 1; await exists(to); n++) to = `${np.join(dir, rel)}.${n}`;
        try {
          await Deno.rename(from, to);
        } catch (e) {
          if ((e as { code?: string }).code !== "EXDEV") throw e;
          // Another file system: copy, then remove.
          await Deno.copyFile(from, `${to}.part`);
          await Deno.rename(`${to}.part`, to);
          await Deno.remove(from);
        }
        return to;
      };

      return {
        async ingest(queue, call) {
          if (root === undefined) {
            throw new Error("dirmon: set source_dir (e.g. --plugin-opts dirmon:source_dir=/path)");
          }
          const info = await Deno.stat(root).catch(() => null);
          if (!info?.isDirectory) {
            throw new Error(`dirmon: source_dir ${root} is not a folder (or does not exist)`);
          }
          const journal = new Journal(statePath, root);
          try {
            journal.load();
          } catch (e) {
            throw new Error(
              `dirmon: cannot use the state file ${statePath}: ${(e as Error).message} ` +
                `(set dirmon:state_file to a writable path)`,
            );
          }
          const signal = call.signal;
          const candidates = new Map<string, { fp: Fingerprint; at: number }>();
          const inflight = new Set<string>();
          const finishing = new Set<string>();
          const failures = new Map<string, Failure>();
          const dirty = new Set<string>();

          /** After a safe result: leave, move or delete the file, then forget it. */
          const afterScan = async (rel: string, fp: Fingerprint) => {
            if (opts.after_scan === "leave" || finishing.has(rel)) return;
            finishing.add(rel);
            try {
              const now = await Deno.lstat(np.join(root, rel)).catch(() => null);
              // Rewritten since it was taken: it is a new file, scanned in its turn.
              if (now?.isFile && !sameFile(fingerprint(now), fp)) return;
              if (now?.isFile) {
                if (opts.after_scan === "delete") await Deno.remove(np.join(root, rel));
                else {
                  const to = await moveInto(doneDir!, rel);
                  ctx.log.debug("moved a scanned file", { path: rel, to });
                }
              }
              journal.gone(rel);
            } catch (e) {
              // The result is safe and the journal says so: the next look tries again.
              ctx.log.error(
                `${rel} was scanned but could not be ${
                  opts.after_scan === "delete" ? "deleted" : `moved to ${doneDir}`
                }: ${(e as Error).message}`,
              );
            } finally {
              finishing.delete(rel);
            }
          };

          const delivery = (rel: string, fp: Fingerprint): Delivery => ({
            ack: async ({ scan_id }) => {
              inflight.delete(rel);
              failures.delete(rel);
              journal.done(rel, fp, scan_id);
              await afterScan(rel, fp);
            },
            nack: async (why) => {
              inflight.delete(rel);
              // Stopping: the file stays and is taken at the next start.
              if (signal.aborted) return;
              const f = failures.get(rel) ?? { attempts: 0, fp, due: 0 };
              f.attempts++;
              f.fp = fp;
              failures.set(rel, f);
              if (f.attempts < opts.max_attempts) {
                const wait = opts.retry_seconds * 2 ** (f.attempts - 1);
                f.due = Date.now() + wait * 1000;
                ctx.log.warn(
                  `${rel} was not scanned (${why}); trying again in ${wait} s ` +
                    `(attempt ${f.attempts} of ${opts.max_attempts})`,
                );
                return;
              }
              f.due = Infinity;
              if (failedDir) {
                try {
                  const to = await moveInto(failedDir, rel);
                  failures.delete(rel);
                  ctx.log.error(
                    `${rel} was not scanned after ${f.attempts} attempts (${why}); ` +
                      `moved to ${to}`,
                  );
                  return;
                } catch (e) {
                  ctx.log.error(
                    `could not move ${rel} to failed_dir ${failedDir}: ${(e as Error).message}`,
                  );
                }
              }
              ctx.log.error(
                `${rel} was not scanned after ${f.attempts} attempts (${why}); ` +
                  `left in place, tried again when it changes or when stoq restarts`,
              );
            },
          });

          /** A file seen by a listing or an event: new, scanned already, or waiting to retry. */
          const consider = (rel: string, info: Deno.FileInfo, now: number) => {
            if (inflight.has(rel) || finishing.has(rel)) return;
            const fp = fingerprint(info);
            const done = journal.entries.get(rel);
            if (done && sameFile(done, fp)) {
              void afterScan(rel, done);
              return;
            }
            const failed = failures.get(rel);
            if (failed) {
              if (sameFile(failed.fp, fp) && failed.due > now) return;
              // Changed, or due: through the settling check again, attempts counted on.
              if (!sameFile(failed.fp, fp)) failures.delete(rel);
            }
            if (!candidates.has(rel)) candidates.set(rel, { fp, at: now });
          };

          let listingFailed = false;
          const walk = async (dir: string, seen: Set<string>, now: number) => {
            let entries: Deno.DirEntry[];
            try {
              entries = await Array.fromAsync(Deno.readDir(dir));
            } catch (e) {
              if (dir === root) throw e;
              // A sub-folder that vanished or cannot be read: the others go on.
              listingFailed = true;
              ctx.log.warn("cannot list a folder", { path: dir, error: String(e) });
              return;
            }
            for (const e of entries) {
              const abs = np.join(dir, e.name);
              const rel = np.relative(root, abs);
              if (e.isDirectory) {
                if (opts.recursive && isInput(rel)) await walk(abs, seen, now);
              } else if (e.isFile && isInput(rel)) {
                const info = await Deno.lstat(abs).catch(() => null);
                if (!info?.isFile) continue;
                seen.add(rel);
                consider(rel, info, now);
              }
            }
          };

          /** Lists the whole folder; what is no longer there is forgotten. */
          const rescan = async () => {
            const seen = new Set<string>();
            listingFailed = false;
            await walk(root, seen, Date.now());
            if (listingFailed) return;
            for (const rel of [...journal.entries.keys()]) {
              if (!seen.has(rel) && !finishing.has(rel)) journal.gone(rel);
            }
            for (const rel of failures.keys()) if (!seen.has(rel)) failures.delete(rel);
            for (const rel of candidates.keys()) if (!seen.has(rel)) candidates.delete(rel);
          };

          const fromEvents = async () => {
            const paths = [...dirty];
            dirty.clear();
            const now = Date.now();
            for (const abs of paths) {
              const rel = np.relative(root, abs);
              if (!isInput(rel)) continue;
              const info = await Deno.lstat(abs).catch(() => null);
              if (info?.isFile) consider(rel, info, now);
              else if (info?.isDirectory && opts.recursive) {
                // A folder moved in arrives as one event: its files are listed here.
                await walk(abs, new Set(), now);
              } else if (!info) candidates.delete(rel);
            }
          };

          /** The settled candidates: same size and mtime over at least settle_seconds. */
          const settled = async (now: number) => {
            const ready: { rel: string; fp: Fingerprint; mtime: number }[] = [];
            for (const [rel, c] of candidates) {
              if (now - c.at < settleMs || inflight.has(rel)) continue;
              const info = await Deno.lstat(np.join(root, rel)).catch(() => null);
              if (!info?.isFile) {
                candidates.delete(rel);
                continue;
              }
              const fp = fingerprint(info);
              if (!sameFile(fp, c.fp)) {
                candidates.set(rel, { fp, at: now });
                continue;
              }
              ready.push({ rel, fp, mtime: fp.mtime });
            }
            // Oldest first, as they were written.
            return ready.sort((a, b) => a.mtime - b.mtime || (a.rel < b.rel ? -1 : 1));
          };

          const idle = () =>
            candidates.size === 0 && inflight.size === 0 && finishing.size === 0 &&
            dirty.size === 0 && [...failures.values()].every((f) => f.due === Infinity);

          // Watching starts before the first listing, so a file that arrives meanwhile is seen.
          let watcher: Deno.FsWatcher | undefined;
          try {
            watcher = Deno.watchFs(root, { recursive: opts.recursive });
          } catch (e) {
            ctx.log.warn(
              `cannot watch ${root} (${(e as Error).message}); ` +
                `relying on a listing every ${opts.rescan_seconds} s`,
            );
          }
          const watching = (async () => {
            if (!watcher) return;
            try {
              for await (const ev of watcher) {
                if (ev.kind === "access") continue;
                for (const p of ev.paths) dirty.add(p);
              }
            } catch (e) {
              if (!signal.aborted) {
                ctx.log.warn(
                  `watching ${root} stopped (${(e as Error).message}); ` +
                    `relying on a listing every ${opts.rescan_seconds} s`,
                );
              }
            }
          })();

          ctx.log.info(`watching ${root}`, {
            recursive: opts.recursive,
            after_scan: opts.after_scan,
            state_file: statePath,
            already_done: journal.entries.size,
          });
          let nextRescan = 0;
          try {
            while (!signal.aborted) {
              const now = Date.now();
              if (now >= nextRescan) {
                await rescan();
                nextRescan = now + opts.rescan_seconds * 1000;
              } else if (dirty.size) await fromEvents();
              for (const [rel, f] of failures) {
                if (f.due <= now && !inflight.has(rel) && !candidates.has(rel)) {
                  candidates.set(rel, { fp: f.fp, at: now - settleMs });
                }
              }
              for (const { rel, fp } of await settled(now)) {
                if (signal.aborted) break;
                candidates.delete(rel);
                inflight.add(rel);
                const f = failures.get(rel);
                if (f) f.due = Infinity; // until its delivery says how it went
                const path = np.join(root, rel);
                const item: FileInput = {
                  path,
                  payload_meta: {
                    extra_data: { filename: np.basename(path), source_dir: np.dirname(path) },
                  },
                };
                try {
                  await queue.put(item, delivery(rel, fp));
                } catch (e) {
                  inflight.delete(rel);
                  throw e;
                }
              }
              if (opts.exit_when_idle && idle()) {
                ctx.log.info("nothing left to do (exit_when_idle)");
                break;
              }
              await sleep(tickMs, signal);
            }
          } finally {
            try {
              watcher?.close();
            } catch { /* already closed */ }
            await watching;
          }
        },
      };
    },
  });

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}
