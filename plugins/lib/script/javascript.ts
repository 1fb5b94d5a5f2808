/**
 * JavaScript/JScript analysis on acorn's parser (ESTree; the maintained successor of the esprima
 * that Strelka's ScanJavascript uses). Token statistics come from acorn's token stream, so a file
 * that does not parse still gets them up to the error. On a parsed file, constant expressions
 * (string concatenation, String.fromCharCode, unescape, atob, split/reverse/join, single-assignment
 * variables) are folded to find what obfuscated code hides; code passed to eval/Function/
 * document.write and base64 blobs become children. Every list and every fold is bounded.
 */
import * as acorn from "acorn";
import {
  base64Blob,
  CappedSet,
  Children,
  clip,
  Counter,
  finding,
  findUrls,
  type Limits,
  type ScriptChild,
  stringEntropy,
} from "./common.ts";
import type { Finding } from "../../../core/engine/plugin.ts";

/** Calls an analyst looks for, by the callee's last name (or `object.name` where noted). */
const SUSPICIOUS = new Set([
  "eval",
  "Function",
  "ActiveXObject",
  "GetObject",
  "CreateObject",
  "document.write",
  "document.writeln",
  "unescape",
  "atob",
  "fromCharCode",
  "execScript",
  "setTimeout(string)",
  "setInterval(string)",
  "Run",
  "Exec",
  "ShellExecute",
  "SaveToFile",
  "RegWrite",
  "XMLHttpRequest",
  "createObjectURL",
  "msSaveOrOpenBlob",
  "msSaveBlob",
  "constructor",
]);
/** COM ProgIDs worth counting among suspicious calls when a script creates them. */
const NOTABLE_PROGIDS = new Map(
  [
    "WScript.Shell",
    "Shell.Application",
    "Scripting.FileSystemObject",
    "ADODB.Stream",
    "MSXML2.XMLHTTP",
    "MSXML2.ServerXMLHTTP",
    "Microsoft.XMLHTTP",
    "WinHttp.WinHttpRequest.5.1",
    "WScript.Network",
    "Schedule.Service",
  ].map((p) => [p.toLowerCase(), p]),
);
const DOWNLOADERS = ["msxml2.xmlhttp", "msxml2.serverxmlhttp", "microsoft.xmlhttp", "winhttp."];

/** Longest string a fold may build; anything longer is left unfolded. */
const MAX_FOLD = 1 << 20;
/** Deepest expression a fold follows. */
const MAX_DEPTH = 200;
/** Strings at least this long that are pure base64 become children. */
const MIN_BASE64 = 200;

type Value = string | number | Value[];
type Node = acorn.Node & Record<string, unknown>;
/** acorn fills `value` on tokens; its typings leave it out. */
type Token = acorn.Token & { value?: unknown };

/** What `analyzeJavaScript` returns. */
export interface JsAnalysis {
  results: Record<string, unknown>;
  children: ScriptChild[];
  errors: string[];
}

/** Analyses JavaScript source `text` within `limits`. */
export function analyzeJavaScript(text: string, limits: Limits): JsAnalysis {
  const errors: string[] = [];
  const tokens: Token[] = [];
  let comments = 0;
  let ast: Node | undefined;
  let sourceType: "script" | "module" | null = null;
  let parseError: string | undefined;
  for (const type of ["script", "module"] as const) {
    tokens.length = 0;
    comments = 0;
    try {
      ast = acorn.parse(text, {
        ecmaVersion: "latest",
        sourceType: type,
        allowHashBang: true,
        allowReturnOutsideFunction: type === "script",
        allowAwaitOutsideFunction: type === "script",
        onToken: tokens,
        onComment: () => void comments++,
      }) as unknown as Node;
      sourceType = type;
      break;
    } catch (e) {
      // The script error is the one to report unless the text is a module.
      parseError ??= describeError(e);
      if (!/sourceType: module|'import' and 'export'/.test(String((e as Error).message))) break;
    }
  }
  if (ast === undefined) errors.push(`does not parse: ${parseError}`);

  const tok = tokenStats(text, tokens, limits);
  const calls = tok.calls;
  const progids = new Counter();
  const decoded = new CappedSet(limits.maxList);
  const children = new Children(limits);
  if (ast) {
    const folder = new Folder(ast);
    walk(ast, folder, progids, decoded, children);
  } else {
    for (const p of tok.directProgids) progids.add(p);
  }
  for (const [id, n] of progids.counts) {
    const notable = NOTABLE_PROGIDS.get(id.toLowerCase());
    if (notable) calls.add(notable, n);
  }
  let b64 = 0;
  for (const s of tok.allStrings) {
    const blob = base64Blob(s, MIN_BASE64);
    if (blob) {
      b64++;
      children.add(blob, { filename: `base64_${b64}.bin`, source: "base64 string" });
    }
  }

  const urls = findUrls([text, ...decoded.values].join("\n"), limits.maxList);
  const obfuscation = {
    long_strings: tok.longStrings,
    longest_string: tok.longestString,
    high_entropy_strings: tok.highEntropy,
    hex_escapes: tok.hexEscapes,
    unicode_escapes: tok.unicodeEscapes,
    hex_identifiers: tok.hexIdentifiers,
    computed_string_members: tok.bracketStrings,
    longest_line: longestLine(text),
  };
  const findings = judge(calls, progids, obfuscation, children, text.length);
  const results: Record<string, unknown> = {
    parsed: ast !== undefined,
    source_type: sourceType,
    tokens: { count: tokens.length, types: tok.types.toJSON() },
    comments,
    keywords: tok.keywords.toJSON(),
    identifiers: tok.identifiers.summary(),
    strings: tok.strings.summary(),
    regexes: tok.regexes.summary(),
    urls: urls.values,
    suspicious_calls: calls.toJSON(),
    com_objects: progids.toJSON(),
    decoded_strings: decoded.summary(),
    obfuscation,
    findings,
  };
  if (urls.truncated) results.urls_truncated = true;
  if (!ast) results.error = parseError;
  const dropped = children.error();
  if (dropped) errors.push(dropped);
  return { results, children: children.list, errors };
}

function describeError(e: unknown): string {
  const err = e as Error & { pos?: number };
  if (err instanceof RangeError) return "nesting too deep for the parser (stack exhausted)";
  return err.pos === undefined ? err.message : `${err.message} at offset ${err.pos}`;
}

function longestLine(text: string): number {
  let longest = 0;
  let start = 0;
  for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", start)) {
    longest = Math.max(longest, i - start);
    start = i + 1;
  }
  return Math.max(longest, text.length - start);
}

/** Token-level statistics: they need no AST, so a file that does not parse gets them too. */
function tokenStats(text: string, tokens: Token[], limits: Limits) {
  const types = new Counter();
  const keywords = new Counter();
  const identifiers = new CappedSet(limits.maxList);
  const strings = new CappedSet(limits.maxList);
  const regexes = new CappedSet(limits.maxList);
  const calls = new Counter();
  const directProgids: string[] = [];
  const allStrings: string[] = [];
  let longStrings = 0, longestString = 0, highEntropy = 0, hexEscapes = 0, unicodeEscapes = 0;
  let hexIdentifiers = 0, bracketStrings = 0;
  const label = (i: number) => tokens[i]?.type.label;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    const l = t.type.label;
    if (t.type.keyword) {
      types.add("keyword");
      keywords.add(t.type.keyword);
    } else if (l === "name") {
      types.add("identifier");
      const name = String(t.value);
      identifiers.add(name);
      if (/^_0x[0-9a-f]{3,}$/i.test(name)) hexIdentifiers++;
    } else if (l === "string" || l === "template") {
      types.add(l === "string" ? "string" : "template");
      const s = String(t.value ?? "");
      if (allStrings.length < limits.maxList * 10) allStrings.push(s);
      strings.add(clip(s));
      longestString = Math.max(longestString, s.length);
      if (s.length >= 200) longStrings++;
      if (s.length >= 40 && stringEntropy(s) >= 5) highEntropy++;
      // Escapes need a backslash: most strings have none and skip both scans.
      const raw = text.slice(t.start, t.end);
      if (raw.includes("\\")) {
        hexEscapes += (raw.match(/\\x[0-9A-Fa-f]{2}/g) ?? []).length;
        unicodeEscapes += (raw.match(/\\u(?:[0-9A-Fa-f]{4}|\{[0-9A-Fa-f]+\})/g) ?? []).length;
      }
      if (label(i - 1) === "[" && label(i + 1) === "]") bracketStrings++;
    } else if (l === "num" || l === "bigint") types.add("number");
    else if (l === "regexp") {
      types.add("regex");
      const v = t.value as { pattern: string; flags: string };
      regexes.add(clip(`/${v.pattern}/${v.flags}`));
    } else if (l === "privateId") types.add("identifier");
    else if (l !== "eof") types.add("punctuator");

    // A call: name "(" (with "new" or "obj." before it), or obj["name"] "(".
    if (label(i + 1) !== "(") continue;
    let name: string | undefined;
    if (l === "name") name = String(t.value);
    else if (l === "]" && label(i - 1) === "string" && label(i - 2) === "[") {
      name = String(tokens[i - 1].value);
    }
    if (name === undefined) continue;
    const owner = label(i - 1) === "." && label(i - 2) === "name"
      ? String(tokens[i - 2].value)
      : "";
    const full = owner ? `${owner}.${name}` : name;
    const arg = tokens[i + 2];
    const key = SUSPICIOUS.has(full)
      ? full
      : (name === "setTimeout" || name === "setInterval") && arg?.type.label === "string"
      ? `${name}(string)`
      : name;
    if (SUSPICIOUS.has(key)) calls.add(key);
    if (
      (name === "ActiveXObject" || name === "CreateObject" || name === "GetObject") &&
      arg?.type.label === "string"
    ) directProgids.push(String(arg.value));
  }
  return {
    types,
    keywords,
    identifiers,
    strings,
    regexes,
    calls,
    directProgids,
    allStrings,
    longStrings,
    longestString,
    highEntropy,
    hexEscapes,
    unicodeEscapes,
    hexIdentifiers,
    bracketStrings,
  };
}

/** The name a callee is known by: `eval`, `document.write`, `Run` (for `shell.Run`)... */
function calleeName(callee: Node): { name: string; owner: string } | undefined {
  if (callee.type === "Identifier") return { name: callee.name as string, owner: "" };
  if (callee.type !== "MemberExpression") return undefined;
  const prop = propertyName(callee);
  if (prop === undefined) return undefined;
  const obj = callee.object as Node;
  const owner = obj.type === "Identifier"
    ? obj.name as string
    : obj.type === "MemberExpression"
    ? propertyName(obj) ?? ""
    : "";
  return { name: prop, owner };
}

function propertyName(member: Node): string | undefined {
  const p = member.property as Node;
  if (!member.computed && p.type === "Identifier") return p.name as string;
  if (p.type === "Literal" && typeof p.value === "string") return p.value;
  return undefined;
}

/** Folds constant expressions; variables assigned once from a constant count as constants. */
class Folder {
  private readonly inits = new Map<string, Node | null>();
  private readonly memo = new Map<string, Value | undefined>();
  private readonly busy = new Set<string>();

  constructor(ast: Node) {
    // Single-assignment variables: declared once with an initialiser and never assigned again.
    // Scopes are ignored, so a name declared twice anywhere is not a constant.
    forEachNode(ast, (n) => {
      if (n.type === "VariableDeclarator" && (n.id as Node).type === "Identifier") {
        const name = (n.id as Node).name as string;
        this.inits.set(name, this.inits.has(name) || !n.init ? null : n.init as Node);
      } else if (
        (n.type === "AssignmentExpression" && (n.left as Node).type === "Identifier") ||
        (n.type === "UpdateExpression" && (n.argument as Node).type === "Identifier")
      ) {
        this.inits.set(((n.left ?? n.argument) as Node).name as string, null);
      }
    });
  }

  /** The constant value of `n`, or undefined. */
  fold(n: Node, depth = 0): Value | undefined {
    if (depth > MAX_DEPTH) return undefined;
    const d = depth + 1;
    switch (n.type) {
      case "Literal":
        return typeof n.value === "string" || typeof n.value === "number" ? n.value : undefined;
      case "TemplateLiteral": {
        const quasis = n.quasis as Node[];
        const exprs = n.expressions as Node[];
        let out = "";
        for (let i = 0; i < quasis.length; i++) {
          const cooked = (quasis[i].value as { cooked: string | null }).cooked;
          if (cooked === null) return undefined;
          out += cooked;
          if (i < exprs.length) {
            const v = this.fold(exprs[i], d);
            if (v === undefined || Array.isArray(v)) return undefined;
            out += String(v);
          }
          if (out.length > MAX_FOLD) return undefined;
        }
        return out;
      }
      case "Identifier":
        return this.variable(n.name as string, d);
      case "ArrayExpression": {
        const out: Value[] = [];
        for (const el of n.elements as (Node | null)[]) {
          if (el === null || out.length > 100_000) return undefined;
          const v = this.fold(el, d);
          if (v === undefined) return undefined;
          out.push(v);
        }
        return out;
      }
      case "UnaryExpression": {
        const v = this.fold(n.argument as Node, d);
        if (typeof v !== "number") return undefined;
        return n.operator === "-"
          ? -v
          : n.operator === "+"
          ? v
          : n.operator === "~"
          ? ~v
          : undefined;
      }
      case "BinaryExpression":
        return this.binary(n, d);
      case "CallExpression":
        return this.call(n, d);
      default:
        return undefined;
    }
  }

  private variable(name: string, depth: number): Value | undefined {
    if (this.memo.has(name)) return this.memo.get(name);
    const init = this.inits.get(name);
    if (!init || this.busy.has(name)) return undefined;
    this.busy.add(name);
    const v = this.fold(init, depth);
    this.busy.delete(name);
    this.memo.set(name, v);
    return v;
  }

  private binary(n: Node, depth: number): Value | undefined {
    // "a" + "b" + "c" nests to the left: walk that spine without recursion.
    const rights: Node[] = [];
    let left = n;
    while (left.type === "BinaryExpression" && left.operator === n.operator) {
      rights.push(left.right as Node);
      left = left.left as Node;
      if (rights.length > 1_000_000) return undefined;
    }
    let acc = this.fold(left, depth);
    for (let i = rights.length - 1; i >= 0 && acc !== undefined; i--) {
      const r = this.fold(rights[i], depth);
      if (r === undefined || Array.isArray(acc) || Array.isArray(r)) return undefined;
      acc = arith(n.operator as string, acc, r);
      if (typeof acc === "string" && acc.length > MAX_FOLD) return undefined;
    }
    return acc;
  }

  private call(n: Node, depth: number): Value | undefined {
    const callee = n.callee as Node;
    const named = calleeName(callee);
    if (!named) return undefined;
    const args: Value[] = [];
    for (const a of n.arguments as Node[]) {
      const v = this.fold(a, depth);
      if (v === undefined) return undefined;
      args.push(v);
    }
    const str = (v: Value | undefined) => typeof v === "string" ? v : undefined;
    try {
      switch (named.name) {
        case "fromCharCode":
          if (!args.every((a) => typeof a === "number") || args.length > MAX_FOLD) return;
          return String.fromCharCode(...(args as number[]));
        case "unescape":
          return callee.type === "Identifier" && str(args[0]) !== undefined
            ? unescape(args[0] as string)
            : undefined;
        case "decodeURIComponent":
        case "decodeURI":
          return callee.type === "Identifier" && str(args[0]) !== undefined
            ? decodeURIComponent(args[0] as string)
            : undefined;
        case "atob":
          return str(args[0]) !== undefined
            ? atob((args[0] as string).replace(/\s/g, ""))
            : undefined;
      }
      if (callee.type !== "MemberExpression") return undefined;
      const obj = this.fold(callee.object as Node, depth);
      if (obj === undefined) return undefined;
      return method(obj, named.name, args);
    } catch {
      return undefined; // atob or decodeURIComponent refused their input: not a constant
    }
  }
}

function arith(op: string, a: string | number, b: string | number): Value | undefined {
  if (op === "+") return typeof a === "number" && typeof b === "number" ? a + b : `${a}${b}`;
  if (typeof a !== "number" || typeof b !== "number") return undefined;
  switch (op) {
    case "-":
      return a - b;
    case "*":
      return a * b;
    case "/":
      return a / b;
    case "%":
      return a % b;
    case "^":
      return a ^ b;
    case "|":
      return a | b;
    case "&":
      return a & b;
    case "<<":
      return a << b;
    case ">>":
      return a >> b;
  }
  return undefined;
}

/** The string and array methods a fold evaluates (none takes a regex: no ReDoS from a sample). */
function method(obj: Value, name: string, args: Value[]): Value | undefined {
  const s = (i: number) => typeof args[i] === "string" ? args[i] as string : undefined;
  const num = (i: number) => typeof args[i] === "number" ? args[i] as number : undefined;
  if (Array.isArray(obj)) {
    if (name === "join") {
      const out = obj.map(String).join(s(0) ?? ",");
      return out.length > MAX_FOLD ? undefined : out;
    }
    if (name === "reverse") return [...obj].reverse();
    return undefined;
  }
  if (typeof obj !== "string") return undefined;
  switch (name) {
    case "split":
      return s(0) !== undefined && obj.length <= 100_000 ? obj.split(s(0)!) : undefined;
    case "replace":
    case "replaceAll":
      return s(0) !== undefined && s(1) !== undefined
        ? cap(name === "replace" ? obj.replace(s(0)!, s(1)!) : obj.replaceAll(s(0)!, s(1)!))
        : undefined;
    case "concat":
      return args.every((a) => !Array.isArray(a))
        ? cap(obj.concat(...args.map(String)))
        : undefined;
    case "charAt":
      return num(0) !== undefined ? obj.charAt(num(0)!) : undefined;
    case "substr":
      return num(0) !== undefined ? obj.substr(num(0)!, num(1)) : undefined;
    case "substring":
    case "slice":
      return num(0) !== undefined ? obj[name](num(0)!, num(1)) : undefined;
    case "toLowerCase":
      return obj.toLowerCase();
    case "toUpperCase":
      return obj.toUpperCase();
  }
  return undefined;
}

const cap = (s: string) => s.length > MAX_FOLD ? undefined : s;

/** Calls whose (last) argument is code, and the extension of the child that holds it. */
const CODE_SINKS: Record<string, string> = {
  eval: "js",
  Function: "js",
  execScript: "js",
  setTimeout: "js",
  setInterval: "js",
  write: "html",
  writeln: "html",
};
/** Callees whose result is a decoded string worth listing. */
const DECODERS = new Set([
  "fromCharCode",
  "unescape",
  "atob",
  "decodeURIComponent",
  "decodeURI",
  "join",
  "reverse",
  "replace",
  "replaceAll",
  "concat",
]);

/** Visits every node (iteratively: no recursion on deep ASTs); `false` skips a node's subtree. */
function forEachNode(root: Node, visit: (n: Node) => boolean | void): void {
  const stack: Node[] = [root];
  while (stack.length > 0) {
    const n = stack.pop()!;
    if (visit(n) === false) continue;
    for (const key in n) {
      const v = n[key];
      if (Array.isArray(v)) {
        for (let i = v.length - 1; i >= 0; i--) if (isNode(v[i])) stack.push(v[i] as Node);
      } else if (isNode(v)) stack.push(v as Node);
    }
  }
}

const isNode = (v: unknown): boolean =>
  typeof v === "object" && v !== null && typeof (v as { type?: unknown }).type === "string" &&
  typeof (v as { start?: unknown }).start === "number";

function walk(
  ast: Node,
  folder: Folder,
  progids: Counter,
  decoded: CappedSet,
  children: Children,
): void {
  let sinks = 0, blobs = 0;
  forEachNode(ast, (n) => {
    if (n.type === "BinaryExpression" && n.operator === "+") {
      // Only the top of a concatenation chain: its parts would repeat it piecemeal.
      const v = folder.fold(n);
      if (typeof v !== "string") return;
      if (v.length > 1) decoded.add(clip(v, 1000));
      return false;
    }
    if (n.type !== "CallExpression" && n.type !== "NewExpression") return;
    const named = calleeName(n.callee as Node);
    if (!named) return;
    const args = n.arguments as Node[];
    if (
      named.name === "ActiveXObject" || named.name === "CreateObject" || named.name === "GetObject"
    ) {
      const id = args[0] ? folder.fold(args[0]) : undefined;
      if (typeof id === "string") progids.add(id);
      return;
    }
    if (n.type === "NewExpression" && named.name !== "Function") return;
    if (DECODERS.has(named.name)) {
      const v = folder.fold(n);
      if (typeof v === "string" && v.length > 0) {
        decoded.add(clip(v, 1000));
        if (named.name === "atob" && v.length >= 16) {
          blobs++;
          children.add(latin1Bytes(v), { filename: `atob_${blobs}.bin`, source: "atob" });
        }
      }
      return;
    }
    const ext = CODE_SINKS[named.name];
    const isSink = ext !== undefined &&
      (ext === "js" ? named.owner === "" || named.owner === "window" : named.owner === "document");
    if (!isSink || args.length === 0) return;
    const code = folder.fold(named.name === "Function" ? args[args.length - 1] : args[0]);
    if (typeof code !== "string" || code.trim() === "") return;
    sinks++;
    const label = named.owner ? `${named.owner}.${named.name}` : named.name;
    decoded.add(clip(code, 1000));
    children.add(code, {
      filename: `${named.name}_${sinks}.${ext}`,
      source: label,
      offset: n.start,
    });
  });
}

const latin1Bytes = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff);

function judge(
  calls: Counter,
  progids: Counter,
  obf: Record<string, number>,
  children: Children,
  size: number,
): Finding[] {
  const out: Finding[] = [];
  const ids = [...progids.counts.keys()];
  const has = (p: string) => ids.some((id) => id.toLowerCase().startsWith(p));
  const named = (prefixes: string[]) =>
    ids.filter((id) => prefixes.some((p) => id.toLowerCase().startsWith(p))).join(", ");
  const execs = ["Run", "Exec", "ShellExecute"].filter((c) => calls.has(c));
  const downloads = DOWNLOADERS.some(has) || calls.has("XMLHttpRequest");
  if (downloads && (calls.has("SaveToFile") || execs.length > 0)) {
    out.push(finding(
      "download_execute",
      "high",
      "Downloads and runs or saves a file",
      `HTTP object (${named(DOWNLOADERS) || "XMLHttpRequest"}) with ${
        [...execs, ...(calls.has("SaveToFile") ? ["SaveToFile"] : [])].join(", ")
      }`,
      ["T1105", "T1059.007"],
    ));
  }
  if ((has("wscript.shell") || has("shell.application")) && execs.length > 0) {
    out.push(finding(
      "shell_execution",
      "high",
      "Runs programs through a Windows shell object",
      `${named(["wscript.shell", "shell.application"])} with ${execs.join(", ")}`,
      ["T1059.007"],
    ));
  }
  const sinks = children.list.filter((c) =>
    c.extra.source !== "atob" && c.extra.source !== "base64 string"
  );
  if (sinks.length > 0) {
    out.push(finding(
      "dynamic_code",
      "medium",
      "Runs or writes code built at run time",
      `${sinks.map((c) => c.extra.source).join(", ")}: the code is extracted as children`,
      ["T1027"],
    ));
  } else if (calls.has("eval") || calls.has("Function")) {
    out.push(finding("eval", "low", "Evaluates strings as code", "eval or Function is called"));
  }
  const why: string[] = [];
  if (obf.hex_identifiers >= 5) why.push(`${obf.hex_identifiers} _0x-style identifiers`);
  const escapes = obf.hex_escapes + obf.unicode_escapes;
  if (escapes >= 20 && escapes * 4 >= size * 0.1) why.push(`${escapes} string escapes`);
  if (calls.get("fromCharCode") >= 3) why.push(`${calls.get("fromCharCode")} fromCharCode calls`);
  if (obf.high_entropy_strings > 0 && (calls.has("atob") || calls.has("unescape"))) {
    why.push(`${obf.high_entropy_strings} high-entropy strings with a decoder`);
  }
  if (obf.longest_line >= 5000) why.push(`a line of ${obf.longest_line} characters`);
  if (obf.computed_string_members >= 10) {
    why.push(`${obf.computed_string_members} obj["name"] accesses`);
  }
  if (why.length > 0) {
    out.push(finding("obfuscated", "medium", "Looks obfuscated", why.join("; "), ["T1027"]));
  }
  const saves = ["msSaveOrOpenBlob", "msSaveBlob", "createObjectURL"].filter((c) => calls.has(c));
  const blobs = children.list.some((c) =>
    c.extra.source === "atob" || c.extra.source === "base64 string"
  );
  if (saves.length > 0 && (blobs || calls.has("atob"))) {
    out.push(finding(
      "html_smuggling",
      "high",
      "Builds a file from embedded data and offers it for download",
      `${saves.join(", ")} with ${blobs ? "an embedded base64 payload" : "atob"}`,
      ["T1027.006"],
    ));
  }
  return out;
}
