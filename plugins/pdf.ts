/**
 * PDF analysis: version, encryption, object/stream/xref counts, pages, metadata, risky keys
 * (pdfid's list and more), actions with their triggers, JavaScript, URIs, attachments, XFA, and
 * findings an analyst would flag. Children: each script, each attachment (named as the document
 * names it), XFA forms, and decoded streams that hold a file or a script. Encrypted files are
 * decrypted when the user password is empty (or given in `passwords`). Malformed files give
 * what could be read plus `repairs` and an error naming the damage. Parsing: lib/pdf/.
 */
import type { StoqAPI } from "../core/engine/plugin.ts";

const MiB = 1024 * 1024;

export default (stoq: StoqAPI) => {
  const z = stoq.z;
  const count = z.number().int().positive();
  return stoq.plugin({
    name: "pdf",
    version: "1.0.0",
    description: "Structure, actions, JavaScript, URIs and attachments of PDF documents",
    classes: ["worker"],
    options: {
      passwords: z.array(z.string()).default([""]),
      max_objects: count.default(200_000),
      max_stream_bytes: count.default(64 * MiB),
      max_decoded_bytes: count.default(512 * MiB),
      max_stream_children: z.number().int().min(0).default(50),
      extract_images: z.boolean().default(true),
      max_list: count.default(1000),
      javascript_chars: z.number().int().min(0).default(4000),
    },
    create: (opts) => ({
      async scan(payload) {
        const { analyzePdf } = await import("./lib/pdf/analyze.ts");
        const { results, children, errors } = analyzePdf(payload.content, {
          passwords: opts.passwords.length ? opts.passwords : [""],
          maxObjects: opts.max_objects,
          maxStreamBytes: opts.max_stream_bytes,
          maxDecodedBytes: opts.max_decoded_bytes,
          maxStreamChildren: opts.max_stream_children,
          extractImages: opts.extract_images,
          maxList: opts.max_list,
          javascriptChars: opts.javascript_chars,
        });
        return {
          results,
          extracted: children.map((c) => ({
            content: c.content,
            payload_meta: { extra_data: c.extra },
          })),
          errors,
        };
      },
    }),
  });
};
