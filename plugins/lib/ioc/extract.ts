/**
 * The IOC engine behind the `iocextract` worker: re-fanging, candidate finding, validation (public
 * suffix list via tldts, IP syntax via ipaddr.js) and the allowlist. Every regex here is built so
 * that the engine never backtracks more than a constant or one token's length, which keeps a scan
 * linear in the size of the text.
 */
import ipaddr from "ipaddr.js";
import { parse as parseHost } from "tldts";
import { IOC_TYPES, type IocType } from "./types.ts";
import { findStrings } from "../text/strings.ts";

export { IOC_TYPES, type IocType };

const HASH_BY_LENGTH: Record<number, IocType> = {
  32: "md5",
  40: "sha1",
  64: "sha256",
  128: "sha512",
};

// --- text ----------------------------------------------------------------------------------------

const utf8 = new TextDecoder("utf-8", { fatal: true });
const cp1252 = new TextDecoder("windows-1252");

/**
 * Shortest string kept from a binary payload. Random bytes form short "domains" such as `a.zw` at
 * about twelve per megabyte of them with 4-character strings, and under three with 6.
 */
export const BINARY_MIN_STRING = 6;

/**
 * The payload as text. UTF-16 when it starts with a UTF-16 byte order mark. A payload holding a
 * NUL byte is binary: its ASCII and UTF-16LE strings of at least BINARY_MIN_STRING characters,
 * one per line, as binutils `strings -a` finds them. Anything else follows the project's bytes
 * rule (core/json.ts): UTF-8 when valid, otherwise Windows-1252, which maps every byte.
 */
export function payloadText(bytes: Uint8Array): string {
  if (bytes.length >= 2 && bytes[0] === 0xff && bytes[1] === 0xfe) {
    return new TextDecoder("utf-16le").decode(bytes);
  }
  if (bytes.length >= 2 && bytes[0] === 0xfe && bytes[1] === 0xff) {
    return new TextDecoder("utf-16be").decode(bytes);
  }
  if (bytes.includes(0)) {
    const found = findStrings(bytes, {
      minLength: BINARY_MIN_STRING,
      encodings: ["ascii", "utf16le"],
      maxStrings: Infinity,
    });
    return found.strings.map((s) => s.string).join("\n");
  }
  try {
    return utf8.decode(bytes);
  } catch {
    return cp1252.decode(bytes);
  }
}

// Each pass replaces fixed tokens with a constant, which V8 does far faster than one pass with a
// callback (a page of "[.]" has a million matches). Every pass is linear. Each pass is skipped
// when a check built from indexOf (much faster than a regex scan) shows it cannot match; a check
// may say "maybe" wrongly, never "no" wrongly.
const REFANG: [RegExp, string, (text: string) => boolean][] = [
  // Schemes only when a colon (plain or bracketed) follows, so words like "meow" survive.
  [/\b(?:hxxp|hxtp|htxp|meow)s(?=\[:|\(:|\{:|:)/gi, "https", schemeWordBeforeColon],
  [/\b(?:hxxp|hxtp|htxp|meow)(?=\[:|\(:|\{:|:)/gi, "http", schemeWordBeforeColon],
  [/\bfxp(?=\[:|\(:|\{:|:)/gi, "ftp", schemeWordBeforeColon],
  [/\[:\/\/\]/g, "://", (t) => t.includes("[://]")],
  [/\[:\]|\(:\)|\{:\}/g, ":", (t) => t.includes("[:]") || t.includes("(:)") || t.includes("{:}")],
  [/\[\/\]/g, "/", (t) => t.includes("[/]")],
  [
    /[ \t]?(?:\[\.\]|\(\.\)|\{\.\}|<\.>|\[dot\]|\(dot\)|\{dot\}|<dot>)[ \t]?/gi,
    ".",
    (t) => bracketedWord(t, ".", "dot"),
  ],
  // A bare " dot " only between letters or digits ("example dot com"), never at a sentence edge.
  [/(?<=[A-Za-z0-9]) dot (?=[A-Za-z0-9])/gi, ".", spacedDot],
  [
    /[ \t]?(?:\[@\]|\(@\)|\{@\}|<@>|\[at\]|\(at\)|\{at\}|<at>)[ \t]?/gi,
    "@",
    (t) => bracketedWord(t, "@", "at"),
  ],
];

/** Rewrites defanged IOCs (`hxxp`, `meow`, `[.]`, `(dot)`, ` dot `, `[:]`, `[://]`, `[@]`, `(at)`…) to their real form. */
export function refang(text: string): string {
  let out = text;
  for (const [re, to, mayMatch] of REFANG) if (mayMatch(out)) out = out.replace(re, to);
  return out;
}

const SCHEME_WORD = /(?:hxxp|hxtp|htxp|meow|fxp)s?$/i;

/** Whether some colon follows (maybe after one of `[({`) a defanged scheme word such as `hxxp`. */
function schemeWordBeforeColon(text: string): boolean {
  for (let i = text.indexOf(":"); i >= 0; i = text.indexOf(":", i + 1)) {
    let end = i;
    const before = text[end - 1];
    if (before === "[" || before === "(" || before === "{") end--;
    if (SCHEME_WORD.test(text.slice(Math.max(0, end - 5), end))) return true;
  }
  return false;
}

/** Whether `symbol` or `word` (any case) sits right before one of `])}>` somewhere in `text`. */
function bracketedWord(text: string, symbol: string, word: string): boolean {
  for (const close of "])}>") {
    for (let i = text.indexOf(close); i >= 0; i = text.indexOf(close, i + 1)) {
      if (text[i - 1] === symbol) return true;
      if (i >= word.length && text.slice(i - word.length, i).toLowerCase() === word) return true;
    }
  }
  return false;
}

/** Whether " dot " (any case) occurs in `text`. */
function spacedDot(text: string): boolean {
  // Found through "ot " and its case variants, rarer in prose than a space or "d".
  for (const ot of ["ot ", "oT ", "Ot ", "OT "]) {
    for (let i = text.indexOf(ot); i >= 0; i = text.indexOf(ot, i + 1)) {
      if (i >= 2 && text[i - 2] === " " && (text[i - 1] === "d" || text[i - 1] === "D")) {
        return true;
      }
    }
  }
  return false;
}

// --- validators ----------------------------------------------------------------------------------

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * Checks host names against the public suffix list shipped in tldts. A name counts when it is
 * syntactically a host name, its suffix is an ICANN one (every private suffix in the list sits
 * under one), and something is registered under the suffix (so `co.uk` alone is not a domain).
 */
export class DomainValidator {
  #memo = new Map<string, boolean>();
  #tldMemo = new Map<string, boolean>();

  /** True when the lower-case `host` is a domain name under a known public suffix. */
  isDomain(host: string): boolean {
    const known = this.#memo.get(host);
    if (known !== undefined) return known;
    const ok = this.#check(host);
    // Bounded so that a payload of millions of distinct dotted tokens cannot grow it forever.
    if (this.#memo.size > 100_000) this.#memo.clear();
    this.#memo.set(host, ok);
    return ok;
  }

  #check(host: string): boolean {
    if (host.length > 253) return false;
    const labels = host.split(".");
    if (labels.length < 2) return false;
    for (const l of labels) if (!LABEL.test(l)) return false;
    const tld = labels[labels.length - 1];
    // A top-level label must hold a letter: this drops version numbers and IPs cheaply.
    if (!/[a-z]/.test(tld)) return false;
    let tldOk = this.#tldMemo.get(tld);
    if (tldOk === undefined) {
      tldOk = parseHost(`x.${tld}`, { extractHostname: false, detectIp: false }).isIcann === true;
      this.#tldMemo.set(tld, tldOk);
    }
    if (!tldOk) return false;
    const r = parseHost(host, {
      extractHostname: false,
      detectIp: false,
      allowPrivateDomains: false,
      validateHostname: true,
    });
    return r.isIcann === true && r.domain !== null;
  }
}

/** True for a dotted-quad IPv4 address with each part 0–255 and no leading zeros. */
export function isIPv4(s: string): boolean {
  // ipaddr.js answers "no" by catching an exception, which is slow on a hot path of host names.
  return DOTTED_QUAD.test(s) && ipaddr.IPv4.isValidFourPartDecimal(s);
}
const DOTTED_QUAD = /^[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$/;

/**
 * True for an IPv6 address worth reporting: valid, and with at least two groups, so that `::`,
 * `a::` or `::1`-style fragments of code (`Foo::Bar`) and logs are not reported.
 */
export function isIPv6(s: string): boolean {
  const parts = s.split(":");
  let groups = 0;
  for (const part of parts) if (part !== "") groups++;
  if (groups < 2) return false;
  // Shape first (timestamps such as 12:30:45 are common in logs), as ipaddr.js says "no" slowly.
  const full = parts.length === 8 || (parts.length === 7 && parts[6].includes("."));
  if (!s.includes("::") && !full) return false;
  return ipaddr.IPv6.isValid(s);
}

// --- allowlist -----------------------------------------------------------------------------------

type IpRange = [ipaddr.IPv4 | ipaddr.IPv6, number];

/** Allowlisted IOCs, by type, from stoQ-style `type:pattern` lines (see `add`). */
export class Allowlist {
  ipv4: IpRange[] = [];
  ipv6: IpRange[] = [];
  domainSuffixes = new Set<string>();
  urlSuffixes = new Set<string>();
  emailExact = new Set<string>();
  emailSuffixes = new Set<string>();
  exact: Partial<Record<IocType, Set<string>>> = {};

  /**
   * Adds one `type:pattern` line; blank lines and `#` comments are skipped. Returns an error
   * message (without the line's location) when the line is not valid.
   */
  add(line: string): string | undefined {
    const text = line.replace(/\s+#.*$/, "").trim();
    if (text === "" || text.startsWith("#")) return undefined;
    const colon = text.indexOf(":");
    const type = (colon < 0 ? text : text.slice(0, colon)).trim();
    const pattern = colon < 0 ? "" : text.slice(colon + 1).trim();
    if (!(IOC_TYPES as readonly string[]).includes(type)) {
      return `unknown type "${type}": lines are type:pattern with type one of ${
        IOC_TYPES.join(", ")
      }`;
    }
    if (pattern === "") return `no pattern after "${type}:"`;
    const p = pattern.toLowerCase();
    switch (type as IocType) {
      case "ipv4":
      case "ipv6": {
        const v4 = type === "ipv4";
        const single = v4 ? isIPv4(p) : ipaddr.IPv6.isValid(p);
        const cidr = v4 ? ipaddr.IPv4.isValidCIDRFourPartDecimal(p) : ipaddr.IPv6.isValidCIDR(p);
        if (!single && !cidr) {
          return `"${pattern}" is not an ${v4 ? "IPv4" : "IPv6"} address or CIDR range`;
        }
        const range: IpRange = cidr ? ipaddr.parseCIDR(p) : [ipaddr.parse(p), v4 ? 32 : 128];
        (v4 ? this.ipv4 : this.ipv6).push(range);
        return undefined;
      }
      case "domain":
      case "url": {
        const suffix = domainSuffix(p);
        if (suffix === undefined) {
          return `"${pattern}" is not a domain suffix like .example.com or example.com`;
        }
        (type === "domain" ? this.domainSuffixes : this.urlSuffixes).add(suffix);
        return undefined;
      }
      case "email": {
        const at = p.lastIndexOf("@");
        if (at > 0) {
          if (domainSuffix(p.slice(at + 1)) === undefined || /\s/.test(p)) {
            return `"${pattern}" is not an e-mail address`;
          }
          this.emailExact.add(p);
          return undefined;
        }
        const suffix = domainSuffix(p.replace(/^@/, ""));
        if (suffix === undefined) {
          return `"${pattern}" is neither an e-mail address nor a domain suffix like @example.com`;
        }
        this.emailSuffixes.add(suffix);
        return undefined;
      }
      case "mac_address": {
        if (!/^[0-9a-f]{2}([:-])[0-9a-f]{2}(?:\1[0-9a-f]{2}){4}$/.test(p)) {
          return `"${pattern}" is not a MAC address like 00:11:22:aa:bb:cc`;
        }
        (this.exact.mac_address ??= new Set()).add(p.replaceAll("-", ":"));
        return undefined;
      }
      default: {
        const len = { md5: 32, sha1: 40, sha256: 64, sha512: 128 }[type as "md5"];
        if (!new RegExp(`^[0-9a-f]{${len}}$`).test(p)) {
          return `"${pattern}" is not a ${type} (${len} hex digits)`;
        }
        (this.exact[type as IocType] ??= new Set()).add(p);
        return undefined;
      }
    }
  }

  /** True when `value` (as reported, of `type`) is covered by the allowlist. */
  covers(type: IocType, value: string, host?: string): boolean {
    switch (type) {
      case "ipv4":
      case "ipv6":
        return this.#ipCovered(value);
      case "domain":
        return suffixCovered(value, this.domainSuffixes);
      case "url":
        if (host === undefined) return false;
        if (host.startsWith("[") || isIPv4(host)) {
          return this.#ipCovered(host.replace(/^\[|\]$/g, ""));
        }
        return suffixCovered(host, this.domainSuffixes) || suffixCovered(host, this.urlSuffixes);
      case "email": {
        const lower = value.toLowerCase();
        if (this.emailExact.has(lower)) return true;
        return suffixCovered(lower.slice(lower.lastIndexOf("@") + 1), this.emailSuffixes);
      }
      case "mac_address":
        return this.exact.mac_address?.has(value.replaceAll("-", ":")) ?? false;
      default:
        return this.exact[type]?.has(value) ?? false;
    }
  }

  #ipCovered(value: string): boolean {
    const list = value.includes(":") ? this.ipv6 : this.ipv4;
    if (list.length === 0) return false;
    const addr = ipaddr.parse(value);
    return list.some((range) => addr.kind() === range[0].kind() && addr.match(range));
  }
}

/** The normalised suffix of a domain allowlist pattern (`.example.com`, `*.example.com`, `mil`). */
function domainSuffix(p: string): string | undefined {
  const s = p.replace(/^\*?\./, "");
  if (s === "" || s.length > 253) return undefined;
  return s.split(".").every((l) => LABEL.test(l)) ? s : undefined;
}

/** True when `host` is one of `suffixes` or under one of them, on a label boundary. */
function suffixCovered(host: string, suffixes: Set<string>): boolean {
  if (suffixes.size === 0) return false;
  // One look-up per label, however long the allowlist.
  let rest = host;
  for (;;) {
    if (suffixes.has(rest)) return true;
    const dot = rest.indexOf(".");
    if (dot < 0) return false;
    rest = rest.slice(dot + 1);
  }
}

// --- extraction ----------------------------------------------------------------------------------

// Every pattern starts at a token boundary (a lookbehind) and ends greedily with nothing after
// it that could fail, so a failed attempt costs at most one token and a match never backtracks.
// The sticky (/y) ones are run only at the token start found from their anchor character (":",
// "@", "."), which indexOf finds far faster than a regex scan tries every position of the text;
// see `anchored`.
const IPV4_RE = /(?<![0-9.])(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?![0-9]|\.[0-9])/g;
const IPV6_RE = /(?<![0-9A-Za-z_.])[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*/y;
const MAC_RE =
  /(?<![0-9A-Fa-f]|[0-9A-Fa-f]{2}[:-])[0-9A-Fa-f]{2}([:-])[0-9A-Fa-f]{2}(?:\1[0-9A-Fa-f]{2}){4}(?![0-9A-Fa-f]|[:-][0-9A-Fa-f])/g;
const EMAIL_RE = /(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+/y;
const DOMAIN_RE = /(?<![A-Za-z0-9_-])[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)+/y;
/** The sticky candidate patterns with their anchor and token characters, as `anchored` takes them. */
export const ANCHORED = {
  ipv6: [IPV6_RE, ":", isHexOrDot],
  email: [EMAIL_RE, "@", isEmailLocalChar],
  domain: [DOMAIN_RE, ".", isLabelChar],
} as const satisfies Record<string, [RegExp, string, (c: number) => boolean]>;
const URL_RE = /(?<![A-Za-z])(?:https?|ftps?|sftp):\/\/[A-Za-z0-9\-._~:/?#[\]@!$&()*+,;=%]+/gi;

/** What `extractIocs` returns: values per type in stoQ's key order, and the types that hit the cap. */
export interface Extraction {
  results: Partial<Record<IocType, string[]>>;
  capped: IocType[];
}

/** Options of one extraction. */
export interface ExtractOptions {
  types: readonly IocType[];
  maxPerType: number;
  allowlist: Allowlist;
  domains: DomainValidator;
}

/** Extracts the IOCs of `opts.types` from `text` (already re-fanged), de-duplicated, first seen first. */
export function extractIocs(text: string, opts: ExtractOptions): Extraction {
  const x = new Extractor(opts);
  x.feed(text);
  return x.finish();
}

// Each cap is reported once per type, in the order the whole-text scan found them: the hash types
// share one pass (in the order they filled), then the others in the order of their passes. A
// chunked scan fills them in another order, so `finish` sorts by this rank.
const CAP_RANK: Record<IocType, number> = {
  md5: 0,
  sha1: 0,
  sha256: 0,
  sha512: 0,
  ipv4: 1,
  ipv6: 2,
  mac_address: 3,
  email: 4,
  domain: 5,
  url: 6,
};

/**
 * An extraction fed one piece of text after another. Feeding pieces that each end right after a
 * character no IOC or re-fanging pattern includes or looks at (see `CUT_CHARS`) gives what
 * `extractIocs` gives on the whole text: every pass is per type, in text order, de-duplicated.
 */
export class Extractor {
  readonly #opts: ExtractOptions;
  readonly #want: Set<IocType>;
  readonly #found = new Map<IocType, Set<string>>();
  readonly #capped: IocType[] = [];
  /** Types whose cap was hit: their passes are not run again. */
  readonly #full = new Set<IocType>();
  readonly #hashTypes: IocType[];

  constructor(opts: ExtractOptions) {
    this.#opts = opts;
    this.#want = new Set(opts.types);
    this.#hashTypes = (["md5", "sha1", "sha256", "sha512"] as const).filter((t) =>
      this.#want.has(t)
    );
  }

  // Adds a value; returns false once the type is full, so its scan can stop early.
  #add(type: IocType, value: string, host?: string): boolean {
    let set = this.#found.get(type);
    if (!set) this.#found.set(type, set = new Set());
    if (set.has(value) || this.#opts.allowlist.covers(type, value, host)) return true;
    if (set.size >= this.#opts.maxPerType) {
      this.#capped.push(type);
      this.#full.add(type);
      return false;
    }
    set.add(value);
    return true;
  }

  #wants(type: IocType): boolean {
    return this.#want.has(type) && !this.#full.has(type);
  }

  /** Scans one more piece of (re-fanged) text. */
  feed(text: string): void {
    const domains = this.#opts.domains;
    const full = this.#full;
    const hashesFull = () => this.#hashTypes.every((t) => full.has(t));
    if (this.#hashTypes.length > 0 && !hashesFull()) {
      for (const run of hexRuns(text)) {
        const type = HASH_BY_LENGTH[run.value.length];
        if (type === undefined || !this.#want.has(type) || full.has(type)) continue;
        if (!looksLikeDigest(text, run)) continue;
        if (!this.#add(type, run.value.toLowerCase()) && hashesFull()) break;
      }
    }

    if (this.#wants("ipv4")) {
      for (const m of text.matchAll(IPV4_RE)) {
        if (isIPv4(m[0]) && !this.#add("ipv4", m[0])) break;
      }
    }

    if (this.#wants("ipv6")) {
      for (const m of anchored(text, ...ANCHORED.ipv6)) {
        const next = text.charCodeAt(m.index + m[0].length);
        if (isWordChar(next)) continue;
        const candidate = trimIPv6(m[0]);
        if (
          candidate !== undefined && isIPv6(candidate) &&
          !this.#add("ipv6", candidate.toLowerCase())
        ) break;
      }
    }

    if (this.#wants("mac_address")) {
      for (const m of text.matchAll(MAC_RE)) {
        if (!this.#add("mac_address", m[0].toLowerCase())) break;
      }
    }

    if (this.#wants("email")) {
      for (const m of anchored(text, ...ANCHORED.email)) {
        const at = m[0].indexOf("@");
        const local = m[0].slice(0, at).replace(/^\.+/, "");
        const host = trimEnd(m[0].slice(at + 1), ".-").toLowerCase();
        if (local === "" || local.length > 64 || !domains.isDomain(host)) continue;
        if (!this.#add("email", `${local}@${host}`)) break;
      }
    }

    if (this.#wants("domain")) {
      for (const m of anchored(text, ...ANCHORED.domain)) {
        // A name right after a single slash or backslash is a path ("/tmp/setup.py"), not a host
        // (after "//" it is a URL's or a UNC path's host); one right after a single dot is the
        // tail of a dotted name that does not start like a host, such as ELF's ".data.rel.ro".
        const before = text[m.index - 1];
        if (
          (before === "/" || before === "\\" || before === ".") && text[m.index - 2] !== before
        ) continue;
        // After "%", the first two characters are a URL escape ("%2Fwww.example.com").
        const escaped = before === "%" && isHex(text.charCodeAt(m.index)) &&
          isHex(text.charCodeAt(m.index + 1));
        const host = (escaped ? m[0].slice(2) : m[0]).toLowerCase();
        if (host.includes("_") || !domains.isDomain(host)) continue;
        if (!this.#add("domain", host)) break;
      }
    }

    if (this.#wants("url")) {
      for (const m of text.matchAll(URL_RE)) {
        const url = normaliseUrl(m[0], domains);
        if (url !== undefined && !this.#add("url", url.url, url.host)) break;
      }
    }
  }

  /** The values found so far, per type in stoQ's key order, and the types that hit the cap. */
  finish(): Extraction {
    const results: Partial<Record<IocType, string[]>> = {};
    for (const type of IOC_TYPES) {
      const set = this.#found.get(type);
      if (set && set.size > 0) results[type] = [...set];
    }
    const capped = [...this.#capped].sort((a, b) => CAP_RANK[a] - CAP_RANK[b]);
    return { results, capped };
  }
}

// --- payloads in windows -------------------------------------------------------------------------

/** How a payload is cut into pieces of text: bytes decoded at a time, and the longest piece. */
export interface Windows {
  /** Bytes decoded per step (UTF-16 payloads: rounded down to an even number). */
  bytes: number;
  /** Characters a piece may reach while no cut character shows up; past this it is cut anyway. */
  maxChars: number;
}

/**
 * The default windows: 1 MiB of bytes at a time, so that a payload's text costs a few MiB
 * however large the payload; a piece is cut at 16 Mi characters when no cut character (line
 * break, quote) shows up before, after a free-standing space if there is one.
 */
export const WINDOWS: Windows = { bytes: 1 << 20, maxChars: 16 << 20 };

/**
 * Text can be cut right after any of these without changing what re-fanging and extraction find:
 * no IOC or re-fang pattern includes them, and every lookaround and context check treats them as
 * it treats the start or end of the text (the tests compare against whole-text scans).
 */
const CUT_CHARS = ["\n", "\r", '"', "'", "\v", "\f"];

/** The index after the last cut character of `text`, or 0 when it has none. */
function lastCut(text: string): number {
  let last = -1;
  for (const ch of CUT_CHARS) last = Math.max(last, text.lastIndexOf(ch));
  return last + 1;
}

/**
 * Whether the space at `i` can be cut after: no re-fang pattern can take it, i.e. it is not next
 * to a bracketed `[.]`/`(at)`-style token (which swallows one space or tab on either side) nor
 * part of a spaced " dot ". IOC patterns never include spaces.
 */
function isFreeSpace(text: string, i: number): boolean {
  if ("])}>".includes(text[i - 1] ?? "") || "[({<".includes(text[i + 1] ?? "")) return false;
  if (text.slice(i + 1, i + 5).toLowerCase() === "dot ") return false;
  if (text.slice(i - 4, i).toLowerCase() === " dot") return false;
  return true;
}

/**
 * Where to cut a piece that grew past the longest piece with no cut character in it: after a
 * free-standing space, else at its end. An IOC straddling that cut may be lost; only a stretch of
 * `maxChars` characters with neither line breaks, quotes nor free spaces comes to this.
 */
function forcedCut(text: string): number {
  let tries = 0;
  for (let i = text.lastIndexOf(" "); i > 0 && tries < 100_000; i = text.lastIndexOf(" ", i - 1)) {
    if (isFreeSpace(text, i)) return i + 1;
    tries++;
  }
  return text.length;
}

/**
 * Where to cut binary bytes, after `from`, near `from + step`: between two zero bytes, which end
 * every ASCII and UTF-16LE run at both alignments, so no string found there moves. Searched back
 * from `from + step`, then on up to `from + max`, else cut there.
 */
function binaryCut(bytes: Uint8Array, from: number, step: number, max: number): number {
  const n = bytes.length;
  const target = Math.min(n, from + step);
  if (target >= n) return n;
  for (let p = target; p > from; p--) if (bytes[p - 1] === 0 && bytes[p] === 0) return p;
  const limit = Math.min(n - 1, from + max);
  for (let p = target + 1; p <= limit; p++) if (bytes[p - 1] === 0 && bytes[p] === 0) return p;
  return Math.min(n, from + max);
}

/**
 * Extracts IOCs from a payload's bytes as `extractIocs(refang(payloadText(bytes)))` would, but a
 * window at a time, so that memory is bounded by the window and not by the payload (a 1 GB text
 * could not even be made a string). Pieces are cut where no match can straddle (`CUT_CHARS`), so
 * the result is the same.
 */
export function extractFromPayload(
  bytes: Uint8Array,
  opts: ExtractOptions,
  windows: Windows = WINDOWS,
): Extraction {
  const bom = hasUtf16Bom(bytes);
  if (bom === undefined && bytes.includes(0)) {
    // Binary: the strings of each window, one per line, as `payloadText` makes them.
    const step = Math.max(2, windows.bytes);
    const x = new Extractor(opts);
    for (let at = 0; at < bytes.length;) {
      const end = binaryCut(bytes, at, step, Math.max(step, windows.maxChars));
      const found = findStrings(bytes.subarray(at, end), {
        minLength: BINARY_MIN_STRING,
        encodings: ["ascii", "utf16le"],
        maxStrings: Infinity,
      });
      if (found.strings.length > 0) x.feed(refang(found.strings.map((s) => s.string).join("\n")));
      at = end;
    }
    return x.finish();
  }
  const encoding = bom === "le" ? "utf-16le" : bom === "be" ? "utf-16be" : "utf-8";
  return extractDecoded(bytes, encoding, opts, windows) ??
    // Not valid UTF-8 somewhere: all over again as Windows-1252, which maps every byte.
    extractDecoded(bytes, "windows-1252", opts, windows)!;
}

function hasUtf16Bom(bytes: Uint8Array): "le" | "be" | undefined {
  if (bytes.length < 2) return undefined;
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return "le";
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return "be";
  return undefined;
}

/** The windowed extraction in one encoding; undefined when the bytes are not valid UTF-8. */
function extractDecoded(
  bytes: Uint8Array,
  encoding: string,
  opts: ExtractOptions,
  windows: Windows,
): Extraction | undefined {
  // One streaming decoder: a character split between two windows is decoded whole, and a byte
  // order mark is dropped only at the start, as a whole-payload decode does.
  const decoder = new TextDecoder(encoding, { fatal: encoding === "utf-8" });
  const step = encoding.startsWith("utf-16")
    ? Math.max(2, windows.bytes & ~1)
    : Math.max(1, windows.bytes);
  const x = new Extractor(opts);
  // Text decoded but not yet scanned: it never holds a cut character, so only new text is searched.
  let pending = "";
  for (let at = 0; at < bytes.length; at += step) {
    let piece: string;
    try {
      piece = decoder.decode(bytes.subarray(at, at + step), { stream: at + step < bytes.length });
    } catch {
      return undefined;
    }
    const inPiece = lastCut(piece);
    const cut = pending.length + inPiece;
    pending += piece;
    if (inPiece > 0) {
      x.feed(refang(pending.slice(0, cut)));
      pending = pending.slice(cut);
    }
    while (pending.length > windows.maxChars) {
      const forced = forcedCut(pending);
      x.feed(refang(pending.slice(0, forced)));
      pending = pending.slice(forced);
    }
  }
  if (pending !== "") x.feed(refang(pending));
  return x.finish();
}

const MIN_HASH = 32;
/** Fewest different digits a digest shows: a random MD5 has fewer than 7 once in 10⁷. */
const MIN_DISTINCT_DIGITS = 7;

/**
 * Whether a run of hex digits (`run`, a match at its first occurrence after the previous one in
 * `text`) reads as a digest rather than as a piece of something else. Runs cut out of base64
 * text (mail bodies, PEM, data: URLs) mix letter cases or repeat a few characters ("AAAAAAAB",
 * base64 of zero bytes); message ids and addresses put hex before an "@". A digest as tools
 * print it is one case, shows at least MIN_DISTINCT_DIGITS different digits, digits and letters
 * both, and is not glued to a mixed-case token.
 */
function looksLikeDigest(text: string, run: HexRun): boolean {
  const value = run.value;
  const lower = /[a-f]/.test(value);
  const upper = /[A-F]/.test(value);
  if (lower && upper) return false;
  if (!/[0-9]/.test(value) || (!lower && !upper)) return false;
  if (new Set(value.toLowerCase()).size < MIN_DISTINCT_DIGITS) return false;
  // The local part of an address or message id: only local-part characters up to an "@".
  let end = run.end;
  while (end < text.length && end - run.end < 256 && isEmailLocalChar(text.charCodeAt(end))) end++;
  if (text[end] === "@") return false;
  // Glued to letters or digits of a token that mixes cases: a slice of base64, not a digest.
  let from = run.start;
  let to = run.end;
  while (from > 0 && run.start - from < 256 && isAlnum(text.charCodeAt(from - 1))) from--;
  while (to < text.length && to - run.end < 256 && isAlnum(text.charCodeAt(to))) to++;
  if (from < run.start || to > run.end) {
    const token = text.slice(from, to);
    if (/[a-z]/.test(token) && /[A-Z]/.test(token)) return false;
  }
  return true;
}

/** A maximal run of hex digits: its text and where it starts and ends in the scanned text. */
export interface HexRun {
  value: string;
  start: number;
  end: number;
}

/** Maximal runs of at least MIN_HASH hex digits, in order: what `/(?<![0-9a-fA-F])[0-9a-fA-F]{32,}/g` matches. */
export function* hexRuns(text: string): Generator<HexRun> {
  // A run of MIN_HASH or more that starts in [i, i + MIN_HASH) covers i + MIN_HASH - 1, so when
  // that character is not hex the whole window is skipped after one look. The character before
  // `i` is never hex, so walking back never passes `i`: every character is read a bounded number
  // of times.
  const n = text.length;
  let i = 0;
  while (i + MIN_HASH <= n) {
    const j = i + MIN_HASH - 1;
    if (!isHex(text.charCodeAt(j))) {
      i = j + 1;
      continue;
    }
    let start = j;
    while (start > i && isHex(text.charCodeAt(start - 1))) start--;
    let end = j + 1;
    while (end < n && isHex(text.charCodeAt(end))) end++;
    if (end - start >= MIN_HASH) yield { value: text.slice(start, end), start, end };
    i = end + 1;
  }
}

/**
 * The matches of the sticky, lookbehind-led `re`, in order, as its global form would find them,
 * where every match holds `anchor` and starts the run of `inToken` characters that ends right
 * before its first `anchor`. Only those run starts are tried; each run is walked back once, and
 * never into the previous match, where the global scan would not look.
 */
export function* anchored(
  text: string,
  re: RegExp,
  anchor: string,
  inToken: (c: number) => boolean,
): Generator<RegExpExecArray> {
  let done = 0;
  for (let at = text.indexOf(anchor); at >= 0; at = text.indexOf(anchor, Math.max(at + 1, done))) {
    let start = at;
    while (start > done && inToken(text.charCodeAt(start - 1))) start--;
    re.lastIndex = start;
    const m = re.exec(text);
    if (m === null) continue;
    done = m.index + m[0].length;
    yield m;
  }
}

function isHex(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70);
}

function isHexOrDot(c: number): boolean {
  return isHex(c) || c === 46;
}

function isLabelChar(c: number): boolean {
  return isWordChar(c) || c === 45;
}

/** `[A-Za-z0-9._%+-]` */
function isEmailLocalChar(c: number): boolean {
  return isWordChar(c) || c === 46 || c === 37 || c === 43 || c === 45;
}

/** `s` without the characters of `chars` at its end (a loop: `/[.]+$/` is quadratic on "....x"). */
function trimEnd(s: string, chars: string): string {
  let end = s.length;
  while (end > 0 && chars.includes(s[end - 1])) end--;
  return s.slice(0, end);
}

function isAlnum(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

function isWordChar(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
}

/** Drops sentence punctuation around an IPv6 candidate: trailing dots and one stray colon. */
function trimIPv6(s: string): string | undefined {
  let t = trimEnd(s, ".");
  if (t.endsWith(":") && !t.endsWith("::")) t = t.slice(0, -1);
  if (t.startsWith(":") && !t.startsWith("::")) t = t.slice(1);
  return t.includes(":") ? t : undefined;
}

/**
 * Cuts a URL candidate back to the URL (trailing sentence punctuation, unbalanced closing
 * brackets), checks its host, and lower-cases scheme and host. Undefined when it is not a URL.
 */
function normaliseUrl(
  raw: string,
  domains: DomainValidator,
): { url: string; host: string } | undefined {
  // Bracket counts are taken once and updated while trimming, so a long run of ")" stays linear.
  const open = count(raw, "(");
  const openSq = count(raw, "[");
  let close = count(raw, ")");
  let closeSq = count(raw, "]");
  let end = raw.length;
  for (; end > 0; end--) {
    const last = raw[end - 1];
    if (last === ")" && open < close) close--;
    else if (last === "]" && openSq < closeSq) closeSq--;
    else if (!".,;:!?*".includes(last)) break;
  }
  const u = raw.slice(0, end);
  const sep = u.indexOf("://");
  const scheme = u.slice(0, sep).toLowerCase();
  const rest = u.slice(sep + 3);
  const authEnd = rest.search(/[/?#]/);
  const authority = authEnd < 0 ? rest : rest.slice(0, authEnd);
  const tail = authEnd < 0 ? "" : rest.slice(authEnd);
  const at = authority.lastIndexOf("@");
  const userinfo = at < 0 ? "" : authority.slice(0, at + 1);
  const hostport = authority.slice(at + 1);
  let host: string;
  let port: string;
  if (hostport.startsWith("[")) {
    const close = hostport.indexOf("]");
    if (close < 0) return undefined;
    host = hostport.slice(0, close + 1).toLowerCase();
    port = hostport.slice(close + 1);
    if (!ipaddr.IPv6.isValid(host.slice(1, -1))) return undefined;
  } else {
    const colon = hostport.indexOf(":");
    host = (colon < 0 ? hostport : hostport.slice(0, colon)).toLowerCase();
    port = colon < 0 ? "" : hostport.slice(colon);
    if (!isIPv4(host) && !domains.isDomain(host)) return undefined;
  }
  if (port !== "" && !/^:[0-9]{1,5}$/.test(port)) return undefined;
  if (port !== "" && Number(port.slice(1)) > 65535) return undefined;
  return { url: `${scheme}://${userinfo}${host}${port}${tail}`, host };
}

function count(s: string, ch: string): number {
  let n = 0;
  for (let i = s.indexOf(ch); i >= 0; i = s.indexOf(ch, i + 1)) n++;
  return n;
}
