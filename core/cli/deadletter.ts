/**
 * `stoq deadletter list|replay`: the results a connector could not save after its retries are
 * kept whole in the dead-letter folder (core/run/runner.ts writes `<scan_id>.json` with the
 * failed connectors); this lists them and sends them again once the store is back.
 */
import type { StoqResponse } from "../engine/model.ts";
import { PluginHost } from "../engine/host.ts";
import { UsageError, UserError } from "../errors.ts";
import { getLogger, LOG_LEVELS, type LogLevel } from "../log.ts";
import { Registry } from "../loading/registry.ts";
import { didYouMean } from "../suggest.ts";
import type { CliArgs } from "./args.ts";
import { writeAll } from "./output.ts";
import { setup } from "./setup.ts";

/** What the runner writes for a dead-lettered result. */
interface DeadLetter {
  failed_connectors: string[];
  response: StoqResponse;
}

interface Flags {
  action: "list" | "replay";
  dir?: string;
  connectors?: string[];
  json: boolean;
  config?: string;
  log_level?: LogLevel;
  log_format?: "text" | "json";
}

const VALUE_FLAGS = ["--dir", "--connector", "--config", "--log-level", "--log-format"];

function parseFlags(argv: string[]): Flags {
  const action = argv[0];
  if (action !== "list" && action !== "replay") {
    throw new UsageError(
      `stoq deadletter takes list or replay${
        action === undefined ? "" : `, not "${action}"${didYouMean(action, ["list", "replay"])}`
      } (stoq deadletter --help)`,
    );
  }
  const out: Flags = { action, json: false };
  for (let i = 1; i < argv.length; i++) {
    let flag = argv[i];
    let value: string | undefined;
    const eq = flag.indexOf("=");
    if (flag.startsWith("--") && eq > 0) [flag, value] = [flag.slice(0, eq), flag.slice(eq + 1)];
    if (flag === "--json") {
      out.json = true;
      continue;
    }
    if (!VALUE_FLAGS.includes(flag)) {
      throw new UsageError(
        `unknown option ${flag}${didYouMean(flag, [...VALUE_FLAGS, "--json"])} ` +
          `(stoq deadletter --help)`,
      );
    }
    value ??= argv[++i];
    if (value === undefined || value.startsWith("--")) {
      throw new UsageError(`${flag} needs a value`);
    }
    if (flag === "--dir") out.dir = value;
    else if (flag === "--connector") {
      const names = value.split(",").map((n) => n.trim()).filter(Boolean);
      out.connectors = [...(out.connectors ?? []), ...names];
    } else if (flag === "--config") out.config = value;
    else if (flag === "--log-format") {
      if (value !== "text" && value !== "json") {
        throw new UsageError(`--log-format must be text or json, not "${value}"`);
      }
      out.log_format = value;
    } else {
      const l = value.toLowerCase() === "warn" ? "warning" : value.toLowerCase();
      if (!(LOG_LEVELS as readonly string[]).includes(l)) {
        throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(", ")}, not "${value}"`);
      }
      out.log_level = l as LogLevel;
    }
  }
  if (action === "list" && out.connectors) throw new UsageError("--connector goes with replay");
  return out;
}

/** The dead letters in `dir`, oldest first; files that do not read as one are reported. */
async function readLetters(dir: string): Promise<{ path: string; letter: DeadLetter }[]> {
  let names: string[];
  try {
    names = (await Array.fromAsync(Deno.readDir(dir)))
      .filter((e) => e.isFile && e.name.endsWith(".json")).map((e) => e.name);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw new UserError(`cannot read the dead-letter folder ${dir}: ${(e as Error).message}`);
  }
  const out: { path: string; letter: DeadLetter; mtime: number }[] = [];
  for (const name of names) {
    const path = `${dir}/${name}`;
    try {
      const letter = JSON.parse(await Deno.readTextFile(path)) as DeadLetter;
      if (
        !Array.isArray(letter.failed_connectors) || typeof letter.response?.scan_id !== "string"
      ) {
        throw new Error("not a dead letter written by stoq");
      }
      out.push({ path, letter, mtime: (await Deno.stat(path)).mtime?.getTime() ?? 0 });
    } catch (e) {
      getLogger("stoq").warn(`${path}: skipped: ${(e as Error).message}`);
    }
  }
  return out.sort((a, b) => a.mtime - b.mtime || a.path.localeCompare(b.path));
}

/** The response as it was before it was dead-lettered: the failed saves' errors removed. */
function withoutSaveErrors(response: StoqResponse, failed: string[]): StoqResponse {
  const errors = response.errors.filter((e) =>
    !(e.payload_id === null && e.plugin_name !== null && failed.includes(e.plugin_name) &&
      /^(connector:failed to save: |timed out after )/.test(e.error))
  );
  return { ...response, errors };
}

/** `stoq deadletter`; returns the exit status. */
export async function deadletterCommand(args: CliArgs): Promise<number> {
  const f = parseFlags(args.command_argv ?? []);
  const { config, home, sources } = await setup({
    ...args,
    config: f.config,
    log_level: f.log_level,
    log_format: f.log_format,
  });
  const dir = f.dir ?? (config.core.dead_letter_dir || `${home}/dead-letter`);
  const letters = await readLetters(dir);
  if (f.action === "list") {
    for (const { path, letter } of letters) {
      const r = letter.response;
      const root = r.results?.[0]?.payload_meta?.extra_data?.filename;
      if (f.json) {
        await writeAll(
          JSON.stringify({
            path,
            scan_id: r.scan_id,
            time: r.time,
            failed_connectors: letter.failed_connectors,
            filename: typeof root === "string" ? root : null,
            payloads: r.results?.length ?? 0,
          }) + "\n",
        );
      } else {
        await writeAll(
          [r.time, r.scan_id, letter.failed_connectors.join(","), root ?? "-"].join("\t") + "\n",
        );
      }
    }
    Deno.stderr.writeSync(
      new TextEncoder().encode(`stoq: ${letters.length} dead-lettered result(s) in ${dir}\n`),
    );
    return 0;
  }
  const registry = await Registry.load(sources, { home, core: config.core });
  const host = new PluginHost(registry, {
    core: config.core,
    fileOptions: config.plugins,
    configSource: config.source,
    cliOptions: {},
    home,
  });
  const log = getLogger("stoq");
  let replayed = 0, failed = 0;
  try {
    for (const { path, letter } of letters) {
      const targets = f.connectors ?? letter.failed_connectors;
      const response = withoutSaveErrors(letter.response, letter.failed_connectors);
      const still: string[] = [];
      for (const name of targets) {
        const connector = await host.load(name, "connector");
        const out = await host.invoke(
          connector,
          (call) => connector.instance.save!(response, call),
        );
        if (out.ok) continue;
        still.push(name);
        log.error(`scan ${response.scan_id}: ${name} still fails: ${out.error}`);
      }
      if (still.length === 0) {
        await Deno.remove(path);
        replayed++;
        await writeAll(`replayed ${response.scan_id} to ${targets.join(", ")}\n`);
      } else {
        // Keep it for the next replay, naming only the connectors that still need it.
        const kept: DeadLetter = { failed_connectors: still, response: letter.response };
        await Deno.writeTextFile(`${path}.part`, JSON.stringify(kept));
        await Deno.rename(`${path}.part`, path);
        failed++;
      }
    }
  } finally {
    await host.closeAll();
  }
  Deno.stderr.writeSync(
    new TextEncoder().encode(
      `stoq: ${replayed} replayed, ${failed} still failing, in ${dir}\n`,
    ),
  );
  return failed ? 1 : 0;
}
