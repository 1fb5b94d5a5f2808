/**
 * stoQ's `filedir`: a provider that queues the files of a folder, a connector that writes one
 * JSON file per scan, and an archiver that keeps payloads on disk (content-addressed by sha256).
 */
import type { FileInput, PayloadInput, StoqAPI } from "../core/engine/plugin.ts";

type NodePath = typeof import("node:path");
let nodePath: NodePath | undefined;
/** node:path, loaded on first use: runs that never touch filedir skip Node's layer at start-up. */
function np(): NodePath {
  const proc = (globalThis as { process: { getBuiltinModule(id: string): unknown } }).process;
  return nodePath ??= proc.getBuiltinModule("node:path") as NodePath;
}

const SHA256 = /^[0-9a-f]{64}$/i;
const HEX = /^[0-9a-f]+$/i;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// Names we build paths from (scan ids, payload ids) must stay one plain path segment.
const SAFE_NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/;

export default (stoq: StoqAPI) =>
  stoq.plugin({
    name: "filedir",
    version: "1.0.0",
    description: "Reads files from a folder, saves results as files, archives payloads on disk",
    classes: ["provider", "connector", "archiver"],
    options: {
      source_dir: stoq.z.string().min(1).optional(),
      recursive: stoq.z.boolean().default(false),
      results_dir: stoq.z.string().min(1).default("./results"),
      date_mode: stoq.z.boolean().default(false),
      date_format: stoq.z.string().superRefine((fmt, ctx) => {
        const problem = dateFormatProblem(fmt);
        if (problem) ctx.addIssue({ code: "custom", message: problem });
      }).default("%Y/%m/%d"),
      compactly: stoq.z.boolean().default(true),
      archive_dir: stoq.z.string().min(1).default("./archive"),
      use_sha: stoq.z.boolean().default(true),
    },
    create(opts, ctx) {
      const cwd = Deno.cwd();
      const sourceDir = opts.source_dir === undefined
        ? undefined
        : np().resolve(cwd, opts.source_dir);
      const resultsDir = np().resolve(cwd, opts.results_dir);
      const archiveDir = np().resolve(cwd, opts.archive_dir);
      const encoder = new TextEncoder();

      return {
        async ingest(queue, call) {
          if (sourceDir === undefined) {
            throw new Error(
              "filedir: set source_dir (e.g. --plugin-opts filedir:source_dir=/path)",
            );
          }
          const put = (path: string) => {
            const extra_data = { filename: np().basename(path), source_dir: np().dirname(path) };
            const item: FileInput = { path, payload_meta: { extra_data } };
            return queue.put(item);
          };
          const walk = async (dir: string): Promise<void> => {
            const names: string[] = [];
            const kinds = new Map<string, "file" | "dir" | "link">();
            for await (const e of Deno.readDir(dir)) {
              if (e.name.startsWith(".")) continue;
              const kind = e.isFile ? "file" : e.isDirectory ? "dir" : e.isSymlink ? "link" : null;
              if (kind) {
                names.push(e.name);
                kinds.set(e.name, kind);
              }
            }
            names.sort();
            for (const name of names) {
              if (call.signal.aborted) return;
              const path = np().join(dir, name);
              const kind = kinds.get(name);
              if (kind === "file") await put(path);
              else if (kind === "dir" && opts.recursive) await walkChild(path);
              // A symlink to a file is queued; a symlinked folder never is (no loops).
              else if (kind === "link" && (await Deno.stat(path).catch(() => null))?.isFile) {
                await put(path);
              }
            }
          };
          const walkChild = (dir: string) =>
            walk(dir).catch((e) => {
              // One unreadable (or vanished) sub-folder should not end the whole run.
              if (
                !(e instanceof Deno.errors.PermissionDenied || e instanceof Deno.errors.NotFound)
              ) {
                throw e;
              }
              ctx.log.warn("filedir: skipping a folder that cannot be read", {
                path: dir,
                error: String(e),
              });
            });

          const info = await statOrNull(sourceDir);
          if (!info) throw new Error(`filedir: source_dir ${sourceDir} does not exist`);
          // An explicitly named file is queued even if it is a dot-file: the user asked for it.
          if (info.isFile) await put(sourceDir);
          else if (info.isDirectory) await walk(sourceDir);
          else throw new Error(`filedir: source_dir ${sourceDir} is neither a file nor a folder`);
        },

        async save(response) {
          if (!SAFE_NAME.test(response.scan_id)) {
            throw new Error(
              `filedir: scan_id ${JSON.stringify(response.scan_id)} is not a file name`,
            );
          }
          const dir = opts.date_mode
            ? np().join(resultsDir, strftime(opts.date_format, new Date()))
            : resultsDir;
          const text = opts.compactly
            ? JSON.stringify(response)
            : JSON.stringify(response, null, 4);
          await writeAtomic(dir, `${response.scan_id}.json`, encoder.encode(text + "\n"));
        },

        async archive(payload) {
          let dir = archiveDir;
          let name = payload.results.payload_id;
          if (opts.use_sha) {
            name = payload.sha256;
            dir = fanOut(archiveDir, name);
          } else if (!SAFE_NAME.test(name)) {
            throw new Error(`filedir: payload_id ${JSON.stringify(name)} is not a file name`);
          }
          const path = np().join(dir, name);
          const old = await statOrNull(path);
          // A sha256 name plus equal size means equal content; otherwise compare the bytes.
          const same = old?.isFile && old.size === payload.content.length &&
            (opts.use_sha || equalBytes(await Deno.readFile(path), payload.content));
          if (!same) await writeAtomic(dir, name, payload.content);
          return { results: { path } };
        },

        async get(task, call) {
          const path = archivedPath(task, archiveDir, cwd);
          const info = await statOrNull(path);
          if (!info?.isFile) {
            throw new Error(
              `filedir: no archived payload for ${describe(task)} (looked for ${path})`,
            );
          }
          const content = await Deno.readFile(path, { signal: call.signal });
          const extra_data = { filename: np().basename(path), archive_path: path };
          return { content, payload_meta: { extra_data } } satisfies PayloadInput;
        },
      };
    },
  });

/** Where `get` finds a payload: from a sha256, a payload_id, a path, or `{path}`/`{sha256}`. */
export function archivedPath(task: unknown, archiveDir: string, cwd: string): string {
  if (typeof task === "string") {
    if (SHA256.test(task)) {
      return np().join(fanOut(archiveDir, task.toLowerCase()), task.toLowerCase());
    }
    if (HEX.test(task)) {
      throw new Error(`filedir: ${JSON.stringify(task)} is not a sha256 (64 hex characters)`);
    }
    if (UUID.test(task)) return np().join(archiveDir, task.toLowerCase());
    return np().resolve(cwd, task);
  }
  if (task && typeof task === "object") {
    const t = task as Record<string, unknown>;
    if (typeof t.path === "string") return np().resolve(cwd, t.path);
    if (typeof t.sha256 === "string") {
      if (!SHA256.test(t.sha256)) {
        throw new Error(
          `filedir: sha256 ${JSON.stringify(t.sha256)} is not 64 hex characters`,
        );
      }
      const sha = t.sha256.toLowerCase();
      return np().join(fanOut(archiveDir, sha), sha);
    }
    // A whole ArchiverResponse (`{results: {path}}`), as stoQ's get received it.
    if (t.results && typeof t.results === "object") return archivedPath(t.results, archiveDir, cwd);
  }
  throw new Error(
    `filedir: cannot fetch ${describe(task)}: give a sha256, a path, or {path} / {sha256}`,
  );
}

/** `root/a/b/c/d/e` for a hex digest `abcde…`, stoQ's fan-out scheme. */
export function fanOut(root: string, hex: string): string {
  return np().join(root, ...hex.slice(0, 5));
}

/** Why `fmt` is not a usable date_format, or null when it is. */
export function dateFormatProblem(fmt: string): string | null {
  const bad = fmt.match(/%(?![YmdHMS])./s) ?? fmt.match(/%$/);
  if (bad) {
    return `date_format ${JSON.stringify(fmt)}: ${JSON.stringify(bad[0])} is not supported ` +
      `(use %Y %m %d %H %M %S)`;
  }
  if (fmt.split("/").some((s) => s === ".." || s === ".")) {
    return `date_format ${JSON.stringify(fmt)} must not contain "." or ".." folders`;
  }
  return null;
}

/** Formats `date` (local time) with the %Y %m %d %H %M %S subset of strftime. */
export function strftime(fmt: string, date: Date): string {
  const two = (n: number) => String(n).padStart(2, "0");
  return fmt.replace(/%([YmdHMS])/g, (_, t: string) => {
    switch (t) {
      case "Y":
        return String(date.getFullYear()).padStart(4, "0");
      case "m":
        return two(date.getMonth() + 1);
      case "d":
        return two(date.getDate());
      case "H":
        return two(date.getHours());
      case "M":
        return two(date.getMinutes());
      default:
        return two(date.getSeconds());
    }
  });
}

/** Writes `bytes` to `dir/name` via a hidden temp file and a rename, so readers never see half. */
async function writeAtomic(dir: string, name: string, bytes: Uint8Array): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  const tmp = np().join(dir, `.${name}.${crypto.randomUUID()}.tmp`);
  try {
    await Deno.writeFile(tmp, bytes);
    await Deno.rename(tmp, np().join(dir, name));
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}

async function statOrNull(path: string): Promise<Deno.FileInfo | null> {
  try {
    return await Deno.stat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function describe(task: unknown): string {
  return JSON.stringify(task) ?? String(task);
}
