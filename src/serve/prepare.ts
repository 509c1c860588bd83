// One uploaded image -> the network's input row, with the server's limits: the encoded bytes
// are checked against the pixel limit from the header alone (before any pixel is decoded), then
// decoded and preprocessed exactly as `predict` does (platform/node/image.ts: Pillow-exact).
// Runs on the main thread or in a decode worker (decode-worker.ts): the answer is plain data
// either way, so it crosses a thread boundary unchanged.

import sharp from 'sharp';
import type { PresetSpec } from '../data/transforms.js';
import { ImageError, preprocess } from '../platform/node/image.js';

export type Prepared =
  | { readonly ok: true; readonly data: Float32Array } // (3, crop, crop)
  | { readonly ok: false; readonly status: 400 | 413; readonly message: string };

export interface PrepareTask {
  readonly bytes: Uint8Array;
  readonly preset: PresetSpec;
  readonly maxPixels: number;
}

export async function prepareImage({ bytes, preset, maxPixels }: PrepareTask): Promise<Prepared> {
  let size: { width?: number; height?: number } | undefined;
  try {
    size = await sharp(bytes, { pages: 1, limitInputPixels: false }).metadata(); // the header only
  } catch {
    // not an image: preprocess below says why, in the words predict uses
  }
  if (size?.width !== undefined && size.height !== undefined && size.width * size.height > maxPixels) {
    return { ok: false, status: 413, message: `image of ${size.width}x${size.height} pixels is more than the limit of ${maxPixels} pixels` };
  }
  try {
    return { ok: true, data: await preprocess(bytes, { preset }) };
  } catch (e) {
    if (e instanceof ImageError) return { ok: false, status: 400, message: e.problem };
    throw e;
  }
}
