/**
 * Tells whether an OLE compound file holds an encrypted Office document, and how it is encrypted:
 * - encrypted OOXML ([MS-OFFCRYPTO] 2.3.4): EncryptionInfo and EncryptedPackage streams at the
 *   root; version 4.4 is Agile (XML descriptor), 2-4.2 Standard, 3-4.3 Extensible; a
 *   DRMEncryptedTransform in \x06DataSpaces means IRM (rights management), not a password;
 * - Word 97-2003 ([MS-DOC] 2.5.1 FibBase): fEncrypted, fObfuscation (XOR), and the table
 *   stream's EncryptionHeader version (1.1 RC4, 2-4.2 RC4 CryptoAPI);
 * - Excel 97-2003 ([MS-XLS] 2.4.117 FilePass after the first BOF): XOR or RC4 (same versions);
 * - PowerPoint 97-2003 ([MS-PPT] 2.3.2 CurrentUserAtom): headerToken 0xF3D1C4DF.
 * The compound file itself is read with SheetJS `cfb`.
 */
import { Buffer } from "node:buffer";
import CFB from "cfb";
import { agileDescriptor } from "./ecma376.ts";

/** What the container says about its encryption. */
export interface EncryptionReport {
  encrypted: boolean;
  /** ooxml, doc, xls, ppt, or unknown (a compound file that is none of these). */
  container: "ooxml" | "doc" | "xls" | "ppt" | "unknown";
  /** agile, standard, extensible, irm, rc4, rc4_cryptoapi, xor; null when not encrypted. */
  scheme: string | null;
  version: string | null;
  cipher: string | null;
  hash: string | null;
  key_bits: number | null;
  spin_count: number | null;
}

/** A parsed compound file and its root-level streams by upper-case name. */
export interface Container {
  cfb: CFB.CFB$Container;
  root: Map<string, CFB.CFB$Entry>;
}

/** Reads the compound file; throws the library's message when it is not one. */
export function openContainer(content: Uint8Array): Container {
  // Given a Buffer, cfb hands out streams as Buffer views; given a Uint8Array, as plain arrays.
  const cfb = CFB.read(Buffer.from(content.buffer, content.byteOffset, content.byteLength), {
    type: "buffer",
  });
  const root = new Map<string, CFB.CFB$Entry>();
  const prefix = cfb.FullPaths[0];
  cfb.FullPaths.forEach((path, i) => {
    const rest = path.slice(prefix.length);
    if (rest && !rest.includes("/")) root.set(rest.toUpperCase(), cfb.FileIndex[i]);
  });
  return { cfb, root };
}

const ALG_IDS: Record<number, string> = {
  0x6801: "RC4",
  0x660e: "AES-128",
  0x660f: "AES-192",
  0x6610: "AES-256",
};
const HASH_IDS: Record<number, string> = { 0x8004: "SHA-1" };

const bytes = (e: CFB.CFB$Entry | undefined) =>
  e?.content ? new Uint8Array(e.content as ArrayLike<number>) : undefined;
const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

/** Reports the encryption of the container. Reads only a few header fields of each stream. */
export function detectEncryption(c: Container): EncryptionReport {
  const out: EncryptionReport = {
    encrypted: false,
    container: "unknown",
    scheme: null,
    version: null,
    cipher: null,
    hash: null,
    key_bits: null,
    spin_count: null,
  };
  const info = bytes(c.root.get("ENCRYPTIONINFO"));
  if (info && c.root.has("ENCRYPTEDPACKAGE")) {
    out.container = "ooxml";
    out.encrypted = true;
    const irm = c.cfb.FullPaths.some((p) => /DRMEncryptedTransform/i.test(p));
    encryptionInfo(info, out);
    if (irm) out.scheme = "irm";
    return out;
  }
  const word = bytes(c.root.get("WORDDOCUMENT"));
  if (word) {
    out.container = "doc";
    if (word.length < 12) return out;
    const flags = view(word).getUint16(0x0a, true);
    if (!(flags & 0x0100)) return out;
    out.encrypted = true;
    if (flags & 0x8000) {
      out.scheme = "xor";
      return out;
    }
    const table = bytes(c.root.get(flags & 0x0200 ? "1TABLE" : "0TABLE"));
    if (table) rc4Header(table, 0, out);
    return out;
  }
  const book = bytes(c.root.get("WORKBOOK") ?? c.root.get("BOOK"));
  if (book) {
    out.container = "xls";
    filePass(book, out);
    return out;
  }
  const user = bytes(c.root.get("CURRENT USER"));
  if (c.root.has("POWERPOINT DOCUMENT")) {
    out.container = "ppt";
    if (user && user.length >= 16 && view(user).getUint32(12, true) === 0xf3d1c4df) {
      out.encrypted = true;
      out.scheme = "rc4_cryptoapi";
    }
  }
  return out;
}

/** [MS-OFFCRYPTO] EncryptionInfo: Agile XML or a Standard/Extensible binary header. */
function encryptionInfo(b: Uint8Array, out: EncryptionReport): void {
  if (b.length < 8) return;
  const v = view(b);
  const major = v.getUint16(0, true), minor = v.getUint16(2, true);
  out.version = `${major}.${minor}`;
  if (major === 4 && minor === 4) {
    out.scheme = "agile";
    const { keyData = {}, encryptedKey: key = {} } = agileDescriptor(b);
    const a = (attrs: Record<string, string>, name: string) => attrs[name];
    const cipher = a(keyData, "cipherAlgorithm"), bits = a(keyData, "keyBits");
    out.cipher = cipher ? `${cipher}${bits ? `-${bits}` : ""}` : null;
    out.hash = a(keyData, "hashAlgorithm") ?? null;
    out.key_bits = bits ? Number(bits) : null;
    const spin = a(key, "spinCount");
    out.spin_count = spin ? Number(spin) : null;
    return;
  }
  out.scheme = minor === 3
    ? "extensible"
    : minor === 2
    ? "standard"
    : `unknown (${major}.${minor})`;
  // EncryptionHeader after flags and header size: Flags, SizeExtra, AlgID, AlgIDHash, KeySize.
  if (b.length >= 32) {
    out.cipher = ALG_IDS[v.getUint32(20, true)] ?? `0x${v.getUint32(20, true).toString(16)}`;
    out.hash = HASH_IDS[v.getUint32(24, true)] ?? null;
    out.key_bits = v.getUint32(28, true) || null;
    if (out.scheme === "standard") out.spin_count = 50_000;
  }
}

/** The RC4 EncryptionHeader version at `o` ([MS-OFFCRYPTO] 2.3.6.1 / 2.3.5.1). */
function rc4Header(b: Uint8Array, o: number, out: EncryptionReport): void {
  if (b.length < o + 4) return;
  const v = view(b);
  const major = v.getUint16(o, true), minor = v.getUint16(o + 2, true);
  out.version = `${major}.${minor}`;
  if (major === 1 && minor === 1) {
    out.scheme = "rc4";
    out.cipher = "RC4";
    out.key_bits = 40;
    out.hash = "MD5";
  } else if (minor === 2 && major >= 2 && major <= 4) {
    out.scheme = "rc4_cryptoapi";
    out.cipher = "RC4";
    out.hash = "SHA-1";
    // Flags, HeaderSize, then the EncryptionHeader: Flags, SizeExtra, AlgID, AlgIDHash, KeySize.
    if (b.length >= o + 32) out.key_bits = v.getUint32(o + 28, true) || 40;
  } else {
    out.scheme = `unknown (${major}.${minor})`;
  }
}

/** Looks for FilePass among the first records of the workbook globals (after BOF). */
function filePass(b: Uint8Array, out: EncryptionReport): void {
  const v = view(b);
  let o = 0;
  for (let n = 0; n < 32 && o + 4 <= b.length; n++) {
    const type = v.getUint16(o, true), size = v.getUint16(o + 2, true);
    if (type === 0x002f) {
      out.encrypted = true;
      if (o + 6 > b.length) return;
      const kind = v.getUint16(o + 4, true);
      if (kind === 0) out.scheme = "xor";
      else rc4Header(b, o + 6, out);
      return;
    }
    // FilePass comes right after BOF (and WriteProtect); these records never precede it.
    if (n > 0 && type !== 0x0086 && type !== 0x00e1 && type !== 0x00c1 && type !== 0x00e2) return;
    o += 4 + size;
  }
}
