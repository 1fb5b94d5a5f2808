/**
 * YARA-X matching (stoQ's `yara`): as a worker it reports every worker-rule match, and a finding
 * for each matching rule whose meta says its `severity`; as a dispatcher it routes payloads by
 * dispatch rules' `meta.plugin`, stops archiving on `meta.save = "false"` and derives XOR keys
 * from `xor_plaintext_for_string_<id>` meta.
 * The rules are compiled once per process, in its shared part (main thread), which every scan
 * thread's instance calls; a payload of up to 64 KiB is scanned there with the thread's scanner,
 * larger ones on native threads (lib/yara/rules.ts), all under YARA-X's own time budget.
 */
import type { z as zod } from "zod";
import type {
  CallContext,
  Finding,
  Payload,
  PluginContext,
  Severity,
  SharedLink,
  SharedPart,
  StoqAPI,
} from "../core/engine/plugin.ts";
import { detectFor } from "./lib/magic/magic.ts";
import { CHECK_HELP, rulesCheck } from "./lib/yara/check.ts";
import type { RuleSet } from "./lib/yara/compile.ts";
import { misread, payloadExternals } from "./lib/yara/externals.ts";
import {
  loadRuleSet,
  loadRuleSets,
  logReport,
  noRulesReason,
  type RuleMatch,
  scanAsync,
  type ScanOutcome,
  scanParts,
} from "./lib/yara/rules.ts";

const XOR_PREFIX = "xor_plaintext_for_string_";
/** Matched strings a dispatch match keeps for XOR key recovery. */
const DISPATCH_STRINGS = 1000;

const ROLES = ["worker", "dispatch"] as const;
type Role = typeof ROLES[number];
/** One scan's outcome for each role that has rules. */
type Scanned = Partial<Record<Role, ScanOutcome>>;

/** What the shared part tells each instance. */
interface Described {
  worker: boolean;
  dispatch: { targets: string[] } | null;
}

export default (stoq: StoqAPI) => {
  const z = stoq.z;
  const paths = (def: string[]) =>
    z.array(z.string().min(1, "a path must not be empty")).default(def);
  const options = {
    worker_rules: paths(["builtin:stoq.yar"]),
    dispatch_rules: paths(["builtin:dispatch.yar"]),
    externals: z.record(
      z.string().regex(/^[A-Za-z_]\w*$/, "an external variable's name is a YARA identifier"),
      z.union([
        z.string().refine((v) => !misread(v), {
          error: "YARA-X's binding reads this text as a number or true/false: give it as one",
        }),
        z.number(),
        z.boolean(),
      ]),
    ).default({}),
    scan_timeout: z.number().positive().max(86400).default(30),
    compiled_cache: z.boolean().default(true),
    strings_limit: z.number().int().min(0).default(100),
    string_bytes: z.number().int().min(0).default(64),
    xor_first_match: z.boolean().default(true),
  };
  type Options = zod.output<zod.ZodObject<typeof options>>;

  /**
   * Compiles both rule sets as one (once per process), so that one YARA-X pass over a payload
   * serves the worker and the dispatcher, and scans for every scan thread's instance.
   */
  async function shared(opts: Options, ctx: PluginContext): Promise<SharedPart> {
    const cacheDir = opts.compiled_cache ? `${ctx.home}/cache/yara` : undefined;
    const wanted = ROLES.filter((r) => opts[`${r}_rules`].length);
    const sets = await loadRuleSets(
      wanted.map((r) => ({ option: `${r}_rules`, paths: opts[`${r}_rules`] })),
      { externals: opts.externals, cacheDir },
    );
    const byRole = new Map<Role, RuleSet>();
    wanted.forEach((role, i) => {
      const list = opts[`${role}_rules`];
      const set = sets[i];
      logReport(ctx.log, `${role} rules`, list, set, "[yara] externals");
      if (!set.rules) throw new Error(`none of the ${role} rules loaded (${noRulesReason(set)})`);
      set.rules.setTimeout(opts.scan_timeout * 1000);
      byRole.set(role, set);
    });
    const worker = byRole.get("worker");
    const dispatch = byRole.get("dispatch");
    const described: Described = {
      worker: worker !== undefined,
      dispatch: dispatch ? { targets: targetsOf(dispatch) } : null,
    };
    // Each role's rules compiled alone, only once a scan of both timed out: slow worker rules
    // must not cost a payload its dispatch matches (nor slow dispatch rules its worker matches).
    let alone: Promise<RuleSet[]> | undefined;
    const separately = () =>
      alone ??= Promise.all(wanted.map(async (role) => {
        const set = await loadRuleSet(`${role}_rules`, opts[`${role}_rules`], {
          externals: opts.externals,
          cacheDir,
        });
        set.rules?.setTimeout(opts.scan_timeout * 1000);
        return set;
      }));
    const scanBoth = async (
      data: Uint8Array,
      vars: Record<string, string>,
      limits: Record<Role, number>,
    ): Promise<Scanned> => {
      let outs = await scanParts(sets, data, vars, wanted.map((r) => limits[r]));
      if (wanted.length > 1 && outs.some((o) => "timed_out" in o)) {
        const own = await separately();
        outs = await Promise.all(
          own.map((set, i) => scanAsync(set, data, vars, limits[wanted[i]])),
        );
      }
      return Object.fromEntries(wanted.map((r, i) => [r, outs[i]])) as Scanned;
    };
    return {
      call(method, args) {
        if (method === "describe") return described;
        if (method !== "scan") throw new Error(`yara: no such call: ${method}`);
        const [data, vars, limits] = args as [
          Uint8Array,
          Record<string, string>,
          Record<Role, number>,
        ];
        return scanBoth(data, vars, limits);
      },
    };
  }

  return stoq.plugin({
    name: "yara",
    version: "2.0.0",
    description: "Matches YARA-X rules (worker) and routes payloads by rule meta (dispatcher)",
    classes: ["worker", "dispatcher"],
    options,
    shared,
    commands: [{
      name: "rules check",
      summary: "say what YARA rule files load, what is skipped and why, and the warnings",
      help: CHECK_HELP,
      run: ({ words, json }, opts, ctx) => {
        if (!words.length) {
          ctx.log.error(
            "stoq rules check needs one or more rule files or folders (stoq rules check --help)",
          );
          return 2;
        }
        return rulesCheck(words, opts.externals, json, ctx.write);
      },
    }],
    async create(opts, ctx) {
      // Outside an engine (a test, a sandbox) the instance builds the shared part itself.
      const part = ctx.shared ? undefined : await shared(opts, ctx);
      const link: SharedLink = ctx.shared ??
        {
          direct: true,
          call: async (method, args = []) => await part!.call(method, args) as never,
        };
      const info = await link.call<Described>("describe");
      const wantsType = typeof opts.externals.filetype === "string";

      // One scan per payload content (and external values) serves the worker, the dispatcher
      // and explain, in every round: the content never changes.
      const scans = new WeakMap<Uint8Array, Map<string, Promise<Scanned>>>();
      const limits: Record<Role, number> = {
        worker: opts.strings_limit,
        dispatch: DISPATCH_STRINGS,
      };

      /** The payload's matches for `role`, scanned in the shared part once per content. */
      const scan = async (role: Role, payload: Payload, call?: CallContext) => {
        const facts = {
          extra_data: payload.results.payload_meta.extra_data,
          detectedExtension: wantsType ? (await detectFor(payload, call)).extension : null,
        };
        const { values, unset } = payloadExternals(opts.externals, facts);
        let byVars = scans.get(payload.content);
        if (!byVars) scans.set(payload.content, byVars = new Map());
        const key = JSON.stringify(values);
        let pending = byVars.get(key);
        if (!pending) {
          // In this thread the content itself; for the main thread a copy of its own, moved (not
          // copied again) there.
          const data = link.direct ? payload.content : new Uint8Array(payload.content);
          pending = link.call<Scanned>(
            "scan",
            [data, values, limits],
            link.direct ? [] : [data.buffer as ArrayBuffer],
          );
          byVars.set(key, pending);
          // A failed call is not kept: the next question asks again.
          pending.catch(() => byVars!.delete(key));
        }
        const out = (await pending)[role] ?? { matches: [] };
        return { out, unset };
      };
      const timedOut = (payload: Payload, which: string) =>
        `yara: the ${which} rules timed out after ${opts.scan_timeout} s (scan_timeout) on this ` +
        `${payload.content.length}-byte payload; YARA-X reports no partial matches. The other ` +
        `payloads keep their results`;

      /** A match in stoQ's shape: strings are `[offset, identifier, matched bytes]`. */
      const report = (m: RuleMatch, content: Uint8Array) => ({
        tags: m.tags,
        namespace: m.namespace,
        rule: m.rule,
        meta: m.meta,
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
        dispatch_targets: info.dispatch?.targets ?? [],
        async scan(payload: Payload, _request, call) {
          if (!info.worker) return { errors: ["yara: no worker_rules configured"] };
          const { out, unset } = await scan("worker", payload, call);
          // Externals the binding cannot take as text (a file named "123"): the rules saw the
          // configured value, which the result says.
          const note = unset.length ? { externals_not_set: unset } : {};
          if ("timed_out" in out) {
            return {
              results: { matches: [], timed_out: true, ...note },
              errors: [timedOut(payload, "worker")],
            };
          }
          const findings: Finding[] = [];
          for (const m of out.matches) {
            const f = findingOf(m);
            if (f) findings.push(f);
            else if (m.meta.severity !== undefined) badSeverity(m);
          }
          return {
            results: {
              matches: out.matches.map((m) => report(m, payload.content)),
              findings,
              ...note,
            },
          };
        },
        async get_dispatches(payload: Payload, _request, call) {
          if (!info.dispatch) return null;
          const { out } = await scan("dispatch", payload, call);
          if ("timed_out" in out) return { errors: [timedOut(payload, "dispatch")] };
          const plugin_names: string[] = [];
          const meta: Record<string, unknown> = {};
          for (const m of out.matches) {
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
        async explain(payload: Payload, _request, call) {
          const out = info.dispatch
            ? (await scan("dispatch", payload, call)).out
            : { matches: [] as RuleMatch[] };
          const found = "timed_out" in out ? [] : out.matches;
          return {
            facts: {
              matching_dispatch_rules: found.map((m) => m.rule),
              ...("timed_out" in out ? { timed_out: true } : {}),
            },
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
function targetsOf(rules: RuleSet): string[] {
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
