/**
 * X.509 certificates and PKCS#7 bundles (DER or PEM; .cer/.crt/.pem/.p7b/.p7s): subject,
 * issuer, serial, validity, key, fingerprints, SANs, CA flags and key usages, with findings
 * (expired, self-signed, weak keys or signature algorithms). The certificate parser is the one
 * the pe plugin uses for Authenticode signatures (plugins/lib/x509).
 */
import type { Finding, StoqAPI } from "../core/engine/plugin.ts";
import { type CertificateInfo, parseCertificate, pemBlocks } from "./lib/x509/certificate.ts";
import { children, is, oid, parseDer } from "./lib/x509/der.ts";
import { OID } from "./lib/x509/oids.ts";
import { parseSignedData, type SignedDataReport } from "./lib/x509/pkcs7.ts";

/** The DER blobs of a payload: its PEM blocks, or the payload itself. */
function blobs(
  content: Uint8Array,
): { format: "pem" | "der"; blocks: { label: string; der: Uint8Array }[] } {
  const head = new TextDecoder("latin1").decode(content.subarray(0, 4096));
  if (!head.includes("-----BEGIN ")) {
    return { format: "der", blocks: [{ label: "", der: content }] };
  }
  return { format: "pem", blocks: pemBlocks(new TextDecoder("latin1").decode(content)) };
}

/** Is the DER a PKCS#7 ContentInfo (its first child an OID under 1.2.840.113549.1.7)? */
function isContentInfo(der: Uint8Array): boolean {
  try {
    const first = children(parseDer(der))[0];
    return is(first, 6) && oid(first).startsWith("1.2.840.113549.1.7.");
  } catch {
    return false;
  }
}

/** What an analyst would flag in one certificate. */
export function certificateFindings(c: CertificateInfo, where: string): Finding[] {
  const out: Finding[] = [];
  const name = `${where}: ${c.subject}`;
  if (c.expired) {
    out.push({
      id: "expired",
      severity: "low",
      title: "certificate expired",
      detail: `${name}: not after ${c.not_after}`,
    });
  }
  if (c.not_yet_valid) {
    out.push({
      id: "not_yet_valid",
      severity: "low",
      title: "certificate not yet valid",
      detail: `${name}: not before ${c.not_before}`,
    });
  }
  if (c.self_signed && !c.is_ca) {
    out.push({
      id: "self_signed",
      severity: "low",
      title: "self-signed end-entity certificate",
      detail: name,
    });
  }
  const k = c.public_key;
  if ((k.algorithm === "RSA" || k.algorithm === "DSA") && k.bits !== undefined && k.bits < 2048) {
    out.push({
      id: "weak_key",
      severity: "medium",
      title: `${k.algorithm} key shorter than 2048 bits`,
      detail: `${name}: ${k.bits} bits`,
    });
  }
  if (/^(md5|sha1|md2)/i.test(c.signature_algorithm) || c.signature_algorithm === "dsaWithSHA1") {
    out.push({
      id: "weak_signature_algorithm",
      severity: "medium",
      title: "certificate signed with a broken hash",
      detail: `${name}: ${c.signature_algorithm}`,
    });
  }
  return out;
}

export default (stoq: StoqAPI) =>
  stoq.plugin({
    name: "x509",
    version: "1.0.0",
    description:
      "X.509 certificates and PKCS#7 bundles (DER/PEM): names, validity, keys, fingerprints, SANs",
    classes: ["worker"],
    create: () => ({
      scan(payload) {
        const now = new Date();
        const { format, blocks } = blobs(payload.content);
        const certificates: CertificateInfo[] = [];
        const bundles: SignedDataReport[] = [];
        const errors: string[] = [];
        blocks.forEach(({ label, der }, i) => {
          const where = format === "pem" ? `PEM block ${i} (${label})` : "DER";
          try {
            if (label === "PKCS7" || label === "CMS" || (label === "" && isContentInfo(der))) {
              const sd = parseSignedData(der, now);
              bundles.push(sd.report);
              certificates.push(...sd.report.certificates);
              errors.push(...sd.report.errors.map((e) => `x509: ${where}: ${e}`));
            } else if (label === "" || /CERTIFICATE$/.test(label)) {
              certificates.push(parseCertificate(der, now).info);
            }
          } catch (e) {
            errors.push(
              `x509: ${where}: not a certificate or PKCS#7 SignedData: ${(e as Error).message}`,
            );
          }
        });
        if (!certificates.length && !bundles.length) return { errors };
        const findings = certificates.flatMap((c, i) => certificateFindings(c, `certificate ${i}`));
        const pkcs7 = bundles.map(({ content_type, chain, signers }) => ({
          content_type: content_type === OID.data ? "data" : content_type,
          chain,
          signers,
        }));
        return {
          results: {
            format,
            count: certificates.length,
            certificates,
            ...(pkcs7.length ? { pkcs7 } : {}),
            findings,
          },
          errors,
        };
      },
    }),
  });
