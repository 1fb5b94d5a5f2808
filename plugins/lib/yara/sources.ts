/**
 * Reading rule sets: the paths an option names (files, folders of `*.yar`/`*.yara` read
 * recursively in name order, `builtin:NAME`, any of them marked `optional:`) become compile units.
 * A unit is one entry file with its `include`s inlined, as YARA itself includes: by text, each
 * path relative to the including file, and (stoq's rule) never outside the folder the user named.
 * A file that another file of the same set includes is loaded through its includer only, so a
 * folder with Yara-Rules' index files loads each rule once.
 */
import { dirname, resolve } from "node:path";
import { BUNDLED_RULES } from "./bundled_rules.ts";

/** One rule file of a unit: where each of the unit's lines came from. */
export interface LineOrigin {
  file: string;
  line: number;
}

/** An entry file with its includes inlined: what is compiled as one YARA-X namespace. */
export interface RuleUnit {
  /** The entry file: a path, or `builtin:NAME`. */
  name: string;
  text: string;
  /** Every file the unit holds: the entry, then what it includes (in include order). */
  files: string[];
  /** Origin of each line of `text` (index 0 is line 1), when the unit includes files. */
  origin?: LineOrigin[];
  /** Problems met while inlining (an include not found, outside the folder, a cycle). */
  problems: RuleProblem[];
}

/** A path that could not be read, or an include that could not be resolved. */
export interface RuleProblem {
  file: string;
  line?: number;
  message: string;
}

/** The units of a rule-set option, problems reading it, and the named paths that do not exist. */
export interface RuleSources {
  units: RuleUnit[];
  problems: RuleProblem[];
  /** Named paths not marked `optional:` that do not exist: the caller fails to start on them. */
  missing: string[];
}

const BUILTIN = "builtin:";
const OPTIONAL = "optional:";
const RULE_FILE = /\.(yar|yara)$/i;
/** An import statement on a line of its own. */
const IMPORT = /^[ \t]*import[ \t]+"(\w+)"[ \t]*$/gm;
/** Include nesting deeper than this is a cycle or a mistake. */
const MAX_INCLUDE_DEPTH = 32;

interface RuleFile {
  path: string;
  text: string;
  /** The folder includes must stay in. */
  root: string;
}

/**
 * Reads the rule files of `paths`. `builtin:NAME` names a rule file shipped in stoq;
 * `optional:PATH` may be missing (it is then left out with a note in `problems`).
 */
export async function readRuleSources(paths: string[]): Promise<RuleSources> {
  const files: RuleFile[] = [];
  const problems: RuleProblem[] = [];
  const missing: string[] = [];
  for (const raw of paths) {
    const optional = raw.startsWith(OPTIONAL);
    const path = optional ? raw.slice(OPTIONAL.length) : raw;
    if (path.startsWith(BUILTIN)) {
      const text = BUNDLED_RULES[path.slice(BUILTIN.length)];
      if (text !== undefined) files.push({ path, text, root: "" });
      else {
        problems.push({
          file: path,
          message: `no such built-in rule file; built-in: ${
            Object.keys(BUNDLED_RULES).map((n) => BUILTIN + n).join(", ")
          }`,
        });
      }
      continue;
    }
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(path);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) {
        problems.push({ file: path, message: `cannot read rules: ${(e as Error).message}` });
      } else if (optional) {
        problems.push({ file: path, message: "optional rule path does not exist: left out" });
      } else missing.push(path);
      continue;
    }
    const root = await realRoot(info.isDirectory ? path : dirname(path));
    const before = files.length;
    await collect(path, info.isDirectory, root, files, problems);
    if (info.isDirectory && files.length === before) {
      problems.push({ file: path, message: "folder holds no .yar or .yara files" });
    }
  }
  // What another file of the set includes is loaded through that file only.
  const included = new Set<string>();
  const texts = new Map(files.map((f) => [resolve(f.path), f.text]));
  for (const f of files) {
    if (!f.root) continue;
    for (const inc of findIncludes(f.text)) {
      included.add(resolve(dirname(f.path), inc.path));
    }
  }
  const units = files
    .filter((f) => !f.root || !included.has(resolve(f.path)))
    .map((f) => inline(f, texts));
  return { units: dropRedundantIndexes(units), problems, missing };
}

const HAS_RULE = /^[ \t]*(?:(?:private|global)[ \t]+)*rule[ \t]+\w/m;

/**
 * Leaves out an index file (includes, no rule of its own) whose every include another unit holds
 * already, as Yara-Rules' malware_index.yar beside its index.yar: no rule is loaded twice.
 */
function dropRedundantIndexes(units: RuleUnit[]): RuleUnit[] {
  const own = (u: RuleUnit) => u.files.length > 1 && !HAS_RULE.test(entryText(u));
  return units.filter((u, i) =>
    !own(u) ||
    !units.some((v, j) =>
      j !== i &&
      (v.files.length > u.files.length || (v.files.length === u.files.length && j < i)) &&
      u.files.slice(1).every((f) => v.files.includes(f))
    )
  );
}

/** The entry file's own text: the unit's lines that came from it. */
function entryText(u: RuleUnit): string {
  if (!u.origin) return u.text;
  return u.text.split("\n").filter((_, i) => u.origin![i].file === u.name).join("\n");
}

async function realRoot(path: string): Promise<string> {
  try {
    return await Deno.realPath(path);
  } catch {
    return resolve(path);
  }
}

/** Lists the rule files under `path` (sorted), then reads them all, several at a time. */
async function collect(
  path: string,
  isDir: boolean,
  root: string,
  files: RuleFile[],
  problems: RuleProblem[],
): Promise<void> {
  const paths: string[] = [];
  const walk = async (dir: string) => {
    const entries: Deno.DirEntry[] = [];
    try {
      for await (const e of Deno.readDir(dir)) entries.push(e);
    } catch (e) {
      problems.push({ file: dir, message: `cannot read rules: ${(e as Error).message}` });
      return;
    }
    entries.sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
    for (const e of entries) {
      const child = `${dir.replace(/\/+$/, "")}/${e.name}`;
      let { isFile, isDirectory } = e;
      if (e.isSymlink) {
        const st = await Deno.stat(child).catch(() => null);
        isFile = st?.isFile ?? false;
        isDirectory = st?.isDirectory ?? false;
      }
      if (isDirectory) await walk(child);
      else if (isFile && RULE_FILE.test(e.name)) paths.push(child);
    }
  };
  if (isDir) await walk(path);
  else paths.push(path);
  const texts: (string | Error)[] = new Array(paths.length);
  let next = 0;
  const reader = async () => {
    while (next < paths.length) {
      const i = next++;
      texts[i] = await Deno.readTextFile(paths[i]).catch((e: Error) => e);
    }
  };
  await Promise.all(Array.from({ length: Math.min(16, paths.length) }, reader));
  paths.forEach((p, i) => {
    const text = texts[i];
    if (typeof text === "string") files.push({ path: p, text, root });
    else problems.push({ file: p, message: `cannot read rules: ${text.message}` });
  });
}

/** An `include "path"` statement: where it is in the text and what it names. */
interface Include {
  start: number;
  end: number;
  line: number;
  path: string;
}

/**
 * The top-level include statements of a rule file. Comments, strings, regexes and rule bodies
 * are skipped, so an `include` in a comment is not one.
 */
export function findIncludes(text: string): Include[] {
  const out: Include[] = [];
  if (!text.includes("include")) return out;
  let depth = 0;
  let line = 1;
  const n = text.length;
  let i = 0;
  const skipTo = (close: string, escapes: boolean) => {
    while (i < n && text[i] !== close && text[i] !== "\n") i += escapes && text[i] === "\\" ? 2 : 1;
    i++;
  };
  while (i < n) {
    const c = text[i];
    if (c === "\n") {
      line++;
      i++;
    } else if (c === "/" && text[i + 1] === "/") {
      while (i < n && text[i] !== "\n") i++;
    } else if (c === "/" && text[i + 1] === "*") {
      const end = text.indexOf("*/", i + 2);
      const stop = end < 0 ? n : end + 2;
      for (let k = i; k < stop; k++) if (text[k] === "\n") line++;
      i = stop;
    } else if (c === '"') {
      i++;
      skipTo('"', true);
    } else if (c === "/" && depth > 0) {
      i++;
      skipTo("/", true);
    } else if (c === "{") {
      depth++;
      i++;
    } else if (c === "}") {
      depth = Math.max(0, depth - 1);
      i++;
    } else if (depth === 0 && c === "i" && (i === 0 || !/\w/.test(text[i - 1]))) {
      const m = /^include\s+"((?:[^"\\\n]|\\.)*)"/.exec(text.slice(i, i + 4200));
      if (m) {
        out.push({ start: i, end: i + m[0].length, line, path: m[1].replace(/\\(.)/g, "$1") });
        i += m[0].length;
      } else i++;
    } else i++;
  }
  return out;
}

/** The unit of an entry file: its includes replaced by the included text, recursively. */
function inline(entry: RuleFile, texts: Map<string, string>): RuleUnit {
  const problems: RuleProblem[] = [];
  const files: string[] = [entry.path];
  const includes = entry.root ? findIncludes(entry.text) : [];
  if (!includes.length) return { name: entry.path, text: entry.text, files, problems };
  const lines: string[] = [];
  const origin: LineOrigin[] = [];
  const emit = (text: string, file: string, firstLine: number) => {
    const parts = text.split("\n");
    parts.forEach((p, k) => {
      lines.push(p);
      origin.push({ file, line: firstLine + k });
    });
  };
  // An included file imports modules its includer imported already: harmless in YARA, but
  // YARA-X warns about each repeat (duplicate_import), so repeats in included files are blanked.
  const imported = new Set<string>();
  const expand = (file: string, original: string, stack: string[]) => {
    const text = original.replace(IMPORT, (line, module: string) => {
      if (stack.length > 1 && imported.has(module)) return "";
      imported.add(module);
      return line;
    });
    let at = 0;
    let line = 1;
    for (const inc of findIncludes(text)) {
      // Text before the statement, then the included file on lines of its own.
      const before = text.slice(at, inc.start);
      emit(before, file, line);
      line += before.split("\n").length - 1;
      const target = resolve(dirname(file), inc.path);
      const why = refuse(target, entry.root, stack);
      const included = why ? undefined : texts.get(target) ?? readSync(target);
      if (why || included === undefined) {
        problems.push({
          file,
          line: inc.line,
          message: why ??
            `include file not found: "${inc.path}" (looked for ${target}, relative to the including file)`,
        });
      } else {
        if (!files.includes(target)) files.push(target);
        expand(target, included, [...stack, target]);
      }
      at = inc.end;
    }
    emit(text.slice(at), file, line);
  };
  expand(entry.path, entry.text, [resolve(entry.path)]);
  return { name: entry.path, text: lines.join("\n"), files, origin, problems };
}

/** Why an include of `target` is refused: outside the named folder, a cycle, too deep. */
function refuse(target: string, root: string, stack: string[]): string | undefined {
  let real = target;
  try {
    real = Deno.realPathSync(target);
  } catch { /* missing: reported by the caller */ }
  if (real !== root && !real.startsWith(root.endsWith("/") ? root : `${root}/`)) {
    return `include outside the rule folder: ${target} is not under ${root}`;
  }
  if (stack.includes(target)) return `include cycle: ${[...stack, target].join(" -> ")}`;
  if (stack.length > MAX_INCLUDE_DEPTH) return `includes nested deeper than ${MAX_INCLUDE_DEPTH}`;
  return undefined;
}

function readSync(path: string): string | undefined {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return undefined;
  }
}
