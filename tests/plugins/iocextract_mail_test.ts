/**
 * iocextract on real mail: runs of hex digits inside base64 bodies and in message ids are not
 * digests, while the digests a message states are still found. The messages are raw MIME (as
 * a user's `-a iocextract` would scan them): every hex run of the base64 attachments is there.
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import iocextract from "../../plugins/iocextract.ts";
import { instantiate, makePayload, makeRequest, sh } from "../helpers.ts";
import { emailFiles } from "../fixtures/email_files.ts";
import { realFiles } from "../realfiles.ts";

const plugin = instantiate(iocextract);

async function iocs(content: Uint8Array | string): Promise<Record<string, string[]>> {
  const { instance, call } = await plugin;
  const p = makePayload(content);
  const r = await instance.scan!(p, makeRequest(p), call);
  return (r as { results: Record<string, string[]> }).results;
}

const HASHES = ["md5", "sha1", "sha256", "sha512"];
const hashesOf = (r: Record<string, string[]>) =>
  Object.fromEntries(Object.entries(r).filter(([k]) => HASHES.includes(k)));

Deno.test("iocextract on raw mail: no digests out of base64 attachments or Message-IDs", async () => {
  const [files, real] = await Promise.all([emailFiles(), realFiles()]);
  for (const path of [files["phish.eml"], files["tnef.eml"], real["mail.eml"]]) {
    const text = await Deno.readTextFile(path);
    // The raw messages do hold hex runs of digest length (base64 of executables' zero runs,
    // the phishing message's Message-ID): what used to be reported.
    ok(
      /(?<![0-9a-fA-F])[0-9a-fA-F]{32}(?![0-9a-fA-F])|(?<![0-9a-fA-F])[0-9a-fA-F]{40}(?![0-9a-fA-F])/
        .test(text),
      path,
    );
    deepEqual(hashesOf(await iocs(text)), {}, path);
  }
});

Deno.test("iocextract on raw mail: the digests a message lists are found, and only they", async () => {
  const [files, real] = await Promise.all([emailFiles(), realFiles()]);
  const raw = await Deno.readFile(files["alert.eml"]);
  const exe = real["hello.exe"];
  const md5 = (await sh("md5sum", [exe])).split(" ")[0];
  const sha256 = (await sh("sha256sum", [exe])).split(" ")[0];
  deepEqual(hashesOf(await iocs(raw)), { md5: [md5], sha256: [sha256] });
  // The Message-ID is an MD5 in form; it is reported as the address it is, not as a digest.
  const r = await iocs(raw);
  ok(r.email.some((e) => /^[0-9a-f]{32}@mail\.example\.org$/.test(e)), r.email.join());
});

Deno.test("iocextract: what a digest looks like, and what only looks like one", async () => {
  const d = "9e107d9d372bb6826bd81d3542a419d6"; // MD5 of "The quick brown fox…"
  equal(d.length, 32);
  const cases: [string, string[]][] = [
    [`md5 ${d}`, [d]],
    [`MD5=${d.toUpperCase()}`, [d]],
    [`file_${d}.bin x${d}`, [d]], // glued to a one-case token: still a digest
    [`<${d}@mail.example.org>`, []], // a message id
    [`${d}.part1.abc@host.example`, []], // local part of an address
    [`QmFzZTY0${d}ZmFrZQ==`, []], // glued to a mixed-case base64 token
    ["AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB", []], // base64 of zero bytes
    ["0000000000000000000000000000000a", []], // two digits: padding, not a digest
    ["9E107d9d372bb6826bd81d3542a419D6", []], // mixed case
    ["12345678901234567890123456789012", []], // no letter
  ];
  for (const [text, want] of cases) {
    deepEqual((await iocs(text)).md5 ?? [], want, text);
  }
});

Deno.test("iocextract: a URL escape before a host name is not part of the domain", async () => {
  deepEqual(
    (await iocs("next=https%3A%2F%2Fwww.paypal.com%2Fsignin")).domain,
    ["www.paypal.com"],
  );
});
