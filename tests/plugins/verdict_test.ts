/**
 * The `verdict` decorator: on by default in `./stoq scan`, its options checked, and the scores of
 * real files: a phishing e-mail with a macro workbook attached scores above a plain text note,
 * with the findings that explain why (which plugin, on which payload path).
 */
import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import { stoqAPI } from "../../core/engine/api.ts";
import type { Verdict } from "../../core/engine/plugin.ts";
import verdict from "../../plugins/verdict.ts";
import { parseDoc, runStoq, show } from "../cli_helpers.ts";
import { instantiate } from "../helpers.ts";
import { realFiles } from "../realfiles.ts";
import { viewFiles } from "../fixtures/view_files.ts";

async function judged(path: string, extra: string[] = []): Promise<Verdict> {
  const r = await runStoq(["scan", ...extra, path]);
  equal(r.code, 0, show(r));
  const doc = parseDoc(r.stdout);
  ok(doc.decorators.verdict, "the default pipeline runs the verdict decorator");
  return doc.decorators.verdict as Verdict;
}

Deno.test("verdict: options are checked when it starts", async () => {
  await rejects(instantiate(verdict, { suspicious: 50, malicious: 10 }), /must not be below/);
  const schema = verdict(stoqAPI).optionsSchema;
  equal(schema.safeParse({ overrides: { "pe:overlay": 0, "yara:*": "info", x: 3 } }).success, true);
  equal(schema.safeParse({ overrides: { "Bad Key": 1 } }).success, false);
  equal(schema.safeParse({ overrides: { "pe:overlay": "severe" } }).success, false);
  equal(schema.safeParse({ medium: -1 }).success, false);
});

Deno.test("verdict: a plain text note is clean with no findings", async () => {
  const files = await viewFiles();
  const v = await judged(files["note.txt"]);
  deepEqual([v.verdict, v.score, v.findings], ["clean", 0, []]);
});

Deno.test("verdict: a macro workbook is suspicious, for its auto-run macro (vba) and YARA rules", async () => {
  const real = await realFiles();
  const v = await judged(real["macro.xls"]);
  equal(v.verdict, "suspicious");
  const by = Object.fromEntries(v.findings.map((f) => [`${f.plugin}:${f.id}`, f]));
  equal(by["vba:autoexec_macro"]?.points, 20);
  deepEqual(by["vba:autoexec_macro"].path, ["macro.xls"]);
  equal(by["yara:office_autoexec_macro"]?.severity, "low");
  equal(v.score, v.findings.reduce((s, f) => s + f.points, 0));
  // Configurable: an override and another threshold change the verdict.
  const quiet = await judged(real["macro.xls"], [
    "--plugin-opts",
    "verdict:medium=1",
    "verdict:suspicious=30",
  ]);
  equal(quiet.verdict, "clean");
  equal(quiet.findings.find((f) => f.id === "autoexec_macro")?.why, "medium: 1 points");
});

Deno.test("verdict: a phishing e-mail with a macro document scores above a plain text file, and says why", async () => {
  const files = await viewFiles();
  const plain = await judged(files["note.txt"]);
  const phish = await judged(files["phish.eml"]);
  ok(phish.score > plain.score, `phish ${phish.score} > plain ${plain.score}`);
  ok(["suspicious", "malicious"].includes(phish.verdict), phish.verdict);
  // The attachment inside the message: its auto-run macro, on the path mail → attachment.
  const macro = phish.findings.find((f) => f.plugin === "vba" && f.id === "autoexec_macro");
  ok(macro, JSON.stringify(phish.findings.map((f) => `${f.plugin}:${f.id}`)));
  deepEqual(macro.path, ["phish.eml", "invoice.xls"]);
  // The message itself (the email analyzer): a spoofed sender, a Reply-To elsewhere, a link that
  // shows one site and opens an IP address.
  const mail = phish.findings.filter((f) => f.plugin === "email");
  ok(mail.length >= 2, JSON.stringify(phish.findings.map((f) => `${f.plugin}:${f.id}`)));
  for (const f of mail) deepEqual(f.path, ["phish.eml"]);
  ok(phish.score >= phish.findings.reduce((s, f) => s + f.points, 0));
});
