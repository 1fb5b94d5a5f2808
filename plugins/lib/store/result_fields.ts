/**
 * The searchable facts of a result document, gathered from the workers that state them: hashes
 * from `hash`, file types from `mimetype`, rule names from `yara`, file names from payload_meta.
 * A store indexes these so that "which scans saw this sha256 / matched this rule" is one lookup.
 */
import type { StoqResponse } from "../../../core/engine/plugin.ts";

/** Distinct values of each searchable fact over every payload of one scan, in first-seen order. */
export interface ResultFields {
  sha256: string[];
  md5: string[];
  mimetypes: string[];
  yara_rules: string[];
  filenames: string[];
}

/** Collects the searchable facts of `response`. Hashes are lower-cased. */
export function resultFields(response: StoqResponse): ResultFields {
  const sets = {
    sha256: new Set<string>(),
    md5: new Set<string>(),
    mimetypes: new Set<string>(),
    yara_rules: new Set<string>(),
    filenames: new Set<string>(),
  };
  for (const r of response.results) {
    const w = r.workers as Record<string, unknown>;
    const hash = record(w.hash);
    addString(sets.sha256, hash?.sha256, true);
    addString(sets.md5, hash?.md5, true);
    addString(sets.mimetypes, record(w.mimetype)?.mimetype);
    const matches = record(w.yara)?.matches;
    if (Array.isArray(matches)) {
      for (const m of matches) addString(sets.yara_rules, record(m)?.rule);
    }
    for (const n of payloadNames(r.payload_meta.extra_data)) sets.filenames.add(n);
  }
  return {
    sha256: [...sets.sha256],
    md5: [...sets.md5],
    mimetypes: [...sets.mimetypes],
    yara_rules: [...sets.yara_rules],
    filenames: [...sets.filenames],
  };
}

/**
 * Every name a payload goes by: `extra_data.filename`, and `filenames` when the same content was
 * extracted under several names.
 */
export function payloadNames(extra: Record<string, unknown> | undefined): string[] {
  const names = new Set<string>();
  addString(names, extra?.filename);
  if (Array.isArray(extra?.filenames)) { for (const n of extra.filenames) addString(names, n); }
  return [...names];
}

function record(v: unknown): Record<string, unknown> | undefined {
  return v && typeof v === "object" && !Array.isArray(v) ? v as Record<string, unknown> : undefined;
}

function addString(set: Set<string>, v: unknown, lower = false): void {
  if (typeof v === "string" && v !== "") set.add(lower ? v.toLowerCase() : v);
}
