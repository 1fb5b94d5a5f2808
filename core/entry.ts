/**
 * The program's entry module, which every Worker stoq starts runs (pool threads and plugin
 * sandboxes: main.ts serves both), and the hook through which the main thread answers the
 * threads' own requests. Both the run layer (the pool) and the loading layer (sandboxes) use
 * them, so they live here, below both.
 */

// main.ts sets itself here; a bundle or compiled binary has no main.ts beside this file.
let entry = new URL("../main.ts", import.meta.url).href;

/** Sets the module Workers run: the program's entry module. */
export function setEntryModule(url: string): void {
  entry = url;
}

/** The program's entry module. */
export function entryModule(): string {
  return entry;
}

// See the threads' messages that are not the pool's: a thread asks the main thread to start
// plugin sandboxes (a Worker started by a Worker takes a second to answer in Deno 2.9), or to
// connect it to a plugin's shared part.
const threadHooks: ((e: MessageEvent) => void)[] = [];

/** Adds a handler of the threads' own messages (core/loading/isolate.ts, core/run/shared.ts). */
export function addThreadHook(hook: (e: MessageEvent) => void): void {
  if (!threadHooks.includes(hook)) threadHooks.push(hook);
}

/** Hands a thread's message to the hooks (the pool calls it for every message). */
export function threadMessage(e: MessageEvent): void {
  for (const hook of threadHooks) hook(e);
}
