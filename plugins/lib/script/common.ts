/**
 * What the script analyzers (html, javascript, powershell, vbscript, batch) share: reading a
 * payload as text, bounded lists and counters, children under a byte budget, findings, and the
 * cheap obfuscation signals of a piece of source text.
 */
import type { Finding, Severity } from "../../../core/engine/plugin.ts";
import { Allowlist, DomainValidator, extractIocs } from "../ioc/extract.ts";
import { decodeBase64 } from "../text/base64.ts";
import { shannon } from "../text/entropy.ts";

/** A child payload an analyzer hands back: content plus its `extra_data`. */
export interface ScriptChild {
  content: Uint8Array;
  extra: Record<string, unknown>;
}

/** What an analyzer returns: results, children and errors (without the plugin's name). */
export interface Analysis {
  results: Record<string, unknown>;
  children: ScriptChild[];
  errors: string[];
}

/** Limits every analyzer takes from its plugin options. */
export interface Limits {
  /** Characters of source analysed; the rest is ignored and `truncated` says so. */
  maxChars: number;
  /** Entries per list (strings, identifiers, links...). */
  maxList: number;
  /** Children per payload. */
  maxChildren: number;
  /** Bytes of all children of one payload together. */
  maxChildBytes: number;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });
const cp1252 = new TextDecoder("windows-1252");
const utf16le = new TextDecoder("utf-16le");
const utf16be = new TextDecoder("utf-16be");

/** How a payload was read as text. */
export interface SourceText {
  text: string;
  encoding: "utf-8" | "windows-1252" | "utf-16le" | "utf-16be";
  /** True when the payload held more than `maxChars` characters and only the start was read. */
  truncated: boolean;
}

/**
 * Reads script bytes as text: UTF-16 by byte order mark, or UTF-16LE without one when most odd
 * bytes of the start are zero (scripts saved by Notepad or PowerShell's Out-File); else UTF-8
 * when valid, else Windows-1252, which maps every byte. At most `maxChars` characters are kept.
 */
export function readSource(bytes: Uint8Array, maxChars: number): SourceText {
  let encoding: SourceText["encoding"];
  let body = bytes;
  if (bytes[0] === 0xff && bytes[1] === 0xfe) [encoding, body] = ["utf-16le", bytes.subarray(2)];
  else if (bytes[0] === 0xfe && bytes[1] === 0xff) {
    [encoding, body] = ["utf-16be", bytes.subarray(2)];
  } else if (looksUtf16le(bytes)) encoding = "utf-16le";
  else {
    if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) body = bytes.subarray(3);
    encoding = "utf-8";
  }
  const wide = encoding === "utf-16le" || encoding === "utf-16be";
  // Cut the bytes first so that a huge payload is never decoded whole.
  const maxBytes = wide ? maxChars * 2 : maxChars * 4;
  let truncated = body.length > maxBytes;
  const part = truncated ? body.subarray(0, maxBytes) : body;
  let text: string;
  if (encoding === "utf-16le") text = utf16le.decode(part);
  else if (encoding === "utf-16be") text = utf16be.decode(part);
  else {
    try {
      text = utf8.decode(part, { stream: truncated });
    } catch {
      encoding = "windows-1252";
      text = cp1252.decode(part);
    }
  }
  if (text.length > maxChars) {
    text = text.slice(0, maxChars);
    truncated = true;
  }
  return { text, encoding, truncated };
}

/** True when `bytes` look like UTF-16LE text: even length and mostly zero odd bytes at the start. */
export function looksUtf16le(bytes: Uint8Array): boolean {
  const n = Math.min(bytes.length, 512) & ~1;
  if (n < 4 || bytes.length % 2 !== 0) return false;
  let zeros = 0;
  for (let i = 1; i < n; i += 2) if (bytes[i] === 0 && bytes[i - 1] !== 0) zeros++;
  return zeros >= (n / 2) * 0.9;
}

/** Counts occurrences by key; `toJSON` gives a plain object in first-seen order. */
export class Counter {
  readonly counts = new Map<string, number>();
  add(key: string, n = 1): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + n);
  }
  get(key: string): number {
    return this.counts.get(key) ?? 0;
  }
  has(key: string): boolean {
    return this.counts.has(key);
  }
  toJSON(): Record<string, number> {
    return Object.fromEntries(this.counts);
  }
}

/** A list of distinct values that stops growing at `max`; `total` counts every value added. */
export class CappedSet {
  readonly values = new Set<string>();
  total = 0;
  truncated = false;
  constructor(readonly max: number) {}
  add(value: string): void {
    this.total++;
    if (this.values.has(value)) return;
    if (this.values.size >= this.max) this.truncated = true;
    else this.values.add(value);
  }
  /** `{count, unique, values, truncated?}`: how many, how many distinct kept, and the values. */
  summary(): Record<string, unknown> {
    const out: Record<string, unknown> = {
      count: this.total,
      values: [...this.values],
    };
    if (this.truncated) out.truncated = true;
    return out;
  }
}

/** A list that stops growing at `max` and says so. */
export class CappedList<T> {
  readonly items: T[] = [];
  truncated = false;
  constructor(readonly max: number) {}
  push(item: T): boolean {
    if (this.items.length >= this.max) {
      this.truncated = true;
      return false;
    }
    this.items.push(item);
    return true;
  }
}

/** Children of one payload, de-duplicated by content, within a count and a byte budget. */
export class Children {
  readonly list: ScriptChild[] = [];
  /** Children left out because a limit was reached. */
  dropped = 0;
  private bytes = 0;
  private readonly seen = new Set<string>();
  constructor(private readonly limits: Pick<Limits, "maxChildren" | "maxChildBytes">) {}
  /** Adds a child unless it repeats one or breaks a limit; returns whether it was added. */
  add(content: Uint8Array | string, extra: Record<string, unknown>): boolean {
    const bytes = typeof content === "string" ? new TextEncoder().encode(content) : content;
    if (bytes.length === 0) return false;
    const key = `${bytes.length}:${quickHash(bytes)}`;
    if (this.seen.has(key)) return false;
    if (
      this.list.length >= this.limits.maxChildren ||
      this.bytes + bytes.length > this.limits.maxChildBytes
    ) {
      this.dropped++;
      return false;
    }
    this.seen.add(key);
    this.bytes += bytes.length;
    this.list.push({ content: bytes, extra });
    return true;
  }
  /** The error to report when children were left out, or undefined. */
  error(): string | undefined {
    if (this.dropped === 0) return undefined;
    return `${this.dropped} more children left out (limits: ${this.limits.maxChildren} ` +
      `children, ${this.limits.maxChildBytes} bytes; raise max_children or max_child_bytes)`;
  }
}

/** FNV-1a over the bytes: enough to tell children apart (equal length and hash ⇒ duplicate). */
function quickHash(bytes: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i], 0x01000193);
  return h >>> 0;
}

/** A finding, with `mitre` only when given. */
export function finding(
  id: string,
  severity: Severity,
  title: string,
  detail: string,
  mitre?: string[],
): Finding {
  return mitre ? { id, severity, title, detail, mitre } : { id, severity, title, detail };
}

/** Shannon entropy of a string's UTF-8 bytes, in bits per byte. */
export function stringEntropy(s: string): number {
  return shannon(new TextEncoder().encode(s));
}

/** `s` cut to `max` characters with an ellipsis, for lists an analyst reads. */
export function clip(s: string, max = 200): string {
  return s.length <= max ? s : `${s.slice(0, max)}…`;
}

const BASE64_TEXT = /^[A-Za-z0-9+/\r\n]+={0,2}$/;

/**
 * Decodes `s` when it is base64 of at least `minLength` characters (standard alphabet, padding
 * optional, line breaks allowed) and decodes cleanly; otherwise undefined.
 */
export function base64Blob(s: string, minLength: number): Uint8Array | undefined {
  if (s.length < minLength || !BASE64_TEXT.test(s)) return undefined;
  const bytes = decodeBase64(new TextEncoder().encode(s));
  return typeof bytes === "string" || bytes.length === 0 ? undefined : bytes;
}

/** UTF-16LE bytes as text when they hold text, else undefined. */
export function utf16leText(bytes: Uint8Array): string | undefined {
  return looksUtf16le(bytes) ? utf16le.decode(bytes) : undefined;
}

/** Cheap, parser-free signals that a piece of source text is obfuscated. */
export interface ObfuscationSignals {
  /** `\xNN` escapes. */
  hex_escapes: number;
  /** `\uNNNN` and `\u{...}` escapes. */
  unicode_escapes: number;
  /** `%uNNNN` and `%NN` escapes (JavaScript `unescape` input). */
  percent_escapes: number;
  /** Longest line, in characters. */
  longest_line: number;
  /** Shannon entropy of the text's bytes. */
  entropy: number;
}

/** The signals of `text`, each a linear pass. */
export function obfuscationSignals(text: string): ObfuscationSignals {
  let longest = 0;
  let start = 0;
  for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", start)) {
    longest = Math.max(longest, i - start);
    start = i + 1;
  }
  longest = Math.max(longest, text.length - start);
  return {
    hex_escapes: count(text, /\\x[0-9A-Fa-f]{2}/g),
    unicode_escapes: count(text, /\\u(?:[0-9A-Fa-f]{4}|\{[0-9A-Fa-f]{1,6}\})/g),
    percent_escapes: count(text, /%(?:u[0-9A-Fa-f]{4}|[0-9A-Fa-f]{2})/g),
    longest_line: longest,
    entropy: round(stringEntropy(text)),
  };
}

/** Whether the signals say "obfuscated": many escapes for the size, or one very long line. */
export function looksObfuscated(s: ObfuscationSignals, size: number): string[] {
  const why: string[] = [];
  const escapes = s.hex_escapes + s.unicode_escapes + s.percent_escapes;
  if (escapes >= 20 && escapes * 4 >= size * 0.25) why.push(`${escapes} escape sequences`);
  if (s.longest_line >= 2000) why.push(`a line of ${s.longest_line} characters`);
  return why;
}

function count(text: string, re: RegExp): number {
  let n = 0;
  for (const _ of text.matchAll(re)) n++;
  return n;
}

/** `x` rounded to 3 decimals, for JSON an analyst reads. */
export function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

const domains = new DomainValidator();
const noAllowlist = new Allowlist();

/** The URLs in `text` (the iocextract engine: re-validated hosts), de-duplicated, at most `max`. */
export function findUrls(text: string, max: number): { values: string[]; truncated: boolean } {
  const { results, capped } = extractIocs(text, {
    types: ["url"],
    maxPerType: max,
    allowlist: noAllowlist,
    domains,
  });
  return { values: results.url ?? [], truncated: capped.length > 0 };
}

/** An analyzer's outcome as a worker response: results, children and errors. */
export function toResponse(
  plugin: string,
  source: SourceText,
  analysis: Analysis,
) {
  const results: Record<string, unknown> = { size: source.text.length, ...analysis.results };
  if (source.encoding !== "utf-8") results.encoding = source.encoding;
  const errors = analysis.errors.map((e) => `${plugin}: ${e}`);
  if (source.truncated) {
    results.truncated = true;
    errors.push(
      `${plugin}: only the first ${source.text.length} characters were analysed (max_chars)`,
    );
  }
  return {
    results,
    extracted: analysis.children.map((c) => ({
      content: c.content,
      payload_meta: { extra_data: c.extra },
    })),
    errors,
  };
}
