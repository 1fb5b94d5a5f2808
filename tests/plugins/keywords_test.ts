/**
 * keywords: counts per list, case-insensitive, whole words, in any script; lists from options
 * and files; findings at each list's threshold; counts checked against a plain Python count.
 */
import { deepEqual, equal, rejects } from "node:assert/strict";
import keywords from "../../plugins/keywords.ts";
import { instantiate, makePayload, makeRequest, sh, tempDir } from "../helpers.ts";
import { DOC_LINES } from "../fixtures/text_files.ts";

// deno-lint-ignore no-explicit-any
type Any = any;

async function scan(content: Uint8Array | string, options: Record<string, unknown> = {}) {
  const { instance, call } = await instantiate(keywords, options);
  const p = makePayload(content);
  return (await instance.scan!(p, makeRequest(p), call)) as Any;
}

Deno.test("keywords: default lists on a lure text, counts equal Python's whole-word count", async () => {
  const text = DOC_LINES.join("\n") +
    "\nURGENT!! Your PASSWORD expires. Enable Content to view this document. Invoices are not invoice-like.";
  const r = (await scan(text)).results;
  // Python's re with \b and IGNORECASE counts the same single words.
  const py = JSON.parse(
    await sh("python3", [
      "-c",
      `
import json, re, sys
t = sys.argv[1]
print(json.dumps({w: len(re.findall(r'(?<!\\w)' + re.escape(w) + r'(?!\\w)', t, re.I | re.U)) for w in sys.argv[2:]}))
`,
      text,
      "password",
      "invoice",
      "urgent",
      "payment",
      "overdue",
      "expires",
    ]),
  );
  equal(r.lists.credentials.hits.password, py.password);
  equal(r.lists.finance.hits.invoice, py.invoice);
  equal(r.lists.phishing.hits.urgent, py.urgent);
  equal(r.lists.finance.hits.payment, py.payment);
  equal(r.lists.phishing.hits.expires, py.expires);
  equal(py.invoice, 3, "'Invoices' is another word; 'invoice-like' holds the word invoice");
  // Phrases, across line breaks and punctuation inside the phrase's tokens.
  equal(r.lists.credentials.hits["verify your account"], 1);
  equal(r.lists.phishing.hits["within 24 hours"], 1);
  equal(r.lists.macro_lure.hits["enable content"], 1);
  equal(r.lists.macro_lure.hits["to view this document"], 1);
  deepEqual(r.findings.map((f: Any) => [f.id, f.severity]), [
    ["keywords_macro_lure", "high"],
    ["keywords_credentials", "medium"],
    ["keywords_phishing", "medium"],
    ["keywords_finance", "low"],
  ]);
  equal(r.total_hits, Object.values(r.lists).reduce((n: number, l: Any) => n + l.total, 0));
});

Deno.test("keywords: whole words only, any script, overlapping phrases each count", async () => {
  const r = (await scan(
    "Design input; signing in; sign-in; SIGN IN. Пароль и ПАРОЛЬ. 密码是 x. verify your account",
    {
      default_lists: false,
      lists: { mine: ["sign in", "пароль", "密码", "verify", "verify your account", "sign"] },
    },
  )).results;
  deepEqual(r.lists.mine.hits, {
    "sign in": 2,
    "пароль": 2,
    sign: 2,
    verify: 1,
    "verify your account": 1,
    "密码": 1,
  });
  equal(r.lists.mine.distinct, 6);
  deepEqual(r.findings.map((f: Any) => [f.id, f.severity]), [["keywords_mine", "low"]]);
  // UTF-16 text with a BOM is read as text.
  const utf16 = new Uint8Array([
    0xff,
    0xfe,
    ...[..."Password"].flatMap((c) => [c.charCodeAt(0), 0]),
  ]);
  equal((await scan(utf16)).results.lists.credentials.hits.password, 1);
});

Deno.test("keywords: lists from files, severities and thresholds from options; bad options are clear errors", async () => {
  const dir = await tempDir("kw-");
  await Deno.writeTextFile(
    `${dir}/vendors.txt`,
    "# suppliers we watch\nAcme Corp\nglobex  # a comment\n\n",
  );
  const r = (await scan("Payment from ACME corp and Globex; acme alone.", {
    default_lists: false,
    list_files: { vendors: `${dir}/vendors.txt` },
    severity: { vendors: "high" },
    min_distinct: { vendors: 2 },
  })).results;
  deepEqual(r.lists.vendors.hits, { "Acme Corp": 1, globex: 1 });
  deepEqual(r.findings.map((f: Any) => [f.id, f.severity]), [["keywords_vendors", "high"]]);
  const one = (await scan("only globex", {
    default_lists: false,
    list_files: { vendors: `${dir}/vendors.txt` },
    min_distinct: { vendors: 2 },
  })).results;
  deepEqual(one.findings, []);
  await rejects(
    () => instantiate(keywords, { list_files: { x: `${dir}/missing.txt` } }),
    /keywords: cannot read list file .*missing\.txt \(list x\)/,
  );
  await rejects(() => instantiate(keywords, { default_lists: false }), /no word lists/);
  await rejects(
    () => instantiate(keywords, { lists: { x: ["---"] } }),
    /can never match: x: "---"/,
  );
  // max_bytes: only the start is read.
  const capped = (await scan("password ".repeat(100), { max_bytes: 90 })).results;
  equal(capped.truncated, true);
  equal(capped.lists.credentials.hits.password, 10);
});
