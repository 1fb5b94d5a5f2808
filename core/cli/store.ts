/**
 * Opens a result store: a connector plugin that can find the results it keeps (`search`,
 * `get_result`; sqlite by default). Used by `stoq search`, `stoq show` and `stoq serve`.
 */
import type { Config } from "../config.ts";
import { type LoadedPlugin, PluginHost, PluginLoadError } from "../engine/host.ts";
import { UsageError, UserError } from "../errors.ts";
import type { PluginSources } from "../loading/sources.ts";
import { Registry } from "../loading/registry.ts";

/** An open result store and the host that holds it. */
export interface OpenStore {
  host: PluginHost;
  store: LoadedPlugin;
  /** What the store is called in messages, e.g. ` (in /root/.stoq/stoq.sqlite)`. */
  where: string;
}

/** How to open a result store. */
export interface StoreOptions {
  config: Config;
  home: string;
  sources: PluginSources;
  /** The store plugin's name. */
  store: string;
  /** The store's file (its `path` option), if given. */
  db?: string;
  /** Open an existing store to read only (its `read_only` option), where it can be. */
  readOnly: boolean;
  /** The command that asks, for messages. */
  command: string;
  /** A host to load the store into (`stoq serve` shares its own); a new one otherwise. */
  host?: PluginHost;
}

/** Opens the store; a store that is missing, foreign or cannot search is a clear user error. */
export async function openResultStore(o: StoreOptions): Promise<OpenStore> {
  const registry = o.host?.registry ?? await Registry.load(o.sources, {
    home: o.home,
    core: o.config.core,
  });
  await registry.need([o.store]);
  const def = registry.get(o.store)?.definition;
  if (!def) throw new UsageError(`--store: no plugin "${o.store}"${registry.hint(o.store)}`);
  const shape = def.optionsSchema.shape as Record<string, unknown>;
  const opts: Record<string, unknown> = o.readOnly && "read_only" in shape
    ? { read_only: true }
    : {};
  if (o.db !== undefined) {
    if (!("path" in shape)) throw new UsageError(`--db: the store ${o.store} has no path option`);
    opts.path = o.db;
  }
  const host = o.host ?? new PluginHost(registry, {
    core: o.config.core,
    fileOptions: o.config.plugins,
    configSource: o.config.source,
    cliOptions: { [o.store]: opts },
    home: o.home,
  });
  let store: LoadedPlugin;
  try {
    store = await host.load(o.store, "connector");
  } catch (e) {
    if (!o.host) await host.closeAll();
    // What the store itself said (no such store, a newer schema) is the message.
    const cause = e instanceof PluginLoadError && e.cause instanceof Error ? e.cause : e;
    throw new UserError(`stoq ${o.command}: ${(cause as Error).message}`);
  }
  if (!store.instance.search) {
    if (!o.host) await host.closeAll();
    throw new UsageError(
      `--store: ${o.store} is a connector that cannot search results (try sqlite)`,
    );
  }
  const where = store.instance.location ? ` (in ${store.instance.location})` : "";
  return { host, store, where };
}
