import { deepEqual, equal, match, ok } from "node:assert/strict";
import b64decode from "../../plugins/b64decode.ts";
import type { WorkerResponse } from "../../core/engine/plugin.ts";
import { instantiate, makePayload, makeRequest, sh, sha256, tempDir } from "../helpers.ts";

async function scan(content: Uint8Array | string, filename?: string): Promise<WorkerResponse> {
  const { instance, call } = await instantiate(b64decode);
  const p = makePayload(content, filename ? { extra_data: { filename } } : {});
  return (await instance.scan!(p, makeRequest(p), call)) as WorkerResponse;
}

/** A binary fixture: /bin/true plus one or two bytes so every padding length gets exercised. */
async function binaryFixture(dir: string, extra: number): Promise<string> {
  const file = `${dir}/bin${extra}`;
  const bytes = await Deno.readFile("/bin/true");
  await Deno.writeFile(file, new Uint8Array([...bytes, ...new Uint8Array(extra).fill(0xfe)]));
  return file;
}

Deno.test("b64decode: decodes the real base64 tool's 76-column output of a binary file", async () => {
  const dir = await tempDir();
  for (const extra of [0, 1, 2]) {
    const file = await binaryFixture(dir, extra);
    const encoded = await sh("base64", [file]);
    ok(encoded.split("\n")[0].length === 76, "fixture should be line-wrapped at 76 columns");
    const original = await Deno.readFile(file);
    const res = await scan(encoded, "true.b64");
    deepEqual(res.results, { size: original.length });
    equal(res.extracted?.length, 1);
    const child = res.extracted![0];
    equal(sha256(child.content as Uint8Array), sha256(original));
    deepEqual(child.payload_meta, {
      extra_data: { encoding: "base64", filename: "true.b64.decoded" },
    });
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("b64decode: URL-safe alphabet without padding (basenc --base64url)", async () => {
  const dir = await tempDir();
  const file = await binaryFixture(dir, 1);
  const encoded = (await sh("basenc", ["--base64url", "-w", "0", file])).replace(/=+$/, "");
  ok(/[-_]/.test(encoded) && !/[+/=]/.test(encoded), "fixture should use only the URL alphabet");
  const res = await scan(encoded);
  equal(sha256(res.extracted![0].content as Uint8Array), sha256(await Deno.readFile(file)));
  deepEqual(res.extracted![0].payload_meta, { extra_data: { encoding: "base64" } });
  await Deno.remove(dir, { recursive: true });
});

Deno.test("b64decode: small known values, partial padding and surrounding whitespace", async () => {
  for (const [input, text] of [["aGk=", "hi"], ["aGk", "hi"], ["aGVsbG8=\n", "hello"]]) {
    const res = await scan(input);
    equal(new TextDecoder().decode(res.extracted![0].content as Uint8Array), text);
  }
  const res = await scan("  YQ=\r\n");
  equal(new TextDecoder().decode(res.extracted![0].content as Uint8Array), "a");
});

Deno.test("b64decode: junk is an error value naming the first offending byte offset", async () => {
  deepEqual(await scan("aGVsbG8gd29ybGQ!"), {
    errors: [
      "b64decode: not base64: byte 0x21 at offset 15: " +
      "not in the base64 alphabet (standard or URL-safe) nor whitespace",
    ],
  });
  const bin = await scan(await Deno.readFile("/bin/true"));
  equal(bin.extracted, undefined);
  match(String(bin.errors?.[0]), /^b64decode: not base64: byte 0x7f at offset 0:/);
  // Misplaced padding and a lone final character are rejected by the built-in decoder.
  for (const bad of ["aGk=aGk=", "aGVs=", "aG===", "aGVsb"]) {
    const r = await scan(bad);
    equal(r.extracted, undefined, bad);
    match(String(r.errors?.[0]), /^b64decode: not base64: /, bad);
  }
  match(String((await scan("ab+c-d==")).errors?.[0]), /mixes the standard/);
});

Deno.test("b64decode: empty or whitespace-only payload gives size 0 and no child", async () => {
  deepEqual(await scan(" \n"), { results: { size: 0 } });
});
