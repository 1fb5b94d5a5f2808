/**
 * Per-payload cost of the pdf worker beside the yara worker (bundled rules) on the same PDFs:
 * each plugin's scan() is timed on every file (warm-up, then RUNS calls of each, alternating)
 * and the medians printed, as wall time and as CPU time (process.cpuUsage: on a busy machine
 * the wall time of both grows with the load, the CPU time much less).
 *
 *   ./node_modules/deno/deno run -A scripts/bench-pdf.ts [--runs N] FILE.pdf...
 */
import { stoqAPI } from "../core/engine/api.ts";
import { newPayloadResults, PayloadMetaSchema, RequestMetaSchema } from "../core/engine/model.ts";
import type { CallContext, PluginFactory, PluginInstance } from "../core/engine/plugin.ts";
import { createHash } from "node:crypto";
import process from "node:process";
import pdf from "../plugins/pdf.ts";
import yara from "../plugins/yara.ts";

const args = [...Deno.args];
let runs = 200;
const at = args.indexOf("--runs");
if (at >= 0) runs = Number(args.splice(at, 2)[1]);
if (!args.length) {
  console.error("usage: scripts/bench-pdf.ts [--runs N] FILE.pdf...");
  Deno.exit(2);
}

const log = { debug() {}, info() {}, warn() {}, error() {} };
async function make(factory: PluginFactory): Promise<PluginInstance> {
  const def = factory(stoqAPI);
  return await def.create(def.optionsSchema.parse({}), { name: def.name, log, home: "/tmp" });
}
const call = {
  signal: new AbortController().signal,
  exec: () => Promise.reject(new Error("no tools")),
  withTempFile: () => Promise.reject(new Error("no temp files")),
  spawn: () => {
    throw new Error("no tools");
  },
} as unknown as CallContext;
const plugins: [string, PluginInstance][] = [["pdf", await make(pdf)], ["yara", await make(yara)]];
const request = { payloads: [], request_meta: RequestMetaSchema.parse({}), errors: [] };

const median = (xs: number[]) => xs.sort((a, b) => a - b)[xs.length >> 1];
const all: Record<string, number[]> = { pdf: [], yara: [], "pdf cpu": [], "yara cpu": [] };
const columns = [...plugins.map(([n]) => `${n} ms`), ...plugins.map(([n]) => `${n} cpu ms`)];
console.log(["file", "bytes", ...columns].join("\t"));
for (const file of args) {
  const content = await Deno.readFile(file);
  const payload = {
    content,
    sha256: createHash("sha256").update(content).digest("hex"),
    results: newPayloadResults(content.length, PayloadMetaSchema.parse({})),
    dispatch_meta: {},
  };
  const row: string[] = [file.split("/").pop()!, String(content.length)];
  // Alternate the plugins call by call, so that both see the same load on a shared machine.
  for (const [, p] of plugins) for (let i = 0; i < 10; i++) await p.scan!(payload, request, call);
  const times: number[][] = plugins.map(() => []);
  const cpu: number[][] = plugins.map(() => []);
  for (let i = 0; i < runs; i++) {
    for (const [k, [, p]] of plugins.entries()) {
      const c = process.cpuUsage();
      const t = performance.now();
      await p.scan!(payload, request, call);
      times[k].push(performance.now() - t);
      const u = process.cpuUsage(c);
      cpu[k].push((u.user + u.system) / 1000);
    }
  }
  for (const [k, [name]] of plugins.entries()) {
    const m = median(times[k]);
    all[name].push(m);
    row.push(m.toFixed(3));
  }
  for (const [k, [name]] of plugins.entries()) {
    const m = median(cpu[k]);
    all[`${name} cpu`].push(m);
    row.push(m.toFixed(3));
  }
  console.log(row.join("\t"));
}
const keys = [...plugins.map(([n]) => n), ...plugins.map(([n]) => `${n} cpu`)];
console.log(
  ["median of the files' medians", "", ...keys.map((n) => median(all[n]).toFixed(3))].join("\t"),
);
