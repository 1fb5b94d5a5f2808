/**
 * A bounded DER/BER reader (ITU-T X.690): tag, length, value, children; with the value types
 * certificates and CMS use (OID, INTEGER, times, strings).
 *
 * Hand-written because the npm ASN.1 libraries were measured too slow for the per-payload budget:
 * asn1js.fromBER takes 3-8 ms and pkijs' schema matching as much again for one 1.5 KB
 * certificate on this machine (node:crypto's X509Certificate: 0.2 ms), and a signed PE carries
 * 5-20 certificates. DER is a small, exactly specified TLV format; every length here is checked
 * against its parent, indefinite BER lengths are followed only to a bounded depth, and lists are
 * capped.
 */
import { toHex } from "../bytes/reader.ts";

/** A malformed DER structure; `offset` is relative to the buffer given to `parseTlv`. */
export class DerError extends Error {
  constructor(message: string, readonly offset: number) {
    super(`${message} at offset ${offset}`);
    this.name = "DerError";
  }
}

/** One TLV element. */
export interface Tlv {
  /** 0 universal, 1 application, 2 context-specific, 3 private. */
  cls: number;
  constructed: boolean;
  /** The tag number (16 SEQUENCE, 17 SET, 2 INTEGER, 6 OID...). */
  tag: number;
  /** The whole element (tag, length, value) and its value, as views of the buffer. */
  bytes: Uint8Array;
  value: Uint8Array;
  /** Offset of the element in the buffer handed to parseTlv. */
  offset: number;
}

const MAX_DEPTH = 48;
const MAX_CHILDREN = 10_000;

/** Reads the element at `off` of `buf` (within `end`); throws DerError when malformed. */
export function parseTlv(buf: Uint8Array, off = 0, end = buf.length, depth = 0): Tlv {
  if (depth > MAX_DEPTH) throw new DerError("nesting deeper than 48", off);
  if (off + 2 > end) throw new DerError("element cut short", off);
  const first = buf[off];
  let p = off + 1;
  let tag = first & 0x1f;
  if (tag === 0x1f) {
    tag = 0;
    for (let i = 0;; i++) {
      if (p >= end || i > 4) throw new DerError("bad long-form tag", off);
      const b = buf[p++];
      tag = tag * 128 + (b & 0x7f);
      if (!(b & 0x80)) break;
    }
  }
  if (p >= end) throw new DerError("element cut short", off);
  const l0 = buf[p++];
  const constructed = (first & 0x20) !== 0;
  let len: number;
  if (l0 < 0x80) len = l0;
  else if (l0 === 0x80) {
    // BER indefinite length: children up to an end-of-contents (00 00).
    if (!constructed) throw new DerError("indefinite length on a primitive element", off);
    let q = p;
    for (let n = 0;; n++) {
      if (n > MAX_CHILDREN) throw new DerError("too many elements", off);
      if (q + 2 <= end && buf[q] === 0 && buf[q + 1] === 0) break;
      const child = parseTlv(buf, q, end, depth + 1);
      q = child.offset + child.bytes.length;
    }
    return {
      cls: first >> 6,
      constructed,
      tag,
      bytes: buf.subarray(off, q + 2),
      value: buf.subarray(p, q),
      offset: off,
    };
  } else {
    const n = l0 & 0x7f;
    if (n > 4 || p + n > end) throw new DerError("bad length", off);
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[p++];
  }
  if (p + len > end) throw new DerError(`length ${len} runs past its container`, off);
  return {
    cls: first >> 6,
    constructed,
    tag,
    bytes: buf.subarray(off, p + len),
    value: buf.subarray(p, p + len),
    offset: off,
  };
}

/** Parses a whole buffer as one element. */
export function parseDer(buf: Uint8Array): Tlv {
  return parseTlv(buf, 0, buf.length);
}

/** The children of a constructed element (capped). */
export function children(t: Tlv): Tlv[] {
  if (!t.constructed) throw new DerError("expected a constructed element", t.offset);
  const out: Tlv[] = [];
  const base = t.value.byteOffset - t.bytes.byteOffset + t.offset;
  let p = 0;
  while (p < t.value.length && out.length < MAX_CHILDREN) {
    if (t.value[p] === 0 && t.value[p + 1] === 0 && p + 2 >= t.value.length) break; // BER EOC
    const c = parseTlv(t.value, p, t.value.length, 0);
    out.push({ ...c, offset: base + c.offset });
    p += c.bytes.length;
  }
  return out;
}

/** Is `t` the universal element `tag`? */
export function is(t: Tlv | undefined, tag: number): t is Tlv {
  return t !== undefined && t.cls === 0 && t.tag === tag;
}

/** Is `t` the context-specific element [tag]? */
export function isContext(t: Tlv | undefined, tag: number): t is Tlv {
  return t !== undefined && t.cls === 2 && t.tag === tag;
}

/** Throws unless `t` is universal `tag`; returns it. */
export function expect(t: Tlv | undefined, tag: number, what: string): Tlv {
  if (t === undefined || t.cls !== 0 || t.tag !== tag) {
    throw new DerError(`${what}: expected universal tag ${tag}`, t?.offset ?? -1);
  }
  return t;
}

/** An OBJECT IDENTIFIER's dotted form. */
export function oid(t: Tlv): string {
  const v = t.value;
  if (v.length === 0) throw new DerError("empty OID", t.offset);
  const parts: number[] = [];
  let n = 0;
  for (let i = 0; i < v.length; i++) {
    n = n * 128 + (v[i] & 0x7f);
    if (!(v[i] & 0x80)) {
      if (parts.length === 0) {
        const a = n < 40 ? 0 : n < 80 ? 1 : 2;
        parts.push(a, n - a * 40);
      } else parts.push(n);
      n = 0;
    }
  }
  return parts.join(".");
}

export { toHex };

/** An INTEGER's magnitude as hex, leading zero bytes dropped (OpenSSL's -serial, lower case). */
export function intHex(t: Tlv): string {
  let i = 0;
  while (i < t.value.length - 1 && t.value[i] === 0) i++;
  return toHex(t.value.subarray(i));
}

/** A small INTEGER as a number. */
export function intValue(t: Tlv): number {
  let n = 0;
  for (const b of t.value.subarray(0, 6)) n = n * 256 + b;
  return n;
}

/** A UTCTime (23) or GeneralizedTime (24) as a Date; throws on anything else. */
export function time(t: Tlv): Date {
  const s = new TextDecoder("latin1").decode(t.value);
  const m = t.tag === 23
    ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})?Z$/.exec(s)
    : /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})?(?:[.,](\d{1,9}))?Z$/.exec(s);
  if (!m || (t.tag !== 23 && t.tag !== 24)) {
    throw new DerError(`bad time ${JSON.stringify(s)}`, t.offset);
  }
  let year = Number(m[1]);
  if (t.tag === 23) year += year < 50 ? 2000 : 1900;
  const ms = m[7] ? Math.round(Number(`0.${m[7]}`) * 1000) : 0;
  return new Date(
    Date.UTC(
      year,
      Number(m[2]) - 1,
      Number(m[3]),
      Number(m[4]),
      Number(m[5]),
      Number(m[6] ?? 0),
      ms,
    ),
  );
}

const utf8 = new TextDecoder("utf-8");
const latin1 = new TextDecoder("latin1");
const utf16be = new TextDecoder("utf-16be");

/** A string element as text (UTF8, Printable, IA5, T61, BMP, Universal); hex otherwise. */
export function text(t: Tlv): string {
  switch (t.tag) {
    case 12: // UTF8String
      return utf8.decode(t.value);
    case 19: // PrintableString
    case 22: // IA5String
    case 26: // VisibleString
    case 20: // T61String
    case 18: // NumericString
      return latin1.decode(t.value);
    case 30: // BMPString
      return utf16be.decode(t.value);
    case 28: { // UniversalString (UTF-32BE)
      let s = "";
      for (let i = 0; i + 4 <= t.value.length; i += 4) {
        const cp =
          ((t.value[i] << 24) | (t.value[i + 1] << 16) | (t.value[i + 2] << 8) | t.value[i + 3]) >>>
          0;
        s += cp <= 0x10ffff ? String.fromCodePoint(cp) : "\ufffd";
      }
      return s;
    }
    default:
      return `#${toHex(t.bytes)}`;
  }
}
