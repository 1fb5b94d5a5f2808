/**
 * Real test files made with real tools (compilers, LibreOffice, archivers), built once per machine
 * into a stable cache folder and shared by every test process.
 *
 * Formats no Debian tool writes (SWF, LNK, an RTF with an embedded OLE1 object) are constructed by
 * small python3 programs from the published format specifications; the rules test checks them with
 * `file` and exiftool. No Debian package creates RAR archives (`rar` is non-free), so there is none.
 */
import { sh } from "./helpers.ts";

/** Bump the version whenever a fixture changes: old caches are then simply ignored. */
const ROOT = "/tmp/stoq-realfiles-v1";

/** Every fixture the builder makes, by file name. */
export const REAL_FILE_NAMES = [
  "hello.exe", // C program, x86_64-w64-mingw32-gcc
  "inject.exe", // imports VirtualAllocEx/WriteProcessMemory/CreateRemoteThread (never calls them)
  "hello.elf", // gcc
  "hello.macho", // clang -target x86_64-apple-macos -c (Mach-O 64-bit object)
  "hello_fat.macho", // llvm-lipo of the x86_64 and arm64 objects (universal binary)
  "Hello.class", // javac
  "app.jar", // jar, with a manifest and Hello.class
  "report.doc", // LibreOffice (all office files come from one soffice process)
  "report.docx",
  "report.rtf",
  "report.pdf",
  "page.html",
  "report.xlsx",
  "macro.xls", // a real VBA project with Workbook_Open, written by LibreOffice's VBA exporter
  "macro.xlsm",
  "active.pdf", // form field JavaScript in /AA, and a /Launch link
  "attach.pdf", // report.pdf with hello.exe attached by qpdf (/EmbeddedFile)
  "image.png",
  "image.jpg",
  "image.gif",
  "object.rtf", // constructed: \object\objemb\objupdate with an OLE1 Package in \objdata
  "mail.eml", // python3 email: RFC 822 with hello.exe as a base64 MIME attachment
  "script.js",
  "blob.b64", // base64 -w 76 hello.exe
  "hello.xor", // hello.exe XOR 0x41
  "eicar.com",
  "archive.zip", // zip (deflate): hello.exe, notes.txt
  "archive.7z",
  "archive.tar", // GNU tar --format=ustar (hello.exe stored as is)
  "archive_v7.tar", // GNU tar --format=v7 (no magic)
  "archive.tar.gz",
  "archive.tar.bz2",
  "archive.tar.xz",
  "archive.cab", // gcab, uncompressed
  "image.iso", // genisoimage
  "hello.swf", // constructed, uncompressed (FWS)
  "hello_cws.swf", // constructed, zlib (CWS)
  "shortcut.lnk", // constructed [MS-SHLLINK]: powershell.exe -EncodedCommand ...
  "hello.c", // source texts the builder used: plain text that no typing rule may claim
  "Hello.java",
  "mail.py",
] as const;

/** A fixture's name. */
export type RealFileName = typeof REAL_FILE_NAMES[number];

/** The XOR key of hello.xor. */
export const XOR_KEY = 0x41;

/** The EICAR test string (68 bytes). */
export const EICAR = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

/** The script that shortcut.lnk runs, as given to powershell -EncodedCommand. */
export const LNK_SCRIPT = "Write-Output 'stoq test'";

let cached: Promise<Record<RealFileName, string>> | undefined;

/** Builds the fixtures once (cached in /tmp across test runs) and returns name → path. */
export function realFiles(): Promise<Record<RealFileName, string>> {
  cached ??= load();
  return cached;
}

async function load(): Promise<Record<RealFileName, string>> {
  if (!(await complete())) {
    // One builder at a time across processes; the others wait and then find the folder ready.
    await using lock = await Deno.open(`${ROOT}.lock`, { create: true, write: true });
    await lock.lock(true);
    if (!(await complete())) await build();
  }
  return Object.fromEntries(REAL_FILE_NAMES.map((n) => [n, `${ROOT}/${n}`])) as Record<
    RealFileName,
    string
  >;
}

async function complete(): Promise<boolean> {
  try {
    await Deno.stat(ROOT);
  } catch {
    return false;
  }
  for (const name of REAL_FILE_NAMES) {
    try {
      await Deno.stat(`${ROOT}/${name}`);
    } catch {
      throw new Error(
        `${ROOT} lacks ${name}: it was made by another version of tests/realfiles.ts; ` +
          `remove the folder (or bump ROOT's version) and rerun`,
      );
    }
  }
  return true;
}

/** Tools the builder runs, with the Debian package that has each. */
const TOOLS: Record<string, string> = {
  "x86_64-w64-mingw32-gcc": "gcc-mingw-w64-x86-64",
  gcc: "gcc",
  clang: "clang",
  javac: "openjdk-17-jdk-headless",
  jar: "openjdk-17-jdk-headless",
  soffice: "libreoffice-writer and libreoffice-calc",
  python3: "python3",
  qpdf: "qpdf",
  base64: "coreutils",
  zip: "zip",
  "7z": "p7zip-full",
  tar: "tar",
  gzip: "gzip",
  bzip2: "bzip2",
  xz: "xz-utils",
  gcab: "gcab",
  genisoimage: "genisoimage",
};

/** Finds `name` on PATH, or the first `name-<version>` there when `versioned` (llvm-lipo-14). */
async function which(name: string, versioned = false): Promise<string | undefined> {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":").filter(Boolean)) {
    try {
      await Deno.stat(`${dir}/${name}`);
      return `${dir}/${name}`;
    } catch { /* not in this folder */ }
    if (!versioned) continue;
    try {
      for await (const e of Deno.readDir(dir)) {
        if (e.name.startsWith(`${name}-`)) return `${dir}/${e.name}`;
      }
    } catch { /* unreadable folder */ }
  }
  return undefined;
}

async function requireTools(): Promise<{ lipo: string }> {
  const missing: string[] = [];
  for (const [tool, pkg] of Object.entries(TOOLS)) {
    if (!(await which(tool))) missing.push(`${tool} (Debian package ${pkg})`);
  }
  const lipo = await which("llvm-lipo", true);
  if (!lipo) missing.push("llvm-lipo (Debian package llvm, installed with clang)");
  const uno = await new Deno.Command("/usr/bin/python3", { args: ["-c", "import uno"] })
    .output().catch(() => undefined);
  if (!uno?.success) {
    missing.push("/usr/bin/python3 with the uno module (Debian package python3-uno)");
  }
  if (missing.length) {
    throw new Error(`tests/realfiles.ts cannot build its fixtures; missing: ${missing.join(", ")}`);
  }
  return { lipo: lipo! };
}

async function build(): Promise<void> {
  const { lipo } = await requireTools();
  const tmp = await Deno.makeTempDir({ dir: "/tmp", prefix: "stoq-realfiles-build-" });
  try {
    const work = `${tmp}/work`;
    const out = `${tmp}/out`;
    const payload = `${work}/payload`;
    await Deno.mkdir(payload, { recursive: true });
    await Deno.mkdir(out);
    const o = (name: RealFileName) => `${out}/${name}`;
    const w = async (name: string, text: string) => {
      await Deno.writeTextFile(`${work}/${name}`, text);
      return `${work}/${name}`;
    };

    // Executables. No #include, so the macOS target needs no Apple SDK.
    const hello = await w("hello.c", HELLO_C);
    await sh("x86_64-w64-mingw32-gcc", ["-O2", "-s", "-o", o("hello.exe"), hello]);
    await sh("x86_64-w64-mingw32-gcc", [
      "-O2",
      "-s",
      "-o",
      o("inject.exe"),
      await w("inject.c", INJECT_C),
    ]);
    await sh("gcc", ["-O2", "-o", o("hello.elf"), hello]);
    await sh("clang", ["-target", "x86_64-apple-macos11", "-c", "-o", o("hello.macho"), hello]);
    await sh("clang", [
      "-target",
      "arm64-apple-macos11",
      "-c",
      "-o",
      `${work}/hello_arm64.o`,
      hello,
    ]);
    await sh(lipo, [
      "-create",
      o("hello.macho"),
      `${work}/hello_arm64.o`,
      "-output",
      o("hello_fat.macho"),
    ]);
    await sh("javac", ["-d", `${work}/classes`, await w("Hello.java", HELLO_JAVA)]);
    await Deno.copyFile(`${work}/classes/Hello.class`, o("Hello.class"));
    await sh("jar", ["cfe", o("app.jar"), "Hello", "-C", `${work}/classes`, "Hello.class"]);

    // Office documents, PDFs, HTML and images from one LibreOffice process.
    await sh("/usr/bin/python3", [await w("office.py", OFFICE_PY), work, out]);
    await sh("qpdf", [
      "--add-attachment",
      o("hello.exe"),
      "--mimetype=application/x-msdownload",
      "--",
      o("report.pdf"),
      o("attach.pdf"),
    ]);

    // Text formats and encodings.
    await sh("python3", [await w("object_rtf.py", OBJECT_RTF_PY), o("object.rtf")]);
    await sh("python3", [await w("mail.py", MAIL_PY), o("hello.exe"), o("mail.eml")]);
    // V8 parses the script (without running it), so a typo cannot make it "not JavaScript".
    new Function(SCRIPT_JS);
    await Deno.writeTextFile(o("script.js"), SCRIPT_JS);
    await Deno.writeTextFile(o("blob.b64"), await sh("base64", ["-w", "76", o("hello.exe")]));
    await sh("python3", [
      "-c",
      "import sys; d = open(sys.argv[1], 'rb').read(); " +
      "open(sys.argv[2], 'wb').write(bytes(b ^ int(sys.argv[3]) for b in d))",
      o("hello.exe"),
      o("hello.xor"),
      String(XOR_KEY),
    ]);
    await Deno.writeTextFile(o("eicar.com"), EICAR);

    // Archives of hello.exe and a note; tar, cab and iso store hello.exe as is.
    await Deno.copyFile(o("hello.exe"), `${payload}/hello.exe`);
    await Deno.writeTextFile(`${payload}/notes.txt`, "Archived by the stoq test suite.\n");
    const members = ["hello.exe", "notes.txt"];
    await sh("zip", ["-q", "-X", o("archive.zip"), ...members], payload);
    await sh("7z", ["a", "-bd", "-bso0", o("archive.7z"), ...members], payload);
    await sh("tar", ["--format=ustar", "-cf", o("archive.tar"), ...members], payload);
    await sh("tar", ["--format=v7", "-cf", o("archive_v7.tar"), ...members], payload);
    for (const [tool, ext] of [["gzip", "gz"], ["bzip2", "bz2"], ["xz", "xz"]]) {
      await Deno.copyFile(o("archive.tar"), `${work}/archive.tar`);
      await sh(tool, ["-f", `${work}/archive.tar`]);
      await Deno.rename(`${work}/archive.tar.${ext}`, `${out}/archive.tar.${ext}`);
    }
    await sh("gcab", ["-c", o("archive.cab"), ...members], payload);
    await sh("genisoimage", ["-quiet", "-V", "STOQ", "-J", "-r", "-o", o("image.iso"), payload]);

    // Formats without a Debian writer.
    await sh("python3", [await w("swf.py", SWF_PY), o("hello.swf"), o("hello_cws.swf")]);
    await sh("python3", [await w("lnk.py", LNK_PY), o("shortcut.lnk"), LNK_SCRIPT]);

    for (const name of ["hello.c", "Hello.java", "mail.py"] as const) {
      await Deno.copyFile(`${work}/${name}`, o(name));
    }

    for (const name of REAL_FILE_NAMES) await Deno.stat(o(name));
    try {
      await Deno.rename(out, ROOT);
    } catch (e) {
      // Another process won the race (its rename came first); its folder is as good as ours.
      if (!(await complete())) throw e;
    }
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

const HELLO_C = `int puts(const char *s);

int main(void) {
  puts("Hello from the stoq test suite");
  return 0;
}
`;

// Taking the functions' addresses makes the linker import them; nothing calls them.
const INJECT_C = `#include <windows.h>
#include <stdio.h>

int main(int argc, char **argv) {
  void *imports[] = { (void *)VirtualAllocEx, (void *)WriteProcessMemory, (void *)CreateRemoteThread };
  (void)argv;
  printf("%p\\n", imports[argc % 3]);
  return 0;
}
`;

const HELLO_JAVA = `public class Hello {
    public static void main(String[] args) {
        System.out.println("Hello from the stoq test suite");
    }
}
`;

const SCRIPT_JS = `"use strict";
// Counts the words of a text file and prints the five most frequent ones.
const fs = require("fs");

function countWords(text) {
  const counts = new Map();
  for (const word of text.toLowerCase().split(/\\W+/)) {
    if (word) counts.set(word, (counts.get(word) || 0) + 1);
  }
  return counts;
}

var path = process.argv[2] || __filename;
const top = [...countWords(fs.readFileSync(path, "utf8"))]
  .sort((a, b) => b[1] - a[1])
  .slice(0, 5);
top.forEach(([word, n]) => console.log(word + ": " + n));
`;

const OFFICE_PY =
  `# Makes every office fixture in ONE LibreOffice process driven over UNO (one start instead of
# one per format), with a private profile so parallel builds never share LibreOffice's profile lock.
import os, signal, subprocess, sys, time
import uno
from com.sun.star.beans import PropertyValue
from com.sun.star.awt import Size
from com.sun.star.script import ModuleInfo

work, out = sys.argv[1], sys.argv[2]


def pv(name, value):
    p = PropertyValue()
    p.Name, p.Value = name, value
    return p


def url(name):
    return uno.systemPathToFileUrl(os.path.join(out, name))


def store(doc, name, filt, data=None):
    args = [pv("FilterName", filt)]
    if data:
        seq = tuple(pv(k, v) for k, v in data.items())
        args.append(pv("FilterData", uno.Any("[]com.sun.star.beans.PropertyValue", seq)))
    doc.storeToURL(url(name), tuple(args))


def size(width, height):
    s = Size()
    s.Width, s.Height = width, height
    return s


pipe = "stoq-realfiles-%d" % os.getpid()
profile = uno.systemPathToFileUrl(os.path.join(work, "lo-profile"))
proc = subprocess.Popen(
    ["soffice", "-env:UserInstallation=" + profile, "--headless", "--invisible", "--norestore",
     "--nologo", "--nodefault", "--accept=pipe,name=%s;urp;" % pipe],
    start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
desktop = None
try:
    local = uno.getComponentContext()
    resolver = local.ServiceManager.createInstanceWithContext(
        "com.sun.star.bridge.UnoUrlResolver", local)
    ctx = None
    deadline = time.time() + 120
    while ctx is None:
        try:
            ctx = resolver.resolve("uno:pipe,name=%s;urp;StarOffice.ComponentContext" % pipe)
        except Exception:
            if proc.poll() is not None or time.time() > deadline:
                sys.exit("soffice did not accept a UNO connection (exit status %s)" % proc.poll())
            time.sleep(0.2)
    smgr = ctx.ServiceManager
    desktop = smgr.createInstanceWithContext("com.sun.star.frame.Desktop", ctx)
    hidden = (pv("Hidden", True),)

    # A plain report: nothing active in it, so no worker rule may fire on its exports.
    doc = desktop.loadComponentFromURL("private:factory/swriter", "_blank", 0, hidden)
    doc.Text.setString("Quarterly report\\nRevenue grew in every region this quarter.\\n"
                       "Prepared for the stoq test suite.")
    store(doc, "report.doc", "MS Word 97")
    store(doc, "report.docx", "MS Word 2007 XML")
    store(doc, "report.rtf", "Rich Text Format")
    store(doc, "report.pdf", "writer_pdf_Export")
    store(doc, "page.html", "HTML (StarWriter)")
    doc.close(True)

    # An active PDF: LibreOffice writes a numeric form field's format as JavaScript in /AA, and
    # cross-document link mode 1 turns a link to a local program into a /Launch action.
    doc = desktop.loadComponentFromURL("private:factory/swriter", "_blank", 0, hidden)
    text = doc.Text
    text.setString("Amount: ")
    field = doc.createInstance("com.sun.star.form.component.NumericField")
    field.Name = "amount"
    field.DecimalAccuracy = 2
    shape = doc.createInstance("com.sun.star.drawing.ControlShape")
    shape.setSize(size(4000, 800))
    shape.setControl(field)
    shape.AnchorType = uno.Enum("com.sun.star.text.TextContentAnchorType", "AS_CHARACTER")
    text.insertTextContent(text.getEnd(), shape, False)
    cursor = text.createTextCursorByRange(text.getEnd())
    text.insertString(cursor, " open calculator", False)
    cursor.goLeft(15, True)
    cursor.HyperLinkURL = "file:///C:/Windows/System32/calc.exe"
    store(doc, "active.pdf", "writer_pdf_Export", {"ExportFormFields": True, "PDFViewSelection": 1})
    doc.close(True)

    # Spreadsheets. LibreOffice's VBA exporter writes a real VBA project only in VBA compatibility
    # mode with a project name and module info, and for .xls only with Calc's VBA UseExport on.
    provider = smgr.createInstanceWithContext(
        "com.sun.star.configuration.ConfigurationProvider", ctx)
    vba_cfg = provider.createInstanceWithArguments(
        "com.sun.star.configuration.ConfigurationUpdateAccess",
        (pv("nodepath", "/org.openoffice.Office.Calc/Filter/Import/VBA"),))
    vba_cfg.UseExport = True
    vba_cfg.commitChanges()
    doc = desktop.loadComponentFromURL("private:factory/scalc", "_blank", 0, hidden)
    sheet = doc.Sheets.getByIndex(0)
    for row, (name, value) in enumerate([("north", 120), ("south", 95), ("east", 143)]):
        sheet.getCellByPosition(0, row).setString(name)
        sheet.getCellByPosition(1, row).setValue(value)
    store(doc, "report.xlsx", "Calc MS Excel 2007 XML")
    libs = doc.BasicLibraries
    libs.VBACompatibilityMode = True
    libs.ProjectName = "Standard"
    if not libs.hasByName("Standard"):
        libs.createLibrary("Standard")
    lib = libs.getByName("Standard")
    lib.insertByName("Module1", 'Option VBASupport 1\\nSub Workbook_Open()\\n'
                                '  MsgBox "stoq test macro"\\nEnd Sub\\n')
    info = ModuleInfo()
    info.ModuleType = uno.getConstantByName("com.sun.star.script.ModuleType.NORMAL")
    lib.insertModuleInfo("Module1", info)
    store(doc, "macro.xlsm", "Calc MS Excel 2007 VBA XML")
    store(doc, "macro.xls", "MS Excel 97")
    doc.close(True)

    # Images: a shape exported by the graphic export filter (LibreOffice Draw is not needed).
    doc = desktop.loadComponentFromURL("private:factory/swriter", "_blank", 0, hidden)
    rect = doc.createInstance("com.sun.star.drawing.RectangleShape")
    rect.setSize(size(6000, 3000))
    doc.Text.insertTextContent(doc.Text.getEnd(), rect, False)
    rect.setString("stoq")
    exporter = smgr.createInstanceWithContext("com.sun.star.drawing.GraphicExportFilter", ctx)
    exporter.setSourceDocument(rect)
    for name, mime in [("image.png", "image/png"), ("image.jpg", "image/jpeg"),
                       ("image.gif", "image/gif")]:
        exporter.filter((pv("URL", url(name)), pv("MediaType", mime)))
    doc.close(True)
finally:
    if desktop is not None:
        try:
            desktop.terminate()
        except Exception:
            pass  # the bridge drops while soffice exits
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
`;

const OBJECT_RTF_PY =
  `# An RTF with an embedded OLE1 "Package" object, as in [MS-OLEDS] 2.2.4 (ObjectHeader) and the
# RTF 1.9.1 spec (\\\\object, \\\\objemb, \\\\objupdate, \\\\objdata as hex).
import struct, sys


def ansi(s):
    return s.encode("latin-1") + b"\\0"


content = b"Packaged by the stoq test suite.\\r\\n"
path = ansi("C:\\\\stoq\\\\notes.txt")
native = struct.pack("<H", 2) + ansi("notes.txt") + path + struct.pack("<HH", 0, 3)
native += struct.pack("<I", len(path)) + path + struct.pack("<I", len(content)) + content
cls = ansi("Package")
ole1 = struct.pack("<III", 0x00000501, 2, len(cls)) + cls + struct.pack("<II", 0, 0)
ole1 += struct.pack("<I", len(native)) + native
hexdata = ole1.hex()
lines = "\\n".join(hexdata[i:i + 128] for i in range(0, len(hexdata), 128))
rtf = ("{\\\\rtf1\\\\ansi\\\\deff0{\\\\fonttbl{\\\\f0 Times New Roman;}}\\n"
       "\\\\pard A packaged file follows.\\\\par\\n"
       "{\\\\object\\\\objemb\\\\objupdate\\\\objw1440\\\\objh720{\\\\*\\\\objclass Package}"
       "{\\\\*\\\\objdata\\n" + lines + "\\n}}\\\\par\\n}\\n")
with open(sys.argv[1], "w", newline="\\n") as f:
    f.write(rtf)
`;

const MAIL_PY = `import sys
from email.message import EmailMessage
from email.utils import formatdate

msg = EmailMessage()
msg["Received"] = ("from mail.example.com (mail.example.com [192.0.2.10]) by mx.example.org "
                   "with ESMTP id 4A1B2C3D; " + formatdate(1700000000))
msg["From"] = "Alice Example <alice@example.com>"
msg["To"] = "Bob Example <bob@example.org>"
msg["Subject"] = "Quarterly report tool"
msg["Date"] = formatdate(1700000000)
msg["Message-ID"] = "<stoq-test-1@example.com>"
msg.set_content("Hi Bob,\\n\\nthe tool is attached.\\n\\nAlice\\n")
with open(sys.argv[1], "rb") as f:
    msg.add_attachment(f.read(), maintype="application", subtype="x-msdownload",
                       filename="hello.exe")
with open(sys.argv[2], "wb") as f:
    f.write(bytes(msg))
`;

const SWF_PY =
  `# A one-frame SWF (SWF File Format Specification v19): header, SetBackgroundColor, ShowFrame, End.
import struct, sys, zlib


def rect(*values):
    nbits = max(v.bit_length() for v in values) + 1  # signed fields
    bits = format(nbits, "05b") + "".join(format(v, "0%db" % nbits) for v in values)
    bits += "0" * (-len(bits) % 8)
    return int(bits, 2).to_bytes(len(bits) // 8, "big")


def tag(code, data=b""):
    return struct.pack("<H", code << 6 | len(data)) + data


body = rect(0, 550 * 20, 0, 400 * 20)  # stage size in twips
body += struct.pack("<HH", 24 << 8, 1)  # 24 frames/s (8.8 fixed point), 1 frame
body += tag(9, bytes([0xFF, 0xFF, 0xFF])) + tag(1) + tag(0)
version, length = 10, 8 + len(body)
with open(sys.argv[1], "wb") as f:
    f.write(b"FWS" + bytes([version]) + struct.pack("<I", length) + body)
with open(sys.argv[2], "wb") as f:
    f.write(b"CWS" + bytes([version]) + struct.pack("<I", length) + zlib.compress(body))
`;

const LNK_PY =
  `# A shell link per [MS-SHLLINK]: ShellLinkHeader, then StringData (name, relative path, working
# directory, arguments; UTF-16LE with a character count), then the terminal ExtraData block.
import base64, struct, sys

HAS_NAME, HAS_RELATIVE_PATH, HAS_WORKING_DIR, HAS_ARGUMENTS, IS_UNICODE = 0x4, 0x8, 0x10, 0x20, 0x80
CLSID = bytes.fromhex("0114020000000000c000000000000046")  # 00021401-0000-0000-C000-000000000046
FILETIME = 133000000000000000  # 2022-06-15, in 100 ns units since 1601
script = sys.argv[2].encode("utf-16-le")
arguments = "-NoProfile -EncodedCommand " + base64.b64encode(script).decode()


def string_data(s):
    return struct.pack("<H", len(s)) + s.encode("utf-16-le")


flags = HAS_NAME | HAS_RELATIVE_PATH | HAS_WORKING_DIR | HAS_ARGUMENTS | IS_UNICODE
header = struct.pack("<I16sIIQQQIiIHHII", 0x4C, CLSID, flags, 0x20, FILETIME, FILETIME, FILETIME,
                     0, 0, 1, 0, 0, 0, 0)
data = header
data += string_data("stoq test shortcut")
data += string_data("..\\\\..\\\\Windows\\\\System32\\\\WindowsPowerShell\\\\v1.0\\\\powershell.exe")
data += string_data("C:\\\\Windows\\\\System32")
data += string_data(arguments)
data += struct.pack("<I", 0)
with open(sys.argv[1], "wb") as f:
    f.write(data)
`;
