// Decoding and preprocessing on worker threads, so that a list's next images are made while ONNX
// Runtime runs the network on this one. onnxruntime-node's run() holds the main thread until the
// network is done; decoding on the main thread (sharp on libuv's threads, then the resize in
// WebAssembly) can only take a step between runs. A worker's event loop is not held: its images go
// on being decoded and resized while the main thread waits on ORT. `npm run bench:e2e` measures
// what it pays on this machine (docs/preprocessing.md).

import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import { ImageError } from '../../data/image.js';
import type { PrepareAnswer, PrepareJob } from './prepare-worker.js';

let pool: Piscina | undefined;

/**
 * Worker threads used by default: one per core but one (on 2 cores, one worker beside the ORT
 * threads). MOBILENETV2_PREPARE_THREADS overrides it; 0 keeps all preprocessing on the main thread.
 */
export function prepareThreads(env: NodeJS.ProcessEnv = process.env): number {
  const v = env['MOBILENETV2_PREPARE_THREADS'];
  if (v !== undefined && v !== '') {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`MOBILENETV2_PREPARE_THREADS must be an integer >= 0, got "${v}"`);
    return n;
  }
  return Math.max(1, availableParallelism() - 1);
}

function thePool(threads: number): Piscina {
  pool ??= new Piscina({
    filename: new URL('./prepare-worker.js', import.meta.url).href,
    minThreads: 0,
    maxThreads: threads,
    // each worker keeps a few images going: one is resized while the next is decoded by libuv
    concurrentTasksPerWorker: 3,
    idleTimeout: 5_000,
  });
  return pool;
}

/** One image on a worker thread -> (3, crop, crop) float32; a user's bad image throws its ImageError. */
export async function prepareOnWorker(job: PrepareJob, threads = prepareThreads()): Promise<Float32Array> {
  const r = (await thePool(threads).run(job)) as PrepareAnswer;
  if (r instanceof Float32Array) return r;
  throw new ImageError(r.file, r.problem);
}

/** Ends the worker threads (they also end by themselves after 5 s idle). */
export async function closePrepareWorkers(): Promise<void> {
  const p = pool;
  pool = undefined;
  await p?.destroy();
}
