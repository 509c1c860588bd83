// Geometry, resampling and normalization for the evaluation presets.
// Pure TypeScript with no Node imports, so a browser build can use it unchanged;
// decoding is per platform (platform/node/image.ts, platform/web/image.ts).

import { roundHalfEven } from '../numbers.js';
import { transformWasm } from './resample.js';

export type Interpolation = 'bilinear' | 'bicubic';

/**
 * How the top/left offset of a center crop is rounded.
 * 'round': torchvision's CenterCrop, `int(round((h - crop) / 2.0))` (Python rounds half to even).
 * 'floor': transformers' numpy `center_crop`, `(h - crop) // 2`.
 */
export type CropRounding = 'round' | 'floor';

export interface PresetSpec {
  /** Shorter side after resizing; the longer side is `int(resize * long / short)`. */
  readonly resize: number;
  /** Side of the square center crop taken after resizing. */
  readonly crop: number;
  readonly interpolation: Interpolation;
  readonly cropRounding: CropRounding;
  /** Per-channel (R, G, B) mean and std applied to pixels scaled to [0, 1]. */
  readonly mean: readonly [number, number, number];
  readonly std: readonly [number, number, number];
}

const IMAGENET_MEAN = [0.485, 0.456, 0.406] as const;
const IMAGENET_STD = [0.229, 0.224, 0.225] as const;
const HALF = [0.5, 0.5, 0.5] as const;

//   name              resize crop  interpolation cropRounding  mean           std
export const PRESETS = {
  // torchvision IMAGENET1K_V1 weights: Resize(256), CenterCrop(224), ToTensor, Normalize
  'torchvision-v1': { resize: 256, crop: 224, interpolation: 'bilinear', cropRounding: 'round', mean: IMAGENET_MEAN, std: IMAGENET_STD },
  // torchvision IMAGENET1K_V2 weights: same with Resize(232)
  'torchvision-v2': { resize: 232, crop: 224, interpolation: 'bilinear', cropRounding: 'round', mean: IMAGENET_MEAN, std: IMAGENET_STD },
  // transformers MobileNetV2ImageProcessor defaults (google/mobilenet_v2_1.0_224): [-1, 1];
  // its crop offset rounds down (cat_720p's 455-wide resize crops at x=115, not torchvision's 116)
  hf: { resize: 256, crop: 224, interpolation: 'bilinear', cropRounding: 'floor', mean: HALF, std: HALF },
  // TensorFlow/Keras mobilenet_v2.preprocess_input: x / 127.5 - 1, same geometry as hf
  tf: { resize: 256, crop: 224, interpolation: 'bilinear', cropRounding: 'floor', mean: HALF, std: HALF },
  // timm mobilenetv2_100 eval transform: bicubic, crop_pct 0.875 -> Resize(floor(224 / 0.875) = 256)
  timm: { resize: 256, crop: 224, interpolation: 'bicubic', cropRounding: 'round', mean: IMAGENET_MEAN, std: IMAGENET_STD },
} as const satisfies Record<string, PresetSpec>;

export type PresetName = keyof typeof PRESETS;

export function isPresetName(name: string): name is PresetName {
  return Object.prototype.hasOwnProperty.call(PRESETS, name);
}

/** Looks a preset up by name, or validates a spec; errors list the valid names. */
export function resolvePreset(preset: PresetName | PresetSpec): PresetSpec {
  if (typeof preset === 'string') {
    if (!isPresetName(preset)) {
      throw new RangeError(`Unsupported preset: "${preset}". Should be one of: ${Object.keys(PRESETS).join(', ')}`);
    }
    return PRESETS[preset];
  }
  if (typeof preset !== 'object' || preset === null) throw new TypeError(`preset must be a preset name or a PresetSpec, got ${typeof preset}`);
  for (const key of ['resize', 'crop'] as const) {
    const v = preset[key];
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`preset.${key} must be a positive integer, got ${v}`);
  }
  if (preset.crop > preset.resize) throw new RangeError(`preset.crop (${preset.crop}) must not exceed preset.resize (${preset.resize})`);
  if (preset.interpolation !== 'bilinear' && preset.interpolation !== 'bicubic') {
    throw new RangeError(`preset.interpolation must be "bilinear" or "bicubic", got "${String(preset.interpolation)}"`);
  }
  return preset;
}

/**
 * The preset's geometry for another input size S: crop S and resize round(S * resize / crop),
 * which keeps the preset's resize/crop ratio (torchvision-v1 at S = 160: resize 183, crop 160).
 */
export function withInputSize(preset: PresetName | PresetSpec, inputSize: number): PresetSpec {
  const spec = resolvePreset(preset);
  return { ...spec, resize: resizeSize(spec, inputSize), crop: centerCropSize(spec, inputSize) };
}

/** Shorter-side resize target for input size S (the preset's own when S is omitted). */
export function resizeSize(preset: PresetName | PresetSpec, inputSize?: number): number {
  const spec = resolvePreset(preset);
  if (inputSize === undefined) return spec.resize;
  checkSize('inputSize', inputSize);
  return Math.round((inputSize * spec.resize) / spec.crop);
}

/** Center-crop side for input size S (the preset's own when S is omitted). */
export function centerCropSize(preset: PresetName | PresetSpec, inputSize?: number): number {
  const spec = resolvePreset(preset);
  if (inputSize === undefined) return spec.crop;
  checkSize('inputSize', inputSize);
  return inputSize;
}

function checkSize(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer, got ${v}`);
}

/**
 * Output size of torchvision's `Resize(size)` (an int) and of transformers' `shortest_edge`:
 * the shorter side becomes `size`, the longer `int(size * long / short)` (truncated).
 */
export function resizedShape(height: number, width: number, size: number): { height: number; width: number } {
  if (width <= height) return { width: size, height: Math.trunc((size * height) / width) };
  return { height: size, width: Math.trunc((size * width) / height) };
}


/** Top-left corner of a centered crop; the image must be at least crop x crop. */
export function centerCropOffsets(
  height: number,
  width: number,
  crop: number,
  rounding: CropRounding = 'round',
): { top: number; left: number } {
  if (crop > height || crop > width) throw new RangeError(`center crop ${crop} does not fit in a ${width}x${height} image`);
  const off = (d: number): number => (rounding === 'round' ? roundHalfEven((d - crop) / 2) : Math.floor((d - crop) / 2));
  return { top: off(height), left: off(width) };
}

/** An 8-bit RGB image in row-major HWC order. */
export interface RgbImage {
  readonly data: Uint8Array;
  readonly width: number;
  readonly height: number;
}

// ---------------------------------------------------------------------------
// Resampling with Pillow's algorithm (what torchvision's Resize does on a PIL image).
// Separable convolution whose support widens with the downscale factor (antialias),
// weights quantized to 22 fractional bits, horizontal pass first, and the
// intermediate image rounded to 8 bits, as Pillow does for 8-bit images.

const FILTERS: Record<Interpolation, { support: number; f: (x: number) => number }> = {
  bilinear: { support: 1, f: (x) => (x < 0 ? (x > -1 ? 1 + x : 0) : x < 1 ? 1 - x : 0) },
  bicubic: {
    support: 2,
    f: (x) => {
      const a = -0.5;
      if (x < 0) x = -x;
      if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
      if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
      return 0;
    },
  },
};

export const PRECISION_BITS = 32 - 8 - 2;

export interface Coeffs {
  readonly ksize: number;
  readonly bounds: Int32Array; // (out, 2): first input index, tap count
  readonly k: Int32Array; // (out, ksize) fixed-point weights
}

/** Pillow's precompute_coeffs: for each output, its first input, tap count and fixed-point weights. */
export function coefficients(inSize: number, outSize: number, interp: Interpolation): Coeffs {
  const { support: baseSupport, f } = FILTERS[interp];
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1);
  const support = baseSupport * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const k = new Int32Array(outSize * ksize);
  const w = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      w[x] = f((x + xmin - center + 0.5) / filterscale);
      ww += w[x];
    }
    for (let x = 0; x < xmax; x++) {
      const v = ww !== 0 ? w[x] / ww : w[x];
      k[xx * ksize + x] = v < 0 ? Math.trunc(-0.5 + v * (1 << PRECISION_BITS)) : Math.trunc(0.5 + v * (1 << PRECISION_BITS));
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  return { ksize, bounds, k };
}

function clip8(ss: number): number {
  const v = ss >> PRECISION_BITS;
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/**
 * Resizes an RGB image to width x height with Pillow's resampling (`Image.resize` with
 * BILINEAR or BICUBIC), which is what torchvision and timm do on PIL images.
 */
export function resizeRgb(img: RgbImage, width: number, height: number, interp: Interpolation): RgbImage {
  checkSize('width', width);
  checkSize('height', height);
  let src = img;
  const half = 1 << (PRECISION_BITS - 1);
  if (width !== src.width) {
    // (H, W, 3) -> (H, width, 3)
    const { ksize, bounds, k } = coefficients(src.width, width, interp);
    const out = new Uint8Array(src.height * width * 3);
    const inp = src.data;
    for (let y = 0; y < src.height; y++) {
      const row = y * src.width * 3;
      for (let xx = 0; xx < width; xx++) {
        const xmin = bounds[xx * 2];
        const xmax = bounds[xx * 2 + 1];
        let r = half, g = half, b = half;
        for (let x = 0; x < xmax; x++) {
          const kv = k[xx * ksize + x];
          const p = row + (x + xmin) * 3;
          r += inp[p] * kv;
          g += inp[p + 1] * kv;
          b += inp[p + 2] * kv;
        }
        const o = (y * width + xx) * 3;
        out[o] = clip8(r);
        out[o + 1] = clip8(g);
        out[o + 2] = clip8(b);
      }
    }
    src = { data: out, width, height: src.height };
  }
  if (height !== src.height) {
    // (H, W, 3) -> (height, W, 3)
    const { ksize, bounds, k } = coefficients(src.height, height, interp);
    const out = new Uint8Array(height * width * 3);
    const inp = src.data;
    const stride = width * 3;
    for (let yy = 0; yy < height; yy++) {
      const ymin = bounds[yy * 2];
      const ymax = bounds[yy * 2 + 1];
      for (let xc = 0; xc < stride; xc++) {
        let s = half;
        for (let y = 0; y < ymax; y++) s += inp[(y + ymin) * stride + xc] * k[yy * ksize + y];
        out[yy * stride + xc] = clip8(s);
      }
    }
    src = { data: out, width, height };
  }
  return src;
}

/** Extracts the (top, left, size, size) window of an RGB image. */
export function cropRgb(img: RgbImage, top: number, left: number, size: number): RgbImage {
  if (top < 0 || left < 0 || top + size > img.height || left + size > img.width) {
    throw new RangeError(`crop (${left}, ${top}, ${size}x${size}) is outside a ${img.width}x${img.height} image`);
  }
  const out = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++) {
    const from = ((top + y) * img.width + left) * 3;
    out.set(img.data.subarray(from, from + size * 3), y * size * 3);
  }
  return { data: out, width: size, height: size };
}

/**
 * (H, W, 3) uint8 -> (3, H, W) float32: x / 255, then (x - mean) / std, each step rounded
 * to float32 as torchvision's ToTensor and Normalize do. Writes into `out` at `offset` if given.
 */
export function normalizeToChw(
  img: RgbImage,
  mean: readonly number[],
  std: readonly number[],
  out?: Float32Array,
  offset = 0,
): Float32Array {
  const hw = img.width * img.height;
  const dst = out ?? new Float32Array(3 * hw);
  if (dst.length < offset + 3 * hw) throw new RangeError(`normalizeToChw: output holds ${dst.length} values, needs ${offset + 3 * hw}`);
  const f = Math.fround;
  for (let c = 0; c < 3; c++) {
    // Per-channel lookup table: 256 possible input values.
    const m = f(mean[c]);
    const s = f(std[c]);
    const lut = new Float32Array(256);
    for (let v = 0; v < 256; v++) lut[v] = f(f(f(v / 255) - m) / s);
    const base = offset + c * hw;
    const src = img.data;
    for (let i = 0; i < hw; i++) dst[base + i] = lut[src[i * 3 + c]];
  }
  return dst;
}

/** Per-channel lookup tables of normalizeToChw: lut[c * 256 + v] = ((v / 255) - mean[c]) / std[c] in float32 steps. */
export function normalizeLut(mean: readonly number[], std: readonly number[]): Float32Array {
  const f = Math.fround;
  const lut = new Float32Array(3 * 256);
  for (let c = 0; c < 3; c++) for (let v = 0; v < 256; v++) lut[c * 256 + v] = f(f(f(v / 255) - f(mean[c]!)) / f(std[c]!));
  return lut;
}

/**
 * The whole geometric + numeric transform of a preset on an already decoded RGB image:
 * (H, W, 3) uint8 -> (3, crop, crop) float32. Bit for bit what resizeRgb, cropRgb and
 * normalizeToChw give one after the other (Pillow's resize, then the crop), but only the pixels
 * inside the crop are resampled. Runs the WebAssembly SIMD kernels (data/resample.ts) where the
 * runtime has them, else transformRgbJs: the same integers either way.
 */
export function transformRgb(img: RgbImage, preset: PresetName | PresetSpec, out?: Float32Array, offset = 0): Float32Array {
  const spec = resolvePreset(preset);
  const dst = checkedOutput(spec, out, offset, 'transformRgb');
  return transformWasm(img, spec, dst, offset) ? dst : transformRgbJs(img, spec, dst, offset);
}

function checkedOutput(spec: PresetSpec, out: Float32Array | undefined, offset: number, fn: string): Float32Array {
  const n = 3 * spec.crop * spec.crop;
  const dst = out ?? new Float32Array(n);
  if (dst.length < offset + n) throw new RangeError(`${fn}: output holds ${dst.length} values, needs ${offset + n}`);
  return dst;
}

/**
 * transformRgb in plain TypeScript, the reference the WebAssembly kernels are tested against:
 * the horizontal pass runs on the crop's columns and on the input rows the crop's output rows
 * read (as Pillow itself limits its first pass), and the vertical pass writes the normalized
 * floats straight into the planes.
 */
export function transformRgbJs(img: RgbImage, preset: PresetName | PresetSpec, out?: Float32Array, offset = 0): Float32Array {
  const spec = resolvePreset(preset);
  const size = resizedShape(img.height, img.width, spec.resize);
  const { top, left } = centerCropOffsets(size.height, size.width, spec.crop, spec.cropRounding);
  const S = spec.crop;
  const plane = S * S;
  const dst = checkedOutput(spec, out, offset, 'transformRgbJs');
  const lut = normalizeLut(spec.mean, spec.std);
  const half = 1 << (PRECISION_BITS - 1);
  const inp = img.data;
  const W = img.width;

  // rows of the input the crop's output rows read (all of the crop's rows when the height is kept)
  const vert = size.height !== img.height ? coefficients(img.height, size.height, spec.interpolation) : undefined;
  let y0 = top;
  let y1 = top + S;
  if (vert) {
    y0 = vert.bounds[top * 2]!;
    y1 = 0;
    for (let yy = top; yy < top + S; yy++) y1 = Math.max(y1, vert.bounds[yy * 2]! + vert.bounds[yy * 2 + 1]!);
  }
  const rows = y1 - y0;

  // horizontal pass on those rows, the crop's columns only: (rows, S, 3) uint8
  let mid: Uint8Array;
  if (size.width !== W) {
    const { ksize, bounds, k } = coefficients(W, size.width, spec.interpolation);
    mid = new Uint8Array(rows * S * 3);
    for (let y = 0; y < rows; y++) {
      const row = (y0 + y) * W * 3;
      for (let c = 0; c < S; c++) {
        const xx = left + c;
        const xmin = bounds[xx * 2]!;
        const xmax = bounds[xx * 2 + 1]!;
        const kb = xx * ksize;
        let r = half, g = half, b = half;
        for (let x = 0, p = row + xmin * 3; x < xmax; x++, p += 3) {
          const kv = k[kb + x]!;
          r += inp[p]! * kv;
          g += inp[p + 1]! * kv;
          b += inp[p + 2]! * kv;
        }
        const o = (y * S + c) * 3;
        mid[o] = clip8(r);
        mid[o + 1] = clip8(g);
        mid[o + 2] = clip8(b);
      }
    }
  } else {
    mid = new Uint8Array(rows * S * 3);
    for (let y = 0; y < rows; y++) mid.set(inp.subarray(((y0 + y) * W + left) * 3, ((y0 + y) * W + left + S) * 3), y * S * 3);
  }

  // vertical pass (or the crop's rows as they are), normalized into (3, S, S)
  const stride = S * 3;
  for (let yy = 0; yy < S; yy++) {
    const o = offset + yy * S;
    if (!vert) {
      const base = (top - y0 + yy) * stride;
      for (let x = 0; x < S; x++) {
        const p = base + x * 3;
        dst[o + x] = lut[mid[p]!]!;
        dst[o + plane + x] = lut[256 + mid[p + 1]!]!;
        dst[o + 2 * plane + x] = lut[512 + mid[p + 2]!]!;
      }
      continue;
    }
    const { ksize, bounds, k } = vert;
    const ymin = bounds[(top + yy) * 2]! - y0;
    const ymax = bounds[(top + yy) * 2 + 1]!;
    const kb = (top + yy) * ksize;
    for (let x = 0; x < S; x++) {
      let r = half, g = half, b = half;
      for (let y = 0, p = ymin * stride + x * 3; y < ymax; y++, p += stride) {
        const kv = k[kb + y]!;
        r += mid[p]! * kv;
        g += mid[p + 1]! * kv;
        b += mid[p + 2]! * kv;
      }
      dst[o + x] = lut[clip8(r)]!;
      dst[o + plane + x] = lut[256 + clip8(g)]!;
      dst[o + 2 * plane + x] = lut[512 + clip8(b)]!;
    }
  }
  return dst;
}
