/**
 * Outlook items (.msg, [MS-OXMSG]: MAPI properties in an OLE compound file), read with
 * @kenjiuno/msgreader, which decodes the property streams, recipients, attachments and embedded
 * items (rebuilt as .msg files of their own).
 *
 * msgreader trusts its input: a loop in a sector chain or in the directory tree makes it spin
 * forever, and a stream size from the file is allocated as is. So each reader is fenced before
 * use: the compound-file header must describe no more sectors than the file holds, every chain
 * step is counted against a budget proportional to the file's size, a stream may not claim more
 * bytes than the file has, and the directory tree is walked by our own bounded version of its
 * walk (each entry once, 64 levels at most). Whatever still goes wrong is caught and named.
 *
 * The message's internet headers (PidTagTransportMessageHeaders, present on received mail) are
 * read by the MIME reader, so an .msg gives the same trace and authentication fields as the .eml
 * it came from; the MAPI properties fill in what the headers do not say.
 */
import { Buffer } from "node:buffer";
import MsgReaderModule from "@kenjiuno/msgreader";
import { rfc5322DateToIso } from "./headers.ts";
import { readMime } from "./mime.ts";
import { decompressBody } from "./rtf.ts";
import {
  emptyMessage,
  type Mailbox,
  type ParsedMessage,
  type ReadLimits,
  roomForPart,
} from "./message.ts";

/** The part of msgreader's field data this reader uses. */
interface MsgFields {
  error?: string;
  messageClass?: string;
  subject?: string;
  senderName?: string;
  senderEmail?: string;
  senderSmtpAddress?: string;
  senderAddressType?: string;
  headers?: string;
  body?: string;
  bodyHtml?: string;
  html?: Uint8Array;
  compressedRtf?: Uint8Array;
  internetCodepage?: number;
  clientSubmitTime?: string;
  messageDeliveryTime?: string;
  creationTime?: string;
  messageId?: string;
  recipients?: {
    name?: string;
    email?: string;
    smtpAddress?: string;
    recipType?: string;
    addressType?: string;
  }[];
  attachments?: MsgAttachment[];
}

interface MsgAttachment {
  fileName?: string;
  fileNameShort?: string;
  name?: string;
  attachMimeTag?: string;
  pidContentId?: string;
  attachmentHidden?: boolean;
  innerMsgContent?: boolean;
  dataId?: number;
  folderId?: number;
}

interface DirEntry {
  type: number;
  previousProperty: number;
  nextProperty: number;
  childProperty: number;
  children?: number[];
}

interface ReaderInternals {
  getNextBlock(offset: number): number;
  getNextBlockSmall(offset: number): number;
  readProperty(entry: { sizeBlock: number }): Uint8Array;
  createPropertyHierarchy(props: DirEntry[], node: DirEntry): void;
}

interface MsgReaderInstance {
  reader: ReaderInternals;
  getFileData(): MsgFields;
  getAttachment(a: MsgAttachment): { fileName: string; content: Uint8Array };
}

// msgreader is CommonJS with `exports.default`; Deno hands over `module.exports`.
const MsgReader = ((MsgReaderModule as unknown as { default?: unknown }).default ??
  MsgReaderModule) as unknown as new (buffer: ArrayBuffer) => MsgReaderInstance;

const NO_STREAM = -1;
const DIRECTORY = 1;
const MAX_DIRECTORY_DEPTH = 64;

/** Raised by the fences; its message is the error the result shows. */
class MsgFenceError extends Error {}

/** Reads an Outlook .msg. Never throws for bad input: problems go to `errors`. */
export async function readMsg(bytes: Uint8Array, limits: ReadLimits): Promise<ParsedMessage> {
  const problem = headerProblem(bytes);
  if (problem) {
    const m = emptyMessage("msg");
    m.errors.push(`msg: ${problem}`);
    return m;
  }
  const buffer = bytes.buffer.slice(
    bytes.byteOffset,
    bytes.byteOffset + bytes.length,
  ) as ArrayBuffer;
  const msg = new MsgReader(buffer);
  fence(msg.reader, bytes.length);
  let fields: MsgFields;
  // msgreader reports an unreadable appointment recurrence with console.debug, which would
  // land in stoq's JSON on stdout. The call is synchronous, so nothing else runs meanwhile.
  const debug = console.debug;
  console.debug = () => {};
  try {
    fields = msg.getFileData();
  } catch (e) {
    const m = emptyMessage("msg");
    m.errors.push(`msg: cannot read the Outlook item: ${describe(e)}`);
    return m;
  } finally {
    console.debug = debug;
  }
  if (fields.error) {
    const m = emptyMessage("msg");
    m.errors.push(`msg: ${fields.error}`);
    return m;
  }
  const headers = fields.headers
    ? new TextEncoder().encode(fields.headers.trimEnd() + "\r\n\r\n")
    : null;
  const m = headers ? await readMime(headers, limits, { headersOnly: true }) : emptyMessage("msg");
  m.format = "msg";
  m.errors = m.errors.map((e) => e.replace(/^email: /, "msg: transport headers: "));
  // The transport headers may be partial (Exchange keeps them as received); MAPI fills gaps.
  m.subject ??= fields.subject ?? null;
  m.message_id ??= fields.messageId ?? null;
  m.date ??= fields.clientSubmitTime ?? null;
  const senderAddress = fields.senderSmtpAddress ??
    (fields.senderAddressType?.toUpperCase() === "SMTP" ? fields.senderEmail : undefined) ??
    fields.senderEmail;
  if (m.from === null && (fields.senderName || senderAddress)) {
    m.from = { name: fields.senderName ?? "", address: senderAddress ?? "" };
  }
  const byType: Record<string, Mailbox[]> = { to: [], cc: [], bcc: [] };
  for (const r of (fields.recipients ?? []).slice(0, 1000)) {
    const address = r.smtpAddress ?? r.email ?? "";
    byType[r.recipType ?? "to"]?.push({ name: r.name ?? "", address });
  }
  if (m.to.length === 0) m.to = byType.to;
  if (m.cc.length === 0) m.cc = byType.cc;
  if (m.bcc.length === 0) m.bcc = byType.bcc;
  if (fields.body) m.text = fields.body;
  if (fields.bodyHtml) m.html = fields.bodyHtml;
  else if (fields.html) m.html = decodeHtml(fields.html, fields.internetCodepage);
  if (fields.compressedRtf) {
    const { rtf, error } = decompressBody(fields.compressedRtf);
    if (rtf) m.rtf = rtf;
    if (error) m.errors.push(`msg: RTF body: ${error}`);
  }
  const byReference: string[] = [];
  for (const [i, a] of (fields.attachments ?? []).entries()) {
    if (!roomForPart(m, limits, "msg")) break;
    const name = a.fileName ?? a.fileNameShort ?? a.name ?? null;
    if (!a.innerMsgContent && a.dataId === undefined) {
      byReference.push(name ?? `#${i}`);
      continue;
    }
    let content: Uint8Array;
    try {
      content = msg.getAttachment(a).content;
    } catch (e) {
      m.errors.push(`msg: attachment ${i} (${JSON.stringify(name)}): ${describe(e)}`);
      continue;
    }
    if (a.innerMsgContent) {
      m.parts.push({
        content,
        filename: `${a.name ?? `embedded-${i}`}.msg`,
        content_type: "application/vnd.ms-outlook",
        disposition: "attachment",
        kind: "message",
      });
      continue;
    }
    m.parts.push({
      content,
      filename: name,
      content_type: (a.attachMimeTag ?? "application/octet-stream").toLowerCase(),
      disposition: a.attachmentHidden && a.pidContentId ? "inline" : "attachment",
      kind: "attachment",
      ...(a.pidContentId ? { content_id: a.pidContentId } : {}),
      ...(a.attachmentHidden ? { hidden: true } : {}),
    });
  }
  m.outlook = {
    message_class: fields.messageClass ?? null,
    sender_address_type: fields.senderAddressType ?? null,
    client_submit_time: iso(fields.clientSubmitTime),
    delivery_time: iso(fields.messageDeliveryTime),
    creation_time: iso(fields.creationTime),
    has_transport_headers: Boolean(fields.headers),
    // Attachments that link to a file instead of holding it (PidTagAttachMethod 2-4).
    attachments_by_reference: byReference,
  };
  return m;
}

/** Why the compound-file header cannot describe this file, or null ([MS-CFB] 2.2). */
function headerProblem(b: Uint8Array): string | null {
  if (b.length < 512) return `a compound file is at least 512 bytes; this one has ${b.length}`;
  const v = new DataView(b.buffer, b.byteOffset, b.length);
  if (v.getUint32(0) !== 0xd0cf11e0 || v.getUint32(4) !== 0xa1b11ae1) {
    return "no compound-file signature at offset 0";
  }
  const shift = v.getUint16(30, true);
  if (shift !== 9 && shift !== 12) return `sector shift ${shift} at offset 30 (9 or 12 expected)`;
  const sectors = Math.ceil(b.length / (1 << shift));
  for (const [name, offset] of [["FAT", 44], ["mini FAT", 64], ["DIFAT", 72]] as const) {
    const count = v.getUint32(offset, true);
    if (count > sectors) {
      return `the header counts ${count} ${name} sectors (offset ${offset}), the file has ${sectors}`;
    }
  }
  return null;
}

/** Fences msgreader's reader: chain-step budget, stream sizes, a bounded directory walk. */
function fence(reader: ReaderInternals, size: number): void {
  let budget = 8 * (Math.ceil(size / 64) + 1024);
  const spend = () => {
    if (--budget < 0) {
      throw new MsgFenceError("a sector chain loops or is longer than the file (corrupt FAT)");
    }
  };
  const next = reader.getNextBlock.bind(reader);
  const nextSmall = reader.getNextBlockSmall.bind(reader);
  const read = reader.readProperty.bind(reader);
  reader.getNextBlock = (o) => (spend(), next(o));
  reader.getNextBlockSmall = (o) => (spend(), nextSmall(o));
  reader.readProperty = (entry) => {
    if (!entry) throw new MsgFenceError("a directory entry points outside the directory");
    if (entry.sizeBlock < 0 || entry.sizeBlock > size) {
      throw new MsgFenceError(
        `a stream claims ${entry.sizeBlock} bytes in a file of ${size} (corrupt directory entry)`,
      );
    }
    return read(entry);
  };
  const visited = new Set<number>();
  reader.createPropertyHierarchy = (props, node) => buildTree(props, node, visited, 0);
}

/**
 * msgreader's walk of a storage's children (the in-order walk of its sibling tree, [MS-CFB]
 * 2.6.4), visiting each directory entry once and MAX_DIRECTORY_DEPTH storages deep at most.
 */
function buildTree(props: DirEntry[], node: DirEntry, visited: Set<number>, depth: number): void {
  if (!node || node.childProperty === NO_STREAM || depth > MAX_DIRECTORY_DEPTH) return;
  node.children = [];
  const stack: { walk: boolean; index: number }[] = [{ walk: true, index: node.childProperty }];
  while (stack.length > 0) {
    const { walk, index } = stack.pop()!;
    const entry = props[index];
    if (!entry) continue;
    if (!walk) {
      node.children.push(index);
      continue;
    }
    if (visited.has(index)) continue;
    visited.add(index);
    if (entry.type === DIRECTORY) buildTree(props, entry, visited, depth + 1);
    if (entry.nextProperty !== NO_STREAM) stack.push({ walk: true, index: entry.nextProperty });
    stack.push({ walk: false, index });
    if (entry.previousProperty !== NO_STREAM) {
      stack.push({ walk: true, index: entry.previousProperty });
    }
  }
}

/** An HTML body stored as bytes, in the message's internet code page. */
function decodeHtml(bytes: Uint8Array, codepage: number | undefined): string {
  const labels: Record<number, string> = { 65001: "utf-8", 20127: "us-ascii", 28591: "iso-8859-1" };
  const label = codepage ? labels[codepage] ?? `windows-${codepage}` : "utf-8";
  try {
    return new TextDecoder(label).decode(bytes);
  } catch {
    return Buffer.from(bytes).toString("latin1");
  }
}

function iso(date: string | undefined): string | null {
  return date ? rfc5322DateToIso(date) : null;
}

function describe(e: unknown): string {
  if (e instanceof MsgFenceError) return e.message;
  if (e instanceof RangeError) return `a length or offset is out of range (${e.message})`;
  return (e as Error)?.message ?? String(e);
}
