/** Base64-decodes the whole payload into one child (stoQ's `b64decode`), refusing non-base64. */
import type { StoqAPI } from "../core/plugin.ts";

export default (stoq: StoqAPI) =>
  stoq.plugin({
    name: "b64decode",
    version: "1.0.0",
    description: "Base64-decodes the payload (standard or URL-safe, whitespace ignored)",
    classes: ["worker"],
    create: () => ({
      scan(payload) {
        const decoded = decodeBase64(payload.content);
        if (typeof decoded === "string") return { errors: [`b64decode: ${decoded}`] };
        if (decoded.length === 0) return { results: { size: 0 } };
        const extra: Record<string, unknown> = { encoding: "base64" };
        const parentName = payload.results.payload_meta.extra_data.filename;
        if (typeof parentName === "string" && parentName !== "") {
          extra.filename = `${parentName}.decoded`;
        }
        return {
          results: { size: decoded.length },
          extracted: [{ content: decoded, payload_meta: { extra_data: extra } }],
        };
      },
    }),
  });

const INVALID = -1;
const SPACE = -2;
const PAD = -3;

// One table for both alphabets: Buffer would silently skip junk, so we validate as we decode.
const TABLE = (() => {
  const t = new Int8Array(256).fill(INVALID);
  const std = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (let i = 0; i < 64; i++) t[std.charCodeAt(i)] = i;
  t[0x2d] = 62; // '-'
  t[0x5f] = 63; // '_'
  for (const c of [0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x20]) t[c] = SPACE;
  t[0x3d] = PAD;
  return t;
})();

/**
 * Decodes standard or URL-safe base64, ignoring ASCII whitespace and allowing missing padding.
 * Returns the bytes, or a message naming the first offending byte offset.
 */
export function decodeBase64(data: Uint8Array): Uint8Array | string {
  const out = new Uint8Array(Math.ceil(data.length / 4) * 3);
  let acc = 0, chars = 0, o = 0, pads = 0, lastChar = -1;
  for (let i = 0; i < data.length; i++) {
    const v = TABLE[data[i]];
    if (v >= 0) {
      if (pads > 0) return bad(data, i, "data after '=' padding");
      acc = (acc << 6) | v;
      lastChar = i;
      if ((++chars & 3) === 0) {
        out[o++] = acc >>> 16;
        out[o++] = (acc >>> 8) & 0xff;
        out[o++] = acc & 0xff;
        acc = 0;
      }
    } else if (v === SPACE) {
      continue;
    } else if (v === PAD) {
      // A group of 2 data characters takes at most "==", a group of 3 at most "=".
      const rem = chars & 3;
      if (rem < 2 || ++pads > 4 - rem) return bad(data, i, "unexpected '=' padding");
    } else {
      return bad(data, i, "not in the base64 alphabet (standard or URL-safe) nor whitespace");
    }
  }
  const rem = chars & 3;
  if (rem === 1) {
    return `not base64: truncated input, a lone final character at offset ${lastChar}`;
  }
  if (rem === 2) out[o++] = (acc >>> 4) & 0xff;
  if (rem === 3) {
    out[o++] = (acc >>> 10) & 0xff;
    out[o++] = (acc >>> 2) & 0xff;
  }
  // Whitespace made the buffer too large; a tight copy keeps the child from pinning the slack.
  return o === out.length ? out : out.slice(0, o);
}

function bad(data: Uint8Array, offset: number, why: string): string {
  const hex = data[offset].toString(16).padStart(2, "0");
  return `not base64: byte 0x${hex} at offset ${offset}: ${why}`;
}
