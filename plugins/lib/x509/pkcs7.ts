/**
 * PKCS#7 / CMS SignedData (RFC 5652) as found in .p7b/.p7s files and Authenticode signatures:
 * the certificates, each signer with its signed attributes, whether the signer's signature over
 * them verifies with the signer certificate's key, and counter-signatures / RFC 3161 timestamps.
 * Trust in a root is never claimed: there is no trust store offline.
 */
import { createHash } from "node:crypto";
import {
  algorithm,
  bytesEqual,
  type CertificateInfo,
  iso,
  nameString,
  parseCertificate,
  type ParsedCertificate,
  verifyIssued,
  verifySignature,
} from "./certificate.ts";
import {
  children,
  DerError,
  expect,
  intHex,
  is,
  isContext,
  oid,
  parseDer,
  time,
  type Tlv,
  toHex,
} from "./der.ts";
import { DIGESTS, OID, SIGNATURES } from "./oids.ts";

const MAX_CERTIFICATES = 64;
const MAX_SIGNERS = 16;
const MAX_NESTING = 2;

/** A timestamp (counter-signature or RFC 3161 token) on a signer. */
export interface Timestamp {
  type: "rfc3161" | "pkcs9_countersignature";
  time: string | null;
  signer: string | null;
  /** The timestamp's hash of the signer's signature value matches. */
  digest_matches: boolean | null;
  /** The timestamp signer's own signature verifies (null: its certificate is not at hand). */
  signature_verified: boolean | null;
}

/** One signer of a SignedData. */
export interface SignerReport {
  issuer: string;
  serial: string;
  /** Index of the signer's certificate in `certificates`, or null when the bag lacks it. */
  certificate: number | null;
  subject: string | null;
  digest_algorithm: string;
  signature_algorithm: string;
  signing_time: string | null;
  program_name?: string;
  more_info_url?: string;
  /** The messageDigest attribute equals the digest of the signed content (null: no content). */
  message_digest_matches: boolean | null;
  /** The signer's signature over the signed attributes verifies with its certificate's key. */
  signature_verified: boolean | null;
  timestamps: Timestamp[];
}

/** A parsed SignedData. */
export interface SignedDataReport {
  content_type: string;
  certificates: CertificateInfo[];
  /** For each certificate: whether its issuer is in the bag and verifies its signature. */
  chain: { subject: string; issuer_in_bundle: boolean; verified_by_issuer: boolean | null }[];
  signers: SignerReport[];
  errors: string[];
}

/** The report, plus what callers need beyond it. */
export interface SignedData {
  report: SignedDataReport;
  parsed: ParsedCertificate[];
  /** eContent (inside its [0]): SpcIndirectDataContent for Authenticode, an OCTET STRING for data. */
  content: Tlv | null;
  /** ContentInfo blobs of nested Authenticode signatures (1.3.6.1.4.1.311.2.4.1). */
  nested: Uint8Array[];
}

interface Attribute {
  type: string;
  values: Tlv[];
}

function attributes(t: Tlv | undefined): Attribute[] {
  if (!t) return [];
  return children(t).slice(0, 64).map((a) => {
    const [type, set] = children(a);
    return {
      type: oid(expect(type, 6, "attribute type")),
      values: set ? children(set).slice(0, 16) : [],
    };
  });
}

const first = (attrs: Attribute[], type: string) => attrs.find((a) => a.type === type)?.values[0];

/** The digest input CMS uses for eContent: the value octets (without tag and length). */
function digestInput(content: Tlv | null): Uint8Array | null {
  if (!content) return null;
  // A constructed (BER) OCTET STRING hashes as its concatenated segments.
  if (is(content, 4) && content.constructed) {
    const parts = children(content).map((c) => c.value);
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let o = 0;
    for (const p of parts) out.set(p, (o += p.length) - p.length);
    return out;
  }
  return content.value;
}

const latin1 = new TextDecoder("latin1");
const utf16be = new TextDecoder("utf-16be");

/** An Authenticode SpcString ([0] BMPString / [1] IA5String) or SpcLink ([0] url / [2] file). */
function spcText(t: Tlv, linkOrString: "link" | "string"): string | undefined {
  const inner = t.constructed ? children(t)[0] : t; // the EXPLICIT wrapper
  if (!inner) return undefined;
  if (inner.constructed) return spcText(children(inner)[0] ?? inner, "string"); // SpcLink.file
  if (linkOrString === "string" && inner.tag === 0) return utf16be.decode(inner.value);
  return latin1.decode(inner.value);
}

interface SignerId {
  issuerDer?: Uint8Array;
  issuer: string;
  serial: string;
  ski?: string;
}

function signerId(t: Tlv): SignerId {
  if (isContext(t, 0)) return { issuer: "", serial: "", ski: toHex(t.value) };
  const [issuer, serial] = children(expect(t, 16, "IssuerAndSerialNumber"));
  return {
    issuerDer: issuer.bytes,
    issuer: nameString(issuer),
    serial: intHex(expect(serial, 2, "serialNumber")),
  };
}

function findCert(id: SignerId, certs: ParsedCertificate[]): number | null {
  const i = certs.findIndex((c) =>
    id.ski
      ? c.info.subject_key_id === id.ski
      : c.info.serial === id.serial && bytesEqual(c.issuerDer, id.issuerDer!)
  );
  return i < 0 ? null : i;
}

interface RawSigner {
  id: SignerId;
  digestOid: string;
  signedAttrs?: Tlv;
  signatureOid: string;
  signature: Uint8Array;
  unsignedAttrs?: Tlv;
}

function rawSigner(t: Tlv): RawSigner {
  const f = children(expect(t, 16, "SignerInfo"));
  let i = 2;
  const digestOid = algorithm(expect(f[2], 16, "digestAlgorithm"));
  i = 3;
  let signedAttrs: Tlv | undefined;
  if (isContext(f[i], 0)) signedAttrs = f[i++];
  const signatureOid = algorithm(expect(f[i++], 16, "signatureAlgorithm"));
  const signature = expect(f[i++], 4, "signature").value;
  const unsignedAttrs = isContext(f[i], 1) ? f[i] : undefined;
  return { id: signerId(f[1]), digestOid, signedAttrs, signatureOid, signature, unsignedAttrs };
}

/** What a signer's signature covers: the signed attributes as a SET OF (tag 0x31), or content. */
function signedBytes(s: RawSigner, content: Uint8Array | null): Uint8Array | null {
  if (!s.signedAttrs) return content;
  const b = s.signedAttrs.bytes.slice();
  b[0] = 0x31;
  return b;
}

/** Parses a ContentInfo holding SignedData; throws with the reason when it is not one. */
export function parseSignedData(der: Uint8Array, now = new Date(), depth = 0): SignedData {
  const ci = children(expect(parseDer(der), 16, "ContentInfo"));
  const type = oid(expect(ci[0], 6, "contentType"));
  if (type !== OID.signedData) {
    throw new DerError(`ContentInfo holds ${type}, not SignedData (${OID.signedData})`, 0);
  }
  if (!isContext(ci[1], 0)) throw new DerError("ContentInfo has no content", 0);
  const sd = children(expect(children(ci[1])[0], 16, "SignedData"));
  const encap = children(expect(sd[2], 16, "encapContentInfo"));
  const contentType = oid(expect(encap[0], 6, "eContentType"));
  const content = isContext(encap[1], 0) ? children(encap[1])[0] ?? null : null;
  const errors: string[] = [];
  const certs: ParsedCertificate[] = [];
  let i = 3;
  if (isContext(sd[i], 0)) {
    for (const c of children(sd[i]).slice(0, MAX_CERTIFICATES)) {
      if (!is(c, 16)) continue; // attribute or other certificate formats
      try {
        certs.push(parseCertificate(c.bytes, now));
      } catch (e) {
        errors.push(`certificate ${certs.length}: ${(e as Error).message}`);
      }
    }
    i++;
  }
  if (isContext(sd[i], 1)) i++; // CRLs
  const signerSet = expect(sd[i], 17, "signerInfos");
  const nested: Uint8Array[] = [];
  const signers: SignerReport[] = [];
  const input = digestInput(content);
  for (const t of children(signerSet).slice(0, MAX_SIGNERS)) {
    try {
      signers.push(signer(rawSigner(t), certs, input, nested, now, depth, errors));
    } catch (e) {
      errors.push(`signer ${signers.length}: ${(e as Error).message}`);
    }
  }
  const chain = certs.map((c) => {
    const issuer = c.info.self_issued
      ? c
      : certs.find((p) => p !== c && bytesEqual(p.subjectDer, c.issuerDer));
    return {
      subject: c.info.subject,
      issuer_in_bundle: issuer !== undefined,
      verified_by_issuer: issuer ? verifyIssued(c, issuer) : null,
    };
  });
  return {
    report: {
      content_type: contentType,
      certificates: certs.map((c) => c.info),
      chain,
      signers,
      errors,
    },
    parsed: certs,
    content,
    nested,
  };
}

function signer(
  s: RawSigner,
  certs: ParsedCertificate[],
  content: Uint8Array | null,
  nested: Uint8Array[],
  now: Date,
  depth: number,
  errors: string[],
): SignerReport {
  const index = findCert(s.id, certs);
  const cert = index === null ? null : certs[index];
  const digest = DIGESTS[s.digestOid];
  const attrs = attributes(s.signedAttrs);
  const report: SignerReport = {
    issuer: s.id.issuer || (cert?.info.issuer ?? ""),
    serial: s.id.serial || (cert?.info.serial ?? ""),
    certificate: index,
    subject: cert?.info.subject ?? null,
    digest_algorithm: digest ?? s.digestOid,
    signature_algorithm: SIGNATURES[s.signatureOid]?.name ?? s.signatureOid,
    signing_time: null,
    message_digest_matches: null,
    signature_verified: null,
    timestamps: [],
  };
  const md = first(attrs, OID.messageDigest);
  if (md && content && digest) {
    report.message_digest_matches =
      createHash(digest).update(content).digest("hex") === toHex(md.value);
  }
  const st = first(attrs, OID.signingTime);
  if (st) report.signing_time = iso(time(st));
  const opus = first(attrs, OID.spcSpOpusInfo);
  for (const el of opus ? children(opus) : []) {
    if (isContext(el, 0)) report.program_name = spcText(el, "string");
    if (isContext(el, 1)) report.more_info_url = spcText(el, "link");
  }
  const signed = signedBytes(s, content);
  if (signed && cert) {
    report.signature_verified = verifySignature(
      s.signatureOid,
      digest,
      signed,
      s.signature,
      cert.key,
    );
  }
  for (const a of attributes(s.unsignedAttrs)) {
    try {
      if (a.type === OID.counterSignature) {
        for (const v of a.values.slice(0, 4)) {
          report.timestamps.push(counterSignature(rawSigner(v), certs, s.signature));
        }
      } else if (a.type === OID.rfc3161Timestamp && depth < MAX_NESTING) {
        for (const v of a.values.slice(0, 4)) {
          report.timestamps.push(rfc3161(v.bytes, s.signature, now, depth));
        }
      } else if (a.type === OID.nestedSignature) {
        for (const v of a.values.slice(0, 8)) nested.push(v.bytes);
      }
    } catch (e) {
      errors.push(`unsigned attribute ${a.type}: ${(e as Error).message}`);
    }
  }
  return report;
}

/** A PKCS#9 counter-signature: a SignerInfo over the outer signer's signature value. */
function counterSignature(
  cs: RawSigner,
  certs: ParsedCertificate[],
  signedValue: Uint8Array,
): Timestamp {
  const index = findCert(cs.id, certs);
  const attrs = attributes(cs.signedAttrs);
  const st = first(attrs, OID.signingTime);
  const md = first(attrs, OID.messageDigest);
  const digest = DIGESTS[cs.digestOid];
  const cert = index === null ? null : certs[index];
  const signed = signedBytes(cs, signedValue);
  return {
    type: "pkcs9_countersignature",
    time: st ? iso(time(st)) : null,
    signer: cert ? cert.info.subject : cs.id.issuer || null,
    digest_matches: md && digest
      ? createHash(digest).update(signedValue).digest("hex") === toHex(md.value)
      : null,
    signature_verified: cert && signed
      ? verifySignature(cs.signatureOid, digest, signed, cs.signature, cert.key)
      : null,
  };
}

/** An RFC 3161 token: SignedData over a TSTInfo whose message imprint hashes the signature. */
function rfc3161(der: Uint8Array, signedValue: Uint8Array, now: Date, depth: number): Timestamp {
  const token = parseSignedData(der, now, depth + 1);
  let t: string | null = null;
  let matches: boolean | null = null;
  const octets = token.content;
  if (octets && token.report.content_type === OID.tstInfo) {
    const tst = children(expect(parseDer(digestInput(octets)!), 16, "TSTInfo"));
    const imprint = children(expect(tst[2], 16, "messageImprint"));
    const gen = tst.find((x) => is(x, 24));
    if (gen) t = iso(time(gen));
    const digest = DIGESTS[algorithm(imprint[0])];
    if (digest) {
      matches = createHash(digest).update(signedValue).digest("hex") ===
        toHex(expect(imprint[1], 4, "hashedMessage").value);
    }
  }
  const s = token.report.signers[0];
  return {
    type: "rfc3161",
    time: t,
    signer: s?.subject ?? (s?.issuer || null),
    digest_matches: matches,
    signature_verified: s
      ? (s.message_digest_matches === false ? false : s.signature_verified)
      : null,
  };
}
