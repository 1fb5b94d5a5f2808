import { deepEqual, equal, rejects } from "node:assert/strict";
import hash from "../../plugins/hash.ts";
import { instantiate, makePayload, makeRequest, sh, tempDir } from "../helpers.ts";

Deno.test("hash: stoQ's test vectors for 'The quick brown fox', keys in fixed order", async () => {
  const { instance, call } = await instantiate(hash);
  const p = makePayload("The quick brown fox");
  const res = await instance.scan!(p, makeRequest(p), call);
  deepEqual(res, {
    results: {
      md5: "a2004f37730b9445670a738fa0fc9ee5",
      sha1: "c519c1a06cdbeb2bc499e22137fb48683858b345",
      sha256: "5cac4f980fedc3d3f1f99b4be3472c9b30d56523e632d151237ec9309048bda9",
      sha512: "015e6d23e760f612cca616c54f110cb12dd54213f1e046c7607081372402eff4" +
        "936b379296ed549236020afb37bd3e728a044a4243754f095498c98bc24f77e0",
    },
  });
  deepEqual(Object.keys((res as { results: object }).results), ["md5", "sha1", "sha256", "sha512"]);
});

Deno.test("hash: agrees with md5sum, sha1sum, sha256sum and sha512sum on a 3 MB random file", async () => {
  const dir = await tempDir();
  const file = `${dir}/random.bin`;
  await sh("dd", ["if=/dev/urandom", `of=${file}`, "bs=1M", "count=3", "status=none"]);
  const content = await Deno.readFile(file);
  equal(content.length, 3 * 1024 * 1024);
  const expected: Record<string, string> = {};
  for (const alg of ["md5", "sha1", "sha256", "sha512"]) {
    expected[alg] = (await sh(`${alg}sum`, [file])).split(" ")[0];
  }
  const { instance, call } = await instantiate(hash);
  const p = makePayload(content);
  deepEqual(await instance.scan!(p, makeRequest(p), call), { results: expected });
  await Deno.remove(dir, { recursive: true });
});

Deno.test("hash: hashes only the content view, not the whole underlying buffer", async () => {
  const { instance, call } = await instantiate(hash, { algorithms: ["md5"] });
  const whole = new TextEncoder().encode("XXThe quick brown foxYY");
  const p = makePayload(whole.subarray(2, whole.length - 2));
  deepEqual(await instance.scan!(p, makeRequest(p), call), {
    results: { md5: "a2004f37730b9445670a738fa0fc9ee5" },
  });
});

Deno.test("hash: a subset of algorithms comes back in canonical order", async () => {
  const { instance, call } = await instantiate(hash, { algorithms: ["sha1", "md5"] });
  const p = makePayload("The quick brown fox");
  const res = await instance.scan!(p, makeRequest(p), call) as { results: object };
  deepEqual(Object.keys(res.results), ["md5", "sha1"]);
});

Deno.test("hash: sha256 is taken from the engine's payload.sha256, not recomputed", async () => {
  const { instance, call } = await instantiate(hash, { algorithms: ["sha256"] });
  const p = { ...makePayload("The quick brown fox"), sha256: "precomputed-by-engine" };
  deepEqual(await instance.scan!(p, makeRequest(p), call), {
    results: { sha256: "precomputed-by-engine" },
  });
});

Deno.test("hash: unknown or empty algorithm lists are rejected", async () => {
  await rejects(instantiate(hash, { algorithms: ["crc32"] }), /algorithms/);
  await rejects(instantiate(hash, { algorithms: [] }), /algorithms/);
  await rejects(instantiate(hash, { algorithms: "md5" }), /algorithms/);
});
