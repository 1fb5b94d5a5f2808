/**
 * A reader for TNEF streams (winmail.dat, application/ms-tnef), after [MS-OXTNEF]: the header
 * (signature 0x223E9F78, key), then attributes (level, id, length, data, checksum): message
 * attributes, the message's MAPI properties (attMsgProps), the recipient table, and one block
 * per attachment that starts with attAttachRendData and carries the file (attAttachData) and its
 * MAPI properties (attAttachment: long file name, MIME type, embedded messages).
 *
 * Hand-written because the npm candidate, node-tnef 1.4.0, cannot serve a scanner: it copies
 * the input into a JavaScript array and re-slices the rest of it for every attribute (quadratic),
 * reads lengths without bounds checks, ignores checksums, drops attachments held only in MAPI
 * properties and embedded messages, logs through bunyan at import time and pulls in yargs for
 * its command line. This reader checks every length against the data, counts every loop, names
 * each problem with its offset and keeps what it read before it.
 */
import { filetime, guid } from "../office/cfb.ts";
import { codePageDecoder } from "../office/codepage.ts";

/** The TNEF signature, little-endian at offset 0. */
export const TNEF_SIGNATURE = 0x223e9f78;

const LVL_MESSAGE = 1;
const LVL_ATTACHMENT = 2;

// Attribute ids ([MS-OXTNEF] 2.1.3.2): type in the high word, id in the low one.
const ATT = {
  from: 0x00008000,
  subject: 0x00018004,
  dateSent: 0x00038005,
  dateRecd: 0x00038006,
  messageClass: 0x00078008,
  messageId: 0x00018009,
  body: 0x0002800c,
  priority: 0x0004800d,
  attachData: 0x0006800f,
  attachTitle: 0x00018010,
  attachCreateDate: 0x00038012,
  attachModifyDate: 0x00038013,
  attachTransportFilename: 0x00069001,
  attachRendData: 0x00069002,
  msgProps: 0x00069003,
  recipTable: 0x00069004,
  attachment: 0x00069005,
  tnefVersion: 0x00089006,
  oemCodepage: 0x00069007,
} as const;

// MAPI property ids ([MS-OXPROPS]) this reader reports.
const PR = {
  subject: 0x0037,
  messageClass: 0x001a,
  transportHeaders: 0x007d,
  senderName: 0x0c1a,
  senderAddrType: 0x0c1e,
  senderEmail: 0x0c1f,
  senderSmtp: 0x5d01,
  internetMessageId: 0x1035,
  body: 0x1000,
  rtfCompressed: 0x1009,
  html: 0x1013,
  clientSubmitTime: 0x0039,
  internetCodepage: 0x3fde,
  displayName: 0x3001,
  emailAddress: 0x3003,
  smtpAddress: 0x39fe,
  recipientType: 0x0c15,
  attachData: 0x3701,
  attachExtension: 0x3703,
  attachFilename: 0x3704,
  attachMethod: 0x3705,
  attachLongFilename: 0x3707,
  attachMimeTag: 0x370e,
  attachContentId: 0x3712,
  attachHidden: 0x7ffe,
} as const;

/** A MAPI property value as read: numbers, strings, bytes, or an object with its interface id. */
export type MapiValue = number | bigint | string | boolean | Uint8Array | {
  iid: string;
  data: Uint8Array;
};

/** One MAPI property of a property list. */
export interface MapiProperty {
  id: number;
  type: number;
  /** For named properties (id ≥ 0x8000): the property set and the name or numeric id. */
  name?: { guid: string; id?: number; name?: string };
  values: MapiValue[];
}

/** One attachment of a TNEF stream. */
export interface TnefAttachment {
  /** attAttachTitle: the short (often 8.3) name. */
  title: string | null;
  /** PidTagAttachLongFilename. */
  long_filename: string | null;
  content_type: string | null;
  content_id: string | null;
  /** PidTagAttachMethod: 1 by value, 5 embedded message, 6 OLE object. */
  method: number | null;
  hidden: boolean;
  created: string | null;
  modified: string | null;
  data: Uint8Array | null;
  /** The TNEF stream of an embedded message (PidTagAttachDataObject with IID_IMessage). */
  embedded_message: Uint8Array | null;
}

/** A TNEF recipient (recipient table row). */
export interface TnefRecipient {
  name: string | null;
  address: string | null;
  type: "to" | "cc" | "bcc" | null;
}

/** What a TNEF stream says. */
export interface TnefMessage {
  key: number;
  version: string | null;
  oem_codepage: number | null;
  message_class: string | null;
  subject: string | null;
  message_id: string | null;
  internet_message_id: string | null;
  date_sent: string | null;
  date_received: string | null;
  client_submit_time: string | null;
  priority: number | null;
  sender: { name: string | null; address: string | null; address_type: string | null };
  recipients: TnefRecipient[];
  body: string | null;
  html: Uint8Array | null;
  rtf_compressed: Uint8Array | null;
  transport_headers: string | null;
  named_properties: number;
  attributes: number;
  attachments: TnefAttachment[];
  attachments_truncated: boolean;
  errors: string[];
}

/** Caps on what one stream may make the reader do. */
export interface TnefLimits {
  maxAttributes: number;
  maxAttachments: number;
  maxProperties: number;
}

/** Reads a TNEF stream. Never throws for bad input: problems go to `errors`, with offsets. */
export function readTnef(bytes: Uint8Array, limits: TnefLimits): TnefMessage {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const m: TnefMessage = {
    key: 0,
    version: null,
    oem_codepage: null,
    message_class: null,
    subject: null,
    message_id: null,
    internet_message_id: null,
    date_sent: null,
    date_received: null,
    client_submit_time: null,
    priority: null,
    sender: { name: null, address: null, address_type: null },
    recipients: [],
    body: null,
    html: null,
    rtf_compressed: null,
    transport_headers: null,
    named_properties: 0,
    attributes: 0,
    attachments: [],
    attachments_truncated: false,
    errors: [],
  };
  if (bytes.length < 6 || v.getUint32(0, true) !== TNEF_SIGNATURE) {
    m.errors.push("tnef: no TNEF signature (0x223E9F78) at offset 0");
    return m;
  }
  m.key = v.getUint16(4, true);
  let text = new TextDecoder("windows-1252");
  let current: TnefAttachment | null = null;
  let off = 6;
  while (off < bytes.length) {
    if (m.attributes >= limits.maxAttributes) {
      m.errors.push(`tnef: more than ${limits.maxAttributes} attributes; stopped at offset ${off}`);
      break;
    }
    const at = off;
    if (off + 9 > bytes.length) {
      m.errors.push(`tnef: truncated attribute header at offset ${off}`);
      break;
    }
    const level = bytes[off];
    const id = v.getUint32(off + 1, true);
    const length = v.getUint32(off + 5, true);
    const start = off + 9;
    const hex = `0x${id.toString(16).padStart(8, "0")}`;
    if (start + length + 2 > bytes.length) {
      m.errors.push(
        `tnef: attribute ${hex} at offset ${off} declares ${length} bytes, ` +
          `${Math.max(0, bytes.length - start - 2)} remain: the stream is truncated`,
      );
      break;
    }
    const data = bytes.subarray(start, start + length);
    const checksum = v.getUint16(start + length, true);
    let sum = 0;
    for (let i = 0; i < data.length; i++) sum = (sum + data[i]) & 0xffff;
    if (sum !== checksum) {
      m.errors.push(`tnef: attribute ${hex} at offset ${off}: checksum ${checksum} != ${sum}`);
    }
    m.attributes++;
    off = start + length + 2;
    const dv = new DataView(data.buffer, data.byteOffset, data.length);
    if (level === LVL_MESSAGE) {
      switch (id) {
        case ATT.tnefVersion:
          if (length >= 4) m.version = `0x${dv.getUint32(0, true).toString(16).padStart(8, "0")}`;
          break;
        case ATT.oemCodepage:
          if (length >= 4) {
            m.oem_codepage = dv.getUint32(0, true);
            text = codePageDecoder(m.oem_codepage);
          }
          break;
        case ATT.messageClass:
          m.message_class = cString(data, text);
          break;
        case ATT.subject:
          m.subject = cString(data, text);
          break;
        case ATT.messageId:
          m.message_id = cString(data, text);
          break;
        case ATT.body:
          m.body ??= cString(data, text);
          break;
        case ATT.dateSent:
          m.date_sent = dtr(dv);
          break;
        case ATT.dateRecd:
          m.date_received = dtr(dv);
          break;
        case ATT.priority:
          if (length >= 2) m.priority = dv.getUint16(0, true);
          break;
        case ATT.from:
          readFrom(data, text, m);
          break;
        case ATT.msgProps:
          messageProperties(readProperties(data, text, limits, hex, at, m.errors), m);
          break;
        case ATT.recipTable:
          readRecipients(data, text, limits, hex, at, m);
          break;
      }
    } else if (level === LVL_ATTACHMENT) {
      if (id === ATT.attachRendData || current === null) {
        if (id !== ATT.attachRendData) {
          m.errors.push(
            `tnef: attachment attribute ${hex} at offset ${at} before attAttachRendData`,
          );
        }
        if (m.attachments.length >= limits.maxAttachments) {
          m.attachments_truncated = true;
          m.errors.push(
            `tnef: more than ${limits.maxAttachments} attachments; kept the first ${limits.maxAttachments}`,
          );
          break;
        }
        current = {
          title: null,
          long_filename: null,
          content_type: null,
          content_id: null,
          method: null,
          hidden: false,
          created: null,
          modified: null,
          data: null,
          embedded_message: null,
        };
        m.attachments.push(current);
        if (id === ATT.attachRendData) continue;
      }
      switch (id) {
        case ATT.attachTitle:
          current.title = cString(data, text);
          break;
        case ATT.attachData:
          current.data = data;
          break;
        case ATT.attachCreateDate:
          current.created = dtr(dv);
          break;
        case ATT.attachModifyDate:
          current.modified = dtr(dv);
          break;
        case ATT.attachment:
          attachmentProperties(readProperties(data, text, limits, hex, at, m.errors), current, m);
          break;
      }
    } else {
      m.errors.push(`tnef: attribute ${hex} at offset ${at} has level ${level} (1 or 2 expected)`);
    }
  }
  return m;
}

/** Reads a MAPI property list ([MS-OXTNEF] 2.1.3.4); problems are named with the attribute. */
export function readProperties(
  data: Uint8Array,
  text: TextDecoder,
  limits: TnefLimits,
  attribute: string,
  attributeOffset: number,
  errors: string[],
  at = 0,
): { props: MapiProperty[]; end: number } {
  const props: MapiProperty[] = [];
  const r = new Cursor(data, at);
  const fail = (what: string) =>
    errors.push(
      `tnef: property list of attribute ${attribute} at offset ${attributeOffset}: ${what} ` +
        `(at byte ${r.pos} of the attribute); the rest of the list skipped`,
    );
  const count = r.u32();
  if (count === null) {
    fail("no property count");
    return { props, end: r.pos };
  }
  for (let n = 0; n < count; n++) {
    if (props.length >= limits.maxProperties) {
      fail(`more than ${limits.maxProperties} properties`);
      break;
    }
    const type = r.u16();
    const id = r.u16();
    if (type === null || id === null) {
      fail(`property ${n} of ${count} is cut off`);
      break;
    }
    const prop: MapiProperty = { id, type, values: [] };
    if (id >= 0x8000) {
      const guidBytes = r.bytes(16);
      const kind = r.u32();
      if (guidBytes === null || kind === null) {
        fail(`named property ${n} is cut off`);
        break;
      }
      if (kind === 0) {
        const nameId = r.u32();
        if (nameId === null) break;
        prop.name = { guid: guid(guidBytes, 0), id: nameId };
      } else {
        const size = r.u32();
        const name = size === null ? null : r.padded(size);
        if (name === null) {
          fail(`the name of named property ${n} is cut off`);
          break;
        }
        prop.name = { guid: guid(guidBytes, 0), name: utf16(name) };
      }
    }
    const multi = (type & 0x1000) !== 0;
    const base = type & ~0x1000;
    const fixed = FIXED_SIZE[base];
    const variable = VARIABLE.has(base);
    if (fixed === undefined && !variable) {
      fail(
        `property 0x${id.toString(16)} has unknown type 0x${type.toString(16).padStart(4, "0")}`,
      );
      break;
    }
    let values = 1;
    if (multi || variable) {
      const c = r.u32();
      // Every value takes at least 4 bytes: a count beyond that is corrupt, not a loop to run.
      if (c === null || c > r.left() / 4) {
        fail(`property 0x${id.toString(16)} has a bad value count`);
        break;
      }
      values = c;
    }
    let ok = true;
    for (let i = 0; i < values && ok; i++) {
      const value = variable ? readVariable(r, base, text) : readFixed(r, base, fixed!);
      if (value === null) ok = false;
      else prop.values.push(value);
    }
    if (!ok) {
      fail(`the value of property 0x${id.toString(16)} is cut off`);
      break;
    }
    props.push(prop);
  }
  return { props, end: r.pos };
}

// [MS-OXCDATA] 2.11.1 property types: bytes each fixed-size value takes in TNEF (padded to 4).
const FIXED_SIZE: Record<number, number> = {
  0x0001: 0, // PtypNull
  0x0002: 4, // PtypInteger16
  0x0003: 4, // PtypInteger32
  0x0004: 4, // PtypFloating32
  0x0005: 8, // PtypFloating64
  0x0006: 8, // PtypCurrency
  0x0007: 8, // PtypFloatingTime
  0x000a: 4, // PtypErrorCode
  0x000b: 4, // PtypBoolean
  0x0014: 8, // PtypInteger64
  0x0040: 8, // PtypTime
  0x0048: 16, // PtypGuid
};
const VARIABLE = new Set([0x000d, 0x001e, 0x001f, 0x00fb, 0x00fd, 0x00fe, 0x0102]);

function readFixed(r: Cursor, type: number, size: number): MapiValue | null {
  const b = r.bytes(size);
  if (b === null) return null;
  const v = new DataView(b.buffer, b.byteOffset, b.length);
  switch (type) {
    case 0x0002:
      return v.getInt16(0, true);
    case 0x0003:
    case 0x000a:
      return v.getInt32(0, true);
    case 0x0004:
      return v.getFloat32(0, true);
    case 0x0005:
    case 0x0007:
      return v.getFloat64(0, true);
    case 0x000b:
      return v.getUint16(0, true) !== 0;
    case 0x0006:
    case 0x0014:
      return v.getBigInt64(0, true);
    case 0x0040:
      return filetime(v, 0) ?? "";
    case 0x0048:
      return guid(b, 0);
    default:
      return 0;
  }
}

function readVariable(r: Cursor, type: number, text: TextDecoder): MapiValue | null {
  const size = r.u32();
  if (size === null) return null;
  const b = r.padded(size);
  if (b === null) return null;
  if (type === 0x001f) return utf16(b);
  if (type === 0x001e) return cString(b, text);
  if (type === 0x000d) {
    if (b.length < 16) return { iid: "", data: b };
    return { iid: guid(b, 0), data: b.subarray(16) };
  }
  return b;
}

/** IID_IMessage {00020307-0000-0000-C000-000000000046}: the object is an embedded message. */
const IID_IMESSAGE = "00020307-0000-0000-C000-000000000046";

/**
 * Calls `use` with the id, first value and string value of each plain property of `props`;
 * named properties are only counted (their meaning depends on their property set).
 */
function eachPlain(
  props: MapiProperty[],
  m: TnefMessage,
  use: (id: number, v: MapiValue | undefined, s: string | null) => void,
): void {
  for (const p of props) {
    if (p.name) m.named_properties++;
    else use(p.id, p.values[0], typeof p.values[0] === "string" ? p.values[0] : null);
  }
}

function messageProperties({ props }: { props: MapiProperty[] }, m: TnefMessage): void {
  eachPlain(props, m, (id, v, s) => {
    switch (id) {
      // The MAPI property (Unicode) over the legacy attribute (code page).
      case PR.subject:
        m.subject = s ?? m.subject;
        break;
      case PR.messageClass:
        m.message_class = s ?? m.message_class;
        break;
      case PR.transportHeaders:
        m.transport_headers = s;
        break;
      case PR.senderName:
        m.sender.name = s;
        break;
      case PR.senderEmail:
        m.sender.address ??= s;
        break;
      case PR.senderSmtp:
        m.sender.address = s;
        break;
      case PR.senderAddrType:
        m.sender.address_type = s;
        break;
      case PR.internetMessageId:
        m.internet_message_id = s;
        break;
      case PR.body:
        if (s !== null) m.body = s;
        break;
      case PR.html:
        if (v instanceof Uint8Array) m.html = v;
        else if (s !== null) m.html = new TextEncoder().encode(s);
        break;
      case PR.rtfCompressed:
        if (v instanceof Uint8Array) m.rtf_compressed = v;
        break;
      case PR.clientSubmitTime:
        m.client_submit_time = s;
        break;
    }
  });
}

function attachmentProperties(
  { props }: { props: MapiProperty[] },
  a: TnefAttachment,
  m: TnefMessage,
): void {
  eachPlain(props, m, (id, v, s) => {
    switch (id) {
      case PR.attachLongFilename:
        a.long_filename = s;
        break;
      case PR.attachFilename:
        a.title ??= s;
        break;
      case PR.attachMimeTag:
        a.content_type = s;
        break;
      case PR.attachContentId:
        a.content_id = s;
        break;
      case PR.attachMethod:
        if (typeof v === "number") a.method = v;
        break;
      case PR.attachHidden:
        a.hidden = v === true;
        break;
      case PR.displayName:
        a.title ??= s;
        break;
      case PR.attachData:
        if (v instanceof Uint8Array) a.data ??= v;
        else if (v && typeof v === "object" && "iid" in v) {
          if (v.iid === IID_IMESSAGE) a.embedded_message = v.data;
          else a.data ??= v.data;
        }
        break;
    }
  });
}

function readRecipients(
  data: Uint8Array,
  text: TextDecoder,
  limits: TnefLimits,
  attribute: string,
  attributeOffset: number,
  m: TnefMessage,
): void {
  const rows = data.length >= 4
    ? new DataView(data.buffer, data.byteOffset, 4).getUint32(0, true)
    : 0;
  let at = 4;
  for (let i = 0; i < rows && at < data.length && m.recipients.length < 10_000; i++) {
    const { props, end } = readProperties(
      data,
      text,
      limits,
      attribute,
      attributeOffset,
      m.errors,
      at,
    );
    if (end <= at) break;
    at = end;
    const get = (id: number) => props.find((p) => p.id === id && !p.name)?.values[0];
    const str = (id: number) => {
      const v = get(id);
      return typeof v === "string" ? v : null;
    };
    const t = get(PR.recipientType);
    m.recipients.push({
      name: str(PR.displayName),
      address: str(PR.smtpAddress) ?? str(PR.emailAddress),
      type: t === 1 ? "to" : t === 2 ? "cc" : t === 3 ? "bcc" : null,
    });
  }
}

/** attFrom: a TRP structure ([MS-OXTNEF] 2.1.3.3.1) with the display name and address. */
function readFrom(data: Uint8Array, text: TextDecoder, m: TnefMessage): void {
  if (data.length < 8) return;
  const v = new DataView(data.buffer, data.byteOffset, data.length);
  const nameSize = v.getUint16(4, true);
  const addressSize = v.getUint16(6, true);
  if (8 + nameSize + addressSize > data.length) return;
  m.sender.name ??= cString(data.subarray(8, 8 + nameSize), text);
  const address = cString(data.subarray(8 + nameSize, 8 + nameSize + addressSize), text);
  const colon = address.indexOf(":");
  m.sender.address ??= colon > 0 ? address.slice(colon + 1) : address;
  if (colon > 0) m.sender.address_type ??= address.slice(0, colon);
}

/** A DTR date ([MS-OXTNEF] 2.1.3.3.2), ISO 8601 without a zone (TNEF does not say which). */
function dtr(v: DataView): string | null {
  if (v.byteLength < 12) return null;
  const [y, mo, d, h, mi, s] = [0, 2, 4, 6, 8, 10].map((o) => v.getUint16(o, true));
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 59) return null;
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  return `${p(y, 4)}-${p(mo)}-${p(d)}T${p(h)}:${p(mi)}:${p(s)}`;
}

function cString(b: Uint8Array, text: TextDecoder): string {
  const nul = b.indexOf(0);
  return text.decode(nul < 0 ? b : b.subarray(0, nul));
}

function utf16(b: Uint8Array): string {
  return new TextDecoder("utf-16le").decode(b).replace(/\0+$/, "");
}

/** A bounds-checked reader over a property list: every read says null past the end. */
class Cursor {
  constructor(private data: Uint8Array, public pos: number) {}
  left(): number {
    return this.data.length - this.pos;
  }
  bytes(n: number): Uint8Array | null {
    if (n < 0 || this.pos + n > this.data.length) return null;
    const b = this.data.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
  /** `n` bytes, then the padding to a multiple of 4 ([MS-OXTNEF] 2.1.3.4). */
  padded(n: number): Uint8Array | null {
    const b = this.bytes(n);
    if (b === null) return null;
    this.pos = Math.min(this.data.length, this.pos + ((4 - (n % 4)) % 4));
    return b;
  }
  u16(): number | null {
    const b = this.bytes(2);
    return b === null ? null : b[0] | b[1] << 8;
  }
  u32(): number | null {
    const b = this.bytes(4);
    return b === null ? null : (b[0] | b[1] << 8 | b[2] << 16 | b[3] << 24) >>> 0;
  }
}
