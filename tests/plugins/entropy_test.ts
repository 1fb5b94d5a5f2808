import { deepEqual as assertEquals } from "node:assert/strict";
import { equal } from "node:assert/strict";
import entropy from "../../plugins/entropy.ts";
import { shannon } from "../../plugins/lib/text/entropy.ts";
import { instantiate, makePayload, makeRequest } from "../helpers.ts";

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

Deno.test("entropy: unaligned views and odd lengths count every byte once", async () => {
  const { instance, call } = await instantiate(entropy);
  const buf = new Uint8Array(1027).map((_, i) => i % 256);
  // 1024 bytes, one of each value four times, starting at an odd offset inside the buffer.
  const p = makePayload(buf.subarray(1, 1025).map((_, i) => i % 256));
  assertEquals(await instance.scan!(p, makeRequest(p), call), { results: { entropy: 8 } });
  for (const [start, end] of [[1, 6], [3, 1026], [2, 3]]) {
    const view = buf.subarray(start, end);
    const counts = new Map<number, number>();
    for (const b of view) counts.set(b, (counts.get(b) ?? 0) + 1);
    let h = 0;
    for (const k of counts.values()) h -= (k / view.length) * Math.log2(k / view.length);
    const q = makePayload(view);
    const r = await instance.scan!(q, makeRequest(q), call) as { results: { entropy: number } };
    assertEquals(Math.abs(r.results.entropy - h) < 1e-12, true, `${start}..${end}`);
  }
});

Deno.test("entropy: a range of a buffer gives what a copy of the range gives", () => {
  const buf = new Uint8Array(5000).map((_, i) => (i * 2654435761) >>> 27);
  // Short and long paths, aligned and unaligned starts, and the empty range.
  for (const [start, end] of [[0, 0], [7, 7], [3, 40], [0, 511], [1, 513], [6, 4999], [0, 5000]]) {
    equal(shannon(buf, start, end), shannon(buf.slice(start, end)), `${start}..${end}`);
  }
});
