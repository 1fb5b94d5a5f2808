/**
 * Rule sets as the plugins use them: loaded from an option's paths (a path that does not exist
 * is a start-up error unless marked `optional:`), reported once, and scanned.
 */
import type { Logger } from "../../../core/engine/plugin.ts";
import {
  type BuildOptions,
  buildRuleSets,
  type Diagnostic,
  type RuleSet,
  summaryLine,
  where,
} from "./compile.ts";
import { readRuleSources } from "./sources.ts";
import type { ExternalValues } from "./yarax.ts";

/** One matched string of a rule. */
export interface StringMatch {
  identifier: string;
  offset: number;
  length: number;
}

/** One matching rule. */
export interface RuleMatch {
  rule: string;
  /** Base name of the file the rule came from. */
  namespace: string;
  tags: string[];
  meta: Record<string, unknown>;
  strings: StringMatch[];
}

/** A scan's outcome: the matches, or that YARA-X's scan timeout stopped it. */
export type ScanOutcome = { matches: RuleMatch[] } | { timed_out: true };

/**
 * Reads and compiles the rule set `option` names. `paths` that do not exist (and are not marked
 * `optional:`) throw: a rule set that silently loads nothing hides every detection.
 */
export async function loadRuleSet(
  option: string,
  paths: string[],
  opts: BuildOptions,
): Promise<RuleSet> {
  return (await loadRuleSets([{ option, paths }], opts))[0];
}

/**
 * Reads the rule sets of several options and compiles them together, so that one scan
 * ({@link scanParts}) serves them all; each keeps its own report and matches.
 */
export async function loadRuleSets(
  options: { option: string; paths: string[] }[],
  opts: BuildOptions,
): Promise<RuleSet[]> {
  const parts = [];
  for (const { option, paths } of options) {
    const sources = await readRuleSources(paths);
    if (sources.missing.length) {
      const [first] = sources.missing;
      throw new Error(
        `${option}: ${sources.missing.join(", ")} does not exist; fix the path, or write ` +
          `"optional:${first}" where it may be missing`,
      );
    }
    parts.push(sources);
  }
  return await buildRuleSets(parts, opts);
}

/**
 * A diagnostic in one line: `file:line:col: message (rule R, pattern $p) [code]`, with a hint
 * when the rules could declare external variables (`externals`: the option that does).
 */
export function describe(d: Diagnostic, externals?: string): string {
  const about = [d.rule && `rule ${d.rule}`, d.pattern && `pattern ${d.pattern}`].filter(Boolean);
  return `${where(d)}: ${d.title}${about.length ? ` (${about.join(", ")})` : ""} [${d.code}]${
    externals ? hint(d, externals) : ""
  }`;
}

/**
 * For an undeclared identifier: a module the file forgot to import (YARA-X says so in a note),
 * else perhaps an external variable, which must be declared.
 */
export function hint(d: Diagnostic, externals = "[yara] externals"): string {
  const id = d.code === "E009" ? /unknown identifier `(\w+)`/.exec(d.title)?.[1] : undefined;
  if (!id) return "";
  if (new RegExp(`there is a module named [\`'"]${id}[\`'"]`).test(d.message)) {
    return `; the rule file lacks import "${id}" (add it at the top of the file)`;
  }
  return `; if ${id} is an external variable, declare it: ${externals} = { ${id} = "" }`;
}

/**
 * Logs a rule set's report once: a summary line (info for the user's own rules, debug for the
 * built-in ones; warning when a file failed), one line per file that failed, and every error and
 * warning at debug level with its file and line.
 */
export function logReport(
  log: Logger,
  what: string,
  paths: string[],
  set: RuleSet,
  externals?: string,
): void {
  const r = set.report;
  const failed = r.files.filter((f) => f.status !== "loaded");
  const own = paths.some((p) => !p.replace(/^optional:/, "").startsWith("builtin:"));
  const summary = `${what}: ${summaryLine(r)}${r.cached ? " (compiled rules from the cache)" : ""}`;
  const userPaths = paths.filter((p) => !p.replace(/^optional:/, "").startsWith("builtin:"));
  if (failed.length) {
    log.warn(`${summary}; \`stoq rules check ${paths.join(" ")}\` shows every message`);
  } else if (own && r.warnings) {
    // Each warning, with its file:line, is at debug level: a SOC's rule folder has hundreds.
    log.info(
      `${summary}; \`stoq rules check ${userPaths.join(" ")}\` (or --log-level debug) ` +
        "lists each warning with its file:line",
    );
  } else if (own) log.info(summary);
  else log.debug(summary);
  for (const n of r.notes) log.info(`${what}: ${n}`);
  for (const f of failed) {
    const [e] = f.errors;
    const more = f.errors.length > 1 ? ` (and ${f.errors.length - 1} more errors)` : "";
    log.warn(
      `${what}: ${f.file} ${f.status}: ${e ? describe(e, externals) : "no rule loaded"}${more}`,
    );
  }
  for (const f of r.files) {
    for (const d of [...f.errors, ...f.warnings]) {
      log.debug(`${what}: ${d.severity}: ${describe(d, externals)}`);
    }
  }
}

/** Why no rule of a set loaded, for the start-up error. */
export function noRulesReason(set: RuleSet): string {
  const reasons = set.report.files.flatMap((f) => f.errors.slice(0, 1).map((e) => describe(e)));
  return reasons.length ? reasons.join("; ") : "no rule files";
}

/** The matches of `set` in `data`, each string list cut to `limit`. */
function convert(
  set: RuleSet,
  raw: Awaited<ReturnType<NonNullable<RuleSet["rules"]>["scanAsync"]>>,
  limit: number,
): RuleMatch[] {
  return raw.filter((m) => set.owns(m.namespace)).map((m) => ({
    rule: m.ruleIdentifier,
    namespace: set.fileOf(m.namespace, m.ruleIdentifier),
    tags: m.tags,
    meta: m.meta,
    strings: m.matches.slice(0, limit).map(({ identifier, offset, length }) => ({
      identifier,
      offset,
      length,
    })),
  }));
}

/**
 * Scans `data` on a native thread (the JavaScript thread stays free: other payloads go on, and
 * the plugin's timeout can fire). A rule set that runs out of its scan timeout gives `timed_out`.
 */
export async function scanAsync(
  set: RuleSet,
  data: Uint8Array,
  vars: ExternalValues,
  limit: number,
): Promise<ScanOutcome> {
  if (!set.rules) return { matches: [] };
  try {
    return { matches: convert(set, await scanRules(set.rules, data, vars), limit) };
  } catch (e) {
    if (/timed out/i.test((e as Error).message)) return { timed_out: true };
    throw e;
  }
}

/**
 * Scans `data` once for rule sets compiled together (loadRuleSets) and gives each set's outcome,
 * its strings cut to its `limits` entry. Sets without rules get no matches.
 */
export async function scanParts(
  sets: RuleSet[],
  data: Uint8Array,
  vars: ExternalValues,
  limits: number[],
): Promise<ScanOutcome[]> {
  const rules = sets.find((s) => s.rules)?.rules;
  if (!rules) return sets.map(() => ({ matches: [] }));
  if (sets.some((s) => s.rules && s.rules !== rules)) {
    throw new Error("scanParts: the rule sets were not compiled together");
  }
  let raw;
  try {
    raw = await scanRules(rules, data, vars);
  } catch (e) {
    if (/timed out/i.test((e as Error).message)) return sets.map(() => ({ timed_out: true }));
    throw e;
  }
  return sets.map((s, i) => ({ matches: s.rules ? convert(s, raw, limits[i]) : [] }));
}

/** Payloads up to this size may be scanned in the calling thread (see {@link inThread}). */
const IN_THREAD_MAX_BYTES = 64 * 1024;
/** The mean in-thread scan time above which a rule set's small payloads go to native threads. */
const IN_THREAD_BUDGET_MS = 1;
/** An in-thread scan that takes longer ends in-thread scans of its rule set for good. */
const NEVER_AGAIN_MS = 250;
/** While over budget, one small payload in this many is still scanned in-thread, to re-measure. */
const PROBE_EVERY = 32;
/** Per compiled rule set: mean in-thread scan time (ms, moving average) and calls since a probe. */
const inThreadStats = new WeakMap<object, { mean: number; sinceProbe: number }>();

/**
 * Whether to scan in the calling thread rather than on a native thread. The binding's
 * asynchronous scan builds a new YARA-X scanner for every call (0.6 to 1 ms of CPU here, 20 times
 * what scanning a small payload with the bundled rules costs), while a synchronous scan reuses the
 * thread's scanner. So a small payload is scanned in the thread, unless this rule set's in-thread
 * scans have turned out slow (a large rule folder): those, and large payloads, go to native
 * threads, which keep the calling thread (the engine's coordinator) free. Slow sets are still
 * probed now and then, so a burst of load on the machine does not send every later scan away.
 */
function inThread(rules: object, size: number): boolean {
  if (size > IN_THREAD_MAX_BYTES) return false;
  const stats = inThreadStats.get(rules);
  if (!stats || stats.mean <= IN_THREAD_BUDGET_MS) return true;
  if (++stats.sinceProbe < PROBE_EVERY) return false;
  stats.sinceProbe = 0;
  return true;
}

/** YARA-X's raw matches of `data`, scanned in this thread or on a native one (see inThread). */
async function scanRules(
  rules: NonNullable<RuleSet["rules"]>,
  data: Uint8Array,
  vars: ExternalValues,
) {
  return inThread(rules, data.length)
    ? timedSync(rules, data, vars)
    : await rules.scanAsync(data, vars);
}

/** A synchronous scan whose duration feeds the rule set's moving average (see inThread). */
function timedSync(
  rules: NonNullable<RuleSet["rules"]>,
  data: Uint8Array,
  vars: ExternalValues,
) {
  const start = performance.now();
  try {
    return rules.scan(data, vars);
  } finally {
    // The first scan builds the thread's scanner: it says nothing about the ones that follow.
    // One sample counts at most 4 budgets: a thread the OS descheduled for 20 ms measured the
    // machine's load, not the rules.
    const took = performance.now() - start;
    const ms = Math.min(took, 4 * IN_THREAD_BUDGET_MS);
    const stats = inThreadStats.get(rules);
    if (!stats) inThreadStats.set(rules, { mean: 0, sinceProbe: 0 });
    else stats.mean = stats.mean * 0.9 + ms * 0.1;
    // A scan that held the thread this long (a slow rule, up to scan_timeout) is not load: this
    // set's scans stay on native threads from now on, so the coordinator is never held again.
    if (took > NEVER_AGAIN_MS) inThreadStats.set(rules, { mean: Infinity, sinceProbe: -Infinity });
  }
}

/** Scans `data` in this thread: for small rule sets (typing), where a thread hop costs more. */
export function scanSync(set: RuleSet, data: Uint8Array): RuleMatch[] {
  return set.rules ? convert(set, set.rules.scan(data), 0) : [];
}
