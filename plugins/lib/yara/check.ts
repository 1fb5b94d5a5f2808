/**
 * `stoq rules check PATH... [--json]`: compiles rule files as the yara plugin would (same
 * externals, includes and tolerance) and says, file by file, what loaded, what was skipped with
 * YARA-X's full message, and what it warned about (slow patterns named), then one summary line.
 */
import type { FileReport, RuleSetReport } from "./compile.ts";
import { summaryLine, where } from "./compile.ts";
import { describe, hint } from "./rules.ts";
import { buildRuleSet } from "./compile.ts";
import { readRuleSources } from "./sources.ts";
import type { ExternalValues } from "./yarax.ts";

export const CHECK_HELP =
  `Usage: stoq rules check PATH... [--json] [--config PATH] [--plugin-opts yara:externals=...]

Compiles YARA rule files as the yara plugin would: files and folders (*.yar, *.yara, recursively),
builtin:NAME, includes resolved from the including file (never outside the folder named), the
external variables of [yara] externals. For each file: loaded (with its rule count), partly
loaded (some of its rules failed and are left out) or skipped, with YARA-X's full message for
each error, and every warning (slow patterns name their rule and pattern). Then one line:
N loaded, M skipped, K warnings.

      --json                      the same as JSON: {files: [...], summary: {...}}

Exit status: 0 every file loaded whole, 1 some file (or rule) was skipped, 2 no PATH.

Examples:
  stoq rules check /opt/signature-base/yara
  stoq rules check /opt/rules/index.yar --plugin-opts 'yara:externals={"filename":""}'
  stoq rules check --json rules/ | jq '.files[] | select(.status != "loaded")'`;

/** Runs the check; `write` prints. Returns the exit status. */
export async function rulesCheck(
  paths: string[],
  externals: ExternalValues,
  json: boolean,
  write: (text: string) => Promise<void>,
): Promise<number> {
  const sources = await readRuleSources(paths);
  for (const m of sources.missing) {
    sources.problems.push({ file: m, message: "no such file or folder" });
  }
  const set = await buildRuleSet(sources, { externals });
  const r = set.report;
  if (json) await write(JSON.stringify(jsonReport(r), null, 2) + "\n");
  else await write(textReport(r));
  return r.skipped || r.partly ? 1 : 0;
}

function jsonReport(r: RuleSetReport) {
  return {
    files: r.files.map((f) => ({
      ...f,
      errors: f.errors.map((e) => ({ ...e, hint: hint(e).replace(/^; /, "") || undefined })),
    })),
    summary: {
      files: r.files.length,
      loaded: r.loaded,
      partly_loaded: r.partly,
      skipped: r.skipped,
      warnings: r.warnings,
      slow_patterns: r.slow_patterns,
      rules: r.rules,
    },
    notes: r.notes,
  };
}

const indent = (text: string) => text.split("\n").map((l) => `    ${l}`).join("\n");

function fileText(f: FileReport): string {
  const head = f.status === "skipped"
    ? `${f.file}: skipped`
    : `${f.file}: ${f.status} (${f.rules} rule${f.rules === 1 ? "" : "s"})`;
  const lines = [
    head +
    (f.warnings.length
      ? `, ${f.warnings.length} warning${f.warnings.length === 1 ? "" : "s"}`
      : ""),
  ];
  for (const e of f.errors) {
    lines.push(`  error: ${describe(e, "[yara] externals")}`);
    if (e.message !== e.title) lines.push(indent(e.message));
  }
  for (const w of f.warnings) {
    lines.push(
      `  warning: ${where(w)}: ${w.title}${
        w.rule ? ` (rule ${w.rule}${w.pattern ? `, pattern ${w.pattern}` : ""})` : ""
      } [${w.code}]`,
    );
    lines.push(indent(w.message));
  }
  return lines.join("\n");
}

function textReport(r: RuleSetReport): string {
  const out = r.files.map(fileText);
  for (const n of r.notes) out.push(`note: ${n}`);
  out.push(`${r.files.length} files: ${summaryLine(r)}`);
  return out.join("\n") + "\n";
}
