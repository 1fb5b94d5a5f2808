import { deepEqual, equal, notEqual, rejects } from "node:assert/strict";
import xordecode from "../../plugins/xordecode.ts";
import type { Payload, WorkerResponse } from "../../core/engine/plugin.ts";
import { instantiate, makePayload, makeRequest, sh, sha256 } from "../helpers.ts";

const ORIGINAL = "/bin/true";

/** The reference encoder: a plain rolling XOR written independently of the plugin. */
function xorEncode(data: Uint8Array, key: number[]): Uint8Array {
  return data.map((b, i) => b ^ key[i % key.length]);
}

async function encodedPayload(key: number[]): Promise<{ payload: Payload; want: string }> {
  const original = await Deno.readFile(ORIGINAL);
  const encoded = xorEncode(original, key);
  const want = (await sh("sha256sum", [ORIGINAL])).split(" ")[0];
  notEqual(sha256(encoded), want, "fixture must actually be encoded");
  return { payload: makePayload(encoded), want };
}

async function scan(p: Payload, options: Record<string, unknown> = {}): Promise<WorkerResponse> {
  const { instance, call } = await instantiate(xordecode, options);
  return (await instance.scan!(p, makeRequest(p), call)) as WorkerResponse;
}

function assertDecoded(res: WorkerResponse, key: number[], want: string): void {
  deepEqual(res.results, { xorkey: key });
  equal(res.extracted?.length, 1);
  equal(sha256(res.extracted![0].content as Uint8Array), want);
  deepEqual(res.extracted![0].payload_meta, { extra_data: { xorkey: key } });
}

Deno.test("xordecode: single-byte key from the option (int and hex string)", async () => {
  const { payload, want } = await encodedPayload([0x5a]);
  assertDecoded(await scan(payload, { key: 0x5a }), [0x5a], want);
  assertDecoded(await scan(payload, { key: "0x5a" }), [0x5a], want);
  assertDecoded(await scan(payload, { key: "5A" }), [0x5a], want);
});

Deno.test("xordecode: 3-byte rolling key from the option (list and hex string)", async () => {
  const key = [0x41, 0xfe, 0x07];
  const { payload, want } = await encodedPayload(key);
  assertDecoded(await scan(payload, { key }), key, want);
  assertDecoded(await scan(payload, { key: "41fe07" }), key, want);
  assertDecoded(await scan(payload, { key: "0x41FE07" }), key, want);
});

Deno.test("xordecode: key found in nested dispatch meta (yara dispatcher shape)", async () => {
  const key = [0x41, 0xfe, 0x07];
  const { payload, want } = await encodedPayload(key);
  payload.dispatch_meta = {
    other: { rule: "x", matches: [{ note: "no key here" }] },
    yara: { xordecode: { rule: "xor_pe", meta: { plugin: "xordecode", xorkey: key } } },
  };
  assertDecoded(await scan(payload), key, want);
  // stoQ's yara rules write the key as a comma-separated string in rule meta.
  payload.dispatch_meta = { yara: { xor_pe: { meta: { xorkey: "65, 254, 7" } } } };
  assertDecoded(await scan(payload), key, want);
  payload.dispatch_meta = { yara: { xor_pe: { xorkey: "41fe07" } } };
  assertDecoded(await scan(payload), key, want);
});

Deno.test("xordecode: single-byte key as an int in dispatch meta; the option wins over meta", async () => {
  const { payload, want } = await encodedPayload([0x5a]);
  payload.dispatch_meta = { yara: { xor_pe: { xorkey: 0x5a } } };
  assertDecoded(await scan(payload), [0x5a], want);
  payload.dispatch_meta = { yara: { xor_pe: { xorkey: 0x33 } } };
  assertDecoded(await scan(payload, { key: 0x5a }), [0x5a], want);
});

Deno.test("xordecode: no key anywhere is an error value, not a throw", async () => {
  const p = makePayload("secret");
  p.dispatch_meta = { yara: { rule: { meta: { plugin: "xordecode" } } } };
  deepEqual(await scan(p), {
    errors: ["xordecode: no key: set option key or dispatch with meta xorkey"],
  });
});

Deno.test("xordecode: a malformed key in dispatch meta is an error value naming its path", async () => {
  const p = makePayload("secret");
  p.dispatch_meta = { yara: { rule: { meta: { xorkey: 300 } } } };
  deepEqual(await scan(p), {
    errors: [
      "xordecode: bad xorkey 300 in dispatch meta at yara.rule.meta.xorkey: " +
      "an int key must be 0–255",
    ],
  });
});

Deno.test("xordecode: bad key options are rejected by the schema", async () => {
  for (const key of [300, -1, 1.5, "zz", "0x4", "", [], [256], ["a"]]) {
    await rejects(instantiate(xordecode, { key }), /key/, `key ${JSON.stringify(key)}`);
  }
});
