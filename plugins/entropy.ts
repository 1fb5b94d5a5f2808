/** Shannon entropy of the payload bytes, in bits per byte (0–8). */
import type { StoqAPI } from "../core/plugin.ts";

export default (stoq: StoqAPI) =>
  stoq.plugin({
    name: "entropy",
    version: "1.0.0",
    description: "Shannon entropy of the payload, in bits per byte",
    classes: ["worker"],
    create: () => ({
      scan(payload) {
        return { results: { entropy: shannon(payload.content) } };
      },
    }),
  });

/** Shannon entropy of `data` in bits per byte. */
export function shannon(data: Uint8Array): number {
  if (data.length === 0) return 0;
  const counts = new Uint32Array(256);
  for (let i = 0; i < data.length; i++) counts[data[i]]++;
  let h = 0;
  for (let b = 0; b < 256; b++) {
    const c = counts[b];
    if (c === 0) continue;
    const p = c / data.length;
    h -= p * Math.log2(p);
  }
  return h;
}
