/**
 * PowerShell analysis and de-obfuscation. No maintained PowerShell parser exists for JavaScript,
 * so this is a small lexer of PowerShell's string and cast syntax (about_Quoting_Rules,
 * about_Special_Characters) that folds what is constant: `'a'+'b'` concatenations, `[char]N`
 * casts, `[char[]](...) -join ''`, the `-f` format operator, and backtick-split words. Encoded
 * commands (`-EncodedCommand` and every abbreviation PowerShell accepts, base64 of UTF-16LE) and
 * constant `[Convert]::FromBase64String(...)` blobs (inflated when a Deflate/GZip stream reads
 * them) become children; nested layers are decoded by the engine scanning those children.
 */
import { gunzipSync, inflateRawSync } from "node:zlib";
import type { Finding } from "../../../core/engine/plugin.ts";
import { decodeBase64 } from "../text/base64.ts";
import {
  type Analysis,
  CappedSet,
  Children,
  clip,
  Counter,
  finding,
  findUrls,
  type Limits,
  utf16leText,
} from "./common.ts";

/**
 * Keywords an analyst looks for: name, the pattern that counts it (on de-obfuscated text), and a
 * lower-case substring every match contains.
 */
const KEYWORDS: [string, RegExp, string][] = [
  ["Invoke-Expression", /\b(?:Invoke-Expression|iex)\b/gi, "i"],
  ["Invoke-WebRequest", /\b(?:Invoke-WebRequest|iwr|wget|curl)\b/gi, "w"],
  ["Invoke-RestMethod", /\b(?:Invoke-RestMethod|irm)\b/gi, "ir"],
  ["Net.WebClient", /\bNet\.WebClient\b/gi, "webclient"],
  ["DownloadString", /\bDownloadString(?:Async)?\b/gi, "downloadstring"],
  ["DownloadFile", /\bDownloadFile(?:Async)?\b/gi, "downloadfile"],
  ["DownloadData", /\bDownloadData(?:Async)?\b/gi, "downloaddata"],
  ["Start-BitsTransfer", /\bStart-BitsTransfer\b/gi, "start-bitstransfer"],
  ["Start-Process", /\b(?:Start-Process|saps)\b/gi, "s"],
  ["Invoke-Item", /\bInvoke-Item\b/gi, "invoke-item"],
  ["Invoke-Command", /\b(?:Invoke-Command|icm)\b/gi, "i"],
  ["New-Object", /\bNew-Object\b/gi, "new-object"],
  ["Add-Type", /\bAdd-Type\b/gi, "add-type"],
  ["FromBase64String", /\bFromBase64String\b/gi, "frombase64string"],
  [
    "EncodedCommand",
    /(?:^|\s)[-/](?:e|ec|en|enc|enco|encod|encode|encoded|encodedc\w*)\s+[A-Za-z0-9+/=]{16,}/gim,
    "e",
  ],
  ["DeflateStream", /\bDeflateStream\b/gi, "deflatestream"],
  ["GzipStream", /\bGzipStream\b/gi, "gzipstream"],
  ["Reflection.Assembly", /\bReflection\.Assembly\b/gi, "reflection.assembly"],
  ["VirtualAlloc", /\bVirtualAlloc(?:Ex)?\b/gi, "virtualalloc"],
  [
    "GetDelegateForFunctionPointer",
    /\bGetDelegateForFunctionPointer\b/gi,
    "getdelegateforfunctionpointer",
  ],
  ["AmsiUtils", /\bAmsi(?:Utils|InitFailed|ScanBuffer|Context)\b/gi, "amsi"],
  ["Set-MpPreference", /\b(?:Set|Add)-MpPreference\b/gi, "-mppreference"],
  [
    "Hidden",
    /(?:^|\s)[-/]w(?:i(?:n(?:d(?:o(?:w(?:s(?:t(?:y(?:l(?:e)?)?)?)?)?)?)?)?)?)?\s+(?:hidden|h|1)\b/gim,
    "w",
  ],
  ["Bypass", /(?:^|\s)[-/](?:ep|ex\w*)\s+(?:bypass|unrestricted)\b/gim, "bypass"],
  ["NoProfile", /(?:^|\s)[-/]nop\w*\b/gim, "nop"],
  ["NonInteractive", /(?:^|\s)[-/]noni\w*\b/gim, "noni"],
  ["Set-ExecutionPolicy", /\bSet-ExecutionPolicy\b/gi, "set-executionpolicy"],
  ["Register-ScheduledTask", /\b(?:Register-ScheduledTask|schtasks)\b/gi, "sch"],
  ["CurrentVersion\\Run", /CurrentVersion\\Run/gi, "currentversion\\run"],
  ["Get-WmiObject", /\b(?:Get-WmiObject|gwmi|Get-CimInstance|Invoke-WmiMethod)\b/gi, "w"],
  ["rundll32", /\brundll32\b/gi, "rundll32"],
  ["regsvr32", /\bregsvr32\b/gi, "regsvr32"],
  ["mshta", /\bmshta\b/gi, "mshta"],
  ["certutil", /\bcertutil\b/gi, "certutil"],
  ["bitsadmin", /\bbitsadmin\b/gi, "bitsadmin"],
];
const DOWNLOAD = [
  "Invoke-WebRequest",
  "Invoke-RestMethod",
  "DownloadString",
  "DownloadFile",
  "DownloadData",
  "Start-BitsTransfer",
  "certutil",
  "bitsadmin",
];
const EXECUTE = [
  "Invoke-Expression",
  "Start-Process",
  "Invoke-Item",
  "rundll32",
  "regsvr32",
  "mshta",
];

/** Analyses PowerShell source `text` within `limits`. */
export function analyzePowerShell(text: string, limits: Limits): Analysis {
  const children = new Children(limits);
  const deob = deobfuscate(text, limits.maxChars);
  const clear = deob.text;
  const keywords = new Counter();
  const lower = clear.toLowerCase();
  for (const [name, re, stem] of KEYWORDS) {
    // A substring test first: most scripts lack most keywords, and indexOf is far cheaper.
    if (!lower.includes(stem)) continue;
    const n = (clear.match(re) ?? []).length;
    if (n > 0) keywords.add(name, n);
  }
  const encoded = encodedCommands(clear, children);
  const blobs = base64Blobs(clear, children);
  if (deob.changed) {
    children.add(clear, { filename: "deobfuscated.ps1", source: "de-obfuscated script" });
  }
  const cmdlets = new Counter();
  for (const m of clear.matchAll(/\b[A-Z][a-z]+-[A-Z][A-Za-z]+\b/g)) {
    if (cmdlets.counts.size >= limits.maxList && !cmdlets.has(m[0])) continue;
    cmdlets.add(m[0]);
  }
  const variables = new CappedSet(limits.maxList);
  for (const m of clear.matchAll(/\$(?:\{([^}]{1,100})\}|([A-Za-z_][\w:]{0,100}))/g)) {
    variables.add(m[1] ?? m[2]);
  }
  const functions = new CappedSet(limits.maxList);
  for (const m of clear.matchAll(/\bfunction\s+([\w-]{1,100})/gi)) functions.add(m[1]);
  const strings = new CappedSet(limits.maxList);
  for (const s of deob.strings) strings.add(clip(s));
  const urls = findUrls(
    [clear, ...children.list.filter((c) => c.extra.text).map((c) => c.extra.text as string)]
      .join("\n"),
    limits.maxList,
  );
  for (const c of children.list) delete c.extra.text;

  const results: Record<string, unknown> = {
    keywords: keywords.toJSON(),
    cmdlets: cmdlets.toJSON(),
    variables: variables.summary(),
    functions: functions.summary(),
    strings: strings.summary(),
    urls: urls.values,
    encoded_commands: encoded,
    base64_blobs: blobs,
    deobfuscation: deob.counts,
    findings: judge(keywords, encoded.length, deob.counts),
  };
  const errors: string[] = [];
  const dropped = children.error();
  if (dropped) errors.push(dropped);
  return { results, children: children.list, errors };
}

// --- encoded commands and base64 -----------------------------------------------------------------

/** Every abbreviation of -EncodedCommand that PowerShell accepts (and -ec), dash or slash. */
const ENCODED_FLAG =
  /(?:^|[\s"'(])[-/\u2013\u2014](?:e|ec|en|enc|enco|encod|encode|encoded|encodedc|encodedco|encodedcom|encodedcomm|encodedcomma|encodedcomman|encodedcommand)\s+["']?([A-Za-z0-9+/]{16,}={0,2})/gi;

/**
 * Decodes each `-EncodedCommand <base64>` in `text` (UTF-16LE, as PowerShell requires) into a
 * child `encoded_command_N.ps1` of UTF-8 text; returns one entry per command found.
 */
export function encodedCommands(text: string, children: Children): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const m of text.matchAll(ENCODED_FLAG)) {
    const bytes = decodeBase64(new TextEncoder().encode(m[1]));
    const script = typeof bytes === "string" ? undefined : utf16leText(bytes);
    const offset = m.index + m[0].indexOf(m[1]);
    if (script === undefined) {
      out.push({ offset, base64_length: m[1].length, decoded: false });
      continue;
    }
    const n = out.length + 1;
    const extra = {
      filename: `encoded_command_${n}.ps1`,
      source: "-EncodedCommand",
      encoding: "base64, UTF-16LE (child is UTF-8)",
      offset,
      text: script,
    };
    children.add(script, extra);
    out.push({ offset, base64_length: m[1].length, decoded: true, script: clip(script, 500) });
    if (out.length >= 100) break;
  }
  return out;
}

const FROM_BASE64 =
  /FromBase64String\s*\(\s*(?:'([A-Za-z0-9+/=\s]{8,})'|"([A-Za-z0-9+/=\s]{8,})"|\$([A-Za-z_]\w{0,100}))\s*\)/gi;

/**
 * Decodes each `FromBase64String('...')` (or of a variable assigned such a literal once) into a
 * child; a blob read through a DeflateStream or GZipStream on the same line is inflated first.
 */
function base64Blobs(text: string, children: Children): Record<string, unknown>[] {
  const assigned = new Map<string, string | null>();
  for (
    const m of text.matchAll(
      /\$([A-Za-z_]\w{0,100})\s*=\s*(?:'([A-Za-z0-9+/=\s]{16,})'|"([A-Za-z0-9+/=\s]{16,})")/g,
    )
  ) {
    const name = m[1].toLowerCase();
    assigned.set(name, assigned.has(name) ? null : m[2] ?? m[3]);
  }
  const out: Record<string, unknown>[] = [];
  for (const m of text.matchAll(FROM_BASE64)) {
    const b64 = m[1] ?? m[2] ?? assigned.get((m[3] ?? "").toLowerCase());
    if (!b64) continue;
    const decoded = decodeBase64(new TextEncoder().encode(b64));
    if (typeof decoded === "string" || decoded.length === 0) {
      out.push({
        offset: m.index,
        decoded: false,
        error: typeof decoded === "string" ? decoded : "empty",
      });
      continue;
    }
    const lineEnd = text.indexOf("\n", m.index);
    const line = text.slice(text.lastIndexOf("\n", m.index) + 1, lineEnd < 0 ? undefined : lineEnd);
    const n = out.length + 1;
    const entry: Record<string, unknown> = { offset: m.index, decoded: true, size: decoded.length };
    let content = decoded;
    const compression = /GZipStream/i.test(line)
      ? "gzip"
      : /DeflateStream/i.test(line)
      ? "deflate"
      : undefined;
    if (compression) {
      try {
        content = compression === "gzip"
          ? gunzipSync(decoded, { maxOutputLength: 64 << 20 })
          : inflateRawSync(decoded, { maxOutputLength: 64 << 20 });
        entry.compression = compression;
      } catch (e) {
        entry.compression_error = `${compression}: ${(e as Error).message}`;
      }
    }
    const text16 = utf16leText(content);
    const extra: Record<string, unknown> = {
      // Text that the same line runs (IEX, ScriptBlock) is PowerShell; other text is just text.
      filename: `base64_${n}.${
        text16 === undefined && !isText(content)
          ? "bin"
          : /\b(?:IEX|Invoke-Expression)\b|ScriptBlock\]::Create/i.test(line)
          ? "ps1"
          : "txt"
      }`,
      source: "FromBase64String",
      offset: m.index,
    };
    if (entry.compression) extra.compression = entry.compression;
    if (text16 !== undefined) {
      extra.encoding = "UTF-16LE (child is UTF-8)";
      extra.text = text16;
      children.add(text16, extra);
    } else {
      if (isText(content)) extra.text = new TextDecoder().decode(content);
      children.add(content, extra);
    }
    entry.child_size = text16 !== undefined
      ? new TextEncoder().encode(text16).length
      : content.length;
    out.push(entry);
    if (out.length >= 100) break;
  }
  return out;
}

function isText(bytes: Uint8Array): boolean {
  const n = Math.min(bytes.length, 4096);
  for (let i = 0; i < n; i++) {
    const b = bytes[i];
    if (b < 0x09 || (b > 0x0d && b < 0x20) || b === 0x7f) return false;
  }
  return n > 0;
}

// --- de-obfuscation ------------------------------------------------------------------------------

interface Deobfuscated {
  text: string;
  changed: boolean;
  strings: string[];
  counts: Record<string, number>;
}

type Tok =
  | { kind: "str"; value: string; start: number; end: number }
  | { kind: "char"; value: string; start: number; end: number }
  | { kind: "plus"; start: number; end: number };

/**
 * Folds constant string expressions and rewrites each as one single-quoted literal; removes
 * backticks inside words. The output is never longer than `maxChars`.
 */
export function deobfuscate(text: string, maxChars: number): Deobfuscated {
  const counts = {
    backticks: 0,
    char_casts: 0,
    concatenations: 0,
    format_operators: 0,
    char_joins: 0,
  };
  let t = text;
  const lower = text.toLowerCase();
  const joins = lower.includes("-join");
  // [char[]](104,116) -join '' and (104,116 | % {[char]$_}) -join ''
  if (joins) {
    t = t.replace(
      /\[char\[\]\]\s*\(\s*((?:0x[0-9a-f]+|\d+)(?:\s*,\s*(?:0x[0-9a-f]+|\d+)){0,10000})\s*\)\s*-join\s*(?:''|"")/gi,
      (all, list: string) => charList(list, all, counts),
    );
  }
  if (joins) {
    t = t.replace(
      /\(\s*((?:0x[0-9a-f]+|\d+)(?:\s*,\s*(?:0x[0-9a-f]+|\d+)){0,10000})\s*\|\s*(?:%|ForEach-Object|foreach)\s*\{\s*\[char\]\s*\$_\s*\}\s*\)\s*-join\s*(?:''|"")/gi,
      (all, list: string) => charList(list, all, counts),
    );
  }
  // The format operator: ("{1}{0}" -f 'tp','ht')
  if (lower.includes("-f")) {
    t = t.replace(
      /\(\s*(?:"((?:\{\d{1,3}\}|[^"{}`$]){1,2000})"|'((?:\{\d{1,3}\}|[^'{}]){1,2000})')\s*-f\s*((?:'[^']{0,2000}'|"[^"`$]{0,2000}")(?:\s*,\s*(?:'[^']{0,2000}'|"[^"`$]{0,2000}")){0,200})\s*\)/gi,
      (all, dq: string | undefined, sq: string | undefined, args: string) => {
        const values = [...args.matchAll(/'([^']*)'|"([^"]*)"/g)].map((a) => a[1] ?? a[2]);
        let bad = false;
        const out = (dq ?? sq)!.replace(/\{(\d+)\}/g, (_, i: string) => {
          const v = values[Number(i)];
          if (v === undefined) bad = true;
          return v ?? "";
        });
        if (bad) return all;
        counts.format_operators++;
        return quote(out);
      },
    );
  }
  // Concatenations of literals and [char] casts.
  const tokens = lex(t);
  const strings: string[] = [];
  let out = "";
  let at = 0;
  for (let i = 0; i < tokens.length; i++) {
    const tok = tokens[i];
    if (tok.kind === "plus") continue;
    let j = i;
    let value = tok.value;
    let chars = tok.kind === "char" ? 1 : 0;
    while (
      tokens[j + 1]?.kind === "plus" && tokens[j + 2] && tokens[j + 2].kind !== "plus" &&
      between(t, tokens[j].end, tokens[j + 1].start) &&
      between(t, tokens[j + 1].end, tokens[j + 2].start)
    ) {
      const next = tokens[j + 2] as Tok & { value: string };
      value += next.value;
      if (next.kind === "char") chars++;
      j += 2;
      if (value.length > 1_000_000) break;
    }
    if (j === i && tok.kind === "str") {
      strings.push(tok.value);
      continue;
    }
    // A lone [char]N, or a chain of two or more parts: rewrite it as one literal.
    out += t.slice(at, tok.start) + quote(value);
    at = tokens[j].end;
    counts.char_casts += chars;
    if (j > i) counts.concatenations++;
    strings.push(value);
    i = j;
  }
  out += t.slice(at);
  // Backticks before letters other than the escapes `0 `a `b `f `n `r `t `v split words (I`E`X).
  out = out.replace(/`(?=[A-Za-z])(?![0abfnrtv](?![A-Za-z]))/g, () => {
    counts.backticks++;
    return "";
  });
  if (out.length > maxChars) out = out.slice(0, maxChars);
  return { text: out, changed: out !== text, strings, counts };
}

function charList(list: string, all: string, counts: Record<string, number>): string {
  const codes = list.split(",").map((c) => Number(c.trim()));
  if (codes.some((c) => !Number.isInteger(c) || c < 0 || c > 0xffff)) return all;
  counts.char_joins++;
  return quote(String.fromCharCode(...codes));
}

const quote = (s: string) => `'${s.replaceAll("'", "''")}'`;
const between = (t: string, a: number, b: number) => /^\s*$/.test(t.slice(a, b));

/** Single- and double-quoted literals (constant ones only), [char]N casts and "+" signs. */
function lex(t: string): Tok[] {
  const toks: Tok[] = [];
  const re =
    /'((?:[^']|'')*)'|"((?:[^"`$]|""|`.)*)"|\[char\]\s*(0x[0-9a-f]{1,4}|\d{1,5})|(\+)|(#[^\n]*|<#[\s\S]*?#>)|("(?:[^"`]|""|`.)*")/gi;
  for (const m of t.matchAll(re)) {
    const start = m.index, end = m.index + m[0].length;
    if (m[1] !== undefined) {
      toks.push({ kind: "str", value: m[1].replaceAll("''", "'"), start, end });
    } else if (m[2] !== undefined) {
      toks.push({ kind: "str", value: unescapeDouble(m[2]), start, end });
    } else if (m[3] !== undefined) {
      const code = Number(m[3]);
      if (code <= 0xffff) toks.push({ kind: "char", value: String.fromCharCode(code), start, end });
    } else if (m[4] !== undefined) toks.push({ kind: "plus", start, end });
    // Comments and double-quoted strings with variables are skipped: not constants.
    if (toks.length > 1_000_000) break;
  }
  return toks;
}

const BACKTICK: Record<string, string> = {
  "0": "\0",
  a: "\x07",
  b: "\b",
  f: "\f",
  n: "\n",
  r: "\r",
  t: "\t",
  v: "\v",
};
function unescapeDouble(s: string): string {
  return s.replace(
    /`(.)|""/g,
    (_m, c: string | undefined) => c === undefined ? '"' : BACKTICK[c] ?? c,
  );
}

// --- findings ------------------------------------------------------------------------------------

function judge(k: Counter, encoded: number, deob: Record<string, number>): Finding[] {
  const out: Finding[] = [];
  const present = (names: string[]) => names.filter((n) => k.has(n));
  const dl = present([...DOWNLOAD, "Net.WebClient"]);
  const ex = present(EXECUTE);
  if (dl.length > 0 && ex.length > 0) {
    out.push(finding(
      "download_execute",
      "high",
      "Downloads and runs code",
      `${dl.join(", ")} with ${ex.join(", ")}`,
      ["T1105", "T1059.001"],
    ));
  }
  if (encoded > 0 || k.has("EncodedCommand")) {
    out.push(finding(
      "encoded_command",
      "medium",
      "Runs PowerShell with an encoded command",
      `${
        Math.max(encoded, k.get("EncodedCommand"))
      } -EncodedCommand argument(s); decoded as children`,
      ["T1027.010", "T1059.001"],
    ));
  }
  if (k.has("Hidden")) {
    out.push(finding("hidden_window", "medium", "Hides its window", "-WindowStyle Hidden", [
      "T1564.003",
    ]));
  }
  if (k.has("Bypass") || k.has("Set-ExecutionPolicy")) {
    out.push(finding(
      "execution_policy_bypass",
      "medium",
      "Bypasses the execution policy",
      present(["Bypass", "Set-ExecutionPolicy"]).join(", "),
      ["T1059.001"],
    ));
  }
  if (k.has("AmsiUtils")) {
    out.push(finding("amsi_bypass", "high", "Tampers with AMSI", "AmsiUtils/amsiInitFailed", [
      "T1562.001",
    ]));
  }
  if (k.has("Set-MpPreference")) {
    out.push(finding(
      "defender_tamper",
      "high",
      "Changes Microsoft Defender settings",
      "Set-MpPreference/Add-MpPreference",
      ["T1562.001"],
    ));
  }
  const reflective = present([
    "Reflection.Assembly",
    "VirtualAlloc",
    "GetDelegateForFunctionPointer",
  ]);
  if (reflective.length > 0) {
    out.push(finding(
      "reflective_load",
      "high",
      "Loads code in memory",
      reflective.join(", "),
      ["T1620"],
    ));
  }
  const why = Object.entries(deob).filter(([, n]) => n >= 3).map(([w, n]) =>
    `${n} ${w.replaceAll("_", " ")}`
  );
  if (why.length > 0) {
    out.push(finding("obfuscated", "medium", "Obfuscated", why.join(", "), ["T1027"]));
  }
  return out;
}
