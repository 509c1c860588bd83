// More images from the 16 real photos of ../shared/real, for int8 calibration and agreement
// measurements: each photo seen as crops (3 scales x 5 positions) and their mirror images. Views of
// one photo are strongly correlated: agreement over views is a weaker measure than over as many
// distinct photos, and the splits below never put views of one photo on both sides.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import type { RawImage } from '../../src/data/image.js';
import { decodeRgb } from '../../src/platform/node/image.js';
import { SHARED } from './browser.js';

export const REAL = join(SHARED, 'real');
export const REAL_WEIGHTS = join(REAL, 'mobilenet_v2_coral_imagenet.pth');
export const PHOTOS = readdirSync(join(REAL, 'photos')).sort().map((f) => join(REAL, 'photos', f));

/** The photos in two halves (alternate names), so one half calibrates while the other is held out. */
export function photoFolds(): [string[], string[]] {
  return [PHOTOS.filter((_, i) => i % 2 === 0), PHOTOS.filter((_, i) => i % 2 === 1)];
}

/** (scale, x, y, mirror): the whole photo, then crops of 80% and 64% of each side at the center and the corners, then all mirrored. */
const VIEWS: readonly (readonly [number, number, number, boolean])[] = [false, true].flatMap((flip) => [
  [1, 0.5, 0.5, flip] as const,
  ...[0.8, 0.64].flatMap((s) => [[0.5, 0.5], [0, 0], [1, 0], [0, 1], [1, 1]].map(([x, y]) => [s, x!, y!, flip] as const)),
]);
/** Views per photo. */
export const VIEWS_PER_PHOTO = VIEWS.length;

/** `perPhoto` views of each photo (the first `perPhoto` of the fixed list: the whole photo first), as RGB pixels. */
export async function photoViews(photos: readonly string[], perPhoto = VIEWS_PER_PHOTO): Promise<RawImage[]> {
  const out: RawImage[] = [];
  for (const p of photos) {
    const img = await decodeRgb(p);
    for (const [s, fx, fy, flip] of VIEWS.slice(0, perPhoto)) {
      const width = Math.round(img.width * s);
      const height = Math.round(img.height * s);
      let im = sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } }).extract({ left: Math.round((img.width - width) * fx), top: Math.round((img.height - height) * fy), width, height });
      if (flip) im = im.flop();
      const { data, info } = await im.raw().toBuffer({ resolveWithObject: true });
      out.push({ data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height, channels: 3 });
    }
  }
  return out;
}
