/**
 * XML property lists (Apple's PropertyList-1.0 DTD: plist, dict/key, array, string, integer,
 * real, true, false, date, data), read with the shared XML reader (lib/xml/parser.ts) (no entity is expanded).
 */
import { parseXml } from "../xml/parser.ts";
import { PlistError, type PlistLimits, type PlistValue } from "./value.ts";

interface Frame {
  kind: "dict" | "array" | "plist";
  value: PlistValue[] | Record<string, PlistValue>;
  key?: string;
}

const SCALARS = new Set(["string", "integer", "real", "date", "data", "key", "true", "false"]);

/** Parses an XML plist's text; throws {@link PlistError} (with the line) when it is malformed. */
export async function parseXmlPlist(text: string, limits: PlistLimits): Promise<PlistValue> {
  const stack: Frame[] = [];
  let result: PlistValue | undefined;
  let sawPlist = false;
  let scalar: string | null = null;
  let buf = "";
  // Characters of the current element's text, including those beyond what buf keeps.
  let total = 0;
  let count = 0;
  let problem: string | null = null;

  const place = (v: PlistValue) => {
    const top = stack[stack.length - 1];
    if (!top) return;
    if (top.kind === "dict") {
      if (top.key === undefined) {
        problem ??= "a dict value without a key";
        return;
      }
      (top.value as Record<string, PlistValue>)[top.key] = v;
      top.key = undefined;
    } else if (top.kind === "array") (top.value as PlistValue[]).push(v);
    else if (result === undefined) result = v;
  };

  const outcome = await parseXml(text, {
    open(tag) {
      const name = tag.name;
      if (problem) return;
      if (++count > limits.maxObjects) {
        problem = `more than ${limits.maxObjects} objects`;
        return;
      }
      if (stack.length > limits.maxDepth) {
        problem = `nested deeper than ${limits.maxDepth}`;
        return;
      }
      if (name === "plist") {
        sawPlist = true;
        stack.push({ kind: "plist", value: [] });
      } else if (name === "dict") stack.push({ kind: "dict", value: {} });
      else if (name === "array") stack.push({ kind: "array", value: [] });
      else if (SCALARS.has(name)) {
        scalar = name;
        buf = "";
        total = 0;
      }
    },
    text(t) {
      if (scalar === null) return;
      total += t.replace(/\s+/g, "").length;
      if (buf.length < limits.maxString * 2) buf += t;
    },
    cdata(t) {
      if (scalar === null) return;
      total += t.length;
      if (buf.length < limits.maxString * 2) buf += t;
    },
    close(name) {
      if (problem) return;
      if (name === "dict" || name === "array" || name === "plist") {
        const frame = stack.pop();
        if (frame && frame.kind !== "plist") place(frame.value as PlistValue);
        return;
      }
      if (scalar !== name) return;
      scalar = null;
      const top = stack[stack.length - 1];
      switch (name) {
        case "key":
          if (top?.kind === "dict") top.key = buf;
          return;
        case "string":
          return place(buf.length > limits.maxString ? `${buf.slice(0, limits.maxString)}…` : buf);
        case "integer": {
          const n = Number(buf.trim());
          return place(Number.isSafeInteger(n) ? n : buf.trim());
        }
        case "real":
          return place(Number(buf.trim()));
        case "true":
          return place(true);
        case "false":
          return place(false);
        case "date": {
          const d = new Date(buf.trim());
          return place({
            $date: Number.isFinite(d.getTime())
              ? d.toISOString().replace(".000Z", "Z")
              : buf.trim(),
          });
        }
        case "data": {
          const clean = buf.replace(/[^A-Za-z0-9+/]/g, "");
          const padding = /==\s*$/.test(buf) ? 2 : /=\s*$/.test(buf) ? 1 : 0;
          const size = Math.max(0, Math.floor(total * 3 / 4) - padding);
          const keep = clean.slice(0, Math.ceil(limits.maxData / 3) * 4);
          let bytes = new Uint8Array();
          try {
            bytes = Uint8Array.from(
              atob(keep.padEnd(Math.ceil(keep.length / 4) * 4, "=")),
              (c) => c.charCodeAt(0),
            );
          } catch {
            problem ??= "a data element that is not base64";
          }
          return place({ $data: bytes.subarray(0, limits.maxData), size });
        }
      }
    },
  });
  if (problem) throw new PlistError(problem, 0);
  if (!sawPlist) throw new PlistError("no <plist> element", 0);
  if (result === undefined) {
    const e = outcome.errors[0];
    throw new PlistError(e ? `no value: ${e.message}` : "the plist holds no value", e?.line ?? 0);
  }
  return result;
}
