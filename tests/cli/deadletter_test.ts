/**
 * `stoq deadletter list|replay` through ./stoq: a result the connector could not save is kept in
 * the dead-letter folder; replay sends it again, keeps it while the connector still fails, and
 * removes it once saved (without the save errors recorded when it was dead-lettered).
 */
import { deepEqual, equal, match } from "node:assert/strict";
import { join } from "node:path";
import { runStoq, show, writeText } from "../cli_helpers.ts";
import { tempDir } from "../helpers.ts";

Deno.test("deadletter: list, replay while the store is still down, replay once it is back", async () => {
  const home = await tempDir();
  const dir = await tempDir();
  const sample = await writeText(dir, "sample.txt", "a result that must not be lost\n");
  // The results folder cannot be made while a file stands where its parent should be.
  await writeText(dir, "blocker", "a file, not a folder\n");
  const results = join(dir, "blocker", "results");
  await Deno.writeTextFile(
    join(home, "stoq.toml"),
    `[core]\nalways_dispatch = ["hash"]\nconnector_retries = 0\n` +
      `[filedir]\nresults_dir = "${results}"\n`,
  );
  const scan = await runStoq(["scan", "-C", "filedir", sample], { home });
  equal(scan.code, 0, show(scan));
  match(scan.stderr, /filedir still failing after 0 retries; the result is kept in/);

  const list = await runStoq(["deadletter", "list", "--json"], { home });
  equal(list.code, 0, show(list));
  const listed = list.stdout.trim().split("\n").map((l) => JSON.parse(l));
  equal(listed.length, 1);
  deepEqual(listed[0].failed_connectors, ["filedir"]);
  equal(listed[0].filename, "sample.txt");
  match(list.stderr, /1 dead-lettered result\(s\) in .*dead-letter/);

  const early = await runStoq(["deadletter", "replay"], { home });
  equal(early.code, 1, show(early));
  match(early.stderr, /0 replayed, 1 still failing/);
  equal(
    (await runStoq(["deadletter", "list", "--json"], { home })).stdout.trim().split("\n").length,
    1,
  );

  await Deno.remove(join(dir, "blocker"));
  const replay = await runStoq(["deadletter", "replay"], { home });
  equal(replay.code, 0, show(replay));
  match(replay.stdout, new RegExp(`replayed ${listed[0].scan_id} to filedir`));
  match(replay.stderr, /1 replayed, 0 still failing/);
  const saved = await Array.fromAsync(Deno.readDir(results));
  equal(saved.length, 1);
  const doc = JSON.parse(await Deno.readTextFile(join(results, saved[0].name)));
  equal(doc.scan_id, listed[0].scan_id);
  deepEqual(doc.errors, [], "the save failure recorded when it was dead-lettered is gone");
  equal(doc.results[0].payload_meta.extra_data.filename, "sample.txt");
  const after = await runStoq(["deadletter", "list"], { home });
  equal(after.stdout, "");
  match(after.stderr, /0 dead-lettered result\(s\)/);
});

Deno.test("deadletter: bad subcommands and flags are usage errors", async () => {
  for (
    const [args, re] of [
      [[], /takes list or replay/],
      [["replya"], /did you mean "replay"/],
      [["list", "--connector", "x"], /--connector goes with replay/],
      [["replay", "--dri", "x"], /did you mean "--dir"/],
    ] as const
  ) {
    const r = await runStoq(["deadletter", ...args]);
    equal(r.code, 2, show(r));
    match(r.stderr, re);
  }
});
