// Images in Node: files, encoded bytes or raw pixels -> NCHW float32. Decoding goes through sharp
// (libvips); the geometry and the normalization are the pure functions of data/transforms.ts.
// Decoding is made to match PIL's `Image.open(f).convert('RGB')`: no EXIF rotation, embedded ICC
// profiles ignored, grey replicated to three channels, alpha dropped (not composited), 16-bit
// reduced to 8-bit (16-bit grey clipped and CMYK converted with PIL's arithmetic: pil.ts); BMP
// decoded in TypeScript (data/bmp.ts).

import { readFile, stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import sharp, { type KernelEnum, type Sharp } from 'sharp';
import { checkRaw, ImageError, prepareBatch, type BatchResult, type RawImage } from '../../data/image.js';
import { centerCropOffsets, normalizeToChw, resizedShape, resolvePreset, transformRgb, type PresetName, type PresetSpec, type RgbImage } from '../../data/transforms.js';
import { BmpError, MAX_PIXELS, decodeBmp, isBmp } from '../../data/bmp.js';
import { decodeAsPil, pilConversion } from './pil.js';
import { prepareOnWorker, prepareThreads } from './pool.js';

export { ImageError, type BatchResult, type RawImage } from '../../data/image.js';

/** A file path, the bytes of an encoded image, or raw pixels. */
export type ImageInput = string | Uint8Array | RawImage;

/**
 * How to resize. 'pil' (default) runs Pillow's resampling algorithm in JS on the decoded image,
 * which reproduces torchvision/timm within JPEG-decoder noise. A sharp kernel name resizes with
 * libvips instead (faster on large JPEGs, further from PIL: see docs/preprocessing.md).
 */
export type ResizeEngine = 'pil' | 'sharp-linear' | 'sharp-cubic' | 'sharp-mitchell' | 'sharp-lanczos2' | 'sharp-lanczos3';

export interface DecodeOptions {
  /** Rotate/flip by the EXIF orientation tag first. PIL and torchvision do not; default false. */
  readonly autoOrient?: boolean;
}

export interface PreprocessOptions extends DecodeOptions {
  readonly preset?: PresetName | PresetSpec;
  readonly engine?: ResizeEngine;
  /** Lets libvips shrink JPEGs by 2/4/8 in the decoder (sharp engines only); default false. */
  readonly fastShrinkOnLoad?: boolean;
}

/** The name an input is reported by: the path as given, or a description of in-memory data. */
export function describeInput(input: ImageInput): string {
  if (typeof input === 'string') return input;
  if (input instanceof Uint8Array) return `<buffer of ${input.length} bytes>`;
  return `<raw ${input.width}x${input.height}x${input.channels}>`;
}

/** Rewords libvips' messages for users; keeps the first line only. */
function problemOf(err: unknown): string {
  const msg = (err instanceof Error ? err.message : String(err)).split('\n')[0].trim();
  if (/unsupported image format/i.test(msg)) return 'not an image (unsupported format)';
  if (/exceeds pixel limit/i.test(msg)) return `image over ${MAX_PIXELS} pixels, the limit PIL also enforces (a decompression bomb?)`;
  if (/premature end|truncated|unexpected end|not enough data|read error|out of order/i.test(msg)) {
    return `truncated or corrupt image (${msg})`;
  }
  return `cannot decode image (${msg})`;
}

function sharpFor(input: ImageInput, opts: DecodeOptions): Sharp {
  const common = { autoOrient: opts.autoOrient ?? false, ignoreIcc: true, pages: 1, page: 0 } as const;
  // PIL refuses files over 2 x Image.MAX_IMAGE_PIXELS; sharp's own default limit is higher
  if (typeof input === 'string' || input instanceof Uint8Array) return sharp(input, { ...common, limitInputPixels: MAX_PIXELS });
  return sharp(input.data, { ...common, raw: { width: input.width, height: input.height, channels: input.channels } });
}

async function checkFile(path: string): Promise<void> {
  try {
    const s = await stat(path);
    if (s.isDirectory()) throw new ImageError(path, 'is a directory, not an image');
  } catch (e) {
    if (e instanceof ImageError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new ImageError(path, code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : problemOf(e));
  }
}

/** A BMP (libvips reads none) decoded in TypeScript, or its ImageError. */
function bmpRgb(bytes: Uint8Array, input: ImageInput): RgbImage {
  try {
    return decodeBmp(bytes);
  } catch (e) {
    throw e instanceof BmpError ? new ImageError(describeInput(input), e.message) : e;
  }
}

/**
 * Decodes an image to 8-bit RGB, as PIL's `Image.open(f).convert('RGB')` would:
 * (H, W, C) in any depth/colourspace -> (H, W, 3) uint8. Throws ImageError for users' files.
 */
export async function decodeRgb(input: ImageInput, opts: DecodeOptions = {}): Promise<RgbImage> {
  if (typeof input === 'string') await checkFile(input);
  else if (!(input instanceof Uint8Array)) {
    if (typeof input !== 'object' || input === null) throw new TypeError(`image must be a path, a Uint8Array or a RawImage, got ${input === null ? 'null' : typeof input}`);
    checkRaw(input);
  }
  try {
    // the bytes are read here (sharp would read the file anyway): BMP, CMYK and 16-bit grey are
    // told by their headers, and decoded as PIL does (data/bmp.ts, pil.ts)
    const bytes = typeof input === 'string' ? await readFile(input) : input instanceof Uint8Array ? input : undefined;
    if (bytes && isBmp(bytes)) return bmpRgb(bytes, input);
    const s = sharpFor(bytes ?? input, opts);
    const pil = bytes && (await pilConversion(bytes, s));
    if (pil) return await decodeAsPil(s, pil);
    // toColourspace('srgb') replicates grey, maps 16-bit to 8-bit; alpha is dropped unblended.
    const { data, info } = await s
      .removeAlpha()
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels`);
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height };
  } catch (e) {
    if (e instanceof ImageError) throw e;
    throw new ImageError(describeInput(input), problemOf(e));
  }
}

const SHARP_KERNELS = {
  'sharp-linear': 'linear',
  'sharp-cubic': 'cubic',
  'sharp-mitchell': 'mitchell',
  'sharp-lanczos2': 'lanczos2',
  'sharp-lanczos3': 'lanczos3',
} as const;

/** Resize + crop with libvips on the decoded RGB image: (H, W, 3) -> (crop, crop, 3). */
async function sharpResizeCrop(img: RgbImage, spec: PresetSpec, engine: keyof typeof SHARP_KERNELS): Promise<RgbImage> {
  const size = resizedShape(img.height, img.width, spec.resize);
  const { top, left } = centerCropOffsets(size.height, size.width, spec.crop, spec.cropRounding);
  const { data, info } = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
    .resize(size.width, size.height, { fit: 'fill', kernel: SHARP_KERNELS[engine] })
    .extract({ left, top, width: spec.crop, height: spec.crop })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height };
}

/**
 * One pass through libvips, from the encoded file to the crop (JPEG shrink-on-load allowed when
 * fastShrinkOnLoad). Only for measuring: it resizes before dropping alpha, unlike PIL.
 */
export async function sharpOneStep(input: string | Uint8Array, preset: PresetName | PresetSpec, kernel: keyof KernelEnum, fastShrinkOnLoad: boolean): Promise<RgbImage> {
  const spec = resolvePreset(preset);
  const meta = await sharp(input).metadata();
  const size = resizedShape(meta.height, meta.width, spec.resize);
  const { top, left } = centerCropOffsets(size.height, size.width, spec.crop, spec.cropRounding);
  const { data, info } = await sharp(input, { ignoreIcc: true })
    .resize(size.width, size.height, { fit: 'fill', kernel, fastShrinkOnLoad })
    .extract({ left, top, width: spec.crop, height: spec.crop })
    .removeAlpha()
    .toColourspace('srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height };
}

function resolveOptions(presetOrOptions: PresetName | PresetSpec | PreprocessOptions): PreprocessOptions {
  if (typeof presetOrOptions === 'string') return { preset: presetOrOptions };
  if (typeof presetOrOptions === 'object' && presetOrOptions !== null && 'resize' in presetOrOptions) return { preset: presetOrOptions };
  return presetOrOptions;
}

async function preprocessInto(input: ImageInput, opts: PreprocessOptions, out?: Float32Array, offset = 0): Promise<Float32Array> {
  const spec = resolvePreset(opts.preset ?? 'torchvision-v1');
  const engine = opts.engine ?? 'pil';
  const img = await decodeRgb(input, opts); // (H, W, 3) uint8
  if (engine === 'pil') return transformRgb(img, spec, out, offset); // (3, crop, crop)
  if (!(engine in SHARP_KERNELS)) {
    throw new RangeError(`Unsupported engine: "${engine}". Should be one of: pil, ${Object.keys(SHARP_KERNELS).join(', ')}`);
  }
  const cropped = await sharpResizeCrop(img, spec, engine); // (crop, crop, 3)
  return normalizeToChw(cropped, spec.mean, spec.std, out, offset); // (3, crop, crop)
}

/**
 * Decodes and transforms one image: -> (3, crop, crop) float32.
 * `preprocess('cat.jpg', 'torchvision-v1')` or `preprocess(buf, { preset: 'timm', autoOrient: true })`.
 */
export async function preprocess(image: ImageInput, preset: PresetName | PresetSpec | PreprocessOptions = 'torchvision-v1'): Promise<Float32Array> {
  return preprocessInto(image, resolveOptions(preset));
}

export interface BatchOptions {
  /** How many images are decoded at once on the main thread (sharp decodes on libuv's threads). */
  readonly concurrency?: number;
  /**
   * Worker threads that decode and preprocess paths and encoded bytes (pool.ts); 0: the main
   * thread. Default: prepareThreads() for lists of POOL_MIN images or more, else 0.
   */
  readonly workers?: number;
}

/** The shortest list worth the worker threads (starting one costs ~100 ms: sharp loads in each). */
export const POOL_MIN = 8;

/**
 * Decodes and transforms a list of images in parallel. A bad image does not stop the others:
 * it is reported in `errors` and left out of the tensor. Programming errors (a bad preset) throw.
 */
export async function loadBatch(
  images: readonly ImageInput[],
  preset: PresetName | PresetSpec | PreprocessOptions = 'torchvision-v1',
  { concurrency = Math.min(4, availableParallelism()), workers }: BatchOptions = {},
): Promise<BatchResult> {
  const opts = resolveOptions(preset);
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError(`concurrency must be a positive integer, got ${concurrency}`);
  if (workers !== undefined && !(Number.isInteger(workers) && workers >= 0)) throw new RangeError(`workers must be an integer >= 0, got ${workers}`);
  const threads = workers ?? (Array.isArray(images) && images.length >= POOL_MIN ? prepareThreads() : 0);
  if (threads === 0) return prepareBatch(images, opts.preset ?? 'torchvision-v1', (image) => preprocessInto(image, opts), concurrency);
  // all of the list is queued at once on the workers (they take them in order); raw pixels, which
  // need no decoding, are transformed here
  const onWorker = (image: ImageInput) => (typeof image === 'string' || image instanceof Uint8Array ? prepareOnWorker({ image, opts }, threads) : preprocessInto(image, opts));
  return prepareBatch(images, opts.preset ?? 'torchvision-v1', onWorker, Math.max(1, images.length));
}
