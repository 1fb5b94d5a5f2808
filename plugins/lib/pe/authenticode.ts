/**
 * Authenticode (Microsoft's "Windows Authenticode Portable Executable Signature Format"): the
 * certificate table's WIN_CERTIFICATE entries, and for each PKCS#7 signature whether the image
 * digest it signs equals the digest recomputed over this file (everything except the CheckSum
 * field, the security directory entry and the certificate table), and whether the signer's
 * signature verifies. Certificate and CMS parsing is shared with the x509 plugin (lib/x509).
 */
import { createHash } from "node:crypto";
import { children, expect, oid, type Tlv, toHex } from "../x509/der.ts";
import { DIGESTS, OID } from "../x509/oids.ts";
import { parseSignedData, type SignedDataReport } from "../x509/pkcs7.ts";
import type { PeHeaders } from "./headers.ts";
import { FormatError, hex, type Reader } from "../bytes/reader.ts";

const MAX_ENTRIES = 8;
const MAX_NESTED = 8;

/** One Authenticode signature (outer or nested). */
export interface SignatureReport extends SignedDataReport {
  digest_algorithm: string | null;
  /** The image digest the signature carries (SpcIndirectDataContent). */
  signed_digest: string | null;
  /** The image digest recomputed over this file. */
  computed_digest: string | null;
  digest_matches: boolean;
  nested?: boolean;
}

/** One WIN_CERTIFICATE entry. */
export interface CertificateEntry {
  offset: number;
  length: number;
  revision: string;
  type: string;
  signatures: SignatureReport[];
}

/** The certificate table and what its signatures say. */
export interface AuthenticodeReport {
  table: { offset: number; size: number };
  entries: CertificateEntry[];
  /** One line: do the signatures match the file, and what is not verified. */
  verdict: string;
  /** Bytes of the file after the certificate table (outside the signed image). */
  data_after_table: number;
}

const CERT_TYPES: Record<number, string> = {
  1: "X509",
  2: "PKCS_SIGNED_DATA",
  3: "RESERVED_1",
  4: "TS_STACK_SIGNED",
};

/** Where the security directory entry and certificate table are, or undefined when unsigned. */
export function certificateTable(
  h: PeHeaders,
  fileSize: number,
): { entryOffset: number; offset: number; size: number } | undefined {
  const d = h.directories[4];
  if (!d || d.rva === 0 || d.size === 0) return undefined;
  if (d.rva + d.size > fileSize) {
    throw new FormatError(
      `certificate table (${d.size} bytes at ${
        hex(d.rva)
      }) runs past the end of the file (${fileSize} bytes)`,
      d.rva,
    );
  }
  return { entryOffset: h.directories_offset + 4 * 8, offset: d.rva, size: d.size };
}

/** The Authenticode image digest of the file with `alg`. */
export function imageDigest(r: Reader, h: PeHeaders, alg: string): string {
  const t = certificateTable(h, r.size);
  const hash = createHash(alg);
  const cs = h.checksum_offset;
  const entry = t?.entryOffset ?? h.directories_offset + 4 * 8;
  const d = r.data;
  hash.update(d.subarray(0, cs));
  hash.update(d.subarray(cs + 4, entry));
  if (t) {
    hash.update(d.subarray(entry + 8, t.offset));
    hash.update(d.subarray(t.offset + t.size));
  } else {
    hash.update(d.subarray(entry + 8));
  }
  return hash.digest("hex");
}

/** The digest algorithm and value an SpcIndirectDataContent carries. */
function spcDigest(content: Tlv | null): { alg: string; value: string } | null {
  if (!content) return null;
  try {
    const digestInfo = children(expect(children(content)[1], 16, "DigestInfo"));
    const alg = oid(
      expect(children(expect(digestInfo[0], 16, "AlgorithmIdentifier"))[0], 6, "OID"),
    );
    return { alg, value: toHex(expect(digestInfo[1], 4, "digest").value) };
  } catch {
    return null;
  }
}

/** Parses and checks the certificate table; undefined when the file is not signed. */
export function checkAuthenticode(
  r: Reader,
  h: PeHeaders,
  now: Date,
  errors: string[],
): AuthenticodeReport | undefined {
  const t = certificateTable(h, r.size);
  if (!t) return undefined;
  const entries: CertificateEntry[] = [];
  const digests = new Map<string, string>();
  const check = (
    der: Uint8Array,
    nested: boolean,
  ): { sig: SignatureReport; more: Uint8Array[] } => {
    const sd = parseSignedData(der, now);
    const spc = sd.report.content_type === OID.spcIndirectData ? spcDigest(sd.content) : null;
    const alg = spc ? DIGESTS[spc.alg] : undefined;
    let computed: string | null = null;
    if (alg) {
      computed = digests.get(alg) ?? imageDigest(r, h, alg);
      digests.set(alg, computed);
    }
    const sig: SignatureReport = {
      digest_algorithm: alg ?? spc?.alg ?? null,
      signed_digest: spc?.value ?? null,
      computed_digest: computed,
      digest_matches: computed !== null && computed === spc?.value,
      ...sd.report,
      ...(nested ? { nested: true } : {}),
    };
    if (!spc) sig.errors.push(`content is ${sd.report.content_type}, not SpcIndirectDataContent`);
    return { sig, more: sd.nested };
  };
  let off = t.offset;
  const end = t.offset + t.size;
  while (off + 8 <= end && entries.length < MAX_ENTRIES) {
    const length = r.u32(off, "WIN_CERTIFICATE dwLength");
    if (length < 8 || off + length > end) {
      errors.push(
        `WIN_CERTIFICATE at ${hex(off)}: length ${length} does not fit the certificate table`,
      );
      break;
    }
    const type = r.u16(off + 6, "WIN_CERTIFICATE wCertificateType");
    const entry: CertificateEntry = {
      offset: off,
      length,
      revision: hex(r.u16(off + 4, "WIN_CERTIFICATE wRevision"), 4),
      type: CERT_TYPES[type] ?? String(type),
      signatures: [],
    };
    entries.push(entry);
    if (type === 2) {
      try {
        const outer = check(r.bytes(off + 8, length - 8, "WIN_CERTIFICATE"), false);
        entry.signatures.push(outer.sig);
        for (const der of outer.more.slice(0, MAX_NESTED)) {
          try {
            entry.signatures.push(check(der, true).sig);
          } catch (e) {
            errors.push(
              `nested signature in WIN_CERTIFICATE at ${hex(off)}: ${(e as Error).message}`,
            );
          }
        }
      } catch (e) {
        errors.push(`signature in WIN_CERTIFICATE at ${hex(off)}: ${(e as Error).message}`);
      }
    }
    off += (length + 7) & ~7;
  }
  return {
    table: { offset: t.offset, size: t.size },
    entries,
    verdict: verdict(entries),
    data_after_table: r.size - end,
  };
}

function verdict(entries: CertificateEntry[]): string {
  const sigs = entries.flatMap((e) => e.signatures);
  if (sigs.length === 0) return "no parsable signature in the certificate table";
  if (sigs.some((s) => !s.digest_matches)) {
    return "signature does not match: the file was changed after signing";
  }
  const signer = sigs.flatMap((s) => s.signers);
  if (signer.some((s) => s.signature_verified === false || s.message_digest_matches === false)) {
    return "digest matches, but a signer's signature does not verify";
  }
  if (signer.some((s) => s.signature_verified === null)) {
    return "digest matches; signer signature not verified (algorithm or certificate unavailable); chain not verified (no trust store offline)";
  }
  return "digest matches and signer signature verifies; chain to a trusted root not verified (no trust store offline)";
}
