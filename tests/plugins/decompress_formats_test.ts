/**
 * decompress on the formats beyond the common ones, through `./stoq scan` with no flags (typing →
 * route → decompress), on archives real tools built from three known files: every member comes
 * out under its own name with the exact bytes it was made from, and nothing is dropped without a
 * word (links and FIFO members, headers that misstate sizes, data that is not an archive).
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { type ResultDoc, type ResultEntry, runStoq, show } from "../cli_helpers.ts";
import { sha256, tempDir } from "../helpers.ts";
import { type ArchiveFileName, archiveFiles } from "../fixtures/archive_files.ts";
import { realFiles } from "../realfiles.ts";

type Entry = ResultEntry & { workers: Record<string, Record<string, unknown>> };

async function fixtures() {
  return await archiveFiles((await realFiles())["hello.exe"]);
}

/** The source files' sha256s, by name. */
async function sources(): Promise<Record<string, string>> {
  const f = await fixtures();
  return {
    "hello.exe": sha256(await Deno.readFile(f["src/hello.exe"])),
    "eicar.com": sha256(await Deno.readFile(f["src/eicar.com"])),
    "notes.txt": sha256(await Deno.readFile(f["src/notes.txt"])),
  };
}

/** `./stoq scan FILE` with the default pipeline; its result and the decompress errors. */
async function scan(name: ArchiveFileName): Promise<{ doc: ResultDoc; entries: Entry[] }> {
  const f = await fixtures();
  const r = await runStoq(["scan", f[name]]);
  equal(r.code, 0, show(r));
  const doc = JSON.parse(r.stdout) as ResultDoc;
  return { doc, entries: doc.results as Entry[] };
}

/** sha256 of every payload (from the hash worker), by the last part of its filename. */
function byName(entries: Entry[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const e of entries) {
    const name = String(e.payload_meta.extra_data.filename ?? "").split("/").pop()!;
    out.set(name, [...(out.get(name) ?? []), String(e.workers.hash?.sha256)]);
  }
  return out;
}

function decompressErrors(doc: ResultDoc): string[] {
  return doc.errors.filter((e) => e.plugin_name === "decompress").map((e) => e.error);
}

const CASES: [ArchiveFileName, string, string[]][] = [
  ["a_bin.cpio", "cpio", ["hello.exe", "eicar.com", "notes.txt"]],
  ["a_odc.cpio", "cpio", ["hello.exe", "eicar.com", "notes.txt"]],
  ["a_newc.cpio", "cpio", ["hello.exe", "eicar.com", "notes.txt"]],
  ["a.xar", "xar", ["hello.exe", "eicar.com", "notes.txt"]],
  ["a.squashfs", "squashfs", ["hello.exe", "eicar.com", "notes.txt"]],
  ["a.wim", "wim", ["hello.exe", "eicar.com", "notes.txt"]],
  ["a.vhd", "vhd", ["hello.exe", "eicar.com", "notes.txt"]],
  ["a.vhdx", "vhdx", ["hello.exe", "eicar.com", "notes.txt"]],
  ["a.dmg", "dmg", ["hello.exe", "eicar.com", "notes.txt"]],
  ["a.rpm", "rpm", ["eicar.com", "notes.txt"]],
  ["a.a", "ar", ["eicar.com", "notes.txt"]],
  ["a.chm", "chm", ["notes.txt"]],
  ["notes.txt.zst", "zstd", ["notes.txt"]],
  ["fifo.7z", "7z", ["eicar.com"]],
  ["fifo.zip", "zip", ["notes.txt"]],
];

for (const [file, format, want] of CASES) {
  Deno.test(`decompress: ${file} (${format}) gives every member with its exact bytes`, async () => {
    const { doc, entries } = await scan(file);
    equal(entries[0].workers.decompress?.format, format, JSON.stringify(entries[0].workers));
    const shas = await sources();
    const found = [...byName(entries).values()].flat();
    for (const name of want) ok(found.includes(shas[name]), `${file}: ${name} not extracted`);
    deepEqual(decompressErrors(doc), []);
  });
}

Deno.test("decompress: a .deb keeps debian-binary, control.tar.xz (and its postinst) and data.tar.xz by name", async () => {
  const { doc, entries } = await scan("a.deb");
  const names = entries.map((e) => e.payload_meta.extra_data.filename);
  for (const n of ["debian-binary", "control.tar.xz", "data.tar.xz", "./postinst", "./control"]) {
    ok(names.includes(n), `${n} missing from ${names}`);
  }
  const debianBinary = entries.find((e) => e.payload_meta.extra_data.filename === "debian-binary")!;
  equal(debianBinary.workers.hash.sha256, sha256("2.0\n"));
  const shas = await sources();
  ok(byName(entries).get("hello.exe")?.includes(shas["hello.exe"]));
  deepEqual(decompressErrors(doc), []);
});

Deno.test("decompress: an NSIS installer's data (the pe worker's overlay child) gives its files", async () => {
  const { doc, entries } = await scan("setup.exe");
  const overlay = entries.find((e) => e.workers.decompress?.format === "nsis");
  ok(overlay, "the overlay was not opened as NSIS data");
  const shas = await sources();
  const found = byName(entries);
  equal(found.get("hello.exe")?.[0], shas["hello.exe"]);
  equal(found.get("notes.txt")?.[0], shas["notes.txt"]);
  deepEqual(decompressErrors(doc), []);
});

Deno.test("decompress: an MSI's embedded cabinet (a stream the ole worker extracts) gives its files", async () => {
  const { entries } = await scan("a.msi");
  const shas = await sources();
  const found = [...byName(entries).values()].flat();
  ok(found.includes(shas["hello.exe"]), "hello.exe not extracted from the MSI");
  ok(found.includes(shas["notes.txt"]), "notes.txt not extracted from the MSI");
});

Deno.test("decompress: SZDD (compress.exe) expands to the original bytes", async () => {
  const { doc, entries } = await scan("notes.tx_");
  equal(entries[0].workers.decompress?.format, "szdd");
  equal(entries[1].workers.hash.sha256, (await sources())["notes.txt"]);
  deepEqual(decompressErrors(doc), []);
});

Deno.test("decompress: a UDF image is opened (Debian can write only an empty one)", async () => {
  const { doc, entries } = await scan("a.udf");
  deepEqual(entries[0].workers.decompress, { format: "udf", members: 0, encrypted: false });
  deepEqual(decompressErrors(doc), []);
});

Deno.test("decompress: links are listed with their targets, not dropped; FIFOs in a tar too", async () => {
  const tar = await scan("links.tar");
  deepEqual(tar.entries[0].workers.decompress.links_and_special_files, [
    { name: "symlink.txt", type: "symlink", target: "notes.txt" },
    { name: "hardlink.txt", type: "hardlink", target: "notes.txt" },
    { name: "pipe", type: "fifo" },
  ]);
  equal(tar.entries[1].workers.hash.sha256, (await sources())["notes.txt"]);
  const zip = await scan("links.zip");
  deepEqual(zip.entries[0].workers.decompress.links_and_special_files, [
    { name: "symlink.txt", type: "symlink", target: "notes.txt" },
  ]);
});

Deno.test("decompress: a member whose header declares 4 GB but holds 1,000 bytes is extracted", async () => {
  const dir = await tempDir();
  const data = crypto.getRandomValues(new Uint8Array(1000));
  await Deno.writeFile(`${dir}/thousand.bin`, data);
  const zip = new Deno.Command("zip", { args: ["-q", "-0", "lie.zip", "thousand.bin"], cwd: dir });
  equal((await zip.output()).code, 0);
  // Both headers (local and central) now say 0xF0000000 bytes.
  const bytes = await Deno.readFile(`${dir}/lie.zip`);
  const view = new DataView(bytes.buffer);
  const local = bytes.indexOf(0x50); // "PK\x03\x04" is at 0
  view.setUint32(local + 22, 0xF0000000, true);
  for (let i = 0; i + 4 < bytes.length; i++) {
    if (view.getUint32(i, true) === 0x02014b50) view.setUint32(i + 24, 0xF0000000, true);
  }
  await Deno.writeFile(`${dir}/lie.zip`, bytes);
  const r = await runStoq(["scan", `${dir}/lie.zip`]);
  equal(r.code, 0, show(r));
  const doc = JSON.parse(r.stdout) as ResultDoc;
  const child = (doc.results as Entry[]).find((e) =>
    e.payload_meta.extra_data.filename === "thousand.bin"
  );
  equal(child?.workers.hash.sha256, sha256(data));
  match(decompressErrors(doc).join("\n"), /declares 4026531840 bytes but its data holds 1000/);
});

Deno.test("decompress: a payload routed as an archive that no reader opens is a named error", async () => {
  const dir = await tempDir();
  // A zip's local-header magic and nothing a zip reader or 7z can use.
  await Deno.writeFile(
    `${dir}/broken.zip`,
    new TextEncoder().encode("PK\x03\x04" + "x".repeat(200)),
  );
  const r = await runStoq(["scan", `${dir}/broken.zip`]);
  equal(r.code, 0, show(r));
  const doc = JSON.parse(r.stdout) as ResultDoc;
  ok(decompressErrors(doc).length > 0, "no error for an archive that could not be opened");
});
