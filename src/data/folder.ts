// A labelled dataset laid out as torchvision's ImageFolder expects: root/<class>/**/<image>.
// Class indices are torchvision's (sorted folder names), so a model trained here and one trained
// with torchvision on the same folder agree on what output k means.

import { readdirSync, realpathSync, statSync, type Dirent } from 'node:fs';
import { join } from 'node:path';
import { Generator } from '../nn/init.js';
import { mixSeed, permutation, SeedDomain } from './augment.js';

export interface Sample {
  readonly path: string;
  readonly label: number;
}

/** What a DataLoader reads: a list of (path, label) and the class names. */
export interface Dataset {
  readonly samples: readonly Sample[];
  readonly classes: readonly string[];
}

export const DEFAULT_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp'] as const;

export interface ImageFolderOptions {
  /** Accepted file endings, compared case-insensitively; default .jpg .jpeg .png .webp. */
  readonly extensions?: readonly string[];
}

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

/** A directory entry that is, or links to, a directory (Python's DirEntry.is_dir()). */
function isDir(dir: string, e: Dirent): boolean {
  if (e.isDirectory()) return true;
  if (!e.isSymbolicLink()) return false;
  try {
    return statSync(join(dir, e.name)).isDirectory();
  } catch {
    return false;
  }
}

function listDir(dir: string): Dirent[] {
  return readdirSync(dir, { withFileTypes: true });
}

/**
 * The images under a class folder in torchvision's order: `sorted(os.walk(dir, followlinks=True))`
 * (directories by full path, in string order), then the file names sorted within each directory.
 */
function walkImages(classDir: string, accept: (name: string) => boolean): string[] {
  const dirs: string[] = [];
  const seen = new Set<string>();
  const visit = (d: string): void => {
    let real: string;
    try {
      real = realpathSync(d); // a link back up the tree is walked once, not forever
    } catch {
      return;
    }
    if (seen.has(real)) return;
    seen.add(real);
    dirs.push(d);
    let entries: Dirent[];
    try {
      entries = listDir(d);
    } catch {
      return; // os.walk ignores unreadable subdirectories
    }
    for (const e of entries) if (isDir(d, e)) visit(join(d, e.name));
  };
  visit(classDir);
  dirs.sort(compareCodePoints);
  const files: string[] = [];
  for (const d of dirs) {
    let entries: Dirent[];
    try {
      entries = listDir(d);
    } catch {
      continue;
    }
    const names = entries.filter((e) => !isDir(d, e) && accept(e.name)).map((e) => e.name);
    names.sort(compareCodePoints);
    for (const n of names) files.push(join(d, n));
  }
  return files;
}

function normalizeExtensions(exts: readonly string[]): string[] {
  if (!Array.isArray(exts) || exts.length === 0) throw new RangeError(`extensions must be a non-empty array, got ${JSON.stringify(exts)}`);
  return exts.map((e) => {
    if (typeof e !== 'string' || e.length === 0) throw new RangeError(`extensions must be non-empty strings, got ${JSON.stringify(e)}`);
    return (e.startsWith('.') ? e : `.${e}`).toLowerCase();
  });
}

/** A subset of a dataset (a split): same classes, some of the samples. */
export class Subset implements Dataset {
  readonly samples: readonly Sample[];
  readonly classes: readonly string[];
  readonly classToIdx: ReadonlyMap<string, number>;

  constructor(
    readonly parent: Dataset & { readonly classToIdx: ReadonlyMap<string, number> },
    /** Indices into parent.samples, ascending. */
    readonly indices: readonly number[],
  ) {
    this.samples = indices.map((i) => parent.samples[i]!);
    this.classes = parent.classes;
    this.classToIdx = parent.classToIdx;
  }
}

/**
 * torchvision's `datasets.ImageFolder(root)`: every subfolder of root is a class (sorted by
 * name, index = position), every image below it (recursively) a sample of that class.
 */
export class ImageFolder implements Dataset {
  readonly root: string;
  readonly classes: readonly string[];
  readonly classToIdx: ReadonlyMap<string, number>;
  readonly samples: readonly Sample[];
  readonly extensions: readonly string[];

  constructor(root: string, opts: ImageFolderOptions = {}) {
    if (typeof root !== 'string' || root.length === 0) throw new TypeError(`root must be a directory path, got ${JSON.stringify(root)}`);
    this.root = root;
    this.extensions = normalizeExtensions(opts.extensions ?? DEFAULT_EXTENSIONS);
    let entries: Dirent[];
    try {
      if (!statSync(root).isDirectory()) throw new Error(`${root}: not a directory`);
      entries = listDir(root);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw new Error(`${root}: no such directory`);
      if (code === 'EACCES') throw new Error(`${root}: permission denied`);
      throw e instanceof Error && e.message.startsWith(root) ? e : new Error(`${root}: cannot read directory (${(e as Error).message})`);
    }
    const classes = entries.filter((e) => isDir(root, e)).map((e) => e.name);
    classes.sort(compareCodePoints);
    if (classes.length === 0) throw new Error(`${root}: no class folders (expected ${root}/<class>/<image>)`);
    const exts = this.extensions;
    const accept = (name: string): boolean => {
      const lower = name.toLowerCase();
      return exts.some((x) => lower.endsWith(x));
    };
    const samples: Sample[] = [];
    classes.forEach((c, label) => {
      const dir = join(root, c);
      const files = walkImages(dir, accept);
      if (files.length === 0) throw new Error(`${dir}: class folder "${c}" holds no images (${exts.join(', ')})`);
      for (const path of files) samples.push({ path, label });
    });
    this.classes = classes;
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
