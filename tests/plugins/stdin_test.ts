/**
 * `stdin` provider through ./stoq: `find ... -print0 | stoq run -P stdin` scans each named file
 * once; newline-separated lists work too; a missing path is named, counted as failed, and the
 * others are still scanned.
 */
import { deepEqual, equal, match } from "node:assert/strict";
import { join } from "node:path";
import { hashes, parseLines, runStoq, show } from "../cli_helpers.ts";
import { sha256, tempDir } from "../helpers.ts";

/** A tree with awkward names: spaces, a newline, non-ASCII, a sub-folder. */
async function tree(): Promise<{ dir: string; files: string[] }> {
  const dir = await tempDir();
  await Deno.mkdir(join(dir, "sub folder"));
  const files = [
    join(dir, "plain.txt"),
    join(dir, "with space.txt"),
    join(dir, "line\nbreak.txt"),
    join(dir, "sub folder", "ünïcode.bin"),
  ];
  for (const [i, f] of files.entries()) await Deno.writeTextFile(f, `file number ${i}\n`);
  return { dir, files };
}

/** Checks that `stdout` holds one result per file in `files`, with the file's own hashes. */
async function assertScannedOnce(stdout: string, files: string[]): Promise<void> {
  const docs = parseLines(stdout, files.length);
  const seen = new Map<string, string>();
  for (const d of docs) {
    seen.set(String(d.results[0].payload_meta.extra_data.filename), hashes(d.results[0]).sha256);
  }
  const want = new Map<string, string>();
  for (const f of files) want.set(f.slice(f.lastIndexOf("/") + 1), sha256(await Deno.readFile(f)));
  deepEqual(new Map([...seen].sort()), new Map([...want].sort()));
}

Deno.test("stdin: find -print0 | stoq run -P stdin scans every file once (folders passed over)", async () => {
  const { dir, files } = await tree();
  // Without -type f, find names the folders too.
  const find = new Deno.Command("find", { args: [dir, "-print0"], stdout: "piped" }).spawn();
  const r = await runStoq(["run", "-P", "stdin", "-a", "hash"], { stdin: find.stdout });
  equal((await find.status).code, 0);
  equal(r.code, 0, show(r));
  await assertScannedOnce(r.stdout, files);
});

Deno.test("stdin: one path per line (auto-detected), relative to the working directory", async () => {
  const { dir } = await tree();
  const list = new TextEncoder().encode("plain.txt\nwith space.txt\r\n\nsub folder/ünïcode.bin");
  const r = await runStoq(["run", "-P", "stdin", "-a", "hash"], { stdin: list, cwd: dir });
  equal(r.code, 0, show(r));
  await assertScannedOnce(r.stdout, [
    join(dir, "plain.txt"),
    join(dir, "with space.txt"),
    join(dir, "sub folder", "ünïcode.bin"),
  ]);
});

Deno.test("stdin: separator=nul keeps a name that holds a newline whole", async () => {
  const { dir, files } = await tree();
  const find = new Deno.Command("find", {
    args: [dir, "-type", "f", "-name", "line*", "-print0"],
    stdout: "piped",
  }).spawn();
  const r = await runStoq(
    ["run", "-P", "stdin", "-a", "hash", "--plugin-opts", "stdin:separator=nul"],
    { stdin: find.stdout },
  );
  equal(r.code, 0, show(r));
  await assertScannedOnce(r.stdout, [files[2]]);
});

Deno.test("stdin: a missing path is named and counted as failed; the others are scanned", async () => {
  const { dir, files } = await tree();
  const found = await new Deno.Command("find", { args: [dir, "-type", "f", "-print0"] }).output();
  const missing = join(dir, "gone.txt");
  const input = new Uint8Array([...found.stdout, ...new TextEncoder().encode(`${missing}\0`)]);
  const r = await runStoq(["run", "-P", "stdin", "-a", "hash"], { stdin: input });
  equal(r.code, 1, show(r));
  await assertScannedOnce(r.stdout, files);
  match(r.stderr, new RegExp(`${missing}: not scanned: No such file or directory`));
  match(r.stderr, /4 scanned, 1 failed/);
});

Deno.test("stdin: results can go to a connector, and empty input scans nothing", async () => {
  const { dir, files } = await tree();
  const out = join(await tempDir(), "results");
  const find = new Deno.Command("find", { args: [dir, "-type", "f", "-print0"], stdout: "piped" })
    .spawn();
  const r = await runStoq(
    ["run", "-P", "stdin", "-C", "filedir", "--plugin-opts", `filedir:results_dir=${out}`],
    { stdin: find.stdout },
  );
  equal(r.code, 0, show(r));
  equal(r.stdout, "");
  equal([...Deno.readDirSync(out)].length, files.length);
  const empty = await runStoq(["run", "-P", "stdin"], { stdin: new Uint8Array(0) });
  equal(empty.code, 0, show(empty));
  equal(empty.stdout, "");
});
