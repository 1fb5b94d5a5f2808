/** Shared by the html, javascript, powershell, vbscript and batch tests. */
import { ok } from "node:assert/strict";
import type { PluginFactory, WorkerResponse } from "../../core/engine/plugin.ts";
import { instantiate, makePayload, makeRequest, sha256 } from "../helpers.ts";

/** Result values as JSON gives them; the tests check them value by value. */
// deno-lint-ignore no-explicit-any
export type Json = any;

/** What a script analyzer returns, with results typed loosely for the tests. */
export interface Scanned {
  results: Record<string, Json> & { findings: { id: string; severity: string }[] };
  extracted: { content: Uint8Array; payload_meta: { extra_data: Record<string, unknown> } }[];
  errors: string[];
}

/** Scans `content` with a fresh instance of `plugin`. */
export async function scanWith(
  plugin: PluginFactory,
  content: Uint8Array | string,
  options: Record<string, unknown> = {},
): Promise<Scanned> {
  const { instance, call } = await instantiate(plugin, options);
  const p = makePayload(content);
  const res = (await instance.scan!(p, makeRequest(p), call)) as WorkerResponse;
  return res as unknown as Scanned;
}

/** The child named `filename`; fails when there is none. */
export function child(res: Scanned, filename: string) {
  const c = res.extracted.find((e) => e.payload_meta.extra_data.filename === filename);
  ok(
    c,
    `no child ${filename} among ${res.extracted.map((e) => e.payload_meta.extra_data.filename)}`,
  );
  return { ...c, text: new TextDecoder().decode(c.content), sha256: sha256(c.content) };
}

/** The finding ids, sorted. */
export const findingIds = (res: Scanned) => res.results.findings.map((f) => f.id).sort();

/**
 * Truncated and corrupted copies of `data` (cut at several points, bytes overwritten with
 * pseudo-random values): an analyzer must return a result for each, never throw.
 */
export function damagedCopies(data: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const f of [0.1, 0.25, 0.5, 0.75, 0.9, 0.99]) {
    out.push(data.slice(0, Math.floor(data.length * f)));
  }
  let x = 12345;
  for (let k = 0; k < 6; k++) {
    const copy = data.slice();
    for (let i = 0; i < Math.max(1, copy.length / 50); i++) {
      x = (x * 1103515245 + 12345) >>> 0;
      copy[x % copy.length] = (x >>> 8) & 0xff;
    }
    out.push(copy);
  }
  return out;
}
