/**
 * Issue 10's "done when" for e-mail, end to end: `./stoq scan FILE` with no flags on a
 * phishing-style .eml, an .msg, a winmail.dat and an .eml that carries one, gives the message's
 * fields and every embedded file as a child with its exact sha256; the decoded bodies, not the
 * raw MIME, go to iocextract.
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import { parseDoc, type ResultEntry, runStoq, show } from "../cli_helpers.ts";
import { sha256 } from "../helpers.ts";
import { emailFiles, MSG, PHISH_URL } from "../fixtures/email_files.ts";
import { realFiles } from "../realfiles.ts";

async function scanDefault(path: string) {
  const run = await runStoq(["scan", path]);
  equal(run.code, 0, show(run));
  const doc = parseDoc(run.stdout);
  // clamav has no signature database on a machine without freshclam: not this test's concern.
  const errors = doc.errors.filter((e) => e.plugin_name !== "clamav");
  deepEqual(errors, [], JSON.stringify(errors));
  return doc.results;
}

const name = (r: ResultEntry) => r.payload_meta.extra_data.filename;
const sha = (r: ResultEntry) => (r.workers.hash as { sha256: string }).sha256;
const fileSha = async (path: string) => sha256(await Deno.readFile(path));

Deno.test("stoq scan phish.eml: headers, hops, verdicts, links, findings; every attachment a child with its sha256", async () => {
  const [files, real] = await Promise.all([emailFiles(), realFiles()]);
  const results = await scanDefault(files["phish.eml"]);
  const root = results[0];
  ok(root.plugins_run.workers.includes("email"));
  ok(!root.plugins_run.workers.includes("iocextract"), "the raw MIME is not scanned for IOCs");
  const e = root.workers.email as Record<string, unknown> & {
    findings: { id: string }[];
    authentication: Record<string, unknown>;
    received: unknown[];
  };
  equal(e.subject, "Ihr Konto wurde eingeschränkt – Aktion erforderlich");
  equal(e.date, "2024-03-05T09:41:02.000Z");
  deepEqual([e.authentication.spf, e.authentication.dkim, e.authentication.dmarc], [
    "fail",
    "none",
    "fail",
  ]);
  equal(e.received.length, 3);
  ok((e.links as string[]).includes(PHISH_URL));
  deepEqual(e.findings.map((f) => f.id), [
    "display_name_spoofing",
    "dmarc_fail",
    "reply_to_domain_mismatch",
    "spf_fail",
    "macro_capable_attachment",
    "link_text_domain_mismatch",
    "html_form",
    "return_path_domain_mismatch",
  ]);

  // Each attachment, the zip's members and the forwarded message's attachment, by sha256.
  const want: [string, string][] = [
    ["logo.jpg", await fileSha(real["image.jpg"])],
    ["Rechnung_2024-0305.xls", await fileSha(real["macro.xls"])],
    ["Zahlungsübersicht März.doc", await fileSha(real["report.doc"])],
    ["Unterlagen.zip", await fileSha(real["archive.zip"])],
    ["hello.exe", await fileSha(real["hello.exe"])],
    ["Rechnung.pdf.exe", await fileSha(real["inject.exe"])],
  ];
  for (const [file, hash] of want) {
    const child = results.find((r) => name(r) === file);
    ok(child, `${file} is a child: ${results.map(name)}`);
    equal(sha(child), hash, file);
  }
  const xls = results.find((r) => name(r) === "Rechnung_2024-0305.xls")!;
  const rules = (xls.workers.yara as { matches: { rule: string }[] }).matches.map((m) => m.rule);
  ok(rules.includes("office_ole_vba_macros"), "the attached .xls carries a VBA macro");
  const nested = results.find((r) => name(r) === "Weitergeleitet.eml")!;
  ok(nested.plugins_run.workers.includes("email"), "the forwarded message is scanned as mail");
  equal((nested.workers.email as { subject: string }).subject, "Grüße aus Köln");

  // The decoded bodies are children that iocextract reads: the URL is whole there.
  const bodies = results.filter((r) => r.payload_meta.extra_data.part === "body");
  equal(bodies.length, 3, "text and HTML of the message, text of the forwarded one");
  for (const b of bodies) {
    ok(b.plugins_run.workers.includes("iocextract"), JSON.stringify(b.payload_meta));
  }
  const urls = bodies.flatMap((b) => (b.workers.iocextract as { url?: string[] }).url ?? []);
  ok(urls.includes(PHISH_URL), urls.join("\n"));
  ok(!urls.some((u) => u.includes("=3D")), "no quoted-printable left in any URL");
  const hashes = bodies.flatMap((b) => Object.keys(b.workers.iocextract as object))
    .filter((k) => /^(md5|sha1|sha256|sha512)$/.test(k));
  deepEqual(hashes, [], "no hash IOCs out of base64 or the Message-ID");
});

Deno.test("stoq scan report.msg: the Outlook item's fields, attachments and embedded item as children", async () => {
  const [files, real] = await Promise.all([emailFiles(), realFiles()]);
  const results = await scanDefault(files["report.msg"]);
  const root = results[0];
  ok(root.plugins_run.workers.includes("email"), root.plugins_run.workers.join());
  const e = root.workers.email as { format: string; subject: string; from: { address: string } };
  deepEqual([e.format, e.subject, e.from.address], ["msg", MSG.subject, MSG.senderSmtp]);
  equal(sha(results.find((r) => name(r) === MSG.docName)!), await fileSha(real["report.doc"]));
  equal(sha(results.find((r) => name(r) === MSG.jpgName)!), await fileSha(real["image.jpg"]));
  const embedded = results.find((r) => name(r) === `${MSG.embeddedSubject}.msg`)!;
  ok(embedded.plugins_run.workers.includes("email"), "the embedded item is scanned as mail");
  equal(sha(results.find((r) => name(r) === MSG.noteName)!), sha256(MSG.noteContent));
});

Deno.test("stoq scan winmail.dat and tnef.eml: TNEF attachments come out byte for byte", async () => {
  const [files, real] = await Promise.all([emailFiles(), realFiles()]);
  for (const file of ["winmail.dat", "tnef.eml"] as const) {
    const results = await scanDefault(files[file]);
    const dat = results.find((r) => r.plugins_run.workers.includes("tnef"));
    ok(dat, `${file}: something ran tnef: ${results.map((r) => r.plugins_run.workers)}`);
    if (file === "tnef.eml") equal(name(dat), "winmail.dat");
    equal((dat.workers.tnef as { subject: string }).subject, "Rechnung März");
    equal(
      sha(results.find((r) => name(r) === "Invoice 4471.doc")!),
      await fileSha(real["report.doc"]),
    );
    equal(sha(results.find((r) => name(r) === "image.jpg")!), await fileSha(real["image.jpg"]));
    equal(sha(results.find((r) => name(r) === "NOTES.TXT")!), sha256("embedded note\r\n"));
  }
});
