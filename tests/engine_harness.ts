/** Builds an engine from fixture plugins, without config files, for engine tests. */
import { CoreConfigSchema } from "../core/config.ts";
import { Engine, type Pipeline } from "../core/engine.ts";
import { PluginHost } from "../core/host.ts";
import type { StoqResponse } from "../core/model.ts";
import type { PayloadInput, PluginFactory } from "../core/plugin.ts";
import { Registry } from "../core/registry.ts";

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
  const registry = await Registry.create(spec.plugins, []);
  const host = new PluginHost(registry, {
    core: CoreConfigSchema.parse(spec.core ?? {}),
    fileOptions: spec.options ?? {},
    cliOptions: spec.cliOptions ?? {},
    home: await Deno.makeTempDir({ prefix: "stoq-home-" }),
  });
  const pipeline: Pipeline = {
    always_dispatch: [],
    dispatchers: [],
    dest_archivers: [],
    decorators: [],
    ...spec.pipeline,
  };
  return new Engine(host, pipeline);
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
