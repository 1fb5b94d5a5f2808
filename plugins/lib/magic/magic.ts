/**
 * File-type detection shared by the `mimetype` worker and the `route` dispatcher, so that routing
 * uses the type the result shows: magic numbers via `file-type`, OLE2 files told apart by
 * lib/office/subtype.ts, then a cheap text/binary test for what file-type does not know; or, when
 * the mimetype worker is set to `engine = "libmagic"`, libmagic through `file` for both.
 *
 * Only the first {@link SAMPLE_SIZE} bytes are looked at by file-type (stoQ's libmagic looked at
 * 1000), and never copied: this runs on every payload of a scan.
 */
import type { fileTypeFromBuffer } from "file-type";
import type { CallContext } from "../../../core/engine/plugin.ts";
import { oleKind } from "../office/subtype.ts";

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
  if (found?.mime === "application/x-cfb") {
    const ole = oleKind(content);
    return ole ? kind(ole.mimetype, ole.extension) : kind(found.mime, found.ext);
  }
  if (found) return kind(found.mime, found.ext);
  const head = textHead(sample, sample.length < content.length);
  return head === null ? BINARY : textKind(head);
}

const cache = new WeakMap<Uint8Array, Promise<Detection>>();

/** Which detector {@link detectFor} uses; the mimetype worker sets it from its `engine`. */
export type Engine = "file-type" | "libmagic";
let engine: Engine = "file-type";

/** Sets the detector for this process (thread): the mimetype worker's `engine` option. */
export function useEngine(e: Engine): void {
  engine = e;
}

/**
 * The type of a payload, memoised: the route dispatcher and the mimetype worker both ask for the
 * same payload in one scan, and must agree. Keyed by the content array, so entries die with it.
 * With libmagic, `call` runs `file` (the caller declares the tool).
 */
export function detectFor(
  payload: { readonly content: Uint8Array },
  call?: CallContext,
): Promise<Detection> {
  let pending = cache.get(payload.content);
  if (!pending) {
    pending = engine === "libmagic" && call
      ? detectLibmagic(payload.content, call)
      : detect(payload.content);
    cache.set(payload.content, pending);
    // A failed `file` run is not remembered: the next caller tries again.
    pending.catch(() => cache.delete(payload.content));
  }
  return pending;
}

/** What `file --brief --mime-type` prints: `type/subtype`. */
const MIME = /^[a-z0-9][\w.+-]*\/[\w.+-]+$/i;

/** MIME type and first usual extension according to libmagic (`file` reading stdin). */
export async function detectLibmagic(content: Uint8Array, call: CallContext): Promise<Detection> {
  const run = async (flag: string) => {
    const out = await call.exec("file", ["--brief", flag, "-"], {
      stdin: content,
      maxOutput: 4096,
    });
    const text = new TextDecoder().decode(out.stdout).trim();
    if (out.code !== 0) {
      throw new Error(`file ${flag} failed (exit ${out.code}): ${out.stderr.trim() || text}`);
    }
    return text;
  };
  const [mimetype, extensions] = await Promise.all([run("--mime-type"), run("--extension")]);
  if (!MIME.test(mimetype)) throw new Error(`file --mime-type printed ${JSON.stringify(mimetype)}`);
  // libmagic lists alternatives ("jpeg/jpg/jpe/jfif") and says "???" when it knows none.
  const first = extensions.split("/")[0];
  return kind(mimetype, first === "???" || first === "" ? null : first);
}

// Text may hold a few stray controls (a form feed too many, a lone SOH); more than this is data.
const MAX_CONTROL_SHARE = 0.01;
// Enough characters to see a shebang line or the first tag of a markup file.
const HEAD_CHARS = 512;
// How much is decoded to judge text: plenty for a verdict, cheap on every payload.
export const TEXT_SAMPLE = 16 * 1024;
// Controls that ordinary text does not use: all C0 but BEL, BS, TAB, LF, VT, FF, CR and ESC
// (libmagic's "text" set, so plain text is judged as stoQ judged it), DEL and the C1 range.
// deno-lint-ignore no-control-regex -- matching control characters is the point
const STRAY_CONTROLS = /[\x01-\x06\x0e-\x1a\x1c-\x1f\x7f-\x9f]/g;

/** The first characters of `sample` if it reads as text (UTF-8, or UTF-16 with a BOM), else null. */
function textHead(sample: Uint8Array, truncated: boolean): string | null {
  let encoding = "utf-8";
  if (sample[0] === 0xff && sample[1] === 0xfe) encoding = "utf-16le";
  else if (sample[0] === 0xfe && sample[1] === 0xff) encoding = "utf-16be";
  const part = sample.subarray(0, TEXT_SAMPLE);
  let text: string;
  try {
    // `stream` keeps a character cut by the end of the sample from counting as an error.
    text = new TextDecoder(encoding, { fatal: true })
      .decode(part, { stream: truncated || part.length < sample.length });
  } catch {
    return null;
  }
  if (text.includes("\0")) return null;
  const controls = text.match(STRAY_CONTROLS)?.length ?? 0;
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
