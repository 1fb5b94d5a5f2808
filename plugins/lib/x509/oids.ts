/** Names of the object identifiers certificates and CMS signatures use. */

/** Short attribute names as OpenSSL prints them in distinguished names. */
export const NAME_ATTRIBUTES: Record<string, string> = {
  "2.5.4.3": "CN",
  "2.5.4.4": "SN",
  "2.5.4.5": "serialNumber",
  "2.5.4.6": "C",
  "2.5.4.7": "L",
  "2.5.4.8": "ST",
  "2.5.4.9": "street",
  "2.5.4.10": "O",
  "2.5.4.11": "OU",
  "2.5.4.12": "title",
  "2.5.4.13": "description",
  "2.5.4.15": "businessCategory",
  "2.5.4.17": "postalCode",
  "2.5.4.41": "name",
  "2.5.4.42": "GN",
  "2.5.4.43": "initials",
  "2.5.4.46": "dnQualifier",
  "2.5.4.65": "pseudonym",
  "2.5.4.97": "organizationIdentifier",
  "0.9.2342.19200300.100.1.1": "UID",
  "0.9.2342.19200300.100.1.25": "DC",
  "1.2.840.113549.1.9.1": "emailAddress",
  "1.3.6.1.4.1.311.60.2.1.1": "jurisdictionL",
  "1.3.6.1.4.1.311.60.2.1.2": "jurisdictionST",
  "1.3.6.1.4.1.311.60.2.1.3": "jurisdictionC",
};

/** Digest algorithms: OID → node:crypto name. */
export const DIGESTS: Record<string, string> = {
  "1.2.840.113549.2.5": "md5",
  "1.3.14.3.2.26": "sha1",
  "2.16.840.1.101.3.4.2.1": "sha256",
  "2.16.840.1.101.3.4.2.2": "sha384",
  "2.16.840.1.101.3.4.2.3": "sha512",
};

/** Signature algorithms: OID → name and the digest it implies (none: the digest is separate). */
export const SIGNATURES: Record<string, { name: string; digest?: string }> = {
  "1.2.840.113549.1.1.1": { name: "rsaEncryption" },
  "1.2.840.113549.1.1.4": { name: "md5WithRSAEncryption", digest: "md5" },
  "1.2.840.113549.1.1.5": { name: "sha1WithRSAEncryption", digest: "sha1" },
  "1.2.840.113549.1.1.10": { name: "rsassaPss" },
  "1.2.840.113549.1.1.11": { name: "sha256WithRSAEncryption", digest: "sha256" },
  "1.2.840.113549.1.1.12": { name: "sha384WithRSAEncryption", digest: "sha384" },
  "1.2.840.113549.1.1.13": { name: "sha512WithRSAEncryption", digest: "sha512" },
  "1.2.840.10045.2.1": { name: "id-ecPublicKey" },
  "1.2.840.10045.4.1": { name: "ecdsa-with-SHA1", digest: "sha1" },
  "1.2.840.10045.4.3.2": { name: "ecdsa-with-SHA256", digest: "sha256" },
  "1.2.840.10045.4.3.3": { name: "ecdsa-with-SHA384", digest: "sha384" },
  "1.2.840.10045.4.3.4": { name: "ecdsa-with-SHA512", digest: "sha512" },
  "1.3.101.112": { name: "ED25519" },
  "1.2.840.10040.4.3": { name: "dsaWithSHA1", digest: "sha1" },
};

/** Extended key usages. */
export const KEY_PURPOSES: Record<string, string> = {
  "1.3.6.1.5.5.7.3.1": "serverAuth",
  "1.3.6.1.5.5.7.3.2": "clientAuth",
  "1.3.6.1.5.5.7.3.3": "codeSigning",
  "1.3.6.1.5.5.7.3.4": "emailProtection",
  "1.3.6.1.5.5.7.3.8": "timeStamping",
  "1.3.6.1.5.5.7.3.9": "OCSPSigning",
  "2.5.29.37.0": "anyExtendedKeyUsage",
  "1.3.6.1.4.1.311.10.3.6": "msWindowsSystemComponent",
  "1.3.6.1.4.1.311.10.3.5": "msWhqlCrypto",
  "1.3.6.1.4.1.311.61.1.1": "msKernelModeCodeSigning",
  "1.3.6.1.4.1.311.10.3.13": "msLifetimeSigning",
  "1.3.6.1.4.1.311.2.1.21": "msCodeInd",
  "1.3.6.1.4.1.311.2.1.22": "msCodeCom",
};

/** KeyUsage bit names, bit 0 first. */
export const KEY_USAGES = [
  "digitalSignature",
  "nonRepudiation",
  "keyEncipherment",
  "dataEncipherment",
  "keyAgreement",
  "keyCertSign",
  "cRLSign",
  "encipherOnly",
  "decipherOnly",
];

/** CMS and Authenticode identifiers used by the parsers. */
export const OID = {
  signedData: "1.2.840.113549.1.7.2",
  data: "1.2.840.113549.1.7.1",
  contentType: "1.2.840.113549.1.9.3",
  messageDigest: "1.2.840.113549.1.9.4",
  signingTime: "1.2.840.113549.1.9.5",
  counterSignature: "1.2.840.113549.1.9.6",
  spcIndirectData: "1.3.6.1.4.1.311.2.1.4",
  spcSpOpusInfo: "1.3.6.1.4.1.311.2.1.12",
  spcPeImageData: "1.3.6.1.4.1.311.2.1.15",
  nestedSignature: "1.3.6.1.4.1.311.2.4.1",
  rfc3161Timestamp: "1.3.6.1.4.1.311.3.3.1",
  tstInfo: "1.2.840.113549.1.9.16.1.4",
  subjectAltName: "2.5.29.17",
  basicConstraints: "2.5.29.19",
  keyUsage: "2.5.29.15",
  extKeyUsage: "2.5.29.37",
  subjectKeyIdentifier: "2.5.29.14",
  authorityKeyIdentifier: "2.5.29.35",
};
