/**
 * Plugins by URL, pinned by sha256: the lock file (`$STOQ_HOME/plugins.lock.json`), the
 * content-addressed cache (`$STOQ_HOME/plugin-cache/`), and fetching with verification. Bytes
 * whose sha256 is not the pinned one are never returned, so they can never be run.
 */
import { nodeCrypto } from "../engine/api.ts";
import { UserError } from "../errors.ts";
import { readCapped } from "../stream.ts";

/** A plugin module named by URL and the sha256 its bytes must have. */
export interface PinnedRef {
  url: string;
  sha256: string;
  /** The name it is registered under; the module's own name when not given. */
  name?: string;
  /** Where the pin comes from, for messages: "the lock file" or "the command line". */
  from: string;
}

/** One entry of the lock file. */
export interface LockEntry {
  url: string;
  sha256: string;
  /** The name the module gives itself (the entry's key may be another, from --name). */
  module_name: string;
  version: string;
  added: string;
  updated: string;
}

/** The lock file: name → entry. */
export interface LockFile {
  lockfile_version: 1;
  plugins: Record<string, LockEntry>;
}

/** Largest plugin module fetched. */
const MAX_MODULE_BYTES = 16 * 1024 * 1024;
const FETCH_TIMEOUT_MS = 30_000;
const HEX64 = /^[0-9a-f]{64}$/;

/** Raised when bytes do not have the pinned sha256. */
export class PinMismatchError extends UserError {}

/** Whether `s` is a URL a plugin can be fetched from. */
export function isPluginUrl(s: string): boolean {
  return /^(https?|file):\/\//i.test(s);
}

/**
 * Splits `URL#sha256=<hex>` into URL and digest; `undefined` when `s` is not a plugin URL.
 * A plugin URL without a valid `#sha256=` is a usage error: unpinned code is never run.
 */
export function parsePinnedRef(s: string, from: string): PinnedRef | undefined {
  if (!isPluginUrl(s)) return undefined;
  const hash = s.lastIndexOf("#sha256=");
  const sha = hash < 0 ? "" : s.slice(hash + 8).toLowerCase();
  if (!HEX64.test(sha)) {
    throw new UserError(
      `plugin URL ${s} is not pinned: add #sha256=<64 hex digits> (stoq plugin check URL prints it), or install it with stoq plugin add URL`,
      2,
    );
  }
  return { url: s.slice(0, hash), sha256: sha, from };
}

/** Lower-case hex sha256 of `bytes`. */
export function sha256Of(bytes: Uint8Array): string {
  return nodeCrypto().createHash("sha256").update(bytes).digest("hex");
}

/** Where the lock file lives. */
export function lockPath(home: string): string {
  return `${home}/plugins.lock.json`;
}

/** The cache folder of plugin modules (one file per sha256). */
export function cacheDir(home: string): string {
  return `${home}/plugin-cache`;
}

/** Reads the lock file; an absent one is empty. */
export function readLock(home: string): LockFile {
  const path = lockPath(home);
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return { lockfile_version: 1, plugins: {} };
    throw new UserError(`cannot read the plugin lock file ${path}: ${(e as Error).message}`);
  }
  try {
    const lock = JSON.parse(text) as LockFile;
    if (lock?.lockfile_version !== 1 || typeof lock.plugins !== "object" || !lock.plugins) {
      throw new Error("not a stoq plugin lock file (lockfile_version 1)");
    }
    for (const [name, e] of Object.entries(lock.plugins)) {
      if (typeof e?.url !== "string" || !HEX64.test(e?.sha256 ?? "")) {
        throw new Error(`entry ${name} lacks a url or a sha256`);
      }
    }
    return lock;
  } catch (e) {
    throw new UserError(
      `the plugin lock file ${path} is damaged: ${
        (e as Error).message
      }; fix it or remove it and add the plugins again`,
    );
  }
}

async function writeAtomically(path: string, data: Uint8Array | string): Promise<void> {
  const part = `${path}.${crypto.randomUUID()}.part`;
  if (typeof data === "string") await Deno.writeTextFile(part, data);
  else await Deno.writeFile(part, data);
  await Deno.rename(part, path);
}

/** Writes the lock file (atomically: a reader sees the old or the new one). */
export async function writeLock(home: string, lock: LockFile): Promise<void> {
  await Deno.mkdir(home, { recursive: true });
  const sorted = Object.fromEntries(
    Object.entries(lock.plugins).sort(([a], [b]) => a < b ? -1 : 1),
  );
  await writeAtomically(
    lockPath(home),
    JSON.stringify({ ...lock, plugins: sorted }, null, 2) + "\n",
  );
}

/** The pins the lock file holds. */
export function lockedRefs(lock: LockFile): PinnedRef[] {
  return Object.entries(lock.plugins).map(([name, e]) => ({
    url: e.url,
    sha256: e.sha256,
    name,
    from: "the lock file",
  }));
}

/** Fetches a module's bytes (http, https or file URL); errors say what failed. */
export async function fetchModule(url: string): Promise<Uint8Array> {
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS), redirect: "follow" });
  } catch (e) {
    const why = e instanceof DOMException && e.name === "TimeoutError"
      ? `no answer within ${FETCH_TIMEOUT_MS / 1000} s`
      : (e as Error).message;
    throw new UserError(`cannot fetch ${url}: ${why}`);
  }
  if (!res.ok) {
    await res.body?.cancel();
    throw new UserError(`cannot fetch ${url}: HTTP ${res.status} ${res.statusText}`.trim());
  }
  if (!res.body) return new Uint8Array();
  return await readCapped(
    res.body,
    MAX_MODULE_BYTES,
    () => new UserError(`cannot fetch ${url}: larger than ${MAX_MODULE_BYTES} bytes`),
  );
}

/** Stores verified bytes in the cache under their sha256. */
export async function cacheModule(home: string, bytes: Uint8Array): Promise<string> {
  const sha = sha256Of(bytes);
  await Deno.mkdir(cacheDir(home), { recursive: true });
  await writeAtomically(`${cacheDir(home)}/${sha}`, bytes);
  return sha;
}

/** The cached bytes of `sha256` if present and intact; a damaged copy is removed. */
export function cachedModule(home: string, sha256: string): Uint8Array | undefined {
  const path = `${cacheDir(home)}/${sha256}`;
  let bytes: Uint8Array;
  try {
    bytes = Deno.readFileSync(path);
  } catch {
    return undefined;
  }
  if (sha256Of(bytes) === sha256) return bytes;
  try {
    Deno.removeSync(path);
  } catch { /* another process got there first */ }
  return undefined;
}

/** Removes the cached bytes and description of `sha256`. */
export async function uncacheModule(home: string, sha256: string): Promise<void> {
  for (const f of [sha256, `${sha256}.meta.json`]) {
    await Deno.remove(`${cacheDir(home)}/${f}`).catch(() => {});
  }
}

/** A short name for a pin in messages. */
export function pinName(ref: PinnedRef): string {
  return ref.name ? `plugin ${ref.name} (${ref.url})` : `plugin ${ref.url}`;
}

/**
 * The bytes of a pinned module: from the cache when there, otherwise fetched, checked against the
 * pin and cached. Bytes with another sha256 are refused, never returned, never cached.
 */
export async function pinnedModule(home: string, ref: PinnedRef): Promise<Uint8Array> {
  const cached = cachedModule(home, ref.sha256);
  if (cached) return cached;
  const bytes = await fetchModule(ref.url);
  const got = sha256Of(bytes);
  if (got !== ref.sha256) {
    const review = ref.name && ref.from === "the lock file"
      ? `review the change with stoq plugin update ${ref.name}`
      : "check the new code with stoq plugin check URL before pinning its sha256";
    throw new PinMismatchError(
      `${
        pinName(ref)
      } refused: the module now has sha256 ${got}, but ${ref.from} pins ${ref.sha256}; its code changed since it was pinned, so it is not run (${review})`,
    );
  }
  await cacheModule(home, bytes);
  return bytes;
}

/** A cached JSON description of the module `sha256`, if any. */
export function readCachedJson<T>(home: string, sha256: string): T | undefined {
  try {
    return JSON.parse(Deno.readTextFileSync(`${cacheDir(home)}/${sha256}.meta.json`)) as T;
  } catch {
    return undefined;
  }
}

/** Caches a JSON description of the module `sha256`. */
export async function writeCachedJson(home: string, sha256: string, value: unknown): Promise<void> {
  try {
    await Deno.mkdir(cacheDir(home), { recursive: true });
    await writeAtomically(`${cacheDir(home)}/${sha256}.meta.json`, JSON.stringify(value));
  } catch { /* a read-only home: the description is worked out again next time */ }
}
