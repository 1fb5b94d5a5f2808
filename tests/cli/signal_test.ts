/** `stoq scan` of many inputs stopped by SIGINT: what was scanned is printed, the rest is named. */
import { equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { parseDoc, sleepyPlugin, STOQ, writeText } from "../cli_helpers.ts";
import { tempDir } from "../helpers.ts";

const SLOW = sleepyPlugin("slow", 50);

Deno.test("scan stopped by SIGINT: scanned inputs are printed, the others named; exit 1", async () => {
  const total = 60;
  const root = await tempDir();
  const inputs = join(root, "in");
  await Deno.mkdir(inputs);
  for (let i = 0; i < total; i++) {
    await writeText(inputs, `f${String(i).padStart(2, "0")}.txt`, `file ${i}\n`);
  }
  const plugins = join(root, "plugins");
  await Deno.mkdir(plugins);
  await writeText(plugins, "slow.ts", SLOW);
  const cfg = await writeText(
    root,
    "stoq.toml",
    '[core]\nalways_dispatch = ["hash", "slow"]\nprovider_consumers = 2\nmax_queue = 2\n',
  );
  const child = new Deno.Command(STOQ, {
    args: ["scan", "--config", cfg, "--plugin-dir", plugins, inputs],
    cwd: root,
    env: { STOQ_HOME: await tempDir(), NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // Wait for the first result line, then interrupt.
  const reader = child.stdout.getReader();
  const chunks: Uint8Array[] = [];
  const dec = new TextDecoder();
  while (!chunks.some((c) => c.includes(10))) {
    const { value, done } = await reader.read();
    if (done) break;
    chunks.push(value);
  }
  child.kill("SIGINT");
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    chunks.push(value);
  }
  const status = await child.status;
  const stderr = dec.decode(await new Response(child.stderr).arrayBuffer());
  const lines = chunks.map((c) => dec.decode(c, { stream: true })).join("").trim().split("\n");
  equal(status.code, 1, stderr);
  const printed = lines.map((l) => parseDoc(l).results[0].payload_meta.extra_data.filename);
  const named = /stopped before scanning (\d+) input\(s\): (.*)/.exec(stderr);
  ok(named, stderr);
  // Every input is accounted for exactly once: printed with a result, or named as not scanned.
  equal(printed.length + Number(named[1]), total, stderr);
  ok(printed.length < total);
  for (const name of printed) ok(!named[2].includes(`/${name}`), `${name} printed and named`);
  match(stderr, /\d+ scanned, 0 failed, \d+ not scanned \(stopped\)/);
});

Deno.test("scan | head: when stdout's reader goes away the run stops quietly with status 0", async () => {
  const root = await tempDir();
  const inputs = join(root, "in");
  await Deno.mkdir(inputs);
  for (let i = 0; i < 300; i++) await writeText(inputs, `f${i}.txt`, `file ${i}\n`.repeat(50));
  const child = new Deno.Command(STOQ, {
    args: ["scan", inputs],
    cwd: root,
    env: { STOQ_HOME: await tempDir(), NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const reader = child.stdout.getReader();
  const { value } = await reader.read();
  ok(value && value.length > 0, "a first result was printed");
  await reader.cancel(); // like `head` exiting
  const status = await child.status;
  const stderr = new TextDecoder().decode(await new Response(child.stderr).arrayBuffer());
  equal(status.code, 0, stderr);
  equal(stderr, "", "nothing on stderr");
});
