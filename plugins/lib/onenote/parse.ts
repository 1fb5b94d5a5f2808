/**
 * OneNote section (.one) reader, per [MS-ONESTORE] (OneNote File Format, revision store):
 * - the 1024-byte Header (2.3.1): file type, file and format GUIDs, versions, chunk references;
 * - FileDataStoreObject structures (2.6.13), found by their header GUID
 *   {BDE316E7-2665-4511-A4C4-8D4D0B7A9EAC} and checked by their footer GUID
 *   {71FBA722-0F79-4A0B-BB13-899256426B24}: the embedded files;
 * - the file node lists reachable from the root list (2.4), to name them:
 *   FileDataStoreObjectReferenceFND (0x094) ties a FileDataStoreObject to a GUID,
 *   ObjectDeclarationFileData3(Large)RefCountFND (0x072/0x073) ties that GUID to an object id and
 *   a file extension, and the property set of an embedded file node (jcid 0x00060035, declared by
 *   ObjectDeclaration2(Large)RefCountFND 0x0A4/0x0A5 or their read-only twins 0x0C4/0x0C5) holds
 *   EmbeddedFileContainer (that object id) and EmbeddedFileName (2.1.12 / [MS-ONE] 2.2.x).
 *
 * Hand-written: no npm package reads OneNote files (plugin-catalog.md §5). Every offset is
 * bounds-checked, lists and nodes are capped and each list is visited once; what cannot be read
 * is reported as an error with its offset, and the rest is still returned.
 */
import { guid } from "../office/cfb.ts";
import { FormatError, LeReader } from "../msbin/reader.ts";

export const ONE_FILE_TYPE = "7B5C52E4-D88C-4DA7-AEB1-5378D02996D3";
export const ONETOC2_FILE_TYPE = "43FF2FA1-EFD9-4C76-9EE2-10EA5722765F";
export const FILE_FORMAT = "109ADD3F-911B-49F5-A5D0-1791EDC8AED8";
export const FILE_DATA_HEADER = "BDE316E7-2665-4511-A4C4-8D4D0B7A9EAC";
export const FILE_DATA_FOOTER = "71FBA722-0F79-4A0B-BB13-899256426B24";

const MAX_FILES = 1000;
const MAX_LISTS = 4096;
const MAX_NODES = 200_000;
const FRAGMENT_MAGIC_HEADER = 0xa4567ab1f5f7f4c4n;
const FRAGMENT_MAGIC_FOOTER = 0x8bc215c38233ba4bn;
const JCID_EMBEDDED_FILE_NODE = 0x00060035;
const PROP_EMBEDDED_FILE_CONTAINER = 0x20001d9b;
const PROP_EMBEDDED_FILE_NAME = 0x1c001d9c;

/** The section's header fields. */
export interface OneHeader {
  file_type: "one" | "onetoc2";
  guid_file_type: string;
  guid_file: string;
  guid_legacy_file_version: string;
  guid_file_format: string;
  guid_file_version: string;
  guid_ancestor: string;
  ffv_last_code_that_wrote: number;
  ffv_oldest_code_that_has_written: number;
  ffv_newest_code_that_has_written: number;
  ffv_oldest_code_that_may_read: number;
  transactions_in_log: number;
  file_version_generation: number;
  expected_file_length: number;
  has_no_embedded_file_objects: boolean;
  needs_defrag: boolean;
  repaired_file: boolean;
  build_created: string;
  build_last_wrote: string;
  file_node_list_root: { offset: number; size: number };
  transaction_log: { offset: number; size: number };
}

/** One FileDataStoreObject: where its data is, and what the node lists say about it. */
export interface EmbeddedFile {
  index: number;
  offset: number;
  data_offset: number;
  size: number;
  guid: string | null;
  extension: string | null;
  name: string | null;
  footer_valid: boolean;
}

/** What {@link parseOneNote} returns. */
export interface OneNoteParse {
  header: OneHeader;
  files: EmbeddedFile[];
  file_node_lists: number;
  file_nodes: number;
  truncated: boolean;
  errors: string[];
}

/** The input is not a OneNote file. */
export class NotOneNoteError extends Error {}

const FILE_DATA_HEADER_BYTES = Uint8Array.from([
  0xe7,
  0x16,
  0xe3,
  0xbd,
  0x65,
  0x26,
  0x11,
  0x45,
  0xa4,
  0xc4,
  0x8d,
  0x4d,
  0x0b,
  0x7a,
  0x9e,
  0xac,
]);

/** Parses a .one (or .onetoc2) file. Throws {@link NotOneNoteError} when the header is not one. */
export function parseOneNote(data: Uint8Array): OneNoteParse {
  const r = new LeReader(data);
  if (data.length < 1024) {
    throw new NotOneNoteError(`not a OneNote file: ${data.length} bytes, the header alone is 1024`);
  }
  const type = r.guid(0);
  if (type !== ONE_FILE_TYPE && type !== ONETOC2_FILE_TYPE) {
    throw new NotOneNoteError(`not a OneNote file: file type GUID {${type}} at offset 0`);
  }
  const ref64x32 = (o: number) => ({ offset: r.u64n(o), size: r.u32(o + 8) });
  const header: OneHeader = {
    file_type: type === ONE_FILE_TYPE ? "one" : "onetoc2",
    guid_file_type: type,
    guid_file: r.guid(16),
    guid_legacy_file_version: r.guid(32),
    guid_file_format: r.guid(48),
    ffv_last_code_that_wrote: r.u32(64),
    ffv_oldest_code_that_has_written: r.u32(68),
    ffv_newest_code_that_has_written: r.u32(72),
    ffv_oldest_code_that_may_read: r.u32(76),
    transactions_in_log: r.u32(96),
    needs_defrag: r.u8(124) !== 0,
    repaired_file: r.u8(125) !== 0,
    has_no_embedded_file_objects: r.u8(127) !== 0,
    guid_ancestor: r.guid(128),
    transaction_log: ref64x32(160),
    file_node_list_root: ref64x32(172),
    expected_file_length: r.u64n(196),
    guid_file_version: r.guid(212),
    file_version_generation: r.u64n(228),
    build_created: build(r.u32(280)),
    build_last_wrote: build(r.u32(284)),
  };
  const out: OneNoteParse = {
    header,
    files: [],
    file_node_lists: 0,
    file_nodes: 0,
    truncated: false,
    errors: [],
  };
  if (header.guid_file_format !== FILE_FORMAT) {
    out.errors.push(`unexpected guidFileFormat {${header.guid_file_format}} at offset 48`);
  }
  findFileData(r, out);
  const names = new NodeWalker(r, out);
  names.walk(header.file_node_list_root.offset, header.file_node_list_root.size);
  names.nameFiles();
  return out;
}

/** A structure whose fields contradict the format. */
class OneFormatError extends Error {}

/** A build number as major.minor.build (bnCreated and friends), or "" when zero. */
function build(n: number): string {
  return n === 0 ? "" : `${n >>> 24}.${(n >>> 16) & 0xff}.${n & 0xffff}`;
}

/** Every FileDataStoreObject in the file, found by its header GUID. */
function findFileData(r: LeReader, out: OneNoteParse): void {
  const d = r.data;
  const first = FILE_DATA_HEADER_BYTES[0];
  for (let o = d.indexOf(first, 1024); o >= 0 && o + 36 <= d.length; o = d.indexOf(first, o + 1)) {
    let match = true;
    for (let i = 1; i < 16; i++) {
      if (d[o + i] !== FILE_DATA_HEADER_BYTES[i]) {
        match = false;
        break;
      }
    }
    if (!match) continue;
    if (out.files.length >= MAX_FILES) {
      out.truncated = true;
      out.errors.push(`more than ${MAX_FILES} FileDataStoreObjects; the rest were not read`);
      return;
    }
    const size = r.u64n(o + 16);
    const dataOffset = o + 36;
    if (size > d.length - dataOffset) {
      out.errors.push(
        `FileDataStoreObject at offset ${o}: cbLength ${size} runs past the end of the file`,
      );
      continue;
    }
    const footer = dataOffset + Math.ceil(size / 8) * 8;
    const footerValid = footer + 16 <= d.length && guid(d, footer) === FILE_DATA_FOOTER;
    if (!footerValid) {
      out.errors.push(`FileDataStoreObject at offset ${o}: no guidFooter at offset ${footer}`);
    }
    out.files.push({
      index: out.files.length,
      offset: o,
      data_offset: dataOffset,
      size,
      guid: null,
      extension: null,
      name: null,
      footer_valid: footerValid,
    });
    o = footerValid ? footer + 15 : o;
  }
}

/** Walks the file node lists from the root, collecting what names the embedded files. */
class NodeWalker {
  private readonly seen = new Set<number>();
  /** FileDataStoreObject offset → GUID (0x094). */
  private readonly storeGuids = new Map<number, string>();
  /** GUID → {oid, extension} (0x072/0x073). */
  private readonly declared = new Map<string, { oid: number; extension: string }>();
  /** Container oid → file name (embedded file nodes' property sets). */
  private readonly fileNames = new Map<number, string>();

  constructor(private readonly r: LeReader, private readonly out: OneNoteParse) {}

  walk(offset: number, size: number): void {
    const pending: [number, number][] = [[offset, size]];
    while (pending.length) {
      const [o, cb] = pending.pop()!;
      if (this.seen.has(o) || o === 0 || cb === 0) continue;
      if (this.seen.size >= MAX_LISTS) {
        this.out.truncated = true;
        this.out.errors.push(
          `more than ${MAX_LISTS} file node list fragments; the rest were not read`,
        );
        return;
      }
      this.seen.add(o);
      this.out.file_node_lists++;
      try {
        this.fragment(o, cb, pending);
      } catch (e) {
        // One broken list does not hide the others.
        if (!(e instanceof FormatError) && !(e instanceof OneFormatError)) throw e;
        this.out.errors.push(`file node list at offset ${o}: ${e.message}`);
      }
    }
  }

  /** One FileNodeListFragment (2.4.1): header, nodes up to the terminator, footer. */
  private fragment(o: number, cb: number, pending: [number, number][]): void {
    const r = this.r;
    r.need(o, cb, "FileNodeListFragment");
    if (cb < 36) throw new OneFormatError(`FileNodeListFragment at offset ${o} is ${cb} bytes`);
    const magic = r.view.getBigUint64(o, true);
    if (magic !== FRAGMENT_MAGIC_HEADER) {
      throw new OneFormatError(`FileNodeListFragment at offset ${o} has no header magic`);
    }
    const end = o + cb - 20; // nextFragment (12) and footer magic (8)
    let p = o + 16;
    while (p + 4 <= end) {
      const h = r.u32(p, "FileNode header");
      const id = h & 0x3ff;
      const size = (h >>> 10) & 0x1fff;
      if (id === 0x0ff || h === 0) break; // ChunkTerminatorFND, or padding
      if (size < 4 || p + size > end) {
        throw new OneFormatError(`FileNode 0x${id.toString(16)} at offset ${p} has size ${size}`);
      }
      if (++this.out.file_nodes > MAX_NODES) {
        this.out.truncated = true;
        throw new OneFormatError(`more than ${MAX_NODES} file nodes`);
      }
      this.node(p, h, id, size, pending);
      p += size;
    }
    const next = { offset: r.u64n(end), size: r.u32(end + 8) };
    if (r.view.getBigUint64(end + 12, true) !== FRAGMENT_MAGIC_FOOTER) {
      throw new OneFormatError(`FileNodeListFragment at offset ${o} has no footer magic`);
    }
    // fcrNil (all ones) and fcrZero end the list.
    if (next.offset < r.length && next.offset !== 0 && next.size > 0) {
      pending.push([next.offset, next.size]);
    }
  }

  /** A FileNodeChunkReference (2.2.4.2) at `p` in the node's formats: [offset, size, length]. */
  private chunkRef(p: number, h: number): [number, number, number] {
    const stpFormat = (h >>> 23) & 3, cbFormat = (h >>> 25) & 3;
    const r = this.r;
    const stpLen = [8, 4, 2, 4][stpFormat], cbLen = [4, 8, 1, 2][cbFormat];
    let stp = stpLen === 8 ? r.u64n(p) : stpLen === 4 ? r.u32(p) : r.u16(p);
    if (stpFormat >= 2) stp *= 8;
    let cb = cbLen === 8
      ? r.u64n(p + stpLen)
      : cbLen === 4
      ? r.u32(p + stpLen)
      : cbLen === 2
      ? r.u16(p + stpLen)
      : r.u8(p + stpLen);
    if (cbFormat >= 2) cb *= 8;
    return [stp, cb, stpLen + cbLen];
  }

  private node(p: number, h: number, id: number, size: number, pending: [number, number][]) {
    const baseType = (h >>> 27) & 0xf;
    const body = p + 4;
    if (baseType === 2) {
      const [stp, cb] = this.chunkRef(body, h);
      pending.push([stp, cb]);
      return;
    }
    if (id === 0x094 && baseType === 1) {
      const [stp, , len] = this.chunkRef(body, h);
      this.storeGuids.set(stp, this.r.guid(body + len, "FileDataStoreObjectReferenceFND guid"));
    } else if (id === 0x072 || id === 0x073) {
      const oid = this.r.u32(body, "ObjectDeclarationFileData3 oid");
      let q = body + 8 + (id === 0x072 ? 1 : 4);
      const [ref, afterRef] = this.storageString(q, p + size);
      q = afterRef;
      const [extension] = this.storageString(q, p + size);
      const guid = /\{([0-9A-Fa-f-]{36})\}/.exec(ref)?.[1]?.toUpperCase();
      if (guid) this.declared.set(guid, { oid, extension });
    } else if ((id === 0x0a4 || id === 0x0a5 || id === 0x0c4 || id === 0x0c5) && baseType === 1) {
      const [stp, cb, len] = this.chunkRef(body, h);
      const jcid = this.r.u32(body + len + 4, "ObjectDeclaration2Body jcid");
      if (jcid === JCID_EMBEDDED_FILE_NODE) this.embeddedFileNode(stp, cb);
    }
  }

  /** A StringInStorageBuffer (2.2.3): cch, then cch UTF-16 characters. */
  private storageString(p: number, end: number): [string, number] {
    const cch = this.r.u32(p, "StringInStorageBuffer cch");
    if (p + 4 + cch * 2 > end) {
      throw new OneFormatError(`StringInStorageBuffer at offset ${p} runs past its node`);
    }
    return [utf16.decode(this.r.bytes(p + 4, cch * 2)), p + 4 + cch * 2];
  }

  /** The ObjectSpaceObjectPropSet (2.6.1) of an embedded file node: its container and name. */
  private embeddedFileNode(o: number, cb: number): void {
    const r = new LeReader(this.r.bytes(o, cb, "ObjectSpaceObjectPropSet"));
    const oidHeader = r.u32(0, "ObjectSpaceObjectStreamOfOIDs header");
    const oidCount = oidHeader & 0xffffff;
    const oids: number[] = [];
    for (let i = 0; i < Math.min(oidCount, 4096); i++) oids.push(r.u32(4 + 4 * i, "CompactID"));
    let p = 4 + 4 * oidCount;
    const skipStream = () => {
      const n = r.u32(p, "stream header") & 0xffffff;
      p += 4 + 4 * n;
    };
    const extended = (oidHeader >>> 30) & 1, osidAbsent = (oidHeader >>> 31) & 1;
    if (!osidAbsent) {
      const osidHeader = r.u32(p, "OSID stream header");
      skipStream();
      if ((osidHeader >>> 30) & 1) skipStream(); // ContextIDs
    } else if (extended) {
      skipStream();
    }
    const count = r.u16(p, "PropertySet cProperties");
    const prids: number[] = [];
    for (let i = 0; i < count; i++) prids.push(r.u32(p + 2 + 4 * i, "PropertyID"));
    let q = p + 2 + 4 * count;
    let oidIndex = 0;
    let container: number | undefined;
    let name: string | undefined;
    for (const prid of prids) {
      const type = (prid >>> 26) & 0x1f;
      const start = q;
      switch (type) {
        case 0x1:
        case 0x2:
          break;
        case 0x3:
          q += 1;
          break;
        case 0x4:
          q += 2;
          break;
        case 0x5:
          q += 4;
          break;
        case 0x6:
          q += 8;
          break;
        case 0x7:
          q += 4 + r.u32(q, "property data length");
          break;
        case 0x8:
          if (prid === PROP_EMBEDDED_FILE_CONTAINER) container = oids[oidIndex];
          oidIndex++;
          break;
        case 0x9:
          oidIndex += r.u32(q, "ObjectID array count");
          q += 4;
          break;
        case 0xa:
        case 0xc:
          break;
        case 0xb:
        case 0xd:
          q += 4;
          break;
        default:
          // Nested property sets and arrays of them: nothing further is needed here.
          return this.record(container, name);
      }
      if (prid === PROP_EMBEDDED_FILE_NAME && type === 0x7) {
        name = utf16.decode(r.bytes(start + 4, r.u32(start), "EmbeddedFileName")).replace(
          /\0+$/,
          "",
        );
      }
    }
    this.record(container, name);
  }

  private record(container: number | undefined, name: string | undefined): void {
    if (container !== undefined && name) this.fileNames.set(container, name);
  }

  /** Gives each embedded file the GUID, extension and name the lists recorded for it. */
  nameFiles(): void {
    for (const f of this.out.files) {
      const guid = this.storeGuids.get(f.offset) ?? null;
      f.guid = guid;
      const decl = guid ? this.declared.get(guid) : undefined;
      if (decl) {
        f.extension = decl.extension || null;
        f.name = this.fileNames.get(decl.oid) ?? null;
      }
    }
  }
}

const utf16 = new TextDecoder("utf-16le");
