// Batches for training and evaluation. Images are decoded by the platform's decoder (sharp on
// libuv's threads in Node, the browser's in a page), several at a time and a few batches ahead of the consumer, so a training step that takes longer than
// decoding a batch never waits for data. An image that cannot be read is left out of its batch
// and reported; it never stops the run.
//
// Everything random is a pure function of the seed: epoch e's order depends on (seed, e) only and
// sample i's augmentation on (seed, e, i) only (augment.ts), so `epoch(e, { startBatch: k })`
// yields exactly the batches k, k+1, ... that `epoch(e)` yields.

import { float32, type Tensor } from '../tensor.js';
import { evalTransform, type ImageTransform } from './augment.js';
import { Generator, mixSeed, permutation, sampleGenerator, SeedDomain } from '../random.js';
import type { Dataset, Sample } from './dataset.js';
import { ImageError } from './image.js';
import type { RgbImage } from './transforms.js';

/** A sample's image, decoded to 8-bit RGB; an unreadable one throws ImageError. */
export type SampleDecoder = (sample: Sample) => Promise<RgbImage>;

export interface DataLoaderOptions {
  readonly batchSize: number;
  /** How a sample's image is read: the platform's decoder (Node's decodes `sample.path` with sharp). */
  readonly decode: SampleDecoder;
  /** Draw a new order every epoch from (seed, epoch); default false (dataset order). */
  readonly shuffle?: boolean;
  /** Seeds the order and the augmentation; default 0. */
  readonly seed?: number;
  /** Decoded image -> (3, S, S); default evalTransform({ size: 224 }). */
  readonly transform?: ImageTransform;
  /** Leave out the last batch when it would be smaller than batchSize; default false. */
  readonly dropLast?: boolean;
  /** Images decoded at once; default 4. */
  readonly concurrency?: number;
  /** Batches prepared ahead while the consumer holds one; default 2. */
  readonly prefetch?: number;
}

export interface SkippedImage {
  readonly path: string;
  readonly index: number;
  readonly message: string;
}

export interface Batch {
  readonly epoch: number;
  /** Position of this batch in the epoch, 0-based. */
  readonly batch: number;
  /** (B, 3, S, S) float32; B = batch size minus the skipped images. */
  readonly x: Tensor;
  /** (B,) class indices. */
  readonly y: Int32Array;
  /** (B,) dataset indices and paths of the rows of x. */
  readonly indices: readonly number[];
  readonly paths: readonly string[];
  /** Images of this batch that could not be read, left out of x. */
  readonly skipped: readonly SkippedImage[];
}

export interface EpochOptions {
  /** First batch to yield (resuming mid-epoch); default 0. */
  readonly startBatch?: number;
}

function positiveInt(name: string, v: number): void {
  if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer, got ${v}`);
}

function nonNegativeInt(name: string, v: number): void {
  if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`${name} must be a non-negative integer, got ${v}`);
}

/** A FIFO counting semaphore: at most `limit` tasks run at once, started in call order. */
class Limiter {
  private active = 0;
  private readonly queue: (() => void)[] = [];
  constructor(private readonly limit: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((go) => this.queue.push(go));
    else this.active++;
    try {
      return await task();
    } finally {
      const next = this.queue.shift();
      if (next) next(); // the slot passes straight to the next task
      else this.active--;
    }
  }
}

export class DataLoader {
  readonly dataset: Dataset;
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly seed: number;
  readonly transform: ImageTransform;
  readonly dropLast: boolean;
  readonly concurrency: number;
  readonly prefetch: number;
  private readonly decode: SampleDecoder;
  /** Images skipped so far, over all epochs (an image skipped in two epochs counts twice). */
  skippedCount = 0;
  private readonly limiter: Limiter;

  constructor(dataset: Dataset, opts: DataLoaderOptions) {
    if (typeof dataset !== 'object' || dataset === null || !Array.isArray(dataset.samples)) {
      throw new TypeError('dataset must have a samples array of { path, label }');
    }
    if (typeof opts !== 'object' || opts === null) throw new TypeError('DataLoader options must be an object');
    positiveInt('batchSize', opts.batchSize);
    if (typeof opts.decode !== 'function') throw new TypeError('DataLoader options need decode: (sample) => Promise<RgbImage>');
    this.decode = opts.decode;
    this.dataset = dataset;
    this.batchSize = opts.batchSize;
    this.shuffle = opts.shuffle ?? false;
    this.seed = opts.seed ?? 0;
    nonNegativeInt('seed', this.seed);
    this.transform = opts.transform ?? evalTransform({ size: 224 });
    this.dropLast = opts.dropLast ?? false;
    this.concurrency = opts.concurrency ?? 4;
    positiveInt('concurrency', this.concurrency);
    this.prefetch = opts.prefetch ?? 2;
    nonNegativeInt('prefetch', this.prefetch);
    this.limiter = new Limiter(this.concurrency);
  }

  get length(): number {
    return this.dataset.samples.length;
  }

  /** Batches in epoch e (the same for every epoch; skipped images shrink batches, not their number). */
  numBatches(_epoch = 0): number {
    const n = this.length;
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  /** The dataset indices of epoch e in the order they are served: a permutation from (seed, e) when shuffling. */
  order(epoch: number): number[] {
    nonNegativeInt('epoch', epoch);
    if (!this.shuffle) return Array.from({ length: this.length }, (_, i) => i);
    return permutation(this.length, new Generator(mixSeed(SeedDomain.shuffle, this.seed, epoch)));
  }

  /**
   * Yields epoch e's batches from `startBatch` on, in order, decoding up to `prefetch` batches
   * ahead. Breaking out of the loop early is fine: work in flight finishes and is dropped.
   */
  epoch(epoch: number, opts: EpochOptions = {}): AsyncGenerator<Batch, void, undefined> {
    // Validated here, not in the generator, so a bad call throws at once rather than on next().
    nonNegativeInt('epoch', epoch);
    const start = opts.startBatch ?? 0;
    nonNegativeInt('startBatch', start);
    const count = this.numBatches(epoch);
    if (start > count) throw new RangeError(`startBatch ${start} is past the end of epoch ${epoch} (${count} batches)`);
    return this.batches(epoch, start, count);
  }

  private async *batches(epoch: number, start: number, count: number): AsyncGenerator<Batch, void, undefined> {
    const order = this.order(epoch);
    const pending: Promise<Batch>[] = [];
    let next = start;
    const launch = (): void => {
      const p = this.loadBatch(epoch, next, order.slice(next * this.batchSize, (next + 1) * this.batchSize));
      p.catch(() => {}); // rethrown where it is awaited; no unhandled rejection meanwhile
      pending.push(p);
      next++;
    };
    for (let b = start; b < count; b++) {
      // The batch awaited now plus `prefetch` more in flight while the consumer holds it.
      while (next < count && pending.length < this.prefetch + 1) launch();
      const batch = await pending.shift()!;
      this.skippedCount += batch.skipped.length;
      yield batch;
    }
  }

  /** Decodes and transforms the samples `indices` into one batch: (B, 3, S, S), B <= indices.length. */
  private async loadBatch(epoch: number, batch: number, indices: readonly number[]): Promise<Batch> {
    const S = this.transform.size;
    const plane = 3 * S * S;
    const data = new Float32Array(indices.length * plane); // (n, 3, S, S), compacted below
    const errors: (SkippedImage | undefined)[] = new Array(indices.length);
    await Promise.all(
      indices.map(async (index, slot) => {
        const sample = this.dataset.samples[index]!;
        const { path } = sample;
        let img: RgbImage;
        try {
          img = await this.limiter.run(() => this.decode(sample)); // (H, W, 3) uint8
        } catch (e) {
          if (!(e instanceof ImageError)) throw e;
          errors[slot] = { path, index, message: e.message };
          return;
        }
        const gen = this.transform.random ? sampleGenerator(this.seed, epoch, index) : NO_RANDOMNESS;
        this.transform.apply(img, gen, data, slot * plane); // (3, S, S)
      }),
    );
    const kept: number[] = [];
    const skipped: SkippedImage[] = [];
    indices.forEach((index, slot) => {
      const err = errors[slot];
      if (err) skipped.push(err);
      else {
        if (kept.length !== slot) data.copyWithin(kept.length * plane, slot * plane, (slot + 1) * plane);
        kept.push(index);
      }
    });
    const samples = this.dataset.samples;
    return {
      epoch,
      batch,
      x: float32([kept.length, 3, S, S], kept.length === indices.length ? data : data.slice(0, kept.length * plane)),
      y: Int32Array.from(kept, (i) => samples[i]!.label),
      indices: kept,
      paths: kept.map((i) => samples[i]!.path),
      skipped,
    };
  }
}

const NO_RANDOMNESS = new Generator(0);
