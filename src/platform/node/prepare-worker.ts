// A preprocessing worker thread (piscina, pool.ts): one image (a path or encoded bytes) -> its
// (3, crop, crop) input row, decoded and transformed exactly as on the main thread (image.ts),
// moved (not copied) back; a user's bad image comes back as its file and problem, as data.

import { move } from 'piscina';
import { ImageError, preprocess, type PreprocessOptions } from './image.js';

export interface PrepareJob {
  readonly image: string | Uint8Array;
  readonly opts: PreprocessOptions;
}

export type PrepareAnswer = Float32Array | { readonly file: string; readonly problem: string };

export default async function prepare({ image, opts }: PrepareJob): Promise<PrepareAnswer> {
  try {
    return move(await preprocess(image, opts)) as Float32Array;
  } catch (e) {
    if (e instanceof ImageError) return { file: e.file, problem: e.problem };
    throw e;
  }
}
