/**
 * Compiling a rule set once: every unit (an entry file with its includes, see sources.ts) in its
 * own YARA-X namespace, all in one tolerant compile, so a broken rule costs that rule, not its
 * file or the set, and no second compile is needed to find it. YARA-X's diagnostics name a line
 * but not the source; each is traced to its file by the line's text (and, where two files hold
 * the same text at that line, by checking those files alone), then to the rule around it.
 */
import { basename } from "node:path";
import { loadCached, storeCached } from "./cache.ts";
import type { RuleProblem, RuleSources, RuleUnit } from "./sources.ts";
import {
  type ExternalValues,
  yarax,
  type YaraxDiagnostic,
  type YaraxModule,
  type YaraxRules,
} from "./yarax.ts";

/** A compiler error or warning, or a problem reading a file, traced to its file and rule. */
export interface Diagnostic {
  severity: "error" | "warning";
  file: string;
  line?: number;
  column?: number;
  /** YARA-X's code (`E009`, `slow_pattern`, ...), or `read` / `include` for stoq's own. */
  code: string;
  /** The first line, e.g. "unknown identifier `foo`". */
  title: string;
  /** YARA-X's whole message; its line numbers are the file's. */
  message: string;
  /** The rule the line is in. */
  rule?: string;
  /** The pattern the warning points at (`$a`), for pattern warnings such as slow_pattern. */
  pattern?: string;
}

/** What became of one rule file. */
export interface FileReport {
  file: string;
  /** `partly loaded`: some of its rules failed and were left out; the others loaded. */
  status: "loaded" | "partly loaded" | "skipped";
  /** Its rules that loaded. */
  rules: number;
  /** The entry file it is loaded through (by an include), if it is not an entry itself. */
  included_by?: string;
  errors: Diagnostic[];
  warnings: Diagnostic[];
}

/** What a rule set loaded, file by file. */
export interface RuleSetReport {
  files: FileReport[];
  /** Rules loaded. */
  rules: number;
  loaded: number;
  partly: number;
  skipped: number;
  warnings: number;
  slow_patterns: number;
  /** Notes that are not problems (an optional path that does not exist). */
  notes: string[];
  /** Loaded from the compiled-rules cache instead of compiled. */
  cached: boolean;
}

/** A compiled rule set and what it holds. */
export interface RuleSet {
  /** Undefined when no rule loaded. */
  rules?: YaraxRules;
  report: RuleSetReport;
  /** The base name of the file a matching rule came from, by YARA-X namespace and rule name. */
  fileOf(namespace: string, rule: string): string;
  /** Every string value the loaded files give the meta key `key` (read from the rule text). */
  metaValues(key: string): string[];
  /**
   * Whether a match from YARA-X namespace `namespace` is this set's: `rules` may be shared with
   * other sets compiled with it (buildRuleSets).
   */
  owns(namespace: string): boolean;
}

/**
 * Rule sets of at least this much text are cached compiled; smaller ones compile as fast as they
 * load. Measured: typing_head.yar (26 KB of regexes) compiles in 108 ms and loads in 34 ms,
 * stoq.yar (9 KB) 55 ms against 9 ms, dispatch.yar (3 KB) 10 ms against 6 ms.
 */
export const CACHE_MIN_BYTES = 4 * 1024;

const squash = (s: string) => s.replace(/\s+/g, "");

const RULE_START = /^[ \t]*(?:(?:private|global)[ \t]+)*rule[ \t]+(\w+)/;

/** Where each rule of a unit starts: its name, unit line and file. */
interface Span {
  name: string;
  line: number;
  file: string;
}

/** A unit's lines and rules, worked out once. */
class UnitInfo {
  readonly lines: string[];
  readonly spans: Span[] = [];
  constructor(readonly unit: RuleUnit) {
    this.lines = unit.text.split("\n");
    this.lines.forEach((l, i) => {
      const m = RULE_START.exec(l);
      if (m) this.spans.push({ name: m[1], line: i + 1, file: this.origin(i + 1).file });
    });
  }
  #squashed: (string | undefined)[] = [];
  /** Line `n` without its white space (how diagnostics are matched to lines). */
  squashed(n: number): string | undefined {
    const line = this.lines[n - 1];
    if (line === undefined) return undefined;
    return this.#squashed[n - 1] ??= squash(line);
  }
  /** File and line of the unit's line `n`. */
  origin(n: number): { file: string; line: number } {
    return this.unit.origin?.[n - 1] ?? { file: this.unit.name, line: n };
  }
  /** The rule whose text holds unit line `n`, if any (and if it is in the same file). */
  ruleAt(n: number): string | undefined {
    let found: Span | undefined;
    for (const s of this.spans) {
      if (s.line > n) break;
      found = s;
    }
    return found && found.file === this.origin(n).file ? found.name : undefined;
  }
}

/** A YARA-X diagnostic with its unit line, column and the source text it quotes. */
interface Raw {
  severity: "error" | "warning";
  code: string;
  message: string;
  line?: number;
  column?: number;
  quoted?: string;
}

function parseRaw(d: YaraxDiagnostic, severity: Raw["severity"]): Raw {
  const at = /-->\s*line:(\d+):(\d+)/.exec(d.message);
  const raw: Raw = { severity, code: d.code, message: d.message };
  if (!at) return raw;
  raw.line = Number(at[1]);
  raw.column = Number(at[2]);
  const quoted = new RegExp(`^\\s*${at[1]} [|+-] ?(.*)$`, "m").exec(d.message);
  if (quoted) raw.quoted = quoted[1];
  return raw;
}

/** Whether unit line `n` is the text a diagnostic quotes (YARA-X elides long lines with "..."). */
function quotes(info: UnitInfo, n: number, visible: string): boolean {
  const line = info.squashed(n);
  if (line === undefined) return false;
  return visible === "" ? line === "" : line.includes(visible);
}

/** The diagnostics of a tolerant compile, each with the index of the unit it belongs to. */
function attribute(
  yx: YaraxModule,
  infos: UnitInfo[],
  all: Raw[],
  externals: ExternalValues,
): { unit: number; raw: Raw }[] {
  const out: { unit: number; raw: Raw }[] = [];
  const recheck = new Set<number>();
  const direct: { unit: number; raw: Raw }[] = [];
  for (const raw of all) {
    const visible = raw.quoted === undefined
      ? undefined
      : squash(raw.quoted.replace(/^\.\.\./, "").replace(/\.\.\.$/, ""));
    const cands = raw.line === undefined || visible === undefined
      ? []
      : infos.flatMap((info, i) => quotes(info, raw.line!, visible) ? [i] : []);
    if (cands.length === 1) direct.push({ unit: cands[0], raw });
    else if (cands.length > 1) { for (const i of cands) recheck.add(i); }
    else out.push({ unit: -1, raw });
  }
  // Files that quote the same text at the same line are compiled alone: their diagnostics then
  // need no tracing (rare; each is small).
  for (const i of recheck) {
    const v = yx.validate(infos[i].unit.text, {
      defineVariables: externals,
      ignoreInvalidRules: true,
    });
    for (const e of v.errors) out.push({ unit: i, raw: parseRaw(e, "error") });
    for (const w of v.warnings) out.push({ unit: i, raw: parseRaw(w, "warning") });
  }
  for (const d of direct) if (!recheck.has(d.unit)) out.push(d);
  return out;
}

/** Rewrites a message's `line:N:C` and quoted line numbers from unit lines to the file's. */
function relocate(message: string, info: UnitInfo | undefined, file: string): string {
  if (!info) return message;
  const shown = basename(file);
  return message
    .replace(
      /-->\s*line:(\d+):(\d+)/,
      (_, l, c) => `--> ${shown}:${info.origin(Number(l)).line}:${c}`,
    )
    .replace(/^(\s*)(\d+)( [|+-])/gm, (_, sp: string, l: string, bar: string) => {
      const to = String(info.origin(Number(l)).line);
      return `${" ".repeat(Math.max(0, sp.length + l.length - to.length))}${to}${bar}`;
    });
}

function diagnostic(raw: Raw, info: UnitInfo | undefined, unitName: string): Diagnostic {
  const where = info && raw.line !== undefined
    ? info.origin(raw.line)
    : { file: unitName, line: raw.line };
  const title = raw.message.split("\n")[0].replace(/^(?:error|warning)\[[\w-]+\]:\s*/, "");
  const d: Diagnostic = {
    severity: raw.severity,
    file: where.file,
    code: raw.code,
    title,
    message: relocate(raw.message, info, where.file),
  };
  if (where.line !== undefined) d.line = where.line;
  if (raw.column !== undefined) d.column = raw.column;
  if (info && raw.line !== undefined) {
    const rule = info.ruleAt(raw.line);
    if (rule) d.rule = rule;
    const pat = /^\$\w*/.exec(info.lines[raw.line - 1]?.slice((raw.column ?? 1) - 1) ?? "");
    if (pat && raw.severity === "warning") d.pattern = pat[0];
  }
  return d;
}

function problemDiagnostic(p: RuleProblem, code: string): Diagnostic {
  return {
    severity: "error",
    file: p.file,
    ...(p.line !== undefined ? { line: p.line } : {}),
    code,
    title: p.message,
    message: p.message,
  };
}

/** Compile-time settings that change the compiled rules (and so the cache key). */
export interface BuildOptions {
  externals: ExternalValues;
  /** Where compiled sets are cached; none: always compile. */
  cacheDir?: string;
}

const namespaceOf = (i: number) => `u${i}`;

/** Compiles (or loads from the cache) the units of `sources` into one rule set. */
export async function buildRuleSet(sources: RuleSources, opts: BuildOptions): Promise<RuleSet> {
  return (await buildRuleSets([sources], opts))[0];
}

/**
 * Compiles several rule sets as one YARA-X rule set, so that one scan serves them all
 * ({@link RuleSet.owns} tells their matches apart): each unit still has its own namespace, and
 * each set its own report. A set with no rule that loaded has no `rules`.
 */
export async function buildRuleSets(
  parts: RuleSources[],
  opts: BuildOptions,
): Promise<RuleSet[]> {
  const units = parts.flatMap((p) => p.units);
  const yx = yarax();
  const infos = units.map((u) => new UnitInfo(u));
  const size = units.reduce((n, u) => n + u.text.length, 0);
  const cacheDir = size >= CACHE_MIN_BYTES ? opts.cacheDir : undefined;
  // A single set keeps the key it always had, so existing caches stay valid.
  const keyParts = {
    externals: opts.externals,
    units: units.map((u) => [u.name, u.text]),
    ...(parts.length > 1 ? { parts: parts.map((p) => p.units.length) } : {}),
  };
  let rules: YaraxRules | undefined;
  let found: { unit: number; raw: Raw }[] | undefined;
  let cached = false;
  if (cacheDir && units.length) {
    const hit = await loadCached(cacheDir, keyParts);
    if (hit) {
      try {
        rules = yx.deserialize(hit.blob);
        found = hit.diagnostics as { unit: number; raw: Raw }[];
        cached = true;
      } catch {
        rules = undefined; // a cache from another build: compile instead
      }
    }
  }
  if (!found && units.length) {
    rules = yx.compile("", { ignoreInvalidRules: true, defineVariables: opts.externals });
    rules.addRuleSources(units.map((u, i) => ({ source: u.text, namespace: namespaceOf(i) })));
    const raws = [
      ...rules.getCompilationErrors().map((e) => parseRaw(e, "error")),
      ...rules.getWarnings().map((w) => parseRaw(w, "warning")),
    ];
    found = attribute(yx, infos, raws, opts.externals);
    if (cacheDir) await storeCached(cacheDir, keyParts, rules.serialize(), found);
  }
  const byNamespace = new Map(infos.map((info, i) => [namespaceOf(i), info]));
  const origins = new Map<UnitInfo, Map<string, string>>();
  const fileOf = (namespace: string, rule: string) => {
    const info = byNamespace.get(namespace);
    if (!info) return namespace;
    let names = origins.get(info);
    if (!names) {
      names = new Map(info.spans.map((s) => [s.name, basename(s.file)]));
      origins.set(info, names);
    }
    return names.get(rule) ?? basename(info.unit.name);
  };
  let first = 0;
  return parts.map((sources, index) => {
    const from = first, to = first + sources.units.length;
    first = to;
    // Diagnostics no unit quotes go to the first set's report.
    const mine = (found ?? []).filter((f) =>
      f.unit >= from && f.unit < to || (f.unit < 0 && index === 0)
    ).map((f) => f.unit < 0 ? f : { unit: f.unit - from, raw: f.raw });
    const report = makeReport(sources, infos.slice(from, to), mine, cached);
    const namespaces = new Set(infos.slice(from, to).map((_, i) => namespaceOf(from + i)));
    return {
      rules: report.rules === 0 ? undefined : rules,
      report,
      fileOf,
      owns: parts.length === 1 ? () => true : (namespace) => namespaces.has(namespace),
      metaValues(key) {
        const re = new RegExp(`^\\s*${key}\\s*=\\s*"((?:[^"\\\\]|\\\\.)*)"`, "gm");
        return sources.units.flatMap((u) => [...u.text.matchAll(re)].map((m) => m[1]));
      },
    };
  });
}

/** File by file: what loaded, what failed and why, what YARA-X warned about. */
function makeReport(
  sources: RuleSources,
  infos: UnitInfo[],
  found: { unit: number; raw: Raw }[],
  cached: boolean,
): RuleSetReport {
  const files = new Map<string, FileReport>();
  const fileReport = (file: string) => {
    let r = files.get(file);
    if (!r) files.set(file, r = { file, status: "loaded", rules: 0, errors: [], warnings: [] });
    return r;
  };
  const notes: string[] = [];
  for (const p of sources.problems) {
    if (p.message.startsWith("optional rule path")) notes.push(`${p.file}: ${p.message}`);
    else fileReport(p.file).errors.push(problemDiagnostic(p, "read"));
  }
  const defined = new Map<string, Set<string>>();
  for (const info of infos) {
    info.unit.files.forEach((f, i) => {
      const r = fileReport(f);
      if (i > 0) r.included_by = info.unit.name;
    });
    for (const p of info.unit.problems) {
      fileReport(p.file).errors.push(problemDiagnostic(p, "include"));
    }
    for (const s of info.spans) {
      let set = defined.get(s.file);
      if (!set) defined.set(s.file, set = new Set());
      set.add(s.name);
    }
  }
  const failed = new Map<string, Set<string>>();
  for (const { unit, raw } of found) {
    const info = infos[unit];
    const d = diagnostic(raw, info, info?.unit.name ?? "(rule set)");
    const r = fileReport(d.file);
    if (d.severity === "warning") r.warnings.push(d);
    else {
      r.errors.push(d);
      if (d.rule) {
        let set = failed.get(d.file);
        if (!set) failed.set(d.file, set = new Set());
        set.add(d.rule);
      }
    }
  }
  let rules = 0;
  for (const r of files.values()) {
    const all = defined.get(r.file)?.size ?? 0;
    r.rules = all - (failed.get(r.file)?.size ?? 0);
    rules += r.rules;
    const byLine = (a: Diagnostic, b: Diagnostic) => (a.line ?? 0) - (b.line ?? 0);
    r.errors.sort(byLine);
    r.warnings.sort(byLine);
    if (r.errors.length) r.status = all > 0 && r.rules === 0 ? "skipped" : "partly loaded";
    if (r.errors.some((e) => e.code === "read")) r.status = "skipped";
  }
  const list = [...files.values()];
  const warnings = list.flatMap((r) => r.warnings);
  return {
    files: list,
    rules,
    loaded: list.filter((r) => r.status === "loaded").length,
    partly: list.filter((r) => r.status === "partly loaded").length,
    skipped: list.filter((r) => r.status === "skipped").length,
    warnings: warnings.length,
    slow_patterns: warnings.filter((w) => w.code === "slow_pattern").length,
    notes,
    cached,
  };
}

/** `N loaded, M skipped, K warnings` (and what else is worth a word). */
export function summaryLine(r: RuleSetReport): string {
  const parts = [`${r.loaded} loaded`];
  if (r.partly) parts.push(`${r.partly} partly loaded`);
  parts.push(`${r.skipped} skipped`);
  parts.push(
    `${r.warnings} warning${r.warnings === 1 ? "" : "s"}${
      r.slow_patterns ? ` (${r.slow_patterns} slow pattern${r.slow_patterns === 1 ? "" : "s"})` : ""
    }`,
  );
  return `${parts.join(", ")}; ${r.rules} rule${r.rules === 1 ? "" : "s"}`;
}

/** `file:line:col: ` before a diagnostic's first line. */
export function where(d: Diagnostic): string {
  return `${d.file}${d.line !== undefined ? `:${d.line}` : ""}${
    d.column !== undefined ? `:${d.column}` : ""
  }`;
}
