/**
 * qr on images qrencode made from known text, converted by ImageMagick: PNG, JPEG, an inverted
 * PNG and a GIF with two codes (decoded in-process by zxing-wasm), TIFF, WebP, a two-frame GIF and
 * a large PNG (decoded by zbarimg). The decoded data must equal what was encoded, and the types and
 * data must equal what zbarimg run by hand gives on the same file.
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import qr, {
  decodedInProcess,
  IN_PROCESS_MAX_PIXELS,
  parseZbarXml,
  urlsIn,
} from "../../plugins/qr.ts";
import type { CallContext } from "../../core/engine/plugin.ts";
import { instantiate, makeCall, makePayload, makeRequest, sh, tempDir } from "../helpers.ts";
import { QR_SECOND, QR_URL, textFiles } from "../fixtures/text_files.ts";
import { corruptedCopies } from "../fixtures/cache.ts";
import { realFiles } from "../realfiles.ts";

// deno-lint-ignore no-explicit-any
type Any = any;

/** The tools each scan() ran, so that a test sees which decoder read the image. */
let ran: string[] = [];

async function scan(
  content: Uint8Array,
  options: Record<string, unknown> = {},
  filename = "x.png",
) {
  const { instance, call } = await instantiate(qr, options);
  const counted: CallContext = {
    ...call,
    exec: (tool, args, o) => {
      ran.push(tool);
      return call.exec(tool, args, o);
    },
  };
  ran = [];
  const p = makePayload(content, { extra_data: { filename } });
  return (await instance.scan!(p, makeRequest(p), counted)) as Any;
}

/** zbarimg run by hand on a file: [type, data, frame] of each symbol, the reference. */
async function byZbarimg(path: string, inverted = true): Promise<[string, string, number][]> {
  const args = ["--nodbus", "--xml", "-q", ...(inverted ? ["-Stest-inverted"] : []), path];
  const out = await new Deno.Command("zbarimg", { args, stdout: "piped" }).output();
  const symbols = await parseZbarXml(new TextDecoder().decode(out.stdout));
  return symbols.map((c) => [c.type, c.data, c.frame]);
}

const mine = (r: Any) => r.codes.map((c: Any) => [c.type, c.data, c.frame]);

Deno.test("qr: PNG, JPEG and inverted PNG decode in-process to the URL qrencode encoded, as zbarimg reads it; quishing finding and text child", async () => {
  const files = await textFiles();
  for (const name of ["quish.png", "quish.jpg", "quish_inverted.png"] as const) {
    const out = await scan(await Deno.readFile(files[name]), {}, name);
    deepEqual(ran, [], `${name}: no tool run`);
    const r = out.results;
    deepEqual(mine(r), [["QR-Code", QR_URL, 0]], name);
    deepEqual(mine(r), await byZbarimg(files[name]), name);
    equal(r.codes[0].orientation, "UP");
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
  // Without trying the inverted image, it holds nothing, for zxing-cpp as for zbarimg.
  const plain = await scan(await Deno.readFile(files["quish_inverted.png"]), { inverted: false });
  deepEqual(plain.results.codes, []);
  deepEqual(await byZbarimg(files["quish_inverted.png"], false), []);
});

Deno.test("qr: a GIF with two codes gives both, as zbarimg run by hand does", async () => {
  const files = await textFiles();
  const out = await scan(await Deno.readFile(files["two_codes.gif"]));
  deepEqual(ran, []);
  const data = out.results.codes.map((c: Any) => c.data).sort();
  deepEqual(data, [QR_URL, QR_SECOND].sort());
  const byHand = (await sh("zbarimg", ["--nodbus", "-q", "--raw", files["two_codes.gif"]])).trim()
    .split("\n").sort();
  deepEqual(data, byHand);
  deepEqual(mine(out.results).sort(), (await byZbarimg(files["two_codes.gif"])).sort());
  equal(out.results.count, 2);
  deepEqual(out.results.urls, [QR_URL]);
  deepEqual(out.extracted[0].content.split("\n").filter(Boolean).sort(), data);
});

Deno.test("qr: TIFF, WebP, a two-frame GIF and a PNG over IN_PROCESS_MAX_PIXELS go to zbarimg, frames counted; a 1.1 Mpixel PNG stays in-process", async () => {
  const files = await textFiles();
  const dir = await tempDir();
  const second = `${dir}/second.png`;
  await sh("qrencode", ["-s", "6", "-o", second, QR_SECOND]);
  await sh("convert", [files["quish.png"], `${dir}/quish.tif`]);
  await sh("convert", [files["quish.png"], `${dir}/quish.webp`]);
  await sh("convert", [files["quish.png"], second, `${dir}/frames.gif`]);
  // 2100x2000 pixels: over the in-process cap, under max_pixels.
  // The code centred on a white canvas of `size` pixels.
  const padded = (size: string, out: string) =>
    sh("convert", [
      files["quish.png"],
      "-background",
      "white",
      "-gravity",
      "center",
      "-extent",
      size,
      out,
    ]);
  await padded("2100x2000", `${dir}/large.png`);
  const expected: Record<string, [string, string, number][]> = {
    "quish.tif": [["QR-Code", QR_URL, 0]],
    "quish.webp": [["QR-Code", QR_URL, 0]],
    "frames.gif": [["QR-Code", QR_URL, 0], ["QR-Code", QR_SECOND, 1]],
    "large.png": [["QR-Code", QR_URL, 0]],
  };
  for (const [name, want] of Object.entries(expected)) {
    const path = `${dir}/${name}`;
    const out = await scan(await Deno.readFile(path), {}, name);
    deepEqual(ran, ["zbarimg"], name);
    deepEqual(mine(out.results), want, name);
    deepEqual(mine(out.results), await byZbarimg(path), name);
  }
  ok(2100 * 2000 > IN_PROCESS_MAX_PIXELS);
  // 1100x1000 pixels: in-process, and large enough that the WebAssembly instance is dropped
  // afterwards (its grown memory with it); the next image gets a fresh one and decodes the same.
  await padded("1100x1000", `${dir}/medium.png`);
  for (const path of [`${dir}/medium.png`, files["quish.png"], `${dir}/medium.png`]) {
    const out = await scan(await Deno.readFile(path));
    deepEqual(ran, [], path);
    deepEqual(mine(out.results), [["QR-Code", QR_URL, 0]], path);
    deepEqual(mine(out.results), await byZbarimg(path), path);
  }
});

Deno.test("qr: which images are decoded in-process", async () => {
  const files = await textFiles();
  const png = await Deno.readFile(files["quish.png"]);
  deepEqual(
    [
      decodedInProcess({ format: "png", width: 2000, height: 2000 }, png),
      decodedInProcess({ format: "png", width: 2000, height: 2001 }, png),
      decodedInProcess({ format: "jpeg" }, png),
      decodedInProcess({ format: "tiff", width: 100, height: 100 }, png),
      decodedInProcess({ format: "webp", width: 100, height: 100 }, png),
    ],
    [true, false, false, false, false],
  );
  // A GIF's frames are counted from its blocks: one frame in-process, two to zbarimg, and a
  // GIF whose blocks end before any frame is not read in-process either.
  const gif = await Deno.readFile(files["two_codes.gif"]);
  const info = { format: "gif", width: 100, height: 100 } as const;
  equal(decodedInProcess(info, gif), true);
  equal(decodedInProcess(info, gif.subarray(0, 20)), false);
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
  // A damaged PNG: zxing-wasm cannot load it, so zbarimg tries and gives its own message.
  const bad = new Uint8Array([
    ...png.subarray(0, 33),
    ...new TextEncoder().encode("garbagegarbage"),
  ]);
  const badOut = await scan(bad);
  deepEqual(ran, ["zbarimg"]);
  equal(badOut.errors.length, 1);
  ok(
    /^qr: zbarimg could not read the image \(exit 1\): ERROR: insufficient image data in file @ /
      .test(badOut.errors[0]),
    badOut.errors[0],
  );
  // The tool missing: the engine's one clear line, once, for an image that needs zbarimg; a PNG
  // is still decoded in-process.
  const dir = await tempDir();
  await sh("convert", [files["quish.png"], `${dir}/quish.tif`]);
  const tiff = await Deno.readFile(`${dir}/quish.tif`);
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
  const p = makePayload(tiff);
  for (let i = 0; i < 2; i++) {
    const r = (await instance.scan!(p, makeRequest(p), missing)) as Any;
    deepEqual(r.errors, [
      "qr: zbarimg is not installed: install the Debian package zbar-tools (apt-get install zbar-tools)",
    ]);
  }
  const pngPayload = makePayload(png);
  const decoded = (await instance.scan!(pngPayload, makeRequest(pngPayload), missing)) as Any;
  equal(decoded.errors, undefined);
  deepEqual(mine(decoded.results), [["QR-Code", QR_URL, 0]]);
});

Deno.test("qr: UTF-8 text and binary data in a QR code: the text, and the bytes as base64 and a child, as zbarimg --raw -Sbinary gives them", async () => {
  const dir = await tempDir();
  const text = "Grüße 日本 https://x.example/a";
  const bytes = Uint8Array.from({ length: 40 }, (_, i) => (i * 89 + 7) % 256);
  await Deno.writeTextFile(`${dir}/utf8.txt`, text);
  await Deno.writeFile(`${dir}/bin.dat`, bytes);
  await sh("qrencode", ["-8", "-s", "6", "-r", `${dir}/utf8.txt`, "-o", `${dir}/utf8.png`]);
  await sh("qrencode", ["-8", "-s", "6", "-r", `${dir}/bin.dat`, "-o", `${dir}/bin.png`]);
  const raw = async (path: string) =>
    (await new Deno.Command("zbarimg", {
      args: ["--nodbus", "-q", "--raw", "-Sbinary", path],
      stdout: "piped",
    }).output()).stdout;

  const utf8 = await scan(await Deno.readFile(`${dir}/utf8.png`), {}, "utf8.png");
  deepEqual(mine(utf8.results), [["QR-Code", text, 0]]);
  equal(new TextDecoder().decode(await raw(`${dir}/utf8.png`)).replace(/\n$/, ""), text);
  deepEqual(utf8.results.urls, ["https://x.example/a"]);

  const bin = await scan(await Deno.readFile(`${dir}/bin.png`), {}, "bin.png");
  equal(bin.results.codes[0].encoding, "base64");
  deepEqual(
    Uint8Array.from(atob(bin.results.codes[0].data), (c) => c.charCodeAt(0)),
    bytes,
  );
  deepEqual((await raw(`${dir}/bin.png`)).subarray(0, bytes.length), bytes);
  deepEqual(bin.extracted.map((e: Any) => e.payload_meta.extra_data.filename), ["bin.png.qr0.bin"]);
  deepEqual(bin.extracted[0].content, bytes);
});

Deno.test("qr: corrupted PNG, JPEG and GIF images end with a result or a named error", async () => {
  const files = await textFiles();
  let inProcess = 0;
  for (const name of ["quish.png", "quish.jpg", "two_codes.gif"] as const) {
    const data = await Deno.readFile(files[name]);
    // From byte 40: the header (and the size the routing reads) stays intact, the rest is fair game.
    for (const copy of corruptedCopies(data, { count: 40, from: 40, flips: 6, seed: 7 })) {
      const out = await scan(copy, {}, name);
      ok(out.results || out.errors?.[0]?.startsWith("qr: "), JSON.stringify(out.errors));
      if (!ran.length) inProcess++;
    }
  }
  // Some copies still load in zxing-wasm; the others (stb_image rejects damaged PNG data, which
  // ImageMagick reads with warnings) went to zbarimg: both decoders saw damaged input.
  ok(inProcess > 0 && inProcess < 120, `${inProcess} of 120 decoded in-process`);
});

Deno.test("qr: URLs in decoded data", () => {
  deepEqual(urlsIn("see https://a.example/x and HTTP://B.example"), [
    "https://a.example/x",
    "HTTP://B.example",
  ]);
  deepEqual(urlsIn("www.example.com/path"), ["http://www.example.com/path"]);
  deepEqual(urlsIn("WIFI:S:x;;"), []);
});
