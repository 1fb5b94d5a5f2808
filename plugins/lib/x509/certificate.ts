/**
 * X.509 certificates (RFC 5280) as an analyst reads them: names, serial, validity, key,
 * fingerprints and the extensions that matter for triage. Structure from der.ts; hashes, key
 * details and signature checks from node:crypto. One parser for the x509 plugin and for the
 * Authenticode signatures in PE files.
 */
import { createHash, createPublicKey, type KeyObject, verify } from "node:crypto";
import { decodeBase64 } from "../text/base64.ts";
import {
  children,
  DerError,
  expect,
  intHex,
  intValue,
  is,
  isContext,
  oid,
  parseDer,
  text,
  time,
  type Tlv,
  toHex,
} from "./der.ts";
import { KEY_PURPOSES, KEY_USAGES, NAME_ATTRIBUTES, OID, SIGNATURES } from "./oids.ts";

export { toHex } from "./der.ts";

/** What the plugins report about one certificate. */
export interface CertificateInfo {
  subject: string;
  issuer: string;
  serial: string;
  version: number;
  not_before: string;
  not_after: string;
  expired: boolean;
  not_yet_valid: boolean;
  /** Subject and issuer are the same name. */
  self_issued: boolean;
  /** Self-issued and its signature verifies with its own key. */
  self_signed: boolean;
  signature_algorithm: string;
  public_key: { algorithm: string; bits?: number; curve?: string; exponent?: number };
  fingerprints: { md5: string; sha1: string; sha256: string };
  subject_alt_names: string[];
  is_ca: boolean | null;
  path_length?: number;
  key_usage: string[];
  extended_key_usage: string[];
  subject_key_id?: string;
  authority_key_id?: string;
}

/** A parsed certificate: its DER, the parts signature checks need, and the report. */
export interface ParsedCertificate {
  der: Uint8Array;
  tbs: Uint8Array;
  signatureAlgorithm: string;
  signature: Uint8Array;
  subjectDer: Uint8Array;
  issuerDer: Uint8Array;
  key: KeyObject | null;
  info: CertificateInfo;
}

/** ISO 8601, without milliseconds when there are none. */
export function iso(d: Date): string {
  return d.toISOString().replace(".000Z", "Z");
}

/** Byte-wise equality. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** A distinguished name as OpenSSL prints it with -nameopt sep_comma_plus_space,sname,utf8. */
export function nameString(name: Tlv): string {
  const parts: string[] = [];
  for (const rdn of children(name).slice(0, 64)) {
    for (const atv of children(rdn).slice(0, 16)) {
      const [type, value] = children(atv);
      if (!type || !value) continue;
      const o = oid(type);
      parts.push(`${NAME_ATTRIBUTES[o] ?? o}=${text(value)}`);
    }
  }
  return parts.join(", ");
}

/** An AlgorithmIdentifier's OID. */
export function algorithm(t: Tlv): string {
  return oid(expect(children(t)[0], 6, "algorithm identifier"));
}

/** The bytes of a BIT STRING (its first byte counts unused bits). */
export function bitString(t: Tlv): Uint8Array {
  return expect(t, 3, "BIT STRING").value.subarray(1);
}

function ipString(b: Uint8Array): string {
  if (b.length === 4) return [...b].join(".");
  if (b.length === 16) {
    const parts: string[] = [];
    for (let i = 0; i < 16; i += 2) parts.push(((b[i] << 8) | b[i + 1]).toString(16).toUpperCase());
    return parts.join(":");
  }
  return toHex(b);
}

const latin1 = new TextDecoder("latin1");

function generalName(g: Tlv): string {
  switch (g.tag) {
    case 1:
      return `email:${latin1.decode(g.value)}`;
    case 2:
      return `DNS:${latin1.decode(g.value)}`;
    case 4:
      return `DirName:${nameString(children(g)[0])}`;
    case 6:
      return `URI:${latin1.decode(g.value)}`;
    case 7:
      return `IP Address:${ipString(g.value)}`;
    case 8:
      return `Registered ID:${oid(g)}`;
    default:
      return `othername:${g.tag}`;
  }
}

/**
 * Verifies `signature` over `data` with `key`; the digest comes from the signature algorithm or,
 * for bare key algorithms (rsaEncryption in CMS), from `digest`. null: an algorithm node:crypto
 * cannot check here (RSA-PSS parameters, unknown OIDs), so nothing is claimed.
 */
export function verifySignature(
  algorithmOid: string,
  digest: string | undefined,
  data: Uint8Array,
  signature: Uint8Array,
  key: KeyObject | null,
): boolean | null {
  if (!key) return null;
  const alg = SIGNATURES[algorithmOid];
  if (!alg || alg.name === "rsassaPss") return null;
  const hash = alg.name === "ED25519" ? null : alg.digest ?? digest;
  if (hash === undefined) return null;
  try {
    return verify(hash, data, key, signature);
  } catch {
    return false;
  }
}

/**
 * The same certificates (CAs, timestamping services, big publishers) recur across a scan's files:
 * parses and issuer checks are kept, a bounded number of each, keyed by SHA-256 of the DER.
 */
const CACHE_SIZE = 512;
const parsedCache = new Map<string, ParsedCertificate>();
const issuedCache = new Map<string, boolean | null>();

function remember<V>(cache: Map<string, V>, key: string, value: V): V {
  if (cache.size >= CACHE_SIZE) cache.delete(cache.keys().next().value!);
  cache.set(key, value);
  return value;
}

/** Whether `issuer`'s key verifies `child`'s signature (null: cannot be checked here). */
export function verifyIssued(child: ParsedCertificate, issuer: ParsedCertificate): boolean | null {
  const key = `${child.info.fingerprints.sha256}/${issuer.info.fingerprints.sha256}`;
  const known = issuedCache.get(key);
  if (known !== undefined) return known;
  return remember(
    issuedCache,
    key,
    verifySignature(child.signatureAlgorithm, undefined, child.tbs, child.signature, issuer.key),
  );
}

function publicKey(spki: Tlv): { key: KeyObject | null; info: CertificateInfo["public_key"] } {
  const oidStr = algorithm(children(spki)[0]);
  let key: KeyObject | null = null;
  try {
    key = createPublicKey({ key: Buffer.from(spki.bytes), format: "der", type: "spki" });
  } catch {
    return { key, info: { algorithm: SIGNATURES[oidStr]?.name ?? oidStr } };
  }
  const d = key.asymmetricKeyDetails ?? {};
  const type = key.asymmetricKeyType ?? oidStr;
  const info: CertificateInfo["public_key"] = {
    algorithm:
      ({ rsa: "RSA", "rsa-pss": "RSA-PSS", ec: "EC", dsa: "DSA" } as Record<string, string>)[
        type
      ] ??
        type.toUpperCase(),
  };
  if (d.modulusLength) info.bits = d.modulusLength;
  if (d.namedCurve) {
    info.curve = d.namedCurve;
    const m = /(\d{3})/.exec(d.namedCurve);
    if (m) info.bits = Number(m[1]);
  }
  if (typeof d.publicExponent === "bigint") info.exponent = Number(d.publicExponent);
  if (type === "ed25519") info.bits = 256;
  return { key, info };
}

function extension(info: CertificateInfo, ext: Tlv): void {
  const parts = children(ext);
  const id = oid(expect(parts[0], 6, "extension id"));
  const octets = expect(parts[parts.length - 1], 4, "extension value");
  const v = parseDer(octets.value);
  if (id === OID.subjectAltName) {
    info.subject_alt_names = children(v).slice(0, 256).map(generalName);
  } else if (id === OID.basicConstraints) {
    const c = children(v);
    info.is_ca = is(c[0], 1) ? c[0].value[0] !== 0 : false;
    const len = c.find((x) => is(x, 2));
    if (len) info.path_length = intValue(len);
  } else if (id === OID.extKeyUsage) {
    info.extended_key_usage = children(v).slice(0, 64).map((p) => KEY_PURPOSES[oid(p)] ?? oid(p));
  } else if (id === OID.keyUsage) {
    const bits = bitString(v);
    info.key_usage = KEY_USAGES.filter((_, i) => (bits[i >> 3] ?? 0) & (0x80 >> (i & 7)));
  } else if (id === OID.subjectKeyIdentifier) {
    info.subject_key_id = toHex(expect(v, 4, "subject key identifier").value);
  } else if (id === OID.authorityKeyIdentifier) {
    const k = children(v).find((x) => isContext(x, 0));
    if (k) info.authority_key_id = toHex(k.value);
  }
}

/** Parses one DER certificate; throws DerError with the reason when it is not one. */
export function parseCertificate(der: Uint8Array, now = new Date()): ParsedCertificate {
  const sha256 = createHash("sha256").update(der).digest("hex");
  const known = parsedCache.get(sha256);
  if (known && bytesEqual(known.der, der)) {
    const t = now.getTime();
    const info = {
      ...known.info,
      expired: Date.parse(known.info.not_after) < t,
      not_yet_valid: Date.parse(known.info.not_before) > t,
    };
    return { ...known, info };
  }
  return remember(parsedCache, sha256, parseFresh(der, now));
}

function parseFresh(der: Uint8Array, now: Date): ParsedCertificate {
  const top = expect(parseDer(der), 16, "Certificate");
  const [tbsT, sigAlgT, sigT] = children(top);
  const tbs = expect(tbsT, 16, "TBSCertificate");
  const f = children(tbs);
  let i = 0;
  let version = 1;
  if (isContext(f[0], 0)) {
    version = intValue(expect(children(f[0])[0], 2, "version")) + 1;
    i = 1;
  }
  const serial = expect(f[i], 2, "serialNumber");
  const issuer = expect(f[i + 2], 16, "issuer");
  const validity = children(expect(f[i + 3], 16, "validity"));
  const subject = expect(f[i + 4], 16, "subject");
  const spki = expect(f[i + 5], 16, "subjectPublicKeyInfo");
  if (!validity[0] || !validity[1]) {
    throw new DerError("validity: two times expected", f[i + 3].offset);
  }
  const notBefore = time(validity[0]);
  const notAfter = time(validity[1]);
  const { key, info: keyInfo } = publicKey(spki);
  const signatureAlgorithm = algorithm(expect(sigAlgT, 16, "signatureAlgorithm"));
  const h = (alg: string) => createHash(alg).update(der).digest("hex");
  const selfIssued = bytesEqual(subject.bytes, issuer.bytes);
  const info: CertificateInfo = {
    subject: nameString(subject),
    issuer: nameString(issuer),
    serial: intHex(serial),
    version,
    not_before: iso(notBefore),
    not_after: iso(notAfter),
    expired: notAfter.getTime() < now.getTime(),
    not_yet_valid: notBefore.getTime() > now.getTime(),
    self_issued: selfIssued,
    self_signed: false,
    signature_algorithm: SIGNATURES[signatureAlgorithm]?.name ?? signatureAlgorithm,
    public_key: keyInfo,
    fingerprints: { md5: h("md5"), sha1: h("sha1"), sha256: h("sha256") },
    subject_alt_names: [],
    is_ca: null,
    key_usage: [],
    extended_key_usage: [],
  };
  const exts = f.slice(i + 6).find((x) => isContext(x, 3));
  if (exts) {
    for (const ext of children(children(exts)[0] ?? exts).slice(0, 128)) {
      try {
        extension(info, ext);
      } catch { /* a malformed extension is skipped; the rest is still reported */ }
    }
  }
  const parsed: ParsedCertificate = {
    der: top.bytes.slice(), // a copy: the cache must not pin the payload's buffer
    tbs: tbs.bytes,
    signatureAlgorithm,
    signature: bitString(sigT),
    subjectDer: subject.bytes,
    issuerDer: issuer.bytes,
    key,
    info,
  };
  info.self_signed = selfIssued && verifyIssued(parsed, parsed) === true;
  return parsed;
}

/** The base64 blocks of PEM text ("-----BEGIN <label>-----"), decoded; at most `max`. */
export function pemBlocks(text: string, max = 256): { label: string; der: Uint8Array }[] {
  const out: { label: string; der: Uint8Array }[] = [];
  const re = /-----BEGIN ([A-Z0-9 ]{1,40})-----([A-Za-z0-9+/=\s]*?)-----END \1-----/g;
  for (let m = re.exec(text); m && out.length < max; m = re.exec(text)) {
    const der = decodeBase64(new TextEncoder().encode(m[2]));
    if (typeof der !== "string") out.push({ label: m[1], der });
  }
  return out;
}
