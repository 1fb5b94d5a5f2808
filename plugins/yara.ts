/**
 * YARA-X matching (stoQ's `yara`): as a worker it reports every worker-rule match, and a finding
 * for each matching rule whose meta says its `severity`; as a dispatcher it routes payloads by dispatch rules' `meta.plugin`, stops archiving on
 * `meta.save = "false"` and derives XOR keys from `xor_plaintext_for_string_<id>` meta.
 */
import type { Finding, Payload, Severity, StoqAPI } from "../core/engine/plugin.ts";
import { resolveRules } from "./lib/yara/bundled_rules.ts";
import {
  type CompiledRules,
  compileRules,
  describeProblem,
  type RuleMatch,
} from "./lib/yara/rules.ts";

const XOR_PREFIX = "xor_plaintext_for_string_";

export default (stoq: StoqAPI) => {
  const z = stoq.z;
  const paths = (def: string[]) =>
    z.array(z.string().min(1, "a path must not be empty")).default(def);
  return stoq.plugin({
    name: "yara",
    version: "1.0.0",
    description: "Matches YARA-X rules (worker) and routes payloads by rule meta (dispatcher)",
    classes: ["worker", "dispatcher"],
    options: {
      worker_rules: paths(["builtin:stoq.yar"]),
      dispatch_rules: paths(["builtin:dispatch.yar"]),
      strings_limit: z.number().int().min(0).default(100),
      string_bytes: z.number().int().min(0).default(64),
      xor_first_match: z.boolean().default(true),
    },
    async create(opts, ctx) {
      const load = async (what: string, list: string[]): Promise<CompiledRules | undefined> => {
        if (!list.length) return undefined;
        const { sources, problems } = await resolveRules(list);
        const rules = await compileRules(sources);
        const all = [...problems, ...rules.problems];
        for (const p of all) ctx.log.error(`${what} rule file skipped: ${describeProblem(p)}`);
        if (!rules.loaded.length) {
          throw new Error(
            `yara: none of the ${what} rules loaded (${all.map(describeProblem).join("; ")})`,
          );
        }
        return rules;
      };
      const worker = await load("worker", opts.worker_rules);
      const dispatch = await load("dispatch", opts.dispatch_rules);

      /** A match in stoQ's shape: strings are `[offset, identifier, matched bytes]`. */
      const report = (m: RuleMatch, content: Uint8Array) => ({
        tags: m.tags,
        namespace: m.namespace,
        rule: m.rule,
        meta: m.meta as Record<string, unknown>,
        strings: m.strings.slice(0, opts.strings_limit).map((s) =>
          [
            s.offset,
            s.identifier,
            content.subarray(s.offset, s.offset + Math.min(s.length, opts.string_bytes)),
          ] as [number, string, Uint8Array]
        ),
      });

      const warned = new Set<string>();
      const badSeverity = (m: RuleMatch) => {
        if (warned.has(m.rule) || warned.size > 1000) return;
        warned.add(m.rule);
        ctx.log.warn(
          `rule ${m.rule}: meta.severity ${JSON.stringify(m.meta.severity)} is none of ` +
            `${SEVERITIES.join(", ")}: the match is reported, but not as a finding`,
        );
      };

      return {
        dispatch_targets: dispatch ? targetsOf(dispatch) : [],
        scan(payload: Payload) {
          if (!worker) return { errors: ["yara: no worker_rules configured"] };
          const found = worker.scan(payload.content);
          const findings: Finding[] = [];
          for (const m of found) {
            const f = findingOf(m);
            if (f) findings.push(f);
            else if (m.meta.severity !== undefined) badSeverity(m);
          }
          return {
            results: { matches: found.map((m) => report(m, payload.content)), findings },
          };
        },
        get_dispatches(payload: Payload) {
          if (!dispatch) return null;
          const plugin_names: string[] = [];
          const meta: Record<string, unknown> = {};
          for (const m of dispatch.scan(payload.content)) {
            const match = report(m, payload.content);
            if (String(m.meta.save ?? "").trim().toLowerCase() === "false") {
              payload.results.payload_meta.should_archive = false;
            }
            const names = pluginNames(m);
            if (names.includes("xordecode")) {
              addXorKey(match, m, payload.content, opts.xor_first_match);
            }
            for (const name of names) {
              if (!plugin_names.includes(name)) plugin_names.push(name);
              meta[name] = match;
            }
          }
          return { plugin_names, meta };
        },
        explain(payload: Payload) {
          const found = dispatch ? dispatch.scan(payload.content) : [];
          return {
            facts: { matching_dispatch_rules: found.map((m) => m.rule) },
            rules: found.map((m) => ({
              name: m.rule,
              workers: pluginNames(m),
              matched: true,
              why: [
                `rule ${m.rule} (${m.namespace}) matched; meta.plugin = ${
                  JSON.stringify(m.meta.plugin ?? "")
                }`,
              ],
            })),
          };
        },
      };
    },
  });
};

const SEVERITIES: readonly Severity[] = ["info", "low", "medium", "high", "critical"];

/**
 * A match as a finding, when its rule's meta names a `severity`: id from the rule name, title
 * from `description`, ATT&CK ids from `mitre` (or `attack`), the first strings as evidence.
 */
export function findingOf(m: RuleMatch): Finding | undefined {
  const severity = String(m.meta.severity ?? "").trim().toLowerCase() as Severity;
  if (!SEVERITIES.includes(severity)) return undefined;
  const id = m.rule.toLowerCase().replace(/[^a-z0-9_.-]/g, "_").replace(/^[^a-z0-9]+/, "");
  const where = m.strings.slice(0, 3).map((s) => `${s.identifier} at 0x${s.offset.toString(16)}`);
  if (m.strings.length > 3) where.push(`${m.strings.length - 3} more`);
  const described = typeof m.meta.description === "string" ? m.meta.description.trim() : "";
  const f: Finding = {
    id: id || "rule",
    severity,
    title: described || `YARA rule ${m.rule} matched`,
    detail: `${m.rule} (${m.namespace}) matched` + (where.length ? `: ${where.join(", ")}` : ""),
  };
  const mitre = String(m.meta.mitre ?? m.meta.attack ?? "").split(/[\s,;]+/)
    .filter((t) => /^T[A]?\d{4}(?:\.\d{3})?$/.test(t));
  if (mitre.length) f.mitre = mitre;
  return f;
}

/** Worker names in a rule's `meta.plugin` ("a, b"), lower-cased as stoQ does. */
function pluginNames(m: RuleMatch): string[] {
  const raw = m.meta.plugin;
  if (typeof raw !== "string") return [];
  return [...new Set(raw.toLowerCase().split(",").map((p) => p.trim()).filter(Boolean))];
}

/** Every worker any dispatch rule can name, so the engine can load and check them up front. */
function targetsOf(rules: CompiledRules): string[] {
  const names = rules.metaValues("plugin").flatMap((v) => v.toLowerCase().split(","));
  return [...new Set(names.map((n) => n.trim()).filter(Boolean))];
}

/**
 * stoQ's XOR key recovery: the matched bytes XOR the plaintext named in meta give the key.
 * With `first`, the first key found becomes `meta.xorkey`; otherwise every key goes to
 * `meta.xor_info` as `[offset, identifier, key]`. Unlike stoQ, a multi-byte key is rotated
 * to start at file offset 0, which is where xordecode applies it.
 */
function addXorKey(
  match: { meta: Record<string, unknown> },
  m: RuleMatch,
  content: Uint8Array,
  first: boolean,
): void {
  const plaintexts = new Map<string, Uint8Array>();
  for (const [k, v] of Object.entries(m.meta)) {
    if (k.startsWith(XOR_PREFIX) && typeof v === "string" && v) {
      plaintexts.set(`$${k.slice(XOR_PREFIX.length)}`, new TextEncoder().encode(v));
    }
  }
  if (!plaintexts.size) return;
  const info: [number, string, number[]][] = [];
  for (const s of m.strings) {
    const plain = plaintexts.get(s.identifier);
    if (!plain || plain.length !== s.length) continue;
    const key = periodicKey(content.subarray(s.offset, s.offset + s.length), plain);
    if (!key) continue;
    const aligned = key.map((_, j) => key[(j - (s.offset % key.length) + key.length) % key.length]);
    if (first) {
      match.meta.xorkey = aligned.join(",");
      return;
    }
    info.push([s.offset, s.identifier, aligned]);
  }
  if (info.length) match.meta.xor_info = info;
}

/** The shortest repeating key that turns `plain` into `cipher`, if one is shorter than both. */
export function periodicKey(cipher: Uint8Array, plain: Uint8Array): number[] | undefined {
  const stream = Array.from(plain, (b, i) => b ^ cipher[i]);
  for (let n = 1; n < stream.length; n++) {
    if (stream.every((b, i) => b === stream[i % n])) return stream.slice(0, n);
  }
  return undefined;
}
