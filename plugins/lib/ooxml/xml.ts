/**
 * Reads elements of OOXML parts with bounded regular expressions instead of an XML tree.
 *
 * Why not an XML parser: the parts read here (content types, relationships, document properties,
 * workbook, external links) are flat lists of elements with attributes or text, and building a
 * tree with fast-xml-parser was 40% of the plugin's time, which must stay near the cost of a YARA
 * scan of the same file. Namespace prefixes are ignored (a writer may bind any prefix), entities
 * and character references are decoded; a DOCTYPE's own entities are not expanded, so there is
 * nothing to blow up.
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

/** The attributes of one start tag's attribute text (`a="1" b='2'`), prefixes dropped. */
export function tagAttributes(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of text.matchAll(/([\w.-]+:)?([\w.-]+)\s*=\s*("([^"]*)"|'([^']*)')/g)) {
    out[m[2]] = decodeEntities(m[4] ?? m[5] ?? "");
  }
  return out;
}

const patterns = new Map<string, RegExp>();
function pattern(key: string, make: () => RegExp): RegExp {
  let p = patterns.get(key);
  if (!p) patterns.set(key, p = make());
  p.lastIndex = 0;
  return p;
}

/** The attributes of each `name` element (start or empty tag) in `xml`, at most `max`. */
export function elements(xml: string, name: string, max = 10_000): Record<string, string>[] {
  const re = pattern(
    `e:${name}`,
    () => new RegExp(`<(?:[\\w.-]+:)?${name}(?=[\\s/>])([^>]*)>`, "g"),
  );
  const out: Record<string, string>[] = [];
  for (const m of xml.matchAll(re)) {
    out.push(tagAttributes(m[1]));
    if (out.length >= max) break;
  }
  return out;
}

/** The text of the first `name` element in `xml` (entities decoded), or undefined. */
export function elementText(xml: string, name: string): string | undefined {
  const re = pattern(
    `t:${name}`,
    () => new RegExp(`<(?:[\\w.-]+:)?${name}(?=[\\s/>])[^>]*?(/>|>([^<]*)<)`),
  );
  const m = re.exec(xml);
  if (!m) return undefined;
  return m[1] === "/>" ? "" : decodeEntities(m[2] ?? "");
}

/** Each `name` element's attributes and inner XML (for elements with children), at most `max`. */
export function elementBlocks(
  xml: string,
  name: string,
  max = 10_000,
): { attrs: Record<string, string>; inner: string }[] {
  const re = pattern(
    `b:${name}`,
    () =>
      new RegExp(
        `<(?:[\\w.-]+:)?${name}(?=[\\s/>])([^>]*?)(?:/>|>([\\s\\S]*?)</(?:[\\w.-]+:)?${name}\\s*>)`,
        "g",
      ),
  );
  const out: { attrs: Record<string, string>; inner: string }[] = [];
  for (const m of xml.matchAll(re)) {
    out.push({ attrs: tagAttributes(m[1]), inner: m[2] ?? "" });
    if (out.length >= max) break;
  }
  return out;
}
