/**
 * onenote on a section built from [MS-ONESTORE] (tests/fixtures/onenote_files.ts). No Debian
 * tool reads OneNote files, so the values are checked against what the builder wrote, and the
 * extracted files against their own bytes (and `file` for the picture).
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import type { WorkerResponse } from "../../core/engine/plugin.ts";
import onenote from "../../plugins/onenote.ts";
import { parseOneNote } from "../../plugins/lib/onenote/parse.ts";
import { instantiate, makePayload, makeRequest, sh, sha256, tempDir } from "../helpers.ts";
import { corruptedCopies } from "../fixtures/cache.ts";
import { ONENOTE, oneNoteFiles, PNG_1X1 } from "../fixtures/onenote_files.ts";

// deno-lint-ignore no-explicit-any
type Report = Record<string, any>;

async function scan(content: Uint8Array) {
  const { instance, call } = await instantiate(onenote);
  const p = makePayload(content, { extra_data: { filename: "invoice.one" } });
  return await instance.scan!(p, makeRequest(p), call) as WorkerResponse;
}

const png = Uint8Array.from(PNG_1X1.match(/../g)!, (h) => parseInt(h, 16));

Deno.test("onenote: header fields and both embedded files, named as the section records them", async () => {
  const path = (await oneNoteFiles())["invoice.one"];
  const data = await Deno.readFile(path);
  const res = await scan(data);
  deepEqual(res.errors, []);
  const r = res.results as Report;
  equal(r.file_type, "one");
  equal(r.guid_file_type, "7B5C52E4-D88C-4DA7-AEB1-5378D02996D3");
  equal(r.guid_file_format, "109ADD3F-911B-49F5-A5D0-1791EDC8AED8");
  equal(r.guid_file, ONENOTE.guidFile);
  equal(r.ffv_oldest_code_that_may_read, 0x2a);
  equal(r.build_created, ONENOTE.build);
  equal(r.expected_file_length, data.length);
  equal(r.has_no_embedded_file_objects, false);
  equal(r.file_node_lists, 4);
  deepEqual(
    r.embedded_files.map((f: Report) => [f.filename, f.guid, f.extension, f.size, f.footer_valid]),
    [
      [ONENOTE.scriptName, ONENOTE.scriptGuid, ".bat", ONENOTE.script.length, true],
      ["embedded_1.png", ONENOTE.imageGuid, ".png", png.length, true],
    ],
  );
  // Children: exact bytes, with name, index, offset and GUID.
  equal(res.extracted!.length, 2);
  const [script, image] = res.extracted!;
  equal(sha256(script.content as Uint8Array), sha256(ONENOTE.script));
  equal(sha256(image.content as Uint8Array), sha256(png));
  deepEqual(script.payload_meta!.extra_data, {
    filename: ONENOTE.scriptName,
    index: 0,
    offset: r.embedded_files[0].offset + 36,
    guid: ONENOTE.scriptGuid,
  });
  const dir = await tempDir("one-");
  await Deno.writeFile(`${dir}/image`, image.content as Uint8Array);
  ok((await sh("file", ["-b", `${dir}/image`])).startsWith("PNG image data, 1 x 1"));
  deepEqual(r.findings.map((f: Report) => [f.id, f.severity]), [
    ["onenote_embedded_executable", "high"],
    ["onenote_embedded_file", "low"],
  ]);
  equal(r.findings[0].detail, `${ONENOTE.scriptName} (${ONENOTE.script.length} bytes)`);
});

Deno.test("onenote: truncated and corrupted sections give what was found and named errors", async () => {
  const data = await Deno.readFile((await oneNoteFiles())["invoice.one"]);
  const files = parseOneNote(data).files;
  // Cut inside the second file: the first still comes out, the second is named as cut.
  const cut = parseOneNote(data.subarray(0, files[1].data_offset + 10));
  equal(cut.files.length, 1);
  equal(cut.files[0].name, ONENOTE.scriptName);
  ok(
    cut.errors.some((e) => /cbLength 66 runs past the end of the file/.test(e)),
    cut.errors.join(),
  );
  // A broken list magic: the file data is still found by its GUID, the list is named.
  const broken = data.slice();
  broken[1024] ^= 0xff;
  const b = parseOneNote(broken);
  equal(b.files.length, 2);
  equal(b.files[0].name, null);
  deepEqual(b.errors, [
    "file node list at offset 1024: FileNodeListFragment at offset 1024 has no header magic",
  ]);
  // Random corruption: always a result.
  for (const copy of corruptedCopies(data, { count: 300, from: 1024, flips: 6, seed: 11 })) {
    ok((await scan(copy)).results, "a result or named errors for every corrupted copy");
  }
  for (let len = 0; len < data.length; len += 97) {
    const res = await scan(data.subarray(0, len));
    ok(res.results || res.errors?.length, `length ${len}`);
  }
  deepEqual((await scan(new TextEncoder().encode("x".repeat(2000)))).errors, [
    "onenote: not a OneNote file: file type GUID {78787878-7878-7878-7878-787878787878} at offset 0",
  ]);
});
