/**
 * Outlook's compressed RTF bodies (PidTagRtfCompressed, [MS-OXRTFCP]), decompressed with
 * @kenjiuno/decompressrtf. That decompressor reads as far as the stream's header says, past the
 * end of the data if need be, and builds its output in a plain array: so the header is made to
 * fit the data first, and the input is capped (the output grows up to 17 times the input).
 */
import { decompressRTF } from "@kenjiuno/decompressrtf";

/** Largest compressed RTF body decompressed. */
const MAX_RTF_INPUT = 16 * 1024 * 1024;

/** The RTF of a PidTagRtfCompressed value ([MS-OXRTFCP]), and what was wrong with it. */
export function decompressBody(data: Uint8Array): { rtf?: Uint8Array; error?: string } {
  if (data.length < 16) return { error: `compressed RTF of ${data.length} bytes has no header` };
  if (data.length > MAX_RTF_INPUT) {
    return {
      error: `compressed RTF of ${data.length} bytes is over the ${MAX_RTF_INPUT}-byte limit`,
    };
  }
  const v = new DataView(data.buffer, data.byteOffset, data.length);
  const declared = v.getUint32(0, true) + 4;
  let input = data;
  let error: string | undefined;
  if (declared > data.length) {
    // The decompressor reads as far as the header says: give it only what is there.
    input = data.slice();
    new DataView(input.buffer).setUint32(0, input.length - 4, true);
    error = `truncated: ${declared} bytes declared at offset 0, ${data.length} present; ` +
      "decompressed what is there";
  }
  try {
    const rtf = Uint8Array.from(decompressRTF(Array.from(input)) as ArrayLike<number>);
    return error ? { rtf, error } : { rtf };
  } catch (e) {
    return { error: `cannot decompress: ${(e as Error)?.message ?? String(e)}` };
  }
}
