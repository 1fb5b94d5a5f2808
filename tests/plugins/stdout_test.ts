import { deepEqual, equal, ok } from "node:assert/strict";
import { join } from "node:path";
import stdout, { writeAll } from "../../plugins/stdout.ts";
import type { StoqResponse } from "../../core/engine/plugin.ts";
import { instantiate, tempDir } from "../helpers.ts";

const ROOT = new URL("../..", import.meta.url);
const PLUGIN = new URL("plugins/stdout.ts", ROOT).href;
const API = new URL("core/engine/api.ts", ROOT).href;

/** Two responses big enough (~1 MiB each) that a pipe takes each in many partial writes. */
function response(scanId: string, fill: string) {
  return {
    results: [{
      size: 1,
      payload_id: scanId,
      payload_meta: { should_archive: true, should_scan: true, extra_data: {}, dispatch_to: [] },
      plugins_run: { workers: ["big"], archivers: [] },
      extracted_from: [],
      extracted_by: [],
      workers: { big: { text: fill.repeat(1 << 20), 猫: "é" } },
      archivers: {},
    }],
    request_meta: { archive_payloads: true, source: null, extra_data: {} },
    errors: [],
    time: "2024-01-02T03:04:05.000000",
    decorators: {},
    scan_id: scanId,
  };
}

/** Runs a child Deno that saves both responses concurrently; returns its stdout as text. */
async function runChild(options: Record<string, unknown>): Promise<string> {
  const dir = await tempDir();
  const script = join(dir, "save_two.ts");
  await Deno.writeTextFile(
    script,
    `import factory from ${JSON.stringify(PLUGIN)};
import { stoqAPI } from ${JSON.stringify(API)};
const def = factory(stoqAPI);
const log = { debug() {}, info() {}, warn() {}, error() {} };
const inst = await def.create(def.optionsSchema.parse(${JSON.stringify(options)}), {
  name: def.name, log, home: ${JSON.stringify(dir)},
});
const call = {
  signal: new AbortController().signal,
  exec: () => { throw new Error("no"); },
  withTempFile: () => { throw new Error("no"); },
};
const [a, b] = JSON.parse(await Deno.readTextFile(${JSON.stringify(join(dir, "in.json"))}));
await Promise.all([inst.save(a, call), inst.save(b, call)]);
await inst.close();
`,
  );
  await Deno.writeTextFile(
    join(dir, "in.json"),
    JSON.stringify([response("A", "a"), response("B", "b")]),
  );
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--config", new URL("deno.json", ROOT).pathname, script],
    cwd: new URL(".", ROOT).pathname,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  ok(out.success, `child failed: ${stderr}`);
  return new TextDecoder().decode(out.stdout);
}

Deno.test("stdout: concurrent saves give two whole indented JSON documents", async () => {
  const text = await runChild({});
  const a = JSON.stringify(response("A", "a"), null, 4) + "\n";
  const b = JSON.stringify(response("B", "b"), null, 4) + "\n";
  ok(text === a + b || text === b + a, `unexpected output (${text.length} chars)`);
});

Deno.test("stdout: indent 0 gives exactly two compact lines", async () => {
  const text = await runChild({ indent: 0 });
  ok(text.endsWith("\n"));
  const lines = text.slice(0, -1).split("\n");
  equal(lines.length, 2);
  const docs = lines.map((l) => JSON.parse(l));
  deepEqual(docs.map((d) => d.scan_id).sort(), ["A", "B"]);
  for (const [i, d] of docs.entries()) equal(lines[i], JSON.stringify(d));
  deepEqual(docs.find((d) => d.scan_id === "A"), response("A", "a"));
});

Deno.test("stdout: writeAll keeps writing after partial writes", async () => {
  const got: number[] = [];
  const writer = {
    write(p: Uint8Array) {
      const n = Math.min(3, p.length);
      got.push(...p.subarray(0, n));
      return Promise.resolve(n);
    },
  };
  const bytes = new Uint8Array(100).map((_, i) => i);
  await writeAll(writer, bytes);
  deepEqual(got, [...bytes]);
});

Deno.test("stdout: documents are not interleaved when stdout takes small partial writes", async () => {
  const { instance, call } = await instantiate(stdout, { indent: 2 });
  const chunks: Uint8Array[] = [];
  const real = Deno.stdout.write;
  // A slow pipe: at most 64 KiB per write, and other tasks get to run between writes.
  Deno.stdout.write = async (p: Uint8Array) => {
    await new Promise((r) => setTimeout(r, 0));
    const n = Math.min(65536, p.length);
    chunks.push(p.slice(0, n));
    return n;
  };
  try {
    const a = response("A", "a") as StoqResponse;
    const b = response("B", "b") as StoqResponse;
    await Promise.all([instance.save!(a, call), instance.save!(b, call)]);
    await instance.close!();
  } finally {
    Deno.stdout.write = real;
  }
  const dec = new TextDecoder();
  const text = chunks.map((c) => dec.decode(c, { stream: true })).join("") + dec.decode();
  const a = JSON.stringify(response("A", "a"), null, 2) + "\n";
  const b = JSON.stringify(response("B", "b"), null, 2) + "\n";
  ok(chunks.length > 2, "the fake pipe should have forced partial writes");
  ok(text === a + b || text === b + a, `documents were interleaved (${text.length} chars)`);
});
