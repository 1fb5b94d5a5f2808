/**
 * Outlook items (.msg), after [MS-OXMSG]: an OLE compound file whose storages hold MAPI objects
 * (the message, `__recip_version1.0_#N` recipients, `__attach_version1.0_#N` attachments, an
 * embedded item in an attachment's `__substg1.0_3701000D` storage). Each object keeps its
 * fixed-size properties in `__properties_version1.0` (16-byte entries after a header of 32, 24
 * or 8 bytes) and each variable-size one in a stream named after its tag, `__substg1.0_TTTTtttt`.
 *
 * Read with the project's bounded compound-file reader (lib/office/cfb.ts), not with
 * @kenjiuno/msgreader, which the issue suggested: msgreader walks sector chains and the
 * directory tree without a check, so a loop in either made it spin forever (two crafted copies of
 * the test .msg hung it), it allocates stream sizes as the file states them, and it costs four
 * times the yara worker per message. This reader reads only the properties the report uses.
 *
 * An embedded item becomes a child .msg of its own, written with the npm `cfb` writer from the
 * streams of its storage (the property stream's header widened to a top-level message's, the
 * named-property map copied from the root), as Outlook saves an attached item. The message's
 * internet headers (PidTagTransportMessageHeaders, present on received mail) are read by the MIME
 * reader, so an .msg gives the same trace and authentication fields as the .eml it came from;
 * the MAPI properties fill in what the headers do not say.
 */
import { type CfbEntry, CompoundFile, filetime } from "../office/cfb.ts";
import { codePageDecoder } from "../office/codepage.ts";
import { readMime } from "./mime.ts";
import { decompressBody } from "./rtf.ts";
import {
  emptyMessage,
  type Mailbox,
  type ParsedMessage,
  type ReadLimits,
  roomForPart,
} from "./message.ts";

// Property ids ([MS-OXPROPS]) the report uses.
const PR = {
  messageClass: 0x001a,
  subject: 0x0037,
  clientSubmitTime: 0x0039,
  transportHeaders: 0x007d,
  senderName: 0x0c1a,
  senderAddrType: 0x0c1e,
  senderEmail: 0x0c1f,
  deliveryTime: 0x0e06,
  body: 0x1000,
  rtfCompressed: 0x1009,
  html: 0x1013,
  internetMessageId: 0x1035,
  displayName: 0x3001,
  addrType: 0x3002,
  emailAddress: 0x3003,
  creationTime: 0x3007,
  attachData: 0x3701,
  attachFilename: 0x3704,
  attachMethod: 0x3705,
  attachLongFilename: 0x3707,
  attachMimeTag: 0x370e,
  attachContentId: 0x3712,
  smtpAddress: 0x39fe,
  internetCodepage: 0x3fde,
  messageCodepage: 0x3ffd,
  senderSmtp: 0x5d01,
  recipientType: 0x0c15,
  attachHidden: 0x7ffe,
} as const;

const PROPERTIES = "__properties_version1.0";
const ATTACH_BY_VALUE = 1;
const ATTACH_EMBEDDED = 5;

/** One MAPI object's storage: its fixed-size values and its property streams, by tag. */
class MapiObject {
  readonly fixed = new Map<number, DataView>();
  readonly streams = new Map<number, CfbEntry>();

  constructor(
    private readonly cf: CompoundFile,
    readonly dir: string,
    entries: CfbEntry[],
    headerSize: number,
    private readonly ansi: { decoder: TextDecoder },
    errors: string[],
  ) {
    const prefix = dir === "" ? "" : `${dir}/`;
    for (const e of entries) {
      if (e.type !== "stream" || !e.path.startsWith(prefix)) continue;
      const name = e.path.slice(prefix.length);
      if (name.includes("/")) continue;
      const tag = /^__substg1\.0_([0-9A-Fa-f]{8})$/.exec(name);
      if (tag) this.streams.set(parseInt(tag[1], 16), e);
      else if (name === PROPERTIES) this.readFixed(cf.read(e), headerSize, errors);
    }
  }

  private readFixed(table: Uint8Array, headerSize: number, errors: string[]): void {
    if ((table.length - headerSize) % 16 !== 0) {
      errors.push(
        `msg: ${
          this.dir || "root"
        }/${PROPERTIES} is ${table.length} bytes, not a ${headerSize}-byte ` +
          "header and 16-byte entries; read the whole entries",
      );
    }
    const v = new DataView(table.buffer, table.byteOffset, table.length);
    for (let at = headerSize; at + 16 <= table.length; at += 16) {
      this.fixed.set(
        v.getUint32(at, true),
        new DataView(table.buffer, table.byteOffset + at + 8, 8),
      );
    }
  }

  /** A string property (PtypString, or PtypString8 in the message's code page). */
  string(id: number): string | null {
    const unicode = this.streams.get(id << 16 | 0x001f);
    if (unicode) return trimNul(new TextDecoder("utf-16le").decode(this.cf.read(unicode)));
    const ansi = this.streams.get(id << 16 | 0x001e);
    return ansi ? trimNul(this.ansi.decoder.decode(this.cf.read(ansi))) : null;
  }

  /** A binary property (PtypBinary). */
  binary(id: number): Uint8Array | null {
    const e = this.streams.get(id << 16 | 0x0102);
    return e ? this.cf.read(e) : null;
  }

  /** A 32-bit integer property (PtypInteger32). */
  int(id: number): number | null {
    return this.fixed.get(id << 16 | 0x0003)?.getInt32(0, true) ?? null;
  }

  /** A boolean property (PtypBoolean). */
  bool(id: number): boolean {
    return (this.fixed.get(id << 16 | 0x000b)?.getUint8(0) ?? 0) !== 0;
  }

  /** A time property (PtypTime) as ISO 8601. */
  time(id: number): string | null {
    const v = this.fixed.get(id << 16 | 0x0040);
    return v ? filetime(v, 0) ?? null : null;
  }
}

/** Reads an Outlook .msg. Never throws for bad input: problems go to `errors`. */
export async function readMsg(bytes: Uint8Array, limits: ReadLimits): Promise<ParsedMessage> {
  let cf: CompoundFile;
  try {
    cf = new CompoundFile(bytes);
  } catch (e) {
    const m = emptyMessage("msg");
    m.errors.push(`msg: ${(e as Error).message}`);
    return m;
  }
  const errors: string[] = [];
  const ansi = { decoder: codePageDecoder(1252) };
  // Entries by their top-level storage ("" for the root's own), so that each object looks only
  // at its own storage: an item may hold tens of thousands of entries.
  const byTop = new Map<string, CfbEntry[]>();
  for (const e of cf.entries) {
    const slash = e.path.indexOf("/");
    const top = slash < 0 ? "" : e.path.slice(0, slash);
    const list = byTop.get(top);
    if (list) list.push(e);
    else byTop.set(top, [e]);
  }
  const under = (top: string) => byTop.get(top) ?? [];
  const entries = under("");
  const root = new MapiObject(cf, "", entries, 32, ansi, errors);
  const codepage = root.int(PR.messageCodepage) ?? root.int(PR.internetCodepage);
  if (codepage !== null) ansi.decoder = codePageDecoder(codepage);

  const headers = root.string(PR.transportHeaders);
  const m = headers
    ? await readMime(new TextEncoder().encode(headers.trimEnd() + "\r\n\r\n"), limits, {
      headersOnly: true,
    })
    : emptyMessage("msg");
  m.format = "msg";
  m.errors = m.errors.map((e) => e.replace(/^email: /, "msg: transport headers: "));
  m.errors.push(...errors);

  // The transport headers may be partial (Exchange keeps them as received); MAPI fills gaps.
  m.subject ??= root.string(PR.subject);
  m.message_id ??= root.string(PR.internetMessageId);
  const submitted = root.time(PR.clientSubmitTime);
  m.date ??= submitted ? new Date(submitted).toUTCString() : null;
  const addrType = root.string(PR.senderAddrType);
  const senderEmail = root.string(PR.senderEmail);
  const senderAddress = root.string(PR.senderSmtp) ??
    (addrType?.toUpperCase() === "SMTP" ? senderEmail : null) ?? senderEmail;
  const senderName = root.string(PR.senderName);
  if (m.from === null && (senderName || senderAddress)) {
    m.from = { name: senderName ?? "", address: senderAddress ?? "" };
  }
  const byType: Record<number, Mailbox[]> = { 1: [], 2: [], 3: [] };
  for (const dir of storages(entries, "__recip_version1.0_#").slice(0, 1000)) {
    const r = new MapiObject(cf, dir, under(dir), 8, ansi, m.errors);
    const address = r.string(PR.smtpAddress) ?? r.string(PR.emailAddress) ?? "";
    byType[r.int(PR.recipientType) ?? 1]?.push({ name: r.string(PR.displayName) ?? "", address });
  }
  if (m.to.length === 0) m.to = byType[1];
  if (m.cc.length === 0) m.cc = byType[2];
  if (m.bcc.length === 0) m.bcc = byType[3];

  const body = root.string(PR.body);
  if (body) m.text = body;
  const htmlText = root.string(PR.html);
  const htmlBytes = htmlText === null ? root.binary(PR.html) : null;
  // An HTML body stored as bytes is in the message's internet code page.
  if (htmlText) m.html = htmlText;
  else if (htmlBytes) {
    m.html = codePageDecoder(root.int(PR.internetCodepage) ?? 65001).decode(htmlBytes);
  }
  const rtfCompressed = root.binary(PR.rtfCompressed);
  if (rtfCompressed) {
    const { rtf, error } = decompressBody(rtfCompressed);
    if (rtf) m.rtf = rtf;
    if (error) m.errors.push(`msg: RTF body: ${error}`);
  }

  const byReference: string[] = [];
  for (const dir of storages(entries, "__attach_version1.0_#")) {
    if (!roomForPart(m, limits, "msg")) break;
    const own = under(dir);
    const a = new MapiObject(cf, dir, own, 8, ansi, m.errors);
    const name = a.string(PR.attachLongFilename) ?? a.string(PR.attachFilename) ??
      a.string(PR.displayName);
    const method = a.int(PR.attachMethod) ?? ATTACH_BY_VALUE;
    const object = `${dir}/__substg1.0_3701000D`;
    if (own.some((e) => e.path === object && e.type === "storage")) {
      // An embedded item (method 5) becomes an .msg; an OLE object (6), its compound file.
      const item = method === ATTACH_EMBEDDED;
      const nameid = item ? under("__nameid_version1.0") : [];
      m.parts.push({
        content: await storageFile(cf, own, object, item, nameid),
        filename: item ? `${name ?? dir}.msg` : name,
        content_type: item ? "application/vnd.ms-outlook" : "application/x-ole-storage",
        disposition: "attachment",
        kind: item ? "message" : "attachment",
      });
      continue;
    }
    const data = a.binary(PR.attachData);
    if (data === null) {
      byReference.push(name ?? dir); // attached by reference: no file in the item
      continue;
    }
    const contentId = a.string(PR.attachContentId);
    const hidden = a.bool(PR.attachHidden);
    m.parts.push({
      content: data,
      filename: name,
      content_type: (a.string(PR.attachMimeTag) ?? "application/octet-stream").toLowerCase(),
      disposition: hidden && contentId ? "inline" : "attachment",
      kind: "attachment",
      ...(contentId ? { content_id: contentId } : {}),
      ...(hidden ? { hidden: true } : {}),
    });
  }
  m.outlook = {
    message_class: root.string(PR.messageClass),
    sender_address_type: addrType,
    client_submit_time: submitted,
    delivery_time: root.time(PR.deliveryTime),
    creation_time: root.time(PR.creationTime),
    has_transport_headers: headers !== null,
    // Attachments that link to a file instead of holding it.
    attachments_by_reference: byReference,
  };
  // The reader names each defect once it meets it, reading streams included.
  m.errors = [...new Set([...m.errors, ...cf.errors.map((e) => `msg: ${e}`)])];
  return m;
}

/** The root's storages whose names start with `prefix`, in name order. */
function storages(rootEntries: CfbEntry[], prefix: string): string[] {
  return rootEntries.filter((e) => e.type === "storage" && e.path.startsWith(prefix))
    .map((e) => e.path).sort();
}

/**
 * The storage `dir` as a compound file of its own: its streams and storages at the root. For an
 * embedded item ([MS-OXMSG] 2.2.2.1) its property stream's 24-byte header is widened to a
 * top-level message's 32 and the container's named-property map (`nameid`) is copied in.
 */
async function storageFile(
  cf: CompoundFile,
  entries: CfbEntry[],
  dir: string,
  item: boolean,
  nameid: CfbEntry[],
): Promise<Uint8Array> {
  const CFB = await import("cfb");
  const clsid = entries.find((e) => e.path === dir)?.clsid;
  const out = CFB.utils.cfb_new(
    item
      ? { CLSID: "0b0d020000000000c000000000000046" }
      : clsid
      ? { CLSID: clsidBytes(clsid) }
      : {},
  );
  // Added unchecked (a checked add re-sorts the whole tree each time); write() rebuilds it once.
  const add = (path: string, data: Uint8Array) =>
    CFB.utils.cfb_add(out, `/${path}`, data, { unsafe: true } as never);
  for (const e of entries) {
    if (e.type !== "stream" || !e.path.startsWith(`${dir}/`)) continue;
    const path = e.path.slice(dir.length + 1);
    let data = cf.read(e);
    if (item && path === PROPERTIES && data.length >= 24) {
      const widened = new Uint8Array(data.length + 8);
      widened.set(data.subarray(0, 24));
      widened.set(data.subarray(24), 32);
      data = widened;
    }
    add(path, data);
  }
  for (const e of nameid) if (e.type === "stream") add(e.path, cf.read(e));
  return new Uint8Array(CFB.write(out, { type: "array" }) as number[]);
}

/** A CLSID's registry text form as the 16 bytes a compound file stores (first fields little-endian). */
function clsidBytes(text: string): string {
  const h = text.replaceAll("-", "").toLowerCase();
  const swap = (s: string) => s.match(/../g)!.reverse().join("");
  return swap(h.slice(0, 8)) + swap(h.slice(8, 12)) + swap(h.slice(12, 16)) + h.slice(16);
}

function trimNul(s: string): string {
  const nul = s.indexOf("\0");
  return nul < 0 ? s : s.slice(0, nul);
}
