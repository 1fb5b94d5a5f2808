/**
 * Issue 10's "done when" for Office documents, OneNote and shortcuts, end to end: `./stoq scan`
 * with no flags on an encrypted .docx whose password is in the default list, a .docx with a
 * remote template and an embedded object, a .one with an embedded file and a .lnk gives the
 * fields, and every embedded file as a child with its exact sha256.
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import { join } from "node:path";
import { type ResultEntry, runStoq, show } from "../cli_helpers.ts";
import { sh, sha256, tempDir } from "../helpers.ts";
import { lnkFiles, RICH } from "../fixtures/lnk_files.ts";
import { OOXML, ooxmlFiles } from "../fixtures/ooxml_files.ts";
import { ONENOTE, oneNoteFiles, PNG_1X1 } from "../fixtures/onenote_files.ts";

// deno-lint-ignore no-explicit-any
type W = Record<string, any>;
interface Doc {
  results: (ResultEntry & { workers: Record<string, W> })[];
  errors: { plugin_name: string | null; error: string }[];
}

const MINE = ["lnk", "ooxml", "onenote", "encrypted_office", "decompress"];

Deno.test("default pipeline: encrypted .docx, remote-template .docx, .one and .lnk give their fields and children", async () => {
  const [office, one, lnk] = [await ooxmlFiles(), await oneNoteFiles(), await lnkFiles()];
  const dir = await tempDir("phish-");
  const inputs = {
    "standard.docx": office["standard.docx"],
    "invoice.docx": office["invoice.docx"],
    "invoice.one": one["invoice.one"],
    "rich.lnk": lnk["rich.lnk"],
  };
  for (const [name, path] of Object.entries(inputs)) await Deno.copyFile(path, join(dir, name));
  const run = await runStoq(["scan", dir]);
  equal(run.code, 0, show(run));
  const docs = run.stdout.trim().split("\n").map((l) => JSON.parse(l) as Doc);
  const byName = new Map(docs.map((d) => [d.results[0].payload_meta.extra_data.filename, d]));
  for (const [name, d] of byName) {
    deepEqual(d.errors.filter((e) => MINE.includes(e.plugin_name ?? "")), [], String(name));
  }
  const child = (d: Doc, filename: string) =>
    d.results.find((r) => r.payload_meta.extra_data.filename === filename);

  // The encrypted document: decrypted with "infected", the child is msoffcrypto-tool's bytes,
  // and the decrypted .docx is analysed in turn.
  const enc = byName.get("standard.docx")!;
  const eo = enc.results[0].workers.encrypted_office;
  deepEqual([eo.scheme, eo.decrypted, eo.password], ["standard", true, "infected"]);
  const decrypted = child(enc, "standard.decrypted.docx")!;
  await sh("msoffcrypto-tool", ["-p", "infected", inputs["standard.docx"], join(dir, "ms.docx")]);
  equal(decrypted.workers.hash.sha256, sha256(await Deno.readFile(join(dir, "ms.docx"))));
  deepEqual(decrypted.extracted_from, [enc.results[0].payload_id]);
  equal(decrypted.workers.ooxml.document_type, "word");
  ok(decrypted.plugins_run.workers.includes("decompress"));

  // The invoice: remote template, DDE, OLE objects; the embedded workbook is a child (once).
  const inv = byName.get("invoice.docx")!;
  const ox = inv.results[0].workers.ooxml;
  deepEqual(ox.remote_templates, [OOXML.remoteTemplate]);
  equal(ox.properties.creator, OOXML.creator);
  equal(ox.properties.company, OOXML.company);
  deepEqual(ox.dde.map((d: W) => d.instruction), [OOXML.dde, OOXML.ddeSimple]);
  deepEqual(ox.ole_objects.map((o: W) => o.prog_id), ["Excel.Sheet.12", "Word.Document.8"]);
  deepEqual(ox.findings.map((f: W) => f.id), [
    "ooxml_remote_template",
    "ooxml_external_ole_link",
    "ooxml_dde",
  ]);
  const embedded = inv.results.filter((r) =>
    r.payload_meta.extra_data.filename === "word/embeddings/oleObject1.xlsx"
  );
  equal(embedded.length, 1, "the embedded object is extracted once (by decompress)");
  const unzipped = new Uint8Array(
    (await new Deno.Command("unzip", {
      args: ["-p", inputs["invoice.docx"], "word/embeddings/oleObject1.xlsx"],
      stdout: "piped",
    }).output()).stdout,
  );
  equal(embedded[0].workers.hash.sha256, sha256(unzipped));
  equal(embedded[0].workers.ooxml.document_type, "excel");

  // The OneNote section: both embedded files, named, with their exact bytes.
  const note = byName.get("invoice.one")!;
  equal(note.results[0].workers.onenote.embedded_files.length, 2);
  equal(child(note, ONENOTE.scriptName)!.workers.hash.sha256, sha256(ONENOTE.script));
  const png = Uint8Array.from(PNG_1X1.match(/../g)!, (h) => parseInt(h, 16));
  equal(child(note, "embedded_1.png")!.workers.hash.sha256, sha256(png));

  // The shortcut: target, arguments, machine, MAC; the appended data as a child.
  const link = byName.get("rich.lnk")!;
  const l = link.results[0].workers.lnk;
  equal(l.target_path, RICH.basePath);
  equal(l.arguments, RICH.arguments);
  equal(l.tracker.machine_id, RICH.machineId);
  equal(l.tracker.droid.mac_address, RICH.mac);
  equal(l.link_info.volume_label, RICH.label);
  equal(child(link, "rich.lnk.appended")!.workers.hash.sha256, sha256(RICH.appended));
});
