/** The TLS directory and its callbacks, which run before the entry point. */
import { directory, offsetOf, type PeHeaders, sectionOf } from "./headers.ts";
import { hex, type Reader } from "../bytes/reader.ts";

const MAX_CALLBACKS = 256;

/** The TLS directory as the plugin reports it. */
export interface Tls {
  /** Callback addresses (VAs) and the section each lies in. */
  callbacks: { va: string; rva: number; section: string | null }[];
  callbacks_truncated?: boolean;
}

/** Parses the TLS directory; throws FormatError when it is cut. */
export function parseTls(r: Reader, h: PeHeaders): Tls | undefined {
  const dir = directory(h, "tls");
  if (!dir) return undefined;
  const at = offsetOf(h, dir.rva, "TLS directory");
  const ptr = h.is64 ? 8 : 4;
  const read = (off: number, what: string) => h.is64 ? r.u64(off, what) : BigInt(r.u32(off, what));
  const callbacksVa = read(at + 3 * ptr, "TLS AddressOfCallBacks");
  const out: Tls = { callbacks: [] };
  if (callbacksVa === 0n) return out;
  const rvaOf = (va: bigint) => Number((va - h.image_base) & 0xffffffffn);
  let off = offsetOf(h, rvaOf(callbacksVa), "TLS callback array");
  for (let i = 0;; i++, off += ptr) {
    if (i >= MAX_CALLBACKS) {
      out.callbacks_truncated = true;
      break;
    }
    const va = read(off, "TLS callback array");
    if (va === 0n) break;
    const rva = rvaOf(va);
    out.callbacks.push({ va: hex(va), rva, section: sectionOf(h, rva)?.name ?? null });
  }
  return out;
}
