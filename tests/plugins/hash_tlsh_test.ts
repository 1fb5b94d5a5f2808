import { deepEqual, equal, match, rejects, throws } from "node:assert/strict";
import hashTlsh, { parseTlsh, tlshBody } from "../../plugins/hash_tlsh.ts";
import type { ExecOptions } from "../../core/engine/plugin.ts";
import { instantiate, makePayload, makeRequest, sh, tempDir } from "../helpers.ts";

/** What Debian's `tlsh -f FILE` prints: the hash, or "" when it prints none. */
async function tlshOf(file: string): Promise<string> {
  return (await sh("tlsh", ["-f", file])).split("\t")[0].trim();
}

/** `tlsh -c A -d B` (or `-c FILE -f FILE`): the distance the tool reports. */
async function toolDistance(args: string[]): Promise<number> {
  return Number((await sh("tlsh", args)).trim().split("\t")[0]);
}

/** The plugin's result for `content`. */
async function scan(
  content: Uint8Array | string,
  options: Record<string, unknown> = {},
): Promise<Record<string, unknown>> {
  const { instance, call } = await instantiate(hashTlsh, options);
  const p = makePayload(content);
  const res = await instance.scan!(p, makeRequest(p), call) as { results: Record<string, unknown> };
  return res.results;
}

/** Writes `n` random bytes to a new file in `dir` and returns its path. */
async function randomFile(dir: string, n: number, name = `random_${n}`): Promise<string> {
  const file = `${dir}/${name}`;
  await Deno.writeFile(file, new Uint8Array());
  // head reads /dev/urandom itself, so the bytes never pass through the code under test.
  await sh("sh", ["-c", `head -c ${n} /dev/urandom > "$1"`, "sh", file]);
  equal((await Deno.stat(file)).size, n);
  return file;
}

/** Asserts the plugin's hash of `file` equals the tool's, byte for byte, and returns it. */
async function assertSameAsTool(file: string): Promise<string> {
  const tool = await tlshOf(file);
  match(tool, /^[0-9A-F]{70}$/, `${file}: the tool printed no hash`);
  // The tool's digest in the standard form other tools and databases use: "T1" + 70 digits.
  const expected = `T1${tool}`;
  deepEqual(await scan(await Deno.readFile(file)), { tlsh: expected }, file);
  return expected;
}

Deno.test("hash_tlsh: random data from 256 bytes to 20 MB agrees with tlsh -f", async () => {
  const dir = await tempDir();
  // 256–511 bytes: hashed by tlsh-tools 3.4.4, refused by the npm port (its minimum is 512).
  for (const n of [256, 257, 300, 511, 512, 1024, 100_000, 1 << 20, 20 * (1 << 20)]) {
    await assertSameAsTool(await randomFile(dir, n));
  }
});

Deno.test("hash_tlsh: text and real binaries agree with tlsh -f, in the standard T1 form", async () => {
  const dir = await tempDir();
  const text = `${dir}/lines.txt`;
  await Deno.writeTextFile(
    text,
    Array.from({ length: 200 }, (_, i) => `line ${i}: the quick brown fox\n`).join(""),
  );
  const seen = new Set<string>();
  for (const file of [text, "/usr/bin/ls", "/usr/bin/bash", "/usr/bin/ssdeep", "/usr/bin/tlsh"]) {
    seen.add(await assertSameAsTool(file));
  }
  equal(seen.size, 5);
});

Deno.test("hash_tlsh: under 256 bytes there is no hash, and a reason saying so", async () => {
  const dir = await tempDir();
  for (const n of [0, 1, 50, 255]) {
    const file = await randomFile(dir, n);
    // The tool agrees: it prints no hash for these.
    equal(await tlshOf(file), "");
    deepEqual(await scan(await Deno.readFile(file)), {
      tlsh: null,
      reason: `too short for TLSH: tlsh needs at least 256 bytes, the payload has ${n}`,
    });
  }
});

Deno.test("hash_tlsh: too uniform inputs have no hash, and a reason saying so", async () => {
  const reason = /^too uniform for TLSH: fewer than half of its 128 buckets/;
  const dir = await tempDir();
  const zeros = new Uint8Array(1000);
  const repeated = new TextEncoder().encode("abcdefgh\n".repeat(30_000));
  for (const [name, content] of [["zeros", zeros], ["repeated", repeated]] as const) {
    await Deno.writeFile(`${dir}/${name}`, content);
    equal(await tlshOf(`${dir}/${name}`), "", name);
    const res = await scan(content);
    equal(res.tlsh, null);
    match(String(res.reason), reason);
  }
});

Deno.test("hash_tlsh: known hashes within the threshold match, with tlsh -c's distance", async () => {
  const dir = await tempDir();
  // A patched copy of ls: 21 bytes overwritten and 3000 random bytes appended.
  const ls = `${dir}/ls`, patched = `${dir}/ls_patched`;
  await Deno.copyFile("/usr/bin/ls", ls);
  const bytes = await Deno.readFile(ls);
  bytes.set(new TextEncoder().encode("PATCHEDPATCHEDPATCHED"), 5000);
  const tail = await Deno.readFile(await randomFile(dir, 3000));
  const patchedBytes = new Uint8Array([...bytes, ...tail]);
  await Deno.writeFile(patched, patchedBytes);
  const bash = await tlshOf("/usr/bin/bash");
  const lsHash = await tlshOf(ls);
  const known = [{ name: "bash", tlsh: bash }, { name: "ls", tlsh: lsHash }];

  const near = await toolDistance(["-c", ls, "-f", patched]);
  const far = await toolDistance(["-c", "/usr/bin/bash", "-f", patched]);
  equal(near > 0 && near <= 30 && far > 30, true, `near ${near}, far ${far}`);
  const patchedHash = await tlshOf(patched);
  deepEqual(await scan(patchedBytes, { known }), {
    tlsh: `T1${patchedHash}`,
    matches: [{ name: "ls", tlsh: lsHash, distance: near }],
  });
  // A threshold below the distance drops the match; the list stays, empty.
  deepEqual(await scan(patchedBytes, { known, threshold: near - 1 }), {
    tlsh: `T1${patchedHash}`,
    matches: [],
  });
  // Everything matches under a large threshold, closest first; TLSH 4.x's "T1" form compares
  // as the same hash.
  const res = await scan(patchedBytes, {
    known: [{ name: "bash-t1", tlsh: `T1${bash}` }, ...known],
    threshold: 9999,
  });
  deepEqual(res.matches, [
    { name: "ls", tlsh: lsHash, distance: near },
    { name: "bash", tlsh: bash, distance: far },
    { name: "bash-t1", tlsh: `T1${bash}`, distance: far },
  ]);
  // No hash, no matching.
  deepEqual(await scan("short", { known }), {
    tlsh: null,
    reason: "too short for TLSH: tlsh needs at least 256 bytes, the payload has 5",
  });
});

Deno.test("hash_tlsh: distances agree with tlsh -c A -d B on many pairs of hashes", async () => {
  const dir = await tempDir();
  const hashes: string[] = [];
  for (const n of [300, 600, 5000, 70_000]) hashes.push(await tlshOf(await randomFile(dir, n)));
  for (const f of ["/usr/bin/ls", "/usr/bin/bash", "/usr/bin/ssdeep", "/usr/bin/tlsh"]) {
    hashes.push(await tlshOf(f));
  }
  // Hashes one to four hex digits away from a real one: small distances, every field touched.
  const base = hashes[4];
  for (let i = 0; i < 70; i += 3) {
    const flip = (h: string, at: number) =>
      h.slice(0, at) + ((parseInt(h[at], 16) + 5) % 16).toString(16).toUpperCase() +
      h.slice(at + 1);
    hashes.push(flip(i % 2 ? base : flip(base, (i * 7) % 70), i));
  }
  const target = await Deno.readFile("/usr/bin/ls");
  const known = hashes.map((tlsh, i) => ({ name: `h${String(i).padStart(2, "0")}`, tlsh }));
  const res = await scan(target, { known, threshold: 100_000 });
  const got = res.matches as { name: string; distance: number }[];
  equal(got.length, hashes.length);
  const lsHash = tlshBody(String(res.tlsh));
  for (const m of got) {
    const expected = await toolDistance(["-c", lsHash, "-d", known[Number(m.name.slice(1))].tlsh]);
    equal(m.distance, expected, `${m.name}`);
  }
  equal(got.some((m) => m.distance > 0 && m.distance < 30), true);
});

Deno.test("hash_tlsh: malformed known hashes and thresholds are rejected", async () => {
  await rejects(instantiate(hashTlsh, { known: [{ name: "x", tlsh: "ABC" }] }), /70 hex digits/);
  await rejects(instantiate(hashTlsh, { known: [{ name: "", tlsh: "A".repeat(70) }] }), /name/);
  await rejects(instantiate(hashTlsh, { threshold: -1 }), /threshold/);
  await rejects(instantiate(hashTlsh, { known: "A".repeat(70) }), /known/);
});

Deno.test("hash_tlsh: a missing tlsh is one error naming the Debian package", async () => {
  const { instance, call } = await instantiate(hashTlsh);
  const p = makePayload(new Uint8Array(1000).map((_, i) => (i * 7919) % 251));
  // The tool is looked up on the PATH given to the child: an empty folder stands for a machine
  // without it. The process-wide PATH stays as it is (test files run in parallel in one process).
  const empty = await tempDir();
  const noTool = {
    ...call,
    exec: (t: string, a: string[], o?: ExecOptions) =>
      call.exec(t, a, { ...o, env: { PATH: empty } }),
  };
  await rejects(
    Promise.resolve(instance.scan!(p, makeRequest(p), noTool)),
    /tlsh is not installed: install the Debian package tlsh-tools/,
  );
});

Deno.test("hash_tlsh: tlsh output parsing: hash, both refusals, anything else is a failure", () => {
  const h = "8CE34A07B69314FDC692857095AB96627E3078644721BF3B7A8CA7342F16F306F0AB71";
  deepEqual(parseTlsh(`${h}\t/tmp/x/payload\n`, "", 9), { tlsh: `T1${h}` });
  deepEqual(parseTlsh(`T1${h}\t/tmp/x/payload\n`, "", 9), { tlsh: `T1${h}` });
  match(String(parseTlsh("", "file /tmp/x/payload: file too small\n", 9).tlsh), /^null$/);
  match(
    (parseTlsh("", "file /tmp/x/payload: cannot hash\n", 900) as { reason: string }).reason,
    /too uniform/,
  );
  // tlsh exits 0 when it cannot read the file; the message is passed on.
  throws(
    () => parseTlsh("", "error file /tmp/x/payload: cannot read file\n", 9),
    /tlsh printed no hash for the payload: error file \/tmp\/x\/payload: cannot read file/,
  );
  equal(tlshBody(`T1${h}`), h);
  equal(tlshBody(h), h);
});
