/** stoq's command line; in a pool thread, the same module serves scans (see core/pool_worker.ts). */
const g = globalThis as { WorkerGlobalScope?: new () => unknown; onmessage?: unknown };
const inWorker = typeof g.WorkerGlobalScope === "function" &&
  globalThis instanceof g.WorkerGlobalScope;

/** Whether the command line will likely scan many inputs, i.e. on pool threads. */
function likelyMany(args: string[]): boolean {
  if (args[0] === "run") return true;
  if (args[0] !== "scan") return false;
  if (args.some((a) => a === "-r" || a === "--recursive" || a.startsWith("--threads"))) return true;
  let paths = 0;
  for (const a of args.slice(1)) {
    try {
      if (Deno.statSync(a).isDirectory) return true;
      paths++;
    } catch { /* not a path */ }
  }
  return paths > 1;
}

if (inWorker) {
  // Hold messages that arrive while the pool thread's code loads, then hand them over.
  const early: MessageEvent[] = [];
  g.onmessage = (e: MessageEvent) => early.push(e);
  // Literal dynamic imports: a bundle or compiled binary still contains both.
  (await import("./core/pool_worker.ts")).servePoolThread(early);
} else if (import.meta.main) {
  const { prespawn, setPoolEntry } = await import("./core/pool.ts");
  setPoolEntry(import.meta.url);
  // Start the scan threads now: loading their code overlaps with this thread's start-up.
  if (likelyMany(Deno.args)) prespawn(navigator.hardwareConcurrency || 1);
  const { main } = await import("./core/cli/commands.ts");
  Deno.exit(await main(Deno.args));
}
