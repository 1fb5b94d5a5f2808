/**
 * `sqlite`: the embedded result store. Every result is kept whole (JSON) in one SQLite file,
 * indexed by scan id, time, payload hashes, MIME type, filename and matching YARA rule, so that
 * `stoq search` finds it. WAL mode and a busy timeout let several stoq processes write at once.
 */
import type { StoqAPI } from "../core/plugin.ts";
import { openStore, type Store, storePath } from "./lib/sqlite_store.ts";

export default (stoq: StoqAPI) =>
  stoq.plugin({
    name: "sqlite",
    version: "1.0.0",
    description:
      "Keeps every result in an SQLite file ($STOQ_HOME/stoq.sqlite), indexed for stoq search",
    classes: ["connector"],
    options: {
      // Empty: $STOQ_HOME/stoq.sqlite. A relative path is taken from the working directory.
      path: stoq.z.string().default(""),
      // Seconds a write waits for another process's write to finish before failing.
      busy_timeout: stoq.z.number().positive().max(3600).default(10),
      // full: a saved result survives a power cut; normal: only a crash of stoq (faster).
      synchronous: stoq.z.enum(["full", "normal"]).default("full"),
    },
    async create(opts, ctx) {
      const path = storePath(opts.path, ctx.home, Deno.cwd());
      let store: Store;
      try {
        store = await openStore(path, {
          busyTimeoutMs: opts.busy_timeout * 1000,
          synchronous: opts.synchronous,
        });
      } catch (e) {
        throw new Error(
          `sqlite: cannot open the result store ${path}: ${(e as Error).message} ` +
            `(set sqlite:path to a writable file)`,
        );
      }
      ctx.log.debug("result store open", { path });
      return {
        save(response) {
          store.save(response);
        },
        close() {
          store.close();
        },
      };
    },
  });
