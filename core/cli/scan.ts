/** `stoq scan` and `stoq run`: inputs or providers feed one queue, drained by concurrent scans. */
import { type Config, LIST_KEYS } from "../config.ts";
import type { Pipeline } from "../engine/engine.ts";
import { hasLossyName, listSome, NOT_UTF8, UsageError, UserError } from "../errors.ts";
import { getLogger, logSettings, survivePluginStrays } from "../log.ts";
import { serveMetrics } from "../metrics.ts";
import { RequestMetaSchema, type StoqResponse } from "../engine/model.ts";
import type { ProviderItem, ProviderQueue } from "../engine/plugin.ts";
import {
  localScanner,
  poolScanner,
  providerProducer,
  type RunContext,
  runQueue,
  type Scanner,
} from "../run/runner.ts";
import { createStoq, type Stoq, type StoqInit } from "../run/stoq.ts";
import { type CliArgs, isFolder, usesThreads } from "./args.ts";
import { onStdoutClosed, writeAll } from "./output.ts";
import { setup } from "./setup.ts";
import { readCapped } from "../stream.ts";

const log = getLogger("stoq");

/** Lists every file under `path` (sorted; sub-folders only with `recursive`; no symlinked folders). */
async function expandPath(path: string, recursive: boolean, top = true): Promise<string[]> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (e) {
    const why = !(e instanceof Deno.errors.NotFound)
      ? (e as Error).message
      : hasLossyName(path)
      ? NOT_UTF8
      : "no such file or folder";
    throw new UsageError(`cannot scan ${path}: ${why}`);
  }
  if (info.isFile) return [path];
  if (!info.isDirectory) throw new UsageError(`cannot scan ${path}: not a regular file or folder`);
  if (!top && !recursive) return [];
  const out: string[] = [];
  const entries = await Array.fromAsync(Deno.readDir(path));
  entries.sort((a, b) => a.name < b.name ? -1 : 1);
  for (const e of entries) {
    const p = `${path.replace(/\/+$/, "")}/${e.name}`;
    if (e.isFile) out.push(p);
    else if (e.isDirectory && recursive) out.push(...await expandPath(p, recursive, false));
    else if (e.isSymlink) {
      // A link to a file is scanned; a link to a folder is not followed (no loops).
      const s = await Deno.stat(p).catch(() => undefined);
      if (s?.isFile) out.push(p);
      else if (s?.isDirectory) {
        if (recursive) log.warn(`${p}: not scanned: a link to a folder is not followed`);
      } else log.warn(`${p}: not scanned: a broken symbolic link (its target does not exist)`);
    } else if (!e.isDirectory) {
      log.warn(`${p}: not scanned: not a regular file (a FIFO, socket or device)`);
    }
  }
  return out;
}

/**
 * Reads stdin to its end, but never more than `max` bytes: a larger input stops the read at the
 * cap (memory stays bounded by it) and is an error, since its size cannot be known.
 */
async function readStdin(max: number): Promise<Uint8Array> {
  const data = await readCapped(Deno.stdin.readable, max, () =>
    new UserError(
      `stdin is over max_payload_size (${max} bytes): stopped reading there, nothing was ` +
        `scanned (raise [core] max_payload_size to scan it, or scan the file by its path)`,
    ));
  if (data.length === 0) throw new UsageError("stdin was empty: nothing to scan");
  return data;
}

/** The pipeline: command-line lists over the config's `[core]` lists. */
export function pipelineFrom(args: CliArgs, config: Config): Pipeline {
  const c = config.core;
  return {
    always_dispatch: args.always_dispatch ?? c.always_dispatch,
    dispatchers: args.dispatchers ?? c.dispatchers,
    dest_archivers: args.dest_archivers ?? c.dest_archivers,
    decorators: args.decorators ?? c.decorators,
  };
}

/**
 * A list flag takes every following word that is not an existing path, so in
 * `stoq scan -S filedir 5cac4f98…` the reference lands among the archiver names. With no paths
 * given, trailing words of a list that name no plugin are taken back as paths.
 */
function reclaimPaths(stoq: Stoq, args: CliArgs): void {
  if (args.command !== "scan" || args.paths.length) return;
  for (const key of LIST_KEYS) {
    const list = args[key];
    if (!list) continue;
    let i = list.length;
    while (i > 1 && !stoq.registry.has(list[i - 1])) i--;
    if (i < list.length) args.paths.push(...list.splice(i));
  }
}

/** Names given on the command line must exist: a typo there is a usage error. */
export function checkCliNames(stoq: Stoq, args: CliArgs): void {
  for (const key of LIST_KEYS) {
    for (const name of args[key] ?? []) {
      if (!stoq.registry.has(name)) {
        throw new UsageError(
          `no plugin named "${name}"${stoq.registry.hint(name)}; stoq list shows the plugins`,
        );
      }
    }
  }
}

/**
 * Warns about `--plugin-opts` for a plugin this run will not use: in no plugin list, not routed
 * to by a dispatcher, not required by a worker that may run. Dispatchers are asked for their
 * targets only when a named plugin is not in the lists (creating them can cost a rule compile).
 */
async function warnIdleOptions(stoq: Stoq, args: CliArgs): Promise<void> {
  const c = stoq.init.config.core;
  const p = stoq.init.pipeline;
  const used = new Set([
    ...p.always_dispatch,
    ...p.dispatchers,
    ...p.dest_archivers,
    ...p.decorators,
    ...(args.start_dispatch ?? []),
    ...(args.source_archivers ?? c.source_archivers),
    ...(args.connectors ?? c.connectors),
    ...(args.command === "run" ? (args.providers ?? c.providers) : []),
  ]);
  let idle = Object.keys(args.plugin_opts).filter((n) => !used.has(n));
  if (!idle.length) return;
  for (const d of p.dispatchers) {
    const targets = (await stoq.host.load(d, "dispatcher")).instance.dispatch_targets ?? [];
    for (const t of targets) used.add(t);
  }
  // Workers that may run bring the workers they require.
  const pending = [...used];
  while (pending.length) {
    const name = pending.pop()!;
    await stoq.registry.need([name]);
    for (const dep of stoq.registry.get(name)?.definition.required_workers ?? []) {
      if (used.has(dep)) continue;
      used.add(dep);
      pending.push(dep);
    }
  }
  idle = idle.filter((n) => !used.has(n));
  for (const name of idle) {
    log.warn(
      `--plugin-opts ${name}: ${name} does not run in this ${args.command} (it is in no plugin ` +
        `list and no dispatcher routes to it), so its options have no effect; add it with -a ${name}`,
    );
  }
}

/** `stoq scan` or `stoq run`; returns the exit status. */
export async function scanOrRun(args: CliArgs): Promise<number> {
  const { config, home, sources } = await setup(args);
  if (args.max_recursion !== undefined) config.core.max_recursion = args.max_recursion;
  const core = config.core;
  const listen = args.metrics ?? core.metrics_listen;
  let server: Deno.HttpServer | undefined;
  if (listen) {
    try {
      server = serveMetrics(listen);
    } catch (e) {
      if (e instanceof UsageError) throw e;
      throw new UserError(`cannot serve metrics on ${listen}: ${(e as Error).message}`);
    }
  }
  const init: StoqInit = {
    config,
    cliOptions: args.plugin_opts,
    home,
    sources,
    pipeline: pipelineFrom(args, config),
    start_dispatch: args.start_dispatch,
    metrics: server !== undefined,
  };
  // Many inputs (or --threads given) are scanned on Worker threads, one per core by default;
  // a single input is scanned in this thread, which starts fastest. The threads get the
  // configuration now and build their engines while this thread checks it and lists the inputs.
  const threads = args.threads ?? (core.scan_threads || navigator.hardwareConcurrency || 1);
  const starting = usesThreads(args) ? poolScanner(init, threads, logSettings()) : undefined;
  starting?.catch(() => {}); // awaited below; a failure must not go unhandled meanwhile
  try {
    const stoq = await createStoq(init);
    reclaimPaths(stoq, args);
    checkCliNames(stoq, args);
    await warnIdleOptions(stoq, args);
    return await runWith(args, stoq, starting, threads);
  } catch (e) {
    await starting?.then((s) => s.close(), () => {});
    throw e;
  } finally {
    await server?.shutdown();
  }
}

async function runWith(
  args: CliArgs,
  stoq: Stoq,
  starting: Promise<Scanner> | undefined,
  threads: number,
): Promise<number> {
  const core = stoq.init.config.core;
  const startDispatch = args.start_dispatch ?? [];
  // The scan threads load and check the pipeline's plugins themselves (a problem there fails
  // their start, below); this thread does so only when it scans.
  if (!starting) await stoq.engine.preload(startDispatch);
  const sourceArchivers = args.source_archivers ?? core.source_archivers;
  const connectors = args.connectors ?? core.connectors;
  for (const n of sourceArchivers) await stoq.host.load(n, "archiver");
  for (const n of connectors) await stoq.host.load(n, "connector");

  // Inputs (scan) or providers (run): both become producers feeding one queue.
  let items: ProviderItem[] | undefined;
  let notScanned = 0;
  let pipeClosed = false;
  let producers: ((q: ProviderQueue, s: AbortSignal) => Promise<void>)[];
  if (args.command === "scan") {
    items = await scanItems(args, sourceArchivers, core.max_payload_size);
    const list = items;
    producers = [async (q, signal) => {
      for (const [i, item] of list.entries()) {
        if (!signal.aborted) {
          try {
            await q.put(item);
            continue;
          } catch (e) {
            if (!signal.aborted) throw e;
          }
        }
        // Stopped: what was never queued is named, so a re-run knows what is left.
        const left = list.slice(i).map((it) => "path" in it ? it.path : "(stdin)");
        const shown = listSome(left, 20);
        if (!pipeClosed) log.warn(`stopped before scanning ${left.length} input(s): ${shown}`);
        notScanned += left.length;
        return;
      }
    }];
  } else {
    const providers = args.providers ?? core.providers;
    if (!providers.length) {
      throw new UsageError(
        "stoq run needs providers: give -P NAME (e.g. -P filedir) or set [core] providers",
      );
    }
    for (const n of providers) await stoq.host.load(n, "provider");
    producers = providers.map((n) => providerProducer(stoq.host, n));
  }

  const scanner: Scanner = starting ? await starting : localScanner(stoq);
  // Providers, connectors and (for one input) scans run in this thread: a plugin's stray error
  // must not end the run.
  let last: string | undefined;
  stoq.host.onEnter = (plugin) => last = plugin;
  survivePluginStrays(() => last);
  const consumers = core.provider_consumers || (starting ? threads * 4 : 4);

  // stoQ prints results unless -C was given; with -C they go only to the connectors.
  const print = args.connectors === undefined &&
    (args.command === "scan" || connectors.length === 0);
  // One input named on the command line prints indented JSON; several (or a folder) print JSONL,
  // unless --format says which.
  const single = args.command === "scan" && args.paths.length <= 1 &&
    !(args.paths[0] && isFolder(args.paths[0]));
  const format = args.format ?? (single ? "json" : "jsonl");
  const indent = format === "json" ? 4 : undefined;
  let emit = (r: StoqResponse) => writeAll(JSON.stringify(r, null, indent) + "\n");
  if (format === "tree") {
    const { renderTree, useColor } = await import("./view/tree.ts");
    const color = useColor(Deno.stdout.isTerminal());
    let first = true;
    emit = (r) => {
      const gap = first ? "" : "\n";
      first = false;
      return writeAll(gap + renderTree(r, color));
    };
  }
  const progress = await makeProgress(args, items?.length);
  const requestMeta = RequestMetaSchema.parse({
    source: args.request_source ?? null,
    extra_data: args.request_extra,
  });
  const ctx: RunContext = {
    stoq,
    scanner,
    connectors,
    emit: print ? emit : undefined,
    // The tree is drawn from the document: the scan threads hand over documents then.
    emitText: print && format !== "tree" ? writeAll : undefined,
    textIndent: indent,
    request_meta: requestMeta,
    start_dispatch: startDispatch,
    source_archivers: sourceArchivers,
    consumers,
    onItem: progress?.tick,
  };

  const stop = new AbortController();
  const hard = new AbortController();
  const onSignal = () => {
    if (!stop.signal.aborted) {
      log.warn(
        "stopping: no new payloads; finishing queued and in-flight scans (signal again to abandon the queue)",
      );
      stop.abort();
    } else hard.abort();
  };
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  for (const s of signals) Deno.addSignalListener(s, onSignal);
  // The reader of stdout went away (`stoq scan -r dir | head`): stop, quietly.
  onStdoutClosed(() => {
    pipeClosed = true;
    stop.abort();
    hard.abort();
  });
  try {
    const summary = await runQueue(
      ctx,
      producers,
      { signal: stop.signal, hard: hard.signal, quiet: () => pipeClosed },
      core.max_queue,
    );
    progress?.stop();
    if (pipeClosed) {
      log.debug(`stdout was closed: stopped after ${summary.scanned} scan(s)`);
      return summary.failed ? 1 : 0;
    }
    const skipped = summary.abandoned + notScanned;
    if (summary.failed || skipped) {
      const stopped = skipped ? `, ${skipped} not scanned (stopped)` : "";
      log.error(`${summary.scanned} scanned, ${summary.failed} failed${stopped}`);
      return 1;
    }
    return 0;
  } finally {
    for (const s of signals) Deno.removeSignalListener(s, onSignal);
    await scanner.close();
    await stoq.host.closeAll();
  }
}

async function scanItems(
  args: CliArgs,
  sourceArchivers: string[],
  maxPayloadSize: number,
): Promise<ProviderItem[]> {
  const paths = args.paths.length ? args.paths : (Deno.stdin.isTerminal() ? [] : ["-"]);
  if (!paths.length) {
    throw new UsageError("nothing to scan: give a PATH, or - (or a pipe) for stdin");
  }
  if (args.source_archivers?.length) {
    return paths.map((ref) => ({
      archived: Object.fromEntries(sourceArchivers.map((n) => [n, ref])),
    }));
  }
  if (paths.filter((p) => p === "-").length > 1) {
    throw new UsageError("- (stdin) can be given only once");
  }
  const items: ProviderItem[] = [];
  for (const p of paths) {
    if (p === "-") {
      // Read to the end before scanning: a slow pipe is simply waited for (stoQ v3 raced it).
      const content = await readStdin(maxPayloadSize);
      items.push({ content, payload_meta: { extra_data: { filename: null } } });
      continue;
    }
    for (const f of await expandPath(p, args.recursive)) items.push({ path: f });
  }
  if (!items.length) {
    throw new UsageError(
      `nothing to scan in ${paths.join(", ")} (empty folder? use -r for sub-folders)`,
    );
  }
  return items;
}

async function makeProgress(args: CliArgs, total: number | undefined) {
  const on = args.progress ?? (Deno.stderr.isTerminal() && (total === undefined || total > 1));
  if (!on) return undefined;
  const { default: cliProgress } = await import("cli-progress");
  const bar = new cliProgress.SingleBar({
    format: total === undefined
      ? "scanned {value} | {rate}/s | {failed} failed"
      : "{bar} {value}/{total} | {rate}/s | {failed} failed | eta {eta_formatted}",
    stream: process.stderr,
    noTTYOutput: args.progress === true,
    hideCursor: true,
    clearOnComplete: false,
  }, cliProgress.Presets.shades_classic);
  const start = performance.now();
  let failed = 0;
  bar.start(total ?? 0, 0, { rate: "0", failed });
  return {
    tick: (scanned: boolean) => {
      if (!scanned) failed++;
      const secs = (performance.now() - start) / 1000;
      bar.increment(1, {
        rate: ((bar.getProgress() * (total ?? 0) + 1) / Math.max(secs, 0.001)).toFixed(1),
        failed,
      });
    },
    stop: () => bar.stop(),
  };
}
