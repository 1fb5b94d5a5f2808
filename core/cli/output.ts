/** Writes results to stdout whole, one document at a time; notices when the reader goes away. */
const enc = new TextEncoder();
let closed = false;
const onClose: (() => void)[] = [];

/** Calls `fn` once if stdout's reader goes away (`stoq scan … | head`). */
export function onStdoutClosed(fn: () => void): void {
  onClose.push(fn);
}

/**
 * Writes all of `text` to stdout. Synchronous on purpose: an async write per result made scans
 * wait in line for the write queue, and a full pipe should slow the producer down anyway. Once
 * the reader has gone, writes are dropped and the listeners are told, so the run can stop
 * quietly, as command-line tools do.
 */
export function writeAll(text: string): Promise<void> {
  if (closed) return Promise.resolve();
  const bytes = enc.encode(text);
  try {
    for (let off = 0; off < bytes.length;) off += Deno.stdout.writeSync(bytes.subarray(off));
  } catch (e) {
    if (!(e instanceof Deno.errors.BrokenPipe)) throw e;
    closed = true;
    for (const fn of onClose.splice(0)) fn();
  }
  return Promise.resolve();
}
