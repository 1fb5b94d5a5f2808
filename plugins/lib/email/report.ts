/**
 * The `email` worker's result for a parsed message (.eml or .msg alike) and its children: the
 * decoded bodies (so that IOC extraction reads text, not transfer-encoded MIME), every
 * attachment and inline part, and nested messages. The attachment list gives each child's index,
 * name, type and size; its hashes are the child's own (the hash worker), not computed twice.
 */
import type { ExtractedPayload, Finding } from "../../../core/engine/plugin.ts";
import type { Allowlist, DomainValidator } from "../ioc/extract.ts";
import {
  type AuthResult,
  type AuthResults,
  findIp,
  parseAuthResults,
  parseReceived,
  parseReceivedSpf,
  type ReceivedHop,
  type ReceivedSpf,
  rfc5322DateToIso,
} from "./headers.ts";
import {
  attachmentFindings,
  authFindings,
  FindingList,
  htmlFindings,
  linkFindings,
  senderFindings,
} from "./findings.ts";
import { anchors, bodyLinks } from "./links.ts";
import type { ParsedMessage } from "./message.ts";

/** Most Received hops and Authentication-Results fields reported. */
const MAX_TRACE = 100;

/** Options of the report. */
export interface ReportOptions {
  maxLinks: number;
  bodies: boolean;
  domains: DomainValidator;
  allowlist: Allowlist;
}

/** The fields a result takes from the parsed message as they are. */
type MessageFields = Pick<
  ParsedMessage,
  | "format"
  | "subject"
  | "from"
  | "sender"
  | "reply_to"
  | "to"
  | "cc"
  | "bcc"
  | "return_path"
  | "delivered_to"
  | "message_id"
  | "in_reply_to"
  | "references"
>;

/** The result document section of one message. */
export interface EmailResult extends MessageFields {
  /** ISO 8601 (the parsed message keeps the field as written). */
  date: string | null;
  x_originating_ip: string | null;
  user_agent: string | null;
  received: ReceivedHop[];
  authentication: {
    authserv_id: string | null;
    spf: string | null;
    dkim: string | null;
    dmarc: string | null;
    arc: string | null;
    results: AuthResults[];
    received_spf: ReceivedSpf[];
  };
  body: { text_chars: number | null; html_chars: number | null; rtf_bytes: number | null };
  links: string[];
  links_truncated: boolean;
  attachments: {
    index: number;
    filename: string | null;
    content_type: string;
    disposition: string | null;
    kind: string;
    size: number;
    content_id?: string;
    description?: string;
    hidden?: boolean;
  }[];
  attachments_truncated: boolean;
  headers: { name: string; value: string }[];
  headers_truncated: boolean;
  outlook?: Record<string, unknown>;
  findings: Finding[];
}

/** The result, children and errors for a parsed message. */
export function report(
  m: ParsedMessage,
  opts: ReportOptions,
): { results: EmailResult; extracted: ExtractedPayload[]; errors: string[] } {
  const errors = [...m.errors];
  const byName = new Map<string, string[]>();
  for (const h of m.headers) {
    const key = h.name.toLowerCase();
    const list = byName.get(key);
    if (list) list.push(h.value);
    else byName.set(key, [h.value]);
  }
  const all = (name: string) => byName.get(name) ?? [];
  const firstOf = (...names: string[]) => {
    for (const n of names) {
      const v = all(n)[0];
      if (v !== undefined && v.trim() !== "") return v.trim();
    }
    return null;
  };

  let date: string | null = null;
  if (m.date) {
    date = rfc5322DateToIso(m.date);
    if (date === null) {
      errors.push(`email: Date ${JSON.stringify(m.date.slice(0, 100))} is not an RFC 5322 date`);
    }
  }
  const origin = firstOf("x-originating-ip", "x-sender-ip", "x-remote-ip", "x-orig-ip");
  const received = all("received").slice(0, MAX_TRACE).map(parseReceived);
  const results = all("authentication-results").slice(0, MAX_TRACE).map(parseAuthResults);
  const receivedSpf = all("received-spf").slice(0, MAX_TRACE).map(parseReceivedSpf);
  // The topmost field was written by the server that delivered the message to its reader;
  // lower ones came with the message and may have been forged by the sender.
  const top = results[0];
  const verdict = (method: string): string | null =>
    top?.results.find((r: AuthResult) => r.method === method)?.result ?? null;

  const { links, truncated: linksTruncated } = bodyLinks(
    m,
    opts.maxLinks,
    opts.domains,
    opts.allowlist,
  );

  const findings = new FindingList();
  senderFindings(m, findings);
  if (top) authFindings(top.results, top.authserv_id, findings);
  else if (receivedSpf[0]?.result === "fail" || receivedSpf[0]?.result === "softfail") {
    authFindings([{ method: "spf", result: receivedSpf[0].result, properties: {} }], "", findings);
  }
  attachmentFindings(m.parts.filter((p) => p.kind === "attachment"), findings);
  linkFindings(m.html ? anchors(m.html) : [], links, findings);
  htmlFindings(m.html, findings);

  const extracted: ExtractedPayload[] = [];
  if (opts.bodies) {
    // Derived text: scanned, not archived (the message itself is).
    const body = (content: Uint8Array | string, type: string) =>
      extracted.push({
        content,
        payload_meta: { should_archive: false, extra_data: { part: "body", content_type: type } },
      });
    if (m.text) body(m.text, "text/plain");
    if (m.html) body(m.html, "text/html");
    if (m.rtf) body(m.rtf, "application/rtf");
  }
  const attachments: EmailResult["attachments"] = [];
  m.parts.forEach((p, index) => {
    const extra: Record<string, unknown> = {
      part: p.kind,
      index,
      content_type: p.content_type,
      disposition: p.disposition,
    };
    if (p.filename !== null) extra.filename = p.filename;
    if (p.content_id) extra.content_id = p.content_id;
    if (p.description) extra.description = p.description;
    extracted.push({ content: p.content, payload_meta: { extra_data: extra } });
    attachments.push({
      index,
      filename: p.filename,
      content_type: p.content_type,
      disposition: p.disposition,
      kind: p.kind,
      size: p.content.length,
      ...(p.content_id ? { content_id: p.content_id } : {}),
      ...(p.description ? { description: p.description } : {}),
      ...(p.hidden ? { hidden: true } : {}),
    });
  });

  const result: EmailResult = {
    format: m.format,
    subject: m.subject,
    from: m.from,
    sender: m.sender,
    reply_to: m.reply_to,
    to: m.to,
    cc: m.cc,
    bcc: m.bcc,
    return_path: m.return_path,
    delivered_to: m.delivered_to,
    date,
    message_id: m.message_id,
    in_reply_to: m.in_reply_to,
    references: m.references,
    x_originating_ip: origin ? findIp(origin) ?? origin : null,
    user_agent: firstOf("user-agent", "x-mailer"),
    received,
    authentication: {
      authserv_id: top?.authserv_id ?? null,
      spf: verdict("spf") ?? receivedSpf[0]?.result ?? null,
      dkim: verdict("dkim"),
      dmarc: verdict("dmarc"),
      arc: verdict("arc"),
      results,
      received_spf: receivedSpf,
    },
    body: {
      text_chars: m.text?.length ?? null,
      html_chars: m.html?.length ?? null,
      rtf_bytes: m.rtf?.length ?? null,
    },
    links,
    links_truncated: linksTruncated,
    attachments,
    attachments_truncated: m.parts_truncated,
    headers: m.headers,
    headers_truncated: m.headers_truncated,
    ...(m.outlook ? { outlook: m.outlook } : {}),
    findings: findings.list(),
  };
  return { results: result, extracted, errors };
}
