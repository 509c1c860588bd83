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
  /** Images started and not finished: at most `slots` (the threads; 4 on the main thread, as libuv's pool). */
  private active = 0;
  private readonly slots: number;
  /** Images waiting for a slot, oldest first; one whose request was aborted (deadline, client gone) never starts. */
  private readonly waiting: { start: () => void; signal?: AbortSignal }[] = [];

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
    this.slots = opts.threads > 0 ? opts.threads : 4;
  }

  /** Images waiting for a decode thread. */
  get depth(): number {
    return this.waiting.length;
  }

  get threads(): number {
    return this.opts.threads;
  }

  /**
   * Encoded bytes -> (3, crop, crop) float32. An image that cannot be used is an HttpError:
   * 400 (not an image, truncated: the decoder's one-line reason) or 413 (too many pixels).
   * `name` (a form field's file name) prefixes the reason.
   */
  async decode(bytes: Uint8Array, name?: string, signal?: AbortSignal): Promise<Float32Array> {
    await this.slot(signal);
    let r: Float32Array | Prepared;
    try {
      const task = { bytes, preset: this.opts.preset, maxPixels: this.opts.maxPixels };
      r = this.pool ? await this.pool.run(task) : await prepareImage(task);
    } finally {
      this.active--;
      this.next();
    }
    if (r instanceof Float32Array) return r;
    if (r.ok) return r.data;
    const message = name === undefined ? r.message : `${name}: ${r.message}`;
    throw r.status === 413 ? tooLarge(message) : badImage(message);
  }

  /** Wait for a free slot (piscina's own queue cannot drop a task whose request has gone). */
  private slot(signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    if (this.active < this.slots) {
      this.active++;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const w = {
        signal,
        start: () => {
          signal?.removeEventListener('abort', onAbort);
          this.active++;
          resolve();
        },
      };
      const onAbort = () => {
        this.waiting.splice(this.waiting.indexOf(w), 1);
        reject(signal!.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(w);
    });
  }

  private next(): void {
    if (this.active < this.slots) this.waiting.shift()?.start();
  }

  async close(): Promise<void> {
    await this.pool?.destroy();
  }
}

