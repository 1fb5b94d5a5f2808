/**
 * The stoQ v3 data model: one zod definition per class, TypeScript types inferred from it.
 * Key order of every schema is the key order of stoQ v3's JSON output (spec §1), so objects
 * built by parsing through these schemas serialise byte-compatibly.
 */
import { z } from "zod";

/** Metadata that travels with a payload (`payload_meta`). */
export const PayloadMetaSchema = z.object({
  should_archive: z.boolean().default(true),
  should_scan: z.boolean().default(true),
  extra_data: z.record(z.string(), z.unknown()).default({}),
  dispatch_to: z.array(z.string()).default([]),
});
export type PayloadMeta = z.output<typeof PayloadMetaSchema>;
export type PayloadMetaInput = z.input<typeof PayloadMetaSchema>;

/** Metadata that describes a whole request (`request_meta`). */
export const RequestMetaSchema = z.object({
  archive_payloads: z.boolean().default(true),
  source: z.string().nullable().default(null),
  extra_data: z.record(z.string(), z.unknown()).default({}),
});
export type RequestMeta = z.output<typeof RequestMetaSchema>;
export type RequestMetaInput = z.input<typeof RequestMetaSchema>;

/** One entry of `errors[]`. */
export const ErrorRecordSchema = z.object({
  error: z.string(),
  plugin_name: z.string().nullable().default(null),
  payload_id: z.string().nullable().default(null),
});
export type ErrorRecord = z.output<typeof ErrorRecordSchema>;

/** How much an analyst should care about a finding, least to most. */
export const SEVERITIES = ["info", "low", "medium", "high", "critical"] as const;
export type Severity = typeof SEVERITIES[number];

/**
 * Something an analyst would flag, listed under a plugin's result key `findings`: a stable `id`
 * (snake_case, unique within the plugin), a severity, a one-line title and the evidence in
 * `detail`; `mitre` optionally names ATT&CK technique ids (e.g. "T1204.002").
 */
export const FindingSchema = z.object({
  id: z.string().regex(/^[a-z0-9][a-z0-9_.-]*$/),
  severity: z.enum(SEVERITIES),
  title: z.string(),
  detail: z.string(),
  mitre: z.array(z.string()).optional(),
});
export type Finding = z.output<typeof FindingSchema>;

/** A whole scan's judgement, least to most worrying; `unknown` when nothing could judge it. */
export const VERDICTS = ["clean", "suspicious", "malicious", "unknown"] as const;
export type VerdictName = typeof VERDICTS[number];

/**
 * A finding as a verdict counts it: which plugin reported it on which payload (`path`: the
 * payload names from the root down), the points it gave and why. A finding reported again on
 * other payloads counts once; `occurrences` says on how many payloads it was seen.
 */
export const ScoredFindingSchema = FindingSchema.extend({
  plugin: z.string(),
  points: z.number(),
  why: z.string(),
  payload_id: z.string(),
  path: z.array(z.string()),
  occurrences: z.number().int().min(1),
});
export type ScoredFinding = z.output<typeof ScoredFindingSchema>;

/**
 * What the `verdict` decorator puts in `decorators.verdict`: the score (sum of the counted
 * findings' points), the verdict it gives against the thresholds, and the top findings. Viewers
 * (the tree, the web page, result stores) read it through this schema.
 */
export const VerdictSchema = z.object({
  score: z.number(),
  verdict: z.enum(VERDICTS),
  reason: z.string(),
  thresholds: z.object({ suspicious: z.number(), malicious: z.number() }),
  findings: z.array(ScoredFindingSchema),
  findings_total: z.number().int().min(0),
  errors: z.number().int().min(0),
});
export type Verdict = z.output<typeof VerdictSchema>;

/** What the result document says about one payload. */
export interface PayloadResults {
  size: number;
  payload_id: string;
  payload_meta: PayloadMeta;
  plugins_run: { workers: string[]; archivers: string[] };
  extracted_from: string[];
  extracted_by: string[];
  workers: Record<string, unknown>;
  archivers: Record<string, unknown>;
}

/** A payload under scan. `content` and `dispatch_meta` never reach the result document. */
export interface Payload {
  readonly content: Uint8Array;
  /** Lower-case hex SHA-256 of `content`, computed once by the core. */
  readonly sha256: string;
  readonly results: PayloadResults;
  /** Dispatcher name → the `meta` that dispatcher returned for this payload. */
  dispatch_meta: Record<string, Record<string, unknown>>;
}

/** The mutable scan state handed to dispatchers, workers and archivers. */
export interface Request {
  payloads: Payload[];
  request_meta: RequestMeta;
  errors: ErrorRecord[];
}

/** The result document of one scan. */
export interface StoqResponse {
  results: PayloadResults[];
  request_meta: RequestMeta;
  errors: ErrorRecord[];
  time: string;
  decorators: Record<string, unknown>;
  scan_id: string;
}

/** Builds a `PayloadResults` with stoQ's key order and defaults. */
export function newPayloadResults(
  size: number,
  meta: PayloadMeta,
  extractedFrom: string[] = [],
  extractedBy: string[] = [],
): PayloadResults {
  return {
    size,
    payload_id: crypto.randomUUID(),
    payload_meta: meta,
    plugins_run: { workers: [], archivers: [] },
    extracted_from: extractedFrom,
    extracted_by: extractedBy,
    workers: {},
    archivers: {},
  };
}

/** Builds an error record with stoQ's key order. */
export function errorRecord(
  error: string,
  plugin_name: string | null = null,
  payload_id: string | null = null,
): ErrorRecord {
  return { error, plugin_name, payload_id };
}
