/** imagetrailer: images ImageMagick and exiftool wrote, with bytes appended after their end. */
import { deepEqual, equal, match } from "node:assert/strict";
import { createHash } from "node:crypto";
import imagetrailer from "../../plugins/imagetrailer.ts";
import { instantiate, makePayload, makeRequest, sh } from "../helpers.ts";
import { type BinaryFileName, binaryFiles, concat, TRAILER } from "../fixtures/binaries_files.ts";

const { instance, call } = await instantiate(imagetrailer);
const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

interface Res {
  results?: Record<string, unknown> & { findings?: { id: string; severity: string }[] };
  extracted?: { content: Uint8Array; payload_meta: { extra_data: Record<string, unknown> } }[];
  errors?: string[];
}
async function scan(content: Uint8Array): Promise<Res> {
  const p = makePayload(content, { extra_data: { filename: "pic" } });
  return await instance.scan!(p, makeRequest(p), call) as Res;
}

const CASES: [BinaryFileName, BinaryFileName, string][] = [
  ["image.png", "image_trailer.png", "png"],
  ["image.jpg", "image_trailer.jpg", "jpeg"],
  ["progressive.jpg", "progressive_trailer.jpg", "jpeg"],
  ["image.gif", "image_trailer.gif", "gif"],
  ["image.bmp", "image_trailer.bmp", "bmp"],
];

Deno.test("imagetrailer: the image ends where the tool's file ended; the trailer is the child, byte for byte", async () => {
  const f = await binaryFiles();
  for (const [plain, withTrailer, format] of CASES) {
    const image = await Deno.readFile(f[plain]);
    // `file` agrees on what each image is.
    const says = {
      png: /^PNG/,
      jpeg: /^JPEG/,
      gif: /^GIF/,
      bmp: /^PC bitmap.*cbSize (\d+)/,
    }[format]!;
    match(await sh("file", ["-b", f[plain]]), says);
    const clean = await scan(image);
    deepEqual(clean.results, {
      format,
      image_size: image.length,
      trailer_offset: image.length,
      trailer_size: 0,
    }, plain);
    equal(clean.extracted, undefined);
    const res = await scan(await Deno.readFile(f[withTrailer]));
    equal(res.errors, undefined, withTrailer);
    deepEqual(
      [res.results!.image_size, res.results!.trailer_size],
      [image.length, TRAILER.length],
      withTrailer,
    );
    equal(res.extracted!.length, 1);
    equal(sha256(res.extracted![0].content), sha256(TRAILER));
    deepEqual(res.extracted![0].payload_meta.extra_data, {
      filename: "pic.trailer",
      offset: image.length,
      image_format: format,
    });
    deepEqual(res.results!.findings!.map((x) => [x.id, x.severity]), [[
      "data_after_image_end",
      "medium",
    ]]);
  }
  // The JPEG holds an EXIF thumbnail (its own FF D8 ... FF D9): the walk skips it.
  const jpg = await Deno.readFile(f["image.jpg"]);
  const thumbEnd = jpg.findIndex((b, i) => i > 2 && b === 0xff && jpg[i + 1] === 0xd9);
  equal(thumbEnd < jpg.length - 2, true, "the thumbnail's EOI comes first");
  const exe = await scan(await Deno.readFile(f["image_exe.png"]));
  equal(sha256(exe.extracted![0].content), sha256(await Deno.readFile(f["hello.exe"])));
  deepEqual(exe.results!.findings!.map((x) => x.severity), ["high"]);
});

Deno.test("imagetrailer: truncated and corrupted images give a named error with how far the walk got", async () => {
  const f = await binaryFiles();
  for (const [plain, , format] of CASES) {
    const image = await Deno.readFile(f[plain]);
    for (const cut of [30, Math.floor(image.length / 2), image.length - 1]) {
      const res = await scan(image.slice(0, cut));
      equal(res.extracted, undefined, `${plain} cut ${cut}`);
      match(res.errors?.[0] ?? "", new RegExp(`^imagetrailer: ${format}: `), `${plain} cut ${cut}`);
      equal(typeof res.results?.parsed_to, "number");
    }
  }
  const png = await Deno.readFile(f["image.png"]);
  const bad = png.slice();
  bad[12] = 0x00; // first chunk type
  match((await scan(bad)).errors![0], /chunk at offset 8 has an invalid type/);
  // Zero padding after the end is reported, not extracted.
  const padded = await scan(concat(png, new Uint8Array(100)));
  deepEqual([padded.results!.trailer_zeros, padded.extracted], [true, undefined]);
  let seed = 5;
  for (const [plain] of CASES) {
    const image = await Deno.readFile(f[plain]);
    for (let i = 0; i < 100; i++) {
      const copy = image.slice();
      for (let k = 0; k < 6; k++) {
        seed = (seed * 1103515245 + 12345) >>> 0;
        copy[seed % copy.length] = seed >>> 24;
      }
      await scan(copy);
    }
  }
});
