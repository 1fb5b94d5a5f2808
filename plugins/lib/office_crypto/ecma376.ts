/**
 * Password check and decryption of encrypted OOXML packages, per [MS-OFFCRYPTO] 2.3.4.5-2.3.4.9
 * (Standard encryption: SHA-1, 50,000 spins, AES-ECB) and 2.3.4.10-2.3.4.15 (Agile encryption:
 * the XML descriptor's hash, spin count and AES-CBC, 4096-byte segments).
 *
 * Why not officecrypto-tool here: its key derivation makes a new node:crypto hash per spin and
 * repeats the 100,000 spins for each of Agile's three keys, about 5 s per password tried on this
 * machine (25 s for a five-password list that fails). The same derivation with one reused
 * hash-wasm hasher and the spins done once costs about 0.25 s. AES is node:crypto's. The package
 * is not integrity-checked (dataIntegrity HMAC): a wrong password is caught by the verifier.
 */
import { Buffer } from "node:buffer";
import { createDecipheriv } from "node:crypto";
import { createSHA1, createSHA256, createSHA384, createSHA512, type IHasher } from "hash-wasm";
import { elements } from "../ooxml/xml.ts";

/** The verifier said no: the password is wrong. */
export class WrongPassword extends Error {}

const HASHERS: Record<string, () => Promise<IHasher>> = {
  SHA1: createSHA1,
  "SHA-1": createSHA1,
  SHA256: createSHA256,
  SHA384: createSHA384,
  SHA512: createSHA512,
};

/** The parameters of an encrypted package's EncryptionInfo stream, parsed once. */
export type Ecma376Info = StandardInfo | AgileInfo;

interface StandardInfo {
  kind: "standard";
  keyBytes: number;
  salt: Uint8Array;
  encryptedVerifier: Uint8Array;
  encryptedVerifierHash: Uint8Array;
}

interface KeyParams {
  salt: Uint8Array;
  hash: string;
  keyBytes: number;
  blockSize: number;
}

interface AgileInfo {
  kind: "agile";
  keyData: KeyParams;
  password: KeyParams & {
    spinCount: number;
    encryptedVerifierHashInput: Uint8Array;
    encryptedVerifierHashValue: Uint8Array;
    encryptedKeyValue: Uint8Array;
  };
}

/** A malformed EncryptionInfo; the message names the field. */
export class EncryptionInfoError extends Error {}

const MAX_SPIN = 10_000_000; // [MS-OFFCRYPTO] 2.3.4.10: spinCount MUST NOT exceed 10,000,000

/** Parses a Standard (x.2) or Agile (4.4) EncryptionInfo stream. */
export function parseEncryptionInfo(b: Uint8Array): Ecma376Info {
  if (b.length < 8) throw new EncryptionInfoError("EncryptionInfo shorter than its version");
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const major = v.getUint16(0, true), minor = v.getUint16(2, true);
  if (major === 4 && minor === 4) return parseAgile(b);
  if (minor !== 2) {
    throw new EncryptionInfoError(`unsupported EncryptionInfo version ${major}.${minor}`);
  }
  const headerSize = v.getUint32(8, true);
  const h = 12;
  const verifier = h + headerSize;
  if (headerSize < 32 || b.length < verifier + 4 + 16 + 16 + 4 + 32) {
    throw new EncryptionInfoError(`Standard EncryptionInfo truncated (${b.length} bytes)`);
  }
  const algId = v.getUint32(h + 8, true);
  if (algId !== 0x660e && algId !== 0x660f && algId !== 0x6610) {
    throw new EncryptionInfoError(
      `Standard encryption with AlgID 0x${algId.toString(16)} (not AES)`,
    );
  }
  const saltSize = v.getUint32(verifier, true);
  if (saltSize !== 16) {
    throw new EncryptionInfoError(`Standard encryption salt of ${saltSize} bytes`);
  }
  return {
    kind: "standard",
    keyBytes: v.getUint32(h + 16, true) / 8,
    salt: b.slice(verifier + 4, verifier + 20),
    encryptedVerifier: b.slice(verifier + 20, verifier + 36),
    encryptedVerifierHash: b.slice(verifier + 40, verifier + 72),
  };
}

/**
 * The attributes of an Agile descriptor's keyData and of its password key encryptor's
 * encryptedKey (the one with a spinCount), read from at most 1 MiB of XML.
 */
export function agileDescriptor(b: Uint8Array): {
  keyData?: Record<string, string>;
  encryptedKey?: Record<string, string>;
} {
  const xml = new TextDecoder().decode(b.subarray(8, Math.min(b.length, 8 + 1024 * 1024)));
  return {
    keyData: elements(xml, "keyData", 1)[0],
    encryptedKey: elements(xml, "encryptedKey", 16).find((k) => k.spinCount !== undefined),
  };
}

function parseAgile(b: Uint8Array): AgileInfo {
  const { keyData, encryptedKey: key } = agileDescriptor(b);
  if (!keyData || !key) {
    throw new EncryptionInfoError("Agile descriptor lacks keyData or encryptedKey");
  }
  const a = (t: Record<string, string>, name: string) => {
    const v = t[name];
    if (v === undefined) throw new EncryptionInfoError(`Agile descriptor lacks ${name}`);
    return v;
  };
  const params = (t: Record<string, string>): KeyParams => {
    const hash = a(t, "hashAlgorithm").toUpperCase();
    if (!HASHERS[hash]) throw new EncryptionInfoError(`unsupported hash algorithm ${hash}`);
    if (!/^AES$/i.test(a(t, "cipherAlgorithm"))) {
      throw new EncryptionInfoError(`unsupported cipher ${a(t, "cipherAlgorithm")}`);
    }
    return {
      salt: Buffer.from(a(t, "saltValue"), "base64"),
      hash,
      keyBytes: Number(a(t, "keyBits")) / 8,
      blockSize: Number(a(t, "blockSize")),
    };
  };
  const spinCount = Number(a(key, "spinCount"));
  if (!Number.isInteger(spinCount) || spinCount < 0 || spinCount > MAX_SPIN) {
    throw new EncryptionInfoError(`spinCount ${spinCount} outside 0..${MAX_SPIN}`);
  }
  return {
    kind: "agile",
    keyData: params(keyData),
    password: {
      ...params(key),
      spinCount,
      encryptedVerifierHashInput: Buffer.from(a(key, "encryptedVerifierHashInput"), "base64"),
      encryptedVerifierHashValue: Buffer.from(a(key, "encryptedVerifierHashValue"), "base64"),
      encryptedKeyValue: Buffer.from(a(key, "encryptedKeyValue"), "base64"),
    },
  };
}

const le32 = (n: number) => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n >>> 0, true);
  return b;
};

/** H0 = H(salt + password), then H(i + H) `spins` times, with one reused hasher. */
async function iteratedHash(hash: string, salt: Uint8Array, password: string, spins: number) {
  const h = await HASHERS[hash]();
  h.init();
  h.update(salt);
  h.update(Buffer.from(password, "utf16le"));
  let d = h.digest("binary");
  const buf = new Uint8Array(4 + d.length);
  const view = new DataView(buf.buffer);
  for (let i = 0; i < spins; i++) {
    view.setUint32(0, i, true);
    buf.set(d, 4);
    h.init();
    h.update(buf);
    d = h.digest("binary");
  }
  return { h, d };
}

function aes(mode: "ecb" | "cbc", key: Uint8Array, iv: Uint8Array | null, data: Uint8Array) {
  const d = createDecipheriv(`aes-${key.length * 8}-${mode}`, key, iv);
  d.setAutoPadding(false);
  return new Uint8Array(Buffer.concat([d.update(data), d.final()]));
}

const equal = (a: Uint8Array, b: Uint8Array) =>
  a.length === b.length && a.every((x, i) => x === b[i]);

/** Decrypts the EncryptedPackage stream with `password`; throws {@link WrongPassword}. */
export async function decryptPackage(
  info: Ecma376Info,
  encryptedPackage: Uint8Array,
  password: string,
): Promise<Uint8Array> {
  const key = info.kind === "standard"
    ? await standardKey(info, password)
    : await agileKey(info, password);
  if (encryptedPackage.length < 8) throw new EncryptionInfoError("EncryptedPackage is empty");
  const v = new DataView(encryptedPackage.buffer, encryptedPackage.byteOffset, 8);
  const size = v.getUint32(0, true) + v.getUint32(4, true) * 2 ** 32;
  const data = encryptedPackage.subarray(8);
  if (size > data.length) {
    throw new EncryptionInfoError(
      `EncryptedPackage declares ${size} bytes but holds ${data.length}`,
    );
  }
  const whole = data.subarray(0, data.length - (data.length % 16));
  if (info.kind === "standard") return aes("ecb", key, null, whole).subarray(0, size);
  const out = new Uint8Array(whole.length);
  const { keyData } = info;
  const h = await HASHERS[keyData.hash]();
  for (let seg = 0, o = 0; o < whole.length; seg++, o += 4096) {
    h.init();
    h.update(keyData.salt);
    h.update(le32(seg));
    const iv = fit(h.digest("binary"), keyData.blockSize);
    out.set(aes("cbc", key, iv, whole.subarray(o, Math.min(o + 4096, whole.length))), o);
  }
  return out.subarray(0, size);
}

/** Truncates or pads (0x36) to `n` bytes, as [MS-OFFCRYPTO] 2.3.4.11/12 do. */
function fit(b: Uint8Array, n: number): Uint8Array {
  if (b.length >= n) return b.subarray(0, n);
  const out = new Uint8Array(n).fill(0x36);
  out.set(b);
  return out;
}

async function standardKey(info: StandardInfo, password: string): Promise<Uint8Array> {
  const { h, d } = await iteratedHash("SHA1", info.salt, password, 50_000);
  h.init();
  h.update(d);
  h.update(le32(0));
  const hfinal = h.digest("binary");
  const derive = (fill: number) => {
    const buf = new Uint8Array(64).fill(fill);
    for (let i = 0; i < hfinal.length; i++) buf[i] ^= hfinal[i];
    h.init();
    h.update(buf);
    return h.digest("binary");
  };
  const x = new Uint8Array([...derive(0x36), ...derive(0x5c)]);
  const key = x.slice(0, info.keyBytes);
  const verifier = aes("ecb", key, null, info.encryptedVerifier);
  const verifierHash = aes("ecb", key, null, info.encryptedVerifierHash);
  h.init();
  h.update(verifier);
  if (!equal(h.digest("binary"), verifierHash.subarray(0, 20))) {
    throw new WrongPassword("the password is incorrect");
  }
  return key;
}

const BLOCK_VERIFIER_INPUT = Uint8Array.from([0xfe, 0xa7, 0xd2, 0x76, 0x3b, 0x4b, 0x9e, 0x79]);
const BLOCK_VERIFIER_VALUE = Uint8Array.from([0xd7, 0xaa, 0x0f, 0x6d, 0x30, 0x61, 0x34, 0x4e]);
const BLOCK_KEY_VALUE = Uint8Array.from([0x14, 0x6e, 0x0b, 0xe7, 0xab, 0xac, 0xd0, 0xd6]);

async function agileKey(info: AgileInfo, password: string): Promise<Uint8Array> {
  const p = info.password;
  const { h, d } = await iteratedHash(p.hash, p.salt, password, p.spinCount);
  const keyFor = (block: Uint8Array) => {
    h.init();
    h.update(d);
    h.update(block);
    return fit(h.digest("binary"), p.keyBytes);
  };
  const input = aes("cbc", keyFor(BLOCK_VERIFIER_INPUT), p.salt, p.encryptedVerifierHashInput);
  const value = aes("cbc", keyFor(BLOCK_VERIFIER_VALUE), p.salt, p.encryptedVerifierHashValue);
  h.init();
  h.update(input.subarray(0, p.salt.length));
  const digest = h.digest("binary");
  if (!equal(digest, value.subarray(0, digest.length))) {
    throw new WrongPassword("the password is incorrect");
  }
  return aes("cbc", keyFor(BLOCK_KEY_VALUE), p.salt, p.encryptedKeyValue)
    .subarray(0, info.keyData.keyBytes);
}
