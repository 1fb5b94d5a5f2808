/**
 * The tnef worker on a winmail.dat built from [MS-OXTNEF], checked against the Debian readers
 * `tnef` (attachment names, MIME types and bytes, the HTML body) and `ytnef` (the message's MAPI
 * properties and the attribute stream), and on damaged copies.
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import tnef from "../../plugins/tnef.ts";
import type { ExtractedPayload } from "../../core/engine/plugin.ts";
import { instantiate, makePayload, makeRequest, sh, sha256, tempDir } from "../helpers.ts";
import { emailFiles, TNEF_HTML } from "../fixtures/email_files.ts";
import { corruptedCopies } from "../fixtures/cache.ts";
import { realFiles } from "../realfiles.ts";

interface TnefScan {
  results: {
    subject: string | null;
    message_class: string | null;
    internet_message_id: string | null;
    date_sent: string | null;
    sender: { name: string | null; address: string | null; address_type: string | null };
    recipients: { name: string | null; address: string | null; type: string | null }[];
    attributes: number;
    named_properties: number;
    attachments: {
      filename: string | null;
      title: string | null;
      content_type: string | null;
      method: number | null;
      embedded_message: boolean;
      size: number;
    }[];
    findings: { id: string; severity: string; detail: string }[];
  };
  extracted: ExtractedPayload[];
  errors: string[];
}

const plugin = instantiate(tnef);

async function scan(content: Uint8Array): Promise<TnefScan> {
  const { instance, call } = await plugin;
  const p = makePayload(content);
  return (await instance.scan!(p, makeRequest(p), call)) as unknown as TnefScan;
}

const bytes = (c: Uint8Array | string) => typeof c === "string" ? new TextEncoder().encode(c) : c;
const meta = (e: ExtractedPayload) => e.payload_meta?.extra_data ?? {};

Deno.test("tnef: winmail.dat's attachments are what the Debian tnef tool lists and extracts", async () => {
  const path = (await emailFiles())["winmail.dat"];
  const s = await scan(await Deno.readFile(path));
  deepEqual(s.errors, []);
  // tnef --list-with-mime-types: "name | name | type | ".
  const listing = (await sh("tnef", ["--list-with-mime-types", "-f", path])).split("\n")
    .filter((l) => l !== "").map((l) => l.split("\t|\t"));
  deepEqual(
    s.results.attachments.map((a) => [a.filename, a.embedded_message ? "unknown" : a.content_type]),
    listing.map((l) => [l[0], l[2]]),
  );
  const dir = await tempDir();
  await sh("tnef", ["-C", dir, "--save-body", "--body-pref=H", "-f", path]);
  const children = s.extracted.filter((e) => meta(e).part !== "body");
  for (const child of children) {
    const theirs = await Deno.readFile(join(dir, String(meta(child).filename)));
    if (meta(child).part === "message") {
      // tnef writes the PT_OBJECT value as it is: IID_IMessage, then the embedded TNEF stream.
      equal(
        [...theirs.subarray(0, 16)].map((b) => b.toString(16).padStart(2, "0")).join(""),
        "0703020000000000c000000000000046",
      );
      equal(sha256(bytes(child.content)), sha256(theirs.subarray(16)));
    } else {
      equal(sha256(bytes(child.content)), sha256(theirs), String(meta(child).filename));
    }
  }
  const real = await realFiles();
  deepEqual(children.slice(0, 2).map((c) => sha256(bytes(c.content))), [
    sha256(await Deno.readFile(real["report.doc"])),
    sha256(await Deno.readFile(real["image.jpg"])),
  ]);
  // The HTML body tnef saves is the body child.
  const html = s.extracted.find((e) => meta(e).content_type === "text/html")!;
  equal(sha256(bytes(html.content)), sha256(await Deno.readFile(join(dir, "message.html"))));
  equal(new TextDecoder().decode(bytes(html.content)), TNEF_HTML);
});

Deno.test("tnef: the message's MAPI properties are what ytnef prints", async () => {
  const path = (await emailFiles())["winmail.dat"];
  const s = await scan(await Deno.readFile(path));
  const out = await sh("ytnef", ["-v", "-v", "-v", path]);
  const props: Record<string, string> = {};
  for (
    const [, code, value] of out.matchAll(
      /Code: \[(\w+)\]\n\s+Size: \d+\s+Value: \[([\s\S]*?)\]\n/g,
    )
  ) {
    props[code] = value;
  }
  const r = s.results;
  equal(r.subject, props.PR_SUBJECT);
  equal(r.sender.name, props.PR_SENDER_NAME);
  equal(r.sender.address, props.PR_SENDER_EMAIL_ADDRESS);
  equal(r.sender.address_type, props.PR_SENDER_ADDRTYPE);
  equal(r.internet_message_id, props.PR_INTERNET_MESSAGE_ID);
  const text = s.extracted.find((e) => meta(e).content_type === "text/plain")!;
  equal(new TextDecoder().decode(bytes(text.content)), props.PR_BODY);
  // ytnef names the named property by its string name.
  match(out, /Name: x-stoq-test/);
  equal(r.named_properties, 1);
  equal(r.attributes, 21);
  equal(r.message_class, "IPM.Microsoft Mail.Note");
  equal(r.date_sent, "2024-03-05T09:41:07");
  deepEqual(r.recipients, [{ name: "Bob Example", address: "bob@example.org", type: "to" }]);
  deepEqual(r.attachments.map((a) => [a.title, a.method]), [
    ["INVOIC~1.DOC", 1],
    ["image.jpg", 1],
    ["Forwarded item", 5],
  ]);
  deepEqual(r.findings.map((f) => [f.id, f.detail]), [
    ["macro_capable_attachment", '"Invoice 4471.doc"'],
    [
      "link_text_domain_mismatch",
      'shows "https://billing-example.com/pay", opens https://evil-example.net/pay',
    ],
  ]);
});

Deno.test("tnef: the embedded message is a TNEF stream of its own, as tnef reads it", async () => {
  const s = await scan(await Deno.readFile((await emailFiles())["winmail.dat"]));
  const embedded = s.extracted.find((e) => meta(e).part === "message")!;
  const dir = await tempDir();
  await Deno.writeFile(join(dir, "inner.dat"), bytes(embedded.content));
  equal((await sh("tnef", ["--list", "-f", join(dir, "inner.dat")])).split("\t")[0], "NOTES.TXT");
  const inner = await scan(bytes(embedded.content));
  deepEqual(inner.errors, []);
  const files = inner.extracted.filter((e) => meta(e).part === "attachment");
  deepEqual(files.map((e) => [meta(e).filename, sha256(bytes(e.content))]), [
    ["NOTES.TXT", sha256("embedded note\r\n")],
  ]);
});

Deno.test("tnef: damaged streams give what was read before the damage and a named error", async () => {
  const dat = await Deno.readFile((await emailFiles())["winmail.dat"]);
  const s = await scan(dat);
  // Cut 2000 bytes short, inside image.jpg's data: the .doc before it is whole.
  const cut = await scan(dat.subarray(0, dat.length - 2000));
  equal(cut.results.subject, "Rechnung März");
  const doc = (x: TnefScan) => x.extracted.find((e) => meta(e).filename === "Invoice 4471.doc");
  equal(sha256(bytes(doc(cut)!.content)), sha256(bytes(doc(s)!.content)));
  ok(
    cut.errors.some((e) => /declares \d+ bytes, \d+ remain: the stream is truncated/.test(e)),
    cut.errors.join(),
  );

  // A flipped byte inside the .doc: the checksum names the attribute; the data is still there.
  const flipped = dat.slice();
  const at = findBytes(dat, await Deno.readFile((await realFiles())["report.doc"]));
  flipped[at + 100] ^= 0xff;
  const f = await scan(flipped);
  deepEqual(f.errors, [
    `tnef: attribute 0x0006800f at offset ${
      at - 9
    }: checksum ${(sumOf(dat.subarray(at, at + 9216)))} != ${
      sumOf(flipped.subarray(at, at + 9216))
    }`,
  ]);
  equal(f.results.attachments.length, s.results.attachments.length);

  // Not TNEF; an absurd attribute length; a property count of 2^31.
  deepEqual((await scan(new TextEncoder().encode("hello"))).errors, [
    "tnef: no TNEF signature (0x223E9F78) at offset 0",
  ]);
  const long = dat.slice();
  new DataView(long.buffer).setUint32(6 + 5, 0xfffffff0, true);
  match((await scan(long)).errors[0], /attribute 0x00089006 at offset 6 declares 4294967280 bytes/);
  const props = dat.slice();
  const msgProps = findBytes(dat, Uint8Array.of(0x01, 0x03, 0x90, 0x06, 0x00));
  new DataView(props.buffer).setUint32(msgProps + 9, 0x80000000, true);
  const p = await scan(props);
  ok(
    p.errors.some((e) =>
      /property list of attribute 0x00069003 at offset \d+: .*the rest of the list skipped/.test(e)
    ),
    p.errors.join("\n"),
  );
  equal(p.results.attachments.length, 3);

  for (let at = 0; at < dat.length; at += 97) {
    ok(Array.isArray((await scan(dat.subarray(0, at))).results.attachments));
  }
  for (const copy of corruptedCopies(dat, { count: 300, flips: 10, seed: 3 })) {
    ok(Array.isArray((await scan(copy)).results.attachments));
  }
});

function findBytes(hay: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  throw new Error("not found");
}

function sumOf(b: Uint8Array): number {
  let s = 0;
  for (const x of b) s = (s + x) & 0xffff;
  return s;
}
