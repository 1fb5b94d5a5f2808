/**
 * The email worker on real messages: .eml files from Python's email package and mpack, an .msg
 * written per [MS-OXMSG]. Values are compared with what Python's email package, munpack and
 * python3-olefile read from the same files; damaged copies must give what can be read and a
 * named error.
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import email from "../../plugins/email.ts";
import type { EmailResult } from "../../plugins/lib/email/report.ts";
import type { ExtractedPayload } from "../../core/engine/plugin.ts";
import { instantiate, makePayload, makeRequest, sh, sha256, tempDir } from "../helpers.ts";
import { emailFiles, MSG, PHISH_URL, PYTHON } from "../fixtures/email_files.ts";
import { corruptedCopies } from "../fixtures/cache.ts";
import { realFiles } from "../realfiles.ts";

interface Scan {
  results: EmailResult;
  extracted: ExtractedPayload[];
  errors: string[];
}

const plugin = instantiate(email);

async function scan(
  content: Uint8Array | string,
  options?: Record<string, unknown>,
): Promise<Scan> {
  const { instance, call } = options ? await instantiate(email, options) : await plugin;
  const p = makePayload(content);
  const r = await instance.scan!(p, makeRequest(p), call);
  return r as unknown as Scan;
}

const scanFile = async (path: string) => scan(await Deno.readFile(path));
const bytes = (c: Uint8Array | string) => typeof c === "string" ? new TextEncoder().encode(c) : c;
const meta = (e: ExtractedPayload) => e.payload_meta?.extra_data ?? {};
const attachments = (s: Scan) => s.extracted.filter((e) => meta(e).part !== "body");
/** Each listed attachment's name with the sha256 of its child. */
const named = (s: Scan) =>
  attachments(s).map((e) => [meta(e).filename ?? null, sha256(bytes(e.content))]);
const body = (s: Scan, type: string) => {
  const b = s.extracted.find((e) => meta(e).part === "body" && meta(e).content_type === type);
  return b === undefined ? undefined : new TextDecoder().decode(bytes(b.content));
};

/** What Python's email package reads from a message, nested messages included. */
const PY_FACTS = `import email, hashlib, json, sys
from email import policy
from email.utils import getaddresses, parsedate_to_datetime


def leaves(part):
    # walk() would descend into a nested message; its parts belong to that message.
    if part.get_content_type() == "message/rfc822":
        yield part
    elif part.is_multipart():
        for sub in part.iter_parts():
            yield from leaves(sub)
    else:
        yield part


def facts(msg):
    out = {"headers": {}, "bodies": [], "parts": [], "messages": []}
    for name in ["Subject", "Message-ID", "X-Originating-IP", "X-Mailer", "Return-Path"]:
        if msg[name] is not None:
            # A value folded onto its own line keeps the fold's space in Python: not the value.
            out["headers"][name] = str(msg[name]).strip()
    for name in ["From", "Reply-To", "To", "Cc"]:
        if msg[name] is not None:
            out["headers"][name] = [[a.display_name, a.addr_spec] for a in msg[name].addresses]
    if msg["Date"] is not None:
        out["date"] = parsedate_to_datetime(str(msg["Date"])).timestamp()
    out["received"] = [" ".join(str(v).split()) for v in msg.get_all("Received", [])]
    for part in leaves(msg):
        ct = part.get_content_type()
        disp = part.get_content_disposition()
        if ct == "message/rfc822":
            out["messages"].append(facts(part.get_payload()[0]))
            out["parts"].append({"filename": part.get_filename(), "type": ct})
        elif ct in ("text/plain", "text/html") and disp is None:
            out["bodies"].append([ct, part.get_content()])
        else:
            data = part.get_payload(decode=True)
            cid = part["Content-ID"]
            out["parts"].append({"filename": part.get_filename(), "type": ct, "disposition": disp,
                                 "sha256": hashlib.sha256(data).hexdigest(),
                                 "content_id": str(cid).strip("<>") if cid else None})
    return out


msg = email.message_from_bytes(open(sys.argv[1], "rb").read(), policy=policy.default)
print(json.dumps(facts(msg)))
`;

interface PyFacts {
  headers: Record<string, string | [string, string][]>;
  date?: number;
  received: string[];
  bodies: [string, string][];
  parts: {
    filename: string | null;
    type: string;
    disposition?: string | null;
    sha256?: string;
    content_id?: string | null;
  }[];
  messages: PyFacts[];
}

async function pythonFacts(path: string): Promise<PyFacts> {
  const dir = await tempDir();
  await Deno.writeTextFile(join(dir, "facts.py"), PY_FACTS);
  return JSON.parse(await sh(PYTHON, [join(dir, "facts.py"), path]));
}

/** Our scan of a message, checked field by field against Python's reading of the same bytes. */
function compareWithPython(s: Scan, py: PyFacts, where: string): void {
  const r = s.results;
  const boxes = (list: { name: string; address: string }[]) => list.map((b) => [b.name, b.address]);
  equal(r.subject, py.headers.Subject, `${where}: Subject`);
  equal(r.message_id, py.headers["Message-ID"], `${where}: Message-ID`);
  deepEqual(r.from ? [boxes([r.from])[0]] : [], py.headers.From ?? [], `${where}: From`);
  deepEqual(boxes(r.to), py.headers.To ?? [], `${where}: To`);
  deepEqual(boxes(r.cc), py.headers.Cc ?? [], `${where}: Cc`);
  deepEqual(boxes(r.reply_to), py.headers["Reply-To"] ?? [], `${where}: Reply-To`);
  if (py.date !== undefined) equal(Date.parse(r.date!) / 1000, py.date, `${where}: Date`);
  deepEqual(r.received.map((h) => h.raw), py.received, `${where}: Received`);
  // Python keeps a body's CRLF line ends, postal-mime gives LF and keeps the line break that
  // belongs to the next boundary (RFC 2046 §5.1.1): the texts are the same up to line ends.
  const lines = (t: string | undefined) => t?.replaceAll("\r\n", "\n").replace(/\n*$/, "\n");
  for (const [type, text] of py.bodies) {
    equal(lines(body(s, type)), lines(text), `${where}: ${type} body`);
  }
  const ours = attachments(s).map((e) => {
    const m = meta(e);
    const part: Record<string, unknown> = { filename: m.filename ?? null, type: m.content_type };
    if (m.content_type !== "message/rfc822") {
      part.disposition = m.disposition;
      part.sha256 = sha256(bytes(e.content));
      part.content_id = m.content_id ?? null;
    }
    return part;
  });
  deepEqual(ours, py.parts, `${where}: attachments, in order, by name, type and sha256`);
}

Deno.test("email: phish.eml, every field and part as Python's email package reads it", async () => {
  const files = await emailFiles();
  const s = await scanFile(files["phish.eml"]);
  deepEqual(s.errors, []);
  const py = await pythonFacts(files["phish.eml"]);
  compareWithPython(s, py, "phish.eml");
  const r = s.results;
  // Encoded words: UTF-8 B (Subject, To), UTF-8 Q (Cc); RFC 2231 file name.
  equal(r.subject, "Ihr Konto wurde eingeschränkt – Aktion erforderlich");
  deepEqual(r.to, [{ name: "Björn Müller", address: "bjoern@example.org" }]);
  deepEqual(r.cc, [{ name: "Françoise Dupont", address: "francoise@example.org" }]);
  ok(r.attachments.some((a) => a.filename === "Zahlungsübersicht März.doc"));
  equal(r.date, "2024-03-05T09:41:02.000Z");
  equal(r.x_originating_ip, "203.0.113.9");
  equal(r.user_agent, "Microsoft Outlook 16.0");
  equal(r.return_path, "bounce@mailer-example.net");
  equal(r.delivered_to, "bjoern@example.org");

  // The nested message/rfc822 is a child; scanned again it matches Python's nested message.
  const nested = attachments(s).find((e) => meta(e).content_type === "message/rfc822")!;
  equal(meta(nested).filename, "Weitergeleitet.eml");
  const inner = await scan(nested.content);
  deepEqual(inner.errors, []);
  compareWithPython(inner, py.messages[0], "Weitergeleitet.eml");
  equal(inner.results.subject, "Grüße aus Köln"); // ISO-8859-1 Q
  deepEqual(inner.results.from, {
    name: "Jürgen Faßbender",
    address: "juergen@lieferant-example.de",
  });
  equal(
    body(inner, "text/plain"),
    "Grüße aus Köln, anbei die Unterlagen: http://lieferant-example.de/unterlagen\n",
  );
});

Deno.test("email: Received hops and the receiving server's SPF/DKIM/DMARC verdicts", async () => {
  const r = (await scanFile((await emailFiles())["phish.eml"])).results;
  deepEqual(r.received.map(({ raw: _, ...hop }) => hop), [
    {
      from: "mail.mailer-example.net",
      ip: "203.0.113.9",
      by: "mx.example.org",
      with: "ESMTPS",
      id: "4Tq9Xk1Zz5z9vK",
      for: "bjoern@example.org",
      date: "2024-03-05T09:41:12.000Z",
    },
    {
      from: "[IPv6:2001:db8::25]",
      ip: "2001:db8::25",
      by: "mail.mailer-example.net",
      with: "esmtpa",
      id: "1rhQ2x-0004bC-1F",
      date: "2024-03-05T09:41:10.000Z",
    },
    {
      from: "EXCH01.corp.example",
      ip: "10.1.2.3",
      by: "EXCH02.corp.example",
      with: "Microsoft SMTP Server",
      id: "15.2.1118.40",
      date: "2024-03-05T09:41:05.000Z",
    },
  ]);
  const a = r.authentication;
  deepEqual([a.authserv_id, a.spf, a.dkim, a.dmarc, a.arc], [
    "mx.example.org",
    "fail",
    "none",
    "fail",
    null,
  ]);
  deepEqual(a.results[0].results.map((x) => [x.method, x.result, x.properties]), [
    ["spf", "fail", { "smtp.mailfrom": "mailer-example.net" }],
    ["dkim", "none", { "header.d": "none" }],
    ["dmarc", "fail", { "header.from": "paypal.com" }],
  ]);
  equal(a.results[0].results[2].comment, "p=REJECT sp=REJECT dis=NONE");
  deepEqual(a.received_spf.map((x) => [x.result, x.properties["client-ip"]]), [[
    "fail",
    "203.0.113.9",
  ]]);
});

Deno.test("email: links of quoted-printable bodies are whole: soft line breaks joined, =3D decoded, &amp; resolved", async () => {
  const files = await emailFiles();
  const raw = await Deno.readTextFile(files["phish.eml"]);
  ok(raw.includes("session=3DZx7Kq2PwLm9Rt4Vb&redirect=\r\n=3Dhttps"), "a soft break, then =3D");
  ok(!raw.includes(PHISH_URL), "the raw body breaks the URL across soft line breaks");
  const s = await scanFile(files["phish.eml"]);
  deepEqual(s.results.links, [
    PHISH_URL,
    "https://www.paypal.com/signin",
    "https://account-check.org/collect",
  ]);
  ok(body(s, "text/plain")!.includes(PHISH_URL));
  ok(body(s, "text/html")!.includes(`href="${PHISH_URL.replaceAll("&", "&amp;")}"`));
});

Deno.test("email: what an analyst flags in phish.eml", async () => {
  const s = await scanFile((await emailFiles())["phish.eml"]);
  deepEqual(s.results.findings.map((f) => [f.id, f.severity, f.detail]), [
    ["display_name_spoofing", "high", '"service@paypal.com" <service@paypa1-support.net>'],
    ["dmarc_fail", "high", "dmarc=fail according to mx.example.org (p=REJECT sp=REJECT dis=NONE)"],
    [
      "reply_to_domain_mismatch",
      "medium",
      "From service@paypa1-support.net, Reply-To review@account-check.org",
    ],
    [
      "spf_fail",
      "medium",
      "spf=fail according to mx.example.org (mx.example.org: domain of bounce@mailer-example.net does not designate 203.0.113.9 as permitted sender)",
    ],
    [
      "macro_capable_attachment",
      "medium",
      '"Rechnung_2024-0305.xls"; "Zahlungsübersicht März.doc"',
    ],
    [
      "link_text_domain_mismatch",
      "medium",
      `shows "https://www.paypal.com/signin", opens ${PHISH_URL}`,
    ],
    ["html_form", "medium", "action https://account-check.org/collect"],
    [
      "return_path_domain_mismatch",
      "low",
      "From service@paypa1-support.net, Return-Path bounce@mailer-example.net",
    ],
  ]);
  // The forwarded message hides an executable behind ".pdf".
  const nested = attachments(s).find((e) => meta(e).content_type === "message/rfc822")!;
  const inner = await scan(nested.content);
  deepEqual(inner.results.findings.map((f) => [f.id, f.severity, f.detail]), [
    ["double_extension", "high", '"Rechnung.pdf.exe"'],
    ["executable_attachment", "high", '"Rechnung.pdf.exe"'],
  ]);
});

Deno.test("email: attachments are byte for byte what munpack extracts (phish.eml, mpack.eml)", async () => {
  const files = await emailFiles();
  for (const name of ["phish.eml", "mpack.eml"] as const) {
    const dir = await tempDir();
    // munpack lists "file (type)" per part. Its text parts are no reference: its quoted-printable
    // decoder writes a 0xFF byte at each soft line break (the bodies are checked against Python's
    // email package above), and it does not descend into message/rfc822 parts.
    const listing = await sh("munpack", ["-t", "-C", dir, files[name]]);
    const theirs: string[] = [];
    for (const [, file, type] of listing.matchAll(/^(.+) \(([^)]+)\)$/gm)) {
      if (!type.startsWith("text/")) theirs.push(sha256(await Deno.readFile(join(dir, file))));
    }
    ok(theirs.length >= 1, listing);
    const s = await scanFile(files[name]);
    const ours = attachments(s).filter((e) => meta(e).content_type !== "message/rfc822")
      .map((e) => sha256(bytes(e.content)));
    deepEqual(ours.sort(), theirs.sort(), name);
  }
  const mp = await scanFile(files["mpack.eml"]);
  const doc = await Deno.readFile((await realFiles())["report.doc"]);
  deepEqual(mp.results.attachments.map((a) => [a.filename, a.size]), [[
    "statement.doc",
    doc.length,
  ]]);
  deepEqual(named(mp), [
    ["statement.doc", sha256(doc)],
  ]);
  equal(mp.results.subject, "Your statement");
});

/** What python3-olefile (an independent CFB reader) finds in an .msg. */
const PY_OLE = `import hashlib, json, sys
import olefile

ole = olefile.OleFileIO(sys.argv[1])


def text(path):
    return ole.openstream(path).read().decode("utf-16-le").rstrip("\\0") if ole.exists(path) else None


def attachments(prefix):
    out = []
    for entry in sorted({e[len(prefix)] for e in ole.listdir(streams=True, storages=True)
                         if len(e) > len(prefix) and e[:len(prefix)] == prefix
                         and e[len(prefix)].startswith("__attach_version1.0_")}):
        base = "/".join(prefix + [entry]) + "/"
        data = base + "__substg1.0_37010102"
        out.append({
            "name": text(base + "__substg1.0_3707001F") or text(base + "__substg1.0_3001001F"),
            "sha256": hashlib.sha256(ole.openstream(data).read()).hexdigest() if ole.exists(data) else None,
            "mime": text(base + "__substg1.0_370E001F"),
            "embedded_subject": text(base + "__substg1.0_3701000D/__substg1.0_0037001F"),
        })
    return out


recipients = []
for i in range(16):
    base = "__recip_version1.0_#%08X/" % i
    if ole.exists(base + "__substg1.0_3001001F"):
        recipients.append([text(base + "__substg1.0_3001001F"), text(base + "__substg1.0_39FE001F")])
print(json.dumps({
    "clsid": ole.root.clsid,
    "subject": text("__substg1.0_0037001F"),
    "sender": [text("__substg1.0_0C1A001F"), text("__substg1.0_5D01001F")],
    "message_id": text("__substg1.0_1035001F"),
    "headers": text("__substg1.0_007D001F"),
    "body": text("__substg1.0_1000001F"),
    "html": ole.openstream("__substg1.0_10130102").read().decode() if ole.exists("__substg1.0_10130102") else None,
    "recipients": recipients,
    "attachments": attachments([]),
}))
`;

async function oleFacts(path: string) {
  const dir = await tempDir();
  await Deno.writeTextFile(join(dir, "ole.py"), PY_OLE);
  return JSON.parse(await sh(PYTHON, [join(dir, "ole.py"), path]));
}

Deno.test("email: report.msg, value by value against python3-olefile's reading of the streams", async () => {
  const files = await emailFiles();
  const ole = await oleFacts(files["report.msg"]);
  equal(ole.clsid, "00020D0B-0000-0000-C000-000000000046");
  const s = await scanFile(files["report.msg"]);
  deepEqual(s.errors, []);
  const r = s.results;
  equal(r.format, "msg");
  equal(r.subject, ole.subject);
  deepEqual([r.from?.name, r.from?.address], ole.sender);
  equal(r.message_id, ole.message_id);
  deepEqual([...r.to, ...r.cc].map((b) => [b.name, b.address]), ole.recipients);
  equal(body(s, "text/plain"), ole.body);
  equal(body(s, "text/html"), ole.html);
  equal(body(s, "application/rtf"), MSG.rtf);
  // The transport headers are read as a message's headers: hops and verdicts come from them.
  equal(ole.headers, MSG.headers);
  deepEqual(r.received.map((h) => [h.from, h.ip, h.by, h.date]), [
    ["mail.invoices-example.com", "198.51.100.7", "mx.example.org", "2024-03-06T14:02:11.000Z"],
  ]);
  deepEqual([r.authentication.spf, r.authentication.dkim, r.authentication.dmarc], [
    "pass",
    "pass",
    "pass",
  ]);
  deepEqual(r.reply_to, [{ name: "", address: "payments@collect-example.ru" }]);
  equal(r.date, "2024-03-06T14:02:05.000Z");
  deepEqual(r.outlook, {
    message_class: "IPM.Note",
    sender_address_type: "SMTP",
    client_submit_time: "2024-03-06T14:02:05.000Z",
    delivery_time: "2024-03-06T14:02:11.000Z",
    creation_time: null,
    has_transport_headers: true,
    attachments_by_reference: [],
  });
  // Attachments: names, MIME types and bytes as olefile reads the attachment storages.
  const files_ = ole.attachments as { name: string; sha256: string | null; mime: string | null }[];
  const children = attachments(s).filter((e) => meta(e).part === "attachment");
  deepEqual(
    children.map((e) => [meta(e).filename, sha256(bytes(e.content)), meta(e).content_type]),
    files_.filter((a) => a.sha256).map((a) => [a.name, a.sha256, a.mime]),
  );
  equal(r.attachments[1].content_id, "image001@stoq");
  equal(r.attachments[1].disposition, "inline");
  deepEqual(r.findings.map((f) => f.id), [
    "reply_to_domain_mismatch",
    "macro_capable_attachment",
    "link_text_domain_mismatch",
  ]);

  // The embedded item is a child .msg of its own: olefile opens it, and scanning it gives its
  // subject and its attachment.
  const embedded = attachments(s).find((e) => meta(e).part === "message")!;
  equal(meta(embedded).filename, `${MSG.embeddedSubject}.msg`);
  equal(ole.attachments[2].embedded_subject, MSG.embeddedSubject);
  const dir = await tempDir();
  await Deno.writeFile(join(dir, "embedded.msg"), bytes(embedded.content));
  const inner = await oleFacts(join(dir, "embedded.msg"));
  equal(inner.subject, MSG.embeddedSubject);
  const again = await scan(embedded.content);
  deepEqual(again.errors, []);
  equal(again.results.subject, MSG.embeddedSubject);
  equal(body(again, "text/plain"), MSG.embeddedNote);
  deepEqual(named(again), [
    [MSG.noteName, sha256(MSG.noteContent)],
  ]);
  deepEqual(inner.attachments.map((a: { name: string; sha256: string }) => [a.name, a.sha256]), [
    [MSG.noteName, sha256(MSG.noteContent)],
  ]);
});

Deno.test("email: damaged messages give what can be read and a named error", async () => {
  const files = await emailFiles();
  const eml = await Deno.readFile(files["phish.eml"]);
  const text = new TextDecoder().decode(eml);

  // Cut inside the base64 of the zip: the parts before it are whole, the closing boundaries
  // never come.
  const cut = await scan(eml.subarray(0, text.indexOf("Unterlagen.zip") + 400));
  equal(cut.results.subject, "Ihr Konto wurde eingeschränkt – Aktion erforderlich");
  ok(cut.results.attachments.some((a) => a.filename === "Rechnung_2024-0305.xls"));
  ok(cut.errors.length >= 1, JSON.stringify(cut.errors));
  for (const e of cut.errors) match(e, /^email: multipart boundary ".+" is never closed/);

  // Cut inside the header section.
  const head = await scan(eml.subarray(0, text.indexOf("Subject:") + 3));
  equal(head.results.received.length, 3);
  deepEqual(head.errors, [
    "email: no blank line ends the header section: the message is truncated or has no body",
  ]);

  // Not a message at all.
  const junk = await scan("\x00\x01 this is not mail\n");
  match(junk.errors[0], /does not start with a header field \(offset 0\)/);

  // Deeper than max_depth: the parser gives up, the headers are still read.
  let nested = "Content-Type: text/plain\r\n\r\nbottom\r\n";
  for (let i = 0; i < 60; i++) {
    nested =
      `Content-Type: multipart/mixed; boundary="b${i}"\r\n\r\n--b${i}\r\n${nested}--b${i}--\r\n`;
  }
  const deep = await scan(`From: a@example.com\r\nSubject: deep\r\n${nested}`);
  equal(deep.results.subject, "deep");
  match(
    deep.errors[0],
    /Maximum MIME nesting depth of 50 levels exceeded; only the top-level header section was read/,
  );

  // More attachments than max_attachments: the first ones are kept and the cap is named.
  const few = await scan(eml, { max_attachments: 2 });
  equal(few.results.attachments.length, 2);
  equal(few.results.attachments_truncated, true);
  deepEqual(few.errors, [
    "email: more than 2 attachments; kept the first 2 (raise max_attachments to keep more)",
  ]);

  // Every truncation and random corruption of the message ends, with a result.
  for (let tenth = 0; tenth < 10; tenth++) {
    ok((await scan(eml.subarray(0, eml.length * tenth / 10))).results.format === "mime");
  }
  for (const copy of corruptedCopies(eml, { count: 60, flips: 20, seed: 7 })) {
    ok((await scan(copy)).results.format === "mime");
  }
});

Deno.test("email: damaged .msg files: loops in sector chains and the directory, huge sizes, a cut header", async () => {
  const msg = await Deno.readFile((await emailFiles())["report.msg"]);
  const v = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.length);
  const sector = 512;
  const dirStart = v(msg).getUint32(48, true);
  const dirAt = (dirStart + 1) * sector;

  deepEqual((await scan(msg.subarray(0, 300))).errors, [
    "msg: compound file header truncated: 300 of 512 bytes",
  ]);
  deepEqual((await scan(new TextEncoder().encode("From: x"))).results.format, "mime");

  // The directory's own FAT entry points back at itself: a loop (it hung @kenjiuno/msgreader).
  const loop = msg.slice();
  const fatSector = v(loop).getUint32(76, true);
  v(loop).setUint32((fatSector + 1) * sector + 4 * dirStart, dirStart, true);
  match((await scan(loop)).errors[0], /^msg: directory: FAT chain loops back to sector \d+$/);

  // The root's child is its own sibling (this too hung msgreader): named, and the message read.
  const sib = msg.slice();
  const child = v(sib).getUint32(dirAt + 0x4c, true);
  v(sib).setUint32(dirAt + 128 * child + 0x48, child, true);
  v(sib).setUint32(dirAt + 128 * child + 0x44, child, true);
  const sibling = await scan(sib);
  equal(sibling.results.subject, MSG.subject);
  ok(
    sibling.errors.includes(
      `msg: directory entry ${child} is referenced twice (cycle in the tree)`,
    ),
  );

  // A stream that claims 2 GB: what its chain holds is read, the rest named.
  const huge = msg.slice();
  v(huge).setUint32(dirAt + 128 * child + 0x78, 0x7fffff00, true);
  const big = await scan(huge);
  equal(big.results.subject, MSG.subject);

  for (let tenth = 1; tenth < 10; tenth++) {
    ok(
      (await scan(msg.subarray(0, Math.max(512, msg.length * tenth / 10)))).results.format ===
        "msg",
    );
  }
  for (const copy of corruptedCopies(msg, { count: 200, from: 512, flips: 8, seed: 11 })) {
    ok((await scan(copy)).results.format === "msg");
  }
});
