/**
 * Reads the elements of OOXML parts with a small linear-time tag scanner instead of an XML tree.
 *
 * Why not an XML parser: the parts read here (content types, relationships, document properties,
 * workbook, external links, and the bodies searched for fields and OLE objects) are read for a
 * few elements each, and building a tree with fast-xml-parser was 40% of the plugin's time, which
 * must stay near the cost of a YARA scan of the same file. Why not regular expressions: on hostile
 * input (a start tag that never closes, an attribute with no closing quote, repeated a million
 * times) backtracking patterns turn quadratic; every step here moves forward. Namespace prefixes
 * are ignored (a writer may bind any prefix), entities and character references are decoded; a
 * DOCTYPE's own entities are not expanded, so there is nothing to blow up.
 */

const NAMED: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

/** Decodes XML's five named entities and character references. */
export function decodeEntities(s: string): string {
  if (!s.includes("&")) return s;
  return s.replace(/&(#x[0-9a-fA-F]{1,6}|#[0-9]{1,7}|amp|lt|gt|quot|apos);/g, (m, e: string) => {
    if (e[0] !== "#") return NAMED[e];
    const cp = e[1] === "x" ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
    return cp <= 0x10ffff ? String.fromCodePoint(cp) : m;
  });
}

/** One tag: its local name, whether it closes an element, its attribute text and position. */
export interface Tag {
  name: string;
  closing: boolean;
  selfClosing: boolean;
  attrText: string;
  /** Offset of `<`. */
  start: number;
  /** Offset just past `>`. */
  end: number;
}

const isNameChar = (c: number) =>
  (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) ||
  c === 0x5f || c === 0x2d || c === 0x2e || c === 0x3a || c > 0x7f;

/** Every element tag of `xml` in order (comments, CDATA, declarations and PIs skipped). */
export function* tags(xml: string): Generator<Tag> {
  let i = xml.indexOf("<");
  while (i >= 0 && i + 1 < xml.length) {
    const c = xml.charCodeAt(i + 1);
    if (c === 0x21 || c === 0x3f) { // <! or <?
      const close = xml.startsWith("<!--", i)
        ? "-->"
        : xml.startsWith("<![CDATA[", i)
        ? "]]>"
        : ">";
      const end = xml.indexOf(close, i + 2);
      if (end < 0) return;
      i = xml.indexOf("<", end + close.length);
      continue;
    }
    const closing = c === 0x2f;
    let p = i + (closing ? 2 : 1);
    const nameStart = p;
    while (p < xml.length && isNameChar(xml.charCodeAt(p))) p++;
    const end = xml.indexOf(">", p);
    if (end < 0) return; // no tag ends after this one
    const qname = xml.slice(nameStart, p);
    const colon = qname.lastIndexOf(":");
    const selfClosing = xml.charCodeAt(end - 1) === 0x2f;
    yield {
      name: colon >= 0 ? qname.slice(colon + 1) : qname,
      closing,
      selfClosing,
      attrText: xml.slice(p, selfClosing ? end - 1 : end),
      start: i,
      end: end + 1,
    };
    i = xml.indexOf("<", end + 1);
  }
}

/** The attributes of one tag's attribute text (`a="1" b='2'`), prefixes dropped. */
export function tagAttributes(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  let p = 0;
  while (p < text.length) {
    const eq = text.indexOf("=", p);
    if (eq < 0) break;
    const qname = text.slice(p, eq).trim();
    let q = eq + 1;
    while (
      q < text.length &&
      (text[q] === " " || text[q] === "\t" || text[q] === "\n" || text[q] === "\r")
    ) q++;
    const quote = text[q];
    if (quote !== '"' && quote !== "'") break;
    const close = text.indexOf(quote, q + 1);
    if (close < 0) break;
    const local = qname.slice(qname.lastIndexOf(":") + 1);
    if (local && !(local in out)) out[local] = decodeEntities(text.slice(q + 1, close));
    p = close + 1;
  }
  return out;
}

/** The attributes of each `name` start tag in `xml`, at most `max`. */
export function elements(xml: string, name: string, max = 10_000): Record<string, string>[] {
  const out: Record<string, string>[] = [];
  if (!xml.includes(name)) return out;
  for (const t of tags(xml)) {
    if (t.closing || t.name !== name) continue;
    out.push(tagAttributes(t.attrText));
    if (out.length >= max) break;
  }
  return out;
}

/** The text right after the first `name` start tag (entities decoded), or undefined. */
export function elementText(xml: string, name: string): string | undefined {
  if (!xml.includes(name)) return undefined;
  for (const t of tags(xml)) {
    if (t.closing || t.name !== name) continue;
    if (t.selfClosing) return "";
    const next = xml.indexOf("<", t.end);
    return decodeEntities(xml.slice(t.end, next < 0 ? xml.length : next));
  }
  return undefined;
}

/** Each `name` element's attributes and inner XML, at most `max` (one pass, nesting counted). */
export function elementBlocks(
  xml: string,
  name: string,
  max = 10_000,
): { attrs: Record<string, string>; inner: string }[] {
  const out: { attrs: Record<string, string>; inner: string }[] = [];
  if (!xml.includes(name)) return out;
  let open: { attrs: Record<string, string>; from: number; depth: number } | undefined;
  for (const t of tags(xml)) {
    if (t.name !== name) continue;
    if (!open) {
      if (t.closing) continue;
      if (t.selfClosing) out.push({ attrs: tagAttributes(t.attrText), inner: "" });
      else open = { attrs: tagAttributes(t.attrText), from: t.end, depth: 1 };
    } else if (t.closing) {
      if (--open.depth === 0) {
        out.push({ attrs: open.attrs, inner: xml.slice(open.from, t.start) });
        open = undefined;
      }
    } else if (!t.selfClosing) {
      open.depth++;
    }
    if (out.length >= max) break;
  }
  return out;
}
