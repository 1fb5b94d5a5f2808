/** Builds an engine from fixture plugins, without config files, for engine tests. */
import { CoreConfigSchema } from "../../core/config.ts";
import { Engine, type Pipeline } from "../../core/engine/engine.ts";
import { PluginHost } from "../../core/engine/host.ts";
import type { StoqResponse } from "../../core/engine/model.ts";
import type { PayloadInput, PluginFactory } from "../../core/engine/plugin.ts";
import { Registry } from "../../core/loading/registry.ts";
import { tempDir } from "../helpers.ts";
import type { Stoq } from "../../core/run/stoq.ts";

/** What a test engine is made of. */
export interface TestEngineSpec {
  plugins: PluginFactory[];
  core?: Record<string, unknown>;
  pipeline?: Partial<Pipeline>;
  options?: Record<string, Record<string, unknown>>;
  cliOptions?: Record<string, Record<string, unknown>>;
}

/** An engine over `spec.plugins` (and no built-ins), with `[core]` values from `spec.core`. */
export async function testEngine(spec: TestEngineSpec): Promise<Engine> {
  return (await build(spec)).engine;
}

async function build(spec: TestEngineSpec): Promise<{ registry: Registry; engine: Engine }> {
  const registry = await Registry.create(spec.plugins, []);
  const host = new PluginHost(registry, {
    core: CoreConfigSchema.parse(spec.core ?? {}),
    fileOptions: spec.options ?? {},
    cliOptions: spec.cliOptions ?? {},
    home: await tempDir("stoq-home-"),
  });
  const pipeline: Pipeline = {
    always_dispatch: [],
    dispatchers: [],
    dest_archivers: [],
    decorators: [],
    ...spec.pipeline,
  };
  return { registry, engine: new Engine(host, pipeline) };
}

/** A `Stoq` (as `createStoq` gives) around a test engine, for the runner's functions. */
export async function testStoq(spec: TestEngineSpec): Promise<Stoq> {
  const { registry, engine } = await build(spec);
  const core = engine.host.settings.core;
  return {
    registry,
    host: engine.host,
    engine,
    init: {
      config: { core, plugins: spec.options ?? {}, source: "test" },
      cliOptions: spec.cliOptions ?? {},
      home: engine.host.settings.home,
      sources: { dirs: [], pinned: [] },
      pipeline: engine.pipeline,
    },
  };
}

/** A payload input from text or bytes. */
export function input(
  content: string | Uint8Array,
  extra: Partial<PayloadInput> = {},
): PayloadInput {
  return {
    content: typeof content === "string" ? new TextEncoder().encode(content) : content,
    ...extra,
  };
}

/** The error texts of a response. */
export function errorTexts(r: StoqResponse): string[] {
  return r.errors.map((e) => e.error);
}
