/**
 * Decrypts password-protected Office documents: encrypted OOXML with ecma376.ts, the RC4 and RC4
 * CryptoAPI encryption of .doc, .xls and .ppt with officecrypto-tool's format modules. Its
 * top-level `decrypt` picks the format by the first stream named Workbook/WordDocument anywhere
 * in the file, so a .doc that embeds a spreadsheet is taken for a workbook: the modules are
 * called here with the container {@link detectEncryption} identified instead. The container
 * must be read from a Buffer (openContainer does): the modules decrypt a stream held as a plain
 * array to four times its length (crypto-js takes the numbers for 32-bit words).
 */
import { Buffer } from "node:buffer";
import CFB from "cfb";
// @ts-types="./officecrypto_tool.d.ts"
import doc97 from "officecrypto-tool/src/util/doc97.js";
// @ts-types="./officecrypto_tool.d.ts"
import xls97 from "officecrypto-tool/src/util/xls97.js";
// @ts-types="./officecrypto_tool.d.ts"
import ppt97 from "officecrypto-tool/src/util/ppt97.js";
import type { Container, EncryptionReport } from "./detect.ts";
import { decryptPackage, parseEncryptionInfo, WrongPassword } from "./ecma376.ts";

export { WrongPassword };

const STREAMS: Record<string, string[]> = {
  doc: ["WORDDOCUMENT"],
  xls: ["WORKBOOK", "BOOK"],
  ppt: ["POWERPOINT DOCUMENT"],
};
const MODULES = { doc: doc97, xls: xls97, ppt: ppt97 };

const streamBytes = (c: Container, name: string) => {
  const content = c.root.get(name)?.content;
  return content ? new Uint8Array(content as ArrayLike<number>) : undefined;
};

/** The decrypted document, or throws ({@link WrongPassword} when the password is wrong). */
export async function decryptWith(
  content: Uint8Array,
  c: Container,
  report: EncryptionReport,
  password: string,
): Promise<Uint8Array> {
  if (report.container === "ooxml") {
    const info = parseEncryptionInfo(streamBytes(c, "ENCRYPTIONINFO")!);
    return await decryptPackage(info, streamBytes(c, "ENCRYPTEDPACKAGE")!, password);
  }
  const kind = report.container as keyof typeof MODULES;
  const entry = STREAMS[kind]?.map((n) => c.root.get(n)).find((e) => e);
  if (!entry) throw new Error(`no ${kind} stream to decrypt`);
  const blob = Buffer.from(entry.content as Uint8Array);
  // The format modules read with cfb's read_shift cursor, which prep_blob adds.
  CFB.utils.prep_blob(blob, 0);
  const input = Buffer.from(content.buffer, content.byteOffset, content.byteLength);
  try {
    return new Uint8Array(MODULES[kind].decrypt(c.cfb, blob, password, input));
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    if (/password is incorrect/i.test(msg)) throw new WrongPassword(msg);
    throw e;
  }
}
