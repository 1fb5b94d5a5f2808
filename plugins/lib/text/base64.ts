/** Lenient base64 decoding (standard or URL-safe, wrapped, unpadded) that names what is wrong. */

// Uint8Array.fromBase64 (built in) does the decoding; it has no option to name the offending
// byte, so characters outside both alphabets are found first.
const JUNK = /[^A-Za-z0-9+/=\-_\t\n\f\r ]/;
const latin1 = new TextDecoder("latin1");

type FromBase64 = (
  text: string,
  options: { alphabet: "base64" | "base64url"; lastChunkHandling: "loose" },
) => Uint8Array;
const fromBase64 = (Uint8Array as unknown as { fromBase64: FromBase64 }).fromBase64;

/**
 * Decodes standard or URL-safe base64, ignoring ASCII whitespace and allowing missing padding.
 * Returns the bytes, or a message saying why the content is not base64.
 */
export function decodeBase64(data: Uint8Array): Uint8Array | string {
  const text = latin1.decode(data); // one character per byte, so indexes are byte offsets
  const junk = JUNK.exec(text);
  if (junk) {
    const hex = data[junk.index].toString(16).padStart(2, "0");
    return `not base64: byte 0x${hex} at offset ${junk.index}: not in the base64 alphabet (standard or URL-safe) nor whitespace`;
  }
  const url = /[-_]/.exec(text);
  if (url && /[+/]/.test(text)) {
    return `not base64: mixes the standard (+/) and URL-safe (-_) alphabets (offset ${url.index})`;
  }
  // Short final padding ("YQ=") is common in the wild; the decoder wants all of it or none.
  const short = text.replace(/[\s=]/g, "").length % 4 === 2 && /[^=]=\s*$/.test(text);
  const unpadded = short ? text.replace(/=(\s*)$/, "$1") : text;
  try {
    return fromBase64(unpadded, {
      alphabet: url ? "base64url" : "base64",
      lastChunkHandling: "loose",
    });
  } catch (e) {
    return `not base64: ${(e as Error).message}`;
  }
}
