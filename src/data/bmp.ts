// Windows BMP, which sharp (libvips) does not read, decoded as Pillow 9.4's BmpImagePlugin reads it
// and then `convert('RGB')`: headers OS/2 v1 (12 bytes), BITMAPINFOHEADER (40), OS/2 v2 (64), V4
// (108) and V5 (124); 1/4/8-bit palettes, 16-bit 5-5-5 (and 5-6-5 by bitfields), 24-bit, 32-bit
// (alpha dropped); bottom-up and top-down rows; RLE8 and RLE4. What Pillow refuses, or reads in a
// way we do not reproduce (RLE delta escapes), is a BmpError. The bytes are untrusted: nothing is
// allocated before the file is known to hold the pixels it declares.
//
// Pillow's quirks, kept on purpose (tests compare with its output byte for byte):
//  - a palette that is all grey (entry i == (i, i, i); for 2 colours: black, white) is ignored and
//    the pixels read as grey levels ("L"), or as 1-bit ("1") for 2 colours, whatever the bit depth;
//  - palette indices past the palette's end are grey (Pillow's default palette is a grey ramp);
//  - 5-bit channels scale as v * 255 / 31 (integer division), 6-bit as v * 255 / 63.

/** A BMP that cannot be decoded; `message` says why, in one line. */
export class BmpError extends Error {}

/** Pillow refuses images over 2 x Image.MAX_IMAGE_PIXELS (89478485): a decompression bomb. */
export const MAX_PIXELS = 2 * 89_478_485;

export interface BmpImage {
  /** (H, W, 3) RGB, row-major. */
  readonly data: Uint8Array;
  readonly width: number;
  readonly height: number;
}

/** True for bytes that start as a BMP file ('BM'). */
export function isBmp(b: Uint8Array): boolean {
  return b.length >= 2 && b[0] === 0x42 && b[1] === 0x4d;
}

const RAW = 0;
const RLE8 = 1;
const RLE4 = 2;
const BITFIELDS = 3;

// 32-bit bitfield layouts Pillow reads, as byte positions of R, G, B
const MASKS32: readonly [readonly [number, number, number, number], readonly [number, number, number]][] = [
  [[0xff0000, 0xff00, 0xff, 0], [2, 1, 0]], // BGRX
  [[0xff000000, 0xff0000, 0xff00, 0], [3, 2, 1]], // XBGR
  [[0xff000000, 0xff0000, 0xff00, 0xff], [3, 2, 1]], // ABGR
  [[0xff, 0xff00, 0xff0000, 0xff000000], [0, 1, 2]], // RGBA
  [[0xff0000, 0xff00, 0xff, 0xff000000], [2, 1, 0]], // BGRA
  [[0, 0, 0, 0], [2, 1, 0]], // BGRA
];

/** How pixel bytes become RGB. */
type Pixels =
  | { kind: 'grey1' } // "1": bits, 1 = white
  | { kind: 'grey8' } // "L": bytes are grey levels
  | { kind: 'index'; bits: 1 | 4 | 8; palette: Uint8Array } // "P;1" "P;4" "P": palette (R, G, B) x 256
  | { kind: 'rgb555' | 'rgb565' }
  | { kind: 'rgb24' }
  | { kind: 'rgb32'; at: readonly [number, number, number] };

/** Decode a BMP file to RGB as Pillow does; throws BmpError with a one-line message. */
export function decodeBmp(input: Uint8Array): BmpImage {
  const b = input;
  const len = b.length;
  const fail = (m: string): never => {
    throw new BmpError(m);
  };
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const u16 = (o: number): number => (o + 2 <= len ? dv.getUint16(o, true) : fail('truncated BMP header'));
  const u32 = (o: number): number => (o + 4 <= len ? dv.getUint32(o, true) : fail('truncated BMP header'));
  if (!isBmp(b)) fail('not a BMP file');
  let offset = u32(10);
  const headerSize = u32(14);
  if (14 + headerSize > len) fail('truncated BMP header');
  let width: number;
  let height: number;
  let bits: number;
  let compression = RAW;
  let colors = 0;
  let topDown = false;
  let paletteEntry = 4;
  let masks: number[] | undefined;
  let pos = 14 + headerSize; // the palette (or the 40-byte header's bitfield masks) follows
  if (headerSize === 12) {
    width = u16(18);
    height = u16(20);
    bits = u16(24);
    paletteEntry = 3;
  } else if (headerSize === 40 || headerSize === 64 || headerSize === 108 || headerSize === 124) {
    width = u32(18);
    topDown = b[25] === 0xff; // Pillow: a negative height is one whose top byte is 0xff
    height = topDown ? 2 ** 32 - u32(22) : u32(22);
    bits = u16(28);
    compression = u32(30);
    colors = u32(46);
    if (compression === BITFIELDS) {
      if (headerSize >= 56) masks = [u32(54), u32(58), u32(62), u32(66)];
      else {
        masks = [u32(pos), u32(pos + 4), u32(pos + 8), 0];
        pos += 12;
      }
    }
  } else {
    return fail(`unsupported BMP header size ${headerSize}`);
  }
  if (colors === 0) colors = 2 ** Math.min(bits, 32);
  if (offset === 14 + headerSize && bits <= 8) offset += 4 * colors;
  if (![1, 4, 8, 16, 24, 32].includes(bits)) fail(`unsupported BMP pixel depth ${bits}`);
  if (width === 0 || height === 0) fail(`empty BMP image (${width}x${height})`);
  if (width * height > MAX_PIXELS) fail(`BMP image of ${width}x${height} pixels is over the ${MAX_PIXELS}-pixel limit (a decompression bomb?)`);

  let pixels: Pixels;
  if (compression === BITFIELDS) {
    const m = masks!;
    if (bits === 32) {
      const layout = MASKS32.find(([want]) => want.every((x, i) => x === m[i]));
      if (!layout) fail('unsupported BMP bitfields layout');
      pixels = { kind: 'rgb32', at: layout![1] };
    } else if (bits === 24 && m[0] === 0xff0000 && m[1] === 0xff00 && m[2] === 0xff) pixels = { kind: 'rgb24' };
    else if (bits === 16 && m[0] === 0xf800 && m[1] === 0x7e0 && m[2] === 0x1f) pixels = { kind: 'rgb565' };
    else if (bits === 16 && m[0] === 0x7c00 && m[1] === 0x3e0 && m[2] === 0x1f) pixels = { kind: 'rgb555' };
    else return fail('unsupported BMP bitfields layout');
  } else if (compression === RAW || compression === RLE8 || compression === RLE4) {
    if (bits === 16) pixels = { kind: 'rgb555' };
    else if (bits === 24) pixels = { kind: 'rgb24' };
    else if (bits === 32) pixels = { kind: 'rgb32', at: [2, 1, 0] };
    else pixels = paletteOf(b, pos, colors, paletteEntry, bits as 1 | 4 | 8, fail);
  } else {
    return fail(`unsupported BMP compression ${compression}`);
  }
  // Pixel data at bfOffBits, or (when 0) right after the palette Pillow read
  if (offset === 0) offset = pos + (pixels.kind === 'index' || pixels.kind === 'grey1' || pixels.kind === 'grey8' ? paletteEntry * colors : 0);
  if (compression === RLE8 || compression === RLE4) {
    if (pixels.kind === 'grey1' || bits > 8) fail(`unsupported BMP: RLE with ${pixels.kind === 'grey1' ? 'a black-and-white palette' : `${bits}-bit pixels`}`);
    const indices = decodeRle(b, offset, width, height, compression === RLE4, fail); // (H, W) indices, file row order
    const p: Pixels = pixels.kind === 'index' ? { ...pixels, bits: 8 } : pixels;
    const out = new Image(width, height);
    for (let y = 0; y < height; y++) out.row(topDown ? y : height - 1 - y, indices, y * width, p);
    return out.image();
  }
  const rowBits = pixels.kind === 'grey1' ? 1 : pixels.kind === 'grey8' ? 8 : bits;
  const stride = ((width * bits + 31) >>> 3) & ~3;
  const rowBytes = Math.ceil((width * rowBits) / 8);
  if (rowBytes > stride) fail(`unsupported BMP: a grey palette read as ${rowBits}-bit pixels needs ${rowBytes} bytes a row, rows hold ${stride}`);
  if (offset + stride * (height - 1) + rowBytes > len) fail(`truncated BMP: ${width}x${height} pixels need ${stride * height} bytes from byte ${offset}, the file has ${len}`);
  const out = new Image(width, height);
  for (let y = 0; y < height; y++) out.row(topDown ? y : height - 1 - y, b, offset + y * stride, pixels);
  return out.image();
}

/** The palette, or Pillow's grey readings of an all-grey one. */
function paletteOf(b: Uint8Array, pos: number, colors: number, entry: number, bits: 1 | 4 | 8, fail: (m: string) => never): Pixels {
  if (!(colors > 0 && colors <= 65536)) fail(`unsupported BMP palette size ${colors}`);
  const raw = b.subarray(pos, Math.min(b.length, pos + entry * colors));
  // greyscale: entry i is (i, i, i) for every i < colors (for 2 colours: (0,0,0) and (255,255,255))
  let grey = true;
  for (let i = 0; i < colors && grey; i++) {
    const v = colors === 2 ? (i === 0 ? 0 : 255) : i & 255;
    const o = i * entry;
    if (o + 3 > raw.length || raw[o] !== v || raw[o + 1] !== v || raw[o + 2] !== v) grey = false;
  }
  if (grey) return colors === 2 ? { kind: 'grey1' } : { kind: 'grey8' };
  // Pillow keeps at most 256 entries (more is an error); the rest of its palette is a grey ramp
  const n = Math.floor(raw.length / entry);
  if (n > 256) fail(`unsupported BMP palette of ${n} colours (256 at most)`);
  const palette = new Uint8Array(768);
  for (let i = 0; i < 256; i++) palette.fill(i, 3 * i, 3 * i + 3);
  for (let i = 0; i < n; i++) {
    palette[3 * i] = raw[i * entry + 2]!;
    palette[3 * i + 1] = raw[i * entry + 1]!;
    palette[3 * i + 2] = raw[i * entry]!;
  }
  return { kind: 'index', bits, palette };
}

/**
 * Pillow 9.4's BmpRleDecoder: one byte per pixel, `width * height` of them, rows in file order.
 * Two passes over the data: the first counts what it decodes to, so that a short file (RLE
 * makes 255 pixels of 2 bytes) is refused before the output is allocated.
 */
function decodeRle(b: Uint8Array, offset: number, width: number, height: number, rle4: boolean, fail: (m: string) => never): Uint8Array {
  const total = width * height;
  const n = rlePass(b, offset, width, total, rle4, undefined, fail);
  if (n < total) fail(`truncated BMP: the RLE data decodes to ${n} of ${total} pixels`);
  const data = new Uint8Array(n);
  rlePass(b, offset, width, total, rle4, data, fail);
  return data;
}

/** One pass of the RLE decoder; writes into `out` when given; returns the pixel count. */
function rlePass(b: Uint8Array, offset: number, width: number, total: number, rle4: boolean, out: Uint8Array | undefined, fail: (m: string) => never): number {
  let n = 0;
  let p = offset;
  let x = 0;
  while (n < total) {
    if (p + 2 > b.length) break;
    let count = b[p]!;
    const byte = b[p + 1]!;
    p += 2;
    if (count > 0) {
      // encoded run, clipped at the end of the row
      if (x + count > width) count = Math.max(0, width - x);
      if (out) {
        if (rle4) for (let i = 0; i < count; i++) out[n + i] = i % 2 === 0 ? byte >> 4 : byte & 0x0f;
        else out.fill(byte, n, n + count);
      }
      n += count;
      x += count;
    } else if (byte === 0) {
      // end of line: pad the row with index 0 (the output is zero-filled)
      n += (width - (n % width)) % width;
      x = 0;
    } else if (byte === 1) {
      break; // end of bitmap
    } else if (byte === 2) {
      fail('unsupported BMP: RLE delta escape');
    } else {
      // absolute run of `byte` pixels (RLE4: byte // 2 bytes, two pixels each)
      const want = rle4 ? byte >> 1 : byte;
      const got = Math.min(want, b.length - p);
      if (out) {
        for (let i = 0; i < got; i++) {
          const v = b[p + i]!;
          if (rle4) {
            out[n + 2 * i] = v >> 4;
            out[n + 2 * i + 1] = v & 0x0f;
          } else out[n + i] = v;
        }
      }
      n += rle4 ? 2 * got : got;
      p += got;
      if (got < want) break;
      x += byte;
      if (p % 2 !== 0) p++; // word alignment, counted from the start of the file
    }
  }
  return n;
}

/** The RGB output, filled row by row. */
class Image {
  readonly data: Uint8Array;
  constructor(
    readonly width: number,
    readonly height: number,
  ) {
    this.data = new Uint8Array(width * height * 3); // (H, W, 3)
  }
  image(): BmpImage {
    return { data: this.data, width: this.width, height: this.height };
  }
  /** Output row `y` from the pixel bytes at `src[at...]`. */
  row(y: number, src: Uint8Array, at: number, p: Pixels): void {
    const w = this.width;
    const out = this.data;
    let o = y * w * 3;
    switch (p.kind) {
      case 'grey1':
        for (let x = 0; x < w; x++, o += 3) out.fill((src[at + (x >> 3)]! >> (7 - (x & 7))) & 1 ? 255 : 0, o, o + 3);
        break;
      case 'grey8':
        for (let x = 0; x < w; x++, o += 3) out.fill(src[at + x]!, o, o + 3);
        break;
      case 'index': {
        // locals only in the pixel loops: a property read per pixel from the (polymorphic)
        // Pixels object made this loop 30x slower once other BMP kinds had run
        const pal = p.palette;
        const bits = p.bits;
        if (bits === 8) {
          for (let x = 0; x < w; x++, o += 3) {
            const i = 3 * src[at + x]!;
            out[o] = pal[i]!;
            out[o + 1] = pal[i + 1]!;
            out[o + 2] = pal[i + 2]!;
          }
        } else {
          const shift = bits === 4 ? 1 : 3; // pixels per byte: 2 or 8
          const mask = (1 << bits) - 1;
          const last = (1 << shift) - 1;
          for (let x = 0; x < w; x++, o += 3) {
            const i = 3 * ((src[at + (x >> shift)]! >> (bits * (last - (x & last)))) & mask);
            out[o] = pal[i]!;
            out[o + 1] = pal[i + 1]!;
            out[o + 2] = pal[i + 2]!;
          }
        }
        break;
      }
      case 'rgb555':
      case 'rgb565': {
        const g6 = p.kind === 'rgb565';
        for (let x = 0; x < w; x++, o += 3) {
          const v = src[at + 2 * x]! | (src[at + 2 * x + 1]! << 8);
          out[o] = Math.floor((((v >> (g6 ? 11 : 10)) & 31) * 255) / 31);
          out[o + 1] = g6 ? Math.floor((((v >> 5) & 63) * 255) / 63) : Math.floor((((v >> 5) & 31) * 255) / 31);
          out[o + 2] = Math.floor(((v & 31) * 255) / 31);
        }
        break;
      }
      case 'rgb24':
        for (let x = 0; x < w; x++, o += 3) {
          out[o] = src[at + 3 * x + 2]!;
          out[o + 1] = src[at + 3 * x + 1]!;
          out[o + 2] = src[at + 3 * x]!;
        }
        break;
      case 'rgb32': {
        const [r, g, bb] = p.at;
        for (let x = 0; x < w; x++, o += 3) {
          out[o] = src[at + 4 * x + r]!;
          out[o + 1] = src[at + 4 * x + g]!;
          out[o + 2] = src[at + 4 * x + bb]!;
        }
        break;
      }
    }
  }
}
