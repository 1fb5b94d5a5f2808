/**
 * Issue 11's "done when" for XML, text, keywords, QR and the small formats, end to end through
 * `./stoq scan` with no flags: each file reaches its plugin, the text and QR children exist with
 * the exact bytes expected and reach iocextract and keywords.
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import { join } from "node:path";
import { type ResultEntry, runStoq, show } from "../cli_helpers.ts";
import { sh, sha256, tempDir } from "../helpers.ts";
import { QR_URL, TEMPLATE_URL, type TextFileName, textFiles } from "../fixtures/text_files.ts";

const CASE: TextFileName[] = [
  "external.xml",
  "remote_template.docx",
  "keyword.pdf",
  "quish.png",
  "app.jnlp",
  "query.iqy",
  "lure.url",
  "launch.plist",
  "launch.bplist",
];

// deno-lint-ignore no-explicit-any
type Any = any;
interface Doc {
  results: ResultEntry[];
  errors: { error: string; plugin_name: string | null }[];
}

const ids = (w: Any) => (w.findings as Any[]).map((f) => f.id);
const named = (d: Doc, name: string) => {
  const r = d.results.find((x) => x.payload_meta.extra_data.filename === name);
  ok(r, `no payload named ${name} in ${d.results.map((x) => x.payload_meta.extra_data.filename)}`);
  return r;
};

Deno.test("default pipeline: XML targets, document text, keywords, QR URLs and the small formats reach their plugins and iocextract", async () => {
  const files = await textFiles();
  const dir = await tempDir("text-case-");
  for (const n of CASE) await Deno.copyFile(files[n], join(dir, n));
  const run = await runStoq(["scan", dir]);
  equal(run.code, 0, show(run));
  const docs = run.stdout.trim().split("\n").map((l) => JSON.parse(l) as Doc);
  const by = new Map(docs.map((d) => [String(d.results[0].payload_meta.extra_data.filename), d]));
  deepEqual([...by.keys()].sort(), [...CASE].sort());
  for (const [name, d] of by) {
    // clamav needs a signature database this machine may lack; nothing else may fail.
    deepEqual(d.errors.filter((e) => e.plugin_name !== "clamav"), [], name);
  }

  // An .xml with external targets: the xml plugin's findings, and iocextract on the XML itself.
  const xml = by.get("external.xml")!.results[0].workers;
  deepEqual(ids(xml.xml), ["remote_template", "external_ole_object", "unc_path"]);
  ok((xml.iocextract.url as string[]).includes(TEMPLATE_URL));
  deepEqual(xml.iocextract.ipv4, ["198.51.100.7", "198.51.100.8"]);

  // The same relationships inside a DOCX: found in the part decompress takes out.
  const docx = by.get("remote_template.docx")!;
  deepEqual(ids(named(docx, "word/_rels/settings.xml.rels").workers.xml), [
    "remote_template",
    "external_ole_object",
    "unc_path",
  ]);

  // A PDF whose text holds keywords: the text child, exact bytes, read by iocextract and keywords.
  const pdf = by.get("keyword.pdf")!;
  equal(pdf.results[0].workers.textreader.extractor, "pdftotext");
  const child = named(pdf, "keyword.pdf.txt");
  const want =
    (await sh("pdftotext", ["-enc", "UTF-8", files["keyword.pdf"], "-"])).replaceAll("\f", "\n")
      .trim() + "\n";
  equal(child.workers.hash.sha256, sha256(want));
  deepEqual(child.extracted_by, ["textreader"]);
  deepEqual(child.workers.iocextract.url, ["https://pay.example.com/invoice/7731"]);
  deepEqual(child.workers.iocextract.email, ["billing@example.com"]);
  deepEqual(ids(child.workers.keywords), [
    "keywords_credentials",
    "keywords_phishing",
    "keywords_finance",
  ]);
  equal((child.workers.keywords.lists as Any).credentials.hits.password, 1);
  ok(!child.plugins_run.workers.includes("textreader"), "the text child is not read again");

  // A PNG with a QR code: the decoded URL in the result and, through the child, in iocextract.
  const png = by.get("quish.png")!;
  deepEqual(png.results[0].workers.qr.urls, [QR_URL]);
  deepEqual(ids(png.results[0].workers.qr), ["qr_url"]);
  const qrChild = named(png, "quish.png.qr.txt");
  equal(qrChild.workers.hash.sha256, sha256(`${QR_URL}\n`));
  deepEqual(qrChild.workers.iocextract.url, [QR_URL]);

  const jnlp = by.get("app.jnlp")!.results[0].workers;
  deepEqual((jnlp.jnlp.jars as Any[]).map((j) => j.url), [
    "http://203.0.113.77/apps/viewer.jar",
    "http://203.0.113.77/apps/lib/helper.jar",
  ]);
  equal(jnlp.jnlp.main_class, "com.acme.viewer.Main");
  ok(
    (jnlp.iocextract.url as string[]).includes("http://203.0.113.77/apps"),
    "XML reaches iocextract",
  );

  const iqy = by.get("query.iqy")!.results[0].workers;
  equal(iqy.iqy.url, `http://198.51.100.20/report.dat?id=["id","Enter your customer id"]`);
  deepEqual(ids(iqy.iqy), ["web_query"]);
  deepEqual(iqy.iocextract.ipv4, ["198.51.100.20"]);

  const url = by.get("lure.url")!.results[0].workers;
  equal(url.url_shortcut.url, "file://203.0.113.5/share/invoice.pdf.exe");
  equal(url.url_shortcut.icon_file, "\\\\203.0.113.5\\icons\\pdf.ico");
  equal(url.url_shortcut.working_directory, "C:\\Users\\Public");
  deepEqual(ids(url.url_shortcut), ["unc_path"]);

  for (const name of ["launch.plist", "launch.bplist"]) {
    const p = by.get(name)!.results[0].workers;
    equal(p.plist.format, name.endsWith("bplist") ? "binary" : "xml");
    equal((p.plist.launchd as Any).label, "com.apple.updater.agent");
    equal((p.plist.launchd as Any).run_at_load, true);
    deepEqual(ids(p.plist), ["launchd_persistence", "launchd_inline_script"]);
    deepEqual(
      p.iocextract.url,
      name.endsWith("bplist")
        ? ["http://203.0.113.9/p.sh"]
        : ["http://www.apple.com/DTDs/PropertyList-1.0.dtd", "http://203.0.113.9/p.sh"],
    );
  }
});

Deno.test("stoq route explain names the new flavors and routes", async () => {
  const files = await textFiles();
  const r = await runStoq([
    "route",
    "explain",
    "--json",
    ...[
      "external.xml",
      "quish.png",
      "lure.url",
      "query.iqy",
      "app.jnlp",
      "launch.bplist",
      "keyword.pdf",
    ].map((n) => files[n as TextFileName]),
  ]);
  equal(r.code, 0, show(r));
  const out = JSON.parse(r.stdout) as { workers: string[] }[];
  const extra = out.map((o) =>
    o.workers.filter((w) => !["hash", "mimetype", "entropy", "yara"].includes(w))
  );
  deepEqual(extra, [
    ["iocextract", "xml"],
    ["exif", "imagetrailer", "qr"],
    ["iocextract", "keywords", "url_shortcut"],
    ["iocextract", "keywords", "iqy"],
    ["iocextract", "xml", "jnlp"],
    ["iocextract", "plist"],
    ["exif", "pdf", "hash_ssdeep", "clamav", "textreader"],
  ]);
});
