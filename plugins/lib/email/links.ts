/**
 * Links of a message body: the URLs of the decoded text and HTML bodies (HTML attribute values
 * with their character references resolved, so `href="…?a=1&amp;b=2"` gives `?a=1&b=2`), found
 * and normalised by the IOC engine (lib/ioc/extract.ts), and the anchors of the HTML with the text a
 * reader sees, for comparing the two.
 */
import { type Allowlist, type DomainValidator, extractIocs } from "../ioc/extract.ts";

/** An HTML anchor: where it goes and what it shows. */
export interface Anchor {
  href: string;
  text: string;
}

/** Most anchors read from one HTML body. */
const MAX_ANCHORS = 2000;
/** Longest anchor text kept; longer text is cut. */
const MAX_ANCHOR_TEXT = 500;
/** How far after `<a` the closing `</a>` is looked for. */
const ANCHOR_SPAN = 4096;

/** De-duplicated URLs of the bodies, text first, at most `max`. */
export function bodyLinks(
  bodies: { text?: string; html?: string },
  max: number,
  domains: DomainValidator,
  allowlist: Allowlist,
): { links: string[]; truncated: boolean } {
  const texts: string[] = [];
  if (bodies.text) texts.push(bodies.text);
  if (bodies.html) texts.push(decodeEntities(bodies.html));
  const seen = new Set<string>();
  let truncated = false;
  for (const text of texts) {
    const { results, capped } = extractIocs(text, {
      types: ["url"],
      maxPerType: max,
      allowlist,
      domains,
    });
    if (capped.length > 0) truncated = true;
    for (const url of results.url ?? []) {
      if (seen.size >= max) {
        truncated = true;
        break;
      }
      seen.add(url);
    }
  }
  return { links: [...seen], truncated };
}

/** The `<a href>` anchors of an HTML body with their visible text, in order. */
export function anchors(html: string): Anchor[] {
  const out: Anchor[] = [];
  const lower = html.toLowerCase();
  for (
    let at = lower.indexOf("<a");
    at >= 0 && out.length < MAX_ANCHORS;
    at = lower.indexOf("<a", at + 2)
  ) {
    const next = lower.charCodeAt(at + 2);
    // "<a " or "<a\n": not <abbr>, <area> or <audio>.
    if (next !== 0x20 && next !== 0x09 && next !== 0x0a && next !== 0x0d) continue;
    const tagEnd = lower.indexOf(">", at);
    if (tagEnd < 0) break;
    const href = attribute(html.slice(at + 2, tagEnd), "href");
    if (href === null) continue;
    const close = lower.indexOf("</a", tagEnd);
    const end = close < 0 || close - tagEnd > ANCHOR_SPAN ? tagEnd + 1 : close;
    const text = decodeEntities(html.slice(tagEnd + 1, end).replace(/<[^>]*>/g, " "))
      .replace(/\s+/g, " ").trim().slice(0, MAX_ANCHOR_TEXT);
    out.push({ href: decodeEntities(href).trim(), text });
    at = end;
  }
  return out;
}

/** The value of attribute `name` in the inside of a start tag, or null. */
function attribute(tag: string, name: string): string | null {
  const re = new RegExp(`(?:^|\\s)${name}\\s*=\\s*("[^"]*"|'[^']*'|[^\\s"'>]+)`, "i");
  const m = re.exec(tag);
  if (!m) return null;
  const v = m[1];
  return v[0] === '"' || v[0] === "'" ? v.slice(1, -1) : v;
}

const NAMED: Record<string, string> = {
  amp: "&",
  lt: "<",
  gt: ">",
  quot: '"',
  apos: "'",
  nbsp: " ",
  sol: "/",
  colon: ":",
  period: ".",
  commat: "@",
  quest: "?",
  equals: "=",
  num: "#",
  percnt: "%",
};

/**
 * `html` with numeric character references and the named ones that can spell a URL resolved
 * (the HTML 5 list has 2,231 names; the others cannot hide a link and are left as they are).
 */
export function decodeEntities(html: string): string {
  if (!html.includes("&")) return html;
  return html.replace(
    /&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z]{2,8});?/g,
    (all, ref: string) => {
      if (ref[0] !== "#") return NAMED[ref.toLowerCase()] ?? all;
      const code = ref[1] === "x" || ref[1] === "X"
        ? parseInt(ref.slice(2), 16)
        : parseInt(ref.slice(1), 10);
      return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : all;
    },
  );
}
