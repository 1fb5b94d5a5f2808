/**
 * Image format and pixel dimensions from the header alone (PNG IHDR, GIF logical screen, BMP
 * info header, JPEG SOFn, WebP VP8/VP8L/VP8X), so that a plugin can skip icons and refuse
 * decompression bombs before a decoder allocates anything. Every read is bounds-checked.
 */

/** A format ImageMagick's coder of that name reads, and the size the header declares. */
export interface ImageInfo {
  format: "png" | "gif" | "bmp" | "jpeg" | "webp" | "tiff";
  width?: number;
  height?: number;
}

/** The image's format and declared size, or null when it is none of the formats above. */
export function imageInfo(d: Uint8Array): ImageInfo | null {
  const v = new DataView(d.buffer, d.byteOffset, d.byteLength);
  const has = (n: number) => d.length >= n;
  if (has(24) && v.getUint32(0) === 0x89504e47 && v.getUint32(12) === 0x49484452) {
    return { format: "png", width: v.getUint32(16), height: v.getUint32(20) };
  }
  if (has(10) && d[0] === 0x47 && d[1] === 0x49 && d[2] === 0x46 && d[3] === 0x38) {
    return { format: "gif", width: v.getUint16(6, true), height: v.getUint16(8, true) };
  }
  if (has(26) && d[0] === 0x42 && d[1] === 0x4d) {
    const header = v.getUint32(14, true);
    if (header === 12) {
      return { format: "bmp", width: v.getUint16(18, true), height: v.getUint16(20, true) };
    }
    return {
      format: "bmp",
      width: Math.abs(v.getInt32(18, true)),
      height: Math.abs(v.getInt32(22, true)),
    };
  }
  if (has(4) && d[0] === 0xff && d[1] === 0xd8 && d[2] === 0xff) {
    return { format: "jpeg", ...jpegSize(d, v) };
  }
  if (has(30) && v.getUint32(0) === 0x52494646 && v.getUint32(8) === 0x57454250) {
    const chunk = v.getUint32(12);
    if (chunk === 0x56503820 && d[23] === 0x9d && d[24] === 0x01 && d[25] === 0x2a) {
      return {
        format: "webp",
        width: v.getUint16(26, true) & 0x3fff,
        height: v.getUint16(28, true) & 0x3fff,
      };
    }
    if (chunk === 0x5650384c && d[20] === 0x2f) {
      const b = v.getUint32(21, true);
      return { format: "webp", width: (b & 0x3fff) + 1, height: ((b >> 14) & 0x3fff) + 1 };
    }
    if (chunk === 0x56503858) {
      return {
        format: "webp",
        width: 1 + (d[24] | d[25] << 8 | d[26] << 16),
        height: 1 + (d[27] | d[28] << 8 | d[29] << 16),
      };
    }
    return { format: "webp" };
  }
  if (
    has(4) && ((d[0] === 0x49 && d[1] === 0x49 && d[2] === 0x2a && d[3] === 0) ||
      (d[0] === 0x4d && d[1] === 0x4d && d[2] === 0 && d[3] === 0x2a))
  ) {
    return { format: "tiff" };
  }
  return null;
}

/** Walks JPEG segments to the first SOFn marker (bounded by the data's length). */
function jpegSize(d: Uint8Array, v: DataView): { width?: number; height?: number } {
  let i = 2;
  while (i + 9 < d.length) {
    if (d[i] !== 0xff) return {};
    const marker = d[i + 1];
    if (marker === 0xff) {
      i++;
      continue;
    }
    // SOF0-SOF15 except DHT (C4), JPG (C8) and DAC (CC).
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return { height: v.getUint16(i + 5), width: v.getUint16(i + 7) };
    }
    if (marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) {
      i += 2;
      continue;
    }
    i += 2 + v.getUint16(i + 2);
  }
  return {};
}

/**
 * How many frames a GIF holds, counting up to `limit` (a walk over its blocks, bounded by the
 * data's length); 0 when the blocks are malformed before the first frame.
 */
export function gifFrames(d: Uint8Array, limit: number): number {
  if (d.length < 13) return 0;
  // Header and logical screen descriptor, then the global colour table if the flag says so.
  let i = 13 + (d[10] & 0x80 ? 3 << ((d[10] & 7) + 1) : 0);
  let frames = 0;
  const skipSubBlocks = () => {
    while (i < d.length && d[i] !== 0) i += d[i] + 1;
    i++;
  };
  while (i < d.length && frames < limit) {
    const block = d[i];
    if (block === 0x3b) break;
    if (block === 0x21) {
      i += 2;
      skipSubBlocks();
    } else if (block === 0x2c) {
      if (i + 10 > d.length) break;
      frames++;
      const packed = d[i + 9];
      i += 10 + (packed & 0x80 ? 3 << ((packed & 7) + 1) : 0) + 1;
      skipSubBlocks();
    } else break;
  }
  return frames;
}
