/**
 * QR codes and barcodes decoded in this process by zxing-cpp (the zxing-wasm build): the image
 * bytes go into the WebAssembly module, where stb_image decodes PNG, JPEG, GIF (first frame) and
 * BMP and zxing-cpp reads the symbols. No process is spawned, so a payload costs about a
 * millisecond instead of zbarimg's start-up. The module (about 1 MB) is compiled once per
 * isolate, on the first image, from the file in node_modules: zxing-wasm would otherwise fetch it
 * from a CDN.
 *
 * Symbol types are given zbar's names (QR-Code, EAN-13, CODE-128...), so that a result does not
 * depend on which decoder read the image.
 */
import {
  prepareZXingModule,
  purgeZXingModule,
  readBarcodes,
  type ReaderOptions,
  type ReadResult,
} from "zxing-wasm/reader";

/** One symbol zxing-cpp decoded, in the shape of the qr plugin's DecodedSymbol. */
export interface ZxingSymbol {
  type: string;
  data: string;
  encoding?: string;
  orientation?: string;
  frame: number;
}

/** The decoder failed on an image it could load (a trap in the WebAssembly module). */
export class ZxingError extends Error {
  override name = "ZxingError";
}

/** stb_image could not read the image (damaged, or a variant it lacks): another decoder may. */
export class ZxingUnreadableError extends Error {
  override name = "ZxingUnreadableError";
}

/** What zbarimg reads (QR and its 1D symbologies) plus the 2D codes zxing-cpp adds. */
const FORMATS: ReaderOptions["formats"] = [
  "QRCode",
  "MicroQRCode",
  "DataMatrix",
  "Aztec",
  "EAN13",
  "EAN8",
  "UPCA",
  "UPCE",
  "Code128",
  "Code39",
  "Code93",
  "Codabar",
  "ITF",
  "DataBar",
  "DataBarExp",
];

/** zbar's names for the symbologies both decoders read. */
const ZBAR_NAMES: Record<string, string> = {
  QRCode: "QR-Code",
  QRCodeModel1: "QR-Code",
  QRCodeModel2: "QR-Code",
  EAN13: "EAN-13",
  EAN8: "EAN-8",
  UPCA: "UPC-A",
  UPCE: "UPC-E",
  ISBN: "ISBN-13",
  EAN2: "EAN-2",
  EAN5: "EAN-5",
  Code128: "CODE-128",
  Code39: "CODE-39",
  Code39Std: "CODE-39",
  Code39Ext: "CODE-39",
  Code93: "CODE-93",
  Codabar: "Codabar",
  ITF: "I2/5",
  DataBar: "DataBar",
  DataBarOmni: "DataBar",
  DataBarExp: "DataBar-Exp",
};

/** zbar's orientation names for zxing-cpp's rotation in degrees (clockwise). */
const ORIENTATION: Record<number, string> = { 0: "UP", 90: "RIGHT", 180: "DOWN", 270: "LEFT" };

/**
 * Images above this many pixels leave the module's memory grown by about 8 bytes a pixel (it never
 * shrinks): after one, the instance is dropped and the next image gets a fresh one.
 */
const RESET_PIXELS = 1_000_000;

let compiled: Promise<WebAssembly.Module> | undefined;
let ready: Promise<unknown> | undefined;

/** Drops the instance (its memory goes with it); the compiled module is kept. */
function reset(): void {
  ready = undefined;
  purgeZXingModule();
}

/** Compiles the module once and instantiates it when needed; a failure is retried next time. */
function prepare(): Promise<unknown> {
  compiled ??= (async () => {
    const url = new URL(import.meta.resolve("zxing-wasm/reader/zxing_reader.wasm"));
    return await WebAssembly.compile(await Deno.readFile(url));
  })().catch((e) => {
    compiled = undefined;
    throw e;
  });
  const module = compiled;
  ready ??= (async () => {
    const mod = await module;
    return await prepareZXingModule({
      overrides: {
        instantiateWasm(imports: WebAssembly.Imports, done: (i: WebAssembly.Instance) => void) {
          WebAssembly.instantiate(mod, imports).then(done);
          return {};
        },
      },
      fireImmediately: true,
    });
  })().catch((e) => {
    reset();
    throw e;
  });
  return ready;
}

function toSymbol(r: ReadResult): ZxingSymbol {
  const s: ZxingSymbol = { type: ZBAR_NAMES[r.format] ?? r.format, data: r.text, frame: 0 };
  // zbar gives as base64 what is not text; zxing-cpp says so in contentType.
  if (r.contentType === "Binary") {
    s.data = btoa(Array.from(r.bytes, (b) => String.fromCharCode(b)).join(""));
    s.encoding = "base64";
  }
  const o = ORIENTATION[((Math.round(r.orientation / 90) * 90) % 360 + 360) % 360];
  if (o) s.orientation = o;
  return s;
}

/**
 * The symbols in an image file's bytes (`pixels`: its width times height, from the header).
 * `inverted` also tries the negative image when the plain
 * one holds nothing (zbarimg's -Stest-inverted). Throws ZxingUnreadableError when the image
 * cannot be decoded, ZxingError when the decoder fails.
 */
export async function zxingDecode(
  image: Uint8Array,
  pixels: number,
  inverted: boolean,
): Promise<ZxingSymbol[]> {
  await prepare();
  let results: ReadResult[];
  try {
    results = await readBarcodes(image, {
      formats: FORMATS,
      tryHarder: false,
      tryRotate: true,
      tryInvert: inverted,
      tryDownscale: true,
      textMode: "Plain",
    });
  } catch (e) {
    // A trap leaves the module's memory in an unknown state: the next image gets a fresh one.
    reset();
    throw new ZxingError(`zxing-cpp failed on the image: ${(e as Error).message ?? e}`);
  }
  if (pixels > RESET_PIXELS) reset();
  const load = results.find((r) => !r.isValid && !r.format && r.error);
  if (load) throw new ZxingUnreadableError(load.error);
  return results.filter((r) => r.isValid).map(toSymbol);
}
