import { deepEqual, equal, match, notEqual, ok, rejects } from "node:assert/strict";
import { join } from "node:path";
import type { CallContext, PluginInstance, WorkerResponse } from "../../core/engine/plugin.ts";
import exif, { parseExifJson } from "../../plugins/exif.ts";
import { ExifToolBatch } from "../../plugins/lib/exif/exiftool.ts";
import { input, testEngine } from "../engine/harness.ts";
import {
  instantiate,
  makeCall,
  makePayload,
  makeRequest,
  sh,
  tempDir,
  withoutTools,
} from "../helpers.ts";

const TOOLS = { exiftool: "libimage-exiftool-perl" };

/** Scans `content` with a created exif instance. */
async function scan(
  instance: PluginInstance,
  content: Uint8Array | string,
  call: CallContext = makeCall(TOOLS),
): Promise<Record<string, unknown>> {
  const p = makePayload(content);
  const res = await instance.scan!(p, makeRequest(p), call) as WorkerResponse;
  equal(res.errors, undefined);
  return res.results as Record<string, unknown>;
}

/** What exiftool itself says about `path`, minus the tags about the file rather than its bytes. */
async function reference(path: string): Promise<Record<string, unknown>> {
  // exiftool exits 1 for an unknown or empty file but still prints its JSON.
  const out = await new Deno.Command("exiftool", { args: ["-j", "-n", path], stdout: "piped" })
    .output();
  return parseExifJson(new TextDecoder().decode(out.stdout));
}

/** Pids of the `exiftool -stay_open` processes that are children of this test process. */
async function residentExiftools(): Promise<number[]> {
  const pids: number[] = [];
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const stat = await Deno.readTextFile(`/proc/${e.name}/stat`);
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const state = stat.slice(stat.lastIndexOf(")") + 2)[0];
      const cmd = (await Deno.readTextFile(`/proc/${e.name}/cmdline`)).split("\0");
      if (ppid === Deno.pid && state !== "Z" && cmd.includes("-stay_open")) {
        pids.push(Number(e.name));
      }
    } catch { /* exited meanwhile */ }
  }
  return pids.sort((a, b) => a - b);
}

const isAlive = async (pid: number) => {
  try {
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
};

let fixtures: Promise<Record<string, string>> | undefined;
/** A PDF and a DOCX made by LibreOffice, a zip by zip, and an ELF binary; by name. */
function makeFixtures(): Promise<Record<string, string>> {
  return fixtures ??= (async () => {
    const dir = await tempDir();
    await Deno.writeTextFile(join(dir, "note.txt"), "Hello from stoq's exif test\nline two\n");
    await sh("soffice", ["--headless", "--convert-to", "pdf", "note.txt"], dir);
    await sh("soffice", ["--headless", "--convert-to", "docx:MS Word 2007 XML", "note.txt"], dir);
    await sh("zip", ["-q", "note.zip", "note.txt"], dir);
    await Deno.writeFile(join(dir, "empty"), new Uint8Array());
    // Bytes no format claims.
    await Deno.writeFile(join(dir, "noise"), Uint8Array.from({ length: 3000 }, (_, i) => i * 7));
    return {
      pdf: join(dir, "note.pdf"),
      docx: join(dir, "note.docx"),
      zip: join(dir, "note.zip"),
      txt: join(dir, "note.txt"),
      elf: "/usr/bin/ls",
      empty: join(dir, "empty"),
      noise: join(dir, "noise"),
    };
  })();
}

Deno.test("exif: results equal exiftool's own on PDF, DOCX, zip, text, ELF, empty", async () => {
  const files = await makeFixtures();
  const { instance } = await instantiate(exif);
  try {
    for (const [kind, path] of Object.entries(files)) {
      const content = await Deno.readFile(path);
      const got = await scan(instance, content);
      deepEqual(got, await reference(path), kind);
      for (const tag of ["SourceFile", "FileName", "Directory", "FilePermissions"]) {
        ok(!(tag in got), `${kind}: ${tag} describes the temp file`);
      }
      if (kind !== "empty") equal(got.FileSize, content.length, kind);
      equal(typeof got.ExifToolVersion, "number", `${kind}: -n keeps numbers numeric`);
    }
    const pdf = await scan(instance, await Deno.readFile(files.pdf));
    equal(pdf.FileType, "PDF");
    equal(pdf.FileTypeExtension, "PDF");
    equal(pdf.MIMEType, "application/pdf");
    equal(pdf.PageCount, 1);
    match(String(pdf.Producer), /^LibreOffice/);
    const docx = await scan(instance, await Deno.readFile(files.docx));
    equal(docx.FileType, "DOCX");
    equal(
      docx.MIMEType,
      "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    );
    const txt = await scan(instance, await Deno.readFile(files.txt));
    deepEqual([txt.FileType, txt.MIMEType, txt.LineCount], ["TXT", "text/plain", 2]);
    equal((await scan(instance, await Deno.readFile(files.elf))).FileType, "ELF shared library");
    // exiftool's own verdicts stay in the results, as in stoQ.
    equal((await scan(instance, new Uint8Array())).Error, "File is empty");
    equal((await scan(instance, await Deno.readFile(files.noise))).Error, "Unknown file type");
    equal((await residentExiftools()).length, 1, "one resident exiftool");
  } finally {
    await instance.close!();
  }
  deepEqual(await residentExiftools(), [], "close() ends exiftool");
});

Deno.test("exif: one exiftool per payload (stay_open false) gives the same results", async () => {
  const files = await makeFixtures();
  const { instance: batch } = await instantiate(exif);
  const { instance: single } = await instantiate(exif, { stay_open: false });
  try {
    for (const [kind, path] of Object.entries(files)) {
      const content = await Deno.readFile(path);
      deepEqual(await scan(single, content), await scan(batch, content), kind);
    }
  } finally {
    await batch.close!();
    await single.close!();
  }
});

Deno.test("exif: concurrent calls on one instance each get their own payload's tags", async () => {
  const { instance } = await instantiate(exif);
  try {
    const texts = Array.from({ length: 40 }, (_, i) => "word\n".repeat(i + 1));
    const results = await Promise.all(texts.map((t) => scan(instance, t)));
    results.forEach((r, i) => {
      equal(r.LineCount, i + 1);
      equal(r.FileSize, texts[i].length);
    });
    equal((await residentExiftools()).length, 1, "one resident exiftool served them all");
  } finally {
    await instance.close!();
  }
});

Deno.test("exif: an exiftool that died between calls is started again", async () => {
  const { instance } = await instantiate(exif);
  try {
    equal((await scan(instance, "first\n")).LineCount, 1);
    const [pid] = await residentExiftools();
    Deno.kill(pid, "SIGKILL");
    while (await isAlive(pid)) await new Promise((r) => setTimeout(r, 10));
    equal((await scan(instance, "second\nline\n")).LineCount, 2);
    const [again] = await residentExiftools();
    ok(again !== undefined && again !== pid, "a new exiftool runs");
  } finally {
    await instance.close!();
  }
});

Deno.test("exif: a call that times out kills exiftool; waiting calls give up alone", async () => {
  const batch = new ExifToolBatch(1 << 20);
  const dir = await tempDir();
  const file = join(dir, "a.txt");
  await Deno.writeTextFile(file, "abc\n");
  try {
    await batch.run(makeCall(TOOLS), ["-j", file]);
    const pid = batch.pid!;
    // A stopped exiftool never answers: the first call times out, the second is still queued.
    Deno.kill(pid, "SIGSTOP");
    const running = batch.run(makeCall(TOOLS, 800), ["-j", file]);
    const queued = batch.run(makeCall(TOOLS, 200), ["-j", file]);
    await rejects(queued, (e: Error) => e.name === "TimeoutError");
    ok(await isAlive(pid), "a queued call's timeout leaves the busy exiftool alone");
    await rejects(running, (e: Error) => e.name === "TimeoutError");
    ok(!(await isAlive(pid)), "the timed-out command's exiftool is killed");
    const out = parseExifJson(await batch.run(makeCall(TOOLS), ["-j", file]));
    equal(out.LineCount, 1);
    notEqual(batch.pid, pid);
  } finally {
    await batch.close();
  }
  equal(batch.pid, undefined);
  deepEqual(await residentExiftools(), []);
});

Deno.test("exif: output over max_output is an error and the next payload still works", async () => {
  const files = await makeFixtures();
  const { instance } = await instantiate(exif, { max_output: 600 });
  try {
    const p = makePayload(await Deno.readFile(files.docx));
    await rejects(
      Promise.resolve(instance.scan!(p, makeRequest(p), makeCall(TOOLS))),
      /exiftool output exceeded 600 bytes \(option max_output\)/,
    );
    equal((await scan(instance, "")).Error, "File is empty");
  } finally {
    await instance.close!();
  }
});

Deno.test("exif: without exiftool on PATH the error names the Debian package", async () => {
  for (const stay_open of [true, false]) {
    const { instance } = await instantiate(exif, { stay_open });
    try {
      const p = makePayload("text");
      await rejects(
        Promise.resolve(instance.scan!(p, makeRequest(p), await withoutTools(makeCall(TOOLS)))),
        /^Error: exiftool is not installed: install the Debian package libimage-exiftool-perl/,
      );
    } finally {
      await instance.close!();
    }
  }
});

Deno.test("exif: through the engine, closing the host ends exiftool", async () => {
  const files = await makeFixtures();
  const engine = await testEngine({ plugins: [exif], pipeline: { always_dispatch: ["exif"] } });
  const res = await engine.scan([input(await Deno.readFile(files.pdf))]);
  deepEqual(res.errors, []);
  const tags = res.results[0].workers["exif"] as Record<string, unknown>;
  equal(tags.MIMEType, "application/pdf");
  equal((await residentExiftools()).length, 1);
  await engine.host.closeAll();
  deepEqual(await residentExiftools(), []);
});

Deno.test("spawn: the host kills what a plugin left running when it closes it", async () => {
  const careless = (stoq: Parameters<typeof exif>[0]) =>
    stoq.plugin({
      name: "careless",
      version: "1.0.0",
      description: "Starts a resident exiftool and never ends it",
      classes: ["worker"],
      tools: TOOLS,
      create: () => ({
        scan(_p, _r, call) {
          call.spawn("exiftool", ["-stay_open", "True", "-@", "-"]);
          return { results: { started: true } };
        },
      }),
    });
  const engine = await testEngine({
    plugins: [careless],
    pipeline: { always_dispatch: ["careless"] },
  });
  await engine.scan([input("x")]);
  equal((await residentExiftools()).length, 1);
  await engine.host.closeAll();
  for (let i = 0; i < 100 && (await residentExiftools()).length; i++) {
    await new Promise((r) => setTimeout(r, 10));
  }
  deepEqual(await residentExiftools(), []);
});
