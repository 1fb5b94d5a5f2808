/** Logging and progress as a user sees them: the rotating log file, and the progress line. */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { runStoq, writeText } from "../cli_helpers.ts";
import { tempDir } from "../helpers.ts";

Deno.test("log_dir: lines also go to stoq.log, rotated at log_maxbytes, log_backup_count kept", async () => {
  const root = await tempDir();
  const logs = join(root, "logs");
  const cfg = await writeText(
    root,
    "stoq.toml",
    `[core]\nalways_dispatch = ["hash"]\nlog_dir = "${logs}"\nlog_maxbytes = 400\nlog_backup_count = 2\n`,
  );
  const file = await writeText(root, "a.txt", "some text\n");
  for (let i = 0; i < 6; i++) {
    const run = await runStoq(["scan", "--config", cfg, "--log-level", "debug", file]);
    equal(run.code, 0, run.stderr);
    match(run.stderr, /DEBUG\] stoq: scanned /, "stderr still has the log lines");
  }
  const names = [...Deno.readDirSync(logs)].map((e) => e.name).sort();
  deepEqual(names, ["stoq.log", "stoq.log.1", "stoq.log.2"]);
  for (const name of names) {
    const text = await Deno.readTextFile(join(logs, name));
    ok(text.length > 0 && text.length <= 400, `${name} is within log_maxbytes (${text.length})`);
    match(text, /stoq: scanned /);
  }
});

Deno.test("--progress shows done/total and the rate on stderr, even when it is not a terminal", async () => {
  const root = await tempDir();
  const files = [];
  for (let i = 0; i < 3; i++) files.push(await writeText(root, `f${i}.txt`, `file ${i}\n`));
  const run = await runStoq(["scan", "--progress", "-a", "hash", ...files]);
  equal(run.code, 0, run.stderr);
  match(run.stderr, /3\/3 \| [\d.]+\/s \| 0 failed/);
  equal(run.stdout.trim().split("\n").length, 3, "results still go to stdout");
});

Deno.test("--log-format json on scan threads: each scan is one small record", async () => {
  const root = await tempDir();
  const a = await writeText(root, "a.txt", "alpha\n");
  const b = await writeText(root, "b.txt", "beta\n");
  const run = await runStoq(["scan", "--log-format", "json", "--log-level", "debug", a, b]);
  equal(run.code, 0, run.stderr);
  const records = run.stderr.trim().split("\n").map((l) => JSON.parse(l));
  const scanned = records.filter((r) => String(r.message).startsWith("scanned "));
  equal(scanned.length, 2, run.stderr);
  for (const r of scanned) {
    deepEqual(Object.keys(r), [
      "time",
      "level",
      "logger",
      "message",
      "scan_id",
      "payloads",
      "errors",
      "ms",
    ]);
  }
});

Deno.test("a broken plugin module is reported once, not again by every scan thread", async () => {
  const root = await tempDir();
  const plugins = join(root, "plugins");
  await Deno.mkdir(plugins);
  await writeText(plugins, "broken.ts", "export default 5; this is not TypeScript(\n");
  const a = await writeText(root, "a.txt", "alpha\n");
  const b = await writeText(root, "b.txt", "beta\n");
  const run = await runStoq(["scan", "--plugin-dir", plugins, "--threads", "2", a, b]);
  equal(run.code, 0, run.stderr);
  equal(run.stderr.match(/broken\.ts was not loaded/g)?.length, 1, run.stderr);
});
