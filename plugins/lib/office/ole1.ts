/**
 * Embedded-object wrappers ([MS-OLEDS]): the `\u0001Ole10Native` stream of an OLE2 storage, the
 * OLE1 ObjectHeader that RTF's `\objdata` carries (2.2.4), and the Packager format of a "Package"
 * object, which holds a file's original name, path and bytes. Every length is checked against
 * the data; a wrapper that does not parse gives undefined and the caller keeps the raw bytes.
 */
import type { Finding } from "../../../core/engine/plugin.ts";

/** Extensions a packaged file runs with a double click. */
const RUNNABLE =
  /\.(exe|dll|scr|com|pif|cpl|msi|bat|cmd|vbs|vbe|js|jse|wsf|wsh|hta|ps1|lnk|jar|reg|inf|chm|sct)$/i;

/** A file found in a Package object. */
export interface PackagedFile {
  /** Label shown in the document (usually the file name). */
  label: string;
  /** The path the file was packaged from. */
  source_path: string;
  /** The temporary path Packager used. */
  temp_path: string;
  /** Name to give the child: the label, else the last component of a path. */
  filename: string;
  data: Uint8Array;
}

/** An OLE1 object as RTF's \objdata stores it. */
export interface Ole1Object {
  ole_version: number;
  /** 1: linked, 2: embedded. */
  format_id: number;
  class_name: string;
  topic_name: string;
  item_name: string;
  /** The native data of an embedded object (an OLE2 file, a Package, raw data...). */
  native?: Uint8Array;
  /** Bytes after the native data (usually the presentation object). */
  trailing: number;
}

const latin1 = new TextDecoder("latin1");

/** A bounds-checked little-endian reader. */
class Reader {
  private readonly dv: DataView;
  constructor(readonly data: Uint8Array, public pos = 0) {
    this.dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  }
  u16(): number {
    this.need(2);
    const v = this.dv.getUint16(this.pos, true);
    this.pos += 2;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = this.dv.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }
  bytes(n: number): Uint8Array {
    this.need(n);
    const v = this.data.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }
  /** An ANSI string up to its NUL (at most `max` bytes). */
  cstr(max = 1024): string {
    const end = this.data.indexOf(0, this.pos);
    if (end < 0 || end - this.pos > max) {
      throw new Error(`unterminated string at offset ${this.pos}`);
    }
    const s = latin1.decode(this.data.subarray(this.pos, end));
    this.pos = end + 1;
    return s;
  }
  /** A LengthPrefixedAnsiString: u32 length (NUL included), then the bytes. */
  lpstr(max = 1024): string {
    const n = this.u32();
    if (n > max) throw new Error(`string length ${n} at offset ${this.pos - 4} exceeds ${max}`);
    return latin1.decode(this.bytes(n)).replace(/\0.*$/s, "");
  }
  get left(): number {
    return this.data.length - this.pos;
  }
  private need(n: number) {
    if (n < 0 || this.pos + n > this.data.length) {
      throw new Error(
        `needs ${n} bytes at offset ${this.pos}, ${this.data.length - this.pos} left`,
      );
    }
  }
}

/** The payload of a `\u0001Ole10Native` stream: a size, then that many bytes of native data. */
export function ole10Native(stream: Uint8Array): Uint8Array | undefined {
  if (stream.length < 4) return undefined;
  const size = new DataView(stream.buffer, stream.byteOffset, 4).getUint32(0, true);
  if (size > stream.length - 4) return undefined;
  return stream.subarray(4, 4 + size);
}

/** Parses Packager native data; undefined when it is not that format. */
export function parsePackage(native: Uint8Array): PackagedFile | undefined {
  try {
    const r = new Reader(native);
    r.u16(); // signature, 2
    const label = r.cstr();
    const source = r.cstr();
    r.u16(); // reserved
    const kind = r.u16(); // 3: embedded file, 1: link
    if (kind !== 3) return undefined;
    const temp = r.lpstr(4096);
    const size = r.u32();
    const data = r.bytes(size);
    const base = (p: string) => p.split(/[\\/]/).filter(Boolean).pop() ?? "";
    return {
      label,
      source_path: source,
      temp_path: temp,
      filename: label || base(source) || base(temp),
      data,
    };
  } catch {
    return undefined;
  }
}

/** Parses an OLE1 ObjectHeader and, for embedded objects, its native data. */
export function parseOle1(data: Uint8Array): Ole1Object | string {
  try {
    const r = new Reader(data);
    const ole_version = r.u32();
    const format_id = r.u32();
    if (format_id !== 1 && format_id !== 2) {
      return `OLE1 FormatID ${format_id} (expected 1 linked or 2 embedded) at offset 4`;
    }
    const class_name = r.lpstr();
    const topic_name = r.lpstr(65536);
    const item_name = r.lpstr(65536);
    const obj: Ole1Object = {
      ole_version,
      format_id,
      class_name,
      topic_name,
      item_name,
      trailing: 0,
    };
    if (format_id === 2) {
      const size = r.u32();
      const at = r.pos;
      if (size > r.left) {
        obj.native = data.subarray(at);
        obj.trailing = 0;
        return obj;
      }
      obj.native = r.bytes(size);
    }
    obj.trailing = r.left;
    return obj;
  } catch (e) {
    return `OLE1 object header: ${(e as Error).message}`;
  }
}

/** The finding for a file packaged in a document: high when it runs on a double click. */
export function packageFinding(filename: string, source: string, data: Uint8Array): Finding {
  const mz = data.length > 1 && data[0] === 0x4d && data[1] === 0x5a;
  const runnable = RUNNABLE.test(filename) || mz;
  return {
    id: runnable ? "embedded_executable" : "embedded_file",
    severity: runnable ? "high" : "medium",
    title: runnable ? "OLE Package holds an executable file" : "OLE Package holds a file",
    detail: `${filename} (${data.length} bytes${mz ? ", MZ header" : ""}) packaged from ${
      source || "an unknown path"
    }; a double click in the document runs or opens it`,
    mitre: ["T1204.002"],
  };
}
