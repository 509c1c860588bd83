// The training run: folders of images in, a trained model, checkpoints, metrics and pictures out.
// Deterministic on CPU for a seed: the data order and augmentation depend only on (seed, epoch,
// sample), dropout only on (seed, step), the schedule only on the step; so a run resumed from a
// checkpoint ends with the same weights as one that was never interrupted.

import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import cliProgress from 'cli-progress';
import { ImageFolder, type Dataset } from '../data/folder.js';
import { DataLoader } from '../data/loader.js';
import { mixSeed, trainTransform } from '../data/augment.js';
import { Generator } from '../nn/init.js';
import { configFromStateDict } from '../models/config.js';
import { MobileNetV2, type LastChannelRule } from '../models/mobilenetv2.js';
import type { Backend, Device } from '../runtime/backend.js';
import { writeFileAtomic } from '../io/files.js';
import { writeSafetensors } from '../weights/safetensors.js';
import { readTrainingCheckpoint, writeTrainingCheckpoint, CHECKPOINT_VERSION, type CheckpointState } from './checkpoint.js';
import { evaluate } from './evaluate.js';
import type { OptimizerName, OptimizerSpec } from './optim.js';
import { drawConfusionMatrix, drawCurves, type CurvePoint } from './plot.js';
import { learningRate, type ScheduleName } from './schedule.js';
import { Trainer } from './step.js';

export interface FitOptions {
  data: string;
  val?: string;
  valSplit?: number;
  epochs: number;
  batchSize: number;
  lr: number;
  optimizer: OptimizerName;
  momentum?: number;
  schedule: ScheduleName;
  warmupEpochs?: number;
  labelSmoothing?: number;
  weightDecay?: number;
  /** Registry name or file; the head is replaced when the class count differs. */
  weights?: string;
  freeze?: 'backbone';
  alpha?: number;
  inputSize: number;
  lastChannel?: LastChannelRule;
  /** RandomResizedCrop's smallest area fraction (torchvision: 0.08). */
  minScale?: number;
  out: string;
  resume?: boolean;
  device?: Device;
  threads?: number;
  seed: number;
  /** Checkpoint every this many steps too (besides every epoch); 0 = only at epoch ends. */
  checkpointEvery?: number;
  /** Show a progress bar (default: when stderr is a terminal). */
  progress?: boolean;
  /** Where log lines go (default stderr). */
  log?: (line: string) => void;
}

export interface FitResult {
  history: Record<string, number>[];
  classes: string[];
  bestValAcc?: number;
  outDir: string;
  model: MobileNetV2;
}

/** A NaN or infinite loss: the run stopped; the last good checkpoint is kept. */
export class DivergedError extends Error {
  readonly code = 'E_DIVERGED';
}

export async function fit(o: FitOptions, backend: Backend, loadModel?: (w: string) => Promise<{ model: MobileNetV2; source: string }>): Promise<FitResult> {
  const log = o.log ?? ((l: string) => process.stderr.write(l + '\n'));
  await mkdir(o.out, { recursive: true });
  const ckptPath = join(o.out, 'checkpoint.safetensors');
  const logPath = join(o.out, 'train.log');
  const note = async (line: string) => {
    log(line);
    await appendFile(logPath, line + '\n');
  };

  // data
  const all = new ImageFolder(o.data);
  let train: Dataset = all;
  let val: Dataset | undefined;
  if (o.val) {
    val = new ImageFolder(o.val);
    if (val.classes.join('\n') !== all.classes.join('\n')) throw new Error(`${o.val}: its class folders (${val.classes.join(', ')}) differ from ${o.data}'s (${all.classes.join(', ')})`);
  } else if (o.valSplit) {
    const s = all.split(o.valSplit, o.seed);
    train = s.train;
    val = s.val;
  }
  const classes = [...all.classes];
  const numClasses = classes.length;

  // model
  const resumed = o.resume ? await readTrainingCheckpoint(ckptPath) : undefined;
  // the architecture: from the weights' loader (keeps TF padding, BN eps...) with a new head when the
  // class count differs; else from the flags, or read off a checkpoint being resumed
  let model: MobileNetV2;
  if (o.weights) {
    if (!loadModel) throw new Error('fit: weights given but no way to load them');
    const loaded = await loadModel(o.weights);
    model = loaded.model;
    if (model.numClasses !== numClasses) {
      const had = model.numClasses;
      model.resetClassifier(numClasses, o.seed);
      if (!resumed) await note(`${loaded.source}: backbone loaded; new ${numClasses}-class head (the checkpoint has ${had} classes)`);
    } else if (!resumed) await note(`${loaded.source}: loaded`);
  } else if (resumed) {
    model = new MobileNetV2({ ...configFromStateDict(resumed.model, { alpha: o.alpha, lastChannel: o.lastChannel }), numClasses });
  } else {
    model = new MobileNetV2({ alpha: o.alpha ?? 1.0, numClasses, lastChannel: o.lastChannel ?? 'seed', seed: o.seed });
  }
  if (resumed) {
    model.loadStateDict(resumed.model);
    await note(`resuming from ${ckptPath}: epoch ${resumed.state.epoch + 1}, batch ${resumed.state.batch}, step ${resumed.state.step}`);
  }
  const trainMode = (): void => {
    model.train();
    if (o.freeze === 'backbone') model.features.eval(); // frozen BN keeps its running statistics
  };
  if (o.freeze === 'backbone') for (const [k, p] of model.namedParameters()) p.requiresGrad = k.startsWith('classifier.');
  trainMode();

  const spec: OptimizerSpec = {
    name: o.optimizer,
    weightDecay: o.weightDecay ?? 0,
    momentum: o.optimizer === 'adamw' ? undefined : (o.momentum ?? 0.9),
    ...(o.optimizer === 'rmsprop' ? { tf: true, alpha: 0.9, eps: 1.0 } : {}),
  };
  const trainer = new Trainer(model, backend, { optimizer: spec, numClasses, inputSize: o.inputSize, labelSmoothing: o.labelSmoothing, device: o.device, threads: o.threads });
  const loader = new DataLoader(train, { batchSize: o.batchSize, shuffle: true, seed: o.seed, transform: trainTransform({ size: o.inputSize, scale: [o.minScale ?? 0.08, 1] }) });
  const perEpoch = loader.numBatches();
  const totalSteps = perEpoch * o.epochs;
  const sched = { name: o.schedule, lr: o.lr, totalSteps, warmupSteps: Math.round((o.warmupEpochs ?? 0) * perEpoch) };

  const config = { ...o, log: undefined, progress: undefined } as Record<string, unknown>;
  const state: CheckpointState = resumed?.state ?? { version: CHECKPOINT_VERSION, epoch: 0, batch: 0, step: 0, config, classes, history: [] };
  if (resumed) {
    for (const [k, t] of resumed.optim) trainer.optState.set(k, t);
    trainer.step = state.step;
  }
  await writeFile(join(o.out, 'classes.json'), JSON.stringify(classes, null, 2) + '\n');
  const save = async (): Promise<void> => {
    // a checkpoint is only written when everything in it is finite: the last one on disk stays good
    const sd = model.stateDict();
    for (const [k, t] of [...sd, ...trainer.optState]) {
      if (t.dtype === 'float32' && !(t.data as Float32Array).every(Number.isFinite)) {
        throw new DivergedError(`${k} became non-finite by step ${trainer.step} (epoch ${state.epoch + 1}); stopped, the last good checkpoint is ${ckptPath}: lower --lr and --resume`);
      }
    }
    await writeTrainingCheckpoint(ckptPath, sd, trainer.optState, state);
  };

  const bar =
    (o.progress ?? process.stderr.isTTY)
      ? new cliProgress.SingleBar(
          { format: 'epoch {epoch} [{bar}] {value}/{total} | loss {loss} | acc {acc} | {rate} img/s | ETA {eta_formatted}', hideCursor: true, etaBuffer: 20 },
          cliProgress.Presets.shades_classic,
        )
      : undefined;

  try {
    for (let epoch = state.epoch; epoch < o.epochs; epoch++) {
      const t0 = performance.now();
      let seen = 0;
      let lossSum = 0;
      let correct = 0;
      let skipped = 0;
      const start = epoch === state.epoch ? state.batch : 0;
      bar?.start(perEpoch, start, { epoch: epoch + 1, loss: '-', acc: '-', rate: '-' });
      for await (const b of loader.epoch(epoch, { startBatch: start })) {
        for (const s of b.skipped) {
          skipped++;
          await note(`skipped ${s.path}: ${s.message}`);
        }
        if (b.y.length > 0) {
          const lr = learningRate(trainer.step, sched);
          const r = await trainer.train(b.x, b.y, lr, new Generator(mixSeed(o.seed, 5, trainer.step)));
          if (!Number.isFinite(r.loss)) {
            throw new DivergedError(`the loss became ${r.loss} at epoch ${epoch + 1}, batch ${b.batch + 1} (lr ${lr.toPrecision(3)}); stopped, the last good checkpoint is ${ckptPath}: lower --lr and --resume`);
          }
          lossSum += r.loss * b.y.length;
          seen += b.y.length;
          const k = numClasses;
          const z = r.logits.data as Float32Array;
          b.y.forEach((y, i) => {
            let best = 0;
            for (let j = 1; j < k; j++) if (z[i * k + j]! > z[i * k + best]!) best = j;
            if (best === y) correct++;
          });
        }
        state.batch = b.batch + 1;
        state.step = trainer.step;
        bar?.update(b.batch + 1, { loss: (lossSum / Math.max(1, seen)).toFixed(4), acc: `${((100 * correct) / Math.max(1, seen)).toFixed(1)}%`, rate: (seen / ((performance.now() - t0) / 1000)).toFixed(1) });
        if (o.checkpointEvery && trainer.step % o.checkpointEvery === 0 && state.batch < perEpoch) await save();
      }
      bar?.stop();
      const seconds = (performance.now() - t0) / 1000;
      const row: Record<string, number> = { epoch: epoch + 1, step: trainer.step, lr: learningRate(Math.max(0, trainer.step - 1), sched), train_loss: lossSum / Math.max(1, seen), train_acc: correct / Math.max(1, seen), images_per_s: seen / seconds, seconds, skipped };
      let confusion: number[][] | undefined;
      if (val) {
        const r = await evaluate(model, val, numClasses, backend, { inputSize: o.inputSize, device: o.device, threads: o.threads });
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
      await appendFile(join(o.out, 'metrics.jsonl'), JSON.stringify(row) + '\n');
      await save();
      await writeFileAtomic(join(o.out, 'model.safetensors'), writeSafetensors(model.stateDict(), { classes: JSON.stringify(classes), epoch: String(epoch + 1) }));
      const points: CurvePoint[] = state.history.map((h) => ({ epoch: h['epoch']!, trainLoss: h['train_loss'], valLoss: h['val_loss'], trainAcc: h['train_acc'], valAcc: h['val_acc'], lr: h['lr'] }));
      await writeFileAtomic(join(o.out, 'curves.png'), await drawCurves(points, { title: `training ${o.data}` }));
      if (confusion) await writeFileAtomic(join(o.out, 'confusion.png'), await drawConfusionMatrix(confusion, classes, { title: `validation, epoch ${epoch + 1}` }));
      await note(
        `epoch ${epoch + 1}/${o.epochs}: train loss ${row['train_loss']!.toFixed(4)} acc ${(100 * row['train_acc']!).toFixed(1)}%` +
          (val ? ` | val loss ${row['val_loss']!.toFixed(4)} acc ${(100 * row['val_acc']!).toFixed(1)}%` : '') +
          ` | ${row['images_per_s']!.toFixed(1)} img/s, ${seconds.toFixed(1)} s${skipped ? `, ${skipped} images skipped` : ''}`,
      );
    }
  } finally {
    bar?.stop();
    await trainer.release();
  }
  return { history: state.history, classes, bestValAcc: state.bestValAcc, outDir: o.out, model };
}
