// Labelled images as torchvision's datasets hold them: class names (index = position) and a list
// of samples. Platform-free: Node's ImageFolder (platform/node/folder.ts) fills one from a folder
// tree, a web page from File lists, canvases or webcam frames.

import { Generator, mixSeed, permutation, SeedDomain } from '../random.js';

export interface Sample {
  /** What the sample is called in logs and errors (a file path in Node). */
  readonly path: string;
  readonly label: number;
  /** The image itself when it is not read from `path` (a Blob, an ImageBitmap, raw pixels...). */
  readonly image?: unknown;
}

/** What a DataLoader reads: a list of samples and the class names. */
export interface Dataset {
  readonly samples: readonly Sample[];
  readonly classes: readonly string[];
}

export const DEFAULT_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp'] as const;

/**
 * Python's string order (code point by code point). JavaScript's `<` compares UTF-16 code units,
 * which puts U+10000.. (surrogates) before U+E000..U+FFFF; Python does not.
 */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // A surrogate (0xD800-0xDFFF) stands for a code point above 0xFFFF: larger than any BMP unit.
    const xs = x >= 0xd800 && x <= 0xdfff;
    const ys = y >= 0xd800 && y <= 0xdfff;
    if (xs !== ys) return xs ? 1 : -1;
    return x - y;
  }
  return a.length - b.length;
}

/** A subset of a dataset (a split): same classes, some of the samples. */
export class Subset implements Dataset {
  readonly samples: readonly Sample[];
  readonly classes: readonly string[];
  readonly classToIdx: ReadonlyMap<string, number>;

  constructor(
    readonly parent: LabelledImages,
    /** Indices into parent.samples, ascending. */
    readonly indices: readonly number[],
  ) {
    this.samples = indices.map((i) => parent.samples[i]!);
    this.classes = parent.classes;
    this.classToIdx = parent.classToIdx;
  }
}

/** Class names and samples, with per-class counts and a seeded stratified split. */
export class LabelledImages implements Dataset {
  readonly classes: readonly string[];
  readonly classToIdx: ReadonlyMap<string, number>;
  readonly samples: readonly Sample[];

  constructor(classes: readonly string[], samples: readonly Sample[]) {
    if (!Array.isArray(classes) || classes.length === 0 || classes.some((c) => typeof c !== 'string')) throw new RangeError('classes must be a non-empty array of names');
    if (new Set(classes).size !== classes.length) throw new RangeError(`class names must be distinct, got ${JSON.stringify(classes)}`);
    if (!Array.isArray(samples)) throw new TypeError('samples must be an array of { path, label }');
    for (const s of samples) {
      if (!Number.isInteger(s?.label) || s.label < 0 || s.label >= classes.length) throw new RangeError(`sample ${JSON.stringify(s?.path)}: label ${s?.label} is not a class index in [0, ${classes.length})`);
    }
    this.classes = [...classes];
    this.classToIdx = new Map(classes.map((c, i) => [c, i]));
    this.samples = samples;
  }

  /** Number of samples of each class: counts[label]. */
  classCounts(): number[] {
    const counts = new Array<number>(this.classes.length).fill(0);
    for (const s of this.samples) counts[s.label]!++;
    return counts;
  }

  /**
   * A seeded, stratified split: within each class, a permutation drawn from (seed, label) puts
   * round(n_c * valFraction) samples in val (at least 1 when the class has 2 or more and
   * valFraction > 0; never all of them). Both subsets keep the dataset's order.
   */
  split(valFraction: number, seed = 0): { train: Subset; val: Subset } {
    if (typeof valFraction !== 'number' || !(valFraction >= 0 && valFraction < 1)) {
      throw new RangeError(`valFraction must be in [0, 1), got ${valFraction}`);
    }
    if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`seed must be a non-negative integer, got ${seed}`);
    const byClass: number[][] = this.classes.map(() => []);
    this.samples.forEach((s, i) => byClass[s.label]!.push(i));
    const isVal = new Uint8Array(this.samples.length);
    byClass.forEach((idx, label) => {
      const n = idx.length;
      let k = Math.round(n * valFraction);
      if (valFraction > 0 && n >= 2) k = Math.min(Math.max(k, 1), n - 1);
      else k = Math.min(k, n - 1);
      const perm = permutation(n, new Generator(mixSeed(SeedDomain.split, seed, label)));
      for (let j = 0; j < k; j++) isVal[idx[perm[j]!]!] = 1;
    });
    const train: number[] = [];
    const val: number[] = [];
    isVal.forEach((v, i) => (v ? val : train).push(i));
    return { train: new Subset(this, train), val: new Subset(this, val) };
  }
}
