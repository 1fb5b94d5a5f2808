import { deepEqual, equal, match, ok, rejects } from "node:assert/strict";
import { DEFAULT_CONFIG_TEXT, parseConfig } from "../../core/config.ts";
import { execTool, spawnTool, withTempFile } from "../../core/exec.ts";
import type { CallContext, PayloadMetaInput, WorkerResponse } from "../../core/engine/plugin.ts";
import decompress from "../../plugins/decompress.ts";
import { BZIP2_VIA_7Z } from "../../plugins/lib/archive/extract.ts";
import { allBuiltins } from "../../plugins/index.ts";
import { input, testEngine } from "../engine/harness.ts";
import {
  instantiate,
  makeCall,
  makePayload,
  makeRequest,
  sh,
  sha256,
  tempDir,
} from "../helpers.ts";

const TOOLS = { "7z": "p7zip-full" };
const enc = new TextEncoder();

function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) crypto.getRandomValues(out.subarray(i, i + 65536));
  return out;
}

/** A small tree of files in `dir`: name → content. b.bin (600 KiB) spans several read chunks. */
async function makeTree(dir: string): Promise<Record<string, Uint8Array>> {
  const files: Record<string, Uint8Array> = {
    "a.txt": enc.encode("hello\n"),
    "dir/b.bin": randomBytes(600 * 1024),
    "dir/sub/c.txt": enc.encode("stoq ".repeat(4000)),
  };
  for (const [name, content] of Object.entries(files)) {
    await Deno.mkdir(`${dir}/${name}`.replace(/\/[^/]+$/, ""), { recursive: true });
    await Deno.writeFile(`${dir}/${name}`, content);
  }
  return files;
}

async function scan(
  file: string | Uint8Array,
  options: Record<string, unknown> = {},
  meta: PayloadMetaInput = {},
  call?: CallContext,
): Promise<WorkerResponse> {
  const { instance, call: defaultCall } = await instantiate(decompress, options);
  const content = typeof file === "string" ? await Deno.readFile(file) : file;
  const p = makePayload(content, meta);
  return (await instance.scan!(p, makeRequest(p), call ?? defaultCall)) as WorkerResponse;
}

/** filename → sha256 of each child. */
function children(res: WorkerResponse): Record<string, string> {
  const out: Record<string, string> = {};
  for (const c of res.extracted ?? []) {
    const name = c.payload_meta?.extra_data?.filename;
    ok(typeof name === "string", "every child has a filename");
    ok(c.content instanceof Uint8Array);
    out[name] = sha256(c.content);
  }
  return out;
}

const hashes = (files: Record<string, Uint8Array>) =>
  Object.fromEntries(Object.entries(files).map(([n, c]) => [n, sha256(c)]));

const errorsOf = (res: WorkerResponse) => (res.errors ?? []).map(String).join("\n");

async function ourTempDirs(): Promise<string[]> {
  const tmp = Deno.env.get("TMPDIR") ?? "/tmp";
  const out: string[] = [];
  for await (const e of Deno.readDir(tmp)) {
    if (e.name.startsWith("stoq-decompress-")) out.push(e.name);
  }
  return out.sort();
}

Deno.test("decompress: zip members, their sha256 and filename meta", async () => {
  const dir = await tempDir();
  const files = await makeTree(`${dir}/src`);
  await sh("zip", ["-qr", `${dir}/t.zip`, "."], `${dir}/src`);
  const res = await scan(`${dir}/t.zip`);
  deepEqual(res.results, { format: "zip", members: 3, encrypted: false });
  deepEqual(children(res), hashes(files));
  equal(res.errors, undefined);
  for (const c of res.extracted!) {
    equal(c.payload_meta?.should_archive, true);
    deepEqual(c.payload_meta?.dispatch_to, []);
  }
  const opted = await scan(`${dir}/t.zip`, { archive_extracted: false, dispatch_to: ["yara"] });
  for (const c of opted.extracted!) {
    equal(c.payload_meta?.should_archive, false);
    deepEqual(c.payload_meta?.dispatch_to, ["yara"]);
  }
});

Deno.test("decompress: ZipCrypto zip opens with a listed or a per-payload password", async () => {
  const dir = await tempDir();
  const files = await makeTree(`${dir}/src`);
  await sh("zip", ["-qr", "-P", "malware", `${dir}/zc.zip`, "."], `${dir}/src`);
  const res = await scan(`${dir}/zc.zip`);
  deepEqual(res.results, { format: "zip", members: 3, encrypted: true, password: "malware" });
  deepEqual(children(res), hashes(files));

  await sh("zip", ["-qr", "-P", "s3cr3t!", `${dir}/own.zip`, "."], `${dir}/src`);
  const own = await scan(`${dir}/own.zip`, {}, { extra_data: { passwords: ["nope", "s3cr3t!"] } });
  deepEqual(own.results, { format: "zip", members: 3, encrypted: true, password: "s3cr3t!" });
  deepEqual(children(own), hashes(files));
});

Deno.test("decompress: encrypted zip with no matching password says so", async () => {
  const dir = await tempDir();
  await makeTree(`${dir}/src`);
  await sh("zip", ["-qr", "-P", "not-in-the-list", `${dir}/zc.zip`, "."], `${dir}/src`);
  const res = await scan(`${dir}/zc.zip`);
  deepEqual(res.results, { format: "zip", members: 0, encrypted: true });
  deepEqual(res.extracted, []);
  equal(res.errors?.length, 1);
  match(
    errorsOf(res),
    /^decompress: zip archive: encrypted, and none of the 4 passwords worked \(add the right one to the passwords option or to payload_meta.extra_data.passwords\): 3 members not extracted: /,
  );
  for (const name of ["a.txt", "dir/b.bin", "dir/sub/c.txt"]) {
    ok(errorsOf(res).includes(JSON.stringify(name)), name);
  }
});

Deno.test("decompress: AES-256 zip", async () => {
  const dir = await tempDir();
  const files = await makeTree(`${dir}/src`);
  await sh("7z", ["a", "-tzip", "-mem=AES256", "-pvirus", `${dir}/aes.zip`, "."], `${dir}/src`);
  const res = await scan(`${dir}/aes.zip`);
  deepEqual(res.results, { format: "zip", members: 3, encrypted: true, password: "virus" });
  deepEqual(children(res), hashes(files));
});

Deno.test("decompress: zip with a mix of plain and encrypted members", async () => {
  const dir = await tempDir();
  const files = await makeTree(`${dir}/src`);
  await sh("zip", ["-q", `${dir}/mix.zip`, "a.txt"], `${dir}/src`);
  await sh("zip", ["-q", "-P", "infected", `${dir}/mix.zip`, "dir/sub/c.txt"], `${dir}/src`);
  const res = await scan(`${dir}/mix.zip`);
  deepEqual(res.results, { format: "zip", members: 2, encrypted: true, password: "infected" });
  deepEqual(children(res), {
    "a.txt": sha256(files["a.txt"]),
    "dir/sub/c.txt": sha256(files["dir/sub/c.txt"]),
  });
});

Deno.test("decompress: 7z archive, plain and with encrypted headers", async () => {
  const dir = await tempDir();
  const files = await makeTree(`${dir}/src`);
  await sh("7z", ["a", "-t7z", `${dir}/t.7z`, "."], `${dir}/src`);
  const res = await scan(`${dir}/t.7z`);
  deepEqual(res.results, { format: "7z", members: 3, encrypted: false });
  deepEqual(children(res), hashes(files));
  equal(res.errors, undefined);

  await sh("7z", ["a", "-t7z", "-ppassword", "-mhe=on", `${dir}/enc.7z`, "."], `${dir}/src`);
  const encd = await scan(`${dir}/enc.7z`);
  deepEqual(encd.results, { format: "7z", members: 3, encrypted: true, password: "password" });
  deepEqual(children(encd), hashes(files));

  const none = await scan(`${dir}/enc.7z`, { passwords: ["a", "b"] });
  deepEqual(none.results, { format: "7z", members: 0, encrypted: true });
  match(errorsOf(none), /7z archive is encrypted, and none of the 2 passwords worked/);
});

Deno.test("decompress: 7z archive with encrypted data but plain headers", async () => {
  const dir = await tempDir();
  const files = await makeTree(`${dir}/src`);
  await sh("7z", ["a", "-t7z", "-pvirus", `${dir}/enc.7z`, "."], `${dir}/src`);
  const res = await scan(`${dir}/enc.7z`);
  deepEqual(res.results, { format: "7z", members: 3, encrypted: true, password: "virus" });
  deepEqual(children(res), hashes(files));
  const none = await scan(`${dir}/enc.7z`, { passwords: ["wrong"] });
  equal(none.results && (none.results as { members: number }).members, 0);
  match(errorsOf(none), /encrypted, and none of the 1 passwords worked.*3 members not extracted/);
});

Deno.test("decompress: tar, and tar.gz gives the .tar, which gives the members", async () => {
  const dir = await tempDir();
  const files = await makeTree(`${dir}/src`);
  await sh("tar", ["cf", `${dir}/t.tar`, "-C", `${dir}/src`, "a.txt", "dir"]);
  const tar = await scan(`${dir}/t.tar`);
  deepEqual(tar.results, { format: "tar", members: 3, encrypted: false });
  deepEqual(children(tar), hashes(files));

  await sh("tar", ["czf", `${dir}/t.tar.gz`, "-C", `${dir}/src`, "a.txt", "dir"]);
  const gz = await scan(`${dir}/t.tar.gz`, {}, { extra_data: { filename: "t.tar.gz" } });
  deepEqual(gz.results, { format: "gzip", members: 1, encrypted: false });
  equal(gz.extracted?.length, 1);
  const child = gz.extracted![0];
  equal(child.payload_meta?.extra_data?.filename, "t.tar");
  const inner = await scan(child.content as Uint8Array, {}, { extra_data: { filename: "t.tar" } });
  deepEqual(inner.results, { format: "tar", members: 3, encrypted: false });
  deepEqual(children(inner), hashes(files));

  const tgz = await scan(`${dir}/t.tar.gz`, {}, { extra_data: { filename: "x/y.TGZ" } });
  equal(tgz.extracted![0].payload_meta?.extra_data?.filename, "x/y.tar");
});

Deno.test("decompress: tar with long names (GNU and pax) keeps the full stored name", async () => {
  const dir = await tempDir();
  const long = `${"d".repeat(120)}/${"f".repeat(130)}.txt`;
  await Deno.mkdir(`${dir}/src/${"d".repeat(120)}`, { recursive: true });
  await Deno.writeTextFile(`${dir}/src/${long}`, "deep");
  for (const format of ["gnu", "pax"]) {
    await sh("tar", [
      `--format=${format}`,
      "-cf",
      `${dir}/${format}.tar`,
      "-C",
      `${dir}/src`,
      long,
    ]);
    const res = await scan(`${dir}/${format}.tar`);
    deepEqual(children(res), { [long]: sha256("deep") }, format);
  }
});

Deno.test("decompress: gzip, bzip2, xz name the member after the input", async () => {
  const dir = await tempDir();
  const data = enc.encode("line of text\n".repeat(50_000));
  await Deno.writeFile(`${dir}/doc.txt`, data);
  for (
    const [tool, ext, format] of [["gzip", "gz", "gzip"], ["bzip2", "bz2", "bzip2"], [
      "xz",
      "xz",
      "xz",
    ]]
  ) {
    await sh(tool, ["-k", "-f", `${dir}/doc.txt`]);
    const file = `${dir}/doc.txt.${ext}`;
    const named = await scan(file, {}, { extra_data: { filename: `doc.txt.${ext}` } });
    deepEqual(named.results, { format, members: 1, encrypted: false }, tool);
    deepEqual(children(named), { "doc.txt": sha256(data) }, tool);
    const content = await Deno.readFile(file);
    const unnamed = await scan(content);
    const expected = tool === "gzip" ? "doc.txt" : `${sha256(content).slice(0, 16)}.decompressed`;
    deepEqual(children(unnamed), { [expected]: sha256(data) }, `${tool} without a filename`);
  }
  // gzip -n stores no name: the hash name is used.
  await sh("bash", ["-c", "gzip -n -c doc.txt > bare.gz"], dir);
  const bare = await Deno.readFile(`${dir}/bare.gz`);
  deepEqual(Object.keys(children(await scan(bare))), [`${sha256(bare).slice(0, 16)}.decompressed`]);
});

Deno.test("decompress: multi-member gzip and multi-stream bzip2 are read whole, junk ignored", async () => {
  const dir = await tempDir();
  await Deno.writeTextFile(`${dir}/one`, "first part\n");
  await Deno.writeTextFile(`${dir}/two`, "second part\n");
  for (const tool of ["gzip", "bzip2"]) {
    await sh("bash", ["-c", `${tool} -c one > cat; ${tool} -c two >> cat`], dir);
    const res = await scan(`${dir}/cat`, {}, { extra_data: { filename: "cat.bin" } });
    equal(res.extracted?.length, 1, tool);
    equal(
      new TextDecoder().decode(res.extracted![0].content as Uint8Array),
      "first part\nsecond part\n",
    );
    equal(res.errors, undefined, tool);
    // Trailing junk after the last stream is ignored with a warning, as gzip(1) and bzip2(1) do.
    await sh("bash", ["-c", "printf 'trailing junk' >> cat"], dir);
    const junk = await scan(`${dir}/cat`);
    equal(
      new TextDecoder().decode(junk.extracted![0].content as Uint8Array),
      "first part\nsecond part\n",
      tool,
    );
    deepEqual(junk.errors, [
      `decompress: ${tool} archive: data after the ${tool} stream was ignored`,
    ]);
  }
});

Deno.test("decompress: a tar, 7z or zip symlink to a host file is not followed", async () => {
  const dir = await tempDir();
  const secret = `${dir}/host-secret.txt`;
  await Deno.writeTextFile(secret, "HOST SECRET CONTENT");
  await Deno.mkdir(`${dir}/src`);
  await Deno.writeTextFile(`${dir}/src/regular.txt`, "regular");
  await Deno.symlink(secret, `${dir}/src/link`);
  await Deno.symlink("/etc/passwd", `${dir}/src/passwd`);
  await sh("tar", ["cf", `${dir}/l.tar`, "-C", `${dir}/src`, "regular.txt", "link", "passwd"]);
  await sh(
    "7z",
    ["a", "-t7z", "-snl", `${dir}/l.7z`, "regular.txt", "link", "passwd"],
    `${dir}/src`,
  );
  await sh("zip", ["-q", "-y", `${dir}/l.zip`, "regular.txt", "link", "passwd"], `${dir}/src`);
  const forbidden = new Set([
    sha256("HOST SECRET CONTENT"),
    sha256(await Deno.readFile("/etc/passwd")),
    sha256(secret),
    sha256("/etc/passwd"),
  ]);
  for (const file of ["l.tar", "l.7z", "l.zip"]) {
    const res = await scan(`${dir}/${file}`);
    deepEqual(children(res), { "regular.txt": sha256("regular") }, file);
    for (const c of res.extracted!) ok(!forbidden.has(sha256(c.content)), file);
  }
});

Deno.test("decompress: a member named ../../evil.txt is only metadata", async () => {
  const dir = await tempDir();
  await Deno.mkdir(`${dir}/w/x/y`, { recursive: true });
  const evil = enc.encode("evil ".repeat(5000));
  await Deno.writeFile(`${dir}/w/evil.txt`, evil);
  // Deflated (zip.js) and bzip2-compressed (zip.js cannot: 7z reads it).
  await sh("zip", ["-q", `${dir}/deflate.zip`, "../../evil.txt"], `${dir}/w/x/y`);
  await sh("zip", ["-q", "-Z", "bzip2", `${dir}/bzip2.zip`, "../../evil.txt"], `${dir}/w/x/y`);
  const before = await ourTempDirs();
  for (const file of ["deflate.zip", "bzip2.zip"]) {
    const res = await scan(`${dir}/${file}`);
    deepEqual(res.results, { format: "zip", members: 1, encrypted: false }, file);
    deepEqual(children(res), { "../../evil.txt": sha256(evil) }, file);
  }
  deepEqual(await ourTempDirs(), before, "temp dirs are removed");
  const tmp = Deno.env.get("TMPDIR") ?? "/tmp";
  for (const place of ["/evil.txt", `${tmp}/evil.txt`, `${Deno.cwd()}/../../evil.txt`]) {
    await rejects(Deno.lstat(place), Deno.errors.NotFound, `${place} must not exist`);
  }
});

Deno.test("decompress: a tar member named ../../evil.txt keeps its stored name", async () => {
  const dir = await tempDir();
  await Deno.mkdir(`${dir}/w/x/y`, { recursive: true });
  await Deno.writeTextFile(`${dir}/w/evil.txt`, "evil");
  // -P: GNU tar would otherwise strip the leading "../../" when creating.
  await sh("tar", ["-P", "-cf", `${dir}/evil.tar`, "../../evil.txt"], `${dir}/w/x/y`);
  const res = await scan(`${dir}/evil.tar`);
  deepEqual(res.results, { format: "tar", members: 1, encrypted: false });
  deepEqual(children(res), { "../../evil.txt": sha256("evil") });
});

Deno.test("decompress: a damaged tar keeps every intact member before the damage", async () => {
  const dir = await tempDir();
  await Deno.mkdir(`${dir}/src`);
  const names = ["f1.txt", "f2.txt", "f3.txt", "f4.txt", "f5.txt"];
  for (const n of names) await Deno.writeTextFile(`${dir}/src/${n}`, `content of ${n}`);
  await sh("tar", ["cf", `${dir}/five.tar`, ...names], `${dir}/src`);
  const tar = await Deno.readFile(`${dir}/five.tar`);
  const expect = (n: number) =>
    Object.fromEntries(names.slice(0, n).map((f) => [f, sha256(`content of ${f}`)]));
  // Each member is one header block and one data block: f5's header is at 4096.
  const f5 = 4096;
  equal(new TextDecoder().decode(tar.subarray(f5, f5 + 6)), "f5.txt");

  // Bytes after the end-of-archive blocks are not part of the tar (GNU tar ignores them too).
  const appended = new Uint8Array(tar.length + 100).fill(0x41);
  appended.set(tar);
  const whole = await scan(appended);
  deepEqual(children(whole), expect(5));
  equal(whole.errors, undefined);

  const badHeader = tar.slice();
  badHeader[f5 + 10] ^= 0x55;
  const cut = tar.slice(0, f5 + 512 + 5);
  for (
    const [what, content, expected] of [
      ["corrupt header", badHeader, /corrupt tar archive: bad tar header checksum at offset 4096/],
      ["truncated member", cut, /corrupt tar archive: .*offset 4096 is truncated/],
    ] as const
  ) {
    const res = await scan(content);
    deepEqual(children(res), expect(4), what);
    equal(res.errors?.length, 1, what);
    match(errorsOf(res), expected, what);
  }
});

Deno.test("decompress: max_members names what it dropped (zip, tar, 7z)", async () => {
  const dir = await tempDir();
  await Deno.mkdir(`${dir}/src`);
  const names = Array.from({ length: 15 }, (_, i) => `f${String(i).padStart(2, "0")}.txt`);
  for (const n of names) await Deno.writeTextFile(`${dir}/src/${n}`, `content of ${n}`);
  await sh("zip", ["-q", `${dir}/m.zip`, ...names], `${dir}/src`);
  await sh("tar", ["cf", `${dir}/m.tar`, ...names], `${dir}/src`);
  await sh("7z", ["a", "-t7z", `${dir}/m.7z`, ...names], `${dir}/src`);
  for (const [file, format] of [["m.zip", "zip"], ["m.tar", "tar"], ["m.7z", "7z"]]) {
    const res = await scan(`${dir}/${file}`, { max_members: 3 });
    deepEqual(res.results, { format, members: 3, encrypted: false }, file);
    deepEqual(
      children(res),
      Object.fromEntries(names.slice(0, 3).map((n) => [n, sha256(`content of ${n}`)])),
      file,
    );
    const listed = names.slice(3, 13).map((n) => JSON.stringify(n)).join(", ");
    deepEqual(res.errors, [
      `decompress: ${format} archive: max_members (3) reached: 12 members not extracted: ${listed} and 2 more`,
    ], file);
  }
});

Deno.test("decompress: max_member_size and max_total_size drop members, by real size", async () => {
  const dir = await tempDir();
  await Deno.mkdir(`${dir}/src`);
  await Deno.writeFile(`${dir}/src/small1`, new Uint8Array(500).fill(1));
  await Deno.writeFile(`${dir}/src/big`, new Uint8Array(5000).fill(2));
  await Deno.writeFile(`${dir}/src/small2`, new Uint8Array(600).fill(3));
  const order = ["small1", "big", "small2"];
  await sh("zip", ["-q", `${dir}/s.zip`, ...order], `${dir}/src`);
  await sh("tar", ["cf", `${dir}/s.tar`, ...order], `${dir}/src`);
  await sh("7z", ["a", "-t7z", `${dir}/s.7z`, ...order], `${dir}/src`);
  for (const [file, format] of [["s.zip", "zip"], ["s.tar", "tar"], ["s.7z", "7z"]]) {
    const res = await scan(`${dir}/${file}`, { max_member_size: 1000 });
    deepEqual(Object.keys(children(res)).sort(), ["small1", "small2"], file);
    deepEqual(res.errors, [
      `decompress: ${format} archive: larger than max_member_size (1000 bytes): 1 member not extracted: "big"`,
    ], file);
    const total = await scan(`${dir}/${file}`, { max_total_size: 1000 });
    deepEqual(Object.keys(children(total)), ["small1"], file);
    deepEqual(total.errors, [
      `decompress: ${format} archive: max_total_size (1000 bytes) reached: 2 members not extracted: "big", "small2"`,
    ], file);
  }
  // A gzip bomb declares nothing: the cap is met while inflating.
  await Deno.writeFile(`${dir}/zeros`, new Uint8Array(8 * 1024 * 1024));
  for (const tool of ["gzip", "bzip2", "xz"]) {
    await sh(tool, ["-k", "-f", `${dir}/zeros`]);
    const ext = { gzip: "gz", bzip2: "bz2", xz: "xz" }[tool];
    const res = await scan(`${dir}/zeros.${ext}`, { max_member_size: 1024 * 1024 }, {
      extra_data: { filename: `zeros.${ext}` },
    });
    deepEqual(res.extracted, [], tool);
    deepEqual(res.errors, [
      `decompress: ${tool} archive: larger than max_member_size (1048576 bytes): 1 member not extracted: "zeros"`,
    ], tool);
  }
});

Deno.test("decompress: zstd (via 7z, size not listed) is named and capped", async () => {
  const dir = await tempDir();
  const data = enc.encode("zstd text\n".repeat(20_000));
  await Deno.writeFile(`${dir}/doc.txt`, data);
  await sh("zstd", ["-q", "-f", `${dir}/doc.txt`, "-o", `${dir}/doc.txt.zst`]);
  const meta = { extra_data: { filename: "doc.txt.zst" } };
  const res = await scan(`${dir}/doc.txt.zst`, {}, meta);
  deepEqual(res.results, { format: "zstd", members: 1, encrypted: false });
  deepEqual(children(res), { "doc.txt": sha256(data) });
  const capped = await scan(`${dir}/doc.txt.zst`, { max_member_size: 1000 }, meta);
  deepEqual(capped.extracted, []);
  match(
    errorsOf(capped),
    /larger than max_member_size \(1000 bytes\): 1 member not extracted: "doc.txt"/,
  );
});

Deno.test("decompress: ar archive via 7z", async () => {
  const dir = await tempDir();
  await Deno.writeTextFile(`${dir}/one.txt`, "one");
  await Deno.writeTextFile(`${dir}/two.txt`, "two two");
  await sh("ar", ["rc", `${dir}/x.a`, "one.txt", "two.txt"], dir);
  const res = await scan(`${dir}/x.a`);
  deepEqual(res.results, { format: "ar", members: 2, encrypted: false });
  deepEqual(children(res), { "one.txt": sha256("one"), "two.txt": sha256("two two") });
});

Deno.test("decompress: data that is not an archive is a named error, unless strict = false", async () => {
  const strict = await scan(Uint8Array.from([0x4d, 0x5a, 0x90, 0, 1, 2]));
  deepEqual(strict.results, { format: null });
  deepEqual(strict.errors, [
    "decompress: not an archive format stoq can open (first bytes 4d5a90000102); nothing was " +
    "extracted (stoq route explain FILE shows why it was sent here)",
  ]);
  // For `-a decompress` on every payload: a plain payload is then not an error.
  const text = makePayload("just some text, not an archive\n");
  const { instance, call } = await instantiate(decompress, { strict: false });
  deepEqual(await instance.scan!(text, makeRequest(text), call), { results: { format: null } });
});

Deno.test("decompress: corrupted archives give clear errors", async () => {
  const dir = await tempDir();
  await makeTree(`${dir}/src`);
  await sh("tar", ["cf", `${dir}/t.tar`, "-C", `${dir}/src`, "a.txt", "dir"]);
  await sh("7z", ["a", "-t7z", `${dir}/t.7z`, "."], `${dir}/src`);
  await sh("zip", ["-qr", `${dir}/t.zip`, "."], `${dir}/src`);
  for (const tool of ["gzip", "bzip2", "xz"]) await sh(tool, ["-k", `${dir}/src/dir/b.bin`]);

  const cut = async (f: string, n: number) => (await Deno.readFile(f)).slice(0, n);
  const flip = async (f: string, at: number) => {
    const d = await Deno.readFile(f);
    for (let i = at; i < at + 64; i++) d[i] ^= 0x55;
    return d;
  };
  const cases: [string, Uint8Array, RegExp][] = [
    [
      "truncated tar",
      await cut(`${dir}/t.tar`, 2048),
      /tar archive: corrupt tar archive: .*truncated/,
    ],
    ["7z cut short", await cut(`${dir}/t.7z`, 300), /7z archive: 7z could not read the 7z archive/],
    [
      "gzip with bad data",
      await flip(`${dir}/src/dir/b.bin.gz`, 1000),
      /gzip archive: corrupt gzip data/,
    ],
    [
      "bzip2 with bad data",
      await flip(`${dir}/src/dir/b.bin.bz2`, 1000),
      /bzip2 archive: corrupt bzip2 data/,
    ],
    [
      "xz with bad data",
      await flip(`${dir}/src/dir/b.bin.xz`, 1000),
      /xz archive: corrupt xz data/,
    ],
    [
      "zip with bad member data",
      await flip(`${dir}/t.zip`, 2000),
      /zip archive: could not be extracted/,
    ],
    [
      "zip without its directory",
      await cut(`${dir}/t.zip`, 100),
      /zip archive: .*zip\.js could not read it/,
    ],
  ];
  for (const [what, content, expected] of cases) {
    const res = await scan(content);
    ok((res.errors?.length ?? 0) > 0, `${what}: an error`);
    match(errorsOf(res), expected, what);
    ok(Array.isArray(res.extracted), what);
  }
});

/** Whether a live process has `needle` in its command line. */
async function processWith(needle: string): Promise<boolean> {
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      if ((await Deno.readTextFile(`/proc/${e.name}/cmdline`)).includes(needle)) return true;
    } catch { /* gone */ }
  }
  return false;
}

Deno.test("decompress: an aborted call kills 7z and removes the temp dir", async () => {
  const dir = await tempDir();
  const zeros = await Deno.open(`${dir}/zeros.bin`, { create: true, write: true });
  await zeros.truncate(256 * 1024 * 1024);
  zeros.close();
  await sh("7z", ["a", "-t7z", "-mx1", `${dir}/big.7z`, "zeros.bin"], dir);
  await Deno.remove(`${dir}/zeros.bin`);
  const opts = { max_member_size: 1024 * 1024 * 1024 };
  const content = await Deno.readFile(`${dir}/big.7z`);

  // Abort once the extraction has started: 7z is decompressing 256 MiB at that point.
  const controller = new AbortController();
  let archive = "";
  const call: CallContext = {
    signal: controller.signal,
    withTempFile,
    spawn: (tool, args, o) => spawnTool(TOOLS, tool, args, o),
    exec(tool, args, o) {
      if (args[0] === "x") {
        archive = args[args.length - 1];
        setTimeout(() => controller.abort(), 100);
      }
      return execTool(TOOLS, tool, args, controller.signal, o);
    },
  };
  await rejects(scan(content, opts, {}, call), (e: Error) => e.name === "AbortError");
  ok(archive !== "", "extraction was started");
  ok(!(await processWith(archive)), "no 7z process is left");
  await rejects(Deno.lstat(archive), Deno.errors.NotFound, "the temp dir is removed");

  // A deadline that has passed by the time 7z would run.
  const before = await ourTempDirs();
  await rejects(
    scan(content, opts, {}, makeCall(TOOLS, 1)),
    (e: Error) => e.name === "TimeoutError",
  );
  deepEqual(await ourTempDirs(), before);
});

/** Two files in a sub-folder, for ISO and CAB: b.bin spans many 2 KiB ISO sectors. */
async function isoTree(dir: string): Promise<Record<string, Uint8Array>> {
  const files = { "sub/a.txt": enc.encode("hello iso\n"), "sub/b.bin": randomBytes(70_000) };
  await Deno.mkdir(`${dir}/sub`, { recursive: true });
  for (const [name, content] of Object.entries(files)) {
    await Deno.writeFile(`${dir}/${name}`, content);
  }
  return files;
}

Deno.test("decompress: ISO 9660 image from genisoimage (Rock Ridge + Joliet)", async () => {
  const dir = await tempDir();
  const files = await isoTree(`${dir}/src`);
  await sh("genisoimage", ["-quiet", "-o", `${dir}/x.iso`, "-R", "-J", "src"], dir);
  const res = await scan(`${dir}/x.iso`);
  deepEqual(res.results, { format: "iso", members: 2, encrypted: false });
  deepEqual(children(res), hashes(files));
  equal(res.errors, undefined);
});

Deno.test("decompress: max_members on an ISO names the member dropped", async () => {
  const dir = await tempDir();
  const files = await isoTree(`${dir}/src`);
  await sh("genisoimage", ["-quiet", "-o", `${dir}/x.iso`, "-R", "-J", "src"], dir);
  // ISO 9660 sorts directory records by name, so sub/a.txt is listed first.
  const res = await scan(`${dir}/x.iso`, { max_members: 1 });
  deepEqual(res.results, { format: "iso", members: 1, encrypted: false });
  deepEqual(children(res), { "sub/a.txt": sha256(files["sub/a.txt"]) });
  deepEqual(res.errors, [
    `decompress: iso archive: max_members (1) reached: 1 member not extracted: "sub/b.bin"`,
  ]);
});

Deno.test("decompress: CAB from gcab, stored and MSZIP-compressed", async () => {
  const dir = await tempDir();
  const files = { "a.txt": enc.encode("hello cab\n".repeat(100)), "b.bin": randomBytes(70_000) };
  for (const [name, content] of Object.entries(files)) {
    await Deno.writeFile(`${dir}/${name}`, content);
  }
  await sh("gcab", ["-c", `${dir}/x.cab`, "a.txt", "b.bin"], dir);
  await sh("gcab", ["-c", "-z", `${dir}/z.cab`, "a.txt", "b.bin"], dir);
  for (const file of ["x.cab", "z.cab"]) {
    const res = await scan(`${dir}/${file}`);
    deepEqual(res.results, { format: "cab", members: 2, encrypted: false }, file);
    deepEqual(children(res), hashes(files), file);
    equal(res.errors, undefined, file);
  }
});

Deno.test("decompress: the default route rules send .iso and .cab to decompress", async () => {
  const dir = await tempDir();
  const iso = await isoTree(`${dir}/src`);
  await sh("genisoimage", ["-quiet", "-o", `${dir}/x.iso`, "-R", "-J", "src"], dir);
  await sh("gcab", ["-c", `${dir}/x.cab`, "a.txt", "b.bin"], `${dir}/src/sub`);
  const cab = { "a.txt": iso["sub/a.txt"], "b.bin": iso["sub/b.bin"] };
  // The rules and dispatchers of config/default.toml, with the real built-in plugins.
  const config = parseConfig(DEFAULT_CONFIG_TEXT, "config/default.toml");
  ok(config.core.always_dispatch.includes("mimetype"));
  const engine = await testEngine({
    plugins: await allBuiltins(),
    pipeline: { always_dispatch: ["mimetype"], dispatchers: config.core.dispatchers },
    options: { route: config.plugins.route },
  });
  const cases: [string, string, string, Record<string, Uint8Array>][] = [
    ["x.iso", "application/x-iso9660-image", "iso", iso],
    ["x.cab", "application/vnd.ms-cab-compressed", "cab", cab],
  ];
  for (const [file, mime, format, files] of cases) {
    const content = await Deno.readFile(`${dir}/${file}`);
    const r = await engine.scan([input(content)]);
    deepEqual(r.errors, [], file);
    const [top, ...kids] = r.results;
    deepEqual(top.workers.mimetype, { mimetype: mime, extension: format }, file);
    ok(top.plugins_run.workers.includes("decompress"), `${file} went to decompress`);
    deepEqual(top.workers.decompress, { format, members: 2, encrypted: false }, file);
    equal(kids.length, 2, file);
    const got: Record<string, number> = {};
    for (const k of kids) {
      deepEqual(k.extracted_by, ["decompress"], file);
      deepEqual(k.extracted_from, [top.payload_id], file);
      got[String(k.payload_meta.extra_data.filename)] = k.size;
    }
    deepEqual(
      got,
      Object.fromEntries(Object.entries(files).map(([n, c]) => [n, c.length])),
      file,
    );
  }
});

Deno.test("decompress: a large bzip2 goes through 7z, with the same name, bytes and caps", async () => {
  const dir = await tempDir();
  // Text compresses well: 3 MiB of it makes a bzip2 over BZIP2_VIA_7Z that expands past 2 MiB.
  const words = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu\n";
  const text = enc.encode(words.repeat(Math.ceil((3 << 20) / words.length)));
  const noise = randomBytes(1 << 20); // keeps the compressed file over 1 MiB
  const original = new Uint8Array([...text, ...noise]);
  await Deno.writeFile(`${dir}/big.log`, original);
  await sh("bzip2", ["-k", `${dir}/big.log`]);
  const packed = await Deno.readFile(`${dir}/big.log.bz2`);
  ok(packed.length >= BZIP2_VIA_7Z, "the fixture takes the 7z route");
  const calls: string[] = [];
  const base = makeCall(TOOLS);
  const spy: CallContext = {
    signal: base.signal,
    withTempFile: base.withTempFile,
    spawn: base.spawn,
    exec: (tool, args, o) => {
      calls.push(tool);
      return base.exec(tool, args, o);
    },
  };
  const res = await scan(packed, {}, { extra_data: { filename: "big.log.bz2" } }, spy);
  deepEqual(calls.filter((t) => t === "7z").length > 0, true, "7z ran");
  deepEqual(res.results, { format: "bzip2", members: 1, encrypted: false });
  deepEqual(children(res), { "big.log": sha256(original) });
  equal(res.errors, undefined);
  // The per-member cap holds on this route too.
  const capped = await scan(packed, { max_member_size: 1 << 20 }, {
    extra_data: { filename: "big.log.bz2" },
  });
  equal(capped.extracted?.length ?? 0, 0);
  match(errorsOf(capped), /big\.log/);
});

Deno.test("decompress: without 7z a large bzip2 is still read, in-process", async () => {
  const dir = await tempDir();
  const original = randomBytes(1536 * 1024);
  await Deno.writeFile(`${dir}/r.bin`, original);
  await sh("bzip2", ["-k", `${dir}/r.bin`]);
  const packed = await Deno.readFile(`${dir}/r.bin.bz2`);
  ok(packed.length >= BZIP2_VIA_7Z);
  const noSevenZip: CallContext = {
    signal: AbortSignal.timeout(60_000),
    withTempFile,
    spawn: (tool, args, o) => spawnTool(TOOLS, tool, args, o),
    // What core/exec.ts says when the tool is missing.
    exec: () =>
      Promise.reject(new Error("7z is not installed: install the Debian package p7zip-full")),
  };
  const res = await scan(packed, {}, { extra_data: { filename: "r.bin.bz2" } }, noSevenZip);
  deepEqual(children(res), { "r.bin": sha256(original) });
  equal(res.errors, undefined);
});
