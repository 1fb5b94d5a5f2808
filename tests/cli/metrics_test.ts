/** `--metrics`: a Prometheus endpoint with scans, payloads, per-plugin time, errors and the queue. */
import { equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { STOQ } from "../cli_helpers.ts";
import { tempDir } from "../helpers.ts";

/** A free TCP port on 127.0.0.1. */
function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function scrape(port: number): Promise<string | undefined> {
  try {
    const r = await fetch(`http://127.0.0.1:${port}/metrics`);
    return r.ok ? await r.text() : undefined;
  } catch {
    return undefined;
  }
}

/** The value of one series in a scrape. */
function value(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

Deno.test("--metrics: a run serves scans, payloads, bytes, per-plugin calls, time and errors", async () => {
  const dir = await tempDir();
  const home = await tempDir();
  const src = join(dir, "in");
  await Deno.mkdir(src);
  let bytes = 0;
  for (let i = 0; i < 20; i++) {
    const text = `file ${i} `.repeat(100 + i);
    bytes += text.length;
    await Deno.writeTextFile(join(src, `f${i}.txt`), text);
  }
  // A worker that always reports an error, to see errors counted per plugin; and a provider
  // that queues the files, then waits to be stopped, so the endpoint stays up to be read.
  const plugins = join(dir, "plugins");
  await Deno.mkdir(plugins);
  await Deno.writeTextFile(
    join(plugins, "grumpy.ts"),
    `export default (stoq) => stoq.plugin({ name: "grumpy", version: "1", description: "d",
  classes: ["worker"], create: () => ({ scan: () => ({ errors: ["no"] }) }) });\n`,
  );
  await Deno.writeTextFile(
    join(plugins, "lingering.ts"),
    `export default (stoq) => stoq.plugin({ name: "lingering", version: "1", description: "d",
  classes: ["provider"], create: () => ({ async ingest(queue, call) {
    for (const e of Deno.readDirSync(${JSON.stringify(src)})) {
      await queue.put({ path: ${JSON.stringify(src)} + "/" + e.name });
    }
    await new Promise((r) => call.signal.addEventListener("abort", r));
  } }) });\n`,
  );
  const port = freePort();
  const child = new Deno.Command(STOQ, {
    args: [
      "run",
      "-P",
      "lingering",
      "-a",
      "hash",
      "grumpy",
      "--plugin-dir",
      plugins,
      "-C",
      "filedir",
      "--plugin-opts",
      `filedir:results_dir=${join(dir, "out")}`,
      "--metrics",
      `127.0.0.1:${port}`,
      "--threads",
      "2",
    ],
    env: { STOQ_HOME: home, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // Scrape until every scan is counted, then stop the run.
  let last: string | undefined;
  for (let i = 0; i < 400; i++) {
    last = await scrape(port) ?? last;
    if (last && value(last, 'stoq_scans_total{outcome="scanned"}') === 20) break;
    await new Promise((r) => setTimeout(r, 25));
  }
  child.kill("SIGTERM");
  const out = await child.output();
  equal(out.code, 0, new TextDecoder().decode(out.stderr));
  ok(last, "the endpoint answered while the run was on");
  match(last, /# TYPE stoq_scans_total counter/);
  equal(value(last, 'stoq_scans_total{outcome="scanned"}'), 20);
  equal(value(last, "stoq_payloads_total"), 20);
  equal(value(last, "stoq_payload_bytes_total"), bytes);
  equal(value(last, 'stoq_plugin_calls_total{plugin="hash"}'), 20);
  equal(value(last, 'stoq_plugin_errors_total{plugin="grumpy"}'), 20);
  ok(value(last, 'stoq_plugin_seconds_total{plugin="hash"}')! > 0);
  ok(value(last, "stoq_queue_depth") !== undefined, "queue depth is served");
  equal(value(last, 'stoq_plugin_calls_total{plugin="filedir"}'), 20, "one connector save each");
  // The server is gone with the process.
  equal(await scrape(port), undefined);
});

Deno.test("--metrics: a malformed address is a usage error; a taken port a clear error", async () => {
  const home = await tempDir();
  const run = async (arg: string) => {
    const out = await new Deno.Command(STOQ, {
      args: ["scan", "/etc/hostname", "--metrics", arg],
      env: { STOQ_HOME: home, NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
  };
  const bad = await run("localhost");
  equal(bad.code, 2);
  match(bad.stderr, /--metrics wants PORT or HOST:PORT, not "localhost"/);
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (taken.addr as Deno.NetAddr).port;
  try {
    const busy = await run(`127.0.0.1:${port}`);
    equal(busy.code, 1);
    match(
      busy.stderr,
      new RegExp(`cannot serve metrics on 127\\.0\\.0\\.1:${port}: .*in use`, "i"),
    );
  } finally {
    taken.close();
  }
});
