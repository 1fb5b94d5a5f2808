/** Writes results to stdout whole, one document at a time. */
const enc = new TextEncoder();

/**
 * Writes all of `text` to stdout. Synchronous on purpose: an async write per result made scans
 * wait in line for the write queue, and a full pipe should slow the producer down anyway.
 */
export function writeAll(text: string): Promise<void> {
  const bytes = enc.encode(text);
  for (let off = 0; off < bytes.length;) off += Deno.stdout.writeSync(bytes.subarray(off));
  return Promise.resolve();
}
