/**
 * Writes a synthetic YARA rule folder shaped like the public sets a SOC loads (signature-base:
 * ~740 files of APT, crime, webshell and anomaly rules), for scripts/bench-rules when no public
 * set is at hand. Deterministic: the same seed writes the same files.
 *
 *   ./node_modules/deno/deno run --allow-write scripts/gen-rules.ts OUT_DIR [FILES] [SEED]
 *
 * What it writes, in OUT_DIR:
 * - FILES-14 rule files (default 741 in all) of 1–12 rules each: meta blocks as yarGen writes
 *   them, text strings (ascii/wide/nocase/fullword), hex strings with wildcards, jumps and
 *   alternatives, regexes with good atoms, `pe`, `math` and `hash` module conditions. About 0.4 %
 *   of the rules match content of the bench corpus (shared/bench/gen_corpus.py), so matches can
 *   be compared with the `yara` CLI; a few carry slow patterns (YARA-X warns about them).
 * - 6 files that use the external variables filename, filepath, extension, filetype and owner
 *   (as signature-base's yara_mixed_ext_vars.yar and thor_inverse_matches.yar do).
 * - index.yar, which includes the 5 files of index/ (as Yara-Rules' index files do).
 * - 2 broken files (a syntax error; an unknown identifier), whose every rule fails.
 */

const out = Deno.args[0];
const total = Number(Deno.args[1] ?? 741);
let seed = Number(Deno.args[2] ?? 20241203) >>> 0;
if (!out || !Number.isInteger(total) || total < 20) {
  console.error("usage: gen-rules.ts OUT_DIR [FILES>=20] [SEED]");
  Deno.exit(2);
}

/** mulberry32: small, seeded, good enough for test data. */
function rand(): number {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const int = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)];
const chance = (p: number) => rand() < p;
const hexByte = () => int(0, 255).toString(16).toUpperCase().padStart(2, "0");
const hash = (n: number) => Array.from({ length: n }, () => int(0, 15).toString(16)).join("");

const ACTORS = [
  "APT28",
  "APT29",
  "Lazarus",
  "Turla",
  "Equation",
  "FIN7",
  "Carbanak",
  "OceanLotus",
  "Kimsuky",
  "Winnti",
  "APT41",
  "MuddyWater",
  "Sandworm",
  "DarkHotel",
  "Gamaredon",
  "TA505",
  "Emotet",
  "TrickBot",
  "QakBot",
  "IcedID",
  "CobaltStrike",
  "Sliver",
  "BruteRatel",
  "PlugX",
  "ShadowPad",
];
const KINDS = ["apt", "mal", "crime", "expl", "hktl", "susp", "gen", "webshell", "ransom", "apt"];
const API = [
  "VirtualAllocEx",
  "WriteProcessMemory",
  "CreateRemoteThread",
  "NtUnmapViewOfSection",
  "SetWindowsHookExA",
  "GetAsyncKeyState",
  "InternetOpenUrlA",
  "URLDownloadToFileW",
  "CryptEncrypt",
  "RegSetValueExW",
  "ShellExecuteExW",
  "WinHttpSendRequest",
  "IsDebuggerPresent",
  "OpenProcessToken",
  "AdjustTokenPrivileges",
  "LookupPrivilegeValueA",
  "CreateServiceA",
];
const WORDS = [
  "svchost",
  "update",
  "loader",
  "stager",
  "beacon",
  "agent",
  "implant",
  "dropper",
  "inject",
  "payload",
  "config",
  "tasks",
  "uploader",
  "keylog",
  "screen",
  "proxy",
  "tunnel",
  "backdoor",
  "service",
  "helper",
  "runtime",
  "client",
  "server",
  "module",
  "plugin",
  "crypt",
  "packer",
];
const EXT = [".exe", ".dll", ".tmp", ".dat", ".bin", ".ps1", ".vbs", ".php", ".aspx", ".jsp"];
// Content of the bench corpus (shared/bench/gen_corpus.py), so some rules match there.
const CORPUS_HITS = [
  `$a = { DE AD BE EF 13 37 C0 DE }`,
  `$a = "This program cannot be run in DOS mode" ascii`,
  `$a = "powershell -enc" ascii nocase`,
  `$a = "https://downloads.example.org/a/b/c.bin" ascii`,
  `$a = "quarterly invoice" ascii`,
  `$a = "malware analysis" ascii`,
  `$a = /http:\\/\\/example\\.com\\/[a-z]{1,10}\\.html/`,
];

const used = new Set<string>();
function unique(base: string): string {
  let name = base.replace(/[^A-Za-z0-9_]/g, "_");
  while (used.has(name)) name = `${base}_${int(1, 9999)}`.replace(/[^A-Za-z0-9_]/g, "_");
  used.add(name);
  return name;
}

/** A printable token no real file is likely to hold. */
function token(): string {
  const parts = [pick(WORDS), pick(["_", ".", "-", "\\\\", "/", ""]), hash(int(4, 8))];
  if (chance(0.4)) parts.push(pick(EXT));
  return chance(0.3)
    ? `${pick(["C:\\\\Users\\\\Public\\\\", "%TEMP%\\\\", "/tmp/."])}${parts.join("")}`
    : parts.join("");
}

function textString(id: string): string {
  const mods = pick([
    ["ascii"],
    ["wide"],
    ["ascii", "wide"],
    ["fullword", "ascii"],
    [
      "ascii",
      "nocase",
    ],
    ["wide", "fullword"],
    [],
  ]);
  return `$${id} = "${token()}"${mods.length ? " " + mods.join(" ") : ""}`;
}

function hexString(id: string): string {
  const parts: string[] = [];
  const n = int(8, 24);
  for (let i = 0; i < n; i++) {
    const r = rand();
    // The first four bytes stay literal: they are the atom.
    const afterJump = parts.at(-1)?.startsWith("[");
    if (i < 4 || r < 0.75 || afterJump) parts.push(hexByte());
    else if (r < 0.85) parts.push("??");
    else if (r < 0.92) parts.push(`[${int(0, 2)}-${int(3, 8)}]`);
    else parts.push(`( ${hexByte()} ${hexByte()} | ${hexByte()} ${hexByte()} )`);
  }
  parts.push(hexByte(), hexByte());
  return `$${id} = { ${parts.join(" ")} }`;
}

function regexString(id: string): string {
  const forms = [
    () => `/${pick(WORDS)}${hash(4)}\\.(exe|dll|dat)/ nocase`,
    () => `/https?:\\/\\/[a-z0-9.\\-]{4,40}\\/${pick(WORDS)}\\.php\\?id=[0-9]{2,8}/`,
    () => `/${pick(API)}[A-W]?\\x00{1,4}${pick(API)}/`,
    () => `/\\\\${pick(WORDS)}${hash(3)}\\\\[a-z]{3,12}\\.pdb/ nocase`,
  ];
  return `$${id} = ${pick(forms)()}`;
}

function meta(name: string, extra: string[] = []): string {
  const lines = [
    `description = "Detects ${name.replace(/_/g, " ")} (synthetic)"`,
    `author = "stoq gen-rules"`,
    `reference = "https://example.org/report/${hash(8)}"`,
    `date = "20${int(14, 24)}-${String(int(1, 12)).padStart(2, "0")}-${
      String(int(1, 28)).padStart(2, "0")
    }"`,
    `score = ${pick([50, 60, 65, 70, 75, 80, 85, 90])}`,
    ...Array.from({ length: int(0, 3) }, (_, i) => `hash${i + 1} = "${hash(64)}"`),
    `id = "${hash(8)}-${hash(4)}-${hash(4)}-${hash(4)}-${hash(12)}"`,
    ...extra,
  ];
  return lines.map((l) => `      ${l}`).join("\n");
}

interface Ctx {
  imports: Set<string>;
}

function ruleText(ctx: Ctx, name: string, opts: { slow?: boolean; hit?: boolean } = {}): string {
  const strings: string[] = [];
  const nText = int(1, 8);
  for (let i = 1; i <= nText; i++) strings.push(textString(`s${i}`));
  const nX = int(0, 3);
  for (let i = 1; i <= nX; i++) strings.push(textString(`x${i}`));
  const nHex = chance(0.5) ? int(1, 3) : 0;
  for (let i = 1; i <= nHex; i++) strings.push(hexString(`op${i}`));
  if (chance(0.25)) strings.push(regexString("re1"));
  // Runs of common bytes: both YARA-X (slow_pattern) and yara 4 ("may slow down scanning") warn,
  // as they do for such strings in public sets, yet they scan cheaply. A regex with no atom at all
  // (/\w+\d+/) would cost yara 4 minutes on the bench corpus.
  if (opts.slow) {
    strings.push(
      pick([
        "$slow = { 00 00 00 00 00 00 }",
        "$slow = /\\xff\\xff\\xff\\xff/",
        "$slow = /[\\x00-\\x02]{4}\\xab/",
      ]),
    );
  }
  const cond: string[] = [];
  const parts = [`${nText > 1 ? int(1, nText) : 1} of ($s*)`];
  if (nX) parts.push("1 of ($x*)");
  if (nHex) parts.push(`all of ($op*)`);
  if (strings.some((s) => s.startsWith("$re1"))) parts.push("$re1");
  if (opts.slow) parts.push("$slow");
  let body = parts.length > 1 ? `( ${parts.join(" or ")} )` : parts[0];
  if (opts.hit) {
    strings.push(pick(CORPUS_HITS).replace("$a", "$hit"));
    body = `( ${body} or $hit )`;
  }
  const r = rand();
  if (opts.hit) cond.push(body);
  else if (r < 0.6) cond.push(`uint16(0) == 0x5a4d and filesize < ${int(20, 3000)}KB and ${body}`);
  else if (r < 0.7) {
    ctx.imports.add("pe");
    cond.push(
      `uint16(0) == 0x5a4d and ( pe.imphash() == "${hash(32)}" or ( pe.number_of_sections > ${
        int(3, 9)
      } and ${body} ) )`,
    );
  } else if (r < 0.75) {
    ctx.imports.add("pe");
    cond.push(`uint16(0) == 0x5a4d and pe.exports("${pick(WORDS)}${hash(4)}") and ${body}`);
  } else if (r < 0.8) {
    ctx.imports.add("math");
    cond.push(
      `filesize < ${int(100, 900)}KB and math.entropy(0, filesize) > 7.${int(0, 9)} and ${body}`,
    );
  } else if (r < 0.83) {
    ctx.imports.add("hash");
    cond.push(`filesize < 2MB and ( hash.md5(0, filesize) == "${hash(32)}" or ${body} )`);
  } else if (r < 0.9) cond.push(`uint32(0) == 0x464c457f and ${body}`);
  else cond.push(`filesize < ${int(1, 500)}KB and ${body}`);
  const tags = chance(0.2) ? ` : ${pick(["APT", "CRIME", "HKTL", "WEBSHELL"])}` : "";
  return `rule ${name}${tags} {
   meta:
${meta(name)}
   strings:
${strings.map((s) => `      ${s}`).join("\n")}
   condition:
      ${cond.join(" and ")}
}
`;
}

function fileText(rules: string[], ctx: Ctx, title: string): string {
  const header = `/*
   Yara Rule Set (synthetic, stoq scripts/gen-rules.ts)
   Identifier: ${title}
*/

`;
  const imports = [...ctx.imports].sort().map((m) => `import "${m}"\n`).join("");
  return header + imports + (imports ? "\n" : "") + rules.join("\n");
}

const EXT_RULES = [
  (n: string) =>
    `rule ${n} {
   meta:
${meta(n)}
   strings:
      $s1 = "Windows Explorer" wide fullword
      $s2 = "EXPLORER.EXE" wide fullword
   condition:
      filename == "explorer.exe" and uint16(0) == 0x5a4d
      and not filepath contains "teamviewer" and not 1 of ($s*)
}
`,
  (n: string) =>
    `rule ${n} {
   meta:
${meta(n)}
   strings:
      $hit = { DE AD BE EF 13 37 C0 DE }
   condition:
      $hit and not filename contains "svchost" and extension != ".msi"
}
`,
  (n: string) =>
    `rule ${n} {
   meta:
${meta(n)}
   condition:
      uint16(0) == 0x5a4d and filename matches /[Tt]humbs\\.db/
}
`,
  (n: string) =>
    `rule ${n} {
   meta:
${meta(n)}
   strings:
      $a = "powershell -enc" ascii nocase
   condition:
      $a and not filetype == "EXE" and not owner contains "SYSTEM"
}
`,
  (n: string) =>
    `rule ${n} {
   meta:
${meta(n)}
   strings:
      $s1 = "quarterly invoice" ascii
   condition:
      $s1 and not extension == ".txt" and not filepath contains "Dr Watson"
}
`,
];

const files = new Map<string, string>();
const regular = total - 14;
for (let f = 0; f < regular; f++) {
  const kind = pick(KINDS);
  const actor = pick(ACTORS);
  const title = `${kind}_${actor.toLowerCase()}_${hash(4)}`;
  const ctx: Ctx = { imports: new Set() };
  const rules: string[] = [];
  const n = int(1, 12);
  for (let r = 0; r < n; r++) {
    const name = unique(`${kind.toUpperCase()}_${actor}_${pick(WORDS)}_${hash(4)}`);
    rules.push(ruleText(ctx, name, { slow: chance(0.0033), hit: chance(0.004) }));
  }
  files.set(`${title}.yar`, fileText(rules, ctx, title));
}
for (let e = 0; e < 6; e++) {
  const ctx: Ctx = { imports: new Set() };
  const rules = Array.from(
    { length: int(2, 5) },
    () => pick(EXT_RULES)(unique(`SUSP_Anomaly_${pick(WORDS)}_${hash(4)}`)),
  );
  files.set(`gen_ext_vars_${e}.yar`, fileText(rules, ctx, `external variables ${e}`));
}
const included: string[] = [];
for (let i = 0; i < 5; i++) {
  const ctx: Ctx = { imports: new Set() };
  const rules = Array.from(
    { length: int(2, 6) },
    () => ruleText(ctx, unique(`MAL_Indexed_${pick(WORDS)}_${hash(4)}`), { hit: chance(0.2) }),
  );
  const name = `index/MALW_${pick(ACTORS)}_${i}.yar`;
  included.push(name);
  files.set(name, fileText(rules, ctx, `included ${i}`));
}
files.set(
  "index.yar",
  `/* Index file, as Yara-Rules ships them: the rule files it names are loaded through it. */\n` +
    included.map((p) => `include "./${p}"\n`).join(""),
);
files.set(
  "broken_syntax.yar",
  `rule BROKEN_Syntax_${
    hash(4)
  } {\n   strings:\n      $a = "broken"\n   condition:\n      $a and (\n}\n`,
);
files.set(
  "broken_identifier.yar",
  `rule BROKEN_Identifier_${
    hash(4)
  } {\n   strings:\n      $a = "unknown"\n   condition:\n      $a and not_defined_anywhere\n}\n`,
);

await Deno.mkdir(`${out}/index`, { recursive: true });
let bytes = 0;
let rules = 0;
for (const [name, text] of files) {
  await Deno.writeTextFile(`${out}/${name}`, text);
  bytes += text.length;
  rules += (text.match(/^rule /gm) ?? []).length;
}
console.log(`${files.size} files, ${rules} rules, ${bytes} bytes in ${out}`);
