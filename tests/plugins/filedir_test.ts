import { deepEqual, equal, match, ok, rejects, throws } from "node:assert/strict";
import { join } from "node:path";
import filedir, { strftime } from "../../plugins/filedir.ts";
import type { FileInput, ProviderItem, StoqResponse } from "../../core/engine/plugin.ts";
import { stoqAPI } from "../../core/engine/api.ts";
import { instantiate, makePayload, makeRequest, sh, sha256, tempDir } from "../helpers.ts";

/** A provider queue that just collects what it is given. */
function fakeQueue(onPut?: (item: ProviderItem) => void) {
  const items: FileInput[] = [];
  return {
    items,
    put(item: ProviderItem) {
      if (!("path" in item)) throw new Error("filedir should queue FileInput items");
      items.push(item);
      onPut?.(item);
      return Promise.resolve();
    },
  };
}

/** root/{b.txt, a.bin, .hidden, sub/{c.txt, .dot, deep/d.txt}, .git/e.txt, link->sub, flink->a.bin} */
async function tree(): Promise<string> {
  const root = await tempDir();
  await sh("mkdir", ["-p", "sub/deep", ".git"], root);
  await Deno.writeTextFile(join(root, "b.txt"), "b");
  await sh("dd", ["if=/dev/urandom", "of=a.bin", "bs=1k", "count=1", "status=none"], root);
  await Deno.writeTextFile(join(root, ".hidden"), "h");
  await Deno.writeTextFile(join(root, "sub", "c.txt"), "c");
  await Deno.writeTextFile(join(root, "sub", ".dot"), "d");
  await Deno.writeTextFile(join(root, "sub", "deep", "d.txt"), "d");
  await Deno.writeTextFile(join(root, ".git", "e.txt"), "e");
  await sh("ln", ["-s", "sub", "link"], root);
  await sh("ln", ["-s", "a.bin", "flink"], root);
  await sh("ln", ["-s", "missing", "broken"], root);
  await sh("mkfifo", ["fifo"], root);
  return root;
}

function sampleResponse(scanId: string): StoqResponse {
  return {
    results: [],
    request_meta: { archive_payloads: true, source: null, extra_data: {} },
    errors: [],
    time: "2024-01-02T03:04:05.000000",
    decorators: {},
    scan_id: scanId,
  };
}

Deno.test("filedir provider: lists top-level regular files, sorted, without recursion", async () => {
  const root = await tree();
  const { instance, call } = await instantiate(filedir, { source_dir: root });
  const q = fakeQueue();
  await instance.ingest!(q, call);
  deepEqual(q.items.map((i) => i.path), [
    join(root, "a.bin"),
    join(root, "b.txt"),
    join(root, "flink"),
  ]);
  deepEqual(q.items[1].payload_meta, { extra_data: { filename: "b.txt", source_dir: root } });
});

Deno.test("filedir provider: recursion walks sub-folders but not symlinked ones or dot-folders", async () => {
  const root = await tree();
  const { instance, call } = await instantiate(filedir, { source_dir: root, recursive: true });
  const q = fakeQueue();
  await instance.ingest!(q, call);
  deepEqual(q.items.map((i) => i.path), [
    join(root, "a.bin"),
    join(root, "b.txt"),
    join(root, "flink"),
    join(root, "sub", "c.txt"),
    join(root, "sub", "deep", "d.txt"),
  ]);
  deepEqual(q.items[4].payload_meta, {
    extra_data: { filename: "d.txt", source_dir: join(root, "sub", "deep") },
  });
});

Deno.test("filedir provider: a single file, a relative path, and stopping on abort", async () => {
  const root = await tree();
  const { instance, call } = await instantiate(filedir, { source_dir: join(root, "b.txt") });
  const one = fakeQueue();
  await instance.ingest!(one, call);
  deepEqual(one.items.map((i) => i.path), [join(root, "b.txt")]);

  // A relative source_dir is resolved against the working directory at create time.
  const here = Deno.cwd();
  Deno.chdir(root);
  let relative;
  try {
    relative = (await instantiate(filedir, { source_dir: "sub", recursive: true })).instance;
  } finally {
    Deno.chdir(here);
  }
  const rel = fakeQueue();
  await relative.ingest!(rel, call);
  deepEqual(rel.items.map((i) => i.path), [
    join(root, "sub", "c.txt"),
    join(root, "sub", "deep", "d.txt"),
  ]);

  const ac = new AbortController();
  const { instance: rec } = await instantiate(filedir, { source_dir: root, recursive: true });
  const q = fakeQueue(() => ac.abort());
  await rec.ingest!(q, { ...call, signal: ac.signal });
  deepEqual(q.items.map((i) => i.path), [join(root, "a.bin")]);
});

Deno.test("filedir provider: clear errors for a missing or absent source_dir", async () => {
  const { instance, call } = await instantiate(filedir);
  await rejects(
    async () => await instance.ingest!(fakeQueue(), call),
    { message: "filedir: set source_dir (e.g. --plugin-opts filedir:source_dir=/path)" },
  );
  const root = await tempDir();
  const { instance: gone } = await instantiate(filedir, { source_dir: join(root, "nope") });
  await rejects(async () => await gone.ingest!(fakeQueue(), call), /nope does not exist/);
});

Deno.test("filedir connector: one parseable file per scan, compact by default", async () => {
  const dir = await tempDir();
  const { instance, call } = await instantiate(filedir, { results_dir: join(dir, "res") });
  const a = sampleResponse(crypto.randomUUID());
  const b = sampleResponse(crypto.randomUUID());
  await Promise.all([instance.save!(a, call), instance.save!(b, call)]);
  const names = [];
  for await (const e of Deno.readDir(join(dir, "res"))) names.push(e.name);
  deepEqual(names.sort(), [`${a.scan_id}.json`, `${b.scan_id}.json`].sort());
  const text = await Deno.readTextFile(join(dir, "res", `${a.scan_id}.json`));
  equal(text, JSON.stringify(a) + "\n");
  deepEqual(JSON.parse(text), a);
});

Deno.test("filedir connector: date_mode writes under date folders; indented when not compact", async () => {
  const dir = await tempDir();
  const { instance, call } = await instantiate(filedir, {
    results_dir: dir,
    date_mode: true,
    date_format: "%Y/%m/%d",
    compactly: false,
  });
  const r = sampleResponse(crypto.randomUUID());
  const before = strftime("%Y/%m/%d", new Date());
  await instance.save!(r, call);
  const after = strftime("%Y/%m/%d", new Date());
  match(before, /^\d{4}\/\d{2}\/\d{2}$/);
  // The day may roll over during the save; the file must be under one of the two dates.
  const candidates = [...new Set([before, after])].map((d) => join(dir, d, `${r.scan_id}.json`));
  const found = [];
  for (const c of candidates) {
    if (await Deno.stat(c).then(() => true, () => false)) found.push(c);
  }
  equal(found.length, 1);
  equal(await Deno.readTextFile(found[0]), JSON.stringify(r, null, 4) + "\n");
});

Deno.test("filedir connector: date_format accepts only %Y %m %d %H %M %S", () => {
  const schema = filedir(stoqAPI).optionsSchema;
  equal(schema.parse({ date_format: "%Y-%m-%d/%H%M%S" }).date_format, "%Y-%m-%d/%H%M%S");
  const problem = (date_format: string) => {
    const r = schema.safeParse({ date_format });
    return r.success ? "accepted" : r.error.issues.map((i) => i.message).join("; ");
  };
  equal(problem("%Y/%j"), 'date_format "%Y/%j": "%j" is not supported (use %Y %m %d %H %M %S)');
  match(problem("%Y/%"), /"%" is not supported/);
  match(problem("%Y/%%"), /"%%" is not supported/);
  match(problem("../%Y"), /must not contain "\." or "\.\." folders/);
  throws(() => schema.parse({ date_format: "%Y/%j" }), /is not supported/);
  equal(strftime("%Y/%m/%d %H:%M:%S", new Date(2024, 0, 2, 3, 4, 5)), "2024/01/02 03:04:05");
});

Deno.test("filedir archiver: sha256 fan-out round trip via object, sha string and path", async () => {
  const dir = await tempDir();
  const archive_dir = join(dir, "arch");
  const { instance, call } = await instantiate(filedir, { archive_dir });
  const bytes = new Uint8Array(3000).map((_, i) => (i * 7) % 256);
  const p = makePayload(bytes);
  const res = await instance.archive!(p, makeRequest(p), call);
  const sha = sha256(bytes);
  const expected = join(archive_dir, sha[0], sha[1], sha[2], sha[3], sha[4], sha);
  deepEqual(res, { results: { path: expected } });
  deepEqual(await Deno.readFile(expected), bytes);

  // Archiving the same content again leaves the existing file alone.
  const mtime = (await Deno.stat(expected)).mtime;
  const again = await instance.archive!(p, makeRequest(p), call);
  deepEqual(again, res);
  deepEqual((await Deno.stat(expected)).mtime, mtime);

  const want = {
    content: bytes,
    payload_meta: { extra_data: { filename: sha, archive_path: expected } },
  };
  deepEqual(await instance.get!({ path: expected }, call), want);
  deepEqual(await instance.get!(sha, call), want);
  deepEqual(await instance.get!(sha.toUpperCase(), call), want);
  deepEqual(await instance.get!(expected, call), want);
  deepEqual(await instance.get!({ sha256: sha }, call), want);
  // No temp files were left behind next to the archived file.
  const left = [];
  for await (const e of Deno.readDir(join(expected, ".."))) left.push(e.name);
  deepEqual(left, [sha]);
});

Deno.test("filedir archiver: use_sha=false stores by payload_id", async () => {
  const dir = await tempDir();
  const { instance, call } = await instantiate(filedir, { archive_dir: dir, use_sha: false });
  const p = makePayload("hello");
  const res = await instance.archive!(p, makeRequest(p), call);
  const expected = join(dir, p.results.payload_id);
  deepEqual(res, { results: { path: expected } });
  equal(await Deno.readTextFile(expected), "hello");
  const got = await instance.get!(p.results.payload_id, call);
  equal(new TextDecoder().decode(got!.content), "hello");
});

Deno.test("filedir archiver: clear errors for unknown and malformed references", async () => {
  const dir = await tempDir();
  const { instance, call } = await instantiate(filedir, { archive_dir: dir });
  const unknown = "ab".repeat(32);
  await rejects(async () => await instance.get!(unknown, call), (e: Error) => {
    ok(e.message.includes(unknown), e.message);
    ok(e.message.includes(join(dir, "a", "b", "a", "b", "a", unknown)), e.message);
    return true;
  });
  await rejects(async () => await instance.get!("abc123", call), /not a sha256/);
  await rejects(
    async () => await instance.get!({ sha256: "../../../etc/passwd" }, call),
    /not 64 hex characters/,
  );
  await rejects(async () => await instance.get!(42, call), /give a sha256, a path/);
  await rejects(
    async () => await instance.get!({ path: join(dir, "missing") }, call),
    /no archived payload .*missing/,
  );
});
