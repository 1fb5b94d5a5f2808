/**
 * Windows shell link (.lnk) parser, per [MS-SHLLINK] (Shell Link Binary File Format, v8.0):
 * ShellLinkHeader (2.1), LinkTargetIDList (2.2), LinkInfo (2.3), StringData (2.4) and the
 * ExtraData blocks (2.5), with the TrackerDataBlock's droids decoded as RFC 4122 version-1 UUIDs
 * (their node field is the MAC address of the machine that made the link).
 *
 * Hand-written: the npm `lnk` packages only create links, and no maintained JavaScript parser
 * exists (plugin-catalog.md §5). Every read is bounds-checked; lists are capped; a malformed link
 * yields what was parsed before the fault plus an error naming the structure and its offset.
 */
import { filetime } from "../office/cfb.ts";
import { FormatError, LeReader } from "../msbin/reader.ts";
import {
  DRIVE_TYPES,
  FILE_ATTRIBUTES,
  HOTKEY_MODIFIERS,
  KNOWN_FOLDERS,
  LINK_FLAGS,
  SHELL_FOLDERS,
  SHOW_COMMANDS,
} from "./tables.ts";

/** The ShellLink CLSID, 00021401-0000-0000-C000-000000000046. */
export const LNK_CLSID = "00021401-0000-0000-C000-000000000046";
const HEADER_SIZE = 0x4c;
const MAX_ID_ITEMS = 64;
const MAX_EXTRA_BLOCKS = 64;

/** A shell item of the target ID list, as far as it is understood. */
export interface ShellItem {
  type: string;
  class_type: number;
  size: number;
  clsid?: string;
  folder?: string;
  volume?: string;
  name?: string;
  short_name?: string;
  file_size?: number;
}

/** A decoded TrackerDataBlock droid (a pair of GUIDs: volume and object). */
export interface Droid {
  volume_id: string;
  object_id: string;
  mac_address: string | null;
  timestamp: string | null;
}

/** Everything read from a link; sections absent from the file are null. */
export interface LnkInfo {
  link_flags: string[];
  file_attributes: string[];
  creation_time: string | null;
  access_time: string | null;
  write_time: string | null;
  file_size: number;
  icon_index: number;
  show_command: string;
  hotkey: string | null;
  target_id_list: { items: ShellItem[]; path: string | null; truncated: boolean } | null;
  link_info: {
    flags: string[];
    drive_type: string | null;
    drive_serial_number: string | null;
    volume_label: string | null;
    local_base_path: string | null;
    net_name: string | null;
    device_name: string | null;
    network_provider_type: number | null;
    common_path_suffix: string | null;
  } | null;
  name: string | null;
  relative_path: string | null;
  working_directory: string | null;
  arguments: string | null;
  icon_location: string | null;
  environment_target: string | null;
  icon_environment_target: string | null;
  darwin_id: string | null;
  shim_layer: string | null;
  code_page: number | null;
  special_folder: { id: number; offset: number } | null;
  known_folder: { id: string; name: string | null; offset: number } | null;
  tracker: {
    machine_id: string;
    droid: Droid;
    birth_droid: Droid;
  } | null;
  property_store_size: number | null;
  extra_blocks: string[];
  /** The best statement of what the link runs: LinkInfo's path, else the environment target, else the ID list's path. */
  target_path: string | null;
  /** Bytes after the terminal block (data appended to the link). */
  trailing_offset: number | null;
  trailing_size: number;
}

/** What {@link parseLnk} returns: the fields read, and the fault that stopped it, if any. */
export interface LnkParse {
  info: LnkInfo;
  error: string | null;
}

/** The input is not a shell link at all. */
export class NotLnkError extends Error {}

const utf16 = new TextDecoder("utf-16le");
// Windows-1252 is the usual ANSI code page; TextDecoder's "latin1" label is Windows-1252.
const ansi = new TextDecoder("latin1");

/** Parses a shell link. Throws {@link NotLnkError} when the header is not a link's. */
export function parseLnk(data: Uint8Array): LnkParse {
  const r = new LeReader(data);
  if (data.length < HEADER_SIZE || r.u32(0) !== HEADER_SIZE || r.guid(4) !== LNK_CLSID) {
    throw new NotLnkError("not a shell link: no 0x4C header with the ShellLink CLSID at offset 0");
  }
  const flags = r.u32(0x14);
  const has = (name: typeof LINK_FLAGS[number]) => (flags & (1 << LINK_FLAGS.indexOf(name))) !== 0;
  const hotkey = r.u16(0x40);
  const info: LnkInfo = {
    link_flags: LINK_FLAGS.filter((_, i) => flags & (1 << i)),
    file_attributes: bitNames(r.u32(0x18), FILE_ATTRIBUTES),
    creation_time: filetime(r.view, 0x1c) ?? null,
    access_time: filetime(r.view, 0x24) ?? null,
    write_time: filetime(r.view, 0x2c) ?? null,
    file_size: r.u32(0x34),
    icon_index: r.i32(0x38),
    show_command: SHOW_COMMANDS[r.u32(0x3c)] ?? "SW_SHOWNORMAL",
    hotkey: hotkeyName(hotkey),
    target_id_list: null,
    link_info: null,
    name: null,
    relative_path: null,
    working_directory: null,
    arguments: null,
    icon_location: null,
    environment_target: null,
    icon_environment_target: null,
    darwin_id: null,
    shim_layer: null,
    code_page: null,
    special_folder: null,
    known_folder: null,
    tracker: null,
    property_store_size: null,
    extra_blocks: [],
    target_path: null,
    trailing_offset: null,
    trailing_size: 0,
  };
  let error: string | null = null;
  let pos = HEADER_SIZE;
  try {
    if (has("HasLinkTargetIDList")) {
      const size = r.u16(pos, "LinkTargetIDList size");
      r.need(pos + 2, size, "LinkTargetIDList");
      info.target_id_list = parseIdList(r, pos + 2, pos + 2 + size);
      pos += 2 + size;
    }
    if (has("HasLinkInfo")) {
      const size = r.u32(pos, "LinkInfo size");
      r.need(pos, size, "LinkInfo");
      info.link_info = parseLinkInfo(new LeReader(r.bytes(pos, size)), pos);
      pos += size;
    }
    const unicode = has("IsUnicode");
    const strings: [typeof LINK_FLAGS[number], keyof LnkInfo][] = [
      ["HasName", "name"],
      ["HasRelativePath", "relative_path"],
      ["HasWorkingDir", "working_directory"],
      ["HasArguments", "arguments"],
      ["HasIconLocation", "icon_location"],
    ];
    for (const [flag, key] of strings) {
      if (!has(flag)) continue;
      const count = r.u16(pos, `StringData ${key} length`);
      const n = unicode ? count * 2 : count;
      const bytes = r.bytes(pos + 2, n, `StringData ${key}`);
      (info as unknown as Record<string, unknown>)[key] = unicode
        ? utf16.decode(bytes)
        : ansi.decode(bytes);
      pos += 2 + n;
    }
    pos = parseExtraData(r, pos, info);
    if (pos < data.length) {
      info.trailing_offset = pos;
      info.trailing_size = data.length - pos;
    }
  } catch (e) {
    if (!(e instanceof FormatError) && !(e instanceof LnkFormatError)) throw e;
    error = e.message;
  }
  info.target_path = targetPath(info);
  return { info, error };
}

/** A structure whose fields contradict each other (a size smaller than its own header...). */
class LnkFormatError extends Error {}

function bitNames(value: number, names: Record<number, string>): string[] {
  return Object.entries(names).filter(([bit]) => value & Number(bit)).map(([, n]) => n);
}

function hotkeyName(hk: number): string | null {
  const key = hk & 0xff;
  if (key === 0) return null;
  const mods = HOTKEY_MODIFIERS.filter(([bit]) => (hk >> 8) & bit).map(([, n]) => n);
  const name = (key >= 0x30 && key <= 0x5a)
    ? String.fromCharCode(key)
    : key >= 0x70 && key <= 0x87
    ? `F${key - 0x6f}`
    : key === 0x90
    ? "NUM LOCK"
    : key === 0x91
    ? "SCROLL LOCK"
    : `0x${key.toString(16).padStart(2, "0")}`;
  return [...mods, name].join("+");
}

/** A NUL-terminated string of `decoder`'s unit size, read at most up to `end`. */
function cString(r: LeReader, o: number, end: number, wide: boolean): string {
  const stop = Math.min(end, r.length);
  let i = o;
  if (wide) {
    while (i + 1 < stop && (r.data[i] !== 0 || r.data[i + 1] !== 0)) i += 2;
    return utf16.decode(r.data.subarray(o, i));
  }
  while (i < stop && r.data[i] !== 0) i++;
  return ansi.decode(r.data.subarray(o, i));
}

function parseIdList(r: LeReader, start: number, end: number): LnkInfo["target_id_list"] {
  const items: ShellItem[] = [];
  let pos = start;
  let truncated = false;
  while (pos + 2 <= end) {
    const size = r.u16(pos, "ItemID size");
    if (size === 0) break; // TerminalID
    if (size < 3 || pos + size > end) {
      throw new LnkFormatError(`ItemID at offset ${pos} has size ${size}, outside its ID list`);
    }
    if (items.length === MAX_ID_ITEMS) {
      truncated = true;
      break;
    }
    items.push(shellItem(new LeReader(r.bytes(pos, size)), size));
    pos += size;
  }
  return { items, path: idListPath(items), truncated };
}

/** One ItemID. Shell items are undocumented beyond [MS-SHLLINK]; the layout is libfwsi's. */
function shellItem(r: LeReader, size: number): ShellItem {
  const cls = r.u8(2);
  const item: ShellItem = { type: "other", class_type: cls, size };
  if (cls === 0x1f && size >= 20) {
    item.type = "root_folder";
    item.clsid = r.guid(4);
    item.folder = SHELL_FOLDERS[item.clsid];
  } else if ((cls & 0x70) === 0x20 && size >= 4) {
    item.type = "volume";
    item.volume = cString(r, 3, size, false);
  } else if ((cls & 0x70) === 0x30 && size >= 14) {
    item.type = cls & 0x01 ? "directory" : cls & 0x02 ? "file" : "file_entry";
    item.file_size = r.u32(4);
    const wide = (cls & 0x04) !== 0;
    item.short_name = cString(r, 14, size, wide);
    item.name = longName(r, size) ?? item.short_name;
  } else if (cls === 0x61) {
    item.type = "uri";
  } else if (cls === 0x71) {
    item.type = "control_panel";
  }
  return item;
}

/** The long name in a file entry's 0xBEEF0004 extension block, when there is one. */
function longName(r: LeReader, size: number): string | undefined {
  for (let o = 14; o + 8 <= size; o += 2) {
    if (r.u32(o + 4) !== 0xbeef0004) continue;
    const version = r.u16(o + 2);
    const at = version >= 9 ? 46 : version >= 8 ? 42 : version >= 7 ? 38 : version >= 3 ? 20 : 18;
    const blockEnd = Math.min(size, o + r.u16(o));
    if (o + at >= blockEnd) return undefined;
    return cString(r, o + at, blockEnd, true);
  }
  return undefined;
}

function idListPath(items: ShellItem[]): string | null {
  const parts: string[] = [];
  for (const it of items) {
    if (it.type === "volume" && it.volume) parts.push(it.volume.replace(/\\$/, ""));
    else if (it.name !== undefined) parts.push(it.name);
  }
  return parts.length > 0 && items.some((i) => i.type === "volume") ? parts.join("\\") : null;
}

function parseLinkInfo(r: LeReader, base: number): NonNullable<LnkInfo["link_info"]> {
  const headerSize = r.u32(4, "LinkInfoHeaderSize");
  const flags = r.u32(8, "LinkInfoFlags");
  const at = (field: string, o: number) => {
    const off = r.u32(o, field);
    if (off !== 0 && off >= r.length) {
      throw new LnkFormatError(
        `LinkInfo ${field} ${off} points outside the LinkInfo (${r.length} bytes at offset ${base})`,
      );
    }
    return off;
  };
  const volumeIdOffset = at("VolumeIDOffset", 12);
  const localBasePathOffset = at("LocalBasePathOffset", 16);
  const networkOffset = at("CommonNetworkRelativeLinkOffset", 20);
  const suffixOffset = at("CommonPathSuffixOffset", 24);
  const wide = headerSize >= 0x24;
  const localUnicode = wide ? at("LocalBasePathOffsetUnicode", 28) : 0;
  const suffixUnicode = wide ? at("CommonPathSuffixOffsetUnicode", 32) : 0;
  const out: NonNullable<LnkInfo["link_info"]> = {
    flags: [
      ...(flags & 1 ? ["VolumeIDAndLocalBasePath"] : []),
      ...(flags & 2 ? ["CommonNetworkRelativeLinkAndPathSuffix"] : []),
    ],
    drive_type: null,
    drive_serial_number: null,
    volume_label: null,
    local_base_path: null,
    net_name: null,
    device_name: null,
    network_provider_type: null,
    common_path_suffix: null,
  };
  if (flags & 1) {
    const v = volumeIdOffset;
    const vsize = r.u32(v, "VolumeID size");
    const driveType = r.u32(v + 4, "VolumeID DriveType");
    out.drive_type = DRIVE_TYPES[driveType] ?? `unknown (${driveType})`;
    const serial = r.u32(v + 8, "VolumeID DriveSerialNumber");
    const hex = serial.toString(16).toUpperCase().padStart(8, "0");
    out.drive_serial_number = `${hex.slice(0, 4)}-${hex.slice(4)}`;
    const labelOffset = r.u32(v + 12, "VolumeLabelOffset");
    out.volume_label = labelOffset === 0x14
      ? cString(r, v + r.u32(v + 16, "VolumeLabelOffsetUnicode"), v + vsize, true)
      : cString(r, v + labelOffset, v + vsize, false);
    out.local_base_path = localUnicode
      ? cString(r, localUnicode, r.length, true)
      : cString(r, localBasePathOffset, r.length, false);
  }
  if (flags & 2) {
    const n = networkOffset;
    const nsize = r.u32(n, "CommonNetworkRelativeLink size");
    const nflags = r.u32(n + 4, "CommonNetworkRelativeLink flags");
    const netNameOffset = r.u32(n + 8, "NetNameOffset");
    const deviceOffset = r.u32(n + 12, "DeviceNameOffset");
    if (nflags & 2) out.network_provider_type = r.u32(n + 16, "NetworkProviderType");
    const nwide = netNameOffset > 0x14;
    out.net_name = nwide
      ? cString(r, n + r.u32(n + 20, "NetNameOffsetUnicode"), n + nsize, true)
      : cString(r, n + netNameOffset, n + nsize, false);
    if (nflags & 1) {
      out.device_name = nwide
        ? cString(r, n + r.u32(n + 24, "DeviceNameOffsetUnicode"), n + nsize, true)
        : cString(r, n + deviceOffset, n + nsize, false);
    }
  }
  out.common_path_suffix = suffixUnicode
    ? cString(r, suffixUnicode, r.length, true)
    : suffixOffset
    ? cString(r, suffixOffset, r.length, false)
    : null;
  return out;
}

/** Reads ExtraData blocks up to the terminal block; returns the offset after it. */
function parseExtraData(r: LeReader, pos: number, info: LnkInfo): number {
  for (let n = 0; n < MAX_EXTRA_BLOCKS; n++) {
    if (pos + 4 > r.length) {
      throw new LnkFormatError(`no TerminalBlock: the data ends at offset ${r.length}`);
    }
    const size = r.u32(pos, "ExtraData block size");
    if (size < 4) return pos + 4; // TerminalBlock
    if (size < 8) throw new LnkFormatError(`ExtraData block at offset ${pos} has size ${size}`);
    const sig = r.u32(pos + 4, "ExtraData block signature");
    const b = new LeReader(r.bytes(pos, size, `ExtraData block 0x${sig.toString(16)}`));
    info.extra_blocks.push(blockName(sig));
    switch (sig) {
      case 0xa0000001:
        info.environment_target = envString(b);
        break;
      case 0xa0000007:
        info.icon_environment_target = envString(b);
        break;
      case 0xa0000006:
        info.darwin_id = envString(b);
        break;
      case 0xa0000008:
        info.shim_layer = cString(b, 8, size, true);
        break;
      case 0xa0000004:
        info.code_page = b.u32(8, "ConsoleFEDataBlock CodePage");
        break;
      case 0xa0000005:
        info.special_folder = {
          id: b.u32(8, "SpecialFolderID"),
          offset: b.u32(12, "SpecialFolderDataBlock Offset"),
        };
        break;
      case 0xa000000b: {
        const id = b.guid(8, "KnownFolderID");
        info.known_folder = { id, name: KNOWN_FOLDERS[id] ?? null, offset: b.u32(24, "Offset") };
        break;
      }
      case 0xa0000003:
        info.tracker = {
          machine_id: cString(b, 16, 32, false),
          droid: droid(b, 32),
          birth_droid: droid(b, 64),
        };
        break;
      case 0xa0000009:
        info.property_store_size = size - 8;
        break;
    }
    pos += size;
  }
  throw new LnkFormatError(
    `more than ${MAX_EXTRA_BLOCKS} ExtraData blocks; the rest were not read`,
  );
}

function blockName(sig: number): string {
  const names: Record<number, string> = {
    0xa0000001: "EnvironmentVariableDataBlock",
    0xa0000002: "ConsoleDataBlock",
    0xa0000003: "TrackerDataBlock",
    0xa0000004: "ConsoleFEDataBlock",
    0xa0000005: "SpecialFolderDataBlock",
    0xa0000006: "DarwinDataBlock",
    0xa0000007: "IconEnvironmentDataBlock",
    0xa0000008: "ShimDataBlock",
    0xa0000009: "PropertyStoreDataBlock",
    0xa000000b: "KnownFolderDataBlock",
    0xa000000c: "VistaAndAboveIDListDataBlock",
  };
  return names[sig] ?? `unknown (0x${sig.toString(16).padStart(8, "0")})`;
}

/** The Unicode string of a 0x314-byte environment/Darwin block, else its ANSI one. */
function envString(b: LeReader): string {
  const wide = b.length >= 8 + 260 + 520 ? cString(b, 8 + 260, 8 + 260 + 520, true) : "";
  return wide || cString(b, 8, Math.min(b.length, 8 + 260), false);
}

/** A droid: volume GUID and object GUID; the object GUID is a v1 UUID carrying MAC and time. */
function droid(b: LeReader, o: number): Droid {
  const volume_id = b.guid(o, "droid volume GUID");
  const object_id = b.guid(o + 16, "droid object GUID");
  const raw = b.bytes(o + 16, 16);
  const version = raw[7] >> 4;
  if (version !== 1) return { volume_id, object_id, mac_address: null, timestamp: null };
  const mac = Array.from(raw.subarray(10, 16), (x) => x.toString(16).padStart(2, "0")).join(":");
  // 60-bit count of 100 ns since 1582-10-15: time_low, time_mid, time_hi (low 12 bits).
  const v = new DataView(raw.buffer, raw.byteOffset, 16);
  const ticks = (v.getUint16(6, true) & 0x0fff) * 2 ** 48 + v.getUint16(4, true) * 2 ** 32 +
    v.getUint32(0, true);
  const ms = ticks / 10_000 - 12_219_292_800_000;
  const d = new Date(Math.floor(ms));
  return {
    volume_id,
    object_id,
    mac_address: mac,
    timestamp: Number.isNaN(d.getTime()) ? null : d.toISOString(),
  };
}

function targetPath(info: LnkInfo): string | null {
  const li = info.link_info;
  if (li?.local_base_path) return li.local_base_path + (li.common_path_suffix ?? "");
  if (li?.net_name) {
    const suffix = li.common_path_suffix ?? "";
    return suffix ? `${li.net_name}\\${suffix}` : li.net_name;
  }
  return info.environment_target ?? info.target_id_list?.path ?? null;
}
