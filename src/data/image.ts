// Images between decoding and the network, on any platform: the raw-pixel input type, the error a
// user's image raises, and a batch of decoded images turned into one NCHW tensor with the presets'
// transforms (transforms.ts). Decoding itself is per platform: sharp in Node
// (platform/node/image.ts), the browser's decoders in a page (platform/web/image.ts).

import { float32, type Tensor } from '../tensor.js';
import { resolvePreset, transformRgb, type PresetName, type PresetSpec, type RgbImage } from './transforms.js';

/** Pixels already in memory: row-major HWC, 8-bit, 1 (grey), 3 (RGB) or 4 (RGBA) channels. */
export interface RawImage {
  readonly data: Uint8Array | Uint8ClampedArray;
  readonly width: number;
  readonly height: number;
  readonly channels: 1 | 3 | 4;
}

/** A user's image could not be read: `file` names it, `problem` says why, in one line. */
export class ImageError extends Error {
  readonly code = 'E_IMAGE';
  constructor(
    readonly file: string,
    readonly problem: string,
  ) {
    super(`${file}: ${problem}`);
    this.name = 'ImageError';
  }
}

export function isRawImage(x: unknown): x is RawImage {
  return typeof x === 'object' && x !== null && 'data' in x && 'width' in x && 'height' in x && 'channels' in x;
}

export function checkRaw(raw: RawImage): void {
  const { data, width, height, channels } = raw;
  if (!(data instanceof Uint8Array) && !(data instanceof Uint8ClampedArray)) throw new TypeError('image.data must be a Uint8Array');
  if (!Number.isInteger(width) || width < 1) throw new RangeError(`image.width must be a positive integer, got ${width}`);
  if (!Number.isInteger(height) || height < 1) throw new RangeError(`image.height must be a positive integer, got ${height}`);
  if (channels !== 1 && channels !== 3 && channels !== 4) throw new RangeError(`image.channels must be 1, 3 or 4, got ${String(channels)}`);
  if (data.length !== width * height * channels) {
    throw new RangeError(`image.data holds ${data.length} bytes, ${width}x${height}x${channels} needs ${width * height * channels}`);
  }
}

/** Raw pixels -> RGB as PIL's convert('RGB'): grey replicated, alpha dropped (not composited). */
export function rawToRgb(raw: RawImage): RgbImage {
  checkRaw(raw);
  const { width, height, channels } = raw;
  const src = raw.data;
  if (channels === 3) return { data: src instanceof Uint8Array ? src : new Uint8Array(src.buffer, src.byteOffset, src.length), width, height };
  const n = width * height;
  const out = new Uint8Array(n * 3); // (H, W, 3)
  for (let i = 0, o = 0, s = 0; i < n; i++, o += 3, s += channels) {
    out[o] = src[s]!;
    out[o + 1] = src[channels === 1 ? s : s + 1]!;
    out[o + 2] = src[channels === 1 ? s : s + 2]!;
  }
  return { data: out, width, height };
}

export interface BatchResult {
  /** (N_ok, 3, crop, crop): only the images that decoded, in input order. */
  readonly tensor: Tensor;
  /** ok[row] = index in the input list of the tensor's row. */
  readonly ok: number[];
  readonly errors: { index: number; file: string; problem: string; message: string }[];
}

/** Turns a list of images into a batch: decodes (a platform's decoder) and transforms each. */
export type BatchLoader<I> = (images: readonly I[], preset: PresetName | PresetSpec) => Promise<BatchResult>;

/** One image -> (3, crop, crop) float32 for a preset. */
export type Prepare<I> = (image: I, spec: PresetSpec) => Promise<Float32Array>;

/** Decode with a platform's decoder, then the preset's eval transform (Pillow-exact resize, crop, normalize). */
export const viaRgb =
  <I>(decode: (image: I) => Promise<RgbImage>): Prepare<I> =>
  async (image, spec) =>
    transformRgb(await decode(image), spec); // (H, W, 3) uint8 -> (3, crop, crop)

/**
 * Prepares `images`, `concurrency` at a time, into one batch. A bad image (an ImageError) does not
 * stop the others: it is reported in `errors` and left out of the tensor. Anything else (a bad
 * preset, a bug) throws.
 */
export async function prepareBatch<I>(images: readonly I[], preset: PresetName | PresetSpec, prepare: Prepare<I>, concurrency = 4): Promise<BatchResult> {
  if (!Array.isArray(images)) throw new TypeError('images must be an array');
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError(`concurrency must be a positive integer, got ${concurrency}`);
  const spec = resolvePreset(preset);
  const plane = 3 * spec.crop * spec.crop;
  const results: (Float32Array | ImageError)[] = new Array(images.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < images.length) {
      const i = next++;
      try {
        results[i] = await prepare(images[i]!, spec);
      } catch (e) {
        if (!(e instanceof ImageError)) throw e;
        results[i] = e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, images.length) }, worker));
  const ok: number[] = [];
  const errors: BatchResult['errors'] = [];
  results.forEach((r, i) => (r instanceof ImageError ? errors.push({ index: i, file: r.file, problem: r.problem, message: r.message }) : ok.push(i)));
  const data = new Float32Array(ok.length * plane); // (N_ok, 3, crop, crop)
  ok.forEach((i, row) => data.set(results[i] as Float32Array, row * plane));
  return { tensor: float32([ok.length, 3, spec.crop, spec.crop], data), ok, errors };
}
