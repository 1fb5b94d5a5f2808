/** `./stoq scan FILE` with no flags on an ELF, a fat Mach-O, images with data appended and blobs hiding PEs. */
import { deepEqual, equal } from "node:assert/strict";
import { createHash } from "node:crypto";
import { parseDoc, runStoq, show } from "../cli_helpers.ts";
import { sh } from "../helpers.ts";
import { binaryFiles, PIE_SECURITY, TRAILER } from "../fixtures/binaries_files.ts";

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

async function scan(path: string) {
  const r = await runStoq(["scan", path]);
  equal(r.code, 0, show(r));
  const doc = parseDoc(r.stdout);
  return doc.results as unknown as {
    payload_meta: { extra_data: Record<string, unknown> };
    workers: Record<string, Record<string, unknown>>;
  }[];
}

Deno.test("default pipeline: an ELF gets the elf worker's fields, equal to readelf's", async () => {
  const f = await binaryFiles();
  const [root] = await scan(f["pie.elf"]);
  const elf = root.workers.elf as Record<string, unknown>;
  const h = await sh("readelf", ["-h", "-n", "-l", "-d", f["pie.elf"]]);
  equal(
    elf.entry_point,
    `0x${BigInt(/Entry point address:\s+(0x[0-9a-f]+)/.exec(h)![1]).toString(16)}`,
  );
  equal(elf.build_id, /Build ID: ([0-9a-f]+)/.exec(h)![1]);
  equal(elf.interpreter, /interpreter: ([^\]]+)\]/.exec(h)![1]);
  deepEqual(elf.needed, [...h.matchAll(/Shared library: \[([^\]]+)\]/g)].map((m) => m[1]));
  deepEqual(elf.security, PIE_SECURITY);
});

Deno.test("default pipeline: a fat Mach-O is split, each slice scanned by macho, with llvm-lipo's bytes", async () => {
  const f = await binaryFiles();
  const results = await scan(f["fat.macho"]);
  equal(results.length, 3);
  const [root, ...slices] = results;
  deepEqual(
    (root.workers.macho.fat as { architectures: { arch: string }[] }).architectures.map((a) =>
      a.arch
    ),
    ["x86_64", "arm64"],
  );
  const want = {
    x86_64: sha256(await Deno.readFile(f["x86_64.macho"])),
    arm64: sha256(await Deno.readFile(f["arm64.macho"])),
  };
  for (const s of slices) {
    const arch = s.payload_meta.extra_data.arch as "x86_64" | "arm64";
    equal(s.workers.hash.sha256, want[arch], arch);
    equal(s.workers.macho.arch, arch);
    equal(s.workers.macho.file_type, "MH_EXECUTE");
  }
});

Deno.test("default pipeline: a PNG with data appended, and blobs and a PDF hiding PEs, yield exact children", async () => {
  const f = await binaryFiles();
  const [png, trailer] = await scan(f["image_trailer.png"]);
  deepEqual([png.workers.imagetrailer.image_size, png.workers.imagetrailer.trailer_size], [
    (await Deno.readFile(f["image.png"])).length,
    TRAILER.length,
  ]);
  equal(trailer.workers.hash.sha256, sha256(TRAILER));
  const exe = sha256(await Deno.readFile(f["hello.exe"]));
  const dll = sha256(await Deno.readFile(f["demo.dll"]));
  for (
    const [name, want] of [["decoys.bin", [exe]], ["memdump.bin", [exe, dll]], ["attach_raw.pdf", [
      exe,
    ]], ["image_exe.png", [exe]]] as const
  ) {
    const [, ...children] = await scan(f[name]);
    deepEqual(children.map((c) => c.workers.hash.sha256), want, name);
  }
  // A PE is not carved out of itself.
  const [self, ...none] = await scan(f["hello.exe"]);
  deepEqual([none.length, "pecarve" in self.workers], [0, false]);
});
