/** stoq's command line; in a pool thread, the same module serves scans (see core/run/pool_worker.ts). */
const g = globalThis as { WorkerGlobalScope?: new () => unknown; onmessage?: unknown };
const inWorker = typeof g.WorkerGlobalScope === "function" &&
  globalThis instanceof g.WorkerGlobalScope;

if (inWorker) {
  // Hold messages that arrive while the pool thread's code loads, then hand them over.
  const early: MessageEvent[] = [];
  g.onmessage = (e: MessageEvent) => early.push(e);
  // Literal dynamic imports: a bundle or compiled binary still contains them all.
  if ((globalThis as { name?: string }).name === "stoq-plugin-sandbox") {
    (await import("./core/loading/sandbox.ts")).serveSandbox(early);
  } else (await import("./core/run/pool_worker.ts")).servePoolThread(early);
} else if (import.meta.main) {
  // Start loading the command line's code now; the small modules below arrive first.
  const commands = import("./core/cli/commands.ts");
  const { prespawn } = await import("./core/run/pool.ts");
  (await import("./core/entry.ts")).setEntryModule(import.meta.url);
  // Start the scan threads now, when they will be used: loading their code then overlaps with
  // this thread's start-up. (A command line that does not parse is reported by main below.)
  const { parseArgs, usesThreads } = await import("./core/cli/args.ts");
  try {
    if (usesThreads(parseArgs(Deno.args))) prespawn(navigator.hardwareConcurrency || 1);
  } catch { /* main reports it */ }
  const { main } = await commands;
  Deno.exit(await main(Deno.args));
}
