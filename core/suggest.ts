/** "Did you mean …?" for names, and readable zod validation messages. */
// The ESM build: the package's "main" is CommonJS, which costs start-up time under Deno.
import { distance } from "fastest-levenshtein/esm/mod.js";
import type { z } from "zod";

/** The candidate closest to `word`, when it is close enough to be a likely typo. */
export function nearest(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  const w = word.toLowerCase();
  for (const c of candidates) {
    const d = distance(w, c.toLowerCase());
    if (d < bestD) {
      best = c;
      bestD = d;
    }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

/** `" (did you mean "x"?)"` or "". */
export function didYouMean(word: string, candidates: Iterable<string>): string {
  const n = nearest(word, candidates);
  return n ? ` (did you mean "${n}"?)` : "";
}

interface SchemaDef {
  type?: string;
  shape?: Record<string, unknown>;
  innerType?: unknown;
  element?: unknown;
  in?: unknown;
}

function defOf(schema: unknown): SchemaDef {
  return ((schema as { _zod?: { def?: SchemaDef } })?._zod?.def) ?? {};
}

/** The keys of the object schema found at `path` inside `schema` (for "valid options" hints). */
export function keysAt(schema: unknown, path: PropertyKey[]): string[] {
  let cur = schema;
  const rest = [...path];
  for (let guard = 0; guard < 64; guard++) {
    const def = defOf(cur);
    if (def.innerType) cur = def.innerType;
    else if (def.type === "pipe") cur = def.in;
    else if (rest.length === 0) return def.shape ? Object.keys(def.shape) : [];
    else if (def.type === "array") {
      rest.shift();
      cur = def.element;
    } else if (def.shape) cur = def.shape[String(rest.shift())];
    else return [];
  }
  return [];
}

/** Turns zod issues into one line per problem, naming `where` and the option path. */
export function describeIssues(
  error: z.ZodError,
  where: string,
  validKeys: (path: PropertyKey[]) => string[],
): string {
  const lines: string[] = [];
  for (const issue of error.issues) {
    const path = issue.path.map(String).join(".");
    if (issue.code === "unrecognized_keys") {
      const valid = validKeys(issue.path);
      for (const key of issue.keys) {
        const full = path ? `${path}.${key}` : key;
        lines.push(
          `${where}: unknown option "${full}"${didYouMean(key, valid)}; valid options: ${
            valid.join(", ") || "(none)"
          }`,
        );
      }
      continue;
    }
    const got = "input" in issue && issue.input !== undefined
      ? ` (got ${JSON.stringify(issue.input)?.slice(0, 80)})`
      : "";
    lines.push(`${where}: option "${path || "(root)"}": ${issue.message}${got}`);
  }
  return lines.join("\n");
}
