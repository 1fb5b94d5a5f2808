/**
 * The verdict's scoring: every plugin's `findings` (the shared Finding model) over every payload
 * of a scan, each worth points by its severity or by a per-finding override; a finding repeated
 * on several payloads counts once; the sum is the score, and two thresholds make it a verdict.
 * Plain functions of a result document, so the decorator, tests and docs share one definition.
 */
import type {
  ScoredFinding,
  Severity,
  StoqResponse,
  Verdict,
  VerdictName,
} from "../../../core/engine/plugin.ts";

/** Severities, least to most: the same list as the core's `SEVERITIES`. */
export const SEVERITY_ORDER: readonly Severity[] = ["info", "low", "medium", "high", "critical"];

/** How findings become a score and a verdict (the `verdict` plugin's options). */
export interface Scoring {
  /** Points per severity. */
  points: Record<Severity, number>;
  /** The score from which a scan is suspicious, and malicious. */
  suspicious: number;
  malicious: number;
  /**
   * Per finding: `plugin:id`, `plugin:*` or `id` → points, or a severity whose points it takes.
   * The most specific key wins.
   */
  overrides: Record<string, number | Severity>;
  /** How many findings the verdict lists (all are scored). */
  top: number;
}

/** The default scoring, also written out in config/default.toml's `[verdict]`. */
export const DEFAULT_SCORING: Scoring = {
  points: { info: 0, low: 5, medium: 20, high: 50, critical: 100 },
  suspicious: 20,
  malicious: 100,
  overrides: {},
  top: 10,
};

/** Most findings read from one result: a hostile or broken plugin cannot make this unbounded. */
export const MAX_FINDINGS = 10_000;
/** Deepest extraction chain walked for a payload's path. */
const MAX_DEPTH = 64;

const ID = /^[a-z0-9][a-z0-9_.-]*$/;

/** A finding as one plugin reported it, checked: anything else under `findings` is skipped. */
interface Reported {
  id: string;
  severity: Severity;
  title: string;
  detail: string;
  mitre?: string[];
}

function asFinding(v: unknown): Reported | undefined {
  if (!v || typeof v !== "object") return undefined;
  const f = v as Record<string, unknown>;
  if (typeof f.id !== "string" || !ID.test(f.id)) return undefined;
  if (!SEVERITY_ORDER.includes(f.severity as Severity)) return undefined;
  if (typeof f.title !== "string" || typeof f.detail !== "string") return undefined;
  const out: Reported = {
    id: f.id,
    severity: f.severity as Severity,
    title: f.title,
    detail: f.detail,
  };
  if (Array.isArray(f.mitre)) {
    const ids = f.mitre.filter((m): m is string => typeof m === "string");
    if (ids.length) out.mitre = ids;
  }
  return out;
}

/** The points of one finding and the words that say where they come from. */
export function pointsFor(
  plugin: string,
  f: { id: string; severity: Severity },
  s: Scoring,
): { points: number; why: string } {
  for (const key of [`${plugin}:${f.id}`, `${plugin}:*`, f.id]) {
    if (!Object.hasOwn(s.overrides, key)) continue;
    const o = s.overrides[key];
    if (typeof o === "number") return { points: o, why: `override "${key}": ${o} points` };
    return { points: s.points[o], why: `override "${key}" = ${o}: ${s.points[o]} points` };
  }
  return { points: s.points[f.severity], why: `${f.severity}: ${s.points[f.severity]} points` };
}

/** Each payload's names from the root down to it, following the first parent. */
function pathsOf(response: StoqResponse): Map<string, string[]> {
  const byId = new Map(response.results.map((p, i) => [p.payload_id, { p, i }]));
  const name = (id: string): string => {
    const e = byId.get(id);
    const n = e?.p.payload_meta?.extra_data?.filename;
    return typeof n === "string" && n !== "" ? n : e ? `payload ${e.i}` : "?";
  };
  const paths = new Map<string, string[]>();
  for (const { payload_id } of response.results) {
    const path = [name(payload_id)];
    let id: string | undefined = byId.get(payload_id)?.p.extracted_from?.[0];
    const seen = new Set([payload_id]);
    while (id && !seen.has(id) && path.length < MAX_DEPTH) {
      seen.add(id);
      path.unshift(name(id));
      id = byId.get(id)?.p.extracted_from?.[0];
    }
    paths.set(payload_id, path);
  }
  return paths;
}

/** Why nothing judged the scan, when nothing did: the root payload was never analysed. */
function unjudged(response: StoqResponse): string | undefined {
  const root = response.results[0];
  if (!root) return "the scan has no payload";
  if (!root.plugins_run?.workers?.length) {
    const why = response.errors.find((e) => e.payload_id === root.payload_id)?.error;
    return `no worker analysed the root payload${why ? ` (${why})` : ""}`;
  }
  return undefined;
}

/** The verdict of one scan: its findings scored, summed and held against the thresholds. */
export function judge(response: StoqResponse, s: Scoring = DEFAULT_SCORING): Verdict {
  const paths = pathsOf(response);
  const groups = new Map<string, ScoredFinding>();
  let total = 0;
  let order = 0;
  const rank = new Map<ScoredFinding, number>();
  scan: for (const p of response.results) {
    for (const [plugin, result] of Object.entries(p.workers ?? {})) {
      const list = (result as { findings?: unknown } | null)?.findings;
      if (!Array.isArray(list)) continue;
      for (const raw of list) {
        const f = asFinding(raw);
        if (!f) continue;
        if (++total > MAX_FINDINGS) break scan;
        const { points, why } = pointsFor(plugin, f, s);
        const key = `${plugin}:${f.id}`;
        const had = groups.get(key);
        if (had && had.points >= points) {
          had.occurrences++;
          continue;
        }
        const entry: ScoredFinding = {
          plugin,
          id: f.id,
          severity: f.severity,
          points,
          why,
          title: f.title,
          detail: f.detail,
          ...(f.mitre ? { mitre: f.mitre } : {}),
          path: paths.get(p.payload_id) ?? [],
          payload_id: p.payload_id,
          occurrences: (had?.occurrences ?? 0) + 1,
        };
        groups.set(key, entry);
        rank.set(entry, had ? rank.get(had)! : order++);
      }
    }
  }
  const counted = [...groups.values()];
  const score = counted.reduce((sum, f) => sum + f.points, 0);
  counted.sort((a, b) =>
    b.points - a.points ||
    SEVERITY_ORDER.indexOf(b.severity) - SEVERITY_ORDER.indexOf(a.severity) ||
    rank.get(a)! - rank.get(b)!
  );
  const why = unjudged(response);
  let verdict: VerdictName;
  let reason: string;
  const seen = total > MAX_FINDINGS
    ? `the first ${MAX_FINDINGS} findings`
    : plural(total, "finding");
  const repeats = total - counted.length;
  const tally = `${seen}, ${
    repeats ? `${repeats} repeated on other payloads (counted once)` : "each counted"
  }`;
  if (why) {
    verdict = "unknown";
    reason = why;
  } else if (score >= s.malicious) {
    verdict = "malicious";
    reason = `score ${score} reaches malicious (${s.malicious}); ${tally}`;
  } else if (score >= s.suspicious) {
    verdict = "suspicious";
    reason =
      `score ${score} reaches suspicious (${s.suspicious}), below malicious (${s.malicious}); ${tally}`;
  } else {
    verdict = "clean";
    reason = total
      ? `score ${score} below suspicious (${s.suspicious}); ${tally}`
      : "no plugin reported a finding";
  }
  return {
    score,
    verdict,
    reason,
    thresholds: { suspicious: s.suspicious, malicious: s.malicious },
    findings: counted.slice(0, s.top),
    findings_total: Math.min(total, MAX_FINDINGS),
    errors: response.errors.length,
  };
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}
