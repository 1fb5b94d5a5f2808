/**
 * Embedded objects of RTF documents: the hex data of every `\objdata` destination (RTF 1.9.1,
 * "Objects"), with the `\objclass` and the object kind (`\objemb`, `\objlink`, `\objocx`...) of the
 * enclosing `\object` group. Read the way Word reads it, which is how malware hides objects from
 * naive parsers (the tricks rtfobj documents): whitespace, junk and control words inside the hex
 * are skipped, an odd final digit is dropped, `\bin N` splices N raw bytes, `\'hh` inside the
 * data is ignored, groups nest arbitrarily deep and a missing closing brace ends at end of file.
 * Linear in the input; group depth, object count and decoded bytes are capped.
 */

/** One `\objdata` destination. */
export interface RtfObject {
  /** Offset of the `\objdata` control word in the RTF. */
  offset: number;
  data: Uint8Array;
  /** From the enclosing `\object` group's `\*\objclass`, when present. */
  class_name?: string;
  /** embedded, link, autolink, ocx, subscriber, publisher, icemb, html (from `\obj...`). */
  kind?: string;
  /** `\objupdate`: Word refreshes (loads) the object when the document opens. */
  update?: boolean;
  /** Non-hex characters skipped inside the data (obfuscation sign when large). */
  junk: number;
  /** The data ended without its closing brace (end of file). */
  unterminated?: boolean;
}

/** What was found. */
export interface RtfScan {
  objects: RtfObject[];
  max_depth: number;
  truncated: boolean;
}

const KINDS: Record<string, string> = {
  objemb: "embedded",
  objlink: "link",
  objautlink: "autolink",
  objsub: "subscriber",
  objpub: "publisher",
  objicemb: "icemb",
  objhtml: "html",
  objocx: "ocx",
};

const HEX = new Int8Array(256).fill(-1);
for (let i = 0; i < 10; i++) HEX[0x30 + i] = i;
for (let i = 0; i < 6; i++) HEX[0x41 + i] = HEX[0x61 + i] = 10 + i;

interface ObjectState {
  kind?: string;
  class_name?: string;
  update?: boolean;
}

interface Group {
  /** Index into `objects` of the \objdata this group collects, or -1. */
  objdata: number;
  /** This group is an \object group (its state is read by nested \objdata and \objclass). */
  object?: ObjectState;
  objclass: boolean;
}

/** Scans an RTF document for `\objdata` destinations. */
export function scanRtf(
  rtf: Uint8Array,
  limits: { maxObjects: number; maxBytes: number; maxDepth: number },
): RtfScan {
  const objects: RtfObject[] = [];
  const buffers: ByteBuf[] = [];
  const objClassLink = new Map<number, ObjectState>();
  const stack: Group[] = [{ objdata: -1, objclass: false }];
  let maxDepth = 0, total = 0, truncated = false;
  let classText = "";
  const top = () => stack[stack.length - 1];
  const currentObject = () => {
    for (let i = stack.length - 1; i >= 0; i--) if (stack[i].object) return stack[i].object;
    return undefined;
  };
  const finish = (idx: number, unterminated: boolean) => {
    const buf = buffers[idx];
    objects[idx].data = buf.bytes();
    if (unterminated) objects[idx].unterminated = true;
  };
  const n = rtf.length;
  let i = 0;
  while (i < n) {
    const c = rtf[i];
    if (c === 0x7b) { // {
      i++;
      // Beyond the depth cap groups are not tracked; they inherit the current state.
      if (stack.length < limits.maxDepth) {
        const t = top();
        stack.push({ objdata: t.objdata, objclass: t.objclass });
        maxDepth = Math.max(maxDepth, stack.length - 1);
      } else truncated = true;
      continue;
    }
    if (c === 0x7d) { // }
      i++;
      if (stack.length > 1) {
        const g = stack.pop()!;
        if (g.objclass && !top().objclass) {
          const obj = currentObject();
          if (obj && obj.class_name === undefined) obj.class_name = classText.trim();
          classText = "";
        }
        if (g.objdata >= 0 && top().objdata !== g.objdata) finish(g.objdata, false);
      }
      continue;
    }
    if (c === 0x5c) { // backslash: control word or symbol
      const start = i;
      i++;
      if (i >= n) break;
      const d = rtf[i];
      if (!isAlpha(d)) {
        // Control symbol: \'hh is a hex escape (skipped inside object data, as Word does).
        i += d === 0x27 ? 3 : 1;
        continue;
      }
      let j = i;
      while (j < n && j - i < 64 && isAlpha(rtf[j])) j++;
      // Only \bin, \object and \obj... matter: other words are not turned into strings.
      const word = d === 0x62 || d === 0x6f ? String.fromCharCode(...rtf.subarray(i, j)) : "";
      let k = j, neg = false;
      if (k < n && rtf[k] === 0x2d) {
        neg = true;
        k++;
      }
      let num = -1, digits = 0;
      while (k < n && digits < 10 && rtf[k] >= 0x30 && rtf[k] <= 0x39) {
        num = (num < 0 ? 0 : num * 10) + rtf[k] - 0x30;
        k++;
        digits++;
      }
      if (k < n && rtf[k] === 0x20) k++; // the delimiting space belongs to the control word
      i = k;
      if (neg && num >= 0) num = -num;
      const g = top();
      if (word === "bin" && num > 0) {
        const len = Math.min(num, n - i);
        if (g.objdata >= 0) {
          const buf = buffers[g.objdata];
          for (let b = 0; b < len && total < limits.maxBytes; b++, total++) buf.push(rtf[i + b]);
        }
        i += len;
        continue;
      }
      if (word === "object") {
        g.object = {};
      } else if (KINDS[word]) {
        const obj = currentObject();
        if (obj) obj.kind ??= KINDS[word];
      } else if (word === "objupdate") {
        const obj = currentObject();
        if (obj) obj.update = true;
      } else if (word === "objclass") {
        g.objclass = true;
        classText = "";
      } else if (word === "objdata") {
        if (objects.length >= limits.maxObjects) {
          truncated = true;
          continue;
        }
        const obj = currentObject();
        objects.push({
          offset: start,
          data: new Uint8Array(0),
          class_name: obj?.class_name,
          kind: obj?.kind,
          junk: 0,
        });
        buffers.push(new ByteBuf());
        g.objdata = objects.length - 1;
        // \objdata inside an \object whose \objclass comes later: link them when the group ends.
        if (obj) objClassLink.set(g.objdata, obj);
      }
      continue;
    }
    const g = top();
    if (g.objdata >= 0) {
      // A run of object data up to the next brace or backslash, decoded straight into the buffer.
      const buf = buffers[g.objdata];
      let end = i;
      while (end < n && rtf[end] !== 0x7b && rtf[end] !== 0x7d && rtf[end] !== 0x5c) end++;
      const room = Math.max(0, Math.min((end - i + 1) >> 1, limits.maxBytes - total));
      const bytes = buf.reserve(room);
      let len = buf.length, nibble = buf.nibble, junk = 0;
      const stop = len + room;
      for (; i < end; i++) {
        const b = rtf[i];
        const v = HEX[b];
        if (v < 0) {
          if (b !== 0x20 && b !== 0x0a && b !== 0x0d && b !== 0x09) junk++;
        } else if (nibble < 0) nibble = v;
        else {
          if (len < stop) bytes[len++] = (nibble << 4) | v;
          else truncated = true;
          nibble = -1;
        }
      }
      total += len - buf.length;
      buf.length = len;
      buf.nibble = nibble;
      objects[g.objdata].junk += junk;
      continue;
    }
    if (g.objclass) {
      if (classText.length < 256) classText += String.fromCharCode(c);
      i++;
      continue;
    }
    // Plain text: nothing to collect until the next brace or backslash.
    i++;
    while (i < n) {
      const b = rtf[i];
      if (b === 0x7b || b === 0x7d || b === 0x5c) break;
      i++;
    }
  }
  // Missing closing braces: whatever is still open ends at end of file.
  for (let s = stack.length - 1; s >= 0; s--) {
    const idx = stack[s].objdata;
    if (idx >= 0 && (s === 0 || stack[s - 1].objdata !== idx)) finish(idx, true);
  }
  for (const [idx, obj] of objClassLink) {
    if (objects[idx] && objects[idx].class_name === undefined && obj.class_name) {
      objects[idx].class_name = obj.class_name;
    }
    if (objects[idx] && objects[idx].kind === undefined && obj.kind) objects[idx].kind = obj.kind;
    if (objects[idx] && obj.update) objects[idx].update = true;
  }
  return { objects, max_depth: maxDepth, truncated };
}

/** A growable byte buffer (a number[] would take 8 bytes per byte). */
class ByteBuf {
  private buf = new Uint8Array(256);
  length = 0;
  nibble = -1;
  /** Makes room for `n` more bytes and returns the backing array to write them into. */
  reserve(n: number): Uint8Array {
    if (this.length + n > this.buf.length) {
      const next = new Uint8Array(Math.max(this.buf.length * 2, this.length + n));
      next.set(this.buf.subarray(0, this.length));
      this.buf = next;
    }
    return this.buf;
  }
  push(b: number) {
    if (this.length === this.buf.length) {
      const next = new Uint8Array(this.buf.length * 2);
      next.set(this.buf);
      this.buf = next;
    }
    this.buf[this.length++] = b;
  }
  bytes(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

function isAlpha(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a);
}
