/**
 * Per-payload cost of the `email` and `tnef` workers beside the `yara` worker (bundled stoq.yar)
 * on the same payloads: in-process `scan()` calls, the two workers taking turns so that both see
 * the same machine load, timed in process CPU time (what a busy scanner pays); the median after
 * a warm-up quarter.
 *
 *   ./node_modules/deno/deno run -A scripts/bench-email-analyzers.ts [ROUNDS]
 *
 * Payloads: the e-mail fixtures of tests/fixtures/email_files.ts, tests/realfiles.ts' mail.eml,
 * and a message with an 8 MiB attachment made here.
 */
import process from "node:process";
import { instantiate, makePayload, makeRequest } from "../tests/helpers.ts";
import { emailFiles } from "../tests/fixtures/email_files.ts";
import { realFiles } from "../tests/realfiles.ts";
import email from "../plugins/email.ts";
import tnef from "../plugins/tnef.ts";
import yara from "../plugins/yara.ts";
import type { PluginFactory } from "../core/engine/plugin.ts";

const rounds = Number(Deno.args[0] ?? 300);
const [files, real] = await Promise.all([emailFiles(), realFiles()]);
const read = (p: string) => Deno.readFile(p);

/** A message with an 8 MiB base64 attachment (deterministic bytes). */
function bigMessage(): Uint8Array {
  const data = new Uint8Array(8 * 1024 * 1024);
  let x = 1;
  for (let i = 0; i < data.length; i++) data[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
  const b64 = btoa(Array.from(data, (b) => String.fromCharCode(b)).join(""));
  const lines = b64.match(/.{1,76}/g)!.join("\r\n");
  return new TextEncoder().encode(
    "From: a@example.com\r\nTo: b@example.org\r\nSubject: big\r\n" +
      "Date: Wed, 06 Mar 2024 08:00:00 +0000\r\nMIME-Version: 1.0\r\n" +
      'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n' +
      "Content-Type: text/plain\r\n\r\nbig attachment\r\n--b\r\n" +
      'Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="big.bin"\r\n' +
      `Content-Transfer-Encoding: base64\r\n\r\n${lines}\r\n--b--\r\n`,
  );
}

const cases: [string, PluginFactory, Uint8Array][] = [
  ["mail.eml", email, await read(real["mail.eml"])],
  ["phish.eml", email, await read(files["phish.eml"])],
  ["alert.eml", email, await read(files["alert.eml"])],
  ["mpack.eml", email, await read(files["mpack.eml"])],
  ["tnef.eml", email, await read(files["tnef.eml"])],
  ["report.msg", email, await read(files["report.msg"])],
  ["winmail.dat", tnef, await read(files["winmail.dat"])],
  ["big.eml (8 MiB)", email, bigMessage()],
];

const yaraWorker = await instantiate(yara);
console.log("payload               bytes  worker   worker ms  yara ms  ratio");
for (const [name, factory, data] of cases) {
  const worker = await instantiate(factory);
  const n = data.length > 1e6 ? Math.max(8, Math.floor(rounds / 20)) : rounds;
  const times: [number[], number[]] = [[], []];
  for (let i = 0; i < n; i++) {
    for (const [k, { instance, call }] of [worker, yaraWorker].entries()) {
      const p = makePayload(data);
      const before = process.cpuUsage();
      await instance.scan!(p, makeRequest(p), call);
      const used = process.cpuUsage(before);
      times[k].push((used.user + used.system) / 1000);
    }
  }
  await worker.instance.close?.();
  const [w, y] = times.map((t) => t.slice(Math.floor(n / 4)).sort((a, b) => a - b)).map((t) =>
    t[Math.floor(t.length / 2)]
  );
  const plugin = name === "winmail.dat" ? "tnef" : "email";
  console.log(
    `${name.padEnd(20)} ${String(data.length).padStart(8)}  ${plugin.padEnd(7)} ${
      w.toFixed(3).padStart(9)
    } ${y.toFixed(3).padStart(8)} ${(w / y).toFixed(2).padStart(6)}`,
  );
}
await yaraWorker.instance.close?.();
