import { deepEqual as assertEquals } from "node:assert/strict";
import entropy from "../plugins/entropy.ts";
import { instantiate, makePayload, makeRequest } from "./helpers.ts";

Deno.test("entropy: uniform bytes give 8 bits, one repeated byte gives 0", async () => {
  const { instance, call } = await instantiate(entropy);
  const all = new Uint8Array(256 * 4).map((_, i) => i % 256);
  const p = makePayload(all);
  assertEquals(await instance.scan!(p, makeRequest(p), call), { results: { entropy: 8 } });
  const q = makePayload(new Uint8Array(100).fill(65));
  assertEquals(await instance.scan!(q, makeRequest(q), call), { results: { entropy: 0 } });
});

Deno.test("entropy: two equally frequent symbols give exactly 1 bit", async () => {
  const { instance, call } = await instantiate(entropy);
  const p = makePayload("abababab");
  assertEquals(await instance.scan!(p, makeRequest(p), call), { results: { entropy: 1 } });
});
