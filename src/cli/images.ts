// What predict and embed share: images in batches, the next batch decoded while the network runs
// on this one, each unreadable image one line on stderr, and the exit code the contract gives.

import { readFile, stat } from 'node:fs/promises';
import cliProgress from 'cli-progress';
import { imagesUnder, IMAGE_EXTENSIONS } from '../platform/node/folder.js';
import { loadBatch, type BatchResult } from '../platform/node/image.js';
import type { PresetName, PresetSpec } from '../data/transforms.js';
import { badInput, EXIT, usage } from './errors.js';
import { abortSignal } from './signals.js';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * The images the command line names: files as given, folders expanded (recursively, the image
 * extensions, sorted as torchvision walks them), and the lines of --files-from (a file, or - for
 * stdin; blank lines skipped), in that order.
 */
export async function imageList(args: readonly string[], filesFrom?: string): Promise<string[]> {
  const out: string[] = [];
  for (const a of args) {
    let isDir = false;
    try {
      isDir = (await stat(a)).isDirectory();
    } catch {
      // not there: the decoder names it as "no such file", with the others still answered
    }
    if (!isDir) {
      out.push(a);
      continue;
    }
    const found = imagesUnder(a);
    if (found.length === 0) throw badInput(`${a}: a folder with no images (${IMAGE_EXTENSIONS.join(' ')})`);
    out.push(...found);
  }
  if (filesFrom !== undefined) {
    let text: string;
    try {
      text = filesFrom === '-' ? await readStdin() : await readFile(filesFrom, 'utf8');
    } catch (e) {
      throw badInput(`${filesFrom}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
    }
    out.push(...text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length > 0));
  }
  if (out.length === 0) throw usage(filesFrom !== undefined ? `${filesFrom === '-' ? 'stdin' : filesFrom}: no image paths in it` : 'no images: give image files, folders or --files-from <list|->');
  return out;
}

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
      abortSignal.throwIfAborted(); // Ctrl-C: the answers so far are out, whole

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
