/**
 * A tolerant reader of PDF object syntax (ISO 32000-2 §7.2-7.3): numbers, strings, names, arrays,
 * dictionaries and indirect references, straight from the file's bytes.
 *
 * Hand-written because the analysis needs what the npm PDF readers hide or refuse: the names as
 * they were spelled (`/J#61vaScript`, see pdfid), objects that the cross-reference table does
 * not list, and a partial value from a broken object instead of an exception. Parsing stops at a
 * keyword that cannot be part of a value (`endobj`, `obj`, `stream`...), so a broken object never
 * swallows the next one; nesting deeper than `MAX_DEPTH` is skipped, not recursed into. Every
 * loop advances through `buf` and stops at `end`, so a parse is linear in the bytes it reads.
 */

/** An indirect reference `num gen R`. */
export class PdfRef {
  constructor(readonly num: number, readonly gen: number) {}
  /** `12 0 R`, as PDF writes it. */
  toString(): string {
    return `${this.num} ${this.gen} R`;
  }
}

/** A literal `(...)` or hexadecimal `<...>` string: bytes, which encryption may replace. */
export class PdfString {
  constructor(public bytes: Uint8Array, readonly hex: boolean) {}
}

/** A bare keyword where a value was expected (`endobj`, `stream`, `R`, garbage...). */
export class PdfKeyword {
  constructor(readonly word: string) {}
}

/** A dictionary: keys are names with their leading slash (`/Type`). */
export type PdfDict = Map<string, PdfValue>;

/** A PDF value. A JS string is always a name (`/Page`), never a PDF string. */
export type PdfValue =
  | null
  | boolean
  | number
  | string
  | PdfString
  | PdfRef
  | PdfValue[]
  | PdfDict;

/** Deeper arrays and dictionaries are skipped (their tokens read, their values dropped). */
export const MAX_DEPTH = 64;

// Byte classes (§7.2.3): 1 = white-space, 2 = delimiter.
const CLASS = new Uint8Array(256);
for (const b of [0x00, 0x09, 0x0a, 0x0c, 0x0d, 0x20]) CLASS[b] = 1;
for (const c of "()<>[]{}/%") CLASS[c.charCodeAt(0)] = 2;

/** True for PDF white-space bytes. */
export function isWhite(b: number): boolean {
  return CLASS[b] === 1;
}

/** True for bytes that end a regular token (white-space, delimiters) or the end of data. */
export function isBoundary(b: number | undefined): boolean {
  return b === undefined || CLASS[b] !== 0;
}

// Literal-string escapes (§7.3.4.2) other than octal digits and line continuations.
const ESCAPES: Record<number, number> = {
  0x6e: 0x0a,
  0x72: 0x0d,
  0x74: 0x09,
  0x62: 0x08,
  0x66: 0x0c,
};

const HEX = new Int8Array(256).fill(-1);
for (let i = 0; i < 16; i++) {
  HEX["0123456789abcdef".charCodeAt(i)] = i;
  HEX["0123456789ABCDEF".charCodeAt(i)] = i;
}

/** The value of a hex digit byte, or -1. */
export function hexValue(b: number): number {
  return HEX[b];
}

const KEYWORDS = new Map<string, PdfKeyword>();
function keyword(word: string): PdfKeyword {
  let k = KEYWORDS.get(word);
  if (!k) {
    k = new PdfKeyword(word);
    if (KEYWORDS.size < 64) KEYWORDS.set(word, k);
  }
  return k;
}

/** Reads PDF tokens and values from `buf[pos, end)`. */
export class Lexer {
  /** Set when a value was cut short (unterminated array, dictionary or string, too deep). */
  broken = false;

  constructor(
    readonly buf: Uint8Array,
    public pos: number,
    public end: number = buf.length,
  ) {}

  /** Skips white-space and comments. */
  skipWhite(): void {
    const { buf, end } = this;
    let p = this.pos;
    while (p < end) {
      const b = buf[p];
      if (CLASS[b] === 1) p++;
      else if (b === 0x25) { // % comment to end of line
        while (p < end && buf[p] !== 0x0a && buf[p] !== 0x0d) p++;
      } else break;
    }
    this.pos = p;
  }

  /** Reads a non-negative integer at the current position (no sign, no dot), or returns -1. */
  readUint(): number {
    const { buf, end } = this;
    let p = this.pos;
    let n = 0;
    const start = p;
    while (p < end && buf[p] >= 0x30 && buf[p] <= 0x39 && p - start < 15) {
      n = n * 10 + buf[p] - 0x30;
      p++;
    }
    if (p === start || !isBoundary(p < end ? buf[p] : undefined)) return -1;
    this.pos = p;
    return n;
  }

  /** Reads a regular token (keyword or garbage) as text. */
  private readWord(): string {
    const { buf, end } = this;
    const start = this.pos;
    let p = start;
    while (p < end && CLASS[buf[p]] === 0 && p - start < 64) p++;
    if (p === start) p++; // a stray delimiter such as ')' or '}'
    this.pos = p;
    return latin1(buf, start, p);
  }

  /**
   * Reads one value. Returns a {@link PdfKeyword} for a keyword that is not a value, and
   * `undefined` at the end of the data.
   */
  value(depth = 0): PdfValue | PdfKeyword | undefined {
    this.skipWhite();
    const { buf, end } = this;
    if (this.pos >= end) return undefined;
    const b = buf[this.pos];
    if ((b >= 0x30 && b <= 0x39) || b === 0x2b || b === 0x2d || b === 0x2e) {
      return this.numberOrRef();
    }
    switch (b) {
      case 0x2f: // /
        return this.name();
      case 0x28: // (
        return this.literalString();
      case 0x3c: // < or <<
        if (buf[this.pos + 1] === 0x3c) return this.dict(depth);
        return this.hexString();
      case 0x5b: // [
        return this.array(depth);
      case 0x3e: // a stray '>>' or '>'
        this.pos += buf[this.pos + 1] === 0x3e ? 2 : 1;
        return keyword(">>");
      case 0x5d:
        this.pos++;
        return keyword("]");
    }
    const word = this.readWord();
    if (word === "true") return true;
    if (word === "false") return false;
    if (word === "null") return null;
    return keyword(word);
  }

  private numberOrRef(): number | PdfRef {
    const { buf, end } = this;
    const start = this.pos;
    let p = start;
    let sign = 1;
    // Writers emit "--5" and "+-5"; readers take the last sign (pdf.js does the same).
    while (p < end && (buf[p] === 0x2b || buf[p] === 0x2d)) {
      sign = buf[p] === 0x2d ? -1 : 1;
      p++;
    }
    let int = 0;
    let frac = 0;
    let scale = 1;
    let dot = false;
    let digits = 0;
    while (p < end && p - start < 40) {
      const c = buf[p];
      if (c >= 0x30 && c <= 0x39) {
        if (dot) {
          if (scale < 1e15) {
            frac = frac * 10 + c - 0x30;
            scale *= 10;
          }
        } else int = int * 10 + c - 0x30;
        digits++;
      } else if (c === 0x2e && !dot) dot = true;
      else break; // "1.2.3" and "5-" are read up to the junk
      p++;
    }
    // Skip the rest of a malformed number token so the next read starts at a boundary.
    while (p < end && CLASS[buf[p]] === 0 && p - start < 64) p++;
    this.pos = p;
    if (digits === 0) return 0;
    const n = sign * (int + frac / scale);
    if (dot || sign < 0 || int > 0x7fffffff) return n;
    // `num gen R`?
    const save = this.pos;
    this.skipWhite();
    const gen = this.readUint();
    if (gen >= 0 && gen <= 65535) {
      this.skipWhite();
      if (
        buf[this.pos] === 0x52 && isBoundary(this.pos + 1 < end ? buf[this.pos + 1] : undefined)
      ) {
        this.pos++;
        return new PdfRef(int, gen);
      }
    }
    this.pos = save;
    return n;
  }

  private name(): string {
    const { buf, end } = this;
    const start = ++this.pos;
    let p = start;
    let escaped = false;
    while (p < end && CLASS[buf[p]] === 0) {
      if (buf[p] === 0x23) escaped = true;
      p++;
    }
    this.pos = p;
    const raw = "/" + latin1(buf, start, p);
    return escaped ? decodeName(raw) : raw;
  }

  private literalString(): PdfString {
    const { buf, end } = this;
    const start = ++this.pos;
    // Fast path: no escapes and no CR, so the bytes are the string.
    let p = start;
    let nest = 1;
    let simple = true;
    while (p < end) {
      const c = buf[p];
      if (c === 0x5c || c === 0x0d) {
        simple = false;
        break;
      }
      if (c === 0x28) nest++;
      else if (c === 0x29 && --nest === 0) break;
      p++;
    }
    if (simple) {
      if (p >= end) this.broken = true;
      this.pos = Math.min(p + 1, end);
      return new PdfString(buf.subarray(start, p), false);
    }
    // Find the closing parenthesis first: the string is no longer than the bytes up to it.
    let close = p;
    while (close < end) {
      const c = buf[close];
      if (c === 0x5c) close++;
      else if (c === 0x28) nest++;
      else if (c === 0x29 && --nest === 0) break;
      close++;
    }
    const out = new Uint8Array(Math.min(close, end) - start);
    let n = 0;
    p = start;
    nest = 1;
    while (p < end) {
      let c = buf[p++];
      if (c === 0x28) nest++;
      else if (c === 0x29) {
        if (--nest === 0) break;
      } else if (c === 0x0d) { // an unescaped EOL is a line feed (§7.3.4.2)
        if (buf[p] === 0x0a) p++;
        c = 0x0a;
      } else if (c === 0x5c && p < end) {
        c = buf[p++];
        if (c === 0x0d || c === 0x0a) { // a line continuation
          if (c === 0x0d && buf[p] === 0x0a) p++;
          continue;
        }
        if (c >= 0x30 && c <= 0x37) {
          let v = c - 0x30;
          for (let k = 0; k < 2 && p < end && buf[p] >= 0x30 && buf[p] <= 0x37; k++) {
            v = v * 8 + buf[p++] - 0x30;
          }
          c = v & 0xff;
        } else c = ESCAPES[c] ?? c; // \n \r \t \b \f; any other character stands for itself
      }
      out[n++] = c;
    }
    if (nest !== 0) this.broken = true;
    this.pos = p;
    return new PdfString(out.slice(0, n), false);
  }

  private hexString(): PdfString {
    const { buf, end } = this;
    const start = ++this.pos;
    let close = buf.indexOf(0x3e, start);
    if (close < 0 || close > end) {
      close = end;
      this.broken = true;
    }
    const out = new Uint8Array((close - start + 1) >> 1);
    let n = 0;
    let hi = -1;
    for (let p = start; p < close; p++) {
      const v = HEX[buf[p]];
      if (v < 0) continue; // white-space, and junk that readers skip too
      if (hi < 0) hi = v;
      else {
        out[n++] = hi * 16 + v;
        hi = -1;
      }
    }
    if (hi >= 0) out[n++] = hi * 16;
    this.pos = Math.min(close + 1, end);
    return new PdfString(out.subarray(0, n), true);
  }

  private array(depth: number): PdfValue[] {
    this.pos++;
    const items: PdfValue[] = [];
    for (;;) {
      this.skipWhite();
      if (this.pos >= this.end) {
        this.broken = true;
        return items;
      }
      if (this.buf[this.pos] === 0x5d) {
        this.pos++;
        return items;
      }
      if (depth >= MAX_DEPTH) {
        this.skipNested();
        return items;
      }
      const save = this.pos;
      const v = this.value(depth + 1);
      if (v instanceof PdfKeyword) {
        if (v.word === ">>") continue; // junk inside an array
        if (stops(v.word)) {
          this.pos = save;
          this.broken = true;
          return items;
        }
        continue;
      }
      if (v === undefined) return items;
      items.push(v);
    }
  }

  private dict(depth: number): PdfDict {
    this.pos += 2;
    const map: PdfDict = new Map();
    for (;;) {
      this.skipWhite();
      const { buf } = this;
      if (this.pos >= this.end) {
        this.broken = true;
        return map;
      }
      if (buf[this.pos] === 0x3e && buf[this.pos + 1] === 0x3e) {
        this.pos += 2;
        return map;
      }
      if (depth >= MAX_DEPTH) {
        this.skipNested();
        return map;
      }
      const save = this.pos;
      const key = buf[this.pos] === 0x2f ? this.name() : this.value(depth + 1);
      if (typeof key !== "string") {
        // Not a name where a key belongs: skip it, unless it ends the object.
        if (key instanceof PdfKeyword && stops(key.word)) {
          this.pos = save;
          this.broken = true;
          return map;
        }
        if (key === undefined) return map;
        continue;
      }
      this.skipWhite();
      if (buf[this.pos] === 0x3e && buf[this.pos + 1] === 0x3e) {
        map.set(key, null);
        continue;
      }
      const at = this.pos;
      const v = this.value(depth + 1);
      if (v instanceof PdfKeyword) {
        if (stops(v.word)) {
          this.pos = at;
          map.set(key, null);
          this.broken = true;
          return map;
        }
        map.set(key, null);
        continue;
      }
      if (v === undefined) {
        map.set(key, null);
        return map;
      }
      map.set(key, v);
    }
  }

  /** Skips a too-deep array or dictionary by counting brackets, without building values. */
  private skipNested(): void {
    this.broken = true;
    let level = 1;
    const { buf, end } = this;
    while (this.pos < end && level > 0) {
      const c = buf[this.pos];
      if (c === 0x28) {
        this.literalString();
        continue;
      }
      if (c === 0x5b) level++;
      else if (c === 0x5d) level--;
      else if (c === 0x3c && buf[this.pos + 1] === 0x3c) {
        level++;
        this.pos++;
      } else if (c === 0x3e && buf[this.pos + 1] === 0x3e) {
        level--;
        this.pos++;
      }
      this.pos++;
    }
  }
}

// Keywords that cannot occur inside a value: the value ends there.
function stops(word: string): boolean {
  return word === "endobj" || word === "obj" || word === "stream" || word === "endstream" ||
    word === "xref" || word === "trailer" || word === "startxref";
}

/** A name with its `#xx` escapes decoded (`/J#61vaScript` → `/JavaScript`). */
export function decodeName(raw: string): string {
  return raw.replace(/#([0-9A-Fa-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
}

/** Bytes as a string of the same length, one character per byte. */
export function latin1(buf: Uint8Array, start: number, end: number): string {
  let s = "";
  if (end - start <= 32) { // names and short strings: cheaper than a call through apply
    for (let i = start; i < end; i++) s += String.fromCharCode(buf[i]);
    return s;
  }
  for (let i = start; i < end; i += 8192) {
    const part = buf.subarray(i, Math.min(end, i + 8192));
    s += String.fromCharCode.apply(null, part as unknown as number[]);
  }
  return s;
}

/** A dictionary's entry if it is a name. */
export function nameOf(d: PdfDict | undefined, key: string): string | undefined {
  const v = d?.get(key);
  return typeof v === "string" ? v : undefined;
}

/** True for a dictionary value. */
export function isDict(v: unknown): v is PdfDict {
  return v instanceof Map;
}
