/**
 * YARA-X rule sets: read from files, folders or embedded text, compiled once per process, with
 * every broken file reported by path, line and message while the good files still load.
 */

/** One source of rules: a file's path (or a name like `builtin:typing.yar`) and its text. */
export interface RuleSource {
  name: string;
  text: string;
}

/** A rule file that could not be read or compiled, and why. */
export interface RuleProblem {
  file: string;
  line?: number;
  message: string;
}

/** One matched string of a rule. */
export interface StringMatch {
  identifier: string;
  offset: number;
  length: number;
}

/** One matching rule. */
export interface RuleMatch {
  rule: string;
  /** Base name of the file the rule came from. */
  namespace: string;
  tags: string[];
  meta: Record<string, unknown>;
  strings: StringMatch[];
}

/** A compiled set of rules, ready to scan bytes. */
export interface CompiledRules {
  scan(data: Uint8Array): RuleMatch[];
  /** Names of the sources that compiled. */
  loaded: string[];
  problems: RuleProblem[];
  ruleCount: number;
  /** Every string value the loaded rules give the meta key `key` (read from the rule text). */
  metaValues(key: string): string[];
}

interface YaraxMatch {
  ruleIdentifier: string;
  meta: Record<string, unknown>;
  tags: string[];
  matches: { offset: number; length: number; identifier: string }[];
}
interface YaraxRules {
  scan(data: Uint8Array): YaraxMatch[];
  setMaxMatchesPerPattern(n: number): void;
}
interface YaraxModule {
  compile(src: string, options?: object): YaraxRules;
  validate(src: string, options?: object): { errors: { message: string }[] };
}

const RULE_FILE = /\.(yar|yara)$/i;

/**
 * Reads rule files and folders (`*.yar`/`*.yara`, recursively, in name order). Unreadable paths
 * become problems instead of errors, so one missing file does not blind the scanner.
 */
export async function readRuleSources(
  paths: string[],
): Promise<{ sources: RuleSource[]; problems: RuleProblem[] }> {
  const sources: RuleSource[] = [];
  const problems: RuleProblem[] = [];
  const visit = async (path: string, top: boolean): Promise<void> => {
    try {
      const info = await Deno.stat(path);
      if (info.isDirectory) {
        const names: string[] = [];
        for await (const e of Deno.readDir(path)) names.push(e.name);
        const before = sources.length;
        for (const name of names.sort()) {
          const child = `${path.replace(/\/+$/, "")}/${name}`;
          const st = await Deno.stat(child).catch(() => null);
          if (st?.isDirectory || (st?.isFile && RULE_FILE.test(name))) await visit(child, false);
        }
        if (top && sources.length === before) {
          problems.push({ file: path, message: "folder holds no .yar or .yara files" });
        }
      } else {
        sources.push({ name: path, text: await Deno.readTextFile(path) });
      }
    } catch (e) {
      const why = e instanceof Deno.errors.NotFound
        ? "no such file or folder"
        : e instanceof Error
        ? e.message
        : String(e);
      problems.push({ file: path, message: `cannot read rules: ${why}` });
    }
  };
  for (const p of paths) await visit(p, true);
  return { sources, problems };
}

/** Splits a YARA-X diagnostic into its first line and the line number it points at. */
function diagnostic(file: string, message: string): RuleProblem {
  const at = /-->\s*line:(\d+):\d+/.exec(message);
  const first = message.split("\n")[0].replace(/^error\[\w+\]:\s*/, "");
  return at ? { file, line: Number(at[1]), message: first } : { file, message: first };
}

/**
 * YARA-X 0.3.0's binding returns boolean meta values as the string "unknown"; this recovers
 * them from the rule text (`name = true|false` inside the rule's meta section).
 */
function booleanMetas(text: string): Map<string, Map<string, boolean>> {
  const out = new Map<string, Map<string, boolean>>();
  const rule = /\brule\s+(\w+)[^{]*\{\s*meta\s*:([\s\S]*?)\b(?:strings|condition)\s*:/g;
  for (const m of text.matchAll(rule)) {
    const metas = new Map<string, boolean>();
    for (const b of m[2].matchAll(/^\s*(\w+)\s*=\s*(true|false)\s*$/gm)) {
      metas.set(b[1], b[2] === "true");
    }
    if (metas.size) out.set(m[1], metas);
  }
  return out;
}

const baseName = (name: string) => name.slice(name.lastIndexOf("/") + 1);

const cache = new Map<string, Promise<CompiledRules>>();

/**
 * Compiles `sources` into one rule set, at most once per process for the same texts. A source
 * that fails on its own is reported and left out; so is one whose rules clash with an earlier
 * file's (a duplicate rule name).
 */
export function compileRules(sources: RuleSource[]): Promise<CompiledRules> {
  const key = JSON.stringify(sources.map((s) => [s.name, s.text]));
  let compiled = cache.get(key);
  if (!compiled) {
    compiled = build(sources);
    cache.set(key, compiled);
  }
  return compiled;
}

async function build(sources: RuleSource[]): Promise<CompiledRules> {
  const yx = await import("@litko/yara-x") as unknown as YaraxModule;
  const problems: RuleProblem[] = [];
  let good = sources.filter((s) => {
    const errors = yx.validate(s.text).errors;
    for (const e of errors) problems.push(diagnostic(s.name, e.message));
    return errors.length === 0;
  });
  // Each file alone is fine; together they may still clash. Drop the file an error points
  // into and try again, so a clash costs one file, not the whole set.
  let rules: YaraxRules | undefined;
  while (good.length) {
    const starts: number[] = [];
    let line = 1;
    for (const s of good) {
      starts.push(line);
      line += s.text.split("\n").length;
    }
    try {
      rules = yx.compile(good.map((s) => s.text).join("\n"));
      break;
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      const at = /-->\s*line:(\d+)/.exec(msg);
      let idx = good.length - 1;
      if (at) {
        const n = Number(at[1]);
        idx = starts.findLastIndex((start) => start <= n);
      }
      const file = good[idx];
      const problem = diagnostic(file.name, msg.replace(/^Compilation error \(\w+\):\s*/, ""));
      if (at) problem.line = Number(at[1]) - starts[idx] + 1;
      problem.message += " (clashes with an earlier rule file)";
      problems.push(problem);
      good = good.filter((_, i) => i !== idx);
    }
  }
  const origin = new Map<string, string>();
  const bools = new Map<string, Map<string, boolean>>();
  let ruleCount = 0;
  for (const s of good) {
    for (const m of s.text.matchAll(/^\s*(?:(?:private|global)\s+)*rule\s+(\w+)/gm)) {
      origin.set(m[1], baseName(s.name));
      ruleCount++;
    }
    for (const [rule, metas] of booleanMetas(s.text)) bools.set(rule, metas);
  }
  const compiled = rules;
  return {
    loaded: good.map((s) => s.name),
    problems,
    ruleCount,
    metaValues(key) {
      const re = new RegExp(`^\\s*${key}\\s*=\\s*"((?:[^"\\\\]|\\\\.)*)"`, "gm");
      return good.flatMap((s) => [...s.text.matchAll(re)].map((m) => m[1]));
    },
    scan(data) {
      if (!compiled) return [];
      return compiled.scan(data).map((m) => {
        const meta: Record<string, unknown> = { ...m.meta };
        const fix = bools.get(m.ruleIdentifier);
        if (fix) {
          for (const [k, v] of fix) if (meta[k] === "unknown") meta[k] = v;
        }
        return {
          rule: m.ruleIdentifier,
          namespace: origin.get(m.ruleIdentifier) ?? "default",
          tags: m.tags,
          meta,
          strings: m.matches.map(({ identifier, offset, length }) => ({
            identifier,
            offset,
            length,
          })),
        };
      });
    },
  };
}

/** Formats a problem as `file:line: message`. */
export function describeProblem(p: RuleProblem): string {
  return `${p.file}${p.line ? `:${p.line}` : ""}: ${p.message}`;
}
