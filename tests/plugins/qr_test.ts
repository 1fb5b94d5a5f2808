/**
 * qr (zbarimg) on images qrencode made from known text, converted by ImageMagick: PNG, JPEG,
 * an inverted PNG and a GIF with two codes. The decoded data must equal what was encoded.
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import qr, { urlsIn } from "../../plugins/qr.ts";
import { instantiate, makeCall, makePayload, makeRequest, sh } from "../helpers.ts";
import { QR_SECOND, QR_URL, textFiles } from "../fixtures/text_files.ts";
import { realFiles } from "../realfiles.ts";

// deno-lint-ignore no-explicit-any
type Any = any;

async function scan(
  content: Uint8Array,
  options: Record<string, unknown> = {},
  filename = "x.png",
) {
  const { instance, call } = await instantiate(qr, options);
  const p = makePayload(content, { extra_data: { filename } });
  return (await instance.scan!(p, makeRequest(p), call)) as Any;
}

Deno.test("qr: PNG, JPEG and inverted PNG decode to the URL qrencode encoded; quishing finding and text child", async () => {
  const files = await textFiles();
  for (const name of ["quish.png", "quish.jpg", "quish_inverted.png"] as const) {
    const out = await scan(await Deno.readFile(files[name]), {}, name);
    const r = out.results;
    deepEqual(r.codes.map((c: Any) => [c.type, c.data, c.frame]), [["QR-Code", QR_URL, 0]], name);
    deepEqual(r.urls, [QR_URL]);
    deepEqual(r.findings.map((f: Any) => [f.id, f.severity, f.detail]), [[
      "qr_url",
      "medium",
      QR_URL,
    ]]);
    deepEqual(r.findings[0].mitre, ["T1566.002"]);
    equal(out.extracted.length, 1);
    equal(out.extracted[0].content, `${QR_URL}\n`);
    deepEqual(out.extracted[0].payload_meta.extra_data, {
      filename: `${name}.qr.txt`,
      source: "qr",
      symbols: 1,
    });
  }
  // Without -Stest-inverted the inverted image holds nothing for zbar.
  const plain = await scan(await Deno.readFile(files["quish_inverted.png"]), { inverted: false });
  deepEqual(plain.results.codes, []);
});

Deno.test("qr: a GIF with two codes gives both, as zbarimg run by hand does", async () => {
  const files = await textFiles();
  const out = await scan(await Deno.readFile(files["two_codes.gif"]));
  const mine = out.results.codes.map((c: Any) => c.data).sort();
  deepEqual(mine, [QR_URL, QR_SECOND].sort());
  const byHand = (await sh("zbarimg", ["--nodbus", "-q", "--raw", files["two_codes.gif"]])).trim()
    .split("\n").sort();
  deepEqual(mine, byHand);
  equal(out.results.count, 2);
  deepEqual(out.results.urls, [QR_URL]);
  deepEqual(out.extracted[0].content.split("\n").filter(Boolean).sort(), mine);
});

Deno.test("qr: an image without a code, tiny images, non-images, a missing tool", async () => {
  const real = await realFiles();
  const none = await scan(await Deno.readFile(real["image.png"]));
  deepEqual(none.results, { codes: [], count: 0, urls: [], findings: [] });
  equal(none.extracted, undefined);
  // A 1x1 PNG is skipped without running zbarimg.
  const tiny = Uint8Array.from(
    atob(
      "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
    ),
    (c) => c.charCodeAt(0),
  );
  ok((await scan(tiny)).results.skipped.includes("too small"));
  deepEqual((await scan(new TextEncoder().encode("not an image"))).errors, [
    "qr: not a PNG, JPEG, GIF, BMP, TIFF or WebP image",
  ]);
  const files = await textFiles();
  const png = await Deno.readFile(files["quish.png"]);
  const big = await scan(png, { max_pixels: 100 });
  ok(big.errors[0].includes("larger than max_pixels"), big.errors[0]);
  // A damaged PNG: zbarimg's own message, one line.
  const bad = new Uint8Array([
    ...png.subarray(0, 33),
    ...new TextEncoder().encode("garbagegarbage"),
  ]);
  const badOut = await scan(bad);
  equal(badOut.errors.length, 1);
  ok(
    /^qr: zbarimg could not read the image \(exit 1\): ERROR: insufficient image data in file @ /
      .test(badOut.errors[0]),
    badOut.errors[0],
  );
  // The tool missing: the engine's one clear line, once.
  const { instance } = await instantiate(qr);
  const call = makeCall({ zbarimg: "zbar-tools" });
  const missing = {
    ...call,
    exec: () =>
      Promise.reject(
        new Error(
          "zbarimg is not installed: install the Debian package zbar-tools (apt-get install zbar-tools)",
        ),
      ),
  };
  const p = makePayload(png);
  const r = (await instance.scan!(p, makeRequest(p), missing)) as Any;
  deepEqual(r.errors, [
    "qr: zbarimg is not installed: install the Debian package zbar-tools (apt-get install zbar-tools)",
  ]);
});

Deno.test("qr: URLs in decoded data", () => {
  deepEqual(urlsIn("see https://a.example/x and HTTP://B.example"), [
    "https://a.example/x",
    "HTTP://B.example",
  ]);
  deepEqual(urlsIn("www.example.com/path"), ["http://www.example.com/path"]);
  deepEqual(urlsIn("WIFI:S:x;;"), []);
});
