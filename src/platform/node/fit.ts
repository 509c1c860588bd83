// fit() in Node: folders of images (torchvision's ImageFolder layout) decoded by sharp, the run's
// files in a folder, a progress bar on stderr; the loop itself is train/fit.ts.

import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import cliProgress from 'cli-progress';
import type { Dataset } from '../../data/dataset.js';
import type { SampleDecoder } from '../../data/loader.js';
import type { PresetName, PresetSpec } from '../../data/transforms.js';
import type { Backend } from '../../infer/backend.js';
import type { MobileNetV2 } from '../../models/mobilenetv2.js';
import { fitLoop, InterruptedError, type FitLoopOptions, type FitResult as LoopResult } from '../../train/fit.js';
import { FileError, FolderStore } from './files.js';
import { ImageFolder } from './folder.js';
import { decodeRgb, type ImageInput } from './image.js';
import { drawConfusionMatrix, drawCurves } from './plot.js';

/** The loop's options (train/fit.ts) with folders for the data and the run, and weights by name. */
export interface FitOptions
  extends Omit<FitLoopOptions, 'train' | 'val' | 'decode' | 'concurrency' | 'from' | 'preset' | 'store' | 'figures' | 'dataName' | 'config' | 'onProgress' | 'onEpoch'> {
  /** Training images: <data>/<class>/*.jpg|png|webp (torchvision's ImageFolder). */
  data: string;
  /** A validation folder with the same class subfolders. */
  val?: string;
  /** Or this fraction of `data` held out for validation (seeded, per class). */
  valSplit?: number;
  /** Registry name or file; the head is replaced when the class count differs. */
  weights?: string;
  /** The run folder: checkpoint, model.safetensors, metrics.jsonl, curves.png, confusion.png. */
  out: string;
  /** Start over in an --out that already holds a run (its run files are replaced). Default: refuse. */
  overwrite?: boolean;
  /** Show a progress bar (default: when stderr is a terminal). */
  progress?: boolean;
  /** Where log lines go (default stderr). */
  log?: (line: string) => void;
}

/** The files a run writes into its folder. */
export const RUN_FILES = ['checkpoint.safetensors', 'model.safetensors', 'metrics.jsonl', 'train.log', 'classes.json', 'curves.png', 'confusion.png'] as const;

export interface FitResult extends LoopResult {
  outDir: string;
}

/** Node's decoder for a DataLoader: a sample's in-memory image if it has one, else its file. */
export const decodeSample: SampleDecoder = (s) => decodeRgb((s.image as ImageInput | undefined) ?? s.path);

/** Images decoded at once in Node: sharp decodes on libuv's threads. */
export const DECODE_CONCURRENCY = Math.min(8, 2 * availableParallelism());

export async function fit(o: FitOptions, backend: Backend, loadModel?: (w: string) => Promise<{ model: MobileNetV2; source: string; preset?: PresetName | PresetSpec }>): Promise<FitResult> {
  const all = new ImageFolder(o.data);
  let train: Dataset = all;
  let val: Dataset | undefined;
  if (o.val) {
    val = new ImageFolder(o.val);
    if (val.classes.join('\n') !== all.classes.join('\n')) throw new FileError(`${o.val}: its class folders (${val.classes.join(', ')}) differ from ${o.data}'s (${all.classes.join(', ')})`);
  } else if (o.valSplit) {
    const s = all.split(o.valSplit, o.seed);
    train = s.train;
    val = s.val;
  }
  let from: { model: MobileNetV2; source: string; preset?: PresetName | PresetSpec } | undefined;
  if (o.weights) {
    if (!loadModel) throw new Error('fit: weights given but no way to load them');
    from = await loadModel(o.weights);
  }
  const write = o.log ?? ((l: string) => process.stderr.write(l + '\n'));
  // what is almost surely a mistake: said, not refused
  if (all.classes.length === 1) write(`warning: ${o.data} has one class folder (${all.classes[0]}): there is nothing to tell apart`);
  if (o.freeze && !o.weights) write(`warning: --freeze ${o.freeze} without --weights: ${o.freeze === 'backbone' ? 'the head learns on a random, frozen backbone' : 'the frozen layers keep their random init'}`);
  // a run folder holds one run: another one is refused unless resumed or overwritten
  const held = RUN_FILES.filter((f) => existsSync(join(o.out, f)));
  if (o.resume && o.overwrite) throw new FileError(`${o.out}: give either resume or overwrite, not both`);
  if (!o.resume && held.length && !o.overwrite) throw new FileError(`${o.out}: already holds a training run (${held.join(', ')}): pass --resume to continue it, or --overwrite to start over`);
  const created = !existsSync(o.out);
  if (o.overwrite) for (const f of held) await rm(join(o.out, f), { force: true });
  await mkdir(o.out, { recursive: true });

  const bar =
    (o.progress ?? process.stderr.isTTY)
      ? new cliProgress.SingleBar(
          { format: 'epoch {epoch} [{bar}] {value}/{total} | loss {loss} | acc {acc} | {rate} img/s | ETA {eta_formatted}', hideCursor: true, etaBuffer: 20 },
          cliProgress.Presets.shades_classic,
        )
      : undefined;
  let barEpoch = 0;
  const log = (line: string): void => {
    if (barEpoch) bar?.stop(); // a log line goes above the bar, which restarts at the next step
    barEpoch = 0;
    write(line);
  };
  try {
    const r = await fitLoop(
      {
        ...o,
        train,
        val,
        from,
        preset: from?.preset,
        decode: decodeSample,
        concurrency: DECODE_CONCURRENCY,
        store: new FolderStore(o.out),
        log,
        figures: { curves: drawCurves, confusion: drawConfusionMatrix },
        dataName: o.data,
        config: { ...o, log: undefined, progress: undefined, signal: undefined },
        onProgress: (p) => {
          if (!bar) return;
          const payload = { epoch: p.epoch, loss: p.loss.toFixed(4), acc: `${(100 * p.accuracy).toFixed(1)}%`, rate: p.imagesPerSecond.toFixed(1) };
          if (barEpoch !== p.epoch) {
            bar.start(p.batches, p.batch, payload);
            barEpoch = p.epoch;
          } else bar.update(p.batch, payload);
        },
      },
      backend,
    );
    return { ...r, outDir: o.out };
  } catch (e) {
    // a run that failed before its first checkpoint leaves no run folder behind
    if (created && !existsSync(join(o.out, 'checkpoint.safetensors'))) await rm(o.out, { recursive: true, force: true });
    if (o.signal?.aborted && !(e instanceof InterruptedError)) throw new InterruptedError(`stopped before the first checkpoint`);
    throw e;
  } finally {
    bar?.stop();
  }
}
