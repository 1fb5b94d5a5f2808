/** `stoq plugin add|list|update|remove|check`: plugins published at a URL, pinned by sha256. */
import { z } from "zod";
import { type Config, loadConfig, stoqHome } from "../config.ts";
import { UsageError, UserError, userMessage } from "../errors.ts";
import { configureLogging } from "../log.ts";
import { describeModule } from "../loading/isolate.ts";
import { builtinNames } from "../loading/registry.ts";
import { declared, describePermissions, diffPermissions } from "../loading/permissions.ts";
import type { PluginMeta } from "../loading/sandbox.ts";
import { moduleJavaScript } from "../loading/source.ts";
import {
  cachedModule,
  cacheModule,
  fetchModule,
  isPluginUrl,
  type LockEntry,
  lockPath,
  PinMismatchError,
  readCachedJson,
  readLock,
  sha256Of,
  uncacheModule,
  writeCachedJson,
  writeLock,
} from "../loading/pins.ts";
import { whyRefused } from "../loading/url.ts";
import { didYouMean } from "../suggest.ts";
import type { CliArgs } from "./args.ts";
import { optionTable } from "./list.ts";
import { writeAll } from "./output.ts";

const NAME = /^[a-z0-9][a-z0-9_.-]*$/i;
const enc = new TextEncoder();

interface Ctx {
  args: CliArgs;
  home: string;
  config: Config;
}

/** `stoq plugin ...`; returns the exit status. */
export async function pluginCommand(args: CliArgs): Promise<number> {
  const [sub, ...rest] = args.paths;
  const home = stoqHome();
  configureLogging(args.log_level ?? "info", args.log_format ?? "text");
  const config = await loadConfig(args.config, home);
  const ctx: Ctx = { args, home, config };
  const one = (what: string): string => {
    if (rest.length !== 1) {
      throw new UsageError(`stoq plugin ${sub} takes one ${what} (stoq plugin ${sub} --help)`);
    }
    return rest[0];
  };
  switch (sub) {
    case "add":
      return await add(ctx, one("URL"));
    case "list":
      if (rest.length) throw new UsageError("stoq plugin list takes no arguments");
      return await list(ctx);
    case "update":
      return await update(ctx, one("plugin name"));
    case "remove":
      return await remove(ctx, one("plugin name"));
    case "check":
      return await check(ctx, one("file or URL"));
    default:
      throw new UsageError(
        sub === undefined
          ? "stoq plugin needs a subcommand: add, list, update, remove or check"
          : `unknown subcommand "${sub}"${
            didYouMean(sub, ["add", "list", "update", "remove", "check"])
          } (stoq plugin --help)`,
      );
  }
}

/** A URL with an optional `#sha256=` the fetched bytes must match. */
function splitUrl(s: string): { url: string; expect?: string } {
  const at = s.lastIndexOf("#sha256=");
  if (at < 0) return { url: s };
  const expect = s.slice(at + 8).toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(expect)) {
    throw new UsageError(`${s}: #sha256= needs 64 hex digits`);
  }
  return { url: s.slice(0, at), expect };
}

/** Fetches a module and works out what it is; `expect` pins the bytes. */
async function inspect(url: string, expect?: string) {
  const bytes = await fetchModule(url);
  const sha256 = sha256Of(bytes);
  if (expect && expect !== sha256) {
    throw new PinMismatchError(
      `${url} has sha256 ${sha256}, not the ${expect} it was given with; it is not pinned`,
    );
  }
  let meta: PluginMeta;
  try {
    meta = await describeModule(await moduleJavaScript(bytes, url));
  } catch (e) {
    throw new UserError(`${url} is not a valid stoq plugin: ${explainLoadError(e)}`);
  }
  return { bytes, sha256, meta };
}

/** A load error, with a hint when the module tried to import something. */
function explainLoadError(e: unknown): string {
  const msg = userMessage(e);
  return /import|module not found|relative URL/i.test(msg)
    ? `${msg} (a plugin loaded by URL must be self-contained: it may import only node: built-ins, and stoq's types with import type)`
    : msg;
}

/** The lines that say what a plugin is and what it asks for. */
function report(
  meta: PluginMeta,
  url: string,
  sha256: string,
  ctx: Ctx,
  grants = true,
): string[] {
  const pad = (k: string) => `  ${k.padEnd(12)}`;
  const lines = [
    `plugin ${meta.name} ${meta.version}: ${meta.description}`,
    `${pad("url")}${url}`,
    `${pad("sha256")}${sha256}`,
    `${pad("classes")}${meta.classes.join(", ")}`,
  ];
  const opts = optionTable(optionsSchemaOf(meta));
  const optLines = Object.entries(opts).map(([k, o]) =>
    `${k} (${o.type})${"default" in o ? ` = ${JSON.stringify(o.default)}` : ""}`
  );
  lines.push(`${pad("options")}${optLines.length ? optLines.join("\n" + pad("")) : "none"}`);
  if (meta.required_workers.length) {
    lines.push(`${pad("requires")}${meta.required_workers.join(", ")}`);
  }
  const tools = Object.entries(meta.tools).map(([t, pkg]) => `${t} (Debian package ${pkg})`);
  lines.push(`${pad("tools")}${tools.length ? tools.join(", ") : "none"}`);
  const asks = describePermissions(declared(meta.permissions, meta.tools));
  lines.push(
    `${pad("asks for")}${asks.length ? asks.join("\n" + pad("")) : "nothing beyond its payloads"}`,
  );
  const why = grants ? whyRefused(meta, ctx.config.core, ctx.home) : [];
  if (why.length) {
    lines.push(`${pad("NOT GRANTED")}${why.join("\n" + pad(""))}`);
    const where = ctx.config.source === "built-in defaults"
      ? `a config file (${ctx.home}/stoq.toml)`
      : ctx.config.source;
    lines.push(`${pad("")}(it will not load until ${where} grants it)`);
  }
  return lines;
}

function optionsSchemaOf(meta: PluginMeta): z.ZodObject<z.ZodRawShape> {
  try {
    const s = z.fromJSONSchema(meta.options as z.core.JSONSchema.JSONSchema);
    if (s instanceof z.ZodObject) return s as unknown as z.ZodObject<z.ZodRawShape>;
  } catch { /* shown as no options */ }
  return z.object({});
}

/** Asks on stderr; true only for an answer of y or yes. Without a terminal, no. */
async function consent(ctx: Ctx, question: string): Promise<boolean> {
  if (ctx.args.yes) return true;
  if (!Deno.stdin.isTerminal()) return false;
  Deno.stderr.writeSync(enc.encode(`${question} [y/N] `));
  const buf = new Uint8Array(64);
  const n = await Deno.stdin.read(buf);
  return /^\s*y(es)?\s*$/i.test(new TextDecoder().decode(buf.subarray(0, n ?? 0)));
}

async function add(ctx: Ctx, given: string): Promise<number> {
  const { url, expect } = splitUrl(given);
  if (!isPluginUrl(url)) {
    throw new UsageError(`${url} is not an https, http or file URL`);
  }
  const { bytes, sha256, meta } = await inspect(url, expect);
  const name = ctx.args.plugin_name ?? meta.name;
  if (!NAME.test(name)) {
    throw new UsageError(`--name ${name}: use letters, digits, '_', '-' or '.'`);
  }
  const lock = readLock(ctx.home);
  const taken = lock.plugins[name]
    ? `a pinned plugin is already called ${name} (stoq plugin update ${name} re-pins it)`
    : builtinNames().has(name)
    ? `a built-in plugin is called ${name}`
    : undefined;
  if (taken) throw new UserError(`${taken}; give this one another name with --name`);
  await writeAll(report(meta, url, sha256, ctx).join("\n") + "\n");
  if (!await consent(ctx, `Pin ${name} at sha256 ${sha256.slice(0, 12)}…?`)) {
    Deno.stderr.writeSync(enc.encode(
      `not pinned${ctx.args.yes || Deno.stdin.isTerminal() ? "" : ": give --yes to pin it"}\n`,
    ));
    return 1;
  }
  await cacheModule(ctx.home, bytes);
  await writeCachedJson(ctx.home, sha256, meta);
  const now = new Date().toISOString();
  lock.plugins[name] = {
    url,
    sha256,
    module_name: meta.name,
    version: meta.version,
    added: now,
    updated: now,
  };
  await writeLock(ctx.home, lock);
  await writeAll(`pinned ${name} ${meta.version} (sha256 ${sha256}) in ${lockPath(ctx.home)}\n`);
  return 0;
}

async function list(ctx: Ctx): Promise<number> {
  const lock = readLock(ctx.home);
  const rows = Object.entries(lock.plugins).map(([name, e]) => ({
    name,
    ...e,
    cached: cachedModule(ctx.home, e.sha256) !== undefined,
  }));
  if (ctx.args.json) {
    await writeAll(
      JSON.stringify({ lock_file: lockPath(ctx.home), plugins: rows }, null, 2) + "\n",
    );
    return 0;
  }
  if (!rows.length) {
    await writeAll(`no plugins pinned (stoq plugin add URL pins one)\n`);
    return 0;
  }
  const lines: string[] = [];
  for (const r of rows) {
    lines.push(`${r.name.padEnd(20)} v${r.version.padEnd(10)} ${r.url}`);
    lines.push(
      `${"".padEnd(20)} sha256 ${r.sha256}  pinned ${r.updated.slice(0, 10)}${
        r.cached ? "" : "  (not cached: fetched on next use)"
      }`,
    );
  }
  await writeAll(lines.join("\n") + "\n");
  return 0;
}

function entryOf(ctx: Ctx, name: string): LockEntry {
  const lock = readLock(ctx.home);
  const e = lock.plugins[name];
  if (!e) {
    throw new UserError(
      `no pinned plugin is called ${name}${
        didYouMean(name, Object.keys(lock.plugins))
      } (stoq plugin list shows them)`,
    );
  }
  return e;
}

async function remove(ctx: Ctx, name: string): Promise<number> {
  const e = entryOf(ctx, name);
  const lock = readLock(ctx.home);
  delete lock.plugins[name];
  await writeLock(ctx.home, lock);
  if (!Object.values(lock.plugins).some((o) => o.sha256 === e.sha256)) {
    await uncacheModule(ctx.home, e.sha256);
  }
  await writeAll(`removed ${name} (${e.url})\n`);
  return 0;
}

/** The description of the pinned bytes, if they or their description are still cached. */
async function oldMeta(ctx: Ctx, e: LockEntry): Promise<PluginMeta | undefined> {
  const cached = readCachedJson<PluginMeta>(ctx.home, e.sha256);
  if (cached) return cached;
  const bytes = cachedModule(ctx.home, e.sha256);
  if (!bytes) return undefined;
  return await describeModule(await moduleJavaScript(bytes, e.url)).catch(() => undefined);
}

async function update(ctx: Ctx, name: string): Promise<number> {
  const e = entryOf(ctx, name);
  const { bytes, sha256, meta } = await inspect(e.url);
  if (sha256 === e.sha256) {
    await writeAll(`${name} is up to date (sha256 ${sha256})\n`);
    return 0;
  }
  const before = await oldMeta(ctx, e);
  const lines = report(meta, e.url, sha256, ctx);
  lines.push(`changes since the pinned sha256 ${e.sha256}:`);
  lines.push(`  version ${e.version} -> ${meta.version}`);
  if (meta.name !== e.module_name) lines.push(`  it now calls itself ${meta.name}`);
  if (before) {
    const was = declared(before.permissions, before.tools);
    const diff = diffPermissions(was, declared(meta.permissions, meta.tools));
    lines.push(
      diff.length
        ? `  permissions:\n${diff.map((d) => `    ${d}`).join("\n")}`
        : "  permissions: the same",
    );
    const added = meta.classes.filter((c) => !before.classes.includes(c));
    const dropped = before.classes.filter((c) => !meta.classes.includes(c));
    if (added.length || dropped.length) {
      lines.push(
        `  classes: ${[...added.map((c) => `+${c}`), ...dropped.map((c) => `-${c}`)].join(" ")}`,
      );
    }
  } else lines.push("  permissions: the pinned version is not cached, so no comparison");
  await writeAll(lines.join("\n") + "\n");
  if (!await consent(ctx, `Re-pin ${name} at sha256 ${sha256.slice(0, 12)}…?`)) {
    Deno.stderr.writeSync(enc.encode(
      `not updated: ${name} stays pinned at ${e.sha256}${
        ctx.args.yes || Deno.stdin.isTerminal() ? "" : " (give --yes to re-pin)"
      }\n`,
    ));
    return 1;
  }
  await cacheModule(ctx.home, bytes);
  await writeCachedJson(ctx.home, sha256, meta);
  const lock = readLock(ctx.home);
  lock.plugins[name] = {
    ...e,
    sha256,
    module_name: meta.name,
    version: meta.version,
    updated: new Date().toISOString(),
  };
  await writeLock(ctx.home, lock);
  if (!Object.values(lock.plugins).some((o) => o.sha256 === e.sha256)) {
    await uncacheModule(ctx.home, e.sha256);
  }
  await writeAll(`re-pinned ${name} ${meta.version} (sha256 ${sha256})\n`);
  return 0;
}

async function check(ctx: Ctx, target: string): Promise<number> {
  const { url: where, expect } = isPluginUrl(target) ? splitUrl(target) : { url: target };
  let bytes: Uint8Array;
  if (isPluginUrl(where)) bytes = await fetchModule(where);
  else {
    try {
      bytes = await Deno.readFile(where);
    } catch (e) {
      throw new UserError(`cannot read ${where}: ${(e as Error).message}`);
    }
  }
  const sha256 = sha256Of(bytes);
  const errors: string[] = [];
  const warnings: string[] = [];
  if (expect && expect !== sha256) errors.push(`its sha256 is ${sha256}, not ${expect}`);
  let meta: PluginMeta | undefined;
  try {
    meta = await describeModule(await moduleJavaScript(bytes, where));
  } catch (e) {
    errors.push(explainLoadError(e));
  }
  if (meta) {
    const schema = optionsSchemaOf(meta);
    const required = Object.keys(schema.shape).filter((k) =>
      !(schema.shape[k] as z.ZodType).safeParse(undefined).success
    );
    if (required.length) {
      warnings.push(`options without a default (every user must set them): ${required.join(", ")}`);
    }
    if (meta.unrepresentable.length) {
      warnings.push(
        `options whose schema JSON Schema cannot express (checked only when the plugin starts): ${
          meta.unrepresentable.join(", ")
        }`,
      );
    }
    for (const w of whyRefused(meta, ctx.config.core, ctx.home)) {
      warnings.push(`not granted by ${ctx.config.source}: ${w}`);
    }
  }
  if (ctx.args.json) {
    await writeAll(
      JSON.stringify(
        { ok: errors.length === 0, target: where, sha256, plugin: meta ?? null, errors, warnings },
        null,
        2,
      ) +
        "\n",
    );
    return errors.length ? 1 : 0;
  }
  const lines = meta
    ? report(meta, where, sha256, ctx, false)
    : [`${where}`, `  sha256    ${sha256}`];
  for (const w of warnings) lines.push(`warning: ${w}`);
  for (const e of errors) lines.push(`error: ${e}`);
  lines.push(
    errors.length
      ? `not a valid stoq plugin`
      : `ok: a valid stoq plugin; pin it as ${isPluginUrl(where) ? where : "URL"}#sha256=${sha256}`,
  );
  await writeAll(lines.join("\n") + "\n");
  return errors.length ? 1 : 0;
}
