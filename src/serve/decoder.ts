// Uploaded images -> input rows, on worker threads (piscina) or on the main thread (threads: 0).
// On the main thread sharp still decodes on libuv's threads; the Pillow-exact resize, which is
// JavaScript, then runs on the event loop. On 2 cores the workers pay (less CPU per image, more
// images/s at 64 clients: docs/serving.md), so the server's default is one per core.

import { Piscina } from 'piscina';
import type { PresetSpec } from '../data/transforms.js';
import { badImage, tooLarge } from './errors.js';
import { prepareImage, type Prepared } from './prepare.js';

export interface DecoderOptions {
  /** Worker threads; 0 decodes on the main thread. */
  readonly threads: number;
  readonly preset: PresetSpec;
  readonly maxPixels: number;
}

export class Decoder {
  private readonly pool: Piscina | undefined;

  constructor(private readonly opts: DecoderOptions) {
    if (!Number.isInteger(opts.threads) || opts.threads < 0) throw new RangeError(`decode threads must be an integer >= 0, got ${opts.threads}`);
    if (opts.threads > 0) {
      this.pool = new Piscina({
        filename: new URL('./decode-worker.js', import.meta.url).href,
        minThreads: opts.threads,
        maxThreads: opts.threads,
        idleTimeout: 2 ** 31 - 1, // keep them: starting one costs ~100 ms (sharp loads in each)
      });
    }
  }

  get threads(): number {
    return this.opts.threads;
  }

  /**
   * Encoded bytes -> (3, crop, crop) float32. An image that cannot be used is an HttpError:
   * 400 (not an image, truncated: the decoder's one-line reason) or 413 (too many pixels).
   * `name` (a form field's file name) prefixes the reason.
   */
  async decode(bytes: Uint8Array, name?: string): Promise<Float32Array> {
    const task = { bytes, preset: this.opts.preset, maxPixels: this.opts.maxPixels };
    const r: Float32Array | Prepared = this.pool ? await this.pool.run(task) : await prepareImage(task);
    if (r instanceof Float32Array) return r;
    if (r.ok) return r.data;
    const message = name === undefined ? r.message : `${name}: ${r.message}`;
    throw r.status === 413 ? tooLarge(message) : badImage(message);
  }

  async close(): Promise<void> {
    await this.pool?.destroy();
  }
}

