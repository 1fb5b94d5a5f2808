import { deepEqual, equal, match, ok } from "node:assert/strict";
import javascript from "../../plugins/javascript.ts";
import { sh, sha256, tempDir } from "../helpers.ts";
import { scriptFiles } from "../fixtures/script_files.ts";
import { child, damagedCopies, findingIds, scanWith } from "./script_helpers.ts";

/**
 * A deliberately simple tokenizer in Python (comments, quoted strings with escapes, words): the
 * independent view of a script without regex or template literals, as the fixture is.
 */
const PY_TOKENS = String.raw`
import json, re, sys
src = open(sys.argv[1], encoding="utf-8").read()
KEYWORDS = {"var", "new", "false", "true", "null", "function", "return", "if", "else", "for",
            "while", "this", "typeof", "let", "const"}
strings, names = [], []
for m in re.finditer(r'//[^\n]*|/\*.*?\*/|"((?:[^"\\\n]|\\.)*)"|\'((?:[^\'\\\n]|\\.)*)\'|([A-Za-z_$][\w$]*)', src, re.S):
    if m.group(1) is not None or m.group(2) is not None:
        raw = m.group(1) if m.group(1) is not None else m.group(2)
        strings.append(json.loads('"' + raw.replace('\\\'', "'") + '"'))
    elif m.group(3) and m.group(3) not in KEYWORDS:
        names.append(m.group(3))
calls = {n: len(re.findall(r'\b' + n + r'\s*\(', src)) for n in
         ["eval", "ActiveXObject", "fromCharCode", "SaveToFile", "Run"]}
print(json.dumps({"strings": strings, "names": names, "calls": calls}))
`;

Deno.test("javascript: dropper.js against node --check and a Python tokenizer, value by value", async () => {
  const { files, manifest } = await scriptFiles();
  await sh("node", ["--check", files["dropper.js"]]); // throws when node cannot parse it
  const py = JSON.parse(await sh("python3", ["-c", PY_TOKENS, files["dropper.js"]]));
  const res = await scanWith(javascript, await Deno.readFile(files["dropper.js"]));
  deepEqual(res.errors, []);
  const r = res.results;
  equal(r.parsed, true);
  equal(r.source_type, "script");
  // Listed strings are clipped at 200 characters (the base64 blob is longer).
  const clip = (s: string) => s.length <= 200 ? s : `${s.slice(0, 200)}…`;
  deepEqual(r.strings.values, [...new Set((py.strings as string[]).map(clip))]);
  equal(r.strings.count, py.strings.length);
  deepEqual(r.identifiers.values, [...new Set(py.names)]);
  equal(r.identifiers.count, py.names.length);
  equal(r.tokens.types.string, py.strings.length);
  for (const [name, n] of Object.entries(py.calls as Record<string, number>)) {
    equal(r.suspicious_calls[name], n, name);
  }
  deepEqual(r.com_objects, { "MSXML2.XMLHTTP": 1, "ADODB.Stream": 1, "WScript.Shell": 1 });
  equal(r.suspicious_calls["WScript.Shell"], 1);
  // The URL exists only once fromCharCode and the concatenation are folded.
  ok(!(await Deno.readTextFile(files["dropper.js"])).includes(manifest.js_url));
  deepEqual(r.urls, [manifest.js_url]);
  ok(r.decoded_strings.values.includes(manifest.js_url));
  ok(r.decoded_strings.values.includes("ADODB.Stream"));
  // Children: the eval'd code and the base64 blob (decoded by coreutils base64).
  const evald = child(res, "eval_1.js");
  equal(evald.text, manifest.js_eval);
  equal(evald.payload_meta.extra_data.source, "eval");
  const dir = await tempDir();
  await Deno.writeTextFile(`${dir}/blob.b64`, manifest.js_blob_b64);
  await sh("bash", ["-c", `base64 -d '${dir}/blob.b64' > '${dir}/blob'`]);
  equal(child(res, "base64_1.bin").sha256, sha256(await Deno.readFile(`${dir}/blob`)));
  await Deno.remove(dir, { recursive: true });
  deepEqual(findingIds(res), ["download_execute", "dynamic_code", "shell_execution"]);
});

Deno.test("javascript: parses when node --check does, and a file that does not parse keeps its token statistics", async () => {
  const { files } = await scriptFiles();
  const data = await Deno.readFile(files["dropper.js"]);
  const dir = await tempDir();
  for (const cut of [40, 120, 300, 500, data.length - 40]) {
    const copy = data.slice(0, cut);
    await Deno.writeFile(`${dir}/cut.js`, copy);
    const node = await new Deno.Command("node", {
      args: ["--check", `${dir}/cut.js`],
      stderr: "null",
    })
      .output();
    const res = await scanWith(javascript, copy);
    equal(res.results.parsed, node.success, `cut at ${cut}`);
    if (!node.success) {
      match(res.errors.join(), /javascript: does not parse: .* at offset \d+/);
      ok(res.results.tokens.count > 0, "tokens up to the error are counted");
      equal(typeof res.results.error, "string");
    }
  }
  await Deno.remove(dir, { recursive: true });
  for (const copy of damagedCopies(data)) {
    const res = await scanWith(javascript, copy);
    equal(typeof res.results.parsed, "boolean");
  }
});

Deno.test("javascript: hostile input is bounded: deep nesting, long chains, huge literals", async () => {
  const deep = await scanWith(javascript, "x = " + "(".repeat(200_000) + "1" + ")".repeat(200_000));
  equal(deep.results.parsed, false);
  match(deep.errors.join(), /does not parse: (Not enough stack space|nesting too deep)/);
  // 5 000 concatenations fold without recursion (acorn itself runs out of stack near 10 000).
  const chain = "var s = " + Array.from({ length: 5_000 }, () => '"a"').join("+") + ";";
  const long = await scanWith(javascript, chain);
  equal(long.results.parsed, true);
  equal(long.results.decoded_strings.values[0].length, 1001, "listed values are clipped");
  // A doubling chain stops at the fold limit instead of growing without bound.
  const doubling = ['var a0 = "xxxxxxxx";'];
  for (let i = 1; i < 40; i++) doubling.push(`var a${i} = a${i - 1} + a${i - 1};`);
  doubling.push("eval(a39);");
  const res = await scanWith(javascript, doubling.join("\n"));
  equal(res.extracted.length, 0, "no 4 TiB eval child");
  const capped = await scanWith(javascript, "var s = 1;", { max_chars: 5 });
  equal(capped.results.truncated, true);
});

Deno.test("javascript: obfuscator-style code and HTML smuggling are flagged", async () => {
  const names = Array.from({ length: 8 }, (_, i) => `_0x${(0x1a2b + i).toString(16)}`);
  const obf = names.map((n, i) => `var ${n} = "\\x68\\x74\\x74\\x70${i}";`).join("\n");
  deepEqual(findingIds(await scanWith(javascript, obf)), ["obfuscated"]);
  const smuggle = `var b = atob("${btoa("PK\u0003\u0004 fake zip payload here")}");
var blob = new Blob([b]); var a = document.createElement("a");
a.href = URL.createObjectURL(blob); a.download = "x.zip"; a.click();`;
  const res = await scanWith(javascript, smuggle);
  ok(findingIds(res).includes("html_smuggling"), findingIds(res).join());
  equal(child(res, "atob_1.bin").text, "PK\u0003\u0004 fake zip payload here");
});

Deno.test("javascript: document.write of unescape() yields an .html child; ES modules parse as modules", async () => {
  const html = '<iframe src="http://x.example.com/"></iframe>';
  const enc = [...html].map((c) => "%" + c.charCodeAt(0).toString(16)).join("");
  const res = await scanWith(javascript, `document.write(unescape("${enc}"));`);
  equal(child(res, "write_1.html").text, html);
  equal(res.results.suspicious_calls["document.write"], 1);
  const mod = await scanWith(javascript, 'import x from "y";\nexport const z = x;');
  equal(mod.results.source_type, "module");
});
