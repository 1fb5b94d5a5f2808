/** TLSH fuzzy hash of the payload, from Debian's `tlsh` tool, and its distance to known hashes. */
import type { StoqAPI } from "../core/engine/plugin.ts";

/** A TLSH hash as tlsh-tools 3.4.4 prints it (70 hex digits), or 4.x's `T1`-prefixed form. */
const TLSH_RE = /^(?:T1)?[0-9A-Fa-f]{70}$/;

/** Shortest input tlsh-tools 3.4.4 hashes (its MIN_DATA_LENGTH); only named in messages. */
const MIN_LENGTH = 256;

/** A hash, or why there is none. */
export type TlshOutcome = { tlsh: string } | { tlsh: null; reason: string };

/**
 * Reads `tlsh -f FILE` output: `HASH<TAB>FILE` on stdout, or on stderr `file FILE: file too
 * small` / `file FILE: cannot hash`. tlsh exits 0 in every case, so the text is all there is.
 */
export function parseTlsh(stdout: string, stderr: string, size: number): TlshOutcome {
  const hash = stdout.split("\t")[0].trim();
  // tlsh-tools 3.4.4 prints the 70 digits alone; TLSH 4.x, py-tlsh, VirusTotal and MalwareBazaar
  // write the same digest after its version prefix "T1", which is the form stoq reports.
  if (TLSH_RE.test(hash)) return { tlsh: `T1${tlshBody(hash).toUpperCase()}` };
  if (/: file too small\s*$/.test(stderr)) {
    return {
      tlsh: null,
      reason:
        `too short for TLSH: tlsh needs at least ${MIN_LENGTH} bytes, the payload has ${size}`,
    };
  }
  if (/: cannot hash\s*$/.test(stderr)) {
    return {
      tlsh: null,
      reason: "too uniform for TLSH: fewer than half of its 128 buckets of byte triplets are " +
        "filled (the payload repeats a few byte values)",
    };
  }
  const why = stderr.trim() || stdout.trim() || "no output";
  throw new Error(`tlsh printed no hash for the payload: ${why.slice(0, 500)}`);
}

/** The 70 hex digits of a hash, without 4.x's version prefix, so both forms compare. */
export function tlshBody(hash: string): string {
  return hash.replace(/^T1/, "");
}

/** A parsed digest of the `tlsh` npm package. */
interface Digest {
  calculateDifference(other: Digest, lengthDiff: boolean): number;
}
/** The package's DigestHashBuilder (CommonJS, untyped). */
type DigestBuilder = new () => { withHash(hash: string): { build(): Digest } };

export default (stoq: StoqAPI) => {
  const z = stoq.z;
  return stoq.plugin({
    name: "hash_tlsh",
    version: "1.0.0",
    description: "TLSH fuzzy hash of the payload (Debian's tlsh tool), and matches to known hashes",
    classes: ["worker"],
    // The npm port (tlsh 1.0.8) refuses 256–511-byte inputs and is ~27× slower; see README.
    tools: { tlsh: "tlsh-tools" },
    options: {
      known: z.array(z.object({
        name: z.string().min(1),
        tlsh: z.string().regex(TLSH_RE, "tlsh must be 70 hex digits, optionally after T1"),
      })).default([]),
      // Strelka's ScanTlsh reports a match at a distance of 30 or less.
      threshold: z.number().int().min(0).default(30),
    },
    create: async (opts) => {
      let match: ((hash: string) => { name: string; tlsh: string; distance: number }[]) | undefined;
      if (opts.known.length > 0) {
        // The package's distance agrees with `tlsh -c A -d B` (checked on 40,000 pairs); its
        // hashing is not used (see tools above). Loaded only when there is something to match.
        const mod = await import("tlsh/lib/digests/digest-hash-builder.js");
        const Builder = mod.default as unknown as DigestBuilder;
        const parse = (h: string) => new Builder().withHash(tlshBody(h)).build();
        const known = opts.known.map((k) => ({ ...k, digest: parse(k.tlsh) }));
        match = (hash) => {
          const digest = parse(hash);
          return known
            .map((k) => ({
              name: k.name,
              tlsh: k.tlsh,
              // With the length term, as `tlsh -c` and py-tlsh's diff() (Strelka) count it.
              distance: digest.calculateDifference(k.digest, true),
            }))
            .filter((m) => m.distance <= opts.threshold)
            .sort((a, b) => a.distance - b.distance || a.name.localeCompare(b.name));
        };
      }
      return {
        async scan(payload, _request, call) {
          const res = await call.withTempFile(payload.content, async (path) => {
            // A file, not stdin: tlsh hashes only named files.
            const out = await call.exec("tlsh", ["-f", path], { maxOutput: 64 * 1024 });
            return parseTlsh(
              new TextDecoder().decode(out.stdout),
              out.stderr,
              payload.content.length,
            );
          });
          if (res.tlsh === null || !match) return { results: res };
          return { results: { tlsh: res.tlsh, matches: match(res.tlsh) } };
        },
      };
    },
  });
};
