/**
 * Per-payload cost of the web and script analyzers (html, javascript, powershell, vbscript,
 * batch) beside the `yara` worker (bundled stoq.yar) on the same payloads: the median of many
 * in-process `scan()` calls after a warm-up, so neither process start nor plugin load counts.
 *
 *   ./node_modules/deno/deno run -A scripts/bench-script-analyzers.ts [ROUNDS]
 *
 * Payloads: the script fixtures of tests/fixtures/script_files.ts and the inline script and
 * encoded command they hide, each scanned by the analyzer the default routing gives it.
 */
import { instantiate, makePayload, makeRequest } from "../tests/helpers.ts";
import { scriptFiles } from "../tests/fixtures/script_files.ts";
import html from "../plugins/html.ts";
import javascript from "../plugins/javascript.ts";
import powershell from "../plugins/powershell.ts";
import vbscript from "../plugins/vbscript.ts";
import batch from "../plugins/batch.ts";
import yara from "../plugins/yara.ts";
import type { PluginFactory } from "../core/engine/plugin.ts";

const rounds = Number(Deno.args[0] ?? 300);
const { files, manifest } = await scriptFiles();
const read = (p: string) => Deno.readFile(p);
const cases: [string, PluginFactory, Uint8Array][] = [
  ["phish.html", html, await read(files["phish.html"])],
  ["app.hta", html, await read(files["app.hta"])],
  ["dropper.js", javascript, await read(files["dropper.js"])],
  ["written.html", html, new TextEncoder().encode(manifest.written_html)],
  ["oneliner.txt", powershell, await read(files["oneliner.txt"])],
  ["obfuscated.ps1", powershell, await read(files["obfuscated.ps1"])],
  ["encoded_command.ps1", powershell, new TextEncoder().encode(manifest.oneliner_script)],
  ["dropper.vbs", vbscript, await read(files["dropper.vbs"])],
  ["dropper.bat", batch, await read(files["dropper.bat"])],
];

async function median(factory: PluginFactory, data: Uint8Array): Promise<number> {
  const { instance, call } = await instantiate(factory);
  const p = makePayload(data);
  const req = makeRequest(p);
  for (let i = 0; i < 20; i++) await instance.scan!(p, req, call);
  const times: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const t = performance.now();
    await instance.scan!(p, req, call);
    times.push(performance.now() - t);
  }
  await instance.close?.();
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

console.log("payload               bytes  analyzer     analyzer ms  yara ms");
for (const [name, factory, data] of cases) {
  const a = await median(factory, data);
  const y = await median(yara, data);
  const plugin = factory(await import("../core/engine/api.ts").then((m) => m.stoqAPI)).name;
  console.log(
    `${name.padEnd(20)} ${String(data.length).padStart(6)}  ${plugin.padEnd(11)} ${
      a.toFixed(3).padStart(11)
    } ${y.toFixed(3).padStart(8)}`,
  );
}
