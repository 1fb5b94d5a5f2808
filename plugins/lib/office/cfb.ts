/**
 * A bounded reader of OLE2 compound files ([MS-CFB]: .doc/.xls/.ppt, vbaProject.bin, .msi, .msg).
 *
 * Hand-written on purpose. npm `cfb@1.2.2` (SheetJS) was the candidate, but it follows a stream's
 * FAT chain without a cycle check when the chain starts past the sectors it pre-walked: a 13 KB
 * crafted file made it grow one buffer until the V8 heap ran out and the process died (not an
 * exception a plugin can catch). It also gives nothing at all when one part is bad. This reader
 * checks every sector number against the file, marks each sector it visits so no chain can loop,
 * caps the directory and the tree depth, and keeps what it could read, with one error per defect.
 */

/** Thrown when the data is not a compound file at all (bad signature or header). */
export class CfbError extends Error {
  override name = "CfbError";
}

/** One directory entry, placed in the storage tree. */
export interface CfbEntry {
  /** Directory entry number (SID). */
  sid: number;
  /** Name as stored (control characters such as \u0001 and \u0005 kept). */
  name: string;
  /** Storage path from the root, components joined with "/" (root excluded). */
  path: string;
  type: "storage" | "stream" | "root";
  size: number;
  /** CLSID as text (storages), when not all zero. */
  clsid?: string;
  created?: string;
  modified?: string;
  /** Not reachable from the root's tree (a hidden or orphaned entry). */
  orphan?: boolean;
}

/** Limits for the reader. */
export interface CfbLimits {
  maxEntries: number;
  maxDepth: number;
}

const DEFAULT_LIMITS: CfbLimits = { maxEntries: 65536, maxDepth: 64 };
const SIGNATURE = [0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1];
const ENDOFCHAIN = 0xfffffffe;
const FREESECT = 0xffffffff;
const NOSTREAM = 0xffffffff;
const MINI_SECTOR = 64;

/** True when `data` starts with the compound file signature. */
export function isCfb(data: Uint8Array): boolean {
  return data.length >= 8 && SIGNATURE.every((b, i) => data[i] === b);
}

/** A parsed compound file: its entries in tree order, stream reading, and the defects found. */
export class CompoundFile {
  readonly entries: CfbEntry[] = [];
  readonly errors: string[] = [];
  readonly majorVersion: number;
  readonly sectorSize: number;
  private readonly dv: DataView;
  private readonly fat: Uint32Array;
  private miniFat = new Uint32Array(0);
  private miniStream?: Uint8Array;
  private miniStart = 0;
  private miniSize = 0;
  private readonly cutoff: number;
  private readonly starts = new Map<number, number>();

  constructor(private readonly data: Uint8Array, limits: Partial<CfbLimits> = {}) {
    const lim = { ...DEFAULT_LIMITS, ...limits };
    if (!isCfb(data)) {
      throw new CfbError("not an OLE2 compound file (no D0CF11E0A1B11AE1 signature)");
    }
    if (data.length < 512) {
      throw new CfbError(`compound file header truncated: ${data.length} of 512 bytes`);
    }
    this.dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
    const u16 = (o: number) => this.dv.getUint16(o, true);
    // Past the end reads as FREESECT: a truncated file's last sectors are simply missing.
    const u32 = (o: number) => o + 4 <= data.length ? this.dv.getUint32(o, true) : FREESECT;
    this.majorVersion = u16(0x1a);
    const shift = u16(0x1e);
    if (shift !== 9 && shift !== 12) {
      throw new CfbError(`sector shift ${shift} at offset 0x1E: [MS-CFB] allows 9 or 12`);
    }
    this.sectorSize = 1 << shift;
    if (u16(0x20) !== 6) this.errors.push(`mini sector shift ${u16(0x20)} (expected 6); read as 6`);
    this.cutoff = u32(0x38) || 4096;
    if (this.cutoff !== 4096) this.errors.push(`mini stream cutoff ${this.cutoff} (expected 4096)`);
    const sectorCount = Math.max(0, Math.ceil(data.length / this.sectorSize) - 1);

    // DIFAT: 109 FAT sector numbers in the header, then a chain of DIFAT sectors.
    const fatSectors: number[] = [];
    for (let i = 0; i < 109; i++) {
      const s = u32(0x4c + i * 4);
      if (s !== FREESECT && s !== ENDOFCHAIN) fatSectors.push(s);
    }
    const per = this.sectorSize / 4;
    const seenDifat = new Set<number>();
    for (let s = u32(0x44), n = 0; s !== ENDOFCHAIN && s !== FREESECT; n++) {
      if (s >= sectorCount || seenDifat.has(s) || n > sectorCount) {
        this.errors.push(`DIFAT chain broken at sector ${s}`);
        break;
      }
      seenDifat.add(s);
      const off = this.offset(s);
      for (let i = 0; i < per - 1; i++) {
        const f = u32(off + i * 4);
        if (f !== FREESECT && f !== ENDOFCHAIN) fatSectors.push(f);
      }
      s = u32(off + (per - 1) * 4);
    }
    // The FAT never needs more entries than the file has sectors.
    const fatLen = Math.min(fatSectors.length * per, sectorCount);
    this.fat = new Uint32Array(fatLen).fill(FREESECT);
    for (let i = 0; i < fatSectors.length && i * per < fatLen; i++) {
      const s = fatSectors[i];
      if (s >= sectorCount) {
        this.errors.push(`FAT sector ${s} is past the end of the file (${sectorCount} sectors)`);
        continue;
      }
      const off = this.offset(s);
      for (let j = 0; j < per && i * per + j < fatLen; j++) {
        this.fat[i * per + j] = u32(off + j * 4);
      }
    }

    // Directory.
    const dirSectors = this.chain(u32(0x30), "directory");
    const maxEntries = Math.min(lim.maxEntries, dirSectors.length * (this.sectorSize / 128));
    if (dirSectors.length * (this.sectorSize / 128) > lim.maxEntries) {
      this.errors.push(`directory holds more than ${lim.maxEntries} entries; the rest are ignored`);
    }
    const raw: RawEntry[] = [];
    for (let i = 0; i < maxEntries; i++) {
      const sector = dirSectors[Math.floor(i / (this.sectorSize / 128))];
      raw.push(this.readEntry(this.offset(sector) + (i % (this.sectorSize / 128)) * 128, i));
    }
    if (raw.length === 0 || raw[0].type !== 5) {
      this.errors.push("the first directory entry is not the root storage");
      if (raw.length === 0) return;
    }
    const root = raw[0];

    // Mini FAT and mini stream (held in the root's FAT chain).
    const miniFatSectors = this.chain(u32(0x3c), "mini FAT");
    this.miniFat = new Uint32Array(miniFatSectors.length * per);
    miniFatSectors.forEach((s, i) => {
      const off = this.offset(s);
      for (let j = 0; j < per; j++) this.miniFat[i * per + j] = u32(off + j * 4);
    });
    this.miniStart = root.start;
    this.miniSize = root.size;

    // Walk the tree: each storage's children form a red-black tree of siblings.
    const placed = new Uint8Array(raw.length);
    placed[0] = 1;
    this.entries.push(this.entry(root, "", "root"));
    const stack: { sid: number; parent: string; depth: number }[] = [];
    const pushTree = (sid: number, parent: string, depth: number) => {
      if (sid !== NOSTREAM) stack.push({ sid, parent, depth });
    };
    pushTree(root.child, "", 1);
    const ordered: { e: RawEntry; path: string; depth: number }[] = [];
    while (stack.length > 0) {
      const { sid, parent, depth } = stack.pop()!;
      if (sid >= raw.length) {
        this.errors.push(`directory entry ${sid} is referenced but does not exist`);
        continue;
      }
      if (placed[sid]) {
        this.errors.push(`directory entry ${sid} is referenced twice (cycle in the tree)`);
        continue;
      }
      placed[sid] = 1;
      const e = raw[sid];
      if (e.type === 0) continue;
      const path = parent ? `${parent}/${e.name}` : e.name;
      ordered.push({ e, path, depth });
      pushTree(e.right, parent, depth);
      pushTree(e.left, parent, depth);
      if (e.type === 1 || e.type === 5) {
        if (depth >= lim.maxDepth) {
          this.errors.push(`storage ${path} is nested deeper than ${lim.maxDepth}`);
        } else pushTree(e.child, path, depth + 1);
      }
    }
    // Storage order: parents before children, siblings by name as 7z and olefile list them.
    const keys = new Map(ordered.map((o) => [o, o.path.toUpperCase().split("/")]));
    ordered.sort((a, b) => cmpParts(keys.get(a)!, keys.get(b)!));
    for (const o of ordered) {
      this.entries.push(this.entry(o.e, o.path, o.e.type === 1 ? "storage" : "stream"));
    }
    for (let i = 1; i < raw.length; i++) {
      const e = raw[i];
      if (!placed[i] && e.type === 2 && e.size > 0) {
        this.entries.push({ ...this.entry(e, e.name, "stream"), orphan: true });
      }
    }
  }

  /** The stream entry at `path` (case-insensitive, as Office treats names), if any. */
  find(path: string): CfbEntry | undefined {
    const want = path.toLowerCase();
    return this.entries.find((e) => e.type === "stream" && e.path.toLowerCase() === want);
  }

  /** Reads a stream's bytes, at most `max` of them; a broken chain gives what was readable. */
  read(entry: CfbEntry, max = Infinity): Uint8Array {
    const start = this.starts.get(entry.sid);
    if (start === undefined || entry.type !== "stream") return new Uint8Array(0);
    const size = Math.min(entry.size, max);
    if (entry.size < this.cutoff) return this.readMini(start, size, entry.path);
    return this.readChain(start, size, entry.path);
  }

  private offset(sector: number): number {
    return (sector + 1) * this.sectorSize;
  }

  /** Sector numbers of a FAT chain; stops at the end, a bad number or a repeat (each named). */
  private chain(start: number, what: string, maxSectors = Infinity): number[] {
    const out: number[] = [];
    const seen = new Set<number>();
    for (let s = start; s !== ENDOFCHAIN && out.length < maxSectors;) {
      if (s === FREESECT && out.length === 0) break;
      if (s >= this.fat.length || this.offset(s) >= this.data.length) {
        this.errors.push(
          `${what}: sector ${s} is outside the file (chain cut after ${out.length} sectors)`,
        );
        break;
      }
      if (seen.has(s)) {
        this.errors.push(`${what}: FAT chain loops back to sector ${s}`);
        break;
      }
      seen.add(s);
      out.push(s);
      s = this.fat[s];
    }
    return out;
  }

  private readChain(start: number, size: number, what: string): Uint8Array {
    const sectors = this.chain(start, what, Math.ceil(size / this.sectorSize));
    const out = new Uint8Array(Math.min(size, sectors.length * this.sectorSize));
    let pos = 0;
    for (const s of sectors) {
      const off = this.offset(s);
      const n = Math.min(this.sectorSize, out.length - pos, this.data.length - off);
      out.set(this.data.subarray(off, off + n), pos);
      pos += n;
    }
    if (pos < size) this.errors.push(`${what}: ${pos} of ${size} bytes readable`);
    return pos < out.length ? out.subarray(0, pos) : out;
  }

  private readMini(start: number, size: number, what: string): Uint8Array {
    // The mini stream is read on first use: many scans never open a small stream.
    this.miniStream ??= this.miniSize > 0
      ? this.readChain(this.miniStart, this.miniSize, "mini stream")
      : new Uint8Array(0);
    const mini = this.miniStream;
    const out = new Uint8Array(size);
    const seen = new Set<number>();
    let pos = 0;
    for (let s = start; pos < size && s !== ENDOFCHAIN;) {
      const off = s * MINI_SECTOR;
      if (s >= this.miniFat.length || off >= mini.length || seen.has(s)) {
        this.errors.push(`${what}: mini stream chain broken at mini sector ${s}`);
        break;
      }
      seen.add(s);
      const n = Math.min(MINI_SECTOR, size - pos, mini.length - off);
      out.set(mini.subarray(off, off + n), pos);
      pos += n;
      s = this.miniFat[s];
    }
    if (pos < size) this.errors.push(`${what}: ${pos} of ${size} bytes readable`);
    return out.subarray(0, pos);
  }

  private readEntry(off: number, sid: number): RawEntry {
    const dv = this.dv;
    if (off + 128 > this.data.length) {
      this.errors.push(`directory entry ${sid} is cut off by the end of the file`);
      return {
        sid,
        name: "",
        type: 0,
        left: NOSTREAM,
        right: NOSTREAM,
        child: NOSTREAM,
        clsid: "",
        start: 0,
        size: 0,
      };
    }
    const nameLen = Math.min(dv.getUint16(off + 64, true), 64);
    let name = "";
    for (let i = 0; i + 1 < nameLen - 2; i += 2) {
      name += String.fromCharCode(dv.getUint16(off + i, true));
    }
    // Version 3 files may leave garbage in the size's high word ([MS-CFB] 2.6.3).
    const high = this.majorVersion >= 4 ? dv.getUint32(off + 124, true) : 0;
    return {
      sid,
      name,
      type: dv.getUint8(off + 66),
      left: dv.getUint32(off + 68, true),
      right: dv.getUint32(off + 72, true),
      child: dv.getUint32(off + 76, true),
      clsid: guid(this.data, off + 80),
      created: filetime(dv, off + 100),
      modified: filetime(dv, off + 108),
      start: dv.getUint32(off + 116, true),
      size: high * 2 ** 32 + dv.getUint32(off + 120, true),
    };
  }

  private entry(e: RawEntry, path: string, type: CfbEntry["type"]): CfbEntry {
    this.starts.set(e.sid, e.start);
    const out: CfbEntry = {
      sid: e.sid,
      name: e.name,
      path,
      type,
      size: type === "storage" ? 0 : e.size,
    };
    if (type === "root") out.size = e.size;
    if (e.clsid !== ZERO_GUID) out.clsid = e.clsid;
    if (e.created) out.created = e.created;
    if (e.modified) out.modified = e.modified;
    return out;
  }
}

interface RawEntry {
  sid: number;
  name: string;
  type: number;
  left: number;
  right: number;
  child: number;
  clsid: string;
  created?: string;
  modified?: string;
  start: number;
  size: number;
}

function cmpParts(pa: string[], pb: string[]): number {
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    if (pa[i] !== pb[i]) return pa[i] < pb[i] ? -1 : 1;
  }
  return pa.length - pb.length;
}

const HEX2 = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0").toUpperCase());
const ZERO_GUID = "00000000-0000-0000-0000-000000000000";

/** A GUID in its registry text form (first three fields little-endian). */
export function guid(data: Uint8Array, off: number): string {
  if (off + 16 > data.length) return "";
  let zero = true;
  for (let i = 0; i < 16 && zero; i++) zero = data[off + i] === 0;
  if (zero) return ZERO_GUID;
  const h = (...idx: number[]) => idx.map((i) => HEX2[data[off + i]]).join("");
  return `${h(3, 2, 1, 0)}-${h(5, 4)}-${h(7, 6)}-${h(8, 9)}-${h(10, 11, 12, 13, 14, 15)}`;
}

/** A FILETIME (100 ns since 1601) as ISO 8601, or undefined when zero or out of range. */
export function filetime(dv: DataView, off: number): string | undefined {
  if (off + 8 > dv.byteLength) return undefined;
  const low = dv.getUint32(off, true), high = dv.getUint32(off + 4, true);
  if (low === 0 && high === 0) return undefined;
  const ms = (high * 2 ** 32 + low) / 10_000 - 11_644_473_600_000;
  const d = new Date(ms);
  if (!Number.isFinite(ms) || isNaN(d.getTime()) || d.getUTCFullYear() > 9999) return undefined;
  return d.toISOString();
}
