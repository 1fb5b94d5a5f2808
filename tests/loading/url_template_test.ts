/**
 * The plugin templates in docs/template/: each works in-process with the project's test helpers,
 * and all three work pinned by URL, served from 127.0.0.1, in their Workers.
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { stoqAPI } from "../../core/engine/api.ts";
import type { StoqResponse } from "../../core/engine/plugin.ts";
import connector from "../../docs/template/connector.ts";
import dispatcher from "../../docs/template/dispatcher.ts";
import worker from "../../docs/template/worker.ts";
import { parseDoc, parseLines, runStoq, show, writeText } from "../cli_helpers.ts";
import { instantiate, makeCall, makePayload, makeRequest, sh, tempDir } from "../helpers.ts";
import { servePlugins } from "../plugin_url_server.ts";

const TEMPLATES = ["worker", "dispatcher", "connector"];
const MZ = new Uint8Array([0x4d, 0x5a, 0x90, 0x00, 0x03, 0x00, 0x00, 0x00, 0x04, 0x41, 0x42]);

Deno.test("each template is one short file", async () => {
  for (const t of TEMPLATES) {
    const text = await Deno.readTextFile(new URL(`../../docs/template/${t}.ts`, import.meta.url));
    const lines = text.trimEnd().split("\n").length;
    ok(lines < 40, `${t}.ts has ${lines} lines`);
    match(text, /^import type \{ StoqAPI \}/m, `${t}.ts imports stoq's types only`);
    equal(text.match(/^import /gm)?.length, 1, `${t}.ts imports nothing else`);
  }
});

Deno.test("template worker: leading bytes as od prints them, and the printable share", async () => {
  const { instance, call } = await instantiate(worker, { length: 6 });
  const p = makePayload(MZ);
  const out = await instance.scan!(p, makeRequest(p), call);
  const dir = await tempDir();
  await Deno.writeFile(`${dir}/mz.bin`, MZ);
  const od = (await sh("od", ["-An", "-tx1", "-N6", `${dir}/mz.bin`])).replace(/\s+/g, "");
  const printable = MZ.filter((b) => b >= 0x20 && b < 0x7f).length;
  deepEqual(out, {
    results: { head: od, printable_ratio: Math.round((printable / MZ.length) * 1000) / 1000 },
  });
  const empty = makePayload(new Uint8Array());
  deepEqual(await instance.scan!(empty, makeRequest(empty), call), {
    errors: ["empty payload: nothing to show"],
  });
});

Deno.test("template dispatcher: routes by magic, with the default and with given rules", async () => {
  const { instance, call } = await instantiate(dispatcher);
  const mz = makePayload(MZ);
  deepEqual(await instance.get_dispatches!(mz, makeRequest(mz), call), {
    plugin_names: ["head_hex"],
    meta: { magic: ["4d5a"] },
  });
  deepEqual(instance.dispatch_targets, ["head_hex"]);
  const pdf = makePayload("%PDF-1.7\n");
  deepEqual(await instance.get_dispatches!(pdf, makeRequest(pdf), call), {
    plugin_names: [],
    meta: { magic: [] },
  });
  const custom = await instantiate(dispatcher, {
    rules: [{ magic: "255044", workers: ["hash", "strings"] }, { magic: "25", workers: ["hash"] }],
  });
  deepEqual(await custom.instance.get_dispatches!(pdf, makeRequest(pdf), call), {
    plugin_names: ["hash", "strings"],
    meta: { magic: ["255044", "25"] },
  });
});

Deno.test("template connector: one JSON line per saved result", async () => {
  const def = connector(stoqAPI);
  const home = await tempDir("stoq-home-");
  const log = { debug() {}, info() {}, warn() {}, error() {} };
  const instance = await def.create(def.optionsSchema.parse({ file: "out.jsonl" }), {
    name: def.name,
    log,
    home,
  });
  const response = (id: string): StoqResponse => ({
    results: [],
    request_meta: { archive_payloads: true, source: null, extra_data: {} },
    errors: [],
    time: "2026-11-22T00:00:00.000Z",
    decorators: {},
    scan_id: id,
  });
  await instance.save!(response("a"), makeCall());
  await instance.save!(response("b"), makeCall());
  const lines = (await Deno.readTextFile(`${home}/jsonl/out.jsonl`)).trimEnd().split("\n");
  deepEqual(lines.map((l) => JSON.parse(l)), [response("a"), response("b")]);
  equal(def.optionsSchema.safeParse({ file: "../escape" }).success, false);
});

Deno.test("the three templates pinned by URL run in their Workers", async () => {
  const srv = servePlugins();
  try {
    const home = await tempDir("stoq-home-");
    const cwd = await tempDir();
    for (const t of TEMPLATES) {
      const text = await Deno.readTextFile(new URL(`../../docs/template/${t}.ts`, import.meta.url));
      const r = await runStoq(["plugin", "add", srv.put(`/${t}.ts`, text), "--yes"], { home, cwd });
      equal(r.code, 0, show(r));
    }
    await writeText(
      home,
      "stoq.toml",
      `[core]
dispatchers = ["magic_dispatch"]
connectors = ["jsonl_file"]
allow_plugin_write = ["$STOQ_HOME/jsonl"]
`,
    );
    const exe = `${cwd}/a.exe`;
    await Deno.writeFile(exe, MZ);
    const txt = await writeText(cwd, "b.txt", "just text");
    const one = await runStoq(["scan", exe], { home, cwd });
    equal(one.code, 0, show(one));
    const doc = parseDoc(one.stdout);
    deepEqual(doc.results[0].plugins_run.workers, ["head_hex"]);
    equal((doc.results[0].workers.head_hex as { head: string }).head, "4d5a900003000000");
    const two = await runStoq(["scan", "-C", "jsonl_file", exe, txt], { home, cwd });
    equal(two.code, 0, show(two));
    equal(two.stdout, "", "with -C the results go only to the connector");
    const saved = parseLines(await Deno.readTextFile(`${home}/jsonl/results.jsonl`), 3);
    const workers = saved.map((d) => d.results[0].plugins_run.workers.join(",")).sort();
    deepEqual(workers, ["", "head_hex", "head_hex"]);
    await srv.stop();
    const offline = await runStoq(["scan", txt], { home, cwd });
    equal(offline.code, 0, show(offline));
  } finally {
    await srv.stop();
  }
});
