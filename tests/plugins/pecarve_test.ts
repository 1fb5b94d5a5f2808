/** pecarve: real PEs (mingw-w64) behind decoy "MZ" bytes, in a dump and a PDF; readpe checks them. */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { createHash } from "node:crypto";
import pecarve from "../../plugins/pecarve.ts";
import { instantiate, makePayload, makeRequest, sh, tempDir } from "../helpers.ts";
import { binaryFiles, concat, junk } from "../fixtures/binaries_files.ts";

const { instance, call } = await instantiate(pecarve);
const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

interface Res {
  results: {
    candidates: number;
    carved: { offset: number; size: number; truncated: boolean; dll: boolean }[];
    self: boolean;
    rejected_count: number;
    findings: { id: string; severity: string }[];
  };
  extracted: { content: Uint8Array; payload_meta: { extra_data: Record<string, unknown> } }[];
  errors?: string[];
}
async function scan(content: Uint8Array): Promise<Res> {
  const p = makePayload(content, { extra_data: { filename: "blob" } });
  return await instance.scan!(p, makeRequest(p), call) as Res;
}

/** readpe's header and section values for a file, to check a carved image is a whole PE. */
async function readpe(path: string) {
  const text = await sh("readpe", ["-H", "-S", path]);
  const all = (k: string) =>
    [...text.matchAll(new RegExp(`^\\s*${k}:\\s+(\\S+)`, "gm"))].map((m) => m[1]);
  return {
    sections: all("Name"),
    rawPtr: all("Pointer To Raw Data").map(Number),
    rawSize: all("Size Of Raw Data").map(Number),
    machine: all("Machine")[0],
  };
}

Deno.test("pecarve: a PE after 24 decoy MZ headers is carved whole, and readpe reads it", async () => {
  const f = await binaryFiles();
  const exe = await Deno.readFile(f["hello.exe"]);
  const res = await scan(await Deno.readFile(f["decoys.bin"]));
  equal(res.errors, undefined);
  equal(res.results.carved.length, 1);
  equal(res.results.rejected_count, 24, "every decoy looked at and refused");
  equal(res.results.carved[0].offset, 24 * 256);
  equal(sha256(res.extracted[0].content), sha256(exe));
  deepEqual(res.extracted[0].payload_meta.extra_data, {
    filename: "blob@0x1800.exe",
    offset: 6144,
    index: 0,
    size: exe.length,
    truncated: false,
  });
  const dir = await tempDir();
  await Deno.writeFile(`${dir}/carved.exe`, res.extracted[0].content);
  const carved = await readpe(`${dir}/carved.exe`);
  deepEqual(carved, await readpe(f["hello.exe"]));
  // The carved size is the end of the last section's raw data, as readpe reports the sections.
  equal(
    res.results.carved[0].size,
    Math.max(...carved.rawPtr.map((p, i) => p + carved.rawSize[i])),
  );
  deepEqual(res.results.findings.map((x) => [x.id, x.severity]), [["embedded_pe", "high"]]);
});

Deno.test("pecarve: two PEs in a dump-like blob and one in a PDF attachment, exact bytes", async () => {
  const f = await binaryFiles();
  const exe = await Deno.readFile(f["hello.exe"]), dll = await Deno.readFile(f["demo.dll"]);
  const dump = await scan(await Deno.readFile(f["memdump.bin"]));
  deepEqual(dump.results.carved.map((c) => [c.offset, c.size, c.dll]), [
    [70_000, exe.length, false],
    [70_000 + exe.length + 12_345, dll.length, true],
  ]);
  deepEqual(dump.extracted.map((e) => sha256(e.content)), [sha256(exe), sha256(dll)]);
  const pdf = await scan(await Deno.readFile(f["attach_raw.pdf"]));
  deepEqual(pdf.extracted.map((e) => sha256(e.content)), [sha256(exe)]);
});

Deno.test("pecarve: a PE is not carved out of itself; a PE inside a PE is", async () => {
  const f = await binaryFiles();
  const exe = await Deno.readFile(f["hello.exe"]), dll = await Deno.readFile(f["demo.dll"]);
  const self = await scan(exe);
  deepEqual([self.results.self, self.extracted.length, self.results.findings], [true, 0, []]);
  // A dropper: the DLL appended to the exe (its overlay).
  const dropper = await scan(concat(exe, dll));
  deepEqual(dropper.extracted.map((e) => sha256(e.content)), [sha256(dll)]);
  deepEqual(dropper.results.findings.map((x) => [x.id, x.severity]), [["embedded_pe", "medium"]]);
});

Deno.test("pecarve: a cut-off PE is carved to the end with truncated, headers cut short are refused, junk costs nothing", async () => {
  const f = await binaryFiles();
  const exe = await Deno.readFile(f["hello.exe"]);
  const cut = await scan(concat(junk(1000, 9), exe.slice(0, 5000)));
  deepEqual(cut.results.carved.map((c) => [c.offset, c.size, c.truncated]), [[1000, 5000, true]]);
  const headers = await scan(concat(junk(1000, 9), exe.slice(0, 200)));
  deepEqual(headers.results.carved, []);
  // The offsets of a reason count from the candidate's "MZ" (here 1000 bytes into the blob).
  match(
    JSON.stringify(headers.results),
    /headers: NumberOfRvaAndSizes \(4 bytes at 0x104\) is past the end of the file \(200 bytes\)/,
  );
  const none = await scan(junk(1 << 20, 4));
  deepEqual([none.results.candidates, none.extracted.length], [0, 0]);
  // Candidate cap: the search stops and says so.
  const p = makePayload(new TextEncoder().encode("MZ".repeat(50)));
  const { instance: capped, call: c2 } = await instantiate(pecarve, { max_candidates: 10 });
  const res = await capped.scan!(p, makeRequest(p), c2) as Res;
  match(res.errors![0], /stopped after 10 candidates/);
  ok(res.results.candidates === 10);
});
