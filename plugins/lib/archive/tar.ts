/**
 * A small in-memory tar reader (ustar, GNU long names, pax `path`/`size`, base-256 sizes).
 *
 * Written instead of using nanotar's parseTar because that one reads `data.buffer` (ignoring the
 * view's offset), rewrites member names (drops `..`, which we must report as stored), checks no
 * header checksum and throws a bare RangeError on a truncated member.
 */

const BLOCK = 512;

/** What a tar member is: only `file` members carry content worth extracting. */
export type TarKind = "file" | "directory" | "other";

/** One member: its full stored name, its kind and (for files) its bytes, a view into the tar. */
export interface TarEntry {
  name: string;
  kind: TarKind;
  data: Uint8Array;
  /** For `other` members: what the type flag says it is, and a link's target. */
  type?: "symlink" | "hardlink" | "fifo" | "character device" | "block device" | "other";
  target?: string;
}

const OTHER: Record<string, TarEntry["type"]> = {
  "1": "hardlink",
  "2": "symlink",
  "3": "character device",
  "4": "block device",
  "6": "fifo",
};

/** A tar header that is not one, or a member that runs past the end of the data. */
export class TarError extends Error {}

const latin = (b: Uint8Array): string => String.fromCharCode(...b);
const utf8 = new TextDecoder();

function cString(block: Uint8Array, start: number, length: number): Uint8Array {
  const field = block.subarray(start, start + length);
  const nul = field.indexOf(0);
  return nul === -1 ? field : field.subarray(0, nul);
}

/** A numeric header field: octal text, or GNU base-256 when the high bit is set. */
function numeric(block: Uint8Array, start: number, length: number): number {
  const field = block.subarray(start, start + length);
  if (field[0] & 0x80) {
    if (field[0] === 0xff) return NaN; // negative
    let n = field[0] & 0x7f;
    for (let i = 1; i < field.length; i++) n = n * 256 + field[i];
    return n;
  }
  const text = latin(cString(block, start, length)).trim();
  return /^[0-7]*$/.test(text) ? (text === "" ? 0 : parseInt(text, 8)) : NaN;
}

function checksumOk(block: Uint8Array): boolean {
  const stored = numeric(block, 148, 8);
  if (!Number.isFinite(stored)) return false;
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : block[i];
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  return stored === unsigned || stored === signed;
}

const isZeroBlock = (block: Uint8Array): boolean => block.every((b) => b === 0);

/** Whether `data` starts with a valid tar header (ustar magic or a correct v7 checksum). */
export function looksLikeTar(data: Uint8Array): boolean {
  if (data.length < BLOCK) return false;
  const block = data.subarray(0, BLOCK);
  if (block[0] === 0 || !checksumOk(block)) return false;
  return latin(block.subarray(257, 262)) === "ustar" || Number.isFinite(numeric(block, 124, 12));
}

/** pax extended header records: `<length> <key>=<value>\n`. */
function paxRecords(data: Uint8Array): Map<string, string> {
  const out = new Map<string, string>();
  let pos = 0;
  while (pos < data.length) {
    const space = data.indexOf(0x20, pos);
    if (space === -1) break;
    const length = parseInt(latin(data.subarray(pos, space)), 10);
    if (!(length > 0) || pos + length > data.length) break;
    const record = utf8.decode(data.subarray(space + 1, pos + length - 1));
    const eq = record.indexOf("=");
    if (eq > 0) out.set(record.slice(0, eq), record.slice(eq + 1));
    pos += length;
  }
  return out;
}

const KIND: Record<string, TarKind> = { "0": "file", "\0": "file", "7": "file", "5": "directory" };

/**
 * Yields the members of the tar in `data`, stopping at the end-of-archive block or the end of
 * the data. Throws {@link TarError} at a corrupt header or a truncated member; members yielded
 * before it are good.
 */
export function* readTar(data: Uint8Array): Generator<TarEntry> {
  let offset = 0;
  let longName: string | undefined;
  let longLink: string | undefined;
  let pax = new Map<string, string>();
  while (offset + BLOCK <= data.length) {
    const block = data.subarray(offset, offset + BLOCK);
    if (isZeroBlock(block)) return;
    if (!checksumOk(block)) throw new TarError(`bad tar header checksum at offset ${offset}`);
    const type = String.fromCharCode(block[156]);
    const paxSize = pax.get("size");
    const size = paxSize !== undefined && /^\d+$/.test(paxSize)
      ? Number(paxSize)
      : numeric(block, 124, 12);
    if (!Number.isSafeInteger(size)) throw new TarError(`bad tar member size at offset ${offset}`);
    const start = offset + BLOCK;
    if (start + size > data.length) {
      throw new TarError(`tar member at offset ${offset} is truncated (${size} bytes declared)`);
    }
    const body = data.subarray(start, start + size);
    offset = start + Math.ceil(size / BLOCK) * BLOCK;
    if (type === "L") {
      longName = utf8.decode(cString(body, 0, body.length));
      continue;
    }
    if (type === "x") {
      pax = paxRecords(body);
      continue;
    }
    if (type === "K") {
      longLink = utf8.decode(cString(body, 0, body.length));
      continue;
    }
    if (type === "g") continue;
    let name = utf8.decode(cString(block, 0, 100));
    // POSIX ustar splits long names into prefix + name; GNU ("ustar  ") uses that field for
    // other things.
    if (latin(block.subarray(257, 265)) === "ustar\u000000") {
      const prefix = utf8.decode(cString(block, 345, 155));
      if (prefix) name = `${prefix}/${name}`;
    }
    name = pax.get("path") ?? longName ?? name;
    const target = pax.get("linkpath") ?? longLink ?? utf8.decode(cString(block, 157, 100));
    longName = longLink = undefined;
    pax = new Map();
    let kind: TarKind = KIND[type] ?? (type === "D" ? "directory" : "other");
    if (kind === "file" && type === "\0" && name.endsWith("/")) kind = "directory"; // v7 dirs
    if (kind !== "other") {
      yield { name, kind, data: kind === "file" ? body : body.subarray(0, 0) };
      continue;
    }
    const other = OTHER[type] ?? "other";
    yield {
      name,
      kind,
      // A FIFO or device member that carries data (tar writes none): its bytes, as tar -x reads.
      data: other === "symlink" || other === "hardlink" ? body.subarray(0, 0) : body,
      type: other,
      ...(other === "symlink" || other === "hardlink" ? { target } : {}),
    };
  }
}
