/** The run-time side of the plugin contract: the object handed to every plugin module. */
import { z } from "zod";
import type {
  PluginClass,
  PluginCommand,
  PluginDefinition,
  PluginPermissions,
  PluginSpec,
  StoqAPI,
} from "./plugin.ts";
import { normalizePermissions } from "./permissions.ts";
import { VERSION } from "../version.ts";

const CLASSES: readonly PluginClass[] = [
  "provider",
  "worker",
  "dispatcher",
  "archiver",
  "decorator",
  "connector",
];

/** The method each class requires on a plugin instance. */
export const CLASS_METHOD: Record<PluginClass, string> = {
  provider: "ingest",
  worker: "scan",
  dispatcher: "get_dispatches",
  archiver: "archive",
  decorator: "decorate",
  connector: "save",
};

const NAME = /^[a-z0-9][a-z0-9_.-]*$/i;
const COMMAND = /^[a-z][a-z0-9-]*( [a-z][a-z0-9-]*)*$/;

/** Thrown for a malformed plugin definition; the message says what to fix. */
export class PluginDefinitionError extends Error {}

function definePlugin<S extends z.ZodRawShape>(spec: PluginSpec<S>): PluginDefinition {
  const where = `plugin ${JSON.stringify(spec?.name ?? "?")}`;
  if (!spec || typeof spec !== "object") {
    throw new PluginDefinitionError("plugin spec must be an object");
  }
  if (typeof spec.name !== "string" || !NAME.test(spec.name)) {
    throw new PluginDefinitionError(`${where}: name must be letters, digits, '_', '-' or '.'`);
  }
  for (const key of ["version", "description"] as const) {
    if (typeof spec[key] !== "string") {
      throw new PluginDefinitionError(`${where}: ${key} must be a string`);
    }
  }
  if (!Array.isArray(spec.classes) || spec.classes.length === 0) {
    throw new PluginDefinitionError(
      `${where}: classes must list at least one of ${CLASSES.join(", ")}`,
    );
  }
  for (const c of spec.classes) {
    if (!CLASSES.includes(c)) {
      throw new PluginDefinitionError(
        `${where}: unknown class ${JSON.stringify(c)} (expected one of ${CLASSES.join(", ")})`,
      );
    }
  }
  if (typeof spec.create !== "function") {
    throw new PluginDefinitionError(`${where}: create must be a function`);
  }
  const required = spec.required_workers ?? [];
  if (!Array.isArray(required) || required.some((r) => typeof r !== "string")) {
    throw new PluginDefinitionError(`${where}: required_workers must be a list of worker names`);
  }
  const tools = spec.tools ?? {};
  if (
    typeof tools !== "object" || Array.isArray(tools) ||
    Object.values(tools).some((v) => typeof v !== "string")
  ) {
    throw new PluginDefinitionError(`${where}: tools must map each tool to its Debian package`);
  }
  let permissions: Required<PluginPermissions>;
  try {
    permissions = normalizePermissions(spec.permissions);
  } catch (e) {
    throw new PluginDefinitionError(`${where}: ${(e as Error).message}`);
  }
  if (spec.shared !== undefined && typeof spec.shared !== "function") {
    throw new PluginDefinitionError(`${where}: shared must be a function`);
  }
  const commands = spec.commands ?? [];
  if (!Array.isArray(commands)) {
    throw new PluginDefinitionError(`${where}: commands must be a list`);
  }
  for (const c of commands) {
    if (
      !c || typeof c.name !== "string" || !COMMAND.test(c.name) || typeof c.run !== "function" ||
      typeof c.summary !== "string" || typeof c.help !== "string"
    ) {
      throw new PluginDefinitionError(
        `${where}: each command needs a name of lower-case words (e.g. "rules check"), a summary, help and run()`,
      );
    }
  }
  const optionsSchema = z.object(spec.options ?? {}).strict();
  const shared = spec.shared;
  const def: PluginDefinition = {
    name: spec.name,
    version: spec.version,
    description: spec.description,
    classes: Object.freeze([...spec.classes]),
    optionsSchema: optionsSchema as unknown as z.ZodObject<z.ZodRawShape>,
    required_workers: Object.freeze([...required]),
    tools: Object.freeze({ ...tools }),
    permissions: Object.freeze(permissions),
    async create(options, ctx) {
      const instance = await spec.create(options as z.output<z.ZodObject<S>>, ctx);
      if (!instance || typeof instance !== "object") {
        throw new PluginDefinitionError(`${where}: create() must return an object`);
      }
      for (const c of spec.classes) {
        const method = c === "archiver"
          ? (instance.archive ?? instance.get)
          : (instance as Record<string, unknown>)[CLASS_METHOD[c]];
        if (typeof method !== "function") {
          throw new PluginDefinitionError(
            `${where}: declares class ${c} but create() returned no ${
              c === "archiver" ? "archive or get" : CLASS_METHOD[c]
            }() method`,
          );
        }
      }
      return instance;
    },
    ...(shared
      ? {
        shared: async (options, ctx) => {
          const part = await shared(options as z.output<z.ZodObject<S>>, ctx);
          if (!part || typeof part.call !== "function") {
            throw new PluginDefinitionError(`${where}: shared() must return an object with call()`);
          }
          return part;
        },
      }
      : {}),
    commands: Object.freeze(commands.map((c) => Object.freeze({ ...c }) as PluginCommand)),
  };
  return Object.freeze(def);
}

/** The API object every plugin module receives. */
/** node:crypto, loaded on first use: the Node layer costs start-up time that many runs never need. */
export function nodeCrypto(): typeof import("node:crypto") {
  const proc = (globalThis as { process: { getBuiltinModule(id: string): unknown } }).process;
  return proc.getBuiltinModule("node:crypto") as typeof import("node:crypto");
}

const api: StoqAPI = {
  z,
  plugin: definePlugin,
  hash: (algorithm, data) => nodeCrypto().createHash(algorithm).update(data).digest("hex"),
  version: VERSION,
};
export const stoqAPI: StoqAPI = Object.freeze(api);
