// A decode worker thread (piscina): one uploaded image -> its (3, crop, crop) input row, moved
// (not copied) back to the main thread, or the reason it cannot be used.

import { move } from 'piscina';
import { prepareImage, type PrepareTask, type Prepared } from './prepare.js';

export default async function decode(task: PrepareTask): Promise<Float32Array | Exclude<Prepared, { ok: true }>> {
  const r = await prepareImage(task);
  return r.ok ? (move(r.data) as Float32Array) : r;
}
