/**
 * File-type detection shared by the `mimetype` worker and the `route` dispatcher: magic numbers
 * via `file-type`, then a cheap text/binary test for what file-type does not know.
 *
 * Only the first {@link SAMPLE_SIZE} bytes are looked at (stoQ's libmagic looked at 1000), and
 * never copied: this runs on every payload of a scan.
 */
import type { fileTypeFromBuffer } from "file-type";

/** A detected type: a MIME type and the usual file extension (no dot), null when unknown. */
export interface Detection {
  readonly mimetype: string;
  readonly extension: string | null;
}

/** How many leading bytes detection reads. */
export const SAMPLE_SIZE = 64 * 1024;

// file-type costs tens of milliseconds to import; load it on first use, once per process.
let fileType: Promise<typeof fileTypeFromBuffer> | undefined;
function loadFileType(): Promise<typeof fileTypeFromBuffer> {
  fileType ??= import("file-type").then((m) => m.fileTypeFromBuffer).catch((e) => {
    fileType = undefined;
    throw e;
  });
  return fileType;
}

// Detections are shared between callers, so they are frozen.
const kind = (mimetype: string, extension: string | null): Detection =>
  Object.freeze({ mimetype, extension });
const EMPTY = kind("application/x-empty", null);
const BINARY = kind("application/octet-stream", null);
const PLAIN = kind("text/plain", "txt");

/** Detects the type of `content` from its first {@link SAMPLE_SIZE} bytes. */
export async function detect(content: Uint8Array): Promise<Detection> {
  if (content.length === 0) return EMPTY;
  const sample = content.length > SAMPLE_SIZE ? content.subarray(0, SAMPLE_SIZE) : content;
  const fromBuffer = await loadFileType();
  // A parser bug tripped by hostile input must not cost the payload its type: fall back to the
  // text test, as for a format file-type does not know.
  const found = await fromBuffer(sample).catch(() => undefined);
  if (found) return kind(found.mime, found.ext);
  const head = textHead(sample, sample.length < content.length);
  return head === null ? BINARY : textKind(head);
}

const cache = new WeakMap<Uint8Array, Promise<Detection>>();

/**
 * {@link detect} memoised per payload: the route dispatcher and the mimetype worker both ask
 * for the same payload in one scan. Keyed by the content array, so entries die with it.
 */
export function detectFor(payload: { readonly content: Uint8Array }): Promise<Detection> {
  let pending = cache.get(payload.content);
  if (!pending) {
    pending = detect(payload.content);
    cache.set(payload.content, pending);
  }
  return pending;
}

// Control characters that ordinary text uses: BEL, BS, TAB, LF, VT, FF, CR and ESC (ANSI
// colours). This is libmagic's set of "text" controls, so plain text is judged as stoQ did.
const TEXT_CONTROLS = (1 << 7) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 11) | (1 << 12) |
  (1 << 13) | (1 << 27);
// Text may hold a few stray controls (a form feed too many, a lone SOH); more than this is data.
const MAX_CONTROL_SHARE = 0.01;
// Enough characters to see a shebang line or the first tag of a markup file.
const HEAD_CHARS = 512;

const utf8 = new TextDecoder();

/** The first characters of `sample` if it reads as text, or null if it looks binary. */
function textHead(sample: Uint8Array, truncated: boolean): string | null {
  if (sample[0] === 0xff && sample[1] === 0xfe) return utf16Head(sample, true, truncated);
  if (sample[0] === 0xfe && sample[1] === 0xff) return utf16Head(sample, false, truncated);
  const start = sample[0] === 0xef && sample[1] === 0xbb && sample[2] === 0xbf ? 3 : 0;
  if (!isUtf8Text(sample, start, truncated)) return null;
  return utf8.decode(sample.subarray(start, start + HEAD_CHARS));
}

/** Whether `s` from `start` is valid UTF-8 without NUL and with few control characters. */
function isUtf8Text(s: Uint8Array, start: number, truncated: boolean): boolean {
  const n = s.length;
  let controls = 0;
  let i = start;
  while (i < n) {
    const b = s[i];
    if (b < 0x80) {
      if (b < 0x20 || b === 0x7f) {
        if (b === 0) return false;
        if (!((TEXT_CONTROLS >>> b) & 1)) controls++;
      }
      i++;
      continue;
    }
    // Unicode's table of well-formed UTF-8: no overlongs, no surrogates, nothing past U+10FFFF.
    let need: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) {
      need = 1;
      if (b === 0xc2 && s[i + 1] < 0xa0) controls++; // C1 controls U+0080..U+009F
    } else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      if (b === 0xe0) lo = 0xa0;
      else if (b === 0xed) hi = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      if (b === 0xf0) lo = 0x90;
      else if (b === 0xf4) hi = 0x8f;
    } else return false;
    if (i + need >= n) {
      // A character cut by the end of the sample is not an encoding error.
      if (!truncated) return false;
      break;
    }
    const c1 = s[i + 1];
    if (c1 < lo || c1 > hi) return false;
    for (let k = 2; k <= need; k++) if ((s[i + k] & 0xc0) !== 0x80) return false;
    i += need + 1;
  }
  return controls <= (n - start) * MAX_CONTROL_SHARE;
}

/** The first characters of UTF-16 text after its byte-order mark, or null if not text. */
function utf16Head(sample: Uint8Array, le: boolean, truncated: boolean): string | null {
  let end = 2 + ((sample.length - 2) & ~1);
  // A surrogate pair cut by the end of the sample is not an encoding error.
  if (truncated && end > 2 && (sample[le ? end - 1 : end - 2] & 0xfc) === 0xd8) end -= 2;
  let text: string;
  try {
    text = new TextDecoder(le ? "utf-16le" : "utf-16be", { fatal: true, ignoreBOM: true })
      .decode(sample.subarray(2, end));
  } catch {
    return null;
  }
  let controls = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0) return null;
    if ((c < 0x20 && !((TEXT_CONTROLS >>> c) & 1)) || (c >= 0x7f && c <= 0x9f)) controls++;
  }
  return controls <= text.length * MAX_CONTROL_SHARE ? text.slice(0, HEAD_CHARS) : null;
}

// Script interpreters → the MIME type libmagic gives their scripts; other shebangs are shell.
const JS = kind("application/javascript", "js");
const INTERPRETERS: Record<string, Detection> = {
  python: kind("text/x-script.python", "py"),
  perl: kind("text/x-perl", "pl"),
  ruby: kind("text/x-ruby", "rb"),
  php: kind("text/x-php", "php"),
  node: JS,
  nodejs: JS,
};
const SHELL = kind("text/x-shellscript", "sh");
const HTML = kind("text/html", "html");
// file-type says application/xml for `<?xml ` at byte 0; say the same when a BOM or blank
// lines come first, so one rule catches both.
const XML = kind("application/xml", "xml");
const MAIL = kind("message/rfc822", "eml");

// The starts libmagic's own "sgml" and "mail" magic looks for.
const HTML_START = /^\s*<(?:!doctype\s+html|html|head|body|title|script)[\s>]/i;
const XML_START = /^\s*<\?xml\s/;
const MAIL_HEADER =
  /^(?:received|return-path|delivered-to|x-original-to|message-id|mime-version|from|to|subject|date):[^\r\n]*\r?\n(?:[\t ]|[a-z][a-z0-9-]*:)/i;

/** The kind of text whose first characters are `head`. */
function textKind(head: string): Detection {
  if (head.startsWith("#!")) {
    const words = head.slice(2, head.search(/\r|\n|$/)).trim().split(/\s+/);
    let program = words[0].slice(words[0].lastIndexOf("/") + 1);
    if (program === "env") program = words.slice(1).find((w) => !w.startsWith("-")) ?? "";
    return INTERPRETERS[program.replace(/[\d.]+$/, "")] ?? SHELL;
  }
  if (XML_START.test(head)) return XML;
  if (HTML_START.test(head)) return HTML;
  if (MAIL_HEADER.test(head)) return MAIL;
  return PLAIN;
}
