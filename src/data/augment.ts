// Training-time augmentation: torchvision's RandomResizedCrop + RandomHorizontalFlip + ToTensor +
// Normalize, on decoded RGB images with Pillow's resampling (transforms.ts), and the evaluation
// transform of a preset. Pure TypeScript with no Node imports.
//
// Reproducibility: a sample's augmentation draws from its own Generator, seeded by a hash of
// (seed, epoch, sample index) only. It does not depend on the batch size, on the order the
// samples are decoded in, nor on how many samples came before, so a run resumed mid-epoch sees
// the same crops and flips as an uninterrupted one.

import { sampleGenerator, type Generator } from '../random.js';

export { sampleGenerator };
import {
  normalizeToChw,
  resizeRgb,
  resolvePreset,
  transformRgb,
  withInputSize,
  type Interpolation,
  type PresetName,
  type PresetSpec,
  type RgbImage,
} from './transforms.js';
import { roundHalfEven } from '../numbers.js';

// ---------------------------------------------------------------------------
// RandomResizedCrop

/** A crop window: rows top..top+height-1, columns left..left+width-1. */
export interface CropBox {
  readonly top: number;
  readonly left: number;
  readonly height: number;
  readonly width: number;
}

export interface RandomResizedCropOptions {
  /** Range of the crop's area as a fraction of the image's; torchvision's default (0.08, 1). */
  readonly scale?: readonly [number, number];
  /** Range of the crop's width/height; torchvision's default (3/4, 4/3). */
  readonly ratio?: readonly [number, number];
}


function checkRange(name: string, r: readonly [number, number] | undefined): void {
  if (!Array.isArray(r) || r.length !== 2 || !(r[0] > 0) || !(r[1] >= r[0]) || !Number.isFinite(r[1])) {
    throw new RangeError(`${name} must be [min, max] with 0 < min <= max, got ${JSON.stringify(r)}`);
  }
}

/**
 * torchvision's `RandomResizedCrop.get_params`: up to 10 tries of an area drawn uniformly in
 * scale * area and an aspect ratio drawn log-uniformly in ratio, kept when it fits; otherwise the
 * central crop with the ratio clamped into range. (torch draws in float32 from its own RNG; we
 * draw doubles from `gen`, so the algorithm is the same and the numbers are not.)
 */
export function randomResizedCropParams(height: number, width: number, gen: Generator, opts: RandomResizedCropOptions = {}): CropBox {
  const scale = opts.scale ?? [0.08, 1.0];
  const ratio = opts.ratio ?? [3 / 4, 4 / 3];
  checkRange('scale', scale);
  checkRange('ratio', ratio);
  const area = height * width;
  const logLo = Math.log(ratio[0]);
  const logHi = Math.log(ratio[1]);
  for (let attempt = 0; attempt < 10; attempt++) {
    const targetArea = area * (scale[0] + (scale[1] - scale[0]) * gen.uniform());
    const aspect = Math.exp(logLo + (logHi - logLo) * gen.uniform());
    const w = roundHalfEven(Math.sqrt(targetArea * aspect));
    const h = roundHalfEven(Math.sqrt(targetArea / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const top = gen.int(height - h + 1);
      const left = gen.int(width - w + 1);
      return { top, left, height: h, width: w };
    }
  }
  // Fallback to central crop
  const inRatio = width / height;
  let w: number;
  let h: number;
  if (inRatio < ratio[0]) {
    w = width;
    h = roundHalfEven(w / ratio[0]);
  } else if (inRatio > ratio[1]) {
    h = height;
    w = roundHalfEven(h * ratio[1]);
  } else {
    w = width;
    h = height;
  }
  return { top: Math.floor((height - h) / 2), left: Math.floor((width - w) / 2), height: h, width: w };
}

/** Extracts a rectangular window: (H, W, 3) -> (box.height, box.width, 3). */
export function cropBoxRgb(img: RgbImage, box: CropBox): RgbImage {
  const { top, left, height, width } = box;
  if (top < 0 || left < 0 || height < 1 || width < 1 || top + height > img.height || left + width > img.width) {
    throw new RangeError(`crop (${left}, ${top}, ${width}x${height}) is outside a ${img.width}x${img.height} image`);
  }
  const out = new Uint8Array(height * width * 3);
  for (let y = 0; y < height; y++) {
    const from = ((top + y) * img.width + left) * 3;
    out.set(img.data.subarray(from, from + width * 3), y * width * 3);
  }
  return { data: out, width, height };
}

/** Mirrors left-right: (H, W, 3) -> (H, W, 3). */
export function hflipRgb(img: RgbImage): RgbImage {
  const { width, height, data } = img;
  const out = new Uint8Array(data.length);
  for (let y = 0; y < height; y++) {
    const row = y * width * 3;
    for (let x = 0; x < width; x++) {
      const s = row + x * 3;
      const d = row + (width - 1 - x) * 3;
      out[d] = data[s]!;
      out[d + 1] = data[s + 1]!;
      out[d + 2] = data[s + 2]!;
    }
  }
  return { data: out, width, height };
}

/**
 * torchvision's `F.resized_crop(img, top, left, h, w, [size, size])` on a PIL image: crop first,
 * then Pillow's resize of the crop (the filter never reaches pixels outside the window).
 * (H, W, 3) -> (size, size, 3).
 */
export function resizedCropRgb(img: RgbImage, box: CropBox, size: number, interpolation: Interpolation = 'bilinear'): RgbImage {
  return resizeRgb(cropBoxRgb(img, box), size, size, interpolation);
}

// ---------------------------------------------------------------------------
// Transforms

/** Decoded RGB image -> (3, size, size) float32. `gen` is the sample's generator (unused by eval transforms). */
export interface ImageTransform {
  /** Side S of the output: (3, S, S). */
  readonly size: number;
  /** Whether `apply` draws from `gen`. */
  readonly random: boolean;
  apply(img: RgbImage, gen: Generator, out?: Float32Array, offset?: number): Float32Array;
}

export interface TrainTransformOptions extends RandomResizedCropOptions {
  /** Output side S (torchvision's RandomResizedCrop(size)). */
  readonly size: number;
  /** Probability of a horizontal flip; default 0.5. */
  readonly flip?: number;
  readonly interpolation?: Interpolation;
  /** Normalization; ImageNet's by default. */
  readonly mean?: readonly [number, number, number];
  readonly std?: readonly [number, number, number];
}

const IMAGENET_MEAN = [0.485, 0.456, 0.406] as const;
const IMAGENET_STD = [0.229, 0.224, 0.225] as const;

function checkSize(size: number): void {
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`size must be a positive integer, got ${size}`);
}

/** What the train transform did to one sample (for tests and logs). */
export interface TrainDraw {
  readonly box: CropBox;
  readonly flip: boolean;
}

/** The random draws of the train transform for an image of height x width, in the order `apply` makes them. */
export function drawTrainParams(height: number, width: number, gen: Generator, opts: TrainTransformOptions): TrainDraw {
  const box = randomResizedCropParams(height, width, gen, opts);
  const flip = gen.uniform() < (opts.flip ?? 0.5);
  return { box, flip };
}

/**
 * RandomResizedCrop(size, scale, ratio) + RandomHorizontalFlip(flip) + ToTensor + Normalize,
 * in torchvision's order: (H, W, 3) uint8 -> (3, size, size) float32.
 */
export function trainTransform(opts: TrainTransformOptions): ImageTransform {
  checkSize(opts.size);
  checkRange('scale', opts.scale ?? [0.08, 1]);
  checkRange('ratio', opts.ratio ?? [3 / 4, 4 / 3]);
  const p = opts.flip ?? 0.5;
  if (!(p >= 0 && p <= 1)) throw new RangeError(`flip must be a probability in [0, 1], got ${p}`);
  const interpolation = opts.interpolation ?? 'bilinear';
  if (interpolation !== 'bilinear' && interpolation !== 'bicubic') throw new RangeError(`interpolation must be "bilinear" or "bicubic", got "${String(interpolation)}"`);
  const mean = opts.mean ?? IMAGENET_MEAN;
  const std = opts.std ?? IMAGENET_STD;
  return {
    size: opts.size,
    random: true,
    apply(img, gen, out, offset = 0) {
      const { box, flip } = drawTrainParams(img.height, img.width, gen, opts);
      let x = resizedCropRgb(img, box, opts.size, interpolation); // (S, S, 3)
      if (flip) x = hflipRgb(x);
      return normalizeToChw(x, mean, std, out, offset); // (3, S, S)
    },
  };
}

export interface EvalTransformOptions {
  /** Output side S; the preset's resize is scaled to keep its resize/crop ratio (withInputSize). */
  readonly size: number;
  /** Default 'torchvision-v1': Resize(256 * S / 224), CenterCrop(S), ImageNet normalization. */
  readonly preset?: PresetName | PresetSpec;
}

/** The preset's deterministic path at input size S: (H, W, 3) uint8 -> (3, S, S) float32. */
export function evalTransform(opts: EvalTransformOptions): ImageTransform {
  checkSize(opts.size);
  const spec = withInputSize(resolvePreset(opts.preset ?? 'torchvision-v1'), opts.size);
  return {
    size: opts.size,
    random: false,
    apply(img, _gen, out, offset = 0) {
      return transformRgb(img, spec, out, offset); // (3, S, S)
    },
  };
}
