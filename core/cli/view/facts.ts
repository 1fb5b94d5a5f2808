/**
 * What the human views (the tree, `stoq search --summary`, the web API's scan list) read from a
 * result document: each payload's name, type, size, hashes, findings, YARA rules and IOCs, and
 * the scan's verdict. A document may come from a file or a store, so nothing here trusts its
 * shape: a missing or odd field is left out, never a crash.
 */
import {
  type Finding,
  FindingSchema,
  type StoqResponse,
  type Verdict,
  VerdictSchema,
} from "../../engine/model.ts";

/** A result document as read from anywhere: every field checked before use. */
export type AnyDoc = Partial<StoqResponse>;
type Entry = StoqResponse["results"][number];

const MAX_LIST = 1000;

function rec(v: unknown): Record<string, unknown> | undefined {
  return v && typeof v === "object" && !Array.isArray(v) ? v as Record<string, unknown> : undefined;
}

function str(v: unknown): string | undefined {
  return typeof v === "string" && v !== "" ? v : undefined;
}

/** The payloads of a document (entries that are not objects are dropped). */
export function payloads(doc: AnyDoc): Entry[] {
  const list = Array.isArray(doc.results) ? doc.results : [];
  return list.filter((p): p is Entry => rec(p) !== undefined);
}

/** A worker's results on a payload, when they are an object. */
export function worker(p: Entry, name: string): Record<string, unknown> | undefined {
  return rec(rec(p.workers)?.[name]);
}

/** The payload's name (`extra_data.filename`), if it has one. */
export function nameOf(p: Entry): string | undefined {
  return str(rec(rec(p.payload_meta)?.extra_data)?.filename);
}

/** The payload's MIME type, from the mimetype worker. */
export function typeOf(p: Entry): string | undefined {
  return str(worker(p, "mimetype")?.mimetype);
}

/** The payload's sha256, from the hash worker. */
export function sha256Of(p: Entry): string | undefined {
  const h = str(worker(p, "hash")?.sha256);
  return h && /^[0-9a-f]{64}$/i.test(h) ? h.toLowerCase() : undefined;
}

/** The payload's size in bytes. */
export function sizeOf(p: Entry): number | undefined {
  return typeof p.size === "number" && Number.isFinite(p.size) ? p.size : undefined;
}

/** A finding with the plugin that reported it. */
export type PluginFinding = Finding & { plugin: string };

/** Every well-formed finding of a payload, most severe first, with its plugin's name. */
export function findingsOf(p: Entry): PluginFinding[] {
  const out: PluginFinding[] = [];
  for (const [plugin, result] of Object.entries(rec(p.workers) ?? {})) {
    const list = rec(result)?.findings;
    if (!Array.isArray(list)) continue;
    for (const f of list.slice(0, MAX_LIST)) {
      const ok = FindingSchema.safeParse(f);
      if (ok.success) out.push({ plugin, ...ok.data });
    }
  }
  const rank = ["critical", "high", "medium", "low", "info"];
  return out.sort((a, b) => rank.indexOf(a.severity) - rank.indexOf(b.severity));
}

/** The YARA rules that matched the payload (yara worker), each once. */
export function rulesOf(p: Entry): string[] {
  const matches = worker(p, "yara")?.matches;
  if (!Array.isArray(matches)) return [];
  const rules = new Set<string>();
  for (const m of matches.slice(0, MAX_LIST)) {
    const r = str(rec(m)?.rule);
    if (r) rules.add(r);
  }
  return [...rules];
}

/** The IOCs iocextract found in the payload: type → values. */
export function iocsOf(p: Entry): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [type, values] of Object.entries(worker(p, "iocextract") ?? {})) {
    if (!Array.isArray(values)) continue;
    const list = values.filter((v): v is string => typeof v === "string").slice(0, MAX_LIST);
    if (list.length) out[type] = list;
  }
  return out;
}

/** The verdict decorator's verdict, when the document has a well-formed one. */
export function verdictOf(doc: AnyDoc): Verdict | undefined {
  const v = VerdictSchema.safeParse(rec(doc.decorators)?.verdict);
  return v.success ? v.data : undefined;
}

/** One line's worth of a stored scan, for lists (search --summary, the web page). */
export interface ScanSummary {
  scan_id: string;
  time: string;
  payloads: number;
  errors: number;
  filename: string | null;
  sha256: string | null;
  mimetype: string | null;
  size: number | null;
  rules: string[];
  verdict: string | null;
  score: number | null;
}

/** The summary of a result document. */
export function summarize(doc: AnyDoc): ScanSummary {
  const all = payloads(doc);
  const root = all[0];
  const rules = new Set<string>();
  for (const p of all) for (const r of rulesOf(p)) rules.add(r);
  const v = verdictOf(doc);
  return {
    scan_id: str(doc.scan_id) ?? "",
    time: str(doc.time) ?? "",
    payloads: all.length,
    errors: Array.isArray(doc.errors) ? doc.errors.length : 0,
    filename: (root && nameOf(root)) ?? null,
    sha256: (root && sha256Of(root)) ?? null,
    mimetype: (root && typeOf(root)) ?? null,
    size: (root && sizeOf(root)) ?? null,
    rules: [...rules],
    verdict: v?.verdict ?? null,
    score: v?.score ?? null,
  };
}
