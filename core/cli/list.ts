/** `stoq list` and `stoq config`: what plugins there are, and which configuration is in use. */
import { z } from "zod";
import { DEFAULT_CONFIG_TEXT } from "../config.ts";
import { Registry } from "../loading/registry.ts";
import { VERSION } from "../version.ts";
import type { CliArgs } from "./args.ts";
import { writeAll } from "./output.ts";
import { setup } from "./setup.ts";

const JsonSchemaProps = z.object({
  properties: z.record(z.string(), z.record(z.string(), z.unknown())).optional(),
})
  .loose();

/** Each option's type and default, from the options schema. */
export function optionTable(
  schema: z.ZodObject<z.ZodRawShape>,
): Record<string, { type: string; default?: unknown }> {
  const js = JsonSchemaProps.parse(z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }));
  const out: Record<string, { type: string; default?: unknown }> = {};
  for (const [k, p] of Object.entries(js.properties ?? {})) {
    const type = typeof p.type === "string"
      ? (p.type === "array" && typeof (p.items as { type?: string })?.type === "string"
        ? `${(p.items as { type: string }).type}[]`
        : p.type)
      : Array.isArray(p.enum)
      ? p.enum.map((e) => JSON.stringify(e)).join("|")
      : "value";
    out[k] = "default" in p ? { type, default: p.default } : { type };
  }
  return out;
}

/** `stoq list [--json]`. */
export async function listCommand(args: CliArgs): Promise<number> {
  const { sources, home, config } = await setup(args);
  const registry = await Registry.load(sources, { home, core: config.core });
  await registry.needAll();
  const plugins = registry.all().map(({ definition: d, source, sha256 }) => ({
    name: d.name,
    version: d.version,
    description: d.description,
    classes: [...d.classes],
    source,
    ...(sha256 ? { sha256 } : {}),
    required_workers: [...d.required_workers],
    tools: { ...d.tools },
    options: optionTable(d.optionsSchema),
    ...(d.commands?.length ? { commands: d.commands.map((c) => c.name) } : {}),
  }));
  if (args.json) {
    await writeAll(JSON.stringify({ plugins, problems: registry.problems }, null, 2) + "\n");
    return 0;
  }
  const title = `stoq :: v${VERSION} :: an automated analysis framework`;
  const lines = [title, "-".repeat(title.length)];
  for (const p of plugins) {
    lines.push(`${p.name.padEnd(20)} v${p.version.padEnd(10)} ${p.description}`);
    lines.push(
      `${"".padEnd(20)} - ${p.classes.join(", ")}${
        p.source === "built-in" ? "" : `  (${p.source})`
      }`,
    );
    if (p.required_workers.length) {
      lines.push(`${"".padEnd(20)}   requires: ${p.required_workers.join(", ")}`);
    }
    if (Object.keys(p.tools).length) {
      lines.push(`${"".padEnd(20)}   runs: ${Object.keys(p.tools).join(", ")}`);
    }
    if (p.commands) {
      lines.push(`${"".padEnd(20)}   commands: ${p.commands.map((c) => `stoq ${c}`).join(", ")}`);
    }
    for (const [k, o] of Object.entries(p.options)) {
      const def = "default" in o ? ` = ${JSON.stringify(o.default)}` : "";
      lines.push(`${"".padEnd(20)}   ${k} (${o.type})${def}`);
    }
  }
  for (const pr of registry.problems) lines.push(`NOT LOADED: ${pr.path}: ${pr.reason}`);
  await writeAll(lines.join("\n") + "\n");
  return 0;
}

/** `stoq config [--default]`. */
export async function configCommand(args: CliArgs): Promise<number> {
  if (args.show_default) {
    await writeAll(DEFAULT_CONFIG_TEXT);
    return 0;
  }
  const { config } = await setup(args);
  const text = config.source === "built-in defaults"
    ? DEFAULT_CONFIG_TEXT
    : await Deno.readTextFile(config.source);
  await writeAll(`# ${config.source}\n${text}`);
  return 0;
}
