import { deepEqual, equal, match, ok } from "node:assert/strict";
import { EICAR, LNK_SCRIPT, type RealFileName, realFiles, XOR_KEY } from "../realfiles.ts";
import { sh } from "../helpers.ts";
import { type ScriptFileName, scriptFiles } from "../fixtures/script_files.ts";
import { type ArchiveFileName, archiveFiles } from "../fixtures/archive_files.ts";
import { lnkFiles } from "../fixtures/lnk_files.ts";
import { oneNoteFiles } from "../fixtures/onenote_files.ts";
import { ooxmlFiles } from "../fixtures/ooxml_files.ts";
import { type EmailFileName, emailFiles } from "../fixtures/email_files.ts";
import { textFiles } from "../fixtures/text_files.ts";
import { yarax, type YaraxMatch as YaraRuleMatch } from "../../plugins/lib/yara/yarax.ts";

const yx = yarax();
const RULES_DIR = new URL("../../config/rules/", import.meta.url);
const source = (name: string) => Deno.readTextFileSync(new URL(name, RULES_DIR));
/** The route plugin's default `typing_head_bytes`. */
const HEAD_BYTES = 256 * 1024;
const typingHead = yx.compile(source("typing_head.yar"));
const typingWhole = yx.compile(source("typing.yar"));
/** Typing as the route plugin scans: typing_head.yar over the first 256 KiB, typing.yar whole. */
const typing = {
  scan: (d: Uint8Array) => [...typingHead.scan(d.subarray(0, HEAD_BYTES)), ...typingWhole.scan(d)],
};
/** Both typing files as one set, scanned over the whole payload (what the split must equal). */
const typingAllWhole = yx.compile(source("typing_head.yar") + "\n" + source("typing.yar"));
const worker = yx.compile(source("stoq.yar"));
const dispatch = yx.compile(source("dispatch.yar"));
const text = (s: string) => new TextEncoder().encode(s);
const names = (rules: { scan(d: Uint8Array): YaraRuleMatch[] }, data: Uint8Array) =>
  rules.scan(data).map((m) => m.ruleIdentifier).sort();
const ruleNames = (...files: string[]) =>
  files.flatMap((file) => [...source(file).matchAll(/^rule (\w+)/gm)].map((m) => m[1]));

/** The flavors typing.yar must give each real file, and no others. */
const FLAVORS: Record<RealFileName, string[]> = {
  "hello.exe": ["pe_file"],
  "inject.exe": ["pe_file"],
  "hello.elf": ["elf_file"],
  "hello.macho": ["macho_file"],
  "hello_fat.macho": ["macho_file"],
  "Hello.class": ["javaclass_file"],
  "app.jar": ["jar_file", "zip_file"],
  "report.doc": ["olecf_file"],
  "report.docx": ["ooxml_file", "zip_file"],
  "report.rtf": ["rtf_file"],
  "report.pdf": ["pdf_file"],
  "page.html": ["html_file"],
  "report.xlsx": ["ooxml_file", "zip_file"],
  "macro.xls": ["olecf_file"],
  "macro.xlsm": ["ooxml_file", "zip_file"],
  "active.pdf": ["pdf_file"],
  "attach.pdf": ["pdf_file"],
  "image.png": ["png_file"],
  "image.jpg": ["jpeg_file"],
  "image.gif": ["gif_file"],
  "object.rtf": ["rtf_file"],
  "mail.eml": ["email_file"],
  "script.js": ["javascript_file"],
  "blob.b64": ["base64_file"],
  "hello.xor": [],
  "eicar.com": [],
  "archive.zip": ["zip_file"],
  "archive.7z": ["_7zip_file"],
  "archive.tar": ["tar_file"],
  "archive_v7.tar": ["tar_file"],
  "archive.tar.gz": ["gzip_file"],
  "archive.tar.bz2": ["bzip2_file"],
  "archive.tar.xz": ["xz_file"],
  "archive.cab": ["cab_file"],
  "image.iso": ["iso_file"],
  "hello.swf": ["swf_file"],
  "hello_cws.swf": ["swf_file"],
  "shortcut.lnk": ["lnk_file"],
  "hello.c": [],
  "Hello.java": [],
  "mail.py": [],
};

/** The flavors of the web and script fixtures (tests/fixtures/script_files.ts). */
/** The flavors of the archive and disk-image fixtures (tests/fixtures/archive_files.ts). */
const ARCHIVE_FLAVORS: Record<ArchiveFileName, string[]> = {
  "a_bin.cpio": ["cpio_file"],
  "a_odc.cpio": ["cpio_file"],
  "a_newc.cpio": ["cpio_file"],
  "a.deb": ["ar_file", "deb_file"],
  "a.a": ["ar_file"],
  "a.rpm": ["rpm_file"],
  "a.xar": ["xar_file"],
  "a.squashfs": ["squashfs_file"],
  "a.wim": ["wim_file"],
  "a.vhd": ["vhd_file"],
  "a.vhdx": ["vhdx_file"],
  "a.dmg": ["dmg_file"],
  "a.udf": ["udf_file"],
  "notes.tx_": ["szdd_file"],
  "a.chm": ["chm_file"],
  "setup.exe": ["pe_file"],
  "setup.nsis": ["nsis_file"],
  "a.msi": ["msi_file", "olecf_file"],
  "notes.txt.zst": ["zstd_file"],
  "fifo.7z": ["_7zip_file"],
  "fifo.zip": ["zip_file"],
  "links.tar": ["tar_file"],
  "links.zip": ["zip_file"],
  "src/hello.exe": ["pe_file"],
  "src/eicar.com": [],
  "src/notes.txt": [],
};

const SCRIPT_FLAVORS: Record<ScriptFileName, string[]> = {
  "phish.html": ["html_file"],
  "app.hta": ["html_file"],
  "dropper.js": ["javascript_file"],
  "oneliner.txt": ["powershell_file"],
  "obfuscated.ps1": ["powershell_file"],
  "dropper.vbs": ["vbscript_file"],
  "dropper.bat": ["batch_file"],
};

/** The stoq.yar rules that must match each real file; every other file matches none. */
const WORKER: Partial<Record<RealFileName, string[]>> = {
  "eicar.com": ["eicar_test_file"],
  "archive.tar": ["embedded_pe"],
  "archive_v7.tar": ["embedded_pe"],
  "archive.cab": ["embedded_pe"],
  "image.iso": ["embedded_pe"],
  "inject.exe": ["pe_process_injection_imports"],
  "macro.xls": ["office_autoexec_macro", "office_ole_vba_macros"],
  "macro.xlsm": ["office_ooxml_vba_macros"],
  "active.pdf": ["pdf_auto_action", "pdf_javascript", "pdf_launch_action"],
  "attach.pdf": ["pdf_embedded_file"],
  "object.rtf": ["rtf_embedded_object", "rtf_objupdate"],
  "shortcut.lnk": ["powershell_encoded_command"],
};

/** What libmagic (`file -b`) says about each fixture: the fixtures are what they claim to be. */
const FILE_SAYS: Record<RealFileName, RegExp> = {
  "hello.exe": /^PE32\+ executable \(console\) x86-64/,
  "inject.exe": /^PE32\+ executable \(console\) x86-64/,
  "hello.elf": /^ELF 64-bit LSB/,
  "hello.macho": /^Mach-O 64-bit x86_64 object/,
  "hello_fat.macho": /^Mach-O universal binary with 2 architectures/,
  "Hello.class": /^compiled Java class data/,
  "app.jar": /^Java archive data \(JAR\)/,
  "report.doc": /^Composite Document File V2 Document/,
  "report.docx": /^Microsoft Word 2007\+/,
  "report.rtf": /^Rich Text Format data/,
  "report.pdf": /^PDF document/,
  "page.html": /^HTML document/,
  "report.xlsx": /^Microsoft Excel 2007\+/,
  "macro.xls": /^Composite Document File V2 Document/,
  "macro.xlsm": /^Microsoft Excel 2007\+/,
  "active.pdf": /^PDF document/,
  "attach.pdf": /^PDF document/,
  "image.png": /^PNG image data/,
  "image.jpg": /^JPEG image data/,
  "image.gif": /^GIF image data, version 89a/,
  "object.rtf": /^Rich Text Format data/,
  "mail.eml": /^RFC 822 mail/,
  "script.js": /^JavaScript source/,
  "blob.b64": /^ASCII text/,
  "hello.xor": /^data$/,
  "eicar.com": /^EICAR virus test files/,
  "archive.zip": /^Zip archive data/,
  "archive.7z": /^7-zip archive data/,
  "archive.tar": /^POSIX tar archive/,
  "archive_v7.tar": /^tar archive/,
  "archive.tar.gz": /^gzip compressed data/,
  "archive.tar.bz2": /^bzip2 compressed data/,
  "archive.tar.xz": /^XZ compressed data/,
  "archive.cab": /^Microsoft Cabinet archive data/,
  "image.iso": /^ISO 9660 CD-ROM filesystem data 'STOQ'/,
  "hello.swf": /^Macromedia Flash data, version 10/,
  "hello_cws.swf": /^Macromedia Flash data \(compressed\), version 10/,
  "shortcut.lnk": /^MS Windows shortcut/,
  "hello.c": /^C source/,
  "Hello.java": /^(Java source|ASCII text)/,
  "mail.py": /^Python script/,
};

/** Deterministic pseudo-random bytes (xorshift32), so a failure reproduces. */
function pseudoRandom(size: number, seed: number): Uint8Array {
  const words = new Uint32Array(Math.ceil(size / 4));
  let x = seed >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x;
  }
  return new Uint8Array(words.buffer, 0, size);
}

function utf16(s: string): Uint8Array {
  const out = new Uint8Array(s.length * 2);
  for (let i = 0; i < s.length; i++) out[i * 2] = s.charCodeAt(i);
  return out;
}

async function stdoutBytes(cmd: string, args: string[]): Promise<Uint8Array> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return out.stdout;
}

Deno.test("rules: each bundled rule file compiles with YARA-X, with no warnings", () => {
  for (const file of ["typing_head.yar", "typing.yar", "stoq.yar", "dispatch.yar"]) {
    const { warnings, errors } = yx.validate(source(file));
    deepEqual(errors.map((e) => e.message), [], `${file} has errors`);
    deepEqual(warnings.map((w) => w.message), [], `${file} has warnings`);
  }
});

Deno.test("rules: every rule has the meta the README promises", () => {
  for (const file of ["typing_head.yar", "typing.yar"]) {
    for (
      const m of source(file).matchAll(/^rule (\w+)\s*\{\s*meta:([\s\S]*?)(strings|condition):/gm)
    ) {
      match(m[2], /description = "/, `${file} ${m[1]} lacks a description`);
    }
  }
  for (const file of ["stoq.yar", "dispatch.yar"]) {
    for (
      const m of source(file).matchAll(/^rule (\w+)\s*\{\s*meta:([\s\S]*?)(strings|condition):/gm)
    ) {
      for (const key of ["description", "author", "reference"]) {
        match(m[2], new RegExp(`${key} = "`), `${file} ${m[1]} lacks ${key}`);
      }
    }
  }
  for (const m of source("dispatch.yar").matchAll(/^rule (\w+)\s*\{\s*meta:([\s\S]*?)strings:/gm)) {
    match(m[2], /plugin = "/, `dispatch.yar ${m[1]} has no plugin`);
  }
});

Deno.test("realfiles: each fixture is what libmagic says it is; the constructed ones parse with exiftool", async () => {
  const files = await realFiles();
  for (const [name, path] of Object.entries(files) as [RealFileName, string][]) {
    match((await sh("file", ["-b", path])).trim(), FILE_SAYS[name], name);
  }
  const lnk = JSON.parse(await sh("exiftool", ["-j", files["shortcut.lnk"]]))[0];
  equal(lnk.RelativePath, "..\\..\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe");
  const encoded = String(lnk.CommandLineArguments).split(" ").at(-1)!;
  equal(
    new TextDecoder("utf-16le").decode(Uint8Array.from(atob(encoded), (c) => c.charCodeAt(0))),
    LNK_SCRIPT,
  );
  for (const swf of ["hello.swf", "hello_cws.swf"] as const) {
    const info = JSON.parse(await sh("exiftool", ["-j", files[swf]]))[0];
    deepEqual([info.ImageWidth, info.ImageHeight, info.FrameRate, info.FrameCount], [
      550,
      400,
      24,
      1,
    ], swf);
  }
});

Deno.test("typing.yar: every real file gets exactly its flavors", async () => {
  const files = await realFiles();
  const wrong: string[] = [];
  for (const [name, path] of Object.entries(files) as [RealFileName, string][]) {
    const got = names(typing, await Deno.readFile(path));
    const want = [...FLAVORS[name]].sort();
    if (JSON.stringify(got) !== JSON.stringify(want)) {
      wrong.push(`${name}: got ${got}, want ${want}`);
    }
  }
  const scripts = (await scriptFiles()).files;
  for (const [name, path] of Object.entries(scripts) as [ScriptFileName, string][]) {
    const got = names(typing, await Deno.readFile(path));
    if (JSON.stringify(got) !== JSON.stringify(SCRIPT_FLAVORS[name])) {
      wrong.push(`${name}: got ${got}, want ${SCRIPT_FLAVORS[name]}`);
    }
  }
  const archives = await archiveFiles(files["hello.exe"]);
  for (const [name, path] of Object.entries(archives) as [ArchiveFileName, string][]) {
    const got = names(typing, await Deno.readFile(path));
    const want = [...ARCHIVE_FLAVORS[name]].sort();
    if (JSON.stringify(got) !== JSON.stringify(want)) {
      wrong.push(`${name}: got ${got}, want ${want}`);
    }
  }
  deepEqual(wrong, []);
  // Every flavor has a real file behind it, except RAR (tested below from the format's bytes),
  // the certificate flavors (their files are built and typed in tests/plugins/x509_test.ts) and
  // OneNote (no Debian tool writes it: tested below on the constructed section), and the small
  // text formats (built and typed in tests/plugins/text_typing_test.ts).
  const covered = new Set(
    [
      ...Object.values(FLAVORS),
      ...Object.values(SCRIPT_FLAVORS),
      ...Object.values(ARCHIVE_FLAVORS),
      ...Object.values(EMAIL_FLAVORS),
    ]
      .flat(),
  );
  deepEqual(ruleNames("typing_head.yar", "typing.yar").filter((r) => !covered.has(r)), [
    "x509_der_file",
    "pkcs7_file",
    "x509_pem_file",
    "rar_file",
    "onenote_file",
    "url_shortcut_file",
    "iqy_file",
    "jnlp_file",
    "plist_file",
  ]);
});

Deno.test("typing: typing_head.yar on the first 256 KiB and typing.yar whole type every file as both whole would", async () => {
  // Every fixture as it is, padded past 256 KiB with zeros and with text (so what follows the
  // head is the part the head rules never see), and the system's large files.
  const paths = [
    ...Object.values(await realFiles()),
    ...Object.values((await scriptFiles()).files),
    ...Object.values(await archiveFiles((await realFiles())["hello.exe"])),
    ...Object.values(await emailFiles()),
    ...Object.values(await ooxmlFiles()),
    ...Object.values(await oneNoteFiles()),
    ...Object.values(await lnkFiles()),
    ...Object.values(await textFiles()),
  ];
  const large: string[] = [];
  for (const dir of ["/usr/bin", "/usr/lib/x86_64-linux-gnu", "/usr/share/doc/git"]) {
    for await (const e of Deno.readDir(dir)) {
      const path = `${dir}/${e.name}`;
      if (!e.isFile || large.length >= 120) continue;
      if ((await Deno.stat(path)).size > HEAD_BYTES) large.push(path);
    }
  }
  ok(large.length >= 20, `only ${large.length} system files over 256 KiB`);
  const pad = (d: Uint8Array, fill: number) => {
    const out = new Uint8Array(d.length + HEAD_BYTES + 4096).fill(fill);
    out.set(d);
    return out;
  };
  const differ: string[] = [];
  let typed = 0;
  for (const path of [...paths, ...large]) {
    const data = await Deno.readFile(path);
    for (
      const [label, d] of [["", data], [" + zeros", pad(data, 0)], [
        " + text",
        pad(data, 0x61),
      ]] as const
    ) {
      const split = names(typing, d);
      const whole = names(typingAllWhole, d);
      if (split.length) typed++;
      if (JSON.stringify(split) !== JSON.stringify(whole)) {
        differ.push(`${path}${label}: ${split} (split) vs ${whole} (whole)`);
      }
    }
  }
  deepEqual(differ, []);
  ok(typed > 200, `only ${typed} of the files got a flavor`);
});

Deno.test("typing.yar: the phishing fixtures (OneNote section, shortcuts, Office files) get their flavors", async () => {
  const want: [string, string[]][] = [
    [(await oneNoteFiles())["invoice.one"], ["onenote_file"]],
    ...Object.values(await lnkFiles()).map((p): [string, string[]] => [p, ["lnk_file"]]),
  ];
  const office = await ooxmlFiles();
  for (const name of ["invoice.docx", "sheets.xlsx", "plain.docx"] as const) {
    want.push([office[name], ["ooxml_file", "zip_file"]]);
  }
  for (const name of ["standard.docx", "agile.docx", "rc4.doc", "rc4.xls"] as const) {
    want.push([office[name], ["olecf_file"]]);
  }
  for (const [path, flavors] of want) {
    deepEqual(names(typing, await Deno.readFile(path)), flavors, path);
  }
});

/** The flavors typing.yar must give each e-mail fixture (tests/fixtures/email_files.ts). */
const EMAIL_FLAVORS: Record<EmailFileName, string[]> = {
  "phish.eml": ["email_file"],
  "alert.eml": ["email_file"],
  // mpack starts with Message-ID and has no From: the route takes it by its MIME type.
  "mpack.eml": [],
  "tnef.eml": ["email_file"],
  "winmail.dat": ["tnef_file"],
  "report.msg": ["msg_file", "olecf_file"],
};

Deno.test("typing.yar: the e-mail fixtures get exactly their flavors; an OLE document is no msg_file", async () => {
  const files = await emailFiles();
  for (const [name, path] of Object.entries(files) as [EmailFileName, string][]) {
    deepEqual(names(typing, await Deno.readFile(path)), EMAIL_FLAVORS[name], name);
  }
  const real = await realFiles();
  for (const ole of ["report.doc", "macro.xls"] as const) {
    deepEqual(names(typing, await Deno.readFile(real[ole])), ["olecf_file"], ole);
  }
});

Deno.test("typing.yar: RAR 4 and RAR 5 signatures (no Debian tool writes RAR)", () => {
  // RAR 1.5-4.x: marker block, then the main archive header (HEAD_CRC 0x90CF, HEAD_TYPE 0x73,
  // HEAD_SIZE 13, reserved fields zero).
  const rar4 = Uint8Array.from([
    0x52,
    0x61,
    0x72,
    0x21,
    0x1a,
    0x07,
    0x00,
    0xcf,
    0x90,
    0x73,
    0x00,
    0x00,
    0x0d,
    0x00,
    0,
    0,
    0,
    0,
    0,
    0,
  ]);
  // RAR 5: eight-byte signature, then the main archive header: CRC32 of what follows, size 3,
  // type 1, header flags 0, archive flags 0.
  const rar5 = Uint8Array.from([
    0x52,
    0x61,
    0x72,
    0x21,
    0x1a,
    0x07,
    0x01,
    0x00,
    0xc5,
    0x1a,
    0x33,
    0x32,
    0x03,
    0x01,
    0x00,
    0x00,
  ]);
  deepEqual(names(typing, rar4), ["rar_file"]);
  deepEqual(names(typing, rar5), ["rar_file"]);
  // An unknown version byte after "Rar!\x1a\x07" is not RAR.
  deepEqual(
    names(typing, Uint8Array.from([0x52, 0x61, 0x72, 0x21, 0x1a, 0x07, 0x02, 0x00, 0, 0])),
    [],
  );
});

Deno.test("typing.yar: an old v7 tar is recognised by its header checksum, and a damaged header is not", async () => {
  const tar = await Deno.readFile((await realFiles())["archive_v7.tar"]);
  equal(
    new TextDecoder().decode(tar.subarray(257, 262)),
    "\0\0\0\0\0",
    "v7 headers have no ustar magic",
  );
  deepEqual(names(typing, tar), ["tar_file"]);
  const damaged = tar.slice();
  damaged[0] ^= 0x01; // the file name changes, the stored checksum does not
  deepEqual(names(typing, damaged), []);
});

Deno.test("typing.yar: a Java class and a Mach-O fat header share CAFEBABE but not the flavor", async () => {
  const files = await realFiles();
  const cls = await Deno.readFile(files["Hello.class"]);
  const fat = await Deno.readFile(files["hello_fat.macho"]);
  deepEqual([...cls.subarray(0, 4)], [0xca, 0xfe, 0xba, 0xbe]);
  deepEqual([...fat.subarray(0, 4)], [0xca, 0xfe, 0xba, 0xbe]);
  deepEqual(names(typing, cls), ["javaclass_file"]);
  deepEqual(names(typing, fat), ["macho_file"]);
});

Deno.test("typing.yar: javascript_file takes real CommonJS files and leaves other text alone", async () => {
  // picomatch is a pinned dependency: its sources are real-world JavaScript that stays put.
  const lib = new URL("../../node_modules/picomatch/lib/", import.meta.url);
  const js = [...Deno.readDirSync(lib)].filter((e) => e.name.endsWith(".js")).map((e) =>
    new URL(e.name, lib)
  );
  ok(js.length >= 5, "picomatch/lib holds its JavaScript sources");
  for (const url of js) {
    deepEqual(names(typing, await Deno.readFile(url)), ["javascript_file"], url.pathname);
  }
  // Markdown with code samples, TOML, JSON, shell and TypeScript are not JavaScript files.
  for (
    const rel of [
      "../../README.md",
      "../../config/default.toml",
      "../../package.json",
      "../../deno.json",
      "../../scripts/test",
      "../helpers.ts",
    ]
  ) {
    const url = new URL(rel, import.meta.url);
    deepEqual(
      names(typing, await Deno.readFile(url)).filter((n) => n === "javascript_file"),
      [],
      rel,
    );
  }
});

Deno.test("typing.yar: powershell_file, vbscript_file and batch_file leave the repository's own text alone", async () => {
  // Markdown (with PowerShell and batch samples in fences), TOML, JSON, shell, TypeScript that
  // holds PowerShell/VBScript/batch in strings, YARA rules, and Perl and Python from the system.
  const root = new URL("../../", import.meta.url);
  const rels = [
    "README.md",
    "config/default.toml",
    "config/rules/typing_head.yar",
    "config/rules/typing.yar",
    "package.json",
    "deno.json",
    "scripts/test",
    "tests/helpers.ts",
    "tests/fixtures/script_files.ts",
    "tests/plugins/powershell_test.ts",
    "tests/plugins/vbscript_test.ts",
    "tests/plugins/batch_test.ts",
    "plugins/lib/script/powershell.ts",
    "plugins/lib/script/vbscript.ts",
    "plugins/lib/script/batch.ts",
  ];
  const system = ["/usr/share/perl5/Git.pm", "/usr/share/perl5/Dpkg/Index.pm", "/etc/os-release"];
  for (const path of [...rels.map((r) => new URL(r, root).pathname), ...system]) {
    let data: Uint8Array;
    try {
      data = await Deno.readFile(path);
    } catch {
      continue; // a system file this machine lacks
    }
    deepEqual(
      names(typing, data).filter((n) => /^(powershell|vbscript|batch)_file$/.test(n)),
      [],
      path,
    );
  }
  // Short, real-looking snippets of each language are recognised.
  const flavor = (s: string) => names(typing, text(s));
  deepEqual(flavor("pwsh -NoProfile -Command Get-Date\n"), ["powershell_file"]);
  deepEqual(
    flavor("$files = Get-ChildItem -Path $env:TEMP\n$files | ForEach-Object { $_.Name }\n"),
    [
      "powershell_file",
    ],
  );
  deepEqual(
    flavor('On Error Resume Next\nSet fso = CreateObject("Scripting.FileSystemObject")\n'),
    [
      "vbscript_file",
    ],
  );
  deepEqual(flavor("@ECHO OFF\r\nset x=1\r\n"), ["batch_file"]);
  deepEqual(flavor("if exist C:\\x goto :done\ncall :sub\n:done\n"), ["batch_file"]);
});

Deno.test("stoq.yar: the worker rules match exactly the expected real files", async () => {
  const files = await realFiles();
  const wrong: string[] = [];
  for (const [name, path] of Object.entries(files) as [RealFileName, string][]) {
    const got = names(worker, await Deno.readFile(path));
    const want = [...(WORKER[name] ?? [])].sort();
    if (JSON.stringify(got) !== JSON.stringify(want)) {
      wrong.push(`${name}: got ${got}, want ${want}`);
    }
  }
  deepEqual(wrong, []);
  const covered = new Set(Object.values(WORKER).flat());
  deepEqual(
    ruleNames("stoq.yar").filter((r) => !covered.has(r)),
    [],
    "every worker rule has a real positive",
  );
});

Deno.test("stoq.yar: the vbaProject.bin inside macro.xlsm is an OLE file with an auto-exec macro", async () => {
  const bin = await stdoutBytes("7z", [
    "e",
    "-so",
    (await realFiles())["macro.xlsm"],
    "xl/vbaProject.bin",
  ]);
  ok(bin.length > 512);
  deepEqual(names(typing, bin), ["olecf_file"]);
  deepEqual(names(worker, bin), ["office_autoexec_macro", "office_ole_vba_macros"]);
});

Deno.test("stoq.yar: EICAR only as the spec defines it", () => {
  const rule = (s: string) => names(worker, text(s)).filter((n) => n === "eicar_test_file");
  equal(EICAR.length, 68);
  deepEqual(rule(EICAR), ["eicar_test_file"]);
  deepEqual(rule(EICAR + " \t\r\n\x1a"), ["eicar_test_file"]);
  deepEqual(rule(EICAR + " ".repeat(60)), ["eicar_test_file"], "128 bytes in all");
  deepEqual(rule(EICAR + " ".repeat(61)), [], "more than 128 bytes");
  deepEqual(rule(EICAR + "\nmore"), [], "other trailing text");
  deepEqual(rule("x" + EICAR), [], "not at offset 0");
});

Deno.test("stoq.yar: PowerShell encoded commands, in ASCII and UTF-16, and lookalikes that are not", () => {
  const b64 = btoa(String.fromCharCode(...utf16("Write-Output 'x'")));
  const rule = (d: Uint8Array) =>
    names(worker, d).filter((n) => n === "powershell_encoded_command");
  for (
    const line of [
      `powershell.exe -NoP -W Hidden -enc ${b64}`,
      `cmd /c "pwsh -e ${b64}"`,
      `PowerShell -ExecutionPolicy Bypass -EncodedCommand ${b64}`,
      `C:\\x\\powershell.exe /ec ${b64}`,
    ]
  ) {
    deepEqual(rule(text(line)), ["powershell_encoded_command"], line);
    deepEqual(rule(utf16(line)), ["powershell_encoded_command"], `${line} (UTF-16)`);
  }
  for (
    const line of [
      `openssl enc -e -aes256 -in ${b64}`,
      "powershell -Command Get-Date",
      "powershell -enc short",
    ]
  ) deepEqual(rule(text(line)), [], line);
});

Deno.test("dispatch.yar: xor_pe fires on hello.xor, where the key is recoverable, and never on the plain PE; carve_pe where embedded_pe does", async () => {
  const files = await realFiles();
  for (const [name, path] of Object.entries(files) as [RealFileName, string][]) {
    const want = name === "hello.xor"
      ? ["xor_pe"]
      : name === "blob.b64"
      ? ["b64_pe"]
      : WORKER[name]?.includes("embedded_pe")
      ? ["carve_pe"]
      : [];
    deepEqual(names(dispatch, await Deno.readFile(path)), want, name);
  }
  const exe = await Deno.readFile(files["hello.exe"]);
  for (const key of [XOR_KEY, 0x01, 0xc1, 0xff]) {
    const data = exe.map((b) => b ^ key);
    const [m] = dispatch.scan(data);
    equal(m.ruleIdentifier, "xor_pe");
    deepEqual([m.meta.plugin, m.meta.save], ["xordecode", "false"]);
    const plain = text(String(m.meta.xor_plaintext_for_string_dos));
    const hit = m.matches.find((x) => x.identifier === "$dos")!;
    equal(hit.length, plain.length);
    // The derivation the dispatcher does: matched bytes XOR plaintext (read from the payload, not
    // from the match's lossy string form), whose shortest period is the key.
    const keystream = data.subarray(hit.offset, hit.offset + hit.length).map((b, i) =>
      b ^ plain[i]
    );
    deepEqual([...new Set(keystream)], [key], `key 0x${key.toString(16)}`);
  }
  deepEqual(dispatch.scan(exe), [], "xor(1-255) excludes key 0, the plain file");
});

Deno.test("rules: random bytes and plain text match nothing", async () => {
  const prose = text(
    "Quarterly report\nRevenue grew in every region this quarter, and the team thanks everyone.\n"
      .repeat(200),
  );
  const inputs: [string, Uint8Array][] = [
    ["1 MiB of random bytes", pseudoRandom(1 << 20, 1)],
    ["64 KiB of random bytes", pseudoRandom(1 << 16, 2)],
    ["prose", prose],
    ["empty", new Uint8Array()],
    ["/etc/os-release", await Deno.readFile("/etc/os-release")],
  ];
  for (const [what, data] of inputs) {
    for (const rules of [typing, worker, dispatch]) deepEqual(names(rules, data), [], what);
  }
});

Deno.test("stoq.yar embedded_pe and dispatch.yar carve_pe: a PE behind 24 decoy MZ headers is found", async () => {
  const { binaryFiles } = await import("../fixtures/binaries_files.ts");
  const f = await binaryFiles();
  const blob = await Deno.readFile(f["decoys.bin"]);
  deepEqual(names(worker, blob), ["embedded_pe"]);
  deepEqual(names(dispatch, blob), ["carve_pe"]);
  deepEqual(names(worker, await Deno.readFile(f["hello.exe"])), [], "not the PE at offset 0");
});
