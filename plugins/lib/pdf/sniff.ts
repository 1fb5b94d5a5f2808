/**
 * What a decoded stream holds, from its first bytes: a file format worth scanning on its own
 * (another PDF, an executable, an archive or Office file, an image, Flash) or script text.
 * Page content, fonts and pixel data give null.
 */

/** A recognised content kind, and the file extension its child gets. */
export interface Kind {
  kind: string;
  ext: string;
  executable?: boolean;
}

const u32be = (b: Uint8Array, o: number) =>
  ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;

function at(b: Uint8Array, o: number, sig: number[]): boolean {
  if (o + sig.length > b.length) return false;
  for (let i = 0; i < sig.length; i++) if (b[o + i] !== sig[i]) return false;
  return true;
}

function ascii(b: Uint8Array, o: number, s: string): boolean {
  if (o + s.length > b.length) return false;
  for (let i = 0; i < s.length; i++) if (b[o + i] !== s.charCodeAt(i)) return false;
  return true;
}

// JavaScript, VBScript, PowerShell and HTML tell-tales; PDF content operators match none.
const SCRIPT =
  /\b(?:eval\s*\(|unescape\s*\(|String\.fromCharCode|ActiveXObject|WScript\.|CreateObject\s*\(|powershell|cmd(?:\.exe)?\s+\/c|document\.write|app\.(?:alert|launchURL|openDoc)|this\.exportDataObject|util\.printf|Collab\.\w+|getAnnots|function\s*[\w$]*\s*\([^)]{0,200}\)\s*\{)|<script\b|^#!\//im;

/** The kind of `data` (a prefix is enough), or null. */
export function sniff(data: Uint8Array): Kind | null {
  const n = data.length;
  if (n < 4) return null;
  const head = data.subarray(0, 1024);
  if (findAscii(head, "%PDF-") >= 0) return { kind: "pdf", ext: "pdf" };
  if (data[0] === 0x4d && data[1] === 0x5a) {
    // MZ: an executable when e_lfanew points at "PE\0\0", or lies beyond what we were given.
    const lfanew = n >= 0x40 ? (data[0x3c] | (data[0x3d] << 8) | (data[0x3e] << 16)) : -1;
    if (lfanew >= 0x40 && (lfanew + 4 > n || at(data, lfanew, [0x50, 0x45, 0, 0]))) {
      return { kind: "pe", ext: "exe", executable: true };
    }
    if (lfanew < 0) return { kind: "pe", ext: "exe", executable: true };
  }
  if (at(data, 0, [0x7f, 0x45, 0x4c, 0x46])) return { kind: "elf", ext: "elf", executable: true };
  const magic = u32be(data, 0);
  if ([0xfeedface, 0xfeedfacf, 0xcefaedfe, 0xcffaedfe].includes(magic)) {
    return { kind: "macho", ext: "macho", executable: true };
  }
  if (magic === 0xcafebabe) {
    // Fat Mach-O counts its architectures (small); a Java class has its version (>= 45) there.
    return n >= 8 && u32be(data, 4) < 45
      ? { kind: "macho", ext: "macho", executable: true }
      : { kind: "java_class", ext: "class", executable: true };
  }
  if (at(data, 0, [0x50, 0x4b, 0x03, 0x04])) return { kind: "zip", ext: "zip" };
  if (at(data, 0, [0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1])) {
    return { kind: "ole", ext: "ole" };
  }
  if (ascii(data, 0, "{\\rt")) return { kind: "rtf", ext: "rtf" };
  if (ascii(data, 0, "Rar!")) return { kind: "rar", ext: "rar" };
  if (at(data, 0, [0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c])) return { kind: "7z", ext: "7z" };
  if (at(data, 0, [0x1f, 0x8b])) return { kind: "gzip", ext: "gz" };
  if (ascii(data, 0, "MSCF")) return { kind: "cab", ext: "cab" };
  if (ascii(data, 0, "FWS") || ascii(data, 0, "CWS") || ascii(data, 0, "ZWS")) {
    return { kind: "swf", ext: "swf" };
  }
  if (at(data, 0, [0xff, 0xd8, 0xff])) return { kind: "jpeg", ext: "jpg" };
  if (at(data, 0, [0x89, 0x50, 0x4e, 0x47])) return { kind: "png", ext: "png" };
  if (ascii(data, 0, "GIF8")) return { kind: "gif", ext: "gif" };
  if (
    at(data, 0, [0, 0, 0, 0x0c, 0x6a, 0x50, 0x20, 0x20]) || at(data, 0, [0xff, 0x4f, 0xff, 0x51])
  ) {
    return { kind: "jpeg2000", ext: "jp2" };
  }
  if (ascii(data, 0, "II*\0") || ascii(data, 0, "MM\0*")) return { kind: "tiff", ext: "tif" };
  return looksLikeScript(data.subarray(0, 4096)) ? { kind: "script", ext: "txt" } : null;
}

function looksLikeScript(b: Uint8Array): boolean {
  let printable = 0;
  for (let i = 0; i < b.length; i++) {
    const c = b[i];
    if ((c >= 0x20 && c < 0x7f) || c === 0x09 || c === 0x0a || c === 0x0d || c >= 0x80) printable++;
  }
  if (printable < b.length * 0.95) return false;
  let s = "";
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
  return SCRIPT.test(s);
}

function findAscii(b: Uint8Array, s: string): number {
  const first = s.charCodeAt(0);
  for (let i = b.indexOf(first); i >= 0 && i + s.length <= b.length; i = b.indexOf(first, i + 1)) {
    if (ascii(b, i, s)) return i;
  }
  return -1;
}
