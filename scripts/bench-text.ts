/**
 * Per-payload cost of the XML, text, keyword, QR and small-format plugins beside the yara
 * worker's on the same payloads (issue 11's speed bar), on the files the tests build.
 *
 *   ./node_modules/deno/deno run -A scripts/bench-text.ts [ROUNDS]
 *
 * For each payload, the plugin's scan() and yara's scan() run ROUNDS times, interleaved (so that
 * a busy machine slows both alike); the figure is the median. Fifty warm-up calls per payload
 * (imports, the JIT: a long scan runs warm) are not counted.
 */
import { instantiate, makePayload, makeRequest } from "../tests/helpers.ts";
import { textFiles } from "../tests/fixtures/text_files.ts";
import { realFiles } from "../tests/realfiles.ts";
import type { PluginFactory } from "../core/engine/plugin.ts";
import yara from "../plugins/yara.ts";
import xml from "../plugins/xml.ts";
import textreader from "../plugins/textreader.ts";
import keywords from "../plugins/keywords.ts";
import qr from "../plugins/qr.ts";
import plist from "../plugins/plist.ts";
import jnlp from "../plugins/jnlp.ts";
import iqy from "../plugins/iqy.ts";
import urlShortcut from "../plugins/url_shortcut.ts";
import decompress from "../plugins/decompress.ts";

const rounds = Number(Deno.args[0] ?? 15);
const t = await textFiles();
const r = await realFiles();
const read = (p: string) => Deno.readFile(p);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function run(factory: PluginFactory, content: Uint8Array) {
  const { instance, call } = await instantiate(factory);
  return { instance, call, payload: makePayload(content) };
}

// The XML parts of the two DOCX files, as decompress hands them over.
const parts: Uint8Array[] = [];
{
  const d = await run(decompress, await read(t["remote_template.docx"]));
  for (const doc of [t["remote_template.docx"], r["report.docx"], r["report.xlsx"]]) {
    const p = makePayload(await read(doc));
    const out = await d.instance.scan!(p, makeRequest(p), d.call) as {
      extracted: { content: Uint8Array }[];
    };
    for (const e of out.extracted) {
      if (new TextDecoder().decode(e.content.subarray(0, 5)) === "<?xml") parts.push(e.content);
    }
  }
}
// The text children the text reader makes, plus plain texts.
const docs = [
  t["keyword.pdf"],
  t["keyword.docx"],
  t["keyword.doc"],
  t["keyword.odt"],
  t["sheet.xlsx"],
  t["sheet.xls"],
  t["slides.pptx"],
  t["keyword.html"],
  r["report.pdf"],
  r["report.docx"],
  r["report.doc"],
  r["page.html"],
];
const texts: Uint8Array[] = [];
{
  const tr = await run(textreader, new Uint8Array());
  for (const doc of docs) {
    const p = makePayload(await read(doc));
    const out = await tr.instance.scan!(p, makeRequest(p), tr.call) as {
      extracted?: { content: string }[];
    };
    if (out?.extracted) texts.push(new TextEncoder().encode(out.extracted[0].content));
  }
  for (
    const f of [
      r["hello.c"],
      r["Hello.java"],
      r["mail.py"],
      r["script.js"],
      r["mail.eml"],
      t["keyword.txt"],
    ]
  ) texts.push(await read(f));
  texts.push(await Deno.readFile(new URL("../README.md", import.meta.url)));
}

const sets: [string, PluginFactory, Uint8Array[]][] = [
  ["xml", xml, [
    ...parts,
    await read(t["external.xml"]),
    await read(t["xxe.xml"]),
    await read(t["bomb.xml"]),
    await read(t["app.jnlp"]),
    await read(t["launch.plist"]),
  ]],
  ["textreader", textreader, await Promise.all(docs.map(read))],
  ["keywords", keywords, texts],
  [
    "qr",
    qr,
    await Promise.all(
      [
        t["quish.png"],
        t["quish.jpg"],
        t["quish_inverted.png"],
        t["two_codes.gif"],
        r["image.png"],
        r["image.jpg"],
        r["image.gif"],
      ].map(read),
    ),
  ],
  ["plist", plist, await Promise.all([t["launch.plist"], t["launch.bplist"]].map(read))],
  ["jnlp", jnlp, [await read(t["app.jnlp"])]],
  ["iqy", iqy, [await read(t["query.iqy"])]],
  ["url_shortcut", urlShortcut, [await read(t["lure.url"])]],
];

const y = await instantiate(yara);
console.log(
  "plugin              payloads  plugin median ms  yara median ms  (per payload, median of per-payload medians)",
);
for (const [name, factory, payloads] of sets) {
  const p = await instantiate(factory);
  const mine: number[] = [];
  const theirs: number[] = [];
  for (const content of payloads) {
    const payload = makePayload(content);
    const req = makeRequest(payload);
    for (let i = 0; i < 50; i++) {
      await p.instance.scan!(payload, req, p.call);
      await y.instance.scan!(payload, req, y.call);
    }
    const a: number[] = [];
    const b: number[] = [];
    for (let i = 0; i < rounds; i++) {
      let s = performance.now();
      await p.instance.scan!(payload, req, p.call);
      a.push(performance.now() - s);
      s = performance.now();
      await y.instance.scan!(payload, req, y.call);
      b.push(performance.now() - s);
    }
    mine.push(median(a));
    theirs.push(median(b));
  }
  console.log(
    `${name.padEnd(20)}${String(payloads.length).padStart(8)}  ${
      median(mine).toFixed(3).padStart(16)
    }  ${median(theirs).toFixed(3).padStart(14)}`,
  );
}
await y.instance.close?.();
