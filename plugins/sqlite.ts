/**
 * `sqlite`: the embedded result store. Every result is kept whole (JSON) in one SQLite file,
 * indexed by scan id, time, verdict, payload hashes, MIME type, filename and matching YARA rule,
 * so that `stoq search` (and `stoq show`, `stoq serve`) find it. WAL mode and a busy timeout let several stoq processes write at once.
 */
import type { StoqAPI } from "../core/engine/plugin.ts";
import {
  getScan,
  openStore,
  openStoreForReading,
  searchScans,
  type Store,
  storePath,
} from "./lib/store/sqlite.ts";

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
      // Open an existing store only to read it (stoq search): a missing one is an error, and
      // nothing is created or written.
      read_only: stoq.z.boolean().default(false),
    },
    async create(opts, ctx) {
      const path = storePath(opts.path, ctx.home, Deno.cwd());
      if (opts.read_only) {
        const store = await openStoreForReading(path, opts.busy_timeout * 1000);
        return {
          save() {
            throw new Error(`sqlite: the store ${path} was opened read-only`);
          },
          search: (query) => searchScans(store, query),
          get_result: (scanId) => getScan(store, scanId),
          location: path,
          close: () => store.close(),
        };
      }
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
        search: (query) => searchScans(store, query),
        get_result: (scanId) => getScan(store, scanId),
        location: path,
        close() {
          store.close();
        },
      };
    },
  });
