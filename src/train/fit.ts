// The training loop: labelled images in, a trained model, checkpoints, metrics and pictures out.
// Platform-free: the caller gives the datasets and how to decode a sample, where the run's files
// go (a RunStore: a folder in Node, memory in a page), a logger and a progress callback.
// Deterministic on CPU for a seed: the data order and augmentation depend only on (seed, epoch,
// sample), dropout only on (seed, step), the schedule only on the step; so a run resumed from a
// checkpoint ends with the same weights as one that was never interrupted.

import type { Dataset } from '../data/dataset.js';
import { DataLoader, type SampleDecoder } from '../data/loader.js';
import { trainTransform } from '../data/augment.js';
import { dropoutGenerator } from '../random.js';
import { configFromStateDict } from '../models/config.js';
import { MobileNetV2, type LastChannelRule } from '../models/mobilenetv2.js';
import type { Backend, Device } from '../infer/backend.js';
import type { CurvePoint } from '../plot/plot.js';
import { resolvePreset, withInputSize, type PresetName, type PresetSpec } from '../data/transforms.js';
import { cardMetadata } from '../models/card.js';
import { writeSafetensors } from '../weights/safetensors.js';
import { CHECKPOINT_VERSION, decodeTrainingCheckpoint, encodeTrainingCheckpoint, type CheckpointState } from './checkpoint.js';
import { evaluate } from './evaluate.js';
import type { OptimizerName, OptimizerSpec } from './optim.js';
import { learningRate, type ScheduleName } from './schedule.js';
import { Trainer } from './step.js';
import { topk } from '../infer/predictor.js';

/** Where a run keeps its files: a folder in Node, memory in a page. Writes are whole (atomic). */
export interface RunStore {
  /** How `file` is named in messages (a path in Node). */
  path(file: string): string;
  read(file: string): Promise<Uint8Array | undefined>;
  write(file: string, bytes: Uint8Array | string): Promise<void>;
  append(file: string, text: string): Promise<void>;
}

/** A RunStore in memory (the browser's, and tests'): `files` holds what the run wrote. */
export class MemoryStore implements RunStore {
  readonly files = new Map<string, Uint8Array>();
  path(file: string): string {
    return file;
  }
  async read(file: string): Promise<Uint8Array | undefined> {
    return this.files.get(file);
  }
  async write(file: string, bytes: Uint8Array | string): Promise<void> {
    this.files.set(file, typeof bytes === 'string' ? new TextEncoder().encode(bytes) : bytes.slice());
  }
  async append(file: string, text: string): Promise<void> {
    const old = this.files.get(file) ?? new Uint8Array(0);
    const add = new TextEncoder().encode(text);
    const both = new Uint8Array(old.length + add.length);
    both.set(old);
    both.set(add, old.length);
    this.files.set(file, both);
  }
}

/** Where a step is: for progress bars and live curves. */
export interface FitProgress {
  epoch: number;
  epochs: number;
  /** Batches done in this epoch, of `batches`. */
  batch: number;
  batches: number;
  step: number;
  /** Running mean loss and accuracy of this epoch so far. */
  loss: number;
  accuracy: number;
  /** Loss of the last batch. */
  batchLoss: number;
  imagesPerSecond: number;
}

/** PNG renderings of the figures; a platform without them (a page that draws its own) leaves this out. */
export interface Figures {
  curves(points: CurvePoint[], opts: { title: string }): Promise<Uint8Array>;
  confusion(matrix: number[][], classes: string[], opts: { title: string }): Promise<Uint8Array>;
}

export interface FitLoopOptions {
  train: Dataset;
  val?: Dataset;
  /** How a sample's image is read (the platform's decoder). */
  decode: SampleDecoder;
  /** Images decoded at once (default 4). */
  concurrency?: number;
  epochs: number;
  batchSize: number;
  lr: number;
  optimizer: OptimizerName;
  momentum?: number;
  schedule: ScheduleName;
  warmupEpochs?: number;
  labelSmoothing?: number;
  weightDecay?: number;
  /** The model to start from (weights loaded by the caller); its head is replaced when the class count differs. */
  from?: { model: MobileNetV2; source: string };
  /**
   * The preprocessing the model expects (the checkpoint's, e.g. [-1, 1] for TF-family weights):
   * its normalization and interpolation are the training augmentation's, and it is recorded, at
   * the input size, in the weights written. Default torchvision-v1 (ImageNet mean/std).
   */
  preset?: PresetName | PresetSpec;
  /**
   * What stays as loaded: 'backbone' (every feature layer: only the classifier trains) or
   * 'features.0-K' (the stem and blocks up to K: their weights and BN statistics are constants of
   * the step, so no gradient is computed there). Default: nothing.
   */
  freeze?: Freeze;
  alpha?: number;
  inputSize: number;
  lastChannel?: LastChannelRule;
  /** RandomResizedCrop's smallest area fraction (torchvision: 0.08). */
  minScale?: number;
  store: RunStore;
  resume?: boolean;
  device?: Device;
  threads?: number;
  /**
   * Recompute in the backward the activations that are cheap to make again (ReLU6 outputs, stem and
   * expansion convs) instead of keeping them from the forward: same gradients bit for bit, about
   * 18% less peak memory (1.8 -> 1.5 GB at batch 32, 224x224), a step x0.99-1.23 (docs/training.md).
   * Default false.
   */
  saveMemory?: boolean;
  seed: number;
  /** Checkpoint every this many steps too (besides every epoch); 0 = only at epoch ends. */
  checkpointEvery?: number;
  /** Log lines (default: none). */
  log?: (line: string) => void;
  /** Called after every step. */
  onProgress?: (p: FitProgress) => void;
  /** Called when an epoch ends, with its metrics row. */
  onEpoch?: (row: Record<string, number>) => void;
  /** curves.png and confusion.png in the store each epoch, when given. */
  figures?: Figures;
  /** A description of the data for titles and logs. */
  dataName?: string;
  /** Recorded in the checkpoint (the run's configuration). */
  config?: Record<string, unknown>;
  /** Stop after the step in flight: a checkpoint is written (resume continues exactly), then InterruptedError. */
  signal?: AbortSignal;
}

export interface FitResult {
  history: Record<string, number>[];
  classes: string[];
  bestValAcc?: number;
  model: MobileNetV2;
}

/** The run was asked to stop (FitLoopOptions.signal): it checkpointed where it was. */
export class InterruptedError extends Error {
  readonly code = 'E_INTERRUPTED';
}

/** A NaN or infinite loss: the run stopped; the last good checkpoint is kept. */
export class DivergedError extends Error {
  readonly code = 'E_DIVERGED';
}

const CHECKPOINT = 'checkpoint.safetensors';

export type Freeze = 'backbone' | `features.0-${number}`;

/** The feature layers `freeze` keeps frozen (indices into model.features), or a RangeError naming the value. */
export function frozenLayers(freeze: string | undefined, layers: number): number[] {
  if (freeze === undefined) return [];
  if (freeze === 'backbone') return Array.from({ length: layers }, (_, i) => i);
  const m = /^features\.0-(\d+)$/.exec(freeze);
  const k = m ? Number(m[1]) : NaN;
  if (!(k >= 0 && k < layers)) throw new RangeError(`freeze must be 'backbone' or 'features.0-K' with K in 0..${layers - 1}, got ${JSON.stringify(freeze)}`);
  return Array.from({ length: k + 1 }, (_, i) => i);
}

export async function fitLoop(o: FitLoopOptions, backend: Backend): Promise<FitResult> {
  const store = o.store;
  const ckptPath = store.path(CHECKPOINT);
  const note = async (line: string) => {
    o.log?.(line);
    await store.append('train.log', line + '\n');
  };
  const { train, val } = o;
  const classes = [...train.classes];
  const numClasses = classes.length;

  // model
  let resumed: ReturnType<typeof decodeTrainingCheckpoint> | undefined;
  if (o.resume) {
    const bytes = await store.read(CHECKPOINT);
    if (!bytes) throw Object.assign(new Error(`${ckptPath}: no checkpoint to resume from`), { code: 'E_FILE' });
    resumed = decodeTrainingCheckpoint(bytes, ckptPath);
  }
  // the architecture: from the weights' loader (keeps TF padding, BN eps...) with a new head when the
  // class count differs; else from the flags, or read off a checkpoint being resumed
  let model: MobileNetV2;
  if (o.from) {
    model = o.from.model;
    if (model.numClasses !== numClasses) {
      const had = model.numClasses;
      model.resetClassifier(numClasses, o.seed);
      if (!resumed) await note(`${o.from.source}: backbone loaded; new ${numClasses}-class head (the checkpoint has ${had} classes)`);
    } else if (!resumed) await note(`${o.from.source}: loaded`);
  } else if (resumed) {
    model = new MobileNetV2({ ...configFromStateDict(resumed.model, { alpha: o.alpha, lastChannel: o.lastChannel }), numClasses });
  } else {
    model = new MobileNetV2({ alpha: o.alpha ?? 1.0, numClasses, lastChannel: o.lastChannel ?? 'seed', seed: o.seed });
  }
  if (resumed) {
    model.loadStateDict(resumed.model);
    await note(`resuming from ${ckptPath}: epoch ${resumed.state.epoch + 1}, batch ${resumed.state.batch}, step ${resumed.state.step}`);
  }
  const frozen = frozenLayers(o.freeze, model.features.children.size).map((i) => model.features.children.get(String(i))!);
  const trainMode = (): void => {
    model.train();
    for (const m of frozen) m.eval(); // frozen BN keeps its running statistics
  };
  for (const m of frozen) for (const [, p] of m.namedParameters()) p.requiresGrad = false;
  trainMode();

  const spec: OptimizerSpec = {
    name: o.optimizer,
    weightDecay: o.weightDecay ?? 0,
    momentum: o.optimizer === 'adamw' ? undefined : (o.momentum ?? 0.9),
    ...(o.optimizer === 'rmsprop' ? { tf: true, alpha: 0.9, eps: 1.0 } : {}),
  };
  const trainer = new Trainer(model, backend, { optimizer: spec, numClasses, inputSize: o.inputSize, labelSmoothing: o.labelSmoothing, device: o.device, threads: o.threads, formulation: o.saveMemory ? { recompute: 'convs' } : undefined });
  const preset = withInputSize(resolvePreset(o.preset ?? 'torchvision-v1'), o.inputSize); // eval geometry at the input size
  const { mean, std, interpolation } = preset;
  const loader = new DataLoader(train, { batchSize: o.batchSize, shuffle: true, seed: o.seed, decode: o.decode, concurrency: o.concurrency, transform: trainTransform({ size: o.inputSize, scale: [o.minScale ?? 0.08, 1], mean, std, interpolation }) });
  const card = () => cardMetadata(model, { classes, preset });
  const perEpoch = loader.numBatches();
  const totalSteps = perEpoch * o.epochs;
  const sched = { name: o.schedule, lr: o.lr, totalSteps, warmupSteps: Math.round((o.warmupEpochs ?? 0) * perEpoch) };

  const state: CheckpointState = resumed?.state ?? { version: CHECKPOINT_VERSION, epoch: 0, batch: 0, step: 0, config: o.config ?? {}, classes, history: [] };
  if (resumed) {
    for (const [k, t] of resumed.optim) trainer.optState.set(k, t);
    trainer.step = state.step;
  }
  await store.write('classes.json', JSON.stringify(classes, null, 2) + '\n');
  const save = async (): Promise<void> => {
    // a checkpoint is only written when everything in it is finite: the last one on disk stays good
    const sd = model.stateDict();
    for (const [k, t] of [...sd, ...trainer.optState]) {
      if (t.dtype === 'float32' && !(t.data as Float32Array).every(Number.isFinite)) {
        throw new DivergedError(`${k} became non-finite by step ${trainer.step} (epoch ${state.epoch + 1}); stopped, the last good checkpoint is ${ckptPath}: lower --lr and --resume`);
      }
    }
    await store.write(CHECKPOINT, encodeTrainingCheckpoint(sd, trainer.optState, state, card()));
  };

  try {
    for (let epoch = state.epoch; epoch < o.epochs; epoch++) {
      const t0 = performance.now();
      let seen = 0;
      let lossSum = 0;
      let correct = 0;
      let skipped = 0;
      const start = epoch === state.epoch ? state.batch : 0;
      for await (const b of loader.epoch(epoch, { startBatch: start })) {
        for (const s of b.skipped) {
          skipped++;
          await note(`skipped ${s.path}: ${s.message}`);
        }
        let batchLoss = NaN;
        if (b.y.length > 0) {
          const lr = learningRate(trainer.step, sched);
          const r = await trainer.train(b.x, b.y, lr, dropoutGenerator(o.seed, trainer.step));
          if (!Number.isFinite(r.loss)) {
            throw new DivergedError(`the loss became ${r.loss} at epoch ${epoch + 1}, batch ${b.batch + 1} (lr ${lr.toPrecision(3)}); stopped, the last good checkpoint is ${ckptPath}: lower --lr and --resume`);
          }
          batchLoss = r.loss;
          lossSum += r.loss * b.y.length;
          seen += b.y.length;
          topk(r.logits, r.logits, 1).forEach((row, i) => {
            if (row[0]!.index === b.y[i]) correct++;
          });
        }
        state.batch = b.batch + 1;
        state.step = trainer.step;
        o.onProgress?.({
          epoch: epoch + 1, epochs: o.epochs, batch: b.batch + 1, batches: perEpoch, step: trainer.step,
          loss: lossSum / Math.max(1, seen), accuracy: correct / Math.max(1, seen), batchLoss,
          imagesPerSecond: seen / ((performance.now() - t0) / 1000),
        });
        if (o.signal?.aborted && state.batch < perEpoch) {
          await save();
          throw new InterruptedError(`stopped at epoch ${epoch + 1}, batch ${state.batch} of ${perEpoch} (step ${trainer.step}); checkpoint written to ${ckptPath}: --resume continues from there`);
        }
        if (o.checkpointEvery && trainer.step % o.checkpointEvery === 0 && state.batch < perEpoch) await save();
      }
      const seconds = (performance.now() - t0) / 1000;
      const row: Record<string, number> = { epoch: epoch + 1, step: trainer.step, lr: learningRate(Math.max(0, trainer.step - 1), sched), train_loss: lossSum / Math.max(1, seen), train_acc: correct / Math.max(1, seen), images_per_s: seen / seconds, seconds, skipped };
      let confusion: number[][] | undefined;
      if (val) {
        const r = await evaluate(model, val, numClasses, backend, { inputSize: o.inputSize, preset, device: o.device, threads: o.threads, decode: o.decode, concurrency: o.concurrency });
        trainMode();
        row['val_loss'] = r.loss;
        row['val_acc'] = r.top1;
        row['val_top5'] = r.top5;
        confusion = r.confusion;
        if (state.bestValAcc === undefined || r.top1 > state.bestValAcc) state.bestValAcc = r.top1;
      }
      state.history.push(row);
      state.epoch = epoch + 1;
      state.batch = 0;
      await store.append('metrics.jsonl', JSON.stringify(row) + '\n');
      await save();
      await store.write('model.safetensors', writeSafetensors(model.stateDict(), { ...card(), classes: JSON.stringify(classes), epoch: String(epoch + 1) }));
      if (o.figures) {
        const points: CurvePoint[] = state.history.map((h) => ({ epoch: h['epoch']!, trainLoss: h['train_loss'], valLoss: h['val_loss'], trainAcc: h['train_acc'], valAcc: h['val_acc'], lr: h['lr'] }));
        await store.write('curves.png', await o.figures.curves(points, { title: `training ${o.dataName ?? ''}`.trimEnd() }));
        if (confusion) await store.write('confusion.png', await o.figures.confusion(confusion, classes, { title: `validation, epoch ${epoch + 1}` }));
      }
      o.onEpoch?.(row);
      const stop = o.signal?.aborted;
      await note(
        `epoch ${epoch + 1}/${o.epochs}: train loss ${row['train_loss']!.toFixed(4)} acc ${(100 * row['train_acc']!).toFixed(1)}%` +
          (val ? ` | val loss ${row['val_loss']!.toFixed(4)} acc ${(100 * row['val_acc']!).toFixed(1)}%` : '') +
          ` | ${row['images_per_s']!.toFixed(1)} img/s, ${seconds.toFixed(1)} s${skipped ? `, ${skipped} images skipped` : ''}`,
      );
      if (stop && epoch + 1 < o.epochs) throw new InterruptedError(`stopped after epoch ${epoch + 1} of ${o.epochs} (step ${trainer.step}); checkpoint written to ${ckptPath}: --resume continues from there`);
    }
  } finally {
    await trainer.release();
  }
  return { history: state.history, classes, bestValAcc: state.bestValAcc, model };
}
