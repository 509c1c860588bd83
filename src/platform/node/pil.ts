// The decodings where libvips' own conversion to 8-bit sRGB is not PIL's `convert('RGB')`, done
// PIL's way on the raw channels sharp gives (checked against Pillow 9.4 by
// test/data.formats.test.ts on files tools/gen_image_fixtures.py wrote):
//  - CMYK (JPEG, TIFF): libvips goes through an ICC profile; PIL computes
//    r = 255 - k - c * (255 - k) / 255 per channel, with integer rounding (Convert.c cmyk2rgb);
//  - 16-bit grey without alpha (PNG, TIFF): PIL opens it as mode "I" and convert('RGB') CLIPS to
//    0..255, so a 16-bit photo comes out nearly white; libvips scales by 1/256. We keep PIL's
//    answer: it is what torchvision fed the network.

import type { Sharp } from 'sharp';
import type { RgbImage } from '../../data/transforms.js';

export type PilConversion = 'cmyk' | 'grey16';

/**
 * Which of PIL's own conversions an image needs, read off its header: a JPEG's frame header
 * (4 components: CMYK or YCCK), a PNG's IHDR (16-bit, colour type 0), a TIFF's tags (through
 * sharp's metadata: TIFFs are rare, and their tags take a parser). Reading the header here
 * costs microseconds; asking sharp for the metadata of every image costs ~1 ms.
 */
export async function pilConversion(b: Uint8Array, s: Sharp): Promise<PilConversion | undefined> {
  if (b.length >= 26 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47) {
    return b[24] === 16 && b[25] === 0 ? 'grey16' : undefined; // IHDR bit depth, colour type
  }
  if (b.length >= 4 && b[0] === 0xff && b[1] === 0xd8) return jpegComponents(b) === 4 ? 'cmyk' : undefined;
  if (b.length >= 4 && ((b[0] === 0x49 && b[1] === 0x49 && b[2] === 0x2a) || (b[0] === 0x4d && b[1] === 0x4d && b[3] === 0x2a))) {
    const meta = await s.metadata();
    if (meta.space === 'cmyk') return 'cmyk';
    if (meta.space === 'grey16' && meta.channels === 1) return 'grey16';
  }
  return undefined;
}

/** The component count of a JPEG's first frame header (SOFn), or undefined when none is found. */
function jpegComponents(b: Uint8Array): number | undefined {
  let p = 2;
  while (p + 4 <= b.length) {
    if (b[p] !== 0xff) return undefined;
    const m = b[p + 1]!;
    if (m === 0xff) {
      p++; // fill byte
      continue;
    }
    if (m === 0xd8 || m === 0x01 || (m >= 0xd0 && m <= 0xd7)) {
      p += 2; // markers without a length
      continue;
    }
    if (m === 0xd9 || m === 0xda) return undefined; // end of image, start of scan: no frame header before
    const len = (b[p + 2]! << 8) | b[p + 3]!;
    if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) return p + 9 < b.length ? b[p + 9] : undefined;
    if (len < 2) return undefined;
    p += 2 + len;
  }
  return undefined;
}

/** Decode with sharp to raw channels, then convert as PIL does: (H, W, 3) uint8. */
export async function decodeAsPil(s: Sharp, kind: PilConversion): Promise<RgbImage> {
  if (kind === 'cmyk') {
    const { data, info } = await s.pipelineColourspace('cmyk').toColourspace('cmyk').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    const n = info.width * info.height;
    const c = info.channels;
    const out = new Uint8Array(n * 3);
    for (let i = 0; i < n; i++) {
      const nk = 255 - data[i * c + 3]!;
      for (let j = 0; j < 3; j++) {
        const t = data[i * c + j]! * nk + 128; // MULDIV255(in, nk)
        out[3 * i + j] = Math.max(0, nk - (((t >> 8) + t) >> 8));
      }
    }
    return { data: out, width: info.width, height: info.height };
  }
  const { data, info } = await s.toColourspace('grey16').raw({ depth: 'ushort' }).toBuffer({ resolveWithObject: true });
  const c = info.channels;
  const n = info.width * info.height;
  const out = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    const v = data[2 * i * c]! | (data[2 * i * c + 1]! << 8); // native (little-endian) 16-bit
    out.fill(Math.min(255, v), 3 * i, 3 * i + 3);
  }
  return { data: out, width: info.width, height: info.height };
}
