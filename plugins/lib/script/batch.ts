/**
 * Windows batch (.bat/.cmd) analysis with a small emulation of cmd.exe's parse phases (as
 * documented in `set /?` and `call /?`, and the well-known phase order): each line is
 * percent-expanded with the variables that earlier `set` commands defined (`%name%`,
 * `%name:~start,length%`, `%name:old=new%`, delayed `!name!`), then carets are removed outside
 * quotes, then its `&`/`&&`/`||`/`|`-separated commands run `set` in order. Variables the script
 * does not define (%TEMP%, %1) are left as written; flow control (goto, for, if) is not followed.
 * The expanded script becomes a child when anything changed, and every PowerShell command line
 * becomes a `.ps1` child. Lines are capped at cmd's own 8191 characters.
 */
import type { Finding } from "../../../core/engine/plugin.ts";
import {
  type Analysis,
  CappedSet,
  Children,
  Counter,
  finding,
  findUrls,
  type Limits,
} from "./common.ts";
import { powershellCommands } from "./commands.ts";

/** cmd.exe's longest command line. */
const MAX_LINE = 8191;
const MAX_VARIABLES = 10_000;

/** Commands (first words) worth counting. */
const NOTABLE = new Set([
  "powershell",
  "pwsh",
  "cmd",
  "start",
  "call",
  "certutil",
  "bitsadmin",
  "curl",
  "wget",
  "mshta",
  "rundll32",
  "regsvr32",
  "wscript",
  "cscript",
  "msiexec",
  "schtasks",
  "reg",
  "wmic",
  "vssadmin",
  "bcdedit",
  "wbadmin",
  "net",
  "netsh",
  "sc",
  "taskkill",
  "attrib",
  "del",
  "copy",
  "move",
  "xcopy",
  "timeout",
  "ping",
  "set",
  "setx",
  "echo",
  "goto",
  "exit",
  "ftp",
  "tftp",
  "expand",
  "extrac32",
  "esentutl",
  "forfiles",
]);

/** Analyses batch source `text` within `limits`. */
export function analyzeBatch(text: string, limits: Limits): Analysis {
  const vars = new Map<string, string>();
  const variables = new CappedSet(limits.maxList);
  const labels = new CappedSet(limits.maxList);
  const commands = new Counter();
  const counts = { expansions: 0, substrings: 0, replacements: 0, carets: 0 };
  const lines = text.split(/\r?\n/);
  const outLines: string[] = [];
  const commandLines: string[] = [];
  let comments = 0;
  let outLength = 0;
  let cut = false;
  for (const raw of lines) {
    if (outLength > limits.maxChars) {
      cut = true;
      break;
    }
    const trimmed = raw.trimStart();
    if (/^(?:@?rem\b|::)/i.test(trimmed)) {
      comments++;
      outLines.push(raw);
      outLength += raw.length + 1;
      continue;
    }
    if (/^:[^:\s]/.test(trimmed)) labels.add(trimmed.slice(1).split(/\s/)[0]);
    let line = expand(raw, vars, counts, PERCENT);
    if (line.length > MAX_LINE) line = line.slice(0, MAX_LINE);
    const parts = splitCommands(line);
    const clean: string[] = [];
    for (const part of parts) {
      // Delayed !var! expansion happens per command, after the line was split.
      const c = uncaret(expand(part.text, vars, counts, DELAYED), counts);
      clean.push(c + part.sep);
      const cmd = c.trim().replace(/^@\s*/, "");
      const word = /^"?([^\s"&|<>()]+)/.exec(cmd)?.[1]?.toLowerCase().replace(/^.*[\\/]/, "")
        .replace(/\.(exe|com|bat|cmd)$/, "");
      if (word && NOTABLE.has(word)) commands.add(word);
      if (word === "powershell" || word === "pwsh") commandLines.push(cmd);
      const set = /^set\s+(?!\/[ap]\b)("?)([^=\s"][^="]*)=(.*?)\1\s*$/is.exec(cmd) ??
        /^set\s+(?!\/[ap]\b)()([^=\s"][^=]*)=(.*)$/is.exec(cmd);
      if (set && vars.size < MAX_VARIABLES) {
        const name = set[2].trim().toLowerCase();
        vars.set(name, set[3].slice(0, MAX_LINE));
        variables.add(set[2].trim());
      }
    }
    const out = clean.join("");
    outLines.push(out);
    outLength += out.length + 1;
  }
  const clear = outLines.join("\n");
  const changed = counts.expansions + counts.carets > 0;
  const children = new Children(limits);
  if (changed) {
    children.add(clear, { filename: "deobfuscated.bat", source: "de-obfuscated script" });
  }
  const ps = powershellCommands(commandLines, children);
  const urls = findUrls(clear, limits.maxList);
  const errors: string[] = [];
  if (cut) {
    errors.push(
      `the expanded script passed ${limits.maxChars} characters; the rest is not analysed`,
    );
  }
  const dropped = children.error();
  if (dropped) errors.push(dropped);
  return {
    results: {
      lines: lines.length,
      comments,
      labels: labels.summary(),
      variables: variables.summary(),
      commands: commands.toJSON(),
      urls: urls.values,
      deobfuscation: counts,
      powershell_commands: ps,
      findings: judge(commands, clear, counts),
    },
    children: children.list,
    errors,
  };
}

// %% is a literal percent in a batch file; %0-%9 and %~dp0 are arguments: they never match a
// variable the script set, so they stay.
const PERCENT = /%%|%([^%:\s]{1,200}?)(?::([^%]{1,200}))?%/g;
const DELAYED = /!([^!:\s]{1,200}?)(?::([^!]{1,200}))?!/g;

/** Expands %var% (or !var!), with :~a,b and :x=y, for variables the script set. */
function expand(
  line: string,
  vars: Map<string, string>,
  counts: { expansions: number; substrings: number; replacements: number },
  re: RegExp,
): string {
  if (!line.includes(re === PERCENT ? "%" : "!")) return line;
  const sub = (all: string, name: string, mod: string | undefined) => {
    const value = vars.get(name.toLowerCase());
    if (value === undefined) return all;
    counts.expansions++;
    if (mod === undefined) return value;
    const s = /^~\s*(-?\d+)\s*(?:,\s*(-?\d+)\s*)?$/.exec(mod);
    if (s) {
      counts.substrings++;
      return substring(value, Number(s[1]), s[2] === undefined ? undefined : Number(s[2]));
    }
    const r = /^(\*?)([^=]+)=(.*)$/s.exec(mod);
    if (r) {
      counts.replacements++;
      return replace(value, r[2], r[3], r[1] === "*");
    }
    counts.expansions--;
    return all;
  };
  // %% is a literal percent in a batch file; %0-%9 and %~dp0 are arguments: leave them.
  return line
    .replace(
      /%%|%([^%:\s]{1,200}?)(?::([^%]{1,200}))?%/g,
      (all, name, mod) => all === "%%" ? all : sub(all, name, mod),
    )
    .replace(/!([^!:\s]{1,200}?)(?::([^!]{1,200}))?!/g, (all, name, mod) => sub(all, name, mod));
}

/** `%var:~start,length%` as cmd computes it (negative values count from the end). */
export function substring(value: string, start: number, length?: number): string {
  const n = value.length;
  let s = start < 0 ? Math.max(0, n + start) : Math.min(start, n);
  if (length === undefined) return value.slice(s);
  const e = length < 0 ? Math.max(s, n + length) : Math.min(n, s + length);
  if (e < s) s = e;
  return value.slice(s, e);
}

/** `%var:old=new%` (case-insensitive), or `%var:*old=new%` up to the first `old`. */
function replace(value: string, old: string, rep: string, prefix: boolean): string {
  const lower = value.toLowerCase();
  const needle = old.toLowerCase();
  if (prefix) {
    const at = lower.indexOf(needle);
    return at < 0 ? value : rep + value.slice(at + old.length);
  }
  let out = "";
  let from = 0;
  for (let at = lower.indexOf(needle); at >= 0; at = lower.indexOf(needle, from)) {
    out += value.slice(from, at) + rep;
    from = at + old.length;
    if (out.length > MAX_LINE) break;
  }
  return out + value.slice(from);
}

/** Splits a line at &, &&, || and | outside double quotes (a caret escapes the next character). */
function splitCommands(line: string): { text: string; sep: string }[] {
  const out: { text: string; sep: string }[] = [];
  let quoted = false;
  let start = 0;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === "^" && !quoted) {
      i++;
      continue;
    }
    if (c === '"') quoted = !quoted;
    if (quoted || (c !== "&" && c !== "|")) continue;
    const sep = line[i + 1] === c ? c + c : c;
    out.push({ text: line.slice(start, i), sep });
    i += sep.length - 1;
    start = i + 1;
  }
  out.push({ text: line.slice(start), sep: "" });
  return out;
}

/** Removes escaping carets outside double quotes (^^ stays one caret). */
function uncaret(s: string, counts: { carets: number }): string {
  if (!s.includes("^")) return s;
  let out = "";
  let quoted = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '"') quoted = !quoted;
    if (c === "^" && !quoted && i + 1 < s.length) {
      counts.carets++;
      out += s[++i];
      continue;
    }
    out += c;
  }
  return out;
}

function judge(
  commands: Counter,
  clear: string,
  counts: { expansions: number; substrings: number; carets: number },
): Finding[] {
  const out: Finding[] = [];
  const lower = clear.toLowerCase();
  const download = [
    /certutil[^\n]*-urlcache/.test(lower) && "certutil -urlcache",
    /bitsadmin[^\n]*\/transfer/.test(lower) && "bitsadmin /transfer",
    /\b(?:curl|wget)(?:\.exe)?\s[^\n]*https?:\/\//.test(lower) && "curl/wget",
    /(?:downloadstring|downloadfile|invoke-webrequest|\biwr\b|start-bitstransfer)/.test(lower) &&
    "PowerShell download",
  ].filter((x): x is string => typeof x === "string");
  const run = ["start", "call", "rundll32", "regsvr32", "mshta", "wscript", "cscript", "msiexec"]
    .filter((c) => commands.has(c));
  if (/\b(?:iex|invoke-expression|start-process)\b/.test(lower)) run.push("PowerShell execution");
  if (download.length > 0 && run.length > 0) {
    out.push(finding(
      "download_execute",
      "high",
      "Downloads and runs a file",
      `${download.join(", ")} with ${run.join(", ")}`,
      ["T1105", "T1059.003"],
    ));
  }
  if (
    /vssadmin[^\n]*delete\s+shadows|wmic[^\n]*shadowcopy[^\n]*delete|bcdedit[^\n]*recoveryenabled\s+no|wbadmin[^\n]*delete/
      .test(lower)
  ) {
    out.push(finding(
      "inhibit_recovery",
      "high",
      "Deletes shadow copies or disables recovery",
      "vssadmin/wmic/bcdedit/wbadmin",
      ["T1490"],
    ));
  }
  if (/schtasks[^\n]*\/create|reg(?:\.exe)?\s+add[^\n]*currentversion\\run/.test(lower)) {
    out.push(finding(
      "persistence",
      "high",
      "Creates a scheduled task or a Run key",
      "schtasks /create or reg add ...\\CurrentVersion\\Run",
      ["T1053.005", "T1547.001"],
    ));
  }
  if (/powershell[^\n]*\s[-/](?:w\w*)\s+(?:hidden|h|1)\b|start\s+\/min\b/.test(lower)) {
    out.push(
      finding(
        "hidden_window",
        "medium",
        "Runs a program with a hidden window",
        "-WindowStyle Hidden or start /min",
        [
          "T1564.003",
        ],
      ),
    );
  }
  if (/powershell[^\n]*\s[-/](?:ep|ex\w*)\s+(?:bypass|unrestricted)\b/.test(lower)) {
    out.push(
      finding(
        "execution_policy_bypass",
        "medium",
        "Bypasses PowerShell's execution policy",
        "-ExecutionPolicy Bypass",
        [
          "T1059.001",
        ],
      ),
    );
  }
  if (counts.substrings >= 5 || counts.carets >= 10 || counts.expansions >= 20) {
    out.push(finding(
      "obfuscated",
      "medium",
      "Builds commands from variable fragments",
      `${counts.expansions} expansions (${counts.substrings} substrings), ${counts.carets} carets`,
      ["T1027"],
    ));
  }
  return out;
}
