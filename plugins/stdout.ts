/** Connector that writes each result document to stdout as JSON, one whole document at a time. */
import type { StoqAPI } from "../core/engine/plugin.ts";

export default (stoq: StoqAPI) =>
  stoq.plugin({
    name: "stdout",
    version: "1.0.0",
    description: "Writes each result document to stdout as JSON",
    classes: ["connector"],
    options: {
      indent: stoq.z.number().int().min(0).max(8).default(4),
    },
    create: (opts, ctx) => {
      const encoder = new TextEncoder();
      // Scans finish concurrently; chaining writes keeps each document whole.
      let chain: Promise<void> = Promise.resolve();
      let readerGone = false;
      const write = async (bytes: Uint8Array) => {
        if (readerGone) return;
        try {
          await writeAll(Deno.stdout, bytes);
        } catch (e) {
          // Nobody reads any more (`| head`): not a failure of the scan; say it once.
          if (!(e instanceof Deno.errors.BrokenPipe)) throw e;
          readerGone = true;
          ctx.log.warn("stdout was closed by its reader; results are no longer printed");
        }
      };
      return {
        save(response) {
          const text = opts.indent === 0
            ? JSON.stringify(response)
            : JSON.stringify(response, null, opts.indent);
          const bytes = encoder.encode(text + "\n");
          const done = chain.then(() => write(bytes));
          // One failed write must not block every later document.
          chain = done.catch(() => {});
          return done;
        },
        close: () => chain,
      };
    },
  });

/** Writes every byte of `bytes` to `writer`, looping over partial writes. */
export async function writeAll(
  writer: { write(p: Uint8Array): Promise<number> },
  bytes: Uint8Array,
): Promise<void> {
  let off = 0;
  while (off < bytes.length) {
    const n = await writer.write(bytes.subarray(off));
    if (n <= 0) throw new Error(`stdout: write made no progress after ${off} bytes`);
    off += n;
  }
}
