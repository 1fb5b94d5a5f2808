/**
 * Views of one result document, as stoQ v3's `StoqResponse.split()` and
 * `reconstruct_all_subresponses` give them, for connectors that index per payload or per subtree.
 */
import type { PayloadResults, StoqResponse } from "./model.ts";

/** One document per (payload, worker result) pair; payloads without worker output give none. */
export function splitResponse(response: StoqResponse): StoqResponse[] {
  const out: StoqResponse[] = [];
  for (const result of response.results) {
    for (const [name, value] of Object.entries(result.workers)) {
      const copy = structuredClone(response);
      copy.results = [{ ...structuredClone(result), workers: { [name]: structuredClone(value) } }];
      out.push(copy);
    }
  }
  return out;
}

/**
 * For each payload, a document holding it and everything extracted from it, directly or not.
 * Unlike stoQ v3, each payload appears once, and children listed before their parent (which
 * de-duplication can cause) are found. Errors of the subtree's payloads are carried over.
 */
export function subresponses(response: StoqResponse): StoqResponse[] {
  const children = new Map<string, PayloadResults[]>();
  for (const r of response.results) {
    for (const parent of new Set(r.extracted_from)) {
      if (parent === r.payload_id) continue;
      const list = children.get(parent) ?? [];
      list.push(r);
      children.set(parent, list);
    }
  }
  return response.results.map((root) => {
    const seen = new Set<string>([root.payload_id]);
    const subtree: PayloadResults[] = [root];
    for (let i = 0; i < subtree.length; i++) {
      for (const child of children.get(subtree[i].payload_id) ?? []) {
        if (seen.has(child.payload_id)) continue;
        seen.add(child.payload_id);
        subtree.push(child);
      }
    }
    const ids = new Set(subtree.map((r) => r.payload_id));
    return {
      results: subtree,
      request_meta: response.request_meta,
      errors: response.errors.filter((e) => e.payload_id !== null && ids.has(e.payload_id)),
      time: response.time,
      decorators: {},
      scan_id: response.scan_id,
    };
  });
}
