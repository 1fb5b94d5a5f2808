/**
 * encrypted_office on documents LibreOffice encrypted (Standard .docx, RC4 .doc/.xls, an .xls
 * with Excel's VelvetSweatshop) and Agile .docx: each decrypted child is compared with what
 * Debian's msoffcrypto-tool decrypts (the whole file for OOXML; the document streams for the
 * legacy formats, whose container both tools rewrite differently), and LibreOffice must open it
 * and find the text the builder wrote. LibreOffice's .doc/.xls decrypted by officecrypto-tool
 * had a wrong-length table stream until the container was read from a Buffer: the stream
 * comparison and the text conversion catch that.
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import CFB from "cfb";
import type { WorkerResponse } from "../../core/engine/plugin.ts";
import encryptedOffice from "../../plugins/encrypted_office.ts";
import { instantiate, makePayload, makeRequest, sh, sha256, tempDir } from "../helpers.ts";
import { corruptedCopies } from "../fixtures/cache.ts";
import { OOXML, type OoxmlFileName, ooxmlFiles } from "../fixtures/ooxml_files.ts";
import { realFiles } from "../realfiles.ts";

// deno-lint-ignore no-explicit-any
type Report = Record<string, any>;

async function scan(
  content: Uint8Array,
  meta: Record<string, unknown> = {},
  options: Record<string, unknown> = {},
) {
  const { instance, call } = await instantiate(encryptedOffice, options);
  const p = makePayload(content, { extra_data: meta });
  return await instance.scan!(p, makeRequest(p), call) as WorkerResponse;
}

async function msoffcrypto(path: string, password: string, out: string): Promise<Uint8Array> {
  await sh("msoffcrypto-tool", ["-p", password, path, out]);
  return await Deno.readFile(out);
}

/** The sha256 of each stream of a compound file, by path. */
function streams(data: Uint8Array): Record<string, string> {
  const c = CFB.read(data, { type: "buffer" });
  const out: Record<string, string> = {};
  c.FullPaths.forEach((p, i) => {
    const e = c.FileIndex[i];
    if (e.type === 2) {
      out[p.replace(/^[^/]*\//, "")] = sha256(Uint8Array.from(e.content as ArrayLike<number>));
    }
  });
  return out;
}

/** LibreOffice's text of each file: Writer documents as text, workbooks as CSV. */
async function libreOfficeText(dir: string, files: string[], to: string): Promise<string[]> {
  const profile = await tempDir("lo-profile-");
  await sh("soffice", [
    `-env:UserInstallation=file://${profile}`,
    "--headless",
    "--convert-to",
    to,
    "--outdir",
    dir,
    ...files,
  ]);
  return await Promise.all(
    files.map((f) => Deno.readTextFile(f.replace(/\.[^.]+$/, `.${to.split(":")[0]}`))),
  );
}

Deno.test("encrypted_office: OOXML Standard and Agile decrypt to msoffcrypto-tool's bytes", async () => {
  const files = await ooxmlFiles();
  const dir = await tempDir("dec-");
  const children: string[] = [];
  for (
    const [name, scheme, cipher, spins] of [
      ["standard.docx", "standard", "AES-128", 50_000],
      ["agile.docx", "agile", "AES256-256", 100_000],
    ] as const
  ) {
    const res = await scan(await Deno.readFile(files[name]), { filename: name });
    deepEqual(res.errors, []);
    const r = res.results as Report;
    equal(r.encrypted, true);
    equal(r.container, "ooxml");
    equal(r.scheme, scheme);
    equal(r.cipher, cipher.replace("AES256", "AES"));
    equal(r.spin_count, spins);
    equal(r.decrypted, true);
    equal(r.password, "infected");
    equal(r.passwords_tried, 1);
    deepEqual(r.findings.map((f: Report) => f.id), ["office_encrypted"]);
    const child = res.extracted![0];
    const want = await msoffcrypto(files[name], "infected", `${dir}/ms-${name}`);
    equal(
      sha256(child.content as Uint8Array),
      sha256(want),
      `${name}: same bytes as msoffcrypto-tool`,
    );
    deepEqual(child.payload_meta!.extra_data, {
      filename: name.replace(".docx", ".decrypted.docx"),
      password: "infected",
      encryption: scheme,
    });
    const out = `${dir}/${name.replace(".docx", ".decrypted.docx")}`;
    await Deno.writeFile(out, child.content as Uint8Array);
    children.push(out);
  }
  for (const text of await libreOfficeText(dir, children, "txt:Text")) {
    ok(text.includes(OOXML.secret), text);
  }
});

Deno.test("encrypted_office: RC4 .doc and .xls (and VelvetSweatshop) decrypt to msoffcrypto-tool's streams", async () => {
  const files = await ooxmlFiles();
  const dir = await tempDir("dec-");
  const cases: [OoxmlFileName, string, string, string][] = [
    ["rc4.doc", "doc", "infected", "WordDocument"],
    ["rc4.xls", "xls", "infected", "Workbook"],
    ["velvet.xls", "xls", "VelvetSweatshop", "Workbook"],
  ];
  const written: Record<string, string> = {};
  for (const [name, container, password, stream] of cases) {
    const res = await scan(await Deno.readFile(files[name]), { filename: name });
    deepEqual(res.errors, []);
    const r = res.results as Report;
    deepEqual(
      [r.container, r.scheme, r.version, r.decrypted, r.password],
      [container, "rc4", "1.1", true, password],
    );
    const child = res.extracted![0].content as Uint8Array;
    const want = await msoffcrypto(files[name], password, `${dir}/ms-${name}`);
    // Every stream both files have is the same; officecrypto-tool's container lacks \x01Ole
    // and adds cfb's \x01Sh33tJ5 marker.
    const [got, ref] = [streams(child), streams(want)];
    ok(got[stream], `${name}: a ${stream} stream`);
    for (const k of Object.keys(ref).filter((k) => k in got)) {
      equal(got[k], ref[k], `${name}: stream ${JSON.stringify(k)}`);
    }
    deepEqual(Object.keys(ref).filter((k) => !(k in got)), ["\x01Ole"]);
    const out = `${dir}/${name.replace(/\.(\w+)$/, ".decrypted.$1")}`;
    await Deno.writeFile(out, child);
    written[name] = out;
    if (password === "VelvetSweatshop") {
      deepEqual(r.findings.map((f: Report) => f.id), [
        "office_encrypted",
        "office_velvetsweatshop",
      ]);
    }
  }
  const [doc] = await libreOfficeText(dir, [written["rc4.doc"]], "txt:Text");
  ok(doc.includes(OOXML.secret), doc);
  for (
    const csv of await libreOfficeText(dir, [written["rc4.xls"], written["velvet.xls"]], "csv")
  ) {
    ok(csv.includes(OOXML.secret), csv);
  }
});

Deno.test("encrypted_office: a password not in the list is reported; the payload's own passwords are tried first", async () => {
  const path = (await ooxmlFiles())["unknown.docx"];
  const data = await Deno.readFile(path);
  const res = await scan(data);
  const r = res.results as Report;
  deepEqual([r.encrypted, r.scheme, r.decrypted, r.password, r.passwords_tried], [
    true,
    "agile",
    false,
    null,
    5,
  ]);
  deepEqual(res.extracted, []);
  deepEqual(res.errors, [
    "encrypted_office: none of the 5 passwords opened it (add the right one to the passwords option or to payload_meta.extra_data.passwords)",
  ]);
  equal(r.findings[0].detail, "ooxml, agile (AES-256); not decrypted");
  const costly = await scan(data, {}, { max_spin_count: 50_000 });
  deepEqual(costly.errors, [
    "encrypted_office: spin count 100000 is above max_spin_count (50000): no password was tried",
  ]);
  equal((costly.results as Report).passwords_tried, 0);
  const own = await scan(data, { passwords: [OOXML.unknownPassword] });
  equal((own.results as Report).password, OOXML.unknownPassword);
  equal((own.results as Report).passwords_tried, 1);
  const dir = await tempDir("dec-");
  const want = await msoffcrypto(path, OOXML.unknownPassword, `${dir}/ms.docx`);
  equal(sha256(own.extracted![0].content as Uint8Array), sha256(want));
});

Deno.test("encrypted_office: legacy RC4 encryption is reported when no password opens it", async () => {
  const files = await ooxmlFiles();
  for (const [name, container] of [["rc4.doc", "doc"], ["rc4.xls", "xls"]] as const) {
    const res = await scan(await Deno.readFile(files[name]), {}, { passwords: ["wrong"] });
    const r = res.results as Report;
    deepEqual(
      [r.encrypted, r.container, r.scheme, r.cipher, r.decrypted, r.password, r.passwords_tried],
      [true, container, "rc4", "RC4", false, null, 1],
    );
    deepEqual(res.extracted, []);
    equal(r.findings[0].detail, `${container}, rc4 (RC4); not decrypted`);
  }
});

Deno.test("encrypted_office: unencrypted compound files, other data and broken files", async () => {
  const real = await realFiles();
  deepEqual((await scan(await Deno.readFile(real["report.doc"]))).results, {
    encrypted: false,
    container: "doc",
  });
  deepEqual((await scan(await Deno.readFile(real["macro.xls"]))).results, {
    encrypted: false,
    container: "xls",
  });
  deepEqual((await scan(await Deno.readFile(real["report.docx"]))).errors, [
    "encrypted_office: not an OLE compound file (no D0CF11E0 header)",
  ]);
  const data = await Deno.readFile((await ooxmlFiles())["standard.docx"]);
  const cut = await scan(data.subarray(0, 1000));
  ok(
    /^encrypted_office: malformed OLE compound file: /.test(String(cut.errors?.[0])),
    String(cut.errors),
  );
  // Corrupted copies: a result or named errors, never a throw.
  for (const copy of corruptedCopies(data, { count: 60, from: 512, flips: 4, seed: 3 })) {
    const res = await scan(copy, {}, { passwords: ["infected"] });
    ok(res.results || res.errors?.length, "a result or named errors for every corrupted copy");
    for (const e of res.errors ?? []) ok(String(e).startsWith("encrypted_office: "), String(e));
  }
});
