import { deepEqual, equal, match, ok } from "node:assert/strict";
import html from "../../plugins/html.ts";
import { sh, sha256 } from "../helpers.ts";
import { scriptFiles } from "../fixtures/script_files.ts";
import { child, damagedCopies, findingIds, scanWith } from "./script_helpers.ts";

/** Python's own HTML parser (html.parser) reading the same page: the independent reference. */
const PY_HTML = String.raw`
import json, sys
from html.parser import HTMLParser
URL_ATTRS = {"href", "src", "action", "formaction", "data", "poster", "background", "codebase",
             "cite", "longdesc", "manifest", "ping"}
class P(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.title = None; self.in_title = False; self.links = []; self.forms = []; self.form = None
        self.scripts = []; self.script = None; self.frames = []; self.refresh = []; self.text = []
        self.skip = 0; self.hta = None
    def handle_starttag(self, tag, attrs):
        a = {k: (v if v is not None else "") for k, v in attrs}
        for k, v in attrs:
            if k in URL_ATTRS and v and v.strip():
                self.links.append([tag, k, v.strip()])
        if tag == "form":
            self.form = {"action": a.get("action"), "method": (a.get("method") or "get").upper(), "inputs": []}
            self.forms.append(self.form)
        if tag in ("input", "select", "textarea", "button") and self.form is not None:
            typ = (a.get("type") or ("text" if tag == "input" else tag)).lower()
            self.form["inputs"].append([tag, typ, a.get("name")])
        if tag in ("iframe", "frame"):
            self.frames.append([tag, a.get("src"), a.get("width"), a.get("height")])
        if tag == "meta" and a.get("http-equiv", "").lower() == "refresh":
            self.refresh.append(a.get("content"))
        if tag == "title":
            self.in_title = True; self.title = ""
        if tag == "script":
            self.script = {"src": a.get("src"), "text": ""}
        if tag in ("script", "style"):
            self.skip += 1
        if tag == "hta:application":
            self.hta = a
    def handle_endtag(self, tag):
        if tag == "form": self.form = None
        if tag == "title": self.in_title = False
        if tag in ("script", "style"): self.skip -= 1
        if tag == "script" and self.script is not None:
            self.scripts.append(self.script); self.script = None
    def handle_data(self, data):
        if self.script is not None: self.script["text"] += data; return
        if self.in_title: self.title += data
        if self.skip == 0 and data.strip(): self.text.append(" ".join(data.split()))
p = P()
p.feed(open(sys.argv[1], encoding="utf-8").read()); p.close()
print(json.dumps({"title": p.title, "links": p.links, "forms": p.forms, "scripts": p.scripts,
                  "frames": p.frames, "refresh": p.refresh, "text": p.text, "hta": p.hta}))
`;

interface PyView {
  title: string;
  links: [string, string, string][];
  forms: { action: string | null; method: string; inputs: [string, string, string | null][] }[];
  scripts: { src: string | null; text: string }[];
  frames: [string, string | null, string | null, string | null][];
  refresh: string[];
  text: string[];
  hta: Record<string, string> | null;
}

async function python(path: string): Promise<PyView> {
  return JSON.parse(await sh("python3", ["-c", PY_HTML, path]));
}

const clip100 = (u: string) => u.length <= 100 ? u : `${u.slice(0, 100)}…`;

Deno.test("html: phish.html matches Python's html.parser value by value", async () => {
  const { files, manifest } = await scriptFiles();
  const py = await python(files["phish.html"]);
  const res = await scanWith(html, await Deno.readFile(files["phish.html"]));
  deepEqual(res.errors, []);
  const r = res.results;
  equal(r.title, py.title);
  equal(r.title, "Microsoft 365 - Sign in");
  // Links: same tags, attributes and URLs in document order (data: URLs are shown clipped).
  deepEqual(
    r.links.map((
      l: { tag: string; attribute: string; url: string },
    ) => [l.tag, l.attribute, l.url]),
    py.links.map(([t, a, u]) => [t, a, u.startsWith("data:") ? clip100(u) : u]),
  );
  equal(r.forms.length, py.forms.length);
  for (const [i, f] of py.forms.entries()) {
    equal(r.forms[i].action, f.action);
    equal(r.forms[i].method, f.method);
    deepEqual(
      r.forms[i].inputs.map((
        x: { tag: string; type: string; name: string | null },
      ) => [x.tag, x.type, x.name]),
      f.inputs,
    );
  }
  equal(r.forms[0].has_password, true);
  deepEqual(r.forms[0].inputs[2], {
    tag: "input",
    type: "hidden",
    name: "campaign",
    value: "inv-4471",
  });
  deepEqual(
    r.frames.map((
      f: { tag: string; src: string; width: string; height: string },
    ) => [f.tag, f.src, f.width, f.height]),
    py.frames,
  );
  equal(r.frames[0].hidden, true);
  // Meta refresh: the delay and URL Python's content attribute gives.
  const [delay, url] = py.refresh[0].split(/;\s*url=/i);
  deepEqual(r.meta_refresh, [{ delay: Number(delay), url }]);
  // Scripts: inline ones are children byte for byte; external ones keep their src.
  deepEqual(
    r.scripts.map((s: { src?: string }) => s.src ?? null),
    py.scripts.map((s) => s.src),
  );
  const inline = py.scripts.filter((s) => s.src === null);
  inline.forEach((s, i) => equal(child(res, `script_${i + 1}.js`).sha256, sha256(s.text)));
  // The smuggled zip: the data: payload, decoded by coreutils base64 from the href Python read.
  const href = py.links.find(([, , u]) => u.startsWith("data:"))![2];
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/zip.b64`, href.slice(href.indexOf(",") + 1));
  await sh("bash", ["-c", `base64 -d '${dir}/zip.b64' > '${dir}/smuggled.zip'`]);
  const zip = await Deno.readFile(`${dir}/smuggled.zip`);
  equal(child(res, "Invoice_4471.zip").sha256, sha256(zip));
  equal(sha256(zip), sha256(Uint8Array.fromBase64(manifest.smuggled_zip_b64)));
  match(await sh("7z", ["l", `${dir}/smuggled.zip`]), /Invoice_4471\.js/);
  await Deno.remove(dir, { recursive: true });
  deepEqual(r.data_uris, [{
    tag: "a",
    attribute: "href",
    mime: "application/zip",
    encoding: "base64",
    size: zip.length,
    download: "Invoice_4471.zip",
  }]);
  // The visible text holds every text run Python sees outside script and style.
  const visible = child(res, "visible_text.txt").text.replace(/\s+/g, " ");
  for (const t of py.text) ok(visible.includes(t), `visible text lacks ${JSON.stringify(t)}`);
  ok(!visible.includes("unescape"), "script text is not visible text");
  equal(r.site, "example.com");
  deepEqual(findingIds(res), [
    "hidden_iframe",
    "html_smuggling",
    "meta_refresh_external",
    "obfuscated_script",
    "password_form_external",
  ]);
  match(JSON.stringify(r.findings), /collect\.example\.org\/gate\.php \(example\.org\)/);
});

Deno.test("html: an HTA's application tag and its VBScript, as Python's parser reads them", async () => {
  const { files } = await scriptFiles();
  const py = await python(files["app.hta"]);
  const res = await scanWith(html, await Deno.readFile(files["app.hta"]));
  const r = res.results;
  equal(r.hta_application.windowstate, "minimize");
  deepEqual(r.hta_application, py.hta);
  const vbs = child(res, "script_1.vbs");
  equal(vbs.sha256, sha256(py.scripts[0].text));
  equal(vbs.payload_meta.extra_data.language, "vbscript");
  deepEqual(findingIds(res), ["hta_application"]);
});

Deno.test("html: javascript: URLs and event handlers become one child; a javascript: form action is flagged", async () => {
  const page = `<html><body onload="go()"><a href="javascript:alert(1)">x</a>
<form action="javascript:steal()"><input type=password name=p></form>
<iframe src="http://a.example.com/" style="visibility: hidden"></iframe></body></html>`;
  const res = await scanWith(html, page);
  equal(child(res, "event_handlers.js").text, "go();\nalert(1);\nsteal()");
  deepEqual(res.results.event_handlers, { onload: 1 });
  deepEqual(findingIds(res), ["form_script_action", "hidden_iframe"]);
  // No site of its own: a password form posting to an absolute URL is "another site".
  const other = await scanWith(
    html,
    `<html><form action="https://x.example.org/a" method=post><input type="password"></form>`,
  );
  deepEqual(findingIds(other), ["password_form_external"]);
  match(JSON.stringify(other.results.findings), /names no site of its own/);
  // Same registrable domain as the canonical link: not flagged.
  const same = await scanWith(
    html,
    `<html><link rel=canonical href="https://www.example.org/"><form action="https://login.example.org/a"><input type=password></form>`,
  );
  deepEqual(findingIds(same), []);
});

Deno.test("html: truncated and corrupted pages still give results; lists and children are capped", async () => {
  const { files } = await scriptFiles();
  for (const name of ["phish.html", "app.hta"] as const) {
    for (const copy of damagedCopies(await Deno.readFile(files[name]))) {
      const res = await scanWith(html, copy);
      ok(typeof res.results.counts === "object", name);
    }
  }
  const many = "<html>" +
    '<a href="http://x.example.com/a">a</a><script>var a=1;</script>'.repeat(500);
  const res = await scanWith(html, many, { max_list: 10, max_children: 3 });
  equal((res.results.links as unknown[]).length, 10);
  deepEqual(res.results.truncated_lists, ["links", "scripts"]);
  deepEqual(
    res.extracted.map((e) => e.payload_meta.extra_data.filename),
    ["script_1.js", "visible_text.txt"],
    "500 identical scripts are one child",
  );
  const distinct = "<html>" +
    Array.from({ length: 20 }, (_, i) => `<script>var a=${i};</script>`).join("");
  const capped = await scanWith(html, distinct, { max_children: 3 });
  equal(capped.extracted.length, 3);
  match(capped.errors.join(), /html: 17 more children left out/);
  const big = await scanWith(html, "<html><body>" + "x".repeat(5000), { max_chars: 1000 });
  equal(big.results.truncated, true);
  match(big.errors.join(), /only the first 1000 characters/);
});
