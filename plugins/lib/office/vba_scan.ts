/**
 * What olevba and MacroRaptor (oletools 0.60) say about macro source: auto-exec triggers,
 * suspicious keywords, hex and base64 strings, and MacroRaptor's A/W/X verdict. The keyword
 * tables and MacroRaptor's three regexes are ported as oletools writes them (same words, same
 * word-boundary rule: `(?i)\b` + keyword + `\b`), so verdicts match mraptor's.
 */

/** olevba AUTOEXEC_KEYWORDS: description → plain keywords. */
const AUTOEXEC: Record<string, string[]> = {
  "Runs when the Word document is opened": ["AutoExec", "AutoOpen", "DocumentOpen"],
  "Runs when the Word document is closed": [
    "AutoExit",
    "AutoClose",
    "Document_Close",
    "DocumentBeforeClose",
  ],
  "Runs when the Word document is modified": ["DocumentChange"],
  "Runs when a new Word document is created": ["AutoNew", "Document_New", "NewDocument"],
  "Runs when the Word or Publisher document is opened": ["Document_Open"],
  "Runs when the Publisher document is closed": ["Document_BeforeClose"],
  "Runs when the Excel Workbook is opened": [
    "Auto_Open",
    "Workbook_Open",
    "Workbook_Activate",
    "Auto_Ope",
  ],
  "Runs when the Excel Workbook is closed": [
    "Auto_Close",
    "Workbook_Close",
    "Workbook_BeforeClose",
  ],
  "May run when an Excel WorkSheet is opened": ["Worksheet_Calculate"],
};

/** olevba AUTOEXEC_KEYWORDS_REGEX. */
const AUTOEXEC_REGEX: Record<string, string[]> = {
  "Runs when the file is opened (using InkPicture ActiveX object)": [
    "\\w+_Painted",
    "\\w+_Painting",
  ],
  "Runs when the file is opened and ActiveX objects trigger events": [
    "\\w+_GotFocus",
    "\\w+_LostFocus",
    "\\w+_MouseHover",
    "\\w+_Click",
    "\\w+_Change",
    "\\w+_Resize",
    "\\w+_BeforeNavigate2",
    "\\w+_BeforeScriptExecute",
    "\\w+_DocumentComplete",
    "\\w+_DownloadBegin",
    "\\w+_DownloadComplete",
    "\\w+_FileDownload",
    "\\w+_NavigateComplete2",
    "\\w+_NavigateError",
    "\\w+_ProgressChange",
    "\\w+_PropertyChange",
    "\\w+_SetSecureLockIcon",
    "\\w+_StatusTextChange",
    "\\w+_TitleChange",
    "\\w+_MouseMove",
    "\\w+_MouseEnter",
    "\\w+_MouseLeave",
    "\\w+_Layout",
    "\\w+_OnConnecting",
    "\\w+_FollowHyperlink",
    "\\w+_ContentControlOnEnter",
  ],
};

/** olevba SUSPICIOUS_KEYWORDS: description → plain keywords. */
const SUSPICIOUS: Record<string, string[]> = {
  "May read system environment variables": [
    "Environ",
    "Win32_Environment",
    "Environment",
    "ExpandEnvironmentStrings",
    "HKCU\\Environment",
    "HKEY_CURRENT_USER\\Environment",
  ],
  "May open a file": ["Open"],
  "May write to a file (if combined with Open)": ["Write", "Put", "Output", "Print #"],
  "May read or write a binary file (if combined with Open)": ["Binary"],
  "May copy a file": ["FileCopy", "CopyFile", "CopyHere", "CopyFolder"],
  "May move a file": ["MoveHere", "MoveFile", "MoveFolder"],
  "May delete a file": ["Kill"],
  "May create a text file": ["CreateTextFile", "ADODB.Stream", "WriteText", "SaveToFile"],
  "May run an executable file or a system command": [
    "Shell",
    "vbNormal",
    "vbNormalFocus",
    "vbHide",
    "vbMinimizedFocus",
    "vbMaximizedFocus",
    "vbNormalNoFocus",
    "vbMinimizedNoFocus",
    "WScript.Shell",
    "Run",
    "ShellExecute",
    "ShellExecuteA",
    "shell32",
    "InvokeVerb",
    "InvokeVerbEx",
    "DoIt",
  ],
  "May run a dll": ["ControlPanelItem"],
  "May execute file or a system command through WMI": ["Create"],
  "May run an executable file or a system command on a Mac": ["MacScript", "AppleScript"],
  "May run PowerShell commands": [
    "PowerShell",
    "noexit",
    "ExecutionPolicy",
    "noprofile",
    "command",
    "EncodedCommand",
    "invoke-command",
    "scriptblock",
    "Invoke-Expression",
    "AuthorizationManager",
  ],
  "May run an executable file or a system command using PowerShell": ["Start-Process"],
  "May call a DLL using Excel 4 Macros (XLM/XLF)": ["CALL"],
  "May hide the application": ["Application.Visible", "ShowWindow", "SW_HIDE"],
  "May create a directory": ["MkDir"],
  "May save the current workbook": ["ActiveWorkbook.SaveAs"],
  "May change which directory contains files to open at startup": ["Application.AltStartupPath"],
  "May create an OLE object": ["CreateObject"],
  "May get an OLE object with a running instance": ["GetObject"],
  "May create an OLE object using PowerShell": ["New-Object"],
  "May run an application (if combined with CreateObject)": ["Shell.Application"],
  "May run an Excel 4 Macro (aka XLM/XLF) from VBA": ["ExecuteExcel4Macro"],
  "May enumerate application windows (if combined with Shell.Application object)": [
    "Windows",
    "FindWindow",
  ],
  "May run code from a DLL": ["Lib"],
  "May run code from a library on a Mac": ["libc.dylib", "dylib"],
  "May inject code into another process": [
    "CreateThread",
    "CreateUserThread",
    "VirtualAlloc",
    "VirtualAllocEx",
    "RtlMoveMemory",
    "WriteProcessMemory",
    "SetContextThread",
    "QueueApcThread",
    "WriteVirtualMemory",
    "VirtualProtect",
  ],
  "May run a shellcode in memory": ["SetTimer"],
  "May download files from the Internet": [
    "URLDownloadToFileA",
    "Msxml2.XMLHTTP",
    "Microsoft.XMLHTTP",
    "MSXML2.ServerXMLHTTP",
    "User-Agent",
  ],
  "May download files from the Internet using PowerShell": [
    "Net.WebClient",
    "DownloadFile",
    "DownloadString",
  ],
  "May control another application by simulating user keystrokes": ["SendKeys", "AppActivate"],
  "May attempt to obfuscate malicious function calls": ["CallByName"],
  "May attempt to obfuscate specific strings (use option --deobf to deobfuscate)": [
    "Chr",
    "ChrB",
    "ChrW",
    "StrReverse",
    "Xor",
  ],
  "May read or write registry keys": ["RegOpenKeyExA", "RegOpenKeyEx", "RegCloseKey"],
  "May read registry keys": ["RegQueryValueExA", "RegQueryValueEx", "RegRead"],
  "May detect virtualization": [
    "SYSTEM\\ControlSet001\\Services\\Disk\\Enum",
    "VIRTUAL",
    "VMWARE",
    "VBOX",
  ],
  "May detect Anubis Sandbox": [
    "GetVolumeInformationA",
    "GetVolumeInformation",
    "1824245000",
    "HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\ProductId",
    "76487-337-8429955-22614",
    "andy",
    "C:\\exec\\exec.exe",
    "popupkiller",
  ],
  "May detect Sandboxie": ["SbieDll.dll", "SandboxieControlWndClass"],
  "May detect Sunbelt Sandbox": ["C:\\file.exe"],
  "May detect Norman Sandbox": ["currentuser"],
  "May detect CW Sandbox": ["Schmidti"],
  "May detect WinJail Sandbox": ["Afx:400000:0"],
  "May attempt to disable VBA macro security and Protected View": [
    "AccessVBOM",
    "VBAWarnings",
    "ProtectedView",
    "DisableAttachementsInPV",
    "DisableInternetFilesInPV",
    "DisableUnsafeLocationsInPV",
    "blockcontentexecutionfrominternet",
  ],
  "May attempt to modify the VBA code (self-modification)": [
    "VBProject",
    "VBComponents",
    "CodeModule",
    "AddFromString",
  ],
  "May modify Excel 4 Macro formulas at runtime (XLM/XLF)": ["FORMULA.FILL"],
};

/** olevba SUSPICIOUS_KEYWORDS_REGEX. */
const SUSPICIOUS_REGEX: Record<string, string[]> = {
  "May use Word Document Variables to store and hide data": ["\\.\\s*Variables"],
  "May run a shellcode in memory": [
    "EnumSystemLanguageGroupsW?",
    "EnumDateFormats(?:W|(?:Ex){1,2})?",
  ],
  "May run an executable file or a system command on a Mac (if combined with libc.dylib)": [
    "system",
    "popen",
    "exec[lv][ep]?",
  ],
  "May run an executable file or a system command using Excel 4 Macros (XLM/XLF)": [
    "(?<!Could contain following functions: )EXEC",
  ],
  "May call a DLL using Excel 4 Macros (XLM/XLF)": [
    "(?<!Could contain following functions: )REGISTER",
  ],
};

/**
 * A keyword table compiled for one pass over the code. `\bKW\b` for a keyword made only of word
 * characters holds exactly when KW (case-insensitive) is one whole run of word characters, so
 * those keywords, and the regex keywords that are word-only (`\w+_Click`, `exec[lv][ep]?`), are
 * tested against the set of the code's word runs; the few with other characters ("WScript.Shell",
 * "Print #") run as regexes after a cheap substring check. Same verdicts as olevba's loop.
 */
interface Entry {
  description: string;
  keyword: string;
  regex: boolean;
  /** Anchored test of one word run (word-only keywords). */
  word?: RegExp;
  /** Full regex and a lower-case literal that must occur for it to match (other keywords). */
  re?: RegExp;
  literal?: string;
}
const WORD_ONLY = /^(?:\\w|[A-Za-z0-9_?\[\]{}(),:|+*])+$/;
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
function compile(plain: Record<string, string[]>, regex: Record<string, string[]>): Entry[] {
  const out: Entry[] = [];
  for (const [description, words] of Object.entries(plain)) {
    for (const keyword of words) {
      out.push(
        /^\w+$/.test(keyword)
          ? { description, keyword, regex: false, word: new RegExp(`^${keyword}$`, "i") }
          : {
            description,
            keyword,
            regex: false,
            re: new RegExp(`\\b${escape(keyword)}\\b`, "i"),
            literal: keyword.toLowerCase(),
          },
      );
    }
  }
  for (const [description, words] of Object.entries(regex)) {
    for (const keyword of words) {
      // olevba's look-behinds only exclude its own report text, which code never contains.
      const body = keyword.replace(/^\(\?<!Could contain following functions: \)/, "");
      out.push(
        WORD_ONLY.test(body) && !body.includes("\\s") && !body.includes("\\.")
          ? { description, keyword, regex: true, word: new RegExp(`^(?:${body})$`, "i") }
          : { description, keyword, regex: true, re: new RegExp(`\\b${keyword}\\b`, "i") },
      );
    }
  }
  return out;
}
interface Table {
  entries: Entry[];
  /** All word-only regex keywords as one anchored alternation: a word run failing it skips them. */
  anyWord: RegExp;
}
function table(plain: Record<string, string[]>, regex: Record<string, string[]>): Table {
  const entries = compile(plain, regex);
  const bodies = entries.filter((e) => e.word && e.regex).map((e) => e.word!.source.slice(1, -1));
  return { entries, anyWord: new RegExp(`^(?:${bodies.join("|") || "(?!)"})$`, "i") };
}
const AUTOEXEC_TABLE = table(AUTOEXEC, AUTOEXEC_REGEX);
const SUSPICIOUS_TABLE = table(SUSPICIOUS, SUSPICIOUS_REGEX);

/** A keyword olevba would list, with its description. */
export interface KeywordHit {
  keyword: string;
  description: string;
}

let lastCode: string | undefined;
let lastRuns = new Map<string, string>();

/** The distinct word runs of `code`, first spelling kept, keyed by lower case (last one cached). */
function wordRuns(code: string): Map<string, string> {
  if (code === lastCode) return lastRuns;
  const runs = new Map<string, string>();
  for (const m of code.matchAll(/\w+/g)) {
    const k = m[0].toLowerCase();
    if (!runs.has(k)) runs.set(k, m[0]);
  }
  lastCode = code;
  lastRuns = runs;
  return runs;
}

function scanTable(t: Table, code: string): KeywordHit[] {
  const runs = wordRuns(code);
  const candidates = [...runs.values()].filter((r) => t.anyWord.test(r));
  const hits: KeywordHit[] = [];
  let lower: string | undefined;
  for (const e of t.entries) {
    let found: string | undefined;
    if (e.word && !e.regex) {
      if (runs.has(e.keyword.toLowerCase())) found = e.keyword;
    } else if (e.word) {
      // What matched, as olevba reports regex keywords ("Button1_Click").
      found = candidates.find((run) => e.word!.test(run));
    } else if (e.literal === undefined || (lower ??= code.toLowerCase()).includes(e.literal)) {
      const m = e.re!.exec(code);
      if (m) found = e.regex ? m[0] : e.keyword;
    }
    if (found !== undefined) hits.push({ keyword: found, description: e.description });
  }
  return hits;
}

/** olevba's auto-exec triggers in `code`. */
export function autoexecKeywords(code: string): KeywordHit[] {
  return scanTable(AUTOEXEC_TABLE, code);
}

/** olevba's suspicious keywords in `code` (plus the backspace obfuscation check). */
export function suspiciousKeywords(code: string): KeywordHit[] {
  const hits = scanTable(SUSPICIOUS_TABLE, code);
  if (code.includes("\b")) {
    hits.push({
      keyword: "\\b",
      description:
        "May use special characters such as backspace to obfuscate code when printed on the console",
    });
  }
  return hits;
}

// --- MacroRaptor (oletools mraptor.py 0.56+) ----------------------------------------------------

const RE_AUTOEXEC = new RegExp(
  "\\b(?:Auto(?:Exec|_?Open|_?Close|Exit|New)" +
    "|Document(?:_?Open|_Close|_?BeforeClose|Change|_New)" +
    "|NewDocument|Workbook(?:_Open|_Activate|_Close|_BeforeClose)" +
    "|\\w+_(?:Painted|Painting|GotFocus|LostFocus|MouseHover" +
    "|Layout|Click|Change|Resize|BeforeNavigate2|BeforeScriptExecute" +
    "|DocumentComplete|DownloadBegin|DownloadComplete|FileDownload" +
    "|NavigateComplete2|NavigateError|ProgressChange|PropertyChange" +
    "|SetSecureLockIcon|StatusTextChange|TitleChange|MouseMove" +
    "|MouseEnter|MouseLeave|OnConnecting))|Auto_Ope\\b",
  "i",
);
const RE_OPEN_WRITE = "(?:\\bOpen\\b[^\\n]+\\b(?:Write|Append|Binary|Output|Random)\\b)";
const RE_WRITE = new RegExp(
  "\\b(?:FileCopy|CopyFile|Kill|CreateTextFile|" +
    "VirtualAlloc|RtlMoveMemory|URLDownloadToFileA?|AltStartupPath|WriteProcessMemory|" +
    "ADODB\\.Stream|WriteText|SaveToFile|SaveAs|SaveAsRTF|FileSaveAs|MkDir|RmDir|SaveSetting|SetAttr)\\b|" +
    RE_OPEN_WRITE,
  "i",
);
const RE_DECLARE_LIB = "(?:\\bDeclare\\b[^\\n]+\\bLib\\b)";
const RE_EXECUTE = new RegExp(
  "\\b(?:Shell|CreateObject|GetObject|SendKeys|RUN|CALL|" +
    "MacScript|FollowHyperlink|CreateThread|ShellExecuteA?|ExecuteExcel4Macro|EXEC|REGISTER|SetTimer)\\b|" +
    RE_DECLARE_LIB,
  "i",
);

/** MacroRaptor's verdict: suspicious when auto-exec and (write or execute). */
export interface MacroRaptorResult {
  flags: string;
  autoexec: boolean;
  write: boolean;
  execute: boolean;
  suspicious: boolean;
  matches: string[];
}

/** olevba.vba_collapse_long_lines: line continuations become one space. */
export function collapseLongLines(code: string): string {
  const c = code.endsWith("\n") ? code : code + "\n";
  return c.replaceAll(" _\r\n", " ").replaceAll(" _\r", " ").replaceAll(" _\n", " ");
}

/** Runs MacroRaptor on the source of all modules (mraptor scans them as one text). */
export function macroRaptor(code: string): MacroRaptorResult {
  const text = collapseLongLines(code);
  const matches: string[] = [];
  const test = (re: RegExp) => {
    const m = re.exec(text);
    if (m) matches.push(m[0]);
    return m !== null;
  };
  const autoexec = test(RE_AUTOEXEC);
  const write = test(RE_WRITE);
  const execute = test(RE_EXECUTE);
  return {
    flags: `${autoexec ? "A" : "-"}${write ? "W" : "-"}${execute ? "X" : "-"}`,
    autoexec,
    write,
    execute,
    suspicious: autoexec && (write || execute),
    matches,
  };
}

// --- encoded strings (olevba detect_hex_strings / detect_base64_strings) ------------------------

const RE_HEX = /(?:[0-9A-Fa-f]{2}){4,}/g;
const BASE64_RE =
  "(?:[A-Za-z0-9+/]{4}){1,}(?:[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=|[A-Za-z0-9+/][AQgw]==)?";
const RE_BASE64 = new RegExp(`"${BASE64_RE}"`, "g");
const BASE64_WHITELIST = new Set([
  "thisdocument",
  "thisworkbook",
  "test",
  "temp",
  "http",
  "open",
  "exit",
  "kernel32",
  "virtualalloc",
  "createthread",
]);

/** An encoded string and what it decodes to. */
export interface EncodedString {
  encoding: "hex" | "base64";
  encoded: string;
  decoded: string;
}

/**
 * Hex and base64 strings as olevba finds them, kept only when they decode to mostly printable
 * text (olevba keeps all; CLSIDs and random ids then drown the real ones). At most `max`.
 */
export function encodedStrings(code: string, max = 50): EncodedString[] {
  const out: EncodedString[] = [];
  const seen = new Set<string>();
  const printable = (b: Uint8Array) =>
    b.length >= 4 &&
    b.filter((c) => (c >= 0x20 && c < 0x7f) || c === 9 || c === 10 || c === 13).length >=
      b.length * 0.9;
  const latin1 = new TextDecoder("latin1");
  for (const m of code.matchAll(RE_HEX)) {
    if (out.length >= max) break;
    const v = m[0];
    if (seen.has(v)) continue;
    seen.add(v);
    const bytes = Uint8Array.from(v.match(/../g)!, (h) => parseInt(h, 16));
    if (printable(bytes)) out.push({ encoding: "hex", encoded: v, decoded: latin1.decode(bytes) });
  }
  for (const m of code.matchAll(RE_BASE64)) {
    if (out.length >= max) break;
    const v = m[0].slice(1, -1);
    if (seen.has(v) || BASE64_WHITELIST.has(v.toLowerCase()) || v.length < 8) continue;
    seen.add(v);
    let bytes: Uint8Array;
    try {
      bytes = Uint8Array.from(atob(v), (c) => c.charCodeAt(0));
    } catch {
      continue;
    }
    if (printable(bytes)) {
      out.push({ encoding: "base64", encoded: v, decoded: latin1.decode(bytes) });
    }
  }
  return out;
}

/** olevba's "Executable file name" IOC pattern. */
export const EXECUTABLE_NAME_RE =
  /\b\w+\.(EXE|PIF|GADGET|MSI|MSP|MSC|VBS|VBE|VB|JSE|JS|WSF|WSC|WSH|WS|BAT|CMD|DLL|SCR|HTA|CPL|CLASS|JAR|PS1XML|PS1|PS2XML|PS2|PSC1|PSC2|SCF|LNK|INF|REG)\b/gi;
