/**
 * VBA projects ([MS-OVBA]): the RLE decompression of 2.4.1, the `dir` stream's records (2.3.4.2:
 * project information, references, modules), the PROJECT stream (2.3.1) and each module's source
 * (compressed from MODULEOFFSET in its stream). Written by hand: no maintained JavaScript port of
 * olevba exists (plugin-catalog.md §5). Every length is checked and every output capped; a bad
 * record stops the parse with an error naming the record and its offset, keeping what came before.
 */
import type { CompoundFile } from "./cfb.ts";
import { codePageDecoder } from "./codepage.ts";

/** Thrown by `decompress` on a container that does not follow 2.4.1. */
export class OvbaError extends Error {
  override name = "OvbaError";
}

/**
 * Decompresses a CompressedContainer ([MS-OVBA] 2.4.1.3.1) of at most `max` output bytes.
 * Returns what was decompressed and, when the data is bad, why it stopped.
 */
export function decompress(
  data: Uint8Array,
  max = 16 * 1024 * 1024,
): { data: Uint8Array; error?: string } {
  if (data.length === 0 || data[0] !== 0x01) {
    return {
      data: new Uint8Array(0),
      error: "not a compressed container (signature byte is not 0x01)",
    };
  }
  let out = new Uint8Array(Math.min(max, Math.max(4096, data.length * 4)));
  let len = 0;
  const grow = (need: number) => {
    if (need <= out.length) return;
    const next = new Uint8Array(Math.min(max, Math.max(need, out.length * 2)));
    next.set(out.subarray(0, len));
    out = next;
  };
  let pos = 1;
  while (pos < data.length) {
    if (pos + 2 > data.length) {
      return { data: out.subarray(0, len), error: `chunk header cut at offset ${pos}` };
    }
    const header = data[pos] | (data[pos + 1] << 8);
    const size = (header & 0x0fff) + 3;
    const compressed = (header & 0x8000) !== 0;
    if (((header >> 12) & 0x7) !== 0b011) {
      return { data: out.subarray(0, len), error: `chunk signature at offset ${pos} is not 0b011` };
    }
    const chunkEnd = Math.min(pos + size, data.length);
    const chunkStart = len;
    pos += 2;
    if (len + 4096 > max) {
      grow(max);
      return { data: out.subarray(0, len), error: `output reached the ${max}-byte cap` };
    }
    grow(len + 4096);
    if (!compressed) {
      const n = Math.min(4096, chunkEnd - pos);
      out.set(data.subarray(pos, pos + n), len);
      len += n;
      pos = chunkEnd;
      continue;
    }
    while (pos < chunkEnd) {
      const flags = data[pos++];
      for (let bit = 0; bit < 8 && pos < chunkEnd; bit++) {
        if ((flags & (1 << bit)) === 0) {
          if (len - chunkStart >= 4096) {
            pos = chunkEnd; // a chunk never holds more than 4096 bytes: skip the excess
            break;
          }
          out[len++] = data[pos++];
          continue;
        }
        if (pos + 2 > chunkEnd) {
          return { data: out.subarray(0, len), error: `copy token cut at offset ${pos}` };
        }
        const token = data[pos] | (data[pos + 1] << 8);
        pos += 2;
        const diff = len - chunkStart;
        let bitCount = 4;
        while ((1 << bitCount) < diff) bitCount++;
        bitCount = Math.min(bitCount, 12);
        const lengthMask = 0xffff >> bitCount;
        const length = (token & lengthMask) + 3;
        const offset = (token >> (16 - bitCount)) + 1;
        if (offset > diff) {
          return {
            data: out.subarray(0, len),
            error: `copy token at offset ${pos - 2} points before its chunk`,
          };
        }
        const n = Math.min(length, 4096 - diff);
        for (let i = 0; i < n; i++) out[len + i] = out[len - offset + i];
        len += n;
      }
    }
  }
  return { data: out.subarray(0, len) };
}

/** A module as the dir stream describes it. */
export interface VbaModule {
  name: string;
  stream_name: string;
  type: "procedural" | "document" | "unknown";
  text_offset: number;
  read_only?: boolean;
  private?: boolean;
  doc_string?: string;
}

/** The project information of a dir stream. */
export interface VbaDir {
  sys_kind?: string;
  code_page: number;
  name?: string;
  doc_string?: string;
  help_file?: string;
  version?: string;
  constants?: string;
  references: string[];
  modules: VbaModule[];
  error?: string;
}

const SYS_KIND = ["win16", "win32", "macintosh", "win64"];

const utf16 = new TextDecoder("utf-16le");
const MAX_MODULES = 1000;
const MAX_RECORDS = 100_000;

/** Parses a decompressed dir stream ([MS-OVBA] 2.3.4.2). */
export function parseDir(dir: Uint8Array): VbaDir {
  const dv = new DataView(dir.buffer, dir.byteOffset, dir.byteLength);
  const out: VbaDir = { code_page: 1252, references: [], modules: [] };
  let dec = codePageDecoder(1252);
  let mod: VbaModule | undefined;
  const endModule = () => {
    if (mod && out.modules.length < MAX_MODULES) out.modules.push(mod);
    mod = undefined;
  };
  let pos = 0;
  for (let n = 0; pos + 6 <= dir.length && n < MAX_RECORDS; n++) {
    const id = dv.getUint16(pos, true);
    const size = dv.getUint32(pos + 2, true);
    const at = pos;
    // PROJECTVERSION's size field says 4 but 6 bytes follow it (2.3.4.2.1.11).
    const bodyLen = id === 0x0009 ? 6 : size;
    if (pos + 6 + bodyLen > dir.length) {
      out.error = `dir record 0x${hex(id)} at offset ${at} runs past the stream (${bodyLen} bytes)`;
      break;
    }
    const body = dir.subarray(pos + 6, pos + 6 + bodyLen);
    pos += 6 + bodyLen;
    const text = () => dec.decode(body);
    const u32 = () => (body.length >= 4 ? dv.getUint32(at + 6, true) : 0);
    switch (id) {
      case 0x0001:
        out.sys_kind = SYS_KIND[u32()] ?? `unknown (${u32()})`;
        break;
      case 0x0003:
        out.code_page = body.length >= 2 ? dv.getUint16(at + 6, true) : 1252;
        dec = codePageDecoder(out.code_page);
        break;
      case 0x0004:
        out.name = text();
        break;
      case 0x0005:
        out.doc_string = text();
        break;
      case 0x0006:
        out.help_file = text();
        break;
      case 0x0009:
        out.version = `${dv.getUint32(at + 6, true)}.${dv.getUint16(at + 10, true)}`;
        break;
      case 0x000c:
        out.constants = text();
        break;
      case 0x0016: // REFERENCENAME
        if (out.references.length < 256) out.references.push(text());
        break;
      case 0x0019: // MODULENAME starts a module
        endModule();
        mod = { name: text(), stream_name: text(), type: "unknown", text_offset: 0 };
        break;
      case 0x0047:
        if (mod) mod.name = utf16.decode(body);
        break;
      case 0x001a:
        if (mod) mod.stream_name = text();
        break;
      case 0x0032:
        if (mod && body.length) mod.stream_name = utf16.decode(body);
        break;
      case 0x001c:
        if (mod && body.length) mod.doc_string = text();
        break;
      case 0x0031:
        if (mod) mod.text_offset = u32();
        break;
      case 0x0021:
        if (mod) mod.type = "procedural";
        break;
      case 0x0022:
        if (mod) mod.type = "document";
        break;
      case 0x0025:
        if (mod) mod.read_only = true;
        break;
      case 0x0028:
        if (mod) mod.private = true;
        break;
      case 0x002b: // module terminator
        endModule();
        break;
      case 0x0010: // dir terminator
        endModule();
        return out;
    }
  }
  endModule();
  return out;
}

function hex(n: number): string {
  return n.toString(16).padStart(4, "0").toUpperCase();
}

/** One module's source as extracted. */
export interface ModuleSource {
  name: string;
  stream: string;
  type: VbaModule["type"];
  code: string;
  size: number;
}

/** A VBA project found in a compound file. */
export interface VbaProject {
  /** Storage that holds the VBA storage and the PROJECT stream ("" for a bare vbaProject.bin). */
  storage: string;
  dir: VbaDir;
  project: Record<string, unknown>;
  modules: ModuleSource[];
  errors: string[];
}

/** Finds every VBA project (a storage with VBA/dir) in `cfb` and extracts its modules' source. */
export function extractVba(cfb: CompoundFile, maxSource: number): VbaProject[] {
  const projects: VbaProject[] = [];
  for (const e of cfb.entries) {
    if (e.type !== "stream" || !/(^|\/)VBA\/dir$/i.test(e.path)) continue;
    const vbaStorage = e.path.slice(0, -"/dir".length);
    const storage = vbaStorage.includes("/")
      ? vbaStorage.slice(0, vbaStorage.lastIndexOf("/"))
      : "";
    const errors: string[] = [];
    const inflated = decompress(cfb.read(e));
    if (inflated.error) errors.push(`${e.path}: ${inflated.error}`);
    const dir = parseDir(inflated.data);
    if (dir.error) errors.push(`${e.path}: ${dir.error}`);
    const dec = codePageDecoder(dir.code_page);
    const projStream = cfb.find(storage ? `${storage}/PROJECT` : "PROJECT");
    const project = projStream ? parseProjectStream(dec.decode(cfb.read(projStream, 1 << 20))) : {};
    const modules: ModuleSource[] = [];
    let budget = maxSource;
    for (const m of dir.modules) {
      const ms = cfb.find(`${vbaStorage}/${m.stream_name}`);
      if (!ms) {
        errors.push(`module ${m.name}: stream ${vbaStorage}/${m.stream_name} not found`);
        continue;
      }
      const raw = cfb.read(ms);
      if (m.text_offset > raw.length) {
        errors.push(
          `module ${m.name}: MODULEOFFSET ${m.text_offset} is past its ${raw.length}-byte stream`,
        );
        continue;
      }
      const src = decompress(raw.subarray(m.text_offset), Math.max(0, budget));
      if (src.error) errors.push(`module ${m.name} (${ms.path}): ${src.error}`);
      budget -= src.data.length;
      modules.push({
        name: m.name,
        stream: ms.path,
        type: m.type,
        code: dec.decode(src.data),
        size: src.data.length,
      });
    }
    projects.push({ storage, dir, project, modules, errors });
  }
  return projects;
}

/** The PROJECT stream's key=value lines ([MS-OVBA] 2.3.1): modules by kind, protection. */
export function parseProjectStream(text: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const lists: Record<string, string[]> = { Module: [], Class: [], Document: [], BaseClass: [] };
  for (const line of text.split(/\r?\n/).slice(0, 10_000)) {
    if (line.startsWith("[")) break; // [Host Extender Info], [Workspace]
    const eq = line.indexOf("=");
    if (eq <= 0) continue;
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    if (key in lists) {
      lists[key].push(key === "Document" ? value.replace(/\/&H[0-9A-F]+$/i, "") : value);
    } else if (["ID", "Name", "HelpFile", "ExeName32", "CMG", "DPB", "GC"].includes(key)) {
      out[key.toLowerCase()] = value.replace(/^"|"$/g, "");
    }
  }
  if (lists.Module.length) out.modules = lists.Module;
  if (lists.Class.length) out.class_modules = lists.Class;
  if (lists.Document.length) out.document_modules = lists.Document;
  if (lists.BaseClass.length) out.forms = lists.BaseClass;
  // CMG: ProjectProtectionState; DPB: the project password ([MS-OVBA] 2.3.1.15-16), both encrypted.
  const state = typeof out.cmg === "string" ? decryptData(out.cmg) : undefined;
  if (state && state.length >= 4) {
    out.protection = {
      user_protected: (state[0] & 1) !== 0,
      host_protected: (state[0] & 2) !== 0,
      vbe_protected: (state[0] & 4) !== 0,
    };
  }
  const password = typeof out.dpb === "string" ? decryptData(out.dpb) : undefined;
  if (password) out.password_protected = !(password.length === 1 && password[0] === 0);
  return out;
}

/** Data Encryption ([MS-OVBA] 2.4.3.3) of a hex string; undefined when it does not decrypt. */
export function decryptData(hexText: string): Uint8Array | undefined {
  if (!/^([0-9A-Fa-f]{2}){7,}$/.test(hexText)) return undefined;
  const enc = Uint8Array.from(hexText.match(/../g)!, (h) => parseInt(h, 16));
  const seed = enc[0];
  const versionEnc = enc[1];
  if ((seed ^ versionEnc) !== 2) return undefined;
  const projKeyEnc = enc[2];
  let unencrypted1 = seed ^ projKeyEnc;
  let encrypted1 = projKeyEnc;
  let encrypted2 = versionEnc;
  let pos = 3;
  const next = () => {
    const byteEnc = enc[pos++];
    const byte = byteEnc ^ ((encrypted2 + unencrypted1) & 0xff);
    encrypted2 = encrypted1;
    encrypted1 = byteEnc;
    unencrypted1 = byte;
    return byte;
  };
  const ignored = (seed & 6) / 2;
  if (pos + ignored + 4 > enc.length) return undefined;
  for (let i = 0; i < ignored; i++) next();
  let length = 0;
  for (let i = 0; i < 4; i++) length |= next() << (8 * i);
  if (length < 0 || pos + length > enc.length) return undefined;
  const data = new Uint8Array(length);
  for (let i = 0; i < length; i++) data[i] = next();
  return data;
}
