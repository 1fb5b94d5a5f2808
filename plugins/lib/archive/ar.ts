/**
 * The ar archive format (Unix `ar`: static libraries, and Debian packages, whose members are
 * debian-binary, control.tar.* and data.tar.*), read in-process. Hand-written because it is a
 * 60-byte header per member; 7z's Ar handler shows a .deb as its data.tar alone (or, forced with
 * -tAr, without debian-binary), so the maintainer scripts and the format version would be lost.
 *
 * Layout: "!<arch>\n", then per member a header (name 16, mtime 12, uid 6, gid 6, mode 8,
 * size 10, "`\n") and its data, padded to an even offset. GNU names: "/" (symbol table),
 * "//" (long-name table), "/N" (offset into it); BSD names: "#1/N" (name in the first N data bytes).
 */

/** A member of an ar archive. */
export interface ArMember {
  name: string;
  data: Uint8Array;
  /** The archive's symbol table ("/" or "__.SYMDEF"), not a file a user put in. */
  symbols: boolean;
}

/** Thrown for a malformed archive; the members read before it stay valid. */
export class ArError extends Error {}

const MAGIC = "!<arch>\n";
const latin1 = new TextDecoder("latin1");
const utf8 = new TextDecoder();

/** Yields the members of `data` in order; throws ArError where the archive breaks. */
export function* readAr(data: Uint8Array): Generator<ArMember> {
  if (latin1.decode(data.subarray(0, 8)) !== MAGIC) throw new ArError("no !<arch> header");
  let longNames = "";
  let off = 8;
  while (off + 60 <= data.length) {
    const h = latin1.decode(data.subarray(off, off + 60));
    if (h.slice(58, 60) !== "`\n") throw new ArError(`bad member header at offset ${off}`);
    const size = Number(h.slice(48, 58).trim());
    if (!/^\d+$/.test(h.slice(48, 58).trim()) || off + 60 + size > data.length) {
      throw new ArError(`member at offset ${off} claims ${h.slice(48, 58).trim()} bytes`);
    }
    let body = data.subarray(off + 60, off + 60 + size);
    let name = h.slice(0, 16).trimEnd();
    off += 60 + size + (size & 1);
    if (name === "//") {
      longNames = latin1.decode(body);
      continue;
    }
    const bsd = /^#1\/(\d+)$/.exec(name);
    if (bsd) {
      const n = Number(bsd[1]);
      if (n > body.length) throw new ArError(`BSD name of ${n} bytes is longer than its member`);
      name = utf8.decode(body.subarray(0, n)).replace(/\0+$/, "");
      body = body.subarray(n);
    } else if (/^\/\d+$/.test(name)) {
      const at = Number(name.slice(1));
      const end = longNames.indexOf("/\n", at);
      if (at >= longNames.length || end < 0) {
        throw new ArError(`long name ${name} not in the table`);
      }
      name = longNames.slice(at, end);
    } else if (name !== "/" && name.endsWith("/")) name = name.slice(0, -1); // GNU terminator
    yield { name, data: body, symbols: name === "/" || name.startsWith("__.SYMDEF") };
  }
  if (off < data.length && data.subarray(off).some((b) => b !== 0x0a)) {
    throw new ArError(`${data.length - off} bytes of a truncated member header at offset ${off}`);
  }
}
