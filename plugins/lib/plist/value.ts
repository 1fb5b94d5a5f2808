/** The value model shared by the XML and binary plist readers, and its JSON form. */

/** A plist value: dates, data and UIDs are tagged objects until {@link toJson}. */
export type PlistValue =
  | string
  | number
  | boolean
  | null
  | PlistValue[]
  | { $date: string }
  | { $data: Uint8Array; size: number }
  | { $uid: number }
  | { [key: string]: PlistValue };

/** Caps that keep a hostile plist bounded. */
export interface PlistLimits {
  /** Objects visited in all (shared references count each time). */
  maxObjects: number;
  maxDepth: number;
  /** Characters kept of a string. */
  maxString: number;
  /** Bytes kept of a data value. */
  maxData: number;
}

/** A malformed plist: what is wrong and the byte offset (binary) or line (XML) where. */
export class PlistError extends Error {
  constructor(message: string, readonly at: number) {
    super(message);
  }
}

const isTagged = (v: object, tag: string): boolean => Object.hasOwn(v, tag);

/**
 * The JSON form: dates as ISO 8601 strings, data as `{base64, size}` (the first maxData bytes),
 * UIDs as `{uid}`.
 */
export function toJson(v: PlistValue): unknown {
  if (v === null || typeof v !== "object") return v;
  if (Array.isArray(v)) return v.map(toJson);
  if (isTagged(v, "$date")) return (v as { $date: string }).$date;
  if (isTagged(v, "$data")) {
    const d = v as { $data: Uint8Array; size: number };
    return { base64: btoa(String.fromCharCode(...d.$data)), size: d.size };
  }
  if (isTagged(v, "$uid")) return { uid: (v as { $uid: number }).$uid };
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = toJson(x as PlistValue);
  return out;
}
