/**
 * The compiled-rules cache: a rule set YARA-X compiled once is kept serialized under
 * `$STOQ_HOME/cache/yara/`, keyed by the SHA-256 of everything that shapes it (binding version,
 * external variables, each file's name and text), so the next start deserializes it instead of
 * compiling. A file holds a header line, the compile's diagnostics as JSON, and the rules; the
 * rules' own SHA-256 is in the header, so a damaged file is recompiled, never loaded.
 */
import { createHash } from "node:crypto";
import { YARAX_BINDING } from "./yarax.ts";

const MAGIC = "stoq-yarax-cache 1";
/** Compiled sets kept; older ones are removed when a new one is written. */
const KEEP = 8;

/** The cache key of a rule set: a hex SHA-256. */
export function cacheKey(parts: unknown): string {
  return createHash("sha256").update(JSON.stringify([MAGIC, YARAX_BINDING, parts])).digest("hex");
}

/** The cached compiled rules and diagnostics for `parts`, if a sound entry exists. */
export async function loadCached(
  dir: string,
  parts: unknown,
): Promise<{ blob: Uint8Array; diagnostics: unknown } | undefined> {
  let data: Uint8Array;
  try {
    data = await Deno.readFile(`${dir}/${cacheKey(parts)}.yarx`);
  } catch {
    return undefined;
  }
  const nl1 = data.indexOf(10);
  const nl2 = nl1 < 0 ? -1 : data.indexOf(10, nl1 + 1);
  if (nl2 < 0) return undefined;
  const dec = new TextDecoder();
  const header = dec.decode(data.subarray(0, nl1)).split(" ");
  if (header.slice(0, 2).join(" ") !== MAGIC) return undefined;
  const blob = data.subarray(nl2 + 1);
  if (createHash("sha256").update(blob).digest("hex") !== header[2]) return undefined;
  try {
    return { blob, diagnostics: JSON.parse(dec.decode(data.subarray(nl1 + 1, nl2))) };
  } catch {
    return undefined;
  }
}

/** Writes a cache entry (atomically: a reader never sees half a file); errors are swallowed. */
export async function storeCached(
  dir: string,
  parts: unknown,
  blob: Uint8Array,
  diagnostics: unknown,
): Promise<void> {
  const enc = new TextEncoder();
  const sum = createHash("sha256").update(blob).digest("hex");
  const head = enc.encode(`${MAGIC} ${sum}\n${JSON.stringify(diagnostics)}\n`);
  const data = new Uint8Array(head.length + blob.length);
  data.set(head);
  data.set(blob, head.length);
  const path = `${dir}/${cacheKey(parts)}.yarx`;
  const tmp = `${path}.${Deno.pid}.tmp`;
  try {
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    await Deno.writeFile(tmp, data, { mode: 0o600 });
    await Deno.rename(tmp, path);
    await prune(dir);
  } catch {
    await Deno.remove(tmp).catch(() => {});
  }
}

/** Keeps the {@link KEEP} most recently written entries. */
async function prune(dir: string): Promise<void> {
  const entries: { path: string; mtime: number }[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (!e.isFile || !e.name.endsWith(".yarx")) continue;
    const path = `${dir}/${e.name}`;
    const st = await Deno.stat(path).catch(() => null);
    if (st) entries.push({ path, mtime: st.mtime?.getTime() ?? 0 });
  }
  entries.sort((a, b) => b.mtime - a.mtime);
  for (const e of entries.slice(KEEP)) await Deno.remove(e.path).catch(() => {});
}
