/**
 * The visible text of an HTML document, as a reader sees it: no script, style, template or
 * head content other than the title; block elements and <br> start new lines, table cells are
 * separated by tabs, runs of white space collapse to one space. Parsed with htmlparser2 (the
 * same tokenizer browsers' HTML spec describes for raw-text elements, entities decoded).
 */
const HIDDEN = new Set([
  "script",
  "style",
  "template",
  "noscript",
  "object",
  "embed",
  "svg",
  "math",
  "iframe",
]);
const BLOCK = new Set([
  "address",
  "article",
  "aside",
  "blockquote",
  "body",
  "caption",
  "dd",
  "details",
  "dialog",
  "div",
  "dl",
  "dt",
  "fieldset",
  "figcaption",
  "figure",
  "footer",
  "form",
  "h1",
  "h2",
  "h3",
  "h4",
  "h5",
  "h6",
  "header",
  "hr",
  "li",
  "main",
  "nav",
  "ol",
  "p",
  "pre",
  "section",
  "summary",
  "table",
  "title",
  "tr",
  "ul",
  "option",
  "legend",
  "center",
]);

/** The visible text of `html`, at most `maxChars` characters (and whether it was cut). */
export async function htmlText(
  html: string,
  maxChars: number,
): Promise<{ text: string; truncated: boolean }> {
  const { Parser } = await import("htmlparser2");
  const lines: string[] = [];
  let line = "";
  let length = 0;
  let hidden = 0;
  let inHead = false;
  let inTitle = false;
  let pre = 0;
  let full = false;
  const end = () => {
    // Inside <pre>, line breaks are the author's; elsewhere white space collapses.
    const pieces = pre
      ? line.split("\n").map((l) => l.replace(/\s+$/, ""))
      : [line.replace(/\s+/g, " ").trim()];
    for (const l of pieces) {
      if (!l) continue;
      lines.push(l);
      length += l.length + 1;
      if (length > maxChars) full = true;
    }
    line = "";
  };
  const parser = new Parser({
    onopentag(name) {
      if (HIDDEN.has(name)) hidden++;
      else if (name === "head") inHead = true;
      else if (name === "title") inTitle = true;
      else if (name === "pre") pre++;
      if (name === "br") end();
      else if (name === "td" || name === "th") line += "\t";
      else if (BLOCK.has(name)) end();
    },
    onclosetag(name) {
      if (HIDDEN.has(name)) hidden = Math.max(0, hidden - 1);
      else if (name === "head") inHead = false;
      else if (name === "title") inTitle = false;
      else if (name === "pre") pre = Math.max(0, pre - 1);
      if (BLOCK.has(name)) end();
    },
    ontext(t) {
      if (full || hidden || (inHead && !inTitle)) return;
      line += t;
    },
  }, { decodeEntities: true, lowerCaseTags: true });
  // Fed in slices so that a cap reached early stops the work early.
  const CHUNK = 256 * 1024;
  for (let i = 0; i < html.length && !full; i += CHUNK) parser.write(html.slice(i, i + CHUNK));
  parser.end();
  end();
  const text = lines.join("\n");
  return { text: text.slice(0, maxChars), truncated: full || text.length > maxChars };
}
