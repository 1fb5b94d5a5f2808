/**
 * Declarative routing: sends each payload to the workers of the configured rules it matches.
 *
 * ```toml
 * [[route.rules]]
 * name = "archives"               # shown in dispatch meta; default "rule<N>", N counting from 1
 * workers = ["decompress"]        # required
 * mime = ["application/zip", "application/x-*-compressed"]
 * filename = ["*.zip", "*.7z"]
 * max_size = 1073741824
 * ```
 *
 * A rule matches a payload when every kind of condition it gives holds — `mime`, `filename`,
 * size — and no `not_mime` / `not_filename` pattern matches. Within one list any pattern will
 * do. A rule with no conditions matches every payload.
 * - `mime`, `not_mime`: globs on the detected MIME type (lib/magic.ts), ignoring case. As in
 *   paths, `*` stops at `/`: `text/*` works, a lone `*` matches nothing.
 * - `filename`, `not_filename`: globs on the base name of `extra_data.filename`, ignoring case.
 *   A payload without a filename fails `filename` and passes `not_filename`.
 * - `min_size` (default 0) ≤ size in bytes ≤ `max_size` (default unbounded).
 *
 * The payload goes to the union of the matched rules' workers, in rule order. Dispatch meta is
 * `{ mimetype, rules: [names of the matched rules] }`.
 */
import type { z } from "zod";
import type picomatch from "picomatch";
import type { Payload, StoqAPI } from "../core/plugin.ts";
import { detectFor } from "./lib/magic.ts";

/** What conditions are tested against. A new kind of condition adds its fact here. */
interface Facts {
  mimetype: string;
  /** Base name of `extra_data.filename`, or null when the payload has none. */
  filename: string | null;
  size: number;
}

type Test = (facts: Facts) => boolean;

interface CompiledRule {
  name: string;
  workers: string[];
  /** Each must hold. */
  all: Test[];
  /** None may hold. */
  none: Test[];
}

/** The zod schema of one `[[route.rules]]` table. */
function ruleSchema(z: StoqAPI["z"]) {
  // The engine prefixes every message with the option's path, so messages do not repeat it.
  const required = (what: string) => ({
    error: (issue: { input: unknown }) =>
      issue.input === undefined ? `required: ${what}` : undefined,
  });
  const globs = () => z.array(z.string().min(1, "a pattern must not be empty")).default([]);
  const nameGlobs = () =>
    globs().refine((list) => list.every((p) => !p.includes("/")), {
      error: "patterns match the file's base name; drop the directory part",
    });
  const bytes = () =>
    z.number().int("must be a whole number of bytes").min(0, "must be 0 or more bytes");
  return z.strictObject({
    name: z.string().min(1, "must not be empty").optional(),
    workers: z.array(
      z.string().min(1, "a worker name must not be empty"),
      required("the workers this rule dispatches to"),
    ).min(1, "must name at least one worker to dispatch to"),
    mime: globs(),
    not_mime: globs(),
    filename: nameGlobs(),
    not_filename: nameGlobs(),
    min_size: bytes().default(0),
    max_size: bytes().optional(),
  }).refine(
    (r) => r.max_size === undefined || r.min_size <= r.max_size,
    { error: "must not be smaller than min_size", path: ["max_size"] },
  );
}
type RuleOptions = z.output<ReturnType<typeof ruleSchema>>;

const ruleName = (rule: RuleOptions, index: number) => rule.name ?? `rule${index + 1}`;

export default (stoq: StoqAPI) =>
  stoq.plugin({
    name: "route",
    version: "1.0.0",
    description: "Dispatches payloads to workers by MIME type, file name and size rules",
    classes: ["dispatcher"],
    options: {
      rules: stoq.z.array(ruleSchema(stoq.z), {
        error: (issue) =>
          issue.input === undefined
            ? "required: add at least one [[route.rules]] table"
            : undefined,
      }).min(1, "add at least one [[route.rules]] table")
        .superRefine((rules, ctx) => {
          const seen = new Map<string, number>();
          rules.forEach((rule, i) => {
            const name = ruleName(rule, i);
            const first = seen.get(name);
            if (first === undefined) seen.set(name, i);
            else {
              const message = `${
                JSON.stringify(name)
              } is already the name of an earlier rule; rule names must be unique`;
              ctx.addIssue({ code: "custom", path: [i, "name"], message });
            }
          });
        }),
    },
    async create(opts) {
      const { default: pm } = await import("picomatch");
      const rules = opts.rules.map((rule, i) => compileRule(rule, ruleName(rule, i), pm));
      const union = (list: CompiledRule[]) => [...new Set(list.flatMap((r) => r.workers))];
      return {
        dispatch_targets: union(rules),
        async get_dispatches(payload) {
          const facts = await factsOf(payload);
          const matched = rules.filter((r) => matches(r, facts));
          return {
            plugin_names: union(matched),
            meta: { mimetype: facts.mimetype, rules: matched.map((r) => r.name) },
          };
        },
      };
    },
  });

/** Gathers what the rules test about `payload`. */
async function factsOf(payload: Payload): Promise<Facts> {
  const { filename } = payload.results.payload_meta.extra_data;
  const base = typeof filename === "string"
    ? filename.slice(Math.max(filename.lastIndexOf("/"), filename.lastIndexOf("\\")) + 1)
    : "";
  return {
    mimetype: (await detectFor(payload)).mimetype,
    filename: base === "" ? null : base,
    size: payload.content.length,
  };
}

/** Whether `rule` holds for a payload with these facts. */
function matches(rule: CompiledRule, facts: Facts): boolean {
  return rule.all.every((t) => t(facts)) && !rule.none.some((t) => t(facts));
}

/** Turns one rule's options into tests; this is the one place that knows condition kinds. */
function compileRule(rule: RuleOptions, name: string, pm: typeof picomatch): CompiledRule {
  const all: Test[] = [];
  const none: Test[] = [];
  const glob = (patterns: string[]) => pm(patterns, { nocase: true, dot: true });
  if (rule.mime.length) {
    const m = glob(rule.mime);
    all.push((f) => m(f.mimetype));
  }
  if (rule.not_mime.length) {
    const m = glob(rule.not_mime);
    none.push((f) => m(f.mimetype));
  }
  if (rule.filename.length) {
    const m = glob(rule.filename);
    all.push((f) => f.filename !== null && m(f.filename));
  }
  if (rule.not_filename.length) {
    const m = glob(rule.not_filename);
    none.push((f) => f.filename !== null && m(f.filename));
  }
  const { min_size: min, max_size: max = Infinity } = rule;
  if (min > 0 || max < Infinity) all.push((f) => f.size >= min && f.size <= max);
  return { name, workers: rule.workers, all, none };
}
