import { deepEqual, equal, match, notEqual, rejects, throws } from "node:assert/strict";
import hashSsdeep, { parseSsdeep } from "../../plugins/hash_ssdeep.ts";
import type { ExecOptions } from "../../core/engine/plugin.ts";
import { instantiate, makePayload, makeRequest, sh, tempDir } from "../helpers.ts";

/** The hash Debian's ssdeep prints for `file` (header line, then `HASH,"name"`). */
async function ssdeepOf(file: string): Promise<string> {
  const line = (await sh("ssdeep", ["-b", file])).split("\n")[1];
  return line.slice(0, line.lastIndexOf(","));
}

/** The plugin's hash of `content`. */
async function pluginHash(content: Uint8Array | string): Promise<unknown> {
  const { instance, call } = await instantiate(hashSsdeep);
  const p = makePayload(content);
  return await instance.scan!(p, makeRequest(p), call);
}

/** Writes `n` random bytes to a new file in `dir` and returns its path. */
async function randomFile(dir: string, n: number): Promise<string> {
  const file = `${dir}/random_${n}`;
  await Deno.writeFile(file, new Uint8Array());
  // head reads /dev/urandom itself, so the bytes never pass through the code under test.
  await sh("sh", ["-c", `head -c ${n} /dev/urandom > "$1"`, "sh", file]);
  equal((await Deno.stat(file)).size, n);
  return file;
}

/** Asserts the plugin's hash of `file` equals ssdeep's, byte for byte. */
async function assertSameAsTool(file: string): Promise<string> {
  const expected = await ssdeepOf(file);
  deepEqual(await pluginHash(await Deno.readFile(file)), { results: { ssdeep: expected } }, file);
  return expected;
}

Deno.test("hash_ssdeep: empty, one byte, zeros and text give the hashes ssdeep 2.14 prints", async () => {
  const dir = await tempDir();
  const cases: [string, Uint8Array | string][] = [
    ["empty", ""],
    ["one", "a"],
    ["fox", "The quick brown fox"],
    // Ends with a rolling sum of 0: ssdeep 2.14 then adds no closing character ("3::").
    ["zeros", new Uint8Array(1000)],
    ["lines", Array.from({ length: 200 }, (_, i) => `line ${i}: lazy dog\n`).join("")],
  ];
  for (const [name, content] of cases) {
    await Deno.writeFile(`${dir}/${name}`, makePayload(content).content);
    await assertSameAsTool(`${dir}/${name}`);
  }
  // Fixed points, so a change in the tool itself would show too.
  deepEqual(await pluginHash(""), { results: { ssdeep: "3::" } });
  deepEqual(await pluginHash("a"), { results: { ssdeep: "3:E:E" } });
  deepEqual(await pluginHash(new Uint8Array(1000)), { results: { ssdeep: "3::" } });
});

Deno.test("hash_ssdeep: random files at ssdeep's block-size boundaries (64 × block size ± 1)", async () => {
  const dir = await tempDir();
  for (const bs of [3, 6, 12, 96, 1536, 24576]) {
    // ssdeep starts at the smallest block size whose 64 pieces cover the input, then halves it
    // while the first signature is shorter than 32: off-by-one sizes take different paths.
    for (const d of [-1, 0, 1]) await assertSameAsTool(await randomFile(dir, bs * 64 + d));
  }
});

Deno.test("hash_ssdeep: random data from 1 KB to 20 MB agrees with ssdeep", async () => {
  const dir = await tempDir();
  for (const n of [1024, 4096, 100_000, 1 << 20, 20 * (1 << 20)]) {
    await assertSameAsTool(await randomFile(dir, n));
  }
});

Deno.test("hash_ssdeep: real binaries agree with ssdeep", async () => {
  const seen = new Set<string>();
  for (const file of ["/usr/bin/ls", "/usr/bin/bash", "/usr/bin/ssdeep", "/usr/bin/tlsh"]) {
    seen.add(await assertSameAsTool(file));
  }
  equal(seen.size, 4);
});

Deno.test("hash_ssdeep: hashes only the content view, not the whole underlying buffer", async () => {
  const whole = new TextEncoder().encode("XXThe quick brown foxYY");
  const view = await pluginHash(whole.subarray(2, whole.length - 2));
  deepEqual(view, await pluginHash("The quick brown fox"));
  notEqual(JSON.stringify(view), JSON.stringify(await pluginHash(whole)));
});

Deno.test("hash_ssdeep: a missing ssdeep is one error naming the Debian package", async () => {
  const { instance, call } = await instantiate(hashSsdeep);
  const p = makePayload("The quick brown fox");
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
    /ssdeep is not installed: install the Debian package ssdeep/,
  );
});

Deno.test("hash_ssdeep: ssdeep output without a hash line is a failure with its message", () => {
  match(parseSsdeep('ssdeep,1.1--blocksize:hash:hash,filename\n3:E:E,"payload"\n'), /^3:E:E$/);
  // ssdeep exits 0 when it cannot read the file; only the missing hash line tells.
  throws(
    () => parseSsdeep("", "/tmp/x/payload: Permission denied\n"),
    /ssdeep printed no hash for the payload: \/tmp\/x\/payload: Permission denied/,
  );
  throws(() => parseSsdeep("ssdeep,1.1--blocksize:hash:hash,filename\n"), /no hash/);
});
