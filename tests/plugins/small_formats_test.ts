/**
 * url_shortcut (.url), iqy and jnlp against independent readers: Python's configparser for
 * the INI shortcut, ElementTree for the JNLP descriptor, the written lines for the web query.
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import urlShortcut from "../../plugins/url_shortcut.ts";
import iqy from "../../plugins/iqy.ts";
import jnlp from "../../plugins/jnlp.ts";
import type { PluginFactory } from "../../core/engine/plugin.ts";
import { instantiate, makePayload, makeRequest, sh } from "../helpers.ts";
import { textFiles } from "../fixtures/text_files.ts";

// deno-lint-ignore no-explicit-any
type Any = any;

async function scan(factory: PluginFactory, content: Uint8Array | string) {
  const { instance, call } = await instantiate(factory);
  const p = makePayload(content);
  return (await instance.scan!(p, makeRequest(p), call)) as Any;
}

const CONFIGPARSER = `
import configparser, json, sys
c = configparser.RawConfigParser(strict=False)
c.optionxform = str
c.read(sys.argv[1], encoding='utf-8')
print(json.dumps(dict(c['InternetShortcut'])))
`;

Deno.test("url_shortcut: keys equal configparser's; UNC URL and IconFile are NTLM-leak findings", async () => {
  const files = await textFiles();
  const want = JSON.parse(await sh("python3", ["-c", CONFIGPARSER, files["lure.url"]]));
  const r = (await scan(urlShortcut, await Deno.readFile(files["lure.url"]))).results;
  deepEqual(
    [r.url, r.icon_file, r.icon_index, r.working_directory, r.hotkey, r.id_list],
    [want.URL, want.IconFile, want.IconIndex, want.WorkingDirectory, want.HotKey, want.IDList],
  );
  deepEqual(r.sections, ["{000214A0-0000-0000-C000-000000000046}", "InternetShortcut"]);
  deepEqual(r.findings.map((f: Any) => [f.id, f.severity]), [["unc_path", "high"]]);
  equal(
    r.findings[0].detail,
    "URL: file://203.0.113.5/share/invoice.pdf.exe; IconFile: \\\\203.0.113.5\\icons\\pdf.ico",
  );
  // Protocol handlers and executables over the web.
  const search = await scan(
    urlShortcut,
    "[InternetShortcut]\r\nURL=search-ms:query=x&crumb=location:\\\\h\\s\r\n",
  );
  deepEqual(search.results.findings.map((f: Any) => f.id), ["protocol_handler"]);
  const exe = await scan(
    urlShortcut,
    "[InternetShortcut]\nURL=https://cdn.example.com/setup.exe\n",
  );
  deepEqual(exe.results.findings.map((f: Any) => f.id), ["executable_url"]);
  const plain = await scan(urlShortcut, "[InternetShortcut]\nURL=https://www.example.com/\n");
  deepEqual(plain.results.findings, []);
  ok((await scan(urlShortcut, "[Other]\nURL=x\n")).errors[0].includes("no [InternetShortcut]"));
});

Deno.test("iqy: type, version, URL, parameters and options as written; a web-query finding", async () => {
  const files = await textFiles();
  const lines = (await Deno.readTextFile(files["query.iqy"])).split("\r\n");
  const r = (await scan(iqy, await Deno.readFile(files["query.iqy"]))).results;
  equal(r.query_type, lines[0]);
  equal(r.version, Number(lines[1]));
  equal(r.url, lines[2]);
  deepEqual(r.parameters, [{ name: "id", prompt: "Enter your customer id" }]);
  deepEqual(
    r.options,
    Object.fromEntries(lines.slice(4).filter(Boolean).map((l) => l.split("=") as [string, string])),
  );
  equal(r.post_data, undefined, "the blank line is an empty POST line");
  deepEqual(r.findings.map((f: Any) => [f.id, f.severity]), [["web_query", "medium"]]);
  const post = await scan(iqy, "WEB\n1\nhttps://q.example.com/s\nuser=a&pass=b\nSelection=1\n");
  equal(post.results.post_data, "user=a&pass=b");
  deepEqual(post.results.options, { Selection: "1" });
  ok((await scan(iqy, "WEB\n1\n\n")).errors[0].includes("no URL line"));
});

const ETREE = `
import json, sys, xml.etree.ElementTree as ET
j = ET.parse(sys.argv[1]).getroot()
app = j.find('application-desc')
print(json.dumps({
  'codebase': j.get('codebase'), 'href': j.get('href'), 'spec': j.get('spec'),
  'title': j.findtext('information/title'), 'vendor': j.findtext('information/vendor'),
  'jars': [x.get('href') for x in j.iter('jar')], 'main': [x.get('main') for x in j.iter('jar')],
  'main_class': app.get('main-class'), 'arguments': [a.text for a in app.iter('argument')],
  'properties': {p.get('name'): p.get('value') for p in j.iter('property')},
  'all_permissions': j.find('security/all-permissions') is not None,
}))
`;

Deno.test("jnlp: fields equal ElementTree's; JAR URLs resolved against the codebase; findings", async () => {
  const files = await textFiles();
  const want = JSON.parse(await sh("python3", ["-c", ETREE, files["app.jnlp"]]));
  const r = (await scan(jnlp, await Deno.readFile(files["app.jnlp"]))).results;
  deepEqual(
    [r.codebase, r.href, r.spec, r.title, r.vendor, r.main_class],
    [want.codebase, want.href, want.spec, want.title, want.vendor, want.main_class],
  );
  deepEqual(r.jars.map((j: Any) => j.href), want.jars);
  deepEqual(r.jars.map((j: Any) => j.main ?? null), want.main);
  deepEqual(
    r.jars.map((j: Any) => j.url),
    want.jars.map((h: string) => new URL(h, `${want.codebase}/`).href),
  );
  deepEqual(r.arguments, want.arguments);
  deepEqual(r.properties, want.properties);
  equal(r.security === "all-permissions", want.all_permissions);
  deepEqual(r.findings.map((f: Any) => [f.id, f.severity]), [
    ["remote_jar", "medium"],
    ["all_permissions", "medium"],
    ["cleartext_download", "low"],
  ]);
  ok((await scan(jnlp, "<html></html>")).errors[0].includes("no <jnlp> element"));
  // Truncated copies: what was read, never a throw.
  const full = await Deno.readFile(files["app.jnlp"]);
  for (let cut = 120; cut < full.length; cut += 97) {
    const out = await scan(jnlp, full.subarray(0, cut));
    ok(out.results?.codebase === want.codebase, `cut ${cut}`);
  }
});
