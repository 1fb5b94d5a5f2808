/** XOR-decodes the payload with a rolling key from options or dispatch meta (stoQ's `xordecode`). */
import type { StoqAPI } from "../core/engine/plugin.ts";

const NO_KEY = "xordecode: no key: set option key or dispatch with meta xorkey";

export default (stoq: StoqAPI) => {
  const z = stoq.z;
  const byte = z.number().int().min(0).max(255);
  return stoq.plugin({
    name: "xordecode",
    version: "1.0.0",
    description:
      "XOR-decodes the payload with a (rolling) key from options or dispatch meta xorkey",
    classes: ["worker"],
    options: {
      key: z.union([
        byte,
        z.array(byte).min(1),
        z.string().refine((s) => typeof parseKey(s) !== "string", {
          message: 'key must be hex bytes like "0x41" or "4142", or a list like "65,66"',
        }),
      ]).optional(),
    },
    create: (opts) => {
      const fixed = opts.key === undefined ? undefined : parseKey(opts.key) as number[];
      return {
        scan(payload) {
          let key = fixed;
          if (key === undefined) {
            const found = findKey(payload.dispatch_meta, "xorkey");
            if (!found) return { errors: [NO_KEY] };
            // stoQ's yara dispatcher writes keys in decimal ("65", "1,2,3").
            const parsed = parseKey(found.value, true);
            if (typeof parsed === "string") {
              return {
                errors: [
                  `xordecode: bad xorkey ${
                    JSON.stringify(found.value)
                  } in dispatch meta at ${found.path}: ${parsed}`,
                ],
              };
            }
            key = parsed;
          }
          const results = { xorkey: [...key] };
          if (payload.content.length === 0) return { results };
          const decoded = xorBytes(payload.content, Uint8Array.from(key));
          return {
            results,
            extracted: [{ content: decoded, payload_meta: { extra_data: { xorkey: [...key] } } }],
          };
        },
      };
    },
  });
};

/**
 * Normalises a key (an int 0–255, a list of them, hex like "0x41"/"4142", or stoQ's
 * comma-separated "65,66") to a list of bytes; returns a message when it is not one.
 * With `decimal`, a string of digits is a decimal byte as stoQ's dispatch meta writes it.
 */
export function parseKey(value: unknown, decimal = false): number[] | string {
  const isByte = (n: unknown): n is number =>
    Number.isInteger(n) && Number(n) >= 0 && Number(n) <= 255;
  if (typeof value === "number") return isByte(value) ? [value] : "an int key must be 0–255";
  if (Array.isArray(value)) {
    if (value.length === 0) return "a key list must not be empty";
    return value.every(isByte) ? [...value] : "a key list must hold ints 0–255";
  }
  if (typeof value !== "string") return "a key must be an int, a list of ints or a hex string";
  const s = value.trim();
  if (s.includes(",") || (decimal && /^\d{1,3}$/.test(s))) {
    // stoQ's yara rules write keys as comma-separated numbers in a meta string.
    const parts = s.split(",").map((p) => p.trim());
    const nums = parts.map((p) =>
      /^0x[0-9a-f]{1,2}$/i.test(p) || /^\d{1,3}$/.test(p) ? Number(p) : NaN
    );
    return nums.every(isByte) ? nums : "each item of a comma-separated key must be 0–255";
  }
  const hex = s.replace(/^0x/i, "");
  if (!/^(?:[0-9a-f]{2})+$/i.test(hex)) {
    return 'a string key must be hex bytes like "0x41" or "4142"';
  }
  const out: number[] = [];
  for (let i = 0; i < hex.length; i += 2) out.push(parseInt(hex.slice(i, i + 2), 16));
  return out;
}

/** Depth-first search of nested objects and lists for the first property named `name`. */
export function findKey(
  root: unknown,
  name: string,
  path = "",
  depth = 0,
): { path: string; value: unknown } | undefined {
  // Dispatcher meta is plain JSON-like data; the depth cap only guards against cycles.
  if (depth > 64 || root === null || typeof root !== "object") return undefined;
  const join = (k: string) => path === "" ? k : `${path}.${k}`;
  if (!Array.isArray(root) && Object.hasOwn(root, name)) {
    return { path: join(name), value: (root as Record<string, unknown>)[name] };
  }
  const entries = Array.isArray(root) ? root.entries() : Object.entries(root);
  for (const [k, v] of entries) {
    const found = findKey(v, name, join(String(k)), depth + 1);
    if (found) return found;
  }
  return undefined;
}

/** XORs `data` with `key` repeated over its length, into a new array. */
export function xorBytes(data: Uint8Array, key: Uint8Array): Uint8Array {
  const out = new Uint8Array(data.length);
  const n = data.length;
  if (key.length === 1) {
    const k = key[0];
    for (let i = 0; i < n; i++) out[i] = data[i] ^ k;
    return out;
  }
  const m = key.length;
  for (let i = 0, j = 0; i < n; i++) {
    out[i] = data[i] ^ key[j];
    if (++j === m) j = 0;
  }
  return out;
}
