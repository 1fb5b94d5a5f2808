/**
 * Where an image really ends, found by walking its structure, so that bytes appended after it
 * can be carved: PNG (chunks to IEND; PNG spec 1.2 §5), JPEG (marker segments and entropy-coded
 * data to EOI; ITU T.81 Annex B: an FF D9 inside an EXIF thumbnail or any segment is skipped),
 * GIF (blocks and sub-blocks to the 0x3B trailer; GIF89a §17-27) and BMP (bfSize in the file
 * header, checked against the DIB header). No decoder is needed: only lengths are followed.
 */

export type ImageFormat = "png" | "jpeg" | "gif" | "bmp";

/** Where the image ends, or why the walk stopped (with how far it got). */
export type ImageEnd = { end: number } | { error: string; parsed_to: number };

/** Steps taken at most (chunks, segments, blocks): each is at least a few bytes long anyway. */
const MAX_STEPS = 1_000_000;

/** The image format `data` starts with, by its signature. */
export function imageFormat(data: Uint8Array): ImageFormat | undefined {
  const b = data;
  if (b.length >= 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47) {
    return "png";
  }
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return "jpeg";
  if (b.length >= 6 && b[0] === 0x47 && b[1] === 0x49 && b[2] === 0x46 && b[3] === 0x38) {
    return "gif";
  }
  if (b.length >= 26 && b[0] === 0x42 && b[1] === 0x4d) return "bmp";
  return undefined;
}

/** The end of the image of `format` at the start of `data`. */
export function imageEnd(data: Uint8Array, format: ImageFormat): ImageEnd {
  switch (format) {
    case "png":
      return pngEnd(data);
    case "jpeg":
      return jpegEnd(data);
    case "gif":
      return gifEnd(data);
    case "bmp":
      return bmpEnd(data);
  }
}

const u16be = (d: Uint8Array, o: number) => (d[o] << 8) | d[o + 1];
const u32be = (d: Uint8Array, o: number) =>
  ((d[o] << 24) >>> 0) + (d[o + 1] << 16) + (d[o + 2] << 8) + d[o + 3];
const u32le = (d: Uint8Array, o: number) =>
  ((d[o + 3] << 24) >>> 0) + (d[o + 2] << 16) + (d[o + 1] << 8) + d[o];

function pngEnd(d: Uint8Array): ImageEnd {
  const sig = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (d.length < 8 || sig.some((v, i) => d[i] !== v)) {
    return { error: "no PNG signature", parsed_to: 0 };
  }
  let o = 8;
  for (let step = 0; step < MAX_STEPS; step++) {
    if (o + 12 > d.length) {
      return { error: `no IEND chunk: the data ends at offset ${o}`, parsed_to: o };
    }
    const len = u32be(d, o);
    const type = String.fromCharCode(d[o + 4], d[o + 5], d[o + 6], d[o + 7]);
    if (!/^[A-Za-z]{4}$/.test(type)) {
      return {
        error: `chunk at offset ${o} has an invalid type ${JSON.stringify(type)}`,
        parsed_to: o,
      };
    }
    if (len > 0x7fffffff || o + 12 + len > d.length) {
      return {
        error: `chunk ${type} at offset ${o}: length ${len} runs past the end of the data`,
        parsed_to: o,
      };
    }
    o += 12 + len;
    if (type === "IEND") return { end: o };
  }
  return { error: `more than ${MAX_STEPS} chunks`, parsed_to: o };
}

function jpegEnd(d: Uint8Array): ImageEnd {
  if (d.length < 3 || d[0] !== 0xff || d[1] !== 0xd8) {
    return { error: "no JPEG SOI marker", parsed_to: 0 };
  }
  let o = 2;
  for (let step = 0; step < MAX_STEPS; step++) {
    if (o + 2 > d.length) {
      return { error: `no EOI marker: the data ends at offset ${o}`, parsed_to: o };
    }
    if (d[o] !== 0xff) {
      return {
        error: `expected a marker at offset ${o}, found 0x${d[o].toString(16)}`,
        parsed_to: o,
      };
    }
    // Any number of 0xFF fill bytes may precede a marker.
    while (o + 2 < d.length && d[o + 1] === 0xff) o++;
    const marker = d[o + 1];
    if (marker === 0xd9) return { end: o + 2 };
    if ((marker >= 0xd0 && marker <= 0xd7) || marker === 0x01 || marker === 0xd8) {
      o += 2;
      continue;
    }
    if (o + 4 > d.length) {
      return { error: `segment 0xff${hex2(marker)} at offset ${o} is cut short`, parsed_to: o };
    }
    const len = u16be(d, o + 2);
    if (len < 2 || o + 2 + len > d.length) {
      return {
        error: `segment 0xff${
          hex2(marker)
        } at offset ${o}: length ${len} runs past the end of the data`,
        parsed_to: o,
      };
    }
    o += 2 + len;
    if (marker !== 0xda) continue;
    // Entropy-coded data after SOS: FF 00 is a stuffed byte, FF D0-D7 a restart marker; any other
    // marker ends the scan.
    for (;;) {
      const ff = d.indexOf(0xff, o);
      if (ff < 0 || ff + 1 >= d.length) {
        return {
          error: `no EOI marker: entropy-coded data from offset ${o} runs to the end`,
          parsed_to: o,
        };
      }
      const next = d[ff + 1];
      if (next === 0x00 || (next >= 0xd0 && next <= 0xd7) || next === 0xff) {
        o = ff + (next === 0xff ? 1 : 2);
        continue;
      }
      o = ff;
      break;
    }
  }
  return { error: `more than ${MAX_STEPS} segments`, parsed_to: o };
}

function gifEnd(d: Uint8Array): ImageEnd {
  if (d.length < 13) return { error: "shorter than a GIF header", parsed_to: 0 };
  let o = 13 + (d[10] & 0x80 ? 3 * 2 ** ((d[10] & 7) + 1) : 0);
  const subBlocks = (): string | undefined => {
    for (let n = 0; n < MAX_STEPS; n++) {
      if (o >= d.length) return `sub-blocks run past the end of the data`;
      const size = d[o];
      o += 1 + size;
      if (size === 0) return undefined;
    }
    return `more than ${MAX_STEPS} sub-blocks`;
  };
  for (let step = 0; step < MAX_STEPS; step++) {
    if (o >= d.length) {
      return { error: `no trailer (0x3B): the data ends at offset ${o}`, parsed_to: o };
    }
    const at = o;
    const block = d[o];
    if (block === 0x3b) return { end: o + 1 };
    let err: string | undefined;
    if (block === 0x21) {
      o += 2; // introducer and label
      err = subBlocks();
    } else if (block === 0x2c) {
      if (o + 10 > d.length) {
        return { error: `image descriptor at offset ${o} is cut short`, parsed_to: o };
      }
      const packed = d[o + 9];
      o += 10 + (packed & 0x80 ? 3 * 2 ** ((packed & 7) + 1) : 0) + 1; // + LZW minimum code size
      err = subBlocks();
    } else {
      return { error: `unknown block 0x${hex2(block)} at offset ${o}`, parsed_to: o };
    }
    if (err) return { error: `block 0x${hex2(block)} at offset ${at}: ${err}`, parsed_to: at };
  }
  return { error: `more than ${MAX_STEPS} blocks`, parsed_to: o };
}

/** DIB header sizes of the BMP versions (core, v2/v3 variants, info, v4, v5). */
const DIB_SIZES = new Set([12, 16, 40, 52, 56, 64, 108, 124]);

function bmpEnd(d: Uint8Array): ImageEnd {
  if (d.length < 26 || d[0] !== 0x42 || d[1] !== 0x4d) {
    return { error: "no BMP header", parsed_to: 0 };
  }
  const size = u32le(d, 2), pixels = u32le(d, 10), dib = u32le(d, 14);
  if (!DIB_SIZES.has(dib)) {
    return { error: `DIB header size ${dib} at offset 14 is not a BMP version's`, parsed_to: 14 };
  }
  if (size < 14 + dib || pixels > size) {
    return {
      error:
        `declared file size ${size} (offset 2) is smaller than its headers or pixel offset ${pixels}`,
      parsed_to: 14,
    };
  }
  if (size > d.length) {
    return {
      error: `declared file size ${size} (offset 2) is larger than the data (${d.length} bytes)`,
      parsed_to: d.length,
    };
  }
  return { end: size };
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, "0");
}
