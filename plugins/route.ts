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
 * A rule matches a payload when every kind of condition it gives holds — `flavor`, `mime`,
 * `filename`, size — and no `not_flavor` / `not_mime` / `not_filename` pattern matches. Within
 * one list any pattern will do. A rule with no conditions matches every payload.
 * - `flavor`, `not_flavor`: globs on the payload's flavors (as Strelka's tasting): its MIME type
 *   plus the names of the matching typing rules (YARA-X): `typing_head_rules` (built-in:
 *   typing_head.yar) over the first `typing_head_bytes` of the payload, for rules that decide from
 *   its start, and `typing_rules` (built-in: typing.yar) over the whole payload.
 * - `mime`, `not_mime`: globs on the detected MIME type (lib/magic/magic.ts), ignoring case. As in
 *   paths, `*` stops at `/`: `text/*` works, a lone `*` matches nothing.
 * - `filename`, `not_filename`: globs on the base name of `extra_data.filename`, ignoring case.
 *   A payload without a filename fails `filename` and passes `not_filename`.
 * - `min_size` (default 0) ≤ size in bytes ≤ `max_size` (default unbounded).
 *
 * The payload goes to the union of the matched rules' workers, in rule order. Dispatch meta is
 * `{ mimetype, flavors, rules: [names of the matched rules] }` (`flavors` only when some rule
 * tests them). `explain` says, rule by rule, why it did or did not match.
 */
import type { z } from "zod";
import type picomatch from "picomatch";
import type { CallContext, Payload, StoqAPI } from "../core/engine/plugin.ts";
import { detectFor } from "./lib/magic/magic.ts";
import type { RuleSet } from "./lib/yara/compile.ts";
import { loadRuleSet, logReport, scanSync } from "./lib/yara/rules.ts";

/** What conditions are tested against. A new kind of condition adds its fact here. */
interface Facts {
  mimetype: string;
  /** The MIME type, then the names of the matching typing rules. */
  flavors: string[];
  /** Base name of `extra_data.filename`, or null when the payload has none. */
  filename: string | null;
  size: number;
}

/** One condition: whether it holds, and in words why (for `explain`). */
interface Test {
  holds(facts: Facts): boolean;
  why(facts: Facts, held: boolean): string;
}

interface CompiledRule {
  name: string;
  workers: string[];
  /** Each must hold. */
  all: Test[];
  /** None may hold. */
  none: Test[];
  usesFlavors: boolean;
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
    flavor: globs(),
    not_flavor: globs(),
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
    // libmagic, when the mimetype worker's engine is libmagic (see lib/magic/magic.ts).
    tools: { file: "file" },
    options: {
      typing_rules: stoq.z.array(stoq.z.string().min(1)).default(["builtin:typing.yar"]),
      typing_head_rules: stoq.z.array(stoq.z.string().min(1)).default(["builtin:typing_head.yar"]),
      typing_head_bytes: stoq.z.number().int().min(4096).default(256 * 1024),
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
    async create(opts, ctx) {
      const { default: pm } = await import("picomatch");
      const rules = opts.rules.map((rule, i) => compileRule(rule, ruleName(rule, i), pm));
      const union = (list: CompiledRule[]) => [...new Set(list.flatMap((r) => r.workers))];
      // Typing rules are compiled on first need: a pipeline without flavor conditions (and no
      // explain) never pays for them. Head rules and whole-payload rules are two sets because
      // they are scanned over different lengths of the payload.
      let typingRules: Promise<[RuleSet, RuleSet]> | undefined;
      const load = async (option: "typing_head_rules" | "typing_rules", what: string) => {
        const set = await loadRuleSet(option, opts[option], {
          externals: {},
          cacheDir: `${ctx.home}/cache/yara`,
        });
        logReport(ctx.log, what, opts[option], set);
        return set;
      };
      const loadTyping = () =>
        typingRules ??= Promise.all([
          load("typing_head_rules", "typing rules (head)"),
          load("typing_rules", "typing rules"),
        ]);
      const needFlavors = rules.some((r) => r.usesFlavors);
      if (needFlavors) await loadTyping();
      // The typing rules' matches per payload content: a payload is dispatched again after a
      // worker ran on it, and its content has not changed.
      const typed = new WeakMap<Uint8Array, string[]>();
      const typing = async (payload: Payload) => {
        let names = typed.get(payload.content);
        if (!names) {
          const [head, whole] = await loadTyping();
          const start = payload.content.subarray(0, opts.typing_head_bytes);
          names = [
            ...new Set(
              [...scanSync(head, start), ...scanSync(whole, payload.content)].map((m) => m.rule),
            ),
          ];
          typed.set(payload.content, names);
        }
        return names;
      };
      const facts = async (payload: Payload, call: CallContext, flavors: boolean) =>
        factsOf(payload, call, flavors ? await typing(payload) : []);
      return {
        dispatch_targets: union(rules),
        async get_dispatches(payload, _request, call) {
          const f = await facts(payload, call, needFlavors);
          const matched = rules.filter((r) => matches(r, f));
          return {
            plugin_names: union(matched),
            meta: needFlavors
              ? { mimetype: f.mimetype, flavors: f.flavors, rules: matched.map((r) => r.name) }
              : { mimetype: f.mimetype, rules: matched.map((r) => r.name) },
          };
        },
        async explain(payload, _request, call) {
          const f = await facts(payload, call, true);
          return {
            facts: { flavors: f.flavors, filename: f.filename, size: f.size },
            rules: rules.map((r) => ({
              name: r.name,
              workers: r.workers,
              matched: matches(r, f),
              why: [
                ...r.all.map((t) => t.why(f, t.holds(f))),
                ...r.none.map((t) => t.why(f, t.holds(f))),
              ],
            })),
          };
        },
      };
    },
  });

/** Gathers what the rules test about `payload`, given the typing rules it matches. */
async function factsOf(
  payload: Payload,
  call: CallContext,
  typed: string[],
): Promise<Facts> {
  const { filename } = payload.results.payload_meta.extra_data;
  const base = typeof filename === "string"
    ? filename.slice(Math.max(filename.lastIndexOf("/"), filename.lastIndexOf("\\")) + 1)
    : "";
  const { mimetype } = await detectFor(payload, call);
  return {
    mimetype,
    flavors: [mimetype, ...typed.filter((t) => t !== mimetype)],
    filename: base === "" ? null : base,
    size: payload.content.length,
  };
}

/** Whether `rule` holds for a payload with these facts. */
function matches(rule: CompiledRule, facts: Facts): boolean {
  return rule.all.every((t) => t.holds(facts)) && !rule.none.some((t) => t.holds(facts));
}

const list = (patterns: string[]) => patterns.join(", ");

/** The glob conditions: the values each tests, and whether a payload has several (flavors). */
const GLOB_KINDS = {
  flavor: { values: (f: Facts) => f.flavors, many: true },
  mime: { values: (f: Facts) => [f.mimetype], many: false },
  filename: { values: (f: Facts) => f.filename === null ? [] : [f.filename], many: false },
} as const;
type GlobKind = keyof typeof GLOB_KINDS;

/** A test that some value of `kind` matches `patterns` (a `not_<kind>` list when `negated`). */
function globTest(
  kind: GlobKind,
  patterns: string[],
  negated: boolean,
  matcher: (value: string) => boolean,
): Test {
  const { values, many } = GLOB_KINDS[kind];
  const label = negated ? `not_${kind} ${list(patterns)}` : list(patterns);
  const hit = (f: Facts) => values(f).find((v) => matcher(v));
  return {
    holds: (f) => hit(f) !== undefined,
    why: (f) => {
      const v = hit(f);
      if (v !== undefined) return `${kind} ${v} matches ${label}`;
      if (many) return `no ${kind} matches ${label}`;
      const [only] = values(f);
      if (only === undefined) {
        return negated ? `no ${kind}, so ${label} cannot match` : `no ${kind} to match ${label}`;
      }
      return `${kind} ${only} matches none of ${label}`;
    },
  };
}

/** Turns one rule's options into tests; this is the one place that knows condition kinds. */
function compileRule(rule: RuleOptions, name: string, pm: typeof picomatch): CompiledRule {
  const all: Test[] = [];
  const none: Test[] = [];
  const glob = (patterns: string[]) => pm(patterns, { nocase: true, dot: true });
  for (const kind of Object.keys(GLOB_KINDS) as GlobKind[]) {
    const yes = rule[kind];
    const no = rule[`not_${kind}`];
    if (yes.length) all.push(globTest(kind, yes, false, glob(yes)));
    if (no.length) none.push(globTest(kind, no, true, glob(no)));
  }
  const { min_size: min, max_size: max = Infinity } = rule;
  if (min > 0 || max < Infinity) {
    all.push({
      holds: (f) => f.size >= min && f.size <= max,
      why: (f, held) =>
        `size ${f.size} is ${held ? "within" : "outside"} ${min}..${max === Infinity ? "" : max}`,
    });
  }
  const usesFlavors = rule.flavor.length > 0 || rule.not_flavor.length > 0;
  return { name, workers: rule.workers, all, none, usesFlavors };
}
