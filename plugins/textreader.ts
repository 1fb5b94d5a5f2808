/**
 * The words of documents as a text child (`<name>.txt`, text/plain UTF-8), so that iocextract
 * and keywords read what a reader sees rather than the container's bytes:
 * - PDF: pdftotext (poppler-utils), in its own killable process, at most pdf_max_pages pages;
 * - OOXML (docx, xlsx, pptx) and OpenDocument: the XML parts, in-process (lib/text/office.ts);
 * - legacy Office: catdoc (.doc), xls2csv (.xls) from Debian's catdoc package (antiword rejects
 *   the .doc files LibreOffice writes: "text stream too small"); .ppt in-process
 *   (lib/office/ppt.ts: catppt finds no text in the .ppt files LibreOffice writes);
 * HTML is left to the html worker, whose visible-text child serves the same purpose.
 * The text is capped at max_bytes (the result says when it was cut). The child is never read
 * again by this plugin, so a document whose text is itself HTML cannot make a loop.
 */
import type { CallContext, StoqAPI } from "../core/engine/plugin.ts";
import { detectArchive } from "./lib/archive/detect.ts";
import { officeText } from "./lib/text/office.ts";

/** Where text came from, for the result and the child's extra_data. */
interface Extracted {
  format: string;
  extractor: string;
  text: string;
  truncated: boolean;
  pages?: number;
  parts?: string[];
  skipped?: { name: string; reason: string }[];
  slides?: number;
  errors?: string[];
}

/** Slides' then notes' text of a PowerPoint 97-2003 file, read in-process (lib/office/ppt.ts). */
async function pptText(content: Uint8Array, maxBytes: number): Promise<Extracted> {
  const { CompoundFile } = await import("./lib/office/cfb.ts");
  const { readPpt } = await import("./lib/office/ppt.ts");
  const cfb = new CompoundFile(content);
  const stream = cfb.find("PowerPoint Document");
  if (!stream) throw new Error("no PowerPoint Document stream in the directory");
  const user = cfb.find("Current User");
  const ppt = readPpt(cfb.read(stream), user && cfb.read(user), {
    maxVbaSize: 0,
    maxChars: maxBytes,
  });
  const pages = [...ppt.slides, ...ppt.notes].map((p) => p.text.join("\n")).filter(Boolean);
  const { text, truncated } = capUtf8(pages.join("\n\n"), maxBytes);
  return {
    format: "ppt",
    extractor: "ppt",
    text,
    truncated: truncated || ppt.truncated,
    slides: ppt.slides.length,
    errors: [...cfb.errors, ...ppt.errors],
  };
}

const utf16 = (s: string) => {
  const b = new Uint8Array(s.length * 2);
  for (let i = 0; i < s.length; i++) b[i * 2] = s.charCodeAt(i);
  return b;
};
/** OLE stream names (UTF-16LE in the directory) → the catdoc tool that reads that document. */
const OLE_READERS: [Uint8Array, string, string][] = [
  [utf16("WordDocument"), "doc", "catdoc"],
  [utf16("Workbook"), "xls", "xls2csv"],
  [utf16("PowerPoint Document"), "ppt", "ppt"],
];

function indexOf(hay: Uint8Array, needle: Uint8Array): number {
  const first = needle[0];
  outer: for (
    let i = hay.indexOf(first);
    i >= 0 && i <= hay.length - needle.length;
    i = hay.indexOf(first, i + 1)
  ) {
    for (let j = 1; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

const isPdf = (c: Uint8Array) =>
  indexOf(c.subarray(0, 1024), new TextEncoder().encode("%PDF-")) >= 0;
const isOle = (c: Uint8Array) =>
  c.length > 512 && c[0] === 0xd0 && c[1] === 0xcf && c[2] === 0x11 && c[3] === 0xe0;

/** `text` cut to at most `max` UTF-8 bytes on a character boundary, and whether it was cut. */
export function capUtf8(text: string, max: number): { text: string; truncated: boolean } {
  const bytes = new TextEncoder().encode(text);
  if (bytes.length <= max) return { text, truncated: false };
  return {
    text: new TextDecoder().decode(bytes.subarray(0, max)).replace(/\uFFFD$/, ""),
    truncated: true,
  };
}

export default (stoq: StoqAPI) => {
  const z = stoq.z;
  return stoq.plugin({
    name: "textreader",
    version: "1.0.0",
    description:
      "Text of PDF and Office (OOXML, ODF, .doc/.xls/.ppt) documents as a text child for iocextract and keywords",
    classes: ["worker"],
    tools: { pdftotext: "poppler-utils", catdoc: "catdoc", xls2csv: "catdoc" },
    options: {
      max_bytes: z.number().int().positive().default(1024 * 1024),
      pdf_max_pages: z.number().int().positive().default(500),
    },
    create: (opts) => {
      const run = async (tool: string, args: string[], content: Uint8Array, call: CallContext) => {
        // Text is never much larger than its document; more output than this is refused.
        const maxOutput = Math.max(opts.max_bytes, content.length * 8) + 65536;
        const out = await call.withTempFile(
          content,
          (path) => call.exec(tool, [...args, path], { maxOutput }),
        );
        if (out.code !== 0) {
          const why = out.stderr.trim().split("\n").at(-1) || `exit ${out.code}`;
          throw new Error(`${tool} failed: ${why}`);
        }
        return new TextDecoder().decode(out.stdout);
      };
      const capped = (text: string) => capUtf8(text, opts.max_bytes);
      const extract = async (
        payload: { content: Uint8Array },
        call: CallContext,
      ): Promise<Extracted | string> => {
        const c = payload.content;
        if (isPdf(c)) {
          // pdftotext writes to a file beside the payload in the private temporary folder; only
          // the first max_bytes are read back, however much text the pages hold.
          const raw = await call.withTempFile(c, async (path) => {
            const txt = `${path}.txt`;
            const args = ["-enc", "UTF-8", "-l", String(opts.pdf_max_pages), path, txt];
            const out = await call.exec("pdftotext", args, { maxOutput: 65536 });
            if (out.code !== 0) {
              throw new Error(
                `pdftotext failed (exit ${out.code}): ${
                  out.stderr.trim().split("\n").at(-1) || "no message"
                }`,
              );
            }
            using f = await Deno.open(txt);
            const buf = new Uint8Array(opts.max_bytes + 1);
            let n = 0;
            for (
              let r = await f.read(buf);
              r !== null && n < buf.length;
              r = await f.read(buf.subarray(n))
            ) n += r;
            return buf.subarray(0, n);
          });
          const whole = raw.length <= opts.max_bytes;
          const decoded = new TextDecoder().decode(whole ? raw : raw.subarray(0, opts.max_bytes));
          const { text, truncated } = capped(decoded.replace(/\uFFFD$/, "").replaceAll("\f", "\n"));
          const out: Extracted = {
            format: "pdf",
            extractor: "pdftotext",
            text,
            truncated: truncated || !whole,
          };
          if (whole) out.pages = decoded.split("\f").length - (decoded.endsWith("\f") ? 1 : 0);
          return out;
        }
        if (isOle(c)) {
          const reader = OLE_READERS.find(([name]) => indexOf(c, name) >= 0);
          if (!reader) return "an OLE file that is not a Word, Excel or PowerPoint document";
          const [, format, tool] = reader;
          if (format === "ppt") return await pptText(c, opts.max_bytes);
          const raw = await run(
            tool,
            ["-d", "utf-8", ...(tool === "catdoc" ? ["-w"] : [])],
            c,
            call,
          );
          return { format, extractor: tool, ...capped(raw) };
        }
        if (detectArchive(c)?.extractor === "zip") {
          const office = await officeText(c, opts.max_bytes, call.signal).catch((e) => {
            call.signal.throwIfAborted();
            throw new Error(`cannot read the zip: ${(e as Error).message}`);
          });
          if (!office) return "a zip without OOXML or OpenDocument text parts";
          const { text, truncated } = capped(office.text);
          const out: Extracted = {
            format: office.format,
            extractor: "ooxml",
            text,
            truncated: truncated || office.truncated,
            parts: office.parts,
          };
          if (office.format === "odf") out.extractor = "odf";
          if (office.skipped.length) out.skipped = office.skipped;
          return out;
        }
        return "not a PDF, OOXML, OpenDocument or OLE document";
      };

      return {
        async scan(payload, _request, call) {
          // Our own child is plain text; should it look like a document again (a text that
          // starts with "%PDF-"), it is not re-read.
          if (payload.results.extracted_by.includes("textreader")) return null;
          let got: Extracted | string;
          try {
            got = await extract(payload, call);
          } catch (e) {
            return { errors: [`textreader: ${(e as Error).message}`] };
          }
          if (typeof got === "string") return { results: { text: false, reason: got } };
          const text = got.text.trim();
          const results: Record<string, unknown> = {
            format: got.format,
            extractor: got.extractor,
            characters: text.length,
            bytes: new TextEncoder().encode(text).length,
            truncated: got.truncated,
          };
          if (got.pages !== undefined) results.pages = got.pages;
          if (got.slides !== undefined) results.slides = got.slides;
          if (got.parts) results.parts = got.parts;
          if (got.skipped) results.skipped_parts = got.skipped;
          const errors = (got.errors ?? []).map((e) => `textreader: ${e}`);
          if (!text) return { results, errors };
          const name = payload.results.payload_meta.extra_data.filename;
          return {
            results,
            errors,
            extracted: [{
              content: text + "\n",
              payload_meta: {
                extra_data: {
                  filename: `${typeof name === "string" && name ? name : got.format}.txt`,
                  source: "textreader",
                  text_of: got.format,
                  extractor: got.extractor,
                  ...(got.truncated ? { truncated: true } : {}),
                },
              },
            }],
          };
        },
      };
    },
  });
};
