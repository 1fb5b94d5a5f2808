/**
 * Loading plugins by URL: pinned bytes (core/loading/pins.ts) → JavaScript
 * (core/loading/source.ts) → a description worked out in a sandbox without permissions → the
 * permission check against `[core]` → a definition whose instances run in their own Worker
 * (core/loading/isolate.ts).
 */
import { type Config, type CoreConfig, LIST_KEYS } from "../config.ts";
import { UserError } from "../errors.ts";
import type { PluginDefinition } from "../engine/plugin.ts";
import { describeModule, isolatedDefinition } from "./isolate.ts";
import { beyondProcess, declared, refusals } from "./permissions.ts";
import type { PluginMeta } from "./sandbox.ts";
import { moduleJavaScript } from "./source.ts";
import {
  lockedRefs,
  parsePinnedRef,
  pinName,
  pinnedModule,
  type PinnedRef,
  readCachedJson,
  readLock,
  writeCachedJson,
} from "./pins.ts";

/** A pinned plugin, loaded and checked. */
export interface LoadedPin {
  name: string;
  def: PluginDefinition;
  meta: PluginMeta;
}

/** The module's description: cached by sha256, else worked out in a sandbox and cached. */
export async function pluginMeta(home: string, sha256: string, js: string): Promise<PluginMeta> {
  const cached = readCachedJson<PluginMeta>(home, sha256);
  if (cached && typeof cached.name === "string" && cached.permissions) return cached;
  const meta = await describeModule(js);
  await writeCachedJson(home, sha256, meta);
  return meta;
}

/** Why `meta` may not load here: what it asks for beyond `[core]`'s grants or the process's. */
export function whyRefused(meta: PluginMeta, core: CoreConfig, home: string): string[] {
  const wants = declared(meta.permissions, meta.tools);
  return [...refusals(wants, core, home), ...beyondProcess(wants, home)];
}

/**
 * Loads a pinned plugin: verifies its bytes (fetching them if not cached), describes it, checks
 * its permissions. Throws a UserError saying what went wrong; nothing unverified ever runs.
 */
export async function loadPinned(
  ref: PinnedRef,
  home: string,
  core: CoreConfig,
): Promise<LoadedPin> {
  const bytes = await pinnedModule(home, ref);
  let meta: PluginMeta;
  let js: string;
  try {
    js = await moduleJavaScript(bytes, ref.url);
    meta = await pluginMeta(home, ref.sha256, js);
  } catch (e) {
    throw new UserError(`${pinName(ref)} cannot be loaded: ${(e as Error).message}`);
  }
  const why = whyRefused(meta, core, home);
  if (why.length) {
    throw new UserError(`${pinName(ref)} refused: ${why.join("; ")}`);
  }
  const name = ref.name ?? meta.name;
  return { name, meta, def: isolatedDefinition(name, meta, js, home) };
}

/** The plugin-name lists of the command line and of `[core]` that may hold pinned URLs. */
function nameLists(args: Record<string, unknown>, core: CoreConfig): string[][] {
  const lists: string[][] = [];
  for (const k of LIST_KEYS) {
    const a = args[k];
    if (Array.isArray(a)) lists.push(a);
    const c = (core as Record<string, unknown>)[k];
    if (Array.isArray(c)) lists.push(c);
  }
  return lists;
}

/** Whether anything asks for pinned plugins: a lock file, or a URL in a plugin list. */
export function anyPins(args: Record<string, unknown>, config: Config, lockExists: boolean) {
  return lockExists || nameLists(args, config.core).some((l) => l.some((n) => n.includes("://")));
}

/**
 * Every pin of this run: the lock file's, and each `URL#sha256=<hex>` named in a plugin list of
 * the command line or of `[core]`, which is loaded now (a bad one is a fatal error) and replaced
 * in its list by the plugin's name.
 */
export async function collectPins(
  args: Record<string, unknown>,
  config: Config,
  home: string,
): Promise<PinnedRef[]> {
  const pins = lockedRefs(readLock(home));
  const byUrl = new Map<string, string>();
  for (const list of nameLists(args, config.core)) {
    for (const [i, entry] of list.entries()) {
      const from = "the command line or [core]";
      const ref = parsePinnedRef(entry, from);
      if (!ref) continue;
      let name = byUrl.get(entry);
      if (!name) {
        const locked = pins.find((p) => p.url === ref.url && p.sha256 === ref.sha256);
        name = locked?.name ?? (await loadPinned(ref, home, config.core)).name;
        if (!locked) pins.push({ ...ref, name });
        byUrl.set(entry, name);
      }
      list[i] = name;
    }
  }
  return pins;
}
