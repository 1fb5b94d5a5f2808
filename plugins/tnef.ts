/**
 * TNEF (winmail.dat, application/ms-tnef): Outlook's wrapper for a message's properties and
 * attachments. Reports the message's subject, sender, recipients and dates and lists the
 * attachments; extracts each attachment, each embedded message (as a TNEF stream of its own) and
 * the bodies as children. The reader is lib/tnef/tnef.ts.
 */
import type { ExtractedPayload, StoqAPI } from "../core/engine/plugin.ts";

export default (stoq: StoqAPI) => {
  const z = stoq.z;
  return stoq.plugin({
    name: "tnef",
    version: "1.0.0",
    description:
      "TNEF (winmail.dat): message properties; attachments, embedded messages and bodies as children",
    classes: ["worker"],
    options: {
      max_attachments: z.number().int().positive().default(1000),
      max_attributes: z.number().int().positive().default(100_000),
      max_properties: z.number().int().positive().default(10_000),
      bodies: z.boolean().default(true),
    },
    create: async (opts) => {
      const [{ readTnef }, { decompressBody }, findings, { anchors }] = await Promise.all([
        import("./lib/tnef/tnef.ts"),
        import("./lib/email/rtf.ts"),
        import("./lib/email/findings.ts"),
        import("./lib/email/links.ts"),
      ]);
      const limits = {
        maxAttachments: opts.max_attachments,
        maxAttributes: opts.max_attributes,
        maxProperties: opts.max_properties,
      };
      return {
        scan(payload) {
          const m = readTnef(payload.content, limits);
          const errors = [...m.errors];
          const extracted: ExtractedPayload[] = [];
          let rtf: Uint8Array | undefined;
          if (m.rtf_compressed) {
            const out = decompressBody(m.rtf_compressed);
            rtf = out.rtf;
            if (out.error) errors.push(`tnef: RTF body: ${out.error}`);
          }
          const html = m.html ? new TextDecoder().decode(m.html) : undefined;
          if (opts.bodies) {
            const body = (content: Uint8Array | string, type: string) =>
              extracted.push({
                content,
                payload_meta: {
                  should_archive: false,
                  extra_data: { part: "body", content_type: type },
                },
              });
            if (m.body) body(m.body, "text/plain");
            if (m.html) body(m.html, "text/html");
            if (rtf) body(rtf, "application/rtf");
          }
          const attachments = m.attachments.map((a, index) => {
            const content = a.embedded_message ?? a.data;
            const filename = a.long_filename ?? a.title;
            const type = a.embedded_message ? "application/ms-tnef" : a.content_type;
            if (content) {
              const extra: Record<string, unknown> = {
                part: a.embedded_message ? "message" : "attachment",
                index,
                content_type: type ?? "application/octet-stream",
              };
              if (filename !== null) extra.filename = filename;
              if (a.content_id) extra.content_id = a.content_id;
              extracted.push({ content, payload_meta: { extra_data: extra } });
            } else {
              errors.push(
                `tnef: attachment ${index} (${JSON.stringify(filename)}) carries no data`,
              );
            }
            return {
              index,
              filename,
              title: a.title,
              content_type: type,
              content_id: a.content_id,
              method: a.method,
              embedded_message: a.embedded_message !== null,
              hidden: a.hidden,
              created: a.created,
              modified: a.modified,
              size: content?.length ?? 0,
            };
          });
          const list = new findings.FindingList();
          findings.attachmentFindings(
            m.attachments.filter((a) => a.data).map((a) => ({
              filename: a.long_filename ?? a.title,
              content: a.data!,
            })),
            list,
          );
          findings.linkFindings(html ? anchors(html) : [], [], list);
          const results = {
            key: m.key,
            version: m.version,
            oem_codepage: m.oem_codepage,
            message_class: m.message_class,
            subject: m.subject,
            message_id: m.message_id,
            internet_message_id: m.internet_message_id,
            date_sent: m.date_sent,
            date_received: m.date_received,
            client_submit_time: m.client_submit_time,
            priority: m.priority,
            sender: m.sender,
            recipients: m.recipients,
            body: {
              text_chars: m.body?.length ?? null,
              html_bytes: m.html?.length ?? null,
              rtf_bytes: rtf?.length ?? null,
            },
            has_transport_headers: m.transport_headers !== null,
            attributes: m.attributes,
            named_properties: m.named_properties,
            attachments,
            attachments_truncated: m.attachments_truncated,
            findings: list.list(),
          };
          return { results, extracted, errors };
        },
      };
    },
  });
};
