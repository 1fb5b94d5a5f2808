/**
 * A typed, hostile-input-safe front to the `sax` XML parser (npm `sax`), shared by the plugins
 * that read XML (xml, jnlp, plist, the text reader's Office parts, qr's zbarimg output).
 *
 * Why sax: it streams (no DOM held in memory), resolves namespaces, and never expands an entity
 * a DOCTYPE declares nor fetches anything: `&xxe;` stays the literal text `&xxe;` (reported as
 * an error), so XXE and "billion laughs" files are inert. Parse errors do not stop it: each is
 * recorded with its line and column and parsing resumes, so a malformed file still yields what
 * could be read.
 */
/** An attribute as sax reports it with namespaces on. */
export interface XmlAttribute {
  name: string;
  value: string;
  prefix: string;
  local: string;
  uri: string;
}

/** An opening tag. */
export interface XmlTag {
  name: string;
  prefix: string;
  local: string;
  uri: string;
  attributes: Record<string, XmlAttribute>;
  isSelfClosing: boolean;
}

/** What a caller listens to; every handler is optional. */
export interface XmlHandlers {
  open?(tag: XmlTag, depth: number): void;
  close?(name: string, depth: number): void;
  text?(text: string): void;
  cdata?(text: string): void;
  /**
   * Returns the general entities the DOCTYPE declares: references to them are then kept as
   * written (`&name;`) instead of being parse errors. They are never expanded.
   */
  doctype?(body: string): string[] | void;
  comment?(text: string): void;
  pi?(target: string, body: string): void;
}

/** A parse error: sax's message and where it happened (1-based line and column). */
export interface XmlError {
  message: string;
  line: number;
  column: number;
}

/** How a parse ended. */
export interface XmlParseOutcome {
  errors: XmlError[];
  /** More errors happened than were kept. */
  errors_truncated: boolean;
  /** The caller stopped the parse (see {@link XmlParseOptions.stop}). */
  stopped: boolean;
}

export interface XmlParseOptions {
  /** Errors kept (default 10). */
  maxErrors?: number;
  /** Polled between chunks: true stops the parse (a cap was reached, or the call timed out). */
  stop?: () => boolean;
  /** HTML-tolerant mode (sax's non-strict mode): no namespace checks, case-folded names. */
  loose?: boolean;
}

interface SaxParser {
  onerror: (e: Error) => void;
  onopentag: (t: XmlTag) => void;
  onclosetag: (name: string) => void;
  ontext: (t: string) => void;
  oncdata: (t: string) => void;
  ondoctype: (d: string) => void;
  oncomment: (c: string) => void;
  onprocessinginstruction: (p: { name: string; body: string }) => void;
  error: Error | null;
  ENTITIES: Record<string, string>;
  line: number;
  column: number;
  write(s: string): SaxParser;
  close(): SaxParser;
  resume(): SaxParser;
}
interface Sax {
  parser(strict: boolean, opt: Record<string, unknown>): SaxParser;
  MAX_BUFFER_LENGTH: number;
}

// sax checks its buffers between writes only, so text is fed in chunks; a single token (an
// attribute value, a DOCTYPE) may grow to this size before sax reports it and drops it.
const CHUNK = 64 * 1024;
const MAX_TOKEN = 4 * 1024 * 1024;

let loaded: Promise<Sax> | undefined;
function loadSax(): Promise<Sax> {
  loaded ??= import("sax").then((m) => {
    const sax = ((m as { default?: unknown }).default ?? m) as unknown as Sax;
    sax.MAX_BUFFER_LENGTH = MAX_TOKEN;
    return sax;
  }).catch((e) => {
    loaded = undefined;
    throw e;
  });
  return loaded;
}

/** Parses `text`, calling `handlers`; never throws for bad XML (see {@link XmlParseOutcome}). */
export async function parseXml(
  text: string,
  handlers: XmlHandlers,
  options: XmlParseOptions = {},
): Promise<XmlParseOutcome> {
  const sax = await loadSax();
  const maxErrors = options.maxErrors ?? 10;
  const p = sax.parser(!options.loose, {
    xmlns: !options.loose,
    position: true,
    trim: false,
    normalize: false,
    lowercase: true,
  });
  const errors: XmlError[] = [];
  let errorCount = 0;
  let depth = 0;
  p.onerror = (e) => {
    errorCount++;
    if (errors.length < maxErrors) {
      errors.push({
        message: e.message.split("\n")[0],
        line: p.line + 1,
        column: p.column + 1,
      });
    }
    p.error = null;
    p.resume();
  };
  p.onopentag = (t) => {
    handlers.open?.(t, depth);
    depth++;
  };
  p.onclosetag = (name) => {
    depth = Math.max(0, depth - 1);
    handlers.close?.(name, depth);
  };
  if (handlers.text) p.ontext = handlers.text;
  if (handlers.cdata) p.oncdata = handlers.cdata;
  if (handlers.doctype) {
    const doctype = handlers.doctype;
    p.ondoctype = (body) => {
      for (const name of doctype(body) ?? []) {
        if (!Object.hasOwn(p.ENTITIES, name)) p.ENTITIES[name] = `&${name};`;
      }
    };
  }
  if (handlers.comment) p.oncomment = handlers.comment;
  if (handlers.pi) p.onprocessinginstruction = (pi) => handlers.pi!(pi.name, pi.body);
  let stopped = false;
  for (let i = 0; i < text.length; i += CHUNK) {
    if (options.stop?.()) {
      stopped = true;
      break;
    }
    p.write(text.slice(i, i + CHUNK));
  }
  if (!stopped) p.close();
  return { errors, errors_truncated: errorCount > errors.length, stopped };
}

/** The XML declaration's pseudo-attributes (`version`, `encoding`, `standalone`). */
export function declarationAttributes(body: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of body.matchAll(/([A-Za-z]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g)) {
    out[m[1].toLowerCase()] = m[2] ?? m[3];
  }
  return out;
}

/**
 * Decodes XML bytes as XML 1.0 appendix F says: a BOM first, then the declared encoding, else
 * UTF-8. Undecodable bytes become U+FFFD (never an exception). Returns the text and the
 * encoding used.
 */
export function decodeXml(bytes: Uint8Array): { text: string; encoding: string } {
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) {
    return { text: new TextDecoder("utf-8").decode(bytes.subarray(3)), encoding: "utf-8" };
  }
  if (bytes[0] === 0xff && bytes[1] === 0xfe) {
    return { text: new TextDecoder("utf-16le").decode(bytes.subarray(2)), encoding: "utf-16le" };
  }
  if (bytes[0] === 0xfe && bytes[1] === 0xff) {
    return { text: new TextDecoder("utf-16be").decode(bytes.subarray(2)), encoding: "utf-16be" };
  }
  // UTF-16 without a BOM: "<?" as 16-bit units.
  if (bytes[0] === 0x3c && bytes[1] === 0 && bytes[2] === 0x3f && bytes[3] === 0) {
    return { text: new TextDecoder("utf-16le").decode(bytes), encoding: "utf-16le" };
  }
  if (bytes[0] === 0 && bytes[1] === 0x3c && bytes[2] === 0 && bytes[3] === 0x3f) {
    return { text: new TextDecoder("utf-16be").decode(bytes), encoding: "utf-16be" };
  }
  const head = new TextDecoder("latin1").decode(bytes.subarray(0, 200));
  const declared = /^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]{1,40})["']/.exec(head)?.[1];
  if (declared) {
    try {
      const dec = new TextDecoder(declared.toLowerCase());
      // A document cannot be UTF-16 once its declaration read as single bytes.
      if (!dec.encoding.startsWith("utf-16")) {
        return { text: dec.decode(bytes), encoding: dec.encoding };
      }
    } catch { /* a label TextDecoder does not know: UTF-8 as the default */ }
  }
  return { text: new TextDecoder("utf-8").decode(bytes), encoding: "utf-8" };
}
