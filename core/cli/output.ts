/** Writes results to stdout whole, one document at a time, even when scans finish together. */
const enc = new TextEncoder();
let chain: Promise<void> = Promise.resolve();

/** Writes all of `text` to stdout after any earlier write has finished. */
export function writeAll(text: string): Promise<void> {
  const bytes = enc.encode(text);
  chain = chain.then(async () => {
    const w = Deno.stdout.writable.getWriter();
    try {
      await w.write(bytes);
    } finally {
      w.releaseLock();
    }
  });
  return chain;
}
