/**
 * Readers for the header fields an analyst triages a message by: RFC 5322 dates, `Received:`
 * trace fields (RFC 5321 §4.4) and the verdicts a receiving server wrote in
 * `Authentication-Results:` (RFC 8601) and `Received-SPF:` (RFC 7208 §9.1).
 *
 * postal-mime parses addresses and MIME structure but leaves these fields as text, and no
 * well-kept npm package parses them without also verifying (mailauth wants DNS): so they are read
 * here. Every reader takes one unfolded field value, bounds its work by MAX_FIELD characters and
 * never throws: what it cannot read it leaves out.
 */
import ipaddr from "ipaddr.js";

/** Longest field value looked at; a longer one is cut (a real trace field is far shorter). */
export const MAX_FIELD = 8192;
/** Most results kept from one Authentication-Results field. */
const MAX_RESULTS = 64;

const MONTHS: Record<string, number> = {
  jan: 0,
  feb: 1,
  mar: 2,
  apr: 3,
  may: 4,
  jun: 5,
  jul: 6,
  aug: 7,
  sep: 8,
  oct: 9,
  nov: 10,
  dec: 11,
};

// RFC 5322 §4.3 obsolete zones, in minutes east of UTC.
const ZONES: Record<string, number> = {
  UT: 0,
  UTC: 0,
  GMT: 0,
  Z: 0,
  EST: -300,
  EDT: -240,
  CST: -360,
  CDT: -300,
  MST: -420,
  MDT: -360,
  PST: -480,
  PDT: -420,
};

const DATE =
  /(\d{1,2})\s+([A-Za-z]{3})[a-z]*\s+(\d{2,4})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?\s*([+-]\d{4}|[A-Za-z]{1,5})?/;

/**
 * An RFC 5322 date-time (`Tue, 14 Nov 2023 22:13:20 -0000`, with the obsolete forms real mail
 * uses: two-digit years, named zones, missing seconds) as ISO 8601 in UTC, or null.
 */
export function rfc5322DateToIso(value: string): string | null {
  const m = DATE.exec(value.slice(0, 256));
  if (!m) return null;
  const month = MONTHS[m[2].toLowerCase()];
  if (month === undefined) return null;
  let year = Number(m[3]);
  if (m[3].length === 2) year += year < 50 ? 2000 : 1900;
  else if (m[3].length === 3) year += 1900;
  let offset = 0;
  const zone = m[7];
  if (zone && /^[+-]\d{4}$/.test(zone)) {
    const minutes = Number(zone.slice(1, 3)) * 60 + Number(zone.slice(3, 5));
    offset = zone[0] === "-" ? -minutes : minutes;
  } else if (zone) {
    offset = ZONES[zone.toUpperCase()] ?? 0; // military and unknown zones: "-0000", as RFC 5322 says
  }
  const [day, hour, minute, second] = [Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6] ?? 0)];
  if (day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return null;
  const ms = Date.UTC(year, month, day, hour, minute, Math.min(second, 59)) - offset * 60_000;
  return Number.isFinite(ms) ? new Date(ms).toISOString() : null;
}

/** One `Received:` hop. `from` is the name the client gave (HELO), `from_rdns` the server's look-up. */
export interface ReceivedHop {
  from?: string;
  from_rdns?: string;
  ip?: string;
  by?: string;
  via?: string;
  with?: string;
  id?: string;
  for?: string;
  date?: string;
  raw?: string;
}

const CLAUSES = ["from", "by", "via", "with", "id", "for"] as const;
type Clause = typeof CLAUSES[number];

/** Reads one `Received:` value into its clauses, the client's IP and the date, as ISO 8601. */
export function parseReceived(value: string): ReceivedHop {
  const raw = value.slice(0, MAX_FIELD).replace(/\s+/g, " ").trim();
  // The date follows the last semicolon outside comments.
  const { text, comments, semicolon } = splitComments(raw);
  const clausesText = semicolon < 0 ? text : text.slice(0, semicolon);
  // Clause keywords and their offsets; a clause runs to the next keyword.
  const found: { clause: Clause; at: number; words: string[] }[] = [];
  for (const m of clausesText.matchAll(/\S+/g)) {
    const key = m[0].toLowerCase() as Clause;
    const last = found[found.length - 1];
    if (CLAUSES.includes(key) && !found.some((f) => f.clause === key)) {
      found.push({ clause: key, at: m.index, words: [] });
    } else if (last) {
      last.words.push(m[0]);
    }
  }
  const hop: Partial<Record<Clause, string>> = {};
  for (const f of found) {
    if (f.words.length === 0) continue;
    // "with" names a protocol in a word or a phrase ("Microsoft SMTP Server").
    const v = f.clause === "with" ? f.words.join(" ") : f.words[0];
    hop[f.clause] = f.clause === "for" ? v.replace(/^<|>$/g, "") : v;
  }
  let rdns: string | undefined;
  let ip: string | undefined;
  const from = found.findIndex((f) => f.clause === "from");
  if (from >= 0) {
    const start = found[from].at;
    const end = found[from + 1]?.at ?? clausesText.length;
    // "(rdns [ip])", "(HELO x) (ip)" or Exchange's "(10.0.0.5)"; else an IP literal as HELO.
    for (const c of comments.filter((c) => c.at >= start && c.at <= end)) {
      ip ??= findIp(c.text) ?? undefined;
      const first = c.text.split(/[\s[]/)[0];
      if (rdns === undefined && /^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$/.test(first)) {
        rdns = first.toLowerCase();
      }
    }
    if (ip === undefined && hop.from) ip = findIp(hop.from) ?? undefined;
  }
  const date = semicolon >= 0 ? rfc5322DateToIso(text.slice(semicolon + 1)) : null;
  const out: ReceivedHop = {};
  if (hop.from) out.from = hop.from;
  if (rdns) out.from_rdns = rdns;
  if (ip) out.ip = ip;
  for (const k of ["by", "via", "with", "id", "for"] as const) if (hop[k]) out[k] = hop[k];
  if (date) out.date = date;
  out.raw = raw;
  return out;
}

/** `text` with comments blanked out (same length), the comments with their offsets, and the last top-level `;`. */
function splitComments(raw: string): {
  text: string;
  comments: { at: number; text: string }[];
  semicolon: number;
} {
  if (!raw.includes("(")) return { text: raw, comments: [], semicolon: raw.lastIndexOf(";") };
  const kept: string[] = [];
  const comments: { at: number; text: string }[] = [];
  let depth = 0;
  let start = 0; // of the current comment, or of the current run of text
  let semicolon = -1;
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === 0x5c && depth > 0) { // backslash: the next character is quoted
      i++;
    } else if (c === 0x28) { // (
      if (depth === 0) {
        kept.push(raw.slice(start, i));
        start = i;
      }
      depth++;
    } else if (c === 0x29 && depth > 0) { // )
      if (--depth === 0) {
        if (comments.length < 64) {
          comments.push({ at: start, text: raw.slice(start + 1, i).trim() });
        }
        kept.push(" ".repeat(i + 1 - start));
        start = i + 1;
      }
    } else if (c === 0x3b && depth === 0) { // ;
      semicolon = i;
    }
  }
  // An unclosed comment runs to the end.
  kept.push(depth > 0 ? " ".repeat(raw.length - start) : raw.slice(start));
  return { text: kept.join(""), comments, semicolon };
}

const IPV4 =
  /(?<![0-9.])(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}(?![0-9.])/;

/** The first IP address in `s`: `[IPv6:…]`, a dotted quad, or a bare IPv6 address. */
export function findIp(s: string): string | null {
  const literal = /\[IPv6:([0-9A-Fa-f:.]{2,45})\]/i.exec(s);
  if (literal && ipaddr.IPv6.isValid(literal[1])) return literal[1].toLowerCase();
  const v4 = IPV4.exec(s);
  if (v4) return v4[0];
  for (const token of s.split(/[\s[\]()<>,;]+/)) {
    if (token.split(":").length >= 3 && ipaddr.IPv6.isValid(token)) return token.toLowerCase();
  }
  return null;
}

/** One method's result in an Authentication-Results field (RFC 8601 §2.2). */
export interface AuthResult {
  method: string;
  result: string;
  reason?: string;
  comment?: string;
  /** `ptype.property` → value, e.g. `smtp.mailfrom`, `header.d`, `header.from`. */
  properties: Record<string, string>;
}

/** One Authentication-Results field: who wrote it and what it found. */
export interface AuthResults {
  authserv_id: string;
  results: AuthResult[];
}

/** Reads one Authentication-Results (or ARC-Authentication-Results) value. */
export function parseAuthResults(value: string): AuthResults {
  const statements = splitStatements(value.slice(0, MAX_FIELD));
  let head = statements.shift() ?? { text: "", comments: [] };
  // ARC-Authentication-Results starts with "i=N;" before the authserv-id.
  if (/^i=\d+$/.test(head.text.trim()) && statements.length > 0) head = statements.shift()!;
  const authservId = head.text.trim().split(/\s+/)[0] ?? "";
  const results: AuthResult[] = [];
  for (const st of statements.slice(0, MAX_RESULTS)) {
    const pairs = [...st.text.matchAll(/([A-Za-z0-9_.\-/]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s"]+)/g)];
    if (pairs.length === 0) continue;
    const [, methodVersion, result] = pairs[0];
    const r: AuthResult = {
      method: methodVersion.split("/")[0].toLowerCase(),
      result: unquote(result).toLowerCase(),
      properties: {},
    };
    for (const [, key, val] of pairs.slice(1)) {
      if (key.toLowerCase() === "reason") r.reason = unquote(val);
      else if (Object.keys(r.properties).length < 32) {
        r.properties[key.toLowerCase()] = unquote(val);
      }
    }
    if (st.comments.length > 0) r.comment = st.comments.join(" ");
    results.push(r);
  }
  return { authserv_id: authservId, results };
}

/** A Received-SPF verdict (RFC 7208 §9.1): the result and its key=value pairs. */
export interface ReceivedSpf {
  result: string;
  comment?: string;
  properties: Record<string, string>;
}

/** Reads one Received-SPF value. */
export function parseReceivedSpf(value: string): ReceivedSpf {
  const { text, comments } = splitComments(value.slice(0, MAX_FIELD));
  const result = text.trim().split(/\s+/)[0]?.toLowerCase() ?? "";
  const properties: Record<string, string> = {};
  for (
    const [, key, val] of text.matchAll(/([A-Za-z0-9_.-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s;"]+)/g)
  ) {
    if (Object.keys(properties).length < 32) properties[key.toLowerCase()] = unquote(val);
  }
  const out: ReceivedSpf = { result, properties };
  if (comments.length > 0) out.comment = comments.map((c) => c.text).join(" ");
  return out;
}

/** Statements split on `;` outside quotes and comments, each with its comments taken out. */
function splitStatements(value: string): { text: string; comments: string[] }[] {
  const out: { text: string; comments: string[] }[] = [];
  let text = "";
  let comments: string[] = [];
  let comment = "";
  let depth = 0;
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c === "\\" && (quoted || depth > 0)) {
      if (depth > 0) comment += value[i + 1] ?? "";
      else text += c + (value[i + 1] ?? "");
      i++;
    } else if (depth > 0) {
      if (c === "(") depth++;
      else if (c === ")") depth--;
      if (depth > 0) comment += c;
      else {
        comments.push(comment.trim());
        comment = "";
        text += " ";
      }
    } else if (quoted) {
      text += c;
      if (c === '"') quoted = false;
    } else if (c === '"') {
      quoted = true;
      text += c;
    } else if (c === "(") {
      depth = 1;
    } else if (c === ";") {
      out.push({ text, comments });
      text = "";
      comments = [];
    } else {
      text += c;
    }
  }
  if (text.trim() !== "" || comments.length > 0) out.push({ text, comments });
  return out;
}

function unquote(s: string): string {
  return s.startsWith('"') && s.endsWith('"') && s.length >= 2
    ? s.slice(1, -1).replace(/\\(.)/g, "$1")
    : s;
}
