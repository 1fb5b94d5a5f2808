/**
 * `stoq route explain FILE...`: without scanning, shows what each dispatcher of the pipeline
 * sees in a file (its flavors, for `route`) and why each worker would or would not run.
 */
import { newPayload } from "../engine/engine.ts";
import { hasLossyName, NOT_UTF8, UsageError, UserError } from "../errors.ts";
import { PayloadMetaSchema, RequestMetaSchema } from "../engine/model.ts";
import type { DispatchExplanation, Request } from "../engine/plugin.ts";
import { createStoq } from "../run/stoq.ts";
import type { CliArgs } from "./args.ts";
import { writeAll } from "./output.ts";
import { pipelineFrom } from "./scan.ts";
import { setup } from "./setup.ts";

/** What one dispatcher said about one file. */
interface DispatcherReport {
  dispatcher: string;
  explanation?: DispatchExplanation;
  /** For dispatchers without `explain`: the workers they chose. */
  plugin_names?: string[];
  error?: string;
}

/** The explanation of one file. */
interface FileReport {
  path: string;
  always: string[];
  dispatchers: DispatcherReport[];
  workers: string[];
}

/** `stoq route explain`; returns the exit status. */
export async function explainCommand(args: CliArgs): Promise<number> {
  if (!args.paths.length || args.paths.includes("-")) {
    throw new UsageError("stoq route explain needs one or more file paths (stdin is not read)");
  }
  // A path that is not there is a usage error, as for scan, found before anything loads.
  for (const path of args.paths) {
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(path);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) continue; // reported when it is read
      throw new UsageError(
        `cannot explain ${path}: ${hasLossyName(path) ? NOT_UTF8 : "no such file"}`,
      );
    }
    if (!info.isFile) {
      throw new UsageError(`cannot explain ${path}: not a regular file (give files, not folders)`);
    }
  }
  const { config, home, sources } = await setup(args);
  const pipeline = pipelineFrom(args, config);
  const stoq = await createStoq({
    config,
    cliOptions: args.plugin_opts,
    home,
    sources,
    pipeline,
  });
  await stoq.engine.preload();
  const reports: FileReport[] = [];
  for (const path of args.paths) {
    let content: Uint8Array;
    try {
      content = await Deno.readFile(path);
    } catch (e) {
      throw new UserError(`cannot read ${path}: ${(e as Error).message}`);
    }
    const payload = await newPayload(
      content,
      PayloadMetaSchema.parse({ extra_data: { filename: path.split("/").pop() } }),
    );
    const request: Request = {
      payloads: [payload],
      request_meta: RequestMetaSchema.parse({}),
      errors: [],
    };
    const dispatchers: DispatcherReport[] = [];
    for (const name of pipeline.dispatchers) {
      const d = await stoq.host.load(name, "dispatcher");
      const explain = d.instance.explain;
      const outcome = explain
        ? await stoq.host.invoke(d, (call) => explain(payload, request, call))
        : await stoq.host.invoke(d, (call) => d.instance.get_dispatches!(payload, request, call));
      if (!outcome.ok) dispatchers.push({ dispatcher: name, error: outcome.error });
      else if (explain) {
        dispatchers.push({ dispatcher: name, explanation: outcome.value as DispatchExplanation });
      } else {
        const names = (outcome.value as { plugin_names?: string[] } | null)?.plugin_names ?? [];
        dispatchers.push({ dispatcher: name, plugin_names: names });
      }
    }
    const chosen = dispatchers.flatMap((d) =>
      d.explanation
        ? d.explanation.rules.filter((r) => r.matched).flatMap((r) => r.workers)
        : d.plugin_names ?? []
    );
    const workers = [...new Set([...pipeline.always_dispatch, ...chosen])];
    reports.push({ path, always: pipeline.always_dispatch, dispatchers, workers });
  }
  await stoq.host.closeAll();
  if (args.json) {
    await writeAll(JSON.stringify(reports.length === 1 ? reports[0] : reports, null, 2) + "\n");
  } else await writeAll(reports.map(textReport).join("\n"));
  return 0;
}

/** The human-readable form of one report. */
function textReport(r: FileReport): string {
  const lines = [r.path];
  if (r.always.length) lines.push(`  always: ${r.always.join(", ")} (always_dispatch)`);
  for (const d of r.dispatchers) {
    lines.push(`  dispatcher ${d.dispatcher}:`);
    if (d.error) {
      lines.push(`    error: ${d.error}`);
      continue;
    }
    if (!d.explanation) {
      lines.push(`    chose: ${d.plugin_names!.length ? d.plugin_names!.join(", ") : "nothing"}`);
      continue;
    }
    for (const [k, v] of Object.entries(d.explanation.facts)) {
      const shown = Array.isArray(v) ? (v.length ? v.join(", ") : "none") : JSON.stringify(v);
      lines.push(`    ${k}: ${shown}`);
    }
    if (!d.explanation.rules.length) lines.push("    no rule matched");
    for (const rule of d.explanation.rules) {
      lines.push(
        `    ${rule.matched ? "+" : "-"} ${rule.name} -> ${rule.workers.join(", ")}${
          rule.why.length ? `: ${rule.why.join("; ")}` : ""
        }`,
      );
    }
  }
  lines.push(`  workers that would run: ${r.workers.length ? r.workers.join(", ") : "none"}`);
  return lines.join("\n") + "\n";
}
