/**
 * QR codes and barcodes in images (Strelka's ScanQr): each symbol's type and data, the URLs among
 * them with a "quishing" finding, and a text child holding the decoded data so that iocextract and
 * keywords read it.
 *
 * Two decoders. PNG, JPEG, single-frame GIF and BMP images up to IN_PROCESS_MAX_PIXELS are decoded
 * in this process by zxing-cpp (zxing-wasm, loaded on the first image): about a millisecond, where
 * spawning zbarimg costs ImageMagick's start-up on every image. The rest (TIFF, WebP, GIFs with
 * several frames, large images, and images zxing-wasm's stb_image cannot read) go to zbarimg
 * (Debian zbar-tools), which reads every frame of every format through ImageMagick in its own
 * process, so a large or odd image costs a killable subprocess, not our memory. zbarimg also tries
 * the inverted image when the plain one has no symbol (-Stest-inverted), as zxing-cpp does with
 * tryInvert. The image's header is read first: icons too small to hold a code are skipped, and
 * images larger than max_pixels are refused. For zbarimg the coder is forced from the header
 * (`png:/path`), so ImageMagick never guesses a format.
 */
import type { ExtractedPayload, Finding, StoqAPI } from "../core/engine/plugin.ts";
import { gifFrames, type ImageInfo, imageInfo } from "./lib/image/size.ts";
import { targetFindings } from "./lib/ioc/targets.ts";
import { parseXml } from "./lib/xml/parser.ts";

/**
 * The largest image decoded in this process: zxing-wasm's memory grows to hold the decoded image
 * and never shrinks, so larger ones (up to max_pixels) go to zbarimg's process instead.
 */
export const IN_PROCESS_MAX_PIXELS = 4_000_000;

/** Whether zxing-wasm decodes this image in-process (else zbarimg does): see the module comment. */
export function decodedInProcess(info: ImageInfo, content: Uint8Array): boolean {
  const { format, width, height } = info;
  if (width === undefined || height === undefined) return false;
  if (width * height > IN_PROCESS_MAX_PIXELS) return false;
  if (format === "gif") return gifFrames(content, 2) === 1;
  return format === "png" || format === "jpeg" || format === "bmp";
}

/** One decoded symbol. */
export interface DecodedSymbol {
  type: string;
  data: string;
  /** "base64" when the data is not text (then `data` is base64). */
  encoding?: string;
  quality?: number;
  orientation?: string;
  /** The frame (GIF, TIFF page) it was found in. */
  frame: number;
}

/** Reads `zbarimg --xml` output. */
export async function parseZbarXml(xml: string): Promise<DecodedSymbol[]> {
  const symbols: DecodedSymbol[] = [];
  let frame = 0;
  let current: DecodedSymbol | null = null;
  let inData = false;
  let base64 = false;
  await parseXml(xml, {
    open(tag) {
      const a = (n: string) => tag.attributes[n]?.value;
      if (tag.local === "index") frame = Number(a("num") ?? 0);
      else if (tag.local === "symbol") {
        current = { type: a("type") ?? "", data: "", frame };
        if (a("quality") !== undefined) current.quality = Number(a("quality"));
        if (a("orientation")) current.orientation = a("orientation");
      } else if (tag.local === "data" && current) {
        inData = true;
        base64 = a("format") === "base64";
      }
    },
    cdata(t) {
      if (inData && current) current.data += t;
    },
    text(t) {
      if (inData && current) current.data += t;
    },
    close(name) {
      if (name === "data") inData = false;
      if (name === "symbol" && current) {
        if (base64) {
          current.data = current.data.trim();
          current.encoding = "base64";
        }
        symbols.push(current);
        current = null;
        base64 = false;
      }
    },
  });
  return symbols;
}

const URL_RE = /\b(?:https?|ftps?):\/\/[^\s"'<>]{1,2000}/gi;

/** The URLs in decoded data: scheme URLs, and a lone "www." host as http. */
export function urlsIn(data: string): string[] {
  const found = [...data.matchAll(URL_RE)].map((m) => m[0]);
  const bare = /^\s*(www\.[A-Za-z0-9.-]+\.[A-Za-z]{2,}(?:[/?#]\S*)?)\s*$/i.exec(data);
  if (bare) found.push(`http://${bare[1]}`);
  return found;
}

export default (stoq: StoqAPI) => {
  const z = stoq.z;
  return stoq.plugin({
    name: "qr",
    version: "1.0.0",
    description:
      "QR codes and barcodes in images (zxing-cpp, zbarimg): decoded data, URLs, a text child",
    classes: ["worker"],
    tools: { zbarimg: "zbar-tools" },
    options: {
      inverted: z.boolean().default(true),
      max_pixels: z.number().int().positive().default(40_000_000),
      max_symbols: z.number().int().positive().default(100),
    },
    create: (opts) => {
      let missing: string | undefined;
      return {
        async scan(payload, _request, call) {
          const info = imageInfo(payload.content);
          if (!info) return { errors: ["qr: not a PNG, JPEG, GIF, BMP, TIFF or WebP image"] };
          const { width, height } = info;
          if (width !== undefined && height !== undefined) {
            // A QR code is at least 21 modules wide; a barcode needs a few pixels of height.
            if (width * height < 21 * 21 || Math.min(width, height) < 8) {
              return {
                results: {
                  codes: [],
                  count: 0,
                  skipped: `image of ${width}x${height} is too small to hold a code`,
                },
              };
            }
            if (width * height > opts.max_pixels) {
              return {
                errors: [
                  `qr: image of ${width}x${height} pixels is larger than max_pixels (${opts.max_pixels}); not decoded`,
                ],
              };
            }
          }
          let all: DecodedSymbol[] | undefined;
          if (decodedInProcess(info, payload.content)) {
            const zx = await import("./lib/qr/zxing.ts");
            try {
              all = await zx.zxingDecode(payload.content, width! * height!, opts.inverted);
            } catch (e) {
              // An image stb_image cannot read may still be one ImageMagick reads.
              if (!(e instanceof zx.ZxingUnreadableError)) {
                return { errors: [`qr: ${(e as Error).message}`] };
              }
            }
          }
          if (!all) {
            if (missing) return { errors: [missing] };
            const args = ["--nodbus", "--xml", "-q", ...(opts.inverted ? ["-Stest-inverted"] : [])];
            let out;
            try {
              out = await call.withTempFile(
                payload.content,
                (path) =>
                  call.exec("zbarimg", [...args, `${info.format}:${path}`], {
                    maxOutput: 16 * 1024 * 1024,
                  }),
              );
            } catch (e) {
              const msg = (e as Error).message;
              if (!/not installed|not permitted/.test(msg)) throw e;
              missing = `qr: ${msg}`;
              return { errors: [missing] };
            }
            // 0: symbols found; 4: none found. Anything else is a decoder error.
            if (out.code !== 0 && out.code !== 4) {
              const why = out.stderr.split("\n").map((l) => l.trim().replace(/ `[^']*'/g, ""))
                .find((l) => l && !/dbus|Connection/i.test(l));
              return {
                errors: [
                  `qr: zbarimg could not read the image (exit ${out.code}): ${why ?? "no message"}`,
                ],
              };
            }
            all = await parseZbarXml(new TextDecoder().decode(out.stdout));
          }
          const codes = all.slice(0, opts.max_symbols);
          const urls = [
            ...new Set(codes.filter((c) => !c.encoding).flatMap((c) => urlsIn(c.data))),
          ];
          const findings: Finding[] = [];
          if (urls.length) {
            findings.push({
              id: "qr_url",
              severity: "medium",
              title: "image holds a QR code or barcode with a URL (quishing)",
              detail: urls.slice(0, 5).join("; "),
              mitre: ["T1566.002"],
            });
          }
          findings.push(
            ...targetFindings(
              codes.filter((c) => !c.encoding).map((c) => ({ where: c.type, target: c.data })),
            ),
          );
          const results: Record<string, unknown> = { codes, count: all.length, urls };
          if (all.length > codes.length) results.truncated = true;
          results.findings = findings;
          if (!codes.length) return { results };
          const parent = payload.results.payload_meta.extra_data.filename;
          const base = typeof parent === "string" && parent ? parent : "image";
          // Text symbols go to one text child (for iocextract and keywords); a symbol given as
          // base64 is binary data and becomes a child of its own.
          const text = codes.filter((c) => !c.encoding);
          const extracted: ExtractedPayload[] = text.length
            ? [{
              content: text.map((c) => c.data).join("\n") + "\n",
              payload_meta: {
                extra_data: { filename: `${base}.qr.txt`, source: "qr", symbols: text.length },
              },
            }]
            : [];
          codes.forEach((c, i) => {
            if (!c.encoding) return;
            try {
              extracted.push({
                content: Uint8Array.from(
                  atob(c.data.replace(/\s+/g, "")),
                  (ch) => ch.charCodeAt(0),
                ),
                payload_meta: {
                  extra_data: { filename: `${base}.qr${i}.bin`, source: "qr", symbols: 1 },
                },
              });
            } catch { /* the decoders' base64 is well-formed; nothing to add if not */ }
          });
          return { results, extracted };
        },
      };
    },
  });
};
