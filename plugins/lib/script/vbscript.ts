/**
 * VBScript (also VBA-like code and the scripts of HTAs) analysis: a lexer of VBScript's tokens
 * (VBScript Language Reference: "" inside strings, ' and Rem comments, &H/&O numbers, _ line
 * continuations), then constant folding of string expressions: `Chr(104) & Chr(116)`, `ChrW`,
 * `ChrB`, `Chr(100+4)`, `StrReverse("...")` and `Replace("...", "x", "")` of constants, joined by
 * `&` or `+`. Strelka's ScanVb tokenises with Pygments and stops there; folding shows what the
 * script hides. The folded script becomes a child when anything was folded; so do PowerShell
 * command lines it holds.
 */
import type { Finding } from "../../../core/engine/plugin.ts";
import {
  type Analysis,
  CappedSet,
  Children,
  clip,
  Counter,
  finding,
  findUrls,
  type Limits,
} from "./common.ts";
import { powershellCommands } from "./commands.ts";

type Kind = "string" | "number" | "name" | "op" | "comment" | "newline";
interface Tok {
  kind: Kind;
  text: string;
  start: number;
  end: number;
  /** The string's value, or the number's. */
  value?: string | number;
}

const TOKEN =
  /("(?:[^"\n]|"")*"?)|('[^\n]*|\bRem\b[^\n]*)|(&H[0-9A-F]+&?|&O[0-7]+&?|\d+(?:\.\d+)?(?:E[+-]?\d+)?)|([A-Za-z_][A-Za-z0-9_]*\$?|\[[^\]\n]*\])|(\r?\n|:(?!=))|([<>]=|<>|[-+*/\\^&=<>(),.])/giy;

const CONTINUATION = /[ \t]_[ \t]*\r?\n/y;

/** Splits VBScript into tokens; whitespace and line continuations are dropped. */
export function lexVbs(text: string, maxTokens: number): { tokens: Tok[]; truncated: boolean } {
  const tokens: Tok[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === 32 || c === 9 || (c === 13 && text[i + 1] !== "\n")) {
      // A " _" continuation joins two lines into one statement.
      CONTINUATION.lastIndex = i;
      i = CONTINUATION.test(text) ? CONTINUATION.lastIndex : i + 1;
      continue;
    }
    TOKEN.lastIndex = i;
    const m = TOKEN.exec(text);
    if (!m || m[0].length === 0) {
      i++;
      continue;
    }
    const [all, str, comment, num, name, nl, op] = m;
    const start = i;
    i += all.length;
    let tok: Tok;
    if (str !== undefined) {
      const inner = str.endsWith('"') && str.length >= 2 ? str.slice(1, -1) : str.slice(1);
      tok = { kind: "string", text: str, start, end: i, value: inner.replaceAll('""', '"') };
    } else if (comment !== undefined) tok = { kind: "comment", text: comment, start, end: i };
    else if (num !== undefined) {
      tok = { kind: "number", text: num, start, end: i, value: vbsNumber(num) };
    } else if (name !== undefined) tok = { kind: "name", text: name, start, end: i };
    else if (nl !== undefined) tok = { kind: "newline", text: nl, start, end: i };
    else if (op !== undefined) tok = { kind: "op", text: op, start, end: i };
    else continue;
    tokens.push(tok);
    if (tokens.length >= maxTokens) return { tokens, truncated: true };
  }
  return { tokens, truncated: false };
}

function vbsNumber(s: string): number {
  const t = s.replace(/&$/, "");
  if (/^&H/i.test(t)) return parseInt(t.slice(2), 16);
  if (/^&O/i.test(t)) return parseInt(t.slice(2), 8);
  return Number(t);
}

/** Windows-1252 for Chr(128..159); the rest of 0..255 is Latin-1. */
const CP1252 = new TextDecoder("windows-1252");

/** Folds constant expressions over a token array; bounded depth and length. */
class Folder {
  pos = 0;
  chrs = 0;
  constructor(private readonly toks: Tok[]) {}

  /** A string expression `atom ((& | +) atom)*` at `pos`, or undefined (pos unchanged). */
  chain(): { value: string; parts: number; end: number } | undefined {
    const start = this.pos;
    const first = this.atom(0);
    if (first === undefined) {
      this.pos = start;
      return undefined;
    }
    let value = first;
    let parts = 1;
    let end = this.pos;
    while (this.is("&") || this.is("+")) {
      const save = this.pos;
      this.pos++;
      const next = this.atom(0);
      if (next === undefined) {
        this.pos = save;
        break;
      }
      value += next;
      parts++;
      end = this.pos;
      if (value.length > 1_000_000) break;
    }
    this.pos = end;
    return { value, parts, end };
  }

  private is(op: string): boolean {
    const t = this.toks[this.pos];
    return t !== undefined && t.kind === "op" && t.text === op;
  }

  private name(): string | undefined {
    const t = this.toks[this.pos];
    return t?.kind === "name" ? t.text.toLowerCase() : undefined;
  }

  /** A string literal, a Chr call of a constant, or StrReverse/Replace of constant strings. */
  private atom(depth: number): string | undefined {
    if (depth > 50) return undefined;
    const t = this.toks[this.pos];
    if (!t) return undefined;
    if (t.kind === "string") {
      this.pos++;
      return t.value as string;
    }
    const fn = this.name();
    if (fn === undefined) return undefined;
    const save = this.pos;
    this.pos++;
    if (!this.is("(")) {
      this.pos = save;
      return undefined;
    }
    this.pos++;
    let out: string | undefined;
    if (/^chr[wb]?\$?$/.test(fn)) {
      const code = this.number(0);
      if (code !== undefined && Number.isInteger(code)) {
        if (fn.startsWith("chrw") && code >= -32768 && code <= 65535) {
          out = String.fromCharCode(code & 0xffff);
        } else if (code >= 0 && code <= 255) out = CP1252.decode(Uint8Array.of(code));
      }
      if (out !== undefined) this.chrs++;
    } else if (fn === "strreverse") {
      const s = this.chainAt(depth);
      if (s !== undefined) out = [...s].reverse().join("");
    } else if (fn === "replace") {
      const s = this.chainAt(depth);
      if (s !== undefined && this.is(",")) {
        this.pos++;
        const find = this.chainAt(depth);
        if (find !== undefined && this.is(",")) {
          this.pos++;
          const rep = this.chainAt(depth);
          // VBScript's Replace compares case-sensitively by default (vbBinaryCompare).
          if (rep !== undefined && find !== "") out = s.split(find).join(rep);
        }
      }
    } else if (fn === "lcase" || fn === "ucase") {
      const s = this.chainAt(depth);
      if (s !== undefined) out = fn === "lcase" ? s.toLowerCase() : s.toUpperCase();
    }
    if (out === undefined || !this.is(")")) {
      this.pos = save;
      return undefined;
    }
    this.pos++;
    return out;
  }

  private chainAt(depth: number): string | undefined {
    let value = this.atom(depth + 1);
    if (value === undefined) return undefined;
    while (this.is("&") || this.is("+")) {
      const save = this.pos;
      this.pos++;
      const next = this.atom(depth + 1);
      if (next === undefined) {
        this.pos = save;
        break;
      }
      value += next;
    }
    return value;
  }

  /** An integer expression: numbers, + - * / \ Mod, unary minus, parentheses. */
  private number(depth: number): number | undefined {
    if (depth > 50) return undefined;
    let acc = this.term(depth);
    while (acc !== undefined && (this.is("+") || this.is("-"))) {
      const op = this.toks[this.pos++].text;
      const r = this.term(depth);
      if (r === undefined) return undefined;
      acc = op === "+" ? acc + r : acc - r;
    }
    return acc;
  }

  private term(depth: number): number | undefined {
    let acc = this.factor(depth);
    while (acc !== undefined) {
      const mod = this.name() === "mod";
      if (!mod && !this.is("*") && !this.is("/") && !this.is("\\")) break;
      const op = mod ? "mod" : this.toks[this.pos].text;
      this.pos++;
      const r = this.factor(depth);
      if (r === undefined || ((op === "/" || op === "\\" || op === "mod") && r === 0)) {
        return undefined;
      }
      acc = op === "*"
        ? acc * r
        : op === "/"
        ? Math.round(acc / r)
        : op === "\\"
        ? Math.trunc(acc / r)
        : acc % r;
    }
    return acc;
  }

  private factor(depth: number): number | undefined {
    const t = this.toks[this.pos];
    if (!t) return undefined;
    if (t.kind === "number") {
      this.pos++;
      return t.value as number;
    }
    if (t.kind === "op" && t.text === "-") {
      this.pos++;
      const v = this.factor(depth + 1);
      return v === undefined ? undefined : -v;
    }
    if (t.kind === "op" && t.text === "(") {
      this.pos++;
      const v = this.number(depth + 1);
      if (v === undefined || !this.is(")")) return undefined;
      this.pos++;
      return v;
    }
    return undefined;
  }
}

/** Keywords counted on the folded script (case-insensitive). */
const KEYWORDS: [string, RegExp][] = [
  ["CreateObject", /\bCreateObject\b/gi],
  ["GetObject", /\bGetObject\b/gi],
  ["WScript.Shell", /\bWScript\.Shell\b/gi],
  ["Shell.Application", /\bShell\.Application\b/gi],
  ["Scripting.FileSystemObject", /\bScripting\.FileSystemObject\b/gi],
  ["ADODB.Stream", /\bADODB\.Stream\b/gi],
  ["XMLHTTP", /\b(?:MSXML2\.(?:Server)?XMLHTTP|Microsoft\.XMLHTTP)(?:\.\d\.\d)?\b/gi],
  ["WinHttpRequest", /\bWinHttp\.WinHttpRequest\b/gi],
  ["Run", /\.Run\b/gi],
  ["Exec", /\.Exec\b/gi],
  ["ShellExecute", /\bShellExecute\b/gi],
  ["SaveToFile", /\bSaveToFile\b/gi],
  ["Execute", /\bExecute(?:Global)?\b/gi],
  ["Eval", /\bEval\s*\(/gi],
  ["RegWrite", /\bRegWrite\b/gi],
  ["CurrentVersion\\Run", /CurrentVersion\\Run/gi],
  ["Startup", /\\Start Menu\\Programs\\Startup|\bStartup\b/gi],
  ["Win32_Process", /\bWin32_Process\b/gi],
  ["winmgmts", /\bwinmgmts\b/gi],
  ["powershell", /\bpowershell\b|\bpwsh\b/gi],
  ["cmd.exe", /\bcmd(?:\.exe)?\s+\/[ck]\b/gi],
  ["mshta", /\bmshta\b/gi],
  ["rundll32", /\brundll32\b/gi],
  ["regsvr32", /\bregsvr32\b/gi],
  ["certutil", /\bcertutil\b/gi],
  ["bitsadmin", /\bbitsadmin\b/gi],
  ["%TEMP%", /%TEMP%|%TMP%|\bGetSpecialFolder\s*\(\s*2\s*\)/gi],
  ["%APPDATA%", /%APPDATA%|%PUBLIC%|%PROGRAMDATA%/gi],
  ["Sleep", /\bWScript\.Sleep\b/gi],
  ["Chr", /\bChr[WB]?\$?\s*\(/gi],
];

/** Analyses VBScript source `text` within `limits`. */
export function analyzeVbscript(text: string, limits: Limits): Analysis {
  const { tokens, truncated } = lexVbs(text, limits.maxChars);
  const errors: string[] = [];
  if (truncated) errors.push(`more than ${limits.maxChars} tokens; the rest is not analysed`);
  const types = new Counter();
  const functions = new CappedSet(limits.maxList);
  const names = new CappedSet(limits.maxList);
  const strings = new CappedSet(limits.maxList);
  const decoded = new CappedSet(limits.maxList);
  const code = tokens.filter((t) => t.kind !== "comment");
  let comments = 0;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    types.add(t.kind);
    if (t.kind === "comment") comments++;
    if (t.kind === "string") strings.add(clip(t.value as string));
    if (t.kind === "name") {
      names.add(t.text);
      const prev = tokens[i - 1];
      if (
        prev?.kind === "name" && /^(sub|function)$/i.test(prev.text) &&
        !/^end$/i.test(tokens[i - 2]?.text ?? "")
      ) {
        functions.add(t.text);
      }
    }
  }
  types.counts.delete("newline");

  // Fold constant chains and rewrite each as one literal.
  const folder = new Folder(code);
  let out = "";
  let at = 0;
  let folded = 0;
  for (let i = 0; i < code.length;) {
    folder.pos = i;
    const c = folder.chain();
    const isCall = code[i].kind === "name";
    if (c && (c.parts > 1 || isCall)) {
      const first = code[i], last = code[c.end - 1];
      out += text.slice(at, first.start) + `"${c.value.replaceAll('"', '""')}"`;
      at = last.end;
      folded++;
      decoded.add(clip(c.value, 1000));
      i = c.end;
      continue;
    }
    i = c ? c.end : i + 1;
  }
  out += text.slice(at);
  const clear = out.length > limits.maxChars ? out.slice(0, limits.maxChars) : out;

  const children = new Children(limits);
  if (folded > 0) {
    children.add(clear, { filename: "deobfuscated.vbs", source: "de-obfuscated script" });
  }
  const keywords = new Counter();
  for (const [name, re] of KEYWORDS) {
    const n = (name === "Chr" ? text : clear).match(re)?.length ?? 0;
    if (n > 0) keywords.add(name, n);
  }
  const literalStrings = new Set<string>();
  // The folded script's literals; without folding they are the tokens already at hand.
  for (const t of folded > 0 ? lexVbs(clear, limits.maxChars).tokens : tokens) {
    if (t.kind === "string") literalStrings.add(t.value as string);
    if (literalStrings.size > 10_000) break;
  }
  const commands = powershellCommands(literalStrings, children);
  const urls = findUrls(clear, limits.maxList);
  const results: Record<string, unknown> = {
    tokens: { count: tokens.length, types: types.toJSON() },
    comments,
    functions: functions.summary(),
    names: names.summary(),
    strings: strings.summary(),
    urls: urls.values,
    keywords: keywords.toJSON(),
    chr_calls: folder.chrs,
    decoded_strings: decoded.summary(),
    powershell_commands: commands,
    findings: judge(keywords, folder.chrs, folded, clear),
  };
  const dropped = children.error();
  if (dropped) errors.push(dropped);
  return { results, children: children.list, errors };
}

function judge(k: Counter, chrs: number, folded: number, clear: string): Finding[] {
  const out: Finding[] = [];
  const present = (names: string[]) => names.filter((n) => k.has(n));
  const http = present(["XMLHTTP", "WinHttpRequest"]);
  const run = present(["Run", "Exec", "ShellExecute", "SaveToFile"]);
  if (http.length > 0 && run.length > 0) {
    out.push(finding(
      "download_execute",
      "high",
      "Downloads and runs or saves a file",
      `${http.join(", ")} with ${run.join(", ")}`,
      ["T1105", "T1059.005"],
    ));
  }
  const shells = present(["WScript.Shell", "Shell.Application", "Win32_Process"]);
  const execs = present(["Run", "Exec", "ShellExecute"]);
  if (shells.length > 0 && (execs.length > 0 || k.has("Win32_Process"))) {
    out.push(finding(
      "shell_execution",
      "high",
      "Runs programs",
      `${shells.join(", ")}${execs.length ? ` with ${execs.join(", ")}` : ""}`,
      ["T1059.005"],
    ));
  }
  // .Run cmd, 0 — window style 0 is hidden.
  if (/\.Run\b\s*\(?[^\n]*,\s*(?:0|False|vbHide)\b/i.test(clear)) {
    out.push(
      finding("hidden_window", "medium", "Runs a program with a hidden window", ".Run ..., 0", [
        "T1564.003",
      ]),
    );
  }
  if (k.has("Execute") || k.has("Eval")) {
    out.push(finding(
      "dynamic_execution",
      "medium",
      "Executes strings as code",
      present(["Execute", "Eval"]).join(", "),
      ["T1059.005"],
    ));
  }
  if (k.has("RegWrite") && (k.has("CurrentVersion\\Run"))) {
    out.push(
      finding(
        "persistence_run_key",
        "high",
        "Writes a Run registry key",
        "RegWrite ...\\CurrentVersion\\Run",
        [
          "T1547.001",
        ],
      ),
    );
  }
  if (chrs >= 10 || folded >= 10) {
    out.push(finding(
      "obfuscated",
      "medium",
      "Builds strings character by character",
      `${chrs} Chr calls, ${folded} constant expressions folded`,
      ["T1027"],
    ));
  }
  return out;
}
