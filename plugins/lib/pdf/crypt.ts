/**
 * The standard security handler (ISO 32000-2 §7.6.4): reads the /Encrypt dictionary, tries the
 * given passwords (the empty user password first: most encrypted malware opens without one),
 * and decrypts strings and streams with RC4 (V1-V4), AES-128 (AESV2) or AES-256 (AESV3, R5/R6).
 *
 * MD5, SHA-2 and AES come from node:crypto. RC4 is written out here because node:crypto under
 * Deno does not offer it ("Unknown cipher"); it is the ten-line key schedule and stream of the
 * algorithm, used for reading only.
 */
import { Buffer } from "node:buffer";
import { createCipheriv, createDecipheriv, createHash } from "node:crypto";
import { isDict, type PdfDict, PdfString, type PdfValue } from "./lexer.ts";

/** What the /Encrypt dictionary says, in the result's words. */
export interface EncryptionInfo {
  filter: string | null;
  sub_filter: string | null;
  v: number;
  r: number;
  key_bits: number;
  p: number;
  permissions: Record<string, boolean>;
  string_method: string;
  stream_method: string;
  embedded_file_method: string;
  encrypt_metadata: boolean;
  /** Which password opened the file: "empty user password", "user password n", "owner password n". */
  opened_with: string | null;
}

/** Decrypts strings and streams of one file, once a password was accepted. */
export interface Decryptor {
  string(bytes: Uint8Array, num: number, gen: number): Uint8Array;
  stream(bytes: Uint8Array, num: number, gen: number, embedded: boolean): Uint8Array;
  /** Whether metadata streams are encrypted. */
  readonly metadata: boolean;
}

const PAD = Uint8Array.from([
  0x28,
  0xbf,
  0x4e,
  0x5e,
  0x4e,
  0x75,
  0x8a,
  0x41,
  0x64,
  0x00,
  0x4e,
  0x56,
  0xff,
  0xfa,
  0x01,
  0x08,
  0x2e,
  0x2e,
  0x00,
  0xb6,
  0xd0,
  0x68,
  0x3e,
  0x80,
  0x2f,
  0x0c,
  0xa9,
  0xfe,
  0x64,
  0x53,
  0x69,
  0x7a,
]);

// P bits (1-based, §7.6.4.2 Table 22) by the names the result uses.
const PERMISSION_BITS: [string, number][] = [
  ["print", 3],
  ["modify", 4],
  ["copy", 5],
  ["annotate", 6],
  ["fill_forms", 9],
  ["accessibility", 10],
  ["assemble", 11],
  ["print_high_quality", 12],
];

type Method = "RC4" | "AESV2" | "AESV3" | "Identity";

/**
 * Reads `enc` and tries `passwords` (each as user, then owner password). Returns the facts, and
 * a decryptor when a password opened the file; `problem` says why not.
 */
export function openEncryption(
  enc: PdfDict,
  id0: Uint8Array,
  passwords: readonly string[],
): { info: EncryptionInfo; decryptor?: Decryptor; problem?: string } {
  const num = (k: string, d: number) => {
    const v = enc.get(k);
    return typeof v === "number" ? v : d;
  };
  const bytes = (k: string) => {
    const v = enc.get(k);
    return v instanceof PdfString ? v.bytes : new Uint8Array(0);
  };
  const v = num("/V", 0);
  const r = num("/R", 0);
  const p = num("/P", 0) | 0;
  const encryptMetadata = enc.get("/EncryptMetadata") !== false;
  const cf = enc.get("/CF");
  const methodOf = (filterName: PdfValue | undefined): Method => {
    if (v < 4) return "RC4";
    if (filterName === "/Identity" || filterName === undefined) return "Identity";
    const f = isDict(cf) && typeof filterName === "string" ? cf.get(filterName) : undefined;
    const cfm = isDict(f) ? f.get("/CFM") : undefined;
    if (cfm === "/AESV2") return "AESV2";
    if (cfm === "/AESV3") return "AESV3";
    if (cfm === "/V2") return "RC4";
    return "Identity";
  };
  const stmMethod = methodOf(enc.get("/StmF"));
  const strMethod = methodOf(enc.get("/StrF"));
  const effMethod = enc.has("/EFF") ? methodOf(enc.get("/EFF")) : stmMethod;
  let keyBits = v === 1 ? 40 : num("/Length", 40);
  if (v >= 5) keyBits = 256;
  else if (v === 4 && (stmMethod === "AESV2" || strMethod === "AESV2")) keyBits = 128;
  const permissions: Record<string, boolean> = {};
  for (const [name, bit] of PERMISSION_BITS) permissions[name] = (p & (1 << (bit - 1))) !== 0;
  const filter = enc.get("/Filter");
  const sub = enc.get("/SubFilter");
  const info: EncryptionInfo = {
    filter: typeof filter === "string" ? filter.slice(1) : null,
    sub_filter: typeof sub === "string" ? sub.slice(1) : null,
    v,
    r,
    key_bits: keyBits,
    p,
    permissions,
    string_method: strMethod,
    stream_method: stmMethod,
    embedded_file_method: effMethod,
    encrypt_metadata: encryptMetadata,
    opened_with: null,
  };
  if (filter !== "/Standard") {
    return { info, problem: `security handler ${String(filter)} is not the standard one` };
  }
  const o = bytes("/O");
  const u = bytes("/U");
  let key: Uint8Array | undefined;
  let opened: string | null = null;
  const enc8 = new TextEncoder();
  for (let i = 0; i < passwords.length && !key; i++) {
    const pw = passwords[i];
    const label = pw === "" ? "empty user password" : `user password ${i + 1}`;
    if (r >= 5) {
      const pwb = enc8.encode(pw).subarray(0, 127);
      const [oe, ue, perms] = [bytes("/OE"), bytes("/UE"), bytes("/Perms")];
      key = aes256Key(pwb, r, o, u, oe, ue, perms, false);
      if (key) opened = label;
      else if ((key = aes256Key(pwb, r, o, u, oe, ue, perms, true))) {
        opened = `owner password ${i + 1}`;
      }
    } else if (r >= 2) {
      const pwb = latin1Bytes(pw);
      const n = r === 2 ? 5 : Math.min(16, Math.max(5, keyBits >> 3));
      key = rc4Key(pwb, r, n, o, u, p, id0, encryptMetadata);
      if (key) opened = label;
      else {
        const user = ownerToUser(pwb, r, n, o);
        if ((key = rc4Key(user, r, n, o, u, p, id0, encryptMetadata))) {
          opened = `owner password ${i + 1}`;
        }
      }
    }
  }
  info.opened_with = opened;
  if (r < 2 || r > 6) return { info, problem: `unknown revision R ${r}` };
  if (!key) {
    return {
      info,
      problem: passwords.length === 1 && passwords[0] === ""
        ? "the user password is not empty; strings and streams stay encrypted (give it with passwords)"
        : `none of the ${passwords.length} passwords opens it; strings and streams stay encrypted`,
    };
  }
  const fileKey = key;
  const keys = new Map<number, Uint8Array>(); // per object: one MD5 each, not one per string
  const objectKey = (num: number, gen: number, aes: boolean) => {
    const id = (num * 65536 + gen) * 2 + (aes ? 1 : 0);
    let k = keys.get(id);
    if (!k) {
      const h = createHash("md5");
      h.update(fileKey);
      h.update(Uint8Array.of(num, num >> 8, num >> 16, gen, gen >> 8));
      if (aes) h.update("sAlT");
      k = h.digest().subarray(0, Math.min(fileKey.length + 5, 16));
      if (keys.size < 100_000) keys.set(id, k);
    }
    return k;
  };
  const run = (m: Method, data: Uint8Array, num: number, gen: number) => {
    switch (m) {
      case "Identity":
        return data;
      case "RC4":
        return rc4(objectKey(num, gen, false), data);
      case "AESV2":
        return aesCbc(objectKey(num, gen, true), data);
      case "AESV3":
        return aesCbc(fileKey, data);
    }
  };
  return {
    info,
    decryptor: {
      string: (data, num, gen) => run(strMethod, data, num, gen),
      stream: (data, num, gen, embedded) => run(embedded ? effMethod : stmMethod, data, num, gen),
      metadata: encryptMetadata,
    },
  };
}

function latin1Bytes(s: string): Uint8Array {
  const out = new Uint8Array(Math.min(s.length, 32));
  for (let i = 0; i < out.length; i++) out[i] = s.charCodeAt(i) & 0xff;
  return out;
}

function padded(pw: Uint8Array): Uint8Array {
  const out = new Uint8Array(32);
  out.set(pw.subarray(0, 32));
  out.set(PAD.subarray(0, 32 - Math.min(32, pw.length)), Math.min(32, pw.length));
  return out;
}

// Algorithm 2 (file key) checked by Algorithm 4/5 (R2 / R3-4).
function rc4Key(
  pw: Uint8Array,
  r: number,
  n: number,
  o: Uint8Array,
  u: Uint8Array,
  p: number,
  id0: Uint8Array,
  encryptMetadata: boolean,
): Uint8Array | undefined {
  const h = createHash("md5");
  h.update(padded(pw));
  h.update(o.subarray(0, 32));
  h.update(Uint8Array.of(p, p >> 8, p >> 16, p >> 24));
  h.update(id0);
  if (r >= 4 && !encryptMetadata) h.update(Uint8Array.of(0xff, 0xff, 0xff, 0xff));
  let digest: Uint8Array = h.digest();
  if (r >= 3) {
    for (let i = 0; i < 50; i++) digest = createHash("md5").update(digest.subarray(0, n)).digest();
  }
  const key = digest.subarray(0, n);
  if (r === 2) return equal(rc4(key, PAD), u.subarray(0, 32)) ? key : undefined;
  let x: Uint8Array = rc4(key, createHash("md5").update(PAD).update(id0).digest());
  for (let i = 1; i <= 19; i++) x = rc4(key.map((b) => b ^ i), x);
  return equal(x, u.subarray(0, 16)) ? key : undefined;
}

// Algorithm 7: the owner password decrypts /O into the user password.
function ownerToUser(pw: Uint8Array, r: number, n: number, o: Uint8Array): Uint8Array {
  let digest: Uint8Array = createHash("md5").update(padded(pw)).digest();
  if (r >= 3) {
    for (let i = 0; i < 50; i++) digest = createHash("md5").update(digest).digest();
  }
  const key = digest.subarray(0, n);
  let x = o.subarray(0, 32);
  if (r === 2) return rc4(key, x);
  for (let i = 19; i >= 0; i--) x = rc4(key.map((b) => b ^ i), x);
  return x;
}

// Algorithms 2.A/11/12/13 (R5, R6): unwrap the file key from UE (or OE) and check it against
// /Perms, which costs one run of the (deliberately slow) R6 hash instead of two; without a
// usable /Perms the password is checked against U (or O) as well.
function aes256Key(
  pw: Uint8Array,
  r: number,
  o: Uint8Array,
  u: Uint8Array,
  oe: Uint8Array,
  ue: Uint8Array,
  perms: Uint8Array,
  owner: boolean,
): Uint8Array | undefined {
  if (o.length < 48 || u.length < 48) return undefined;
  const [hashes, udata, wrapped] = owner ? [o, u.subarray(0, 48), oe] : [u, new Uint8Array(0), ue];
  if (wrapped.length < 32) return undefined;
  const kek = hash2(pw, hashes.subarray(40, 48), udata, r);
  const d = createDecipheriv("aes-256-cbc", kek, new Uint8Array(16));
  d.setAutoPadding(false);
  const key = new Uint8Array(Buffer.concat([d.update(wrapped.subarray(0, 32)), d.final()]));
  if (perms.length >= 16) {
    const p = createDecipheriv("aes-256-ecb", key, null);
    p.setAutoPadding(false);
    const plain = p.update(perms.subarray(0, 16));
    if (plain[9] === 0x61 && plain[10] === 0x64 && plain[11] === 0x62) return key; // "adb"
  }
  const check = hash2(pw, hashes.subarray(32, 40), udata, r);
  return equal(check, hashes.subarray(0, 32)) ? key : undefined;
}

// SHA-256 for R5; Algorithm 2.B's AES-and-SHA-2 rounds for R6.
function hash2(pw: Uint8Array, salt: Uint8Array, udata: Uint8Array, r: number): Uint8Array {
  let k: Uint8Array = createHash("sha256").update(pw).update(salt).update(udata).digest();
  if (r < 6) return k;
  for (let i = 0;; i++) {
    const block = new Uint8Array(pw.length + k.length + udata.length);
    block.set(pw);
    block.set(k, pw.length);
    block.set(udata, pw.length + k.length);
    const k1 = new Uint8Array(block.length * 64);
    for (let j = 0; j < 64; j++) k1.set(block, j * block.length);
    const c = createCipheriv("aes-128-cbc", k.subarray(0, 16), k.subarray(16, 32));
    c.setAutoPadding(false);
    const e = new Uint8Array(Buffer.concat([c.update(k1), c.final()]));
    let sum = 0;
    for (let j = 0; j < 16; j++) sum += e[j];
    const alg = ["sha256", "sha384", "sha512"][sum % 3];
    k = createHash(alg).update(e).digest();
    if (i >= 63 && e[e.length - 1] <= i - 31) break;
  }
  return k.subarray(0, 32);
}

/** RC4 (encrypting and decrypting are the same). */
export function rc4(key: Uint8Array, data: Uint8Array): Uint8Array {
  const s = new Uint8Array(256);
  for (let i = 0; i < 256; i++) s[i] = i;
  for (let i = 0, j = 0; i < 256; i++) {
    j = (j + s[i] + key[i % key.length]) & 0xff;
    const t = s[i];
    s[i] = s[j];
    s[j] = t;
  }
  const out = new Uint8Array(data.length);
  for (let n = 0, i = 0, j = 0; n < data.length; n++) {
    i = (i + 1) & 0xff;
    j = (j + s[i]) & 0xff;
    const t = s[i];
    s[i] = s[j];
    s[j] = t;
    out[n] = data[n] ^ s[(s[i] + s[j]) & 0xff];
  }
  return out;
}

// AES-CBC with the IV in the first 16 bytes and PKCS#5 padding; damaged padding is kept.
function aesCbc(key: Uint8Array, data: Uint8Array): Uint8Array {
  if (data.length < 32) return new Uint8Array(0);
  const body = data.subarray(16, 16 + ((data.length - 16) & ~15));
  const alg = key.length === 32 ? "aes-256-cbc" : "aes-128-cbc";
  const d = createDecipheriv(alg, key, data.subarray(0, 16));
  d.setAutoPadding(false);
  const out = new Uint8Array(Buffer.concat([d.update(body), d.final()]));
  const pad = out[out.length - 1];
  if (pad >= 1 && pad <= 16 && out.subarray(out.length - pad).every((b) => b === pad)) {
    return out.subarray(0, out.length - pad);
  }
  return out;
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
