/**
 * Issue 11's "done when" for web pages and scripts, end to end through `./stoq scan FILE` with no
 * flags: an HTML page with a login form and an obfuscated inline script, a .js dropper and a
 * PowerShell one-liner with -EncodedCommand give their fields, and the scripts and blobs hidden
 * in them come out as children with exactly the bytes the fixture builder put in.
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import { parseDoc, type ResultDoc, type ResultEntry, runStoq, show } from "../cli_helpers.ts";
import { sha256 } from "../helpers.ts";
import { type ScriptFileName, scriptFiles } from "../fixtures/script_files.ts";
import type { Json } from "../plugins/script_helpers.ts";

async function scan(name: ScriptFileName): Promise<ResultDoc> {
  const { files } = await scriptFiles();
  const run = await runStoq(["scan", files[name]]);
  equal(run.code, 0, show(run));
  const doc = parseDoc(run.stdout);
  deepEqual(doc.errors, [], `${name}: ${JSON.stringify(doc.errors)}`);
  return doc;
}

const named = (doc: ResultDoc, filename: string): ResultEntry => {
  const e = doc.results.find((r) => r.payload_meta.extra_data.filename === filename);
  ok(e, `no ${filename} among ${doc.results.map((r) => r.payload_meta.extra_data.filename)}`);
  return e;
};
const worker = (e: ResultEntry, name: string): Record<string, Json> => {
  ok(e.plugins_run.workers.includes(name), `${name} did not run: ${e.plugins_run.workers}`);
  return e.workers[name];
};
const ids = (w: Record<string, Json>) => w.findings.map((f: { id: string }) => f.id).sort();
const parentOf = (doc: ResultDoc, e: ResultEntry) =>
  doc.results.find((r) => r.payload_id === e.extracted_from[0])!;

Deno.test("stoq scan phish.html: form, frames, refresh, smuggled zip, and the obfuscated script down to the iframe it writes", async () => {
  const { files, manifest } = await scriptFiles();
  const doc = await scan("phish.html");
  const page = worker(doc.results[0], "html");
  equal(page.title, "Microsoft 365 - Sign in");
  deepEqual(page.forms[0].inputs.map((i: { name: string }) => i.name), [
    "login",
    "passwd",
    "campaign",
    null,
  ]);
  deepEqual(ids(page), [
    "hidden_iframe",
    "html_smuggling",
    "meta_refresh_external",
    "obfuscated_script",
    "password_form_external",
  ]);
  ok(
    doc.results[0].plugins_run.workers.includes("iocextract"),
    "the raw page still goes to iocextract",
  );

  // The inline script, byte for byte as the builder wrote it between <script> and </script>.
  const source = await Deno.readTextFile(files["phish.html"]);
  const inline = source.slice(source.indexOf("<script>") + 8, source.indexOf("</script>"));
  const script = named(doc, "script_1.js");
  equal(script.workers.hash.sha256, sha256(inline));
  const js = worker(script, "javascript");
  equal(js.suspicious_calls.unescape, 1);
  equal(js.suspicious_calls["document.write"], 1);
  equal(js.obfuscation.hex_escapes, 31);
  // What the script writes is HTML again: the html analyzer finds the hidden iframe in it.
  const written = named(doc, "write_1.html");
  equal(written.workers.hash.sha256, sha256(manifest.written_html));
  deepEqual(parentOf(doc, written).payload_meta.extra_data.filename, "script_1.js");
  deepEqual(ids(worker(written, "html")), ["hidden_iframe"]);

  // The smuggled zip is unpacked, and the dropper inside it is analysed.
  const zip = named(doc, "Invoice_4471.zip");
  equal(zip.workers.hash.sha256, sha256(Uint8Array.fromBase64(manifest.smuggled_zip_b64)));
  ok(zip.plugins_run.workers.includes("decompress"));
  const member = named(doc, "Invoice_4471.js");
  equal(member.workers.hash.sha256, sha256(await Deno.readFile(files["dropper.js"])));
  deepEqual(ids(worker(member, "javascript")), [
    "download_execute",
    "dynamic_code",
    "shell_execution",
  ]);

  // The visible text goes to iocextract.
  const text = named(doc, "visible_text.txt");
  ok(text.plugins_run.workers.includes("iocextract"));
});

Deno.test("stoq scan dropper.js: calls, COM objects, folded URL, eval'd code and blob as children", async () => {
  const { manifest } = await scriptFiles();
  const doc = await scan("dropper.js");
  const js = worker(doc.results[0], "javascript");
  equal(js.parsed, true);
  deepEqual(js.com_objects, { "MSXML2.XMLHTTP": 1, "ADODB.Stream": 1, "WScript.Shell": 1 });
  deepEqual(js.urls, [manifest.js_url]);
  deepEqual(ids(js), ["download_execute", "dynamic_code", "shell_execution"]);
  equal(named(doc, "eval_1.js").workers.hash.sha256, sha256(manifest.js_eval));
  equal(
    named(doc, "base64_1.bin").workers.hash.sha256,
    sha256(Uint8Array.fromBase64(manifest.js_blob_b64)),
  );
});

Deno.test("stoq scan oneliner.txt: typed as PowerShell by content; the encoded command is a child, analysed in turn", async () => {
  const { manifest } = await scriptFiles();
  const doc = await scan("oneliner.txt");
  const ps = worker(doc.results[0], "powershell");
  deepEqual(ids(ps), ["encoded_command", "execution_policy_bypass", "hidden_window"]);
  const decoded = named(doc, "encoded_command_1.ps1");
  equal(decoded.workers.hash.sha256, sha256(manifest.oneliner_script));
  const inner = worker(decoded, "powershell");
  deepEqual(ids(inner), ["download_execute"]);
  deepEqual(inner.urls, ["https://dl.example.net/stage2.ps1"]);
});

Deno.test("stoq scan app.hta, dropper.vbs, dropper.bat, obfuscated.ps1: each reaches its analyzer and its children theirs", async () => {
  const { manifest } = await scriptFiles();
  const hta = await scan("app.hta");
  deepEqual(ids(worker(hta.results[0], "html")), ["hta_application"]);
  const vbs = worker(named(hta, "script_1.vbs"), "vbscript");
  deepEqual(vbs.decoded_strings.values, [manifest.hta_command]);
  deepEqual(ids(vbs), ["hidden_window", "obfuscated", "shell_execution"]);

  const dropper = await scan("dropper.vbs");
  deepEqual(worker(dropper.results[0], "vbscript").urls, [manifest.vbs_url]);
  ok(named(dropper, "deobfuscated.vbs").plugins_run.workers.includes("vbscript"));

  const bat = await scan("dropper.bat");
  deepEqual(ids(worker(bat.results[0], "batch")), [
    "execution_policy_bypass",
    "hidden_window",
    "inhibit_recovery",
  ]);
  equal(named(bat, "powershell_1.ps1").workers.hash.sha256, sha256(manifest.bat_command));
  equal(named(bat, "encoded_command_1.ps1").workers.hash.sha256, sha256(manifest.bat_script));

  const ps = await scan("obfuscated.ps1");
  deepEqual(ids(worker(ps.results[0], "powershell")), [
    "amsi_bypass",
    "download_execute",
    "obfuscated",
  ]);
  const stage = named(ps, "base64_1.ps1");
  equal(stage.workers.hash.sha256, sha256(manifest.deflated_script));
  ok(stage.plugins_run.workers.includes("powershell"));
});
