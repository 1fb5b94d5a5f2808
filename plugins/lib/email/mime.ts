/**
 * RFC 5322 / MIME messages, read with postal-mime (zero dependencies, Web APIs only, bounded by
 * its own nesting and header-size limits). Every message/rfc822 part is kept as an attachment
 * (the plugin's child) instead of being merged into the parent's body, so that a nested message
 * is scanned as a message of its own.
 *
 * What postal-mime tolerates silently is named here as an error: a header section with no end,
 * a multipart whose closing boundary never comes (a truncated message), input that does not
 * start with a header field. When postal-mime gives up (nesting or header limits), the header
 * section alone is read again, so the result still has the sender, subject and trace.
 */
import PostalMime, { type Address, decodeWords, type Email } from "postal-mime";
import {
  emptyMessage,
  type Mailbox,
  type ParsedMessage,
  type Part,
  type ReadLimits,
  roomForPart,
} from "./message.ts";
import { installDecoders } from "./mime_decoders.ts";

installDecoders(PostalMime);

const latin1 = new TextDecoder("latin1");

// postal-mime keeps the multiparts whose closing delimiter it has not met in `boundaries`, and
// finalises the tree after the last line: what is still listed then was never closed. It reads
// the input line by line with `readLine`. None of these members is in its public types, so they
// are reached through this narrow view.
interface ParserInternals {
  boundaries: { value: Uint8Array }[];
  root: { state: string };
  finalize(): Promise<void>;
  buf: ArrayBuffer;
  av: Uint8Array;
  readPos: number;
}

/** A PostalMime that records what was left open when the input ended, and reads lines faster. */
class CheckedParser extends PostalMime {
  unclosed: string[] = [];
  headerUnended = false;

  async finalize(): Promise<void> {
    const self = this as unknown as ParserInternals;
    for (const b of self.boundaries.slice(0, 16)) this.unclosed.push(latin1.decode(b.value));
    this.headerUnended = self.root.state === "header";
    const base = PostalMime.prototype as unknown as ParserInternals;
    return await base.finalize.call(this);
  }

  /**
   * postal-mime's line reader, with the line feed found by the built-in indexOf instead of a
   * loop over every byte (a third of the parse of a message with a large attachment). Same
   * lines: up to the line feed, trailing carriage returns dropped.
   */
  readLine(): { bytes: Uint8Array; done: boolean } {
    const self = this as unknown as ParserInternals;
    const av = self.av;
    const start = self.readPos;
    const lf = av.indexOf(0x0a, start);
    let end = lf < 0 ? av.length : lf;
    self.readPos = lf < 0 ? av.length : lf + 1;
    while (end > start && av[end - 1] === 0x0d) end--;
    return { bytes: new Uint8Array(self.buf, start, end - start), done: self.readPos >= av.length };
  }
}

/**
 * Reads an RFC 5322 / MIME message. Never throws for bad input: problems go to `errors`. With
 * `headersOnly`, `bytes` is a header section alone (an Outlook item's transport headers).
 */
export async function readMime(
  bytes: Uint8Array,
  limits: ReadLimits,
  { headersOnly = false } = {},
): Promise<ParsedMessage> {
  const m = emptyMessage("mime");
  if (!startsWithHeader(bytes)) {
    m.errors.push(
      "email: the data does not start with a header field (offset 0): not an RFC 5322 message, or a damaged one",
    );
  }
  const options = {
    forceRfc822Attachments: true,
    maxRfc822NestingDepth: 0,
    maxNestingDepth: limits.maxDepth,
    maxHeadersSize: limits.maxHeaderBytes,
  };
  const parser = new CheckedParser(options);
  let email: Email;
  try {
    email = await parser.parse(bytes);
  } catch (e) {
    m.errors.push(`email: ${(e as Error).message}; only the top-level header section was read`);
    try {
      email = await new CheckedParser(options).parse(headerSection(bytes, limits.maxHeaderBytes));
    } catch {
      return m;
    }
  }
  if (parser.headerUnended) {
    m.errors.push(
      "email: no blank line ends the header section: the message is truncated or has no body",
    );
  }
  for (const b of headersOnly ? [] : parser.unclosed) {
    m.errors.push(
      `email: multipart boundary ${JSON.stringify(b)} is never closed ("--${b}--" missing): ` +
        "the message is truncated or malformed; its parts were read up to the end of the data",
    );
  }
  fill(m, email, limits);
  return m;
}

/** Fills `m` from postal-mime's result. */
function fill(m: ParsedMessage, email: Email, limits: ReadLimits): void {
  for (const h of email.headers) {
    if (m.headers.length >= limits.maxHeaders) {
      m.headers_truncated = true;
      break;
    }
    m.headers.push({
      name: h.originalKey,
      value: h.value.includes("=?") ? decodeWords(h.value) : h.value,
    });
  }
  const first = (key: string) => email.headers.find((h) => h.key === key)?.value ?? null;
  m.from = email.from ? mailboxes([email.from])[0] ?? null : null;
  m.sender = email.sender ? mailboxes([email.sender])[0] ?? null : null;
  m.reply_to = mailboxes(email.replyTo ?? []);
  m.to = mailboxes(email.to ?? []);
  m.cc = mailboxes(email.cc ?? []);
  m.bcc = mailboxes(email.bcc ?? []);
  m.return_path = email.returnPath ?? null;
  m.delivered_to = email.deliveredTo ?? null;
  m.subject = email.subject ?? null;
  m.date = first("date");
  m.message_id = email.messageId ?? null;
  m.in_reply_to = email.inReplyTo ?? null;
  m.references = email.references ?? null;
  if (email.text) m.text = email.text;
  if (email.html) m.html = email.html;
  for (const a of email.attachments) {
    if (!roomForPart(m, limits, "email")) break;
    const content = typeof a.content === "string"
      ? new TextEncoder().encode(a.content)
      : new Uint8Array(a.content);
    const type = a.mimeType.toLowerCase();
    const part: Part = {
      content,
      filename: a.filename,
      content_type: type,
      disposition: a.disposition,
      kind: type === "message/rfc822" || type === "message/global" ? "message" : "attachment",
    };
    if (a.contentId) part.content_id = a.contentId.replace(/^<|>$/g, "");
    if (a.description) part.description = a.description;
    m.parts.push(part);
  }
}

/** Mailboxes of a list of addresses, group members flattened. */
function mailboxes(list: Address[]): Mailbox[] {
  const out: Mailbox[] = [];
  for (const a of list) {
    const members = "group" in a && a.group ? a.group : [a];
    for (const box of members) {
      if (out.length >= 1000) return out;
      out.push({ name: box.name ?? "", address: "address" in box ? box.address ?? "" : "" });
    }
  }
  return out;
}

/** Whether the data starts like a message: a header field, or an mbox "From " line. */
function startsWithHeader(bytes: Uint8Array): boolean {
  const head = latin1.decode(bytes.subarray(0, 1000));
  return /^(?:From |[\x21-\x39\x3b-\x7e]{1,200}[ \t]*:)/.test(head);
}

/** The header section of a message (up to the first empty line), at most `max` bytes. */
function headerSection(bytes: Uint8Array, max: number): Uint8Array {
  const head = latin1.decode(bytes.subarray(0, max));
  const end = head.search(/\r?\n\r?\n/);
  return bytes.subarray(0, end < 0 ? head.length : end + 1);
}
