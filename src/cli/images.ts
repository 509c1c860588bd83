// What predict and embed share: images in batches, the next batch decoded while the network runs
// on this one, each unreadable image one line on stderr, and the exit code the contract gives.

import cliProgress from 'cli-progress';
import { loadBatch, type BatchResult } from '../platform/node/image.js';
import type { PresetName, PresetSpec } from '../data/transforms.js';
import { EXIT } from './errors.js';

/**
 * Calls `onBatch` for each batch that has readable images, with the files of its tensor's rows.
 * Returns how many images could not be read; sets the exit code (3: none read, 5: some).
 */
export async function forEachImageBatch(
  images: readonly string[],
  batchSize: number,
  preset: PresetName | PresetSpec,
  onBatch: (batch: BatchResult, files: string[]) => Promise<void>,
  progressLabel: string,
): Promise<number> {
  const batches: string[][] = [];
  for (let i = 0; i < images.length; i += batchSize) batches.push(images.slice(i, i + batchSize));
  const bar =
    process.stderr.isTTY && images.length > batchSize
      ? new cliProgress.SingleBar({ format: `${progressLabel} [{bar}] {value}/{total} images | {rate} img/s | ETA {eta}s`, hideCursor: true }, cliProgress.Presets.shades_classic)
      : undefined;
  bar?.start(images.length, 0, { rate: '0' });
  const t0 = performance.now();
  let failed = 0;
  let done = 0;
  let next: Promise<BatchResult> | undefined = loadBatch(batches[0]!, preset);
  try {
    for (let b = 0; b < batches.length; b++) {
      const batch = await next!;
      next = b + 1 < batches.length ? loadBatch(batches[b + 1]!, preset) : undefined; // decode ahead
      for (const e of batch.errors) {
        failed++;
        bar?.stop();
        process.stderr.write(`mobilenetv2: ${e.message}\n`);
      }
      if (batch.ok.length > 0) await onBatch(batch, batch.ok.map((j) => batches[b]![j]!));
      done += batches[b]!.length;
      bar?.update(done, { rate: (done / ((performance.now() - t0) / 1000)).toFixed(1) });
    }
  } finally {
    bar?.stop();
    await next?.catch(() => undefined);
  }
  if (failed === images.length) {
    // each failure has had its own line; one image needs no summary line
    if (failed > 1) process.stderr.write(`mobilenetv2: none of the ${failed} images could be read\n`);
    process.exitCode = EXIT.INPUT;
  } else if (failed > 0) {
    process.stderr.write(`mobilenetv2: ${failed} of ${images.length} images could not be read\n`);
    process.exitCode = EXIT.PARTIAL;
  }
  return failed;
}
