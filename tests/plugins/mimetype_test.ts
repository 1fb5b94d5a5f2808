import { deepEqual, equal, notEqual, ok, rejects } from "node:assert/strict";
import { join } from "node:path";
import mimetype from "../../plugins/mimetype.ts";
import { detect, detectFor, TEXT_SAMPLE } from "../../plugins/lib/magic/magic.ts";
import { instantiate, makePayload, makeRequest, sh, tempDir, withoutTools } from "../helpers.ts";

/** Runs the mimetype worker on `content` and returns its results. */
async function mime(content: Uint8Array | string): Promise<unknown> {
  const { instance, call } = await instantiate(mimetype);
  const p = makePayload(content);
  const res = await instance.scan!(p, makeRequest(p), call);
  return res?.results;
}

/** Deterministic pseudo-random bytes (xorshift32), so the test cannot flake on a lucky magic. */
function noise(n: number, seed = 0x9e3779b9): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** UTF-16 text with a byte-order mark. */
function utf16(text: string, le: boolean): Uint8Array {
  const out = new Uint8Array(2 + text.length * 2);
  const view = new DataView(out.buffer);
  view.setUint16(0, 0xfeff, le);
  for (let i = 0; i < text.length; i++) view.setUint16(2 + 2 * i, text.charCodeAt(i), le);
  return out;
}

// A 1×1 RGBA PNG: signature, IHDR, one IDAT, IEND, with correct CRCs.
const PNG = Uint8Array.from(
  atob(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
  ),
  (c) => c.charCodeAt(0),
);

Deno.test("mimetype: archives made by zip, gzip and 7z", async () => {
  const dir = await tempDir();
  await Deno.writeTextFile(join(dir, "a.txt"), "hello archive\n".repeat(50));
  await sh("zip", ["-q", "a.zip", "a.txt"], dir);
  await sh("gzip", ["-k", "a.txt"], dir);
  await sh("7z", ["a", "-bd", "-bso0", "a.7z", "a.txt"], dir);
  const read = (name: string) => Deno.readFile(join(dir, name));
  deepEqual(await mime(await read("a.zip")), { mimetype: "application/zip", extension: "zip" });
  deepEqual(await mime(await read("a.txt.gz")), { mimetype: "application/gzip", extension: "gz" });
  deepEqual(await mime(await read("a.7z")), {
    mimetype: "application/x-7z-compressed",
    extension: "7z",
  });
});

Deno.test("mimetype: an ELF executable and a PNG image", async () => {
  deepEqual(await mime(await Deno.readFile("/bin/ls")), {
    mimetype: "application/x-elf",
    extension: "elf",
  });
  deepEqual(await mime(PNG), { mimetype: "image/png", extension: "png" });
});

Deno.test("mimetype: UTF-8 and UTF-16 text, empty and random payloads", async () => {
  const text = "Grüße aus Köln — 猫 and emoji 🐈\n\tTabs, CRLF\r\n";
  deepEqual(await mime(text), { mimetype: "text/plain", extension: "txt" });
  deepEqual(await mime(utf16(text, true)), { mimetype: "text/plain", extension: "txt" });
  deepEqual(await mime(utf16(text, false)), { mimetype: "text/plain", extension: "txt" });
  deepEqual(await mime(""), { mimetype: "application/x-empty", extension: null });
  deepEqual(await mime(noise(4096)), { mimetype: "application/octet-stream", extension: null });
});

Deno.test("mimetype: NUL bytes, stray controls and bad UTF-8 make binary", async () => {
  const binary = { mimetype: "application/octet-stream", extension: null };
  deepEqual(await mime("plain words\0and a NUL"), binary);
  // One control character in 150 is tolerated, one in 10 is not.
  deepEqual(await mime("x".repeat(149) + "\x01"), { mimetype: "text/plain", extension: "txt" });
  deepEqual(await mime("abcdefghi\x02".repeat(20)), binary);
  // Latin-1 "café", an overlong "/" and a UTF-8-encoded surrogate are not UTF-8.
  deepEqual(await mime(Uint8Array.of(0x63, 0x61, 0x66, 0xe9, 0x0a)), binary);
  deepEqual(await mime(Uint8Array.of(0x61, 0xc0, 0xaf, 0x62)), binary);
  deepEqual(await mime(Uint8Array.of(0x61, 0xed, 0xa0, 0x80, 0x62)), binary);
  // A character cut by the end of the payload (not of the sample) is an error too.
  deepEqual(await mime(Uint8Array.of(0x61, 0x62, 0xe7, 0x8c)), binary);
});

Deno.test("mimetype: text kinds recognised by their start", async () => {
  const html = { mimetype: "text/html", extension: "html" };
  deepEqual(await mime("\n  <!DOCTYPE html>\n<html><body>hi</body></html>"), html);
  deepEqual(await mime("\ufeff<HTML lang=en>\n<p>x</p>"), html);
  deepEqual(await mime("<html-ish>not a tag we know</html-ish>"), {
    mimetype: "text/plain",
    extension: "txt",
  });
  const xml = { mimetype: "application/xml", extension: "xml" };
  deepEqual(await mime('<?xml version="1.0"?><a/>'), xml); // file-type's own answer
  deepEqual(await mime('\ufeff<?xml version="1.0"?><a/>'), xml); // ours, after the BOM
  deepEqual(await mime("#!/bin/sh\necho hi\n"), {
    mimetype: "text/x-shellscript",
    extension: "sh",
  });
  deepEqual(await mime("#!/usr/bin/env -S python3 -u\nprint(1)\n"), {
    mimetype: "text/x-script.python",
    extension: "py",
  });
  deepEqual(await mime("#!/usr/bin/perl -w\nprint 1;\n"), {
    mimetype: "text/x-perl",
    extension: "pl",
  });
  deepEqual(await mime("Received: from a by b\r\n\tfor <c@d>\r\nSubject: hi\r\n\r\nbody\r\n"), {
    mimetype: "message/rfc822",
    extension: "eml",
  });
  deepEqual(await mime("From: a note to self\n\nnot a mail\n"), {
    mimetype: "text/plain",
    extension: "txt",
  });
});

Deno.test("mimetype: text is judged on the first TEXT_SAMPLE bytes", async () => {
  // Text up to the text sample's end, binary after it: judged by the sample alone.
  const big = new Uint8Array(TEXT_SAMPLE + 1000).fill(0x61);
  big.fill(0, TEXT_SAMPLE);
  deepEqual(await detect(big), { mimetype: "text/plain", extension: "txt" });
  // A three-byte character cut by the sample's end is not an encoding error.
  const cut = new Uint8Array(TEXT_SAMPLE + 2).fill(0x61);
  cut.set([0xe7, 0x8c, 0xab], TEXT_SAMPLE - 1);
  deepEqual(await detect(cut), { mimetype: "text/plain", extension: "txt" });
  // A payload that really ends inside a character is broken UTF-8.
  deepEqual(await detect(new Uint8Array([0x61, 0x61, 0x61, 0xe7, 0x8c])), {
    mimetype: "application/octet-stream",
    extension: null,
  });
});

Deno.test("mimetype: detectFor memoises per payload content", async () => {
  const a = makePayload("same text");
  const b = makePayload("same text");
  const first = detectFor(a);
  equal(detectFor(a), first);
  notEqual(detectFor(b), first);
  deepEqual(await detectFor(b), await first);
  ok(Object.isFrozen(await first), "a shared detection must not be mutable");
});

/** Runs the mimetype worker with the libmagic engine on `content`. */
async function libmagic(content: Uint8Array | string): Promise<unknown> {
  const { instance, call } = await instantiate(mimetype, { engine: "libmagic" });
  const p = makePayload(content);
  const res = await instance.scan!(p, makeRequest(p), call);
  return res?.results;
}

/** What `file` itself says about the file at `path` (read as a file, not from stdin). */
async function fileSays(path: string): Promise<{ mimetype: string; extension: string | null }> {
  const mime = (await sh("file", ["--brief", "--mime-type", path])).trim();
  const ext = (await sh("file", ["--brief", "--extension", path])).trim().split("/")[0];
  return { mimetype: mime, extension: ext === "???" ? null : ext };
}

Deno.test("mimetype: engine libmagic agrees with file on zip, gzip, PDF, text, ELF", async () => {
  const dir = await tempDir();
  await Deno.writeTextFile(join(dir, "a.txt"), "hello libmagic\n".repeat(50));
  await sh("zip", ["-q", "a.zip", "a.txt"], dir);
  await sh("gzip", ["-k", "a.txt"], dir);
  await sh("7z", ["a", "-bd", "-bso0", "a.7z", "a.txt"], dir);
  await sh("soffice", ["--headless", "--convert-to", "pdf", "a.txt"], dir);
  const files = ["a.zip", "a.txt.gz", "a.7z", "a.pdf", "a.txt"].map((f) => join(dir, f));
  files.push("/usr/bin/ls");
  for (const path of files) {
    deepEqual(await libmagic(await Deno.readFile(path)), await fileSays(path), path);
  }
  // Spelled out, so a change in file's answers shows up here rather than passing unnoticed.
  const read = (name: string) => Deno.readFile(join(dir, name));
  deepEqual(await libmagic(await read("a.zip")), { mimetype: "application/zip", extension: null });
  deepEqual(await libmagic(await read("a.txt.gz")), {
    mimetype: "application/gzip",
    extension: "gz",
  });
  deepEqual(await libmagic(await read("a.pdf")), { mimetype: "application/pdf", extension: "pdf" });
  deepEqual(await libmagic(await read("a.txt")), { mimetype: "text/plain", extension: null });
  // Where libmagic and file-type name things differently (the README's example).
  deepEqual(await libmagic(await Deno.readFile("/usr/bin/ls")), {
    mimetype: "application/x-pie-executable",
    extension: null,
  });
  deepEqual(await mime(await Deno.readFile("/usr/bin/ls")), {
    mimetype: "application/x-elf",
    extension: "elf",
  });
});

Deno.test("mimetype: engine libmagic on empty and PNG payloads, and a bad engine", async () => {
  // From stdin an empty payload is application/x-empty (a named empty file is inode/x-empty).
  deepEqual(await libmagic(""), { mimetype: "application/x-empty", extension: null });
  deepEqual(await libmagic(PNG), { mimetype: "image/png", extension: "png" });
  await rejects(instantiate(mimetype, { engine: "magic" }), /file-type|libmagic/);
});

Deno.test("mimetype: engine libmagic without file names the Debian package", async () => {
  const { instance, call } = await instantiate(mimetype, { engine: "libmagic" });
  const p = makePayload("text");
  await rejects(
    Promise.resolve(instance.scan!(p, makeRequest(p), await withoutTools(call))),
    /file is not installed: install the Debian package file/,
  );
});

Deno.test("mimetype: OLE2 files are told apart (.doc, .xls, .msi, encrypted OOXML) as file names them", async () => {
  const { realFiles } = await import("../realfiles.ts");
  const { archiveFiles } = await import("../fixtures/archive_files.ts");
  const { ooxmlFiles } = await import("../fixtures/ooxml_files.ts");
  const real = await realFiles();
  const archives = await archiveFiles(real["hello.exe"]);
  const ooxml = await ooxmlFiles();
  const cases: [string, string][] = [
    [real["report.doc"], "application/msword"],
    [real["macro.xls"], "application/vnd.ms-excel"],
    [archives["a.msi"], "application/x-msi"],
    [ooxml["agile.docx"], "application/encrypted"],
    [ooxml["rc4.doc"], "application/msword"],
  ];
  for (const [path, want] of cases) {
    const got = await mime(await Deno.readFile(path)) as { mimetype: string };
    equal(got.mimetype, want, path);
    // libmagic (file) is the independent judge of the names.
    equal((await fileSays(path)).mimetype, want, `file on ${path}`);
  }
  // An OLE2 file none of them claims stays a compound file.
  const { officeFiles } = await import("../fixtures/office_files.ts");
  const bin = await mime(await Deno.readFile((await officeFiles())["vbaProject.bin"]));
  equal((bin as { mimetype: string }).mimetype, "application/x-cfb");
});
