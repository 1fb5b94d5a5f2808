/**
 * What the MIME and the Outlook .msg readers hand to the report: one shape for both, so that an
 * .eml and an .msg of the same mail give the same result keys.
 */

/** A mailbox: display name (decoded) and address; either may be empty. */
export interface Mailbox {
  name: string;
  address: string;
}

/** An attachment, inline part or embedded message, with its decoded bytes. */
export interface Part {
  content: Uint8Array;
  filename: string | null;
  content_type: string;
  /** `attachment`, `inline`, or null when the part said neither. */
  disposition: string | null;
  content_id?: string;
  description?: string;
  /** `message` for an embedded message (message/rfc822, an .msg's embedded item). */
  kind: "attachment" | "message";
  /** Outlook's "hidden" flag (PidTagAttachmentHidden): not listed to the reader. */
  hidden?: boolean;
}

/** One header field as the message gave it, encoded words decoded. */
export interface HeaderField {
  name: string;
  value: string;
}

/** A parsed message: what could be read, and what was wrong (`errors`, each naming the place). */
export interface ParsedMessage {
  format: "mime" | "msg";
  headers: HeaderField[];
  headers_truncated: boolean;
  from: Mailbox | null;
  sender: Mailbox | null;
  reply_to: Mailbox[];
  to: Mailbox[];
  cc: Mailbox[];
  bcc: Mailbox[];
  return_path: string | null;
  delivered_to: string | null;
  subject: string | null;
  /** The Date field as written (made ISO 8601 by the report). */
  date: string | null;
  message_id: string | null;
  in_reply_to: string | null;
  references: string | null;
  text?: string;
  html?: string;
  /** The RTF body of an .msg (decompressed PidTagRtfCompressed). */
  rtf?: Uint8Array;
  parts: Part[];
  parts_truncated: boolean;
  errors: string[];
  /** Properties only an Outlook item has (message class, sender address type...). */
  outlook?: Record<string, unknown>;
}

/** An empty message of `format`, for readers to fill in. */
export function emptyMessage(format: ParsedMessage["format"]): ParsedMessage {
  return {
    format,
    headers: [],
    headers_truncated: false,
    from: null,
    sender: null,
    reply_to: [],
    to: [],
    cc: [],
    bcc: [],
    return_path: null,
    delivered_to: null,
    subject: null,
    date: null,
    message_id: null,
    in_reply_to: null,
    references: null,
    parts: [],
    parts_truncated: false,
    errors: [],
  };
}

/** Limits every reader honours. */
export interface ReadLimits {
  /** Most attachments and embedded messages kept. */
  maxParts: number;
  /** Most header fields kept in the result. */
  maxHeaders: number;
  /** Deepest MIME multipart nesting read. */
  maxDepth: number;
  /** Most bytes of header text, over every part of the message. */
  maxHeaderBytes: number;
}

/**
 * Whether `m` may take another part; when it may not, marks it truncated and says so once in
 * `errors` (prefixed by the reader's name).
 */
export function roomForPart(m: ParsedMessage, limits: ReadLimits, reader: string): boolean {
  if (m.parts.length < limits.maxParts) return true;
  if (!m.parts_truncated) {
    m.parts_truncated = true;
    m.errors.push(
      `${reader}: more than ${limits.maxParts} attachments; kept the first ${limits.maxParts} ` +
        "(raise max_attachments to keep more)",
    );
  }
  return false;
}
