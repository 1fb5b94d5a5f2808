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
  const n = data.length;
  if (n === 0) return 0;
  // Four histograms: consecutive equal bytes would otherwise serialise on one counter.
  const c = new Uint32Array(1024);
  const end = n - (n % 4);
  for (let i = 0; i < end; i += 4) {
    c[data[i]]++;
    c[256 + data[i + 1]]++;
    c[512 + data[i + 2]]++;
    c[768 + data[i + 3]]++;
  }
  for (let i = end; i < n; i++) c[data[i]]++;
  let h = 0;
  for (let b = 0; b < 256; b++) {
    const count = c[b] + c[256 + b] + c[512 + b] + c[768 + b];
    if (count === 0) continue;
    const p = count / n;
    h -= p * Math.log2(p);
  }
  return h;
}
