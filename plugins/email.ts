/**
 * E-mail messages: RFC 5322 / MIME (.eml) and Outlook items (.msg). Reports the sender and
 * recipients, subject, ISO 8601 date, Received hops, the SPF/DKIM/DMARC verdicts the receiving
 * server wrote, the links of both bodies and what an analyst would flag (lib/email/findings.ts);
 * extracts the decoded bodies, every attachment and inline part, and nested messages as children.
 * Readers and report live in lib/email/.
 */
import type { StoqAPI } from "../core/engine/plugin.ts";

export default (stoq: StoqAPI) => {
  const z = stoq.z;
  const count = z.number().int().positive();
  return stoq.plugin({
    name: "email",
    version: "1.0.0",
    description:
      "E-mail (.eml MIME, Outlook .msg): headers, hops, SPF/DKIM/DMARC verdicts, links, findings; bodies and attachments as children",
    classes: ["worker"],
    options: {
      max_attachments: count.default(1000),
      max_links: count.default(1000),
      max_headers: count.default(1000),
      max_depth: count.default(50),
      max_header_bytes: count.default(1024 * 1024),
      // The decoded text, HTML and RTF bodies as children, for iocextract and the other workers.
      bodies: z.boolean().default(true),
    },
    create: async (opts) => {
      // tldts (in lib/ioc/extract.ts and the findings) carries the public suffix list: load it only
      // when this worker is used.
      const [{ readMime }, { readMsg }, { report }, ioc] = await Promise.all([
        import("./lib/email/mime.ts"),
        import("./lib/email/msg.ts"),
        import("./lib/email/report.ts"),
        import("./lib/ioc/extract.ts"),
      ]);
      const limits = {
        maxParts: opts.max_attachments,
        maxHeaders: opts.max_headers,
        maxDepth: opts.max_depth,
        maxHeaderBytes: opts.max_header_bytes,
      };
      const reportOptions = {
        maxLinks: opts.max_links,
        bodies: opts.bodies,
        domains: new ioc.DomainValidator(),
        allowlist: new ioc.Allowlist(),
      };
      return {
        async scan(payload) {
          const c = payload.content;
          const ole = c.length >= 8 && c[0] === 0xd0 && c[1] === 0xcf && c[2] === 0x11 &&
            c[3] === 0xe0;
          const message = ole ? await readMsg(c, limits) : await readMime(c, limits);
          return report(message, reportOptions);
        },
      };
    },
  });
};
