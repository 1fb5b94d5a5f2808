/**
 * Issue 3's "done when", end to end through `./stoq`: a folder of real files goes through the
 * default pipeline with no flags, and each file reaches the workers its type calls for.
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { DEFAULT_CONFIG_TEXT } from "../../core/config.ts";
import { type ResultEntry, runStoq, show } from "../cli_helpers.ts";
import { sh, sha256, tempDir } from "../helpers.ts";
import { type RealFileName, realFiles } from "../realfiles.ts";

const CASE: RealFileName[] = [
  "hello.exe",
  "hello.elf",
  "report.doc",
  "report.docx",
  "report.pdf",
  "macro.xls",
  "mail.eml",
  "page.html",
  "archive.zip",
  "archive.tar.gz",
  "blob.b64",
  "hello.xor",
  "eicar.com",
];

interface Doc {
  results: (ResultEntry & { workers: Record<string, Record<string, unknown>> })[];
  errors: unknown[];
  decorators: Record<string, unknown>;
}

/** Runs the default pipeline (plus a clamav database and one extra rule folder) on the case. */
async function scanCase() {
  const files = await realFiles();
  const dir = await tempDir("case-");
  for (const name of CASE) await Deno.copyFile(files[name], join(dir, name));
  const home = await tempDir("home-");
  // freshclam cannot reach the internet here: a database with the sample's MD5, as a user's
  // own signatures would be.
  const md5 = (await sh("md5sum", [files["hello.exe"]])).split(" ")[0];
  const size = (await Deno.stat(files["hello.exe"])).size;
  await Deno.writeTextFile(join(home, "test.hdb"), `${md5}:${size}:Stoq.Test.HelloPE\n`);
  // The user's rule folder: one good file and one that does not compile.
  const rules = await tempDir("rules-");
  await Deno.writeTextFile(
    join(rules, "good.yar"),
    `rule says_hello { strings: $a = "Hello from the stoq test suite" condition: $a }\n`,
  );
  await Deno.writeTextFile(join(rules, "broken.yar"), "rule broken {\n  condition:\n    nope\n}\n");
  const config = DEFAULT_CONFIG_TEXT.replace(
    'worker_rules = ["builtin:stoq.yar"]',
    `worker_rules = ["builtin:stoq.yar", ${JSON.stringify(rules)}]`,
  ) + `\n[clamav]\ndatabase = ${JSON.stringify(join(home, "test.hdb"))}\n`;
  ok(config.includes(rules), "the default config names its worker rules as expected");
  await Deno.writeTextFile(join(home, "stoq.toml"), config);
  const run = await runStoq(["scan", dir], { home });
  equal(run.code, 0, show(run));
  const docs = run.stdout.trim().split("\n").map((l) => JSON.parse(l) as Doc);
  const byName = new Map(
    docs.map((d) => [String(d.results[0].payload_meta.extra_data.filename), d]),
  );
  return { run, byName, files, rules };
}

const ran = (d: Doc, i = 0) => d.results[i].plugins_run.workers;
const rulesOf = (d: Doc, i = 0) =>
  ((d.results[i].workers.yara?.matches ?? []) as { rule: string }[]).map((m) => m.rule);

Deno.test("default pipeline on real files: each file reaches the workers its type calls for", async () => {
  const { run, byName, files, rules } = await scanCase();
  deepEqual([...byName.keys()].sort(), [...CASE].sort());
  for (const [name, doc] of byName) {
    deepEqual(doc.errors, [], `${name}: ${JSON.stringify(doc.errors)}`);
  }

  // The broken rule file is reported with file, line and rule; the good one beside it still
  // matches.
  match(
    run.stderr,
    new RegExp(
      `worker rules: ${rules}/broken\\.yar skipped: ${rules}/broken\\.yar:3:5: unknown identifier`,
    ),
  );
  ok(rulesOf(byName.get("hello.exe")!).includes("says_hello"), "the good user rule matched");

  const always = ["entropy", "hash", "mimetype", "yara"];
  const exe = byName.get("hello.exe")!;
  deepEqual(ran(exe), [...always, "clamav", "exif", "hash_ssdeep", "hash_tlsh", "pe"].sort());
  deepEqual(exe.results[0].workers.clamav, {
    infected: true,
    signatures: ["Stoq.Test.HelloPE.UNOFFICIAL"],
    findings: [{
      id: "infected",
      severity: "critical",
      title: "ClamAV: malware signature",
      detail: "Stoq.Test.HelloPE.UNOFFICIAL",
    }],
  });
  // A malware signature is critical: the verdict says malicious, and why.
  const verdict = exe.decorators.verdict as { verdict: string; findings: { plugin: string }[] };
  equal(verdict.verdict, "malicious");
  equal(verdict.findings[0].plugin, "clamav");
  equal(exe.results[0].workers.exif.FileType, "Win64 EXE");
  const ssdeep = (await sh("ssdeep", ["-b", files["hello.exe"]])).trim().split("\n").pop()!;
  equal(exe.results[0].workers.hash_ssdeep.ssdeep, ssdeep.split(",")[0]);

  const elf = byName.get("hello.elf")!;
  deepEqual(ran(elf), [...always, "clamav", "elf", "exif", "hash_ssdeep", "hash_tlsh"].sort());
  deepEqual(elf.results[0].workers.clamav, { infected: false, signatures: [], findings: [] });
  equal(elf.results[0].workers.elf.interpreter, "/lib64/ld-linux-x86-64.so.2");

  const doc = byName.get("report.doc")!;
  deepEqual(
    ran(doc),
    [...always, "clamav", "encrypted_office", "exif", "hash_ssdeep", "ole", "textreader", "vba"]
      .sort(),
  );
  deepEqual(doc.results[0].workers.encrypted_office, { encrypted: false, container: "doc" });
  equal(doc.results[0].workers.exif.FileType, "DOC");
  ok(doc.results.some((r) => r.payload_meta.extra_data.name === "WordDocument"), "OLE streams");

  // OOXML is a zip: its parts are unpacked and scanned too.
  const docx = byName.get("report.docx")!;
  ok(["decompress", "exif", "ooxml"].every((w) => ran(docx).includes(w)), ran(docx).join());
  equal(docx.results[0].workers.exif.FileType, "DOCX");
  ok(docx.results.some((r) => r.payload_meta.extra_data.filename === "word/document.xml"));

  const pdf = byName.get("report.pdf")!;
  equal(pdf.results[0].workers.exif.FileType, "PDF");
  ok(ran(pdf).includes("pdf"), ran(pdf).join());
  equal(pdf.results[0].workers.pdf.pages, 1);

  const xls = byName.get("macro.xls")!;
  ok(rulesOf(xls).includes("office_ole_vba_macros"), rulesOf(xls).join());
  equal(xls.results[0].workers.vba.macros, true);
  ok(xls.results.some((r) => r.payload_meta.extra_data.filename === "Module1.bas"), "macro source");

  ok(ran(byName.get("page.html")!).includes("iocextract"), `${ran(byName.get("page.html")!)}`);
  // Mail goes to the email worker; its decoded body, not the raw MIME, goes to iocextract.
  const mail = byName.get("mail.eml")!;
  ok(ran(mail).includes("email") && !ran(mail).includes("iocextract"), ran(mail).join());
  const mailBody = mail.results.find((r) => r.payload_meta.extra_data.part === "body");
  ok(mailBody?.plugins_run.workers.includes("iocextract"), "the mail's body went to iocextract");
  const attached = mail.results.find((r) => r.payload_meta.extra_data.filename === "hello.exe");
  ok(attached?.plugins_run.workers.includes("exif"), "the attached hello.exe came out as a PE");

  // Archives: the members come out and are scanned.
  const zip = byName.get("archive.zip")!;
  ok(ran(zip).includes("decompress"));
  const fromZip = zip.results.find((r) => r.payload_meta.extra_data.filename === "hello.exe");
  ok(fromZip, "hello.exe came out of the zip");
  ok(fromZip.plugins_run.workers.includes("exif"), "and was routed as a PE");
  const tgz = byName.get("archive.tar.gz")!;
  ok(tgz.results.length >= 3, `tar.gz → tar → members: ${tgz.results.length}`);

  // base64 and XOR: the decoded child is hello.exe, byte for byte.
  const want = sha256(await Deno.readFile(files["hello.exe"]));
  for (const name of ["blob.b64", "hello.xor"]) {
    const d = byName.get(name)!;
    const child = d.results.find((r, i) => i > 0 && r.workers.hash?.sha256 === want);
    ok(child, `${name}: no child equal to hello.exe among ${d.results.length} results`);
    ok(child.plugins_run.workers.includes("exif"), `${name}: the decoded PE was routed as a PE`);
  }
  const xor = byName.get("hello.xor")!;
  ok(ran(xor).includes("xordecode"), "the yara dispatcher sent hello.xor to xordecode");
  deepEqual(xor.results[1].payload_meta.extra_data, { xorkey: [0x41] });
  equal(xor.results[0].payload_meta.should_archive, false, "dispatch rule save = false");

  const eicar = byName.get("eicar.com")!;
  deepEqual(rulesOf(eicar), ["eicar_test_file"]);
});

Deno.test("stoq route explain names a PE's flavors and why each worker would run", async () => {
  const files = await realFiles();
  const r = await runStoq(["route", "explain", "--json", files["hello.exe"], files["hello.xor"]]);
  equal(r.code, 0, show(r));
  const [exe, xor] = JSON.parse(r.stdout) as {
    path: string;
    dispatchers: { dispatcher: string; explanation: { facts: Record<string, unknown> } }[];
    workers: string[];
  }[];
  const flavors = exe.dispatchers[0].explanation.facts.flavors as string[];
  ok(flavors.includes("pe_file"), flavors.join());
  deepEqual(exe.workers, [
    "hash",
    "mimetype",
    "entropy",
    "yara",
    "exif",
    "pe",
    "hash_ssdeep",
    "hash_tlsh",
    "clamav",
  ]);
  deepEqual(xor.dispatchers[1].explanation.facts, { matching_dispatch_rules: ["xor_pe"] });
  ok(xor.workers.includes("xordecode"));

  const text = await runStoq(["route", "explain", files["hello.exe"]]);
  equal(text.code, 0, show(text));
  match(text.stdout, /\+ executables -> hash_ssdeep, hash_tlsh, clamav: flavor pe_file matches/);
  match(text.stdout, /- archives -> decompress: no flavor matches/);
  const bad = await runStoq(["route", "nonsense"]);
  equal(bad.code, 2);
  match(bad.stderr, /stoq route takes the subcommand explain/);
});
