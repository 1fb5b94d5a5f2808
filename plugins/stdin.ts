/**
 * `stdin`: a provider for pipelines. It reads file paths from stdin (`find ... -print0 |
 * stoq run -P stdin`) and queues each named file; it ends at end of input.
 */
import type { StoqAPI } from "../core/engine/plugin.ts";

const NUL = 0;
const LF = 10;
// PATH_MAX counts the terminating NUL: NUL-separated input shows one within this many bytes.
const PATH_MAX = 4096;

export default (stoq: StoqAPI) =>
  stoq.plugin({
    name: "stdin",
    version: "1.0.0",
    description: "Scans the files named on stdin, NUL- or newline-separated (find ... -print0 |)",
    classes: ["provider"],
    options: {
      // auto: NUL-separated when a NUL byte comes within the first 4096 bytes, else one per line.
      separator: stoq.z.enum(["auto", "nul", "newline"]).default("auto"),
    },
    create(opts, ctx) {
      const cwd = Deno.cwd().replace(/\/+$/, "");
      return {
        async ingest(queue, call) {
          let sep = opts.separator === "nul" ? NUL : opts.separator === "newline" ? LF : undefined;
          // Lossy on purpose: a name that is not UTF-8 cannot be opened, and then fails as a
          // missing file would, named in the log and counted as failed.
          const dec = new TextDecoder();
          let queued = 0;
          let folders = 0;
          const put = async (bytes: Uint8Array) => {
            let name = dec.decode(bytes);
            if (sep === LF && name.endsWith("\r")) name = name.slice(0, -1);
            if (!name) return;
            const path = name.startsWith("/") ? name : `${cwd}/${name}`;
            // `find DIR -print0` names DIR too: folders are passed over, not failed.
            const info = await Deno.stat(path).catch(() => null);
            if (info?.isDirectory) {
              folders++;
              ctx.log.debug("skipping a folder", { path });
              return;
            }
            // A missing or unreadable file is still queued: the scan fails with the reason,
            // which is logged with the path and counted as failed; the rest go on.
            await queue.put({ path });
            queued++;
          };

          const reader = Deno.stdin.readable.getReader();
          const stop = () => void reader.cancel().catch(() => {});
          call.signal.addEventListener("abort", stop, { once: true });
          let buf = new Uint8Array(0);
          try {
            for (;;) {
              const { value, done } = await reader.read();
              if (done || call.signal.aborted) break;
              const next = new Uint8Array(buf.length + value.length);
              next.set(buf);
              next.set(value, buf.length);
              buf = next;
              if (sep === undefined) {
                if (buf.includes(NUL)) sep = NUL;
                else if (buf.length >= PATH_MAX) sep = LF;
                else continue;
              }
              let start = 0;
              for (let i = buf.indexOf(sep); i >= 0; i = buf.indexOf(sep, start)) {
                await put(buf.subarray(start, i));
                start = i + 1;
              }
              buf = buf.slice(start);
            }
            if (call.signal.aborted) return;
            sep ??= buf.includes(NUL) ? NUL : LF;
            let start = 0;
            for (let i = buf.indexOf(sep); i >= 0; i = buf.indexOf(sep, start)) {
              await put(buf.subarray(start, i));
              start = i + 1;
            }
            // The last name may lack a terminator.
            await put(buf.subarray(start));
          } finally {
            call.signal.removeEventListener("abort", stop);
            reader.releaseLock();
          }
          ctx.log.debug("end of input", { queued, folders_skipped: folders });
        },
      };
    },
  });
