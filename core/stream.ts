/** Reading a whole byte stream into memory, never more than a cap. */

/**
 * Reads `stream` to its end into one array. Past `max` bytes it stops reading (memory stays
 * bounded by the cap), cancels the stream and throws what `tooBig()` makes.
 */
export async function readCapped(
  stream: ReadableStream<Uint8Array>,
  max: number,
  tooBig: () => Error,
): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.length;
      if (total > max) {
        await reader.cancel().catch(() => {});
        throw tooBig();
      }
      chunks.push(value);
    }
  } finally {
    reader.releaseLock();
  }
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
