import { Command, InvalidArgumentError, Option } from 'commander';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeDemoDataset } from '../platform/node/demo.js';
import { loadCheckpoint } from '../platform/node/weights.js';
import { nodeBackend } from '../platform/node/ort.js';
import { DivergedError, frozenLayers, type Freeze } from '../train/fit.js';
import { fit } from '../platform/node/fit.js';
import type { OptimizerName } from '../train/optim.js';
import type { ScheduleName } from '../train/schedule.js';
import { addModelOptions, deviceFlag, positiveInt, positiveNumber, runCommand, type ModelFlags } from './common.js';
import { CliError, EXIT, usage } from './errors.js';
import { abortSignal } from './signals.js';
import type { Device } from '../infer/backend.js';

interface TrainFlags extends ModelFlags {
  demo?: boolean;
  val?: string;
  valSplit?: number;
  epochs?: number;
  batchSize?: number;
  lr?: number;
  optimizer: OptimizerName;
  momentum?: number;
  schedule: ScheduleName;
  warmupEpochs?: number;
  labelSmoothing?: number;
  weightDecay?: number;
  freeze?: Freeze;
  out?: string;
  resume?: boolean;
  overwrite?: boolean;
  device: Device;
  threads?: number;
  saveMemory?: boolean;
  seed: number;
  checkpointEvery?: number;
  minScale?: number;
}

const freezeFlag = (v: string): Freeze => {
  try {
    frozenLayers(v, 19); // MobileNetV2's 19 feature layers (the stem, 17 blocks, the last conv)
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message.replace(/^freeze/, '--freeze'));
  }
  return v as Freeze;
};

const fraction = (name: string) => (v: string) => {
  const x = Number(v);
  if (!(x >= 0 && x < 1)) throw new InvalidArgumentError(`${name} must be in [0, 1), got "${v}"`);
  return x;
};

/** What --demo trains when the user does not say otherwise: small, fast, learns the shapes. */
export const DEMO_DEFAULTS = { alpha: 0.35, inputSize: 64, epochs: 20, batchSize: 32, lr: 0.003, optimizer: 'adamw', weightDecay: 0.01, warmupEpochs: 1, minScale: 0.4, perClass: Number(process.env['MOBILENETV2_DEMO_PER_CLASS'] ?? 100) } as const;

export function trainCommand(): Command {
  const cmd = new Command('train')
    .description('train or fine-tune on a folder of images (one subfolder per class), or on a generated demo set with --demo')
    .argument('[dir]', 'training images: <dir>/<class>/*.jpg|png|webp')
    .option('--demo', 'generate a small labelled dataset of drawn shapes (10 classes, no download) and train on it')
    .option('--val <dir>', 'validation folder with the same class subfolders')
    .option('--val-split <f>', 'hold out this fraction of <dir> for validation (seeded, per class)', fraction('--val-split'))
    .option('--epochs <n>', 'epochs (default 10; demo 20)', positiveInt('--epochs'))
    .option('--batch-size <n>', 'images per step (default 32)', positiveInt('--batch-size'))
    .option('--lr <x>', 'peak learning rate (default 0.01 sgd/rmsprop, 0.001 adamw; demo 0.003)', positiveNumber('--lr'))
    .addOption(new Option('--optimizer <name>', 'sgd (torch), rmsprop (TF convention, as the paper), adamw').choices(['sgd', 'rmsprop', 'adamw']))
    .option('--momentum <m>', 'sgd / rmsprop momentum (default 0.9)', Number)
    .addOption(new Option('--schedule <name>', 'learning-rate schedule').choices(['cosine', 'step', 'constant']).default('cosine'))
    .option('--warmup-epochs <n>', 'linear warm-up epochs (default 0; demo 1)', Number)
    .option('--label-smoothing <e>', 'label smoothing (default 0)', fraction('--label-smoothing'))
    .option('--weight-decay <w>', 'weight decay (default 4e-5; adamw 0.01)', Number)
    .option('--weights <name|file>', 'start from these weights (registry name, hf:..., folder or file); a new head when the class count differs')
    .option('--freeze <part>', "'backbone': train only the classifier; 'features.0-K': keep the stem and blocks up to K as loaded (their weights and BN statistics), train the rest", freezeFlag)
    .option('--out <dir>', 'run folder: checkpoint, model.safetensors, metrics.jsonl, curves.png, confusion.png (default runs/<date>)')
    .option('--resume', 'continue the run in --out from its last checkpoint')
    .option('--overwrite', 'start over in an --out that holds a run (its files are replaced)')
    .addOption(new Option('--device <device>', 'where ONNX Runtime trains').argParser(deviceFlag).default('cpu'))
    .option('--threads <n>', 'CPU threads for ONNX Runtime', positiveInt('--threads'))
    .option('--save-memory', 'recompute cheap activations in the backward instead of keeping them: ~18% less peak memory, the same gradients')
    .option('--seed <n>', 'seed of init, shuffling, augmentation, dropout and split', positiveInt('--seed', 0), 0)
    .option('--min-scale <f>', 'RandomResizedCrop: smallest crop area fraction (default 0.08 as torchvision; demo 0.4)', fraction('--min-scale'))
    .option('--checkpoint-every <n>', 'also checkpoint every n steps (default: each epoch only)', positiveInt('--checkpoint-every'));
  addModelOptions(cmd, { inputSize: true }).action((dir: string | undefined, flags: TrainFlags) => runCommand(() => train(dir, flags)));
  return cmd;
}

async function train(dir: string | undefined, f: TrainFlags): Promise<void> {
  if (f.demo && dir) throw usage('give either <dir> or --demo, not both');
  if (!f.demo && !dir) throw usage('missing <dir> (or use --demo)');
  if (f.val && f.valSplit) throw usage('give either --val or --val-split, not both');
  if (f.numClasses !== undefined) throw usage('--num-classes is not used by train: the number of classes comes from the class folders');
  const out = f.out ?? join('runs', new Date().toISOString().replace(/[:.]/g, '-'));
  let data = dir!;
  let val = f.val;
  const demo = f.demo ? DEMO_DEFAULTS : undefined;
  if (demo) {
    const root = await mkdtemp(join(tmpdir(), 'mobilenetv2-demo-'));
    const d = await makeDemoDataset(root, { seed: f.seed, perClass: demo.perClass });
    process.stderr.write(`demo dataset: ${d.files} images of ${d.classes.length} classes (${d.classes.join(', ')}) in ${root}\n`);
    data = d.train;
    val = d.val;
  }
  const optimizer = f.optimizer ?? demo?.optimizer ?? 'sgd';
  try {
    const r = await fit(
      {
        data,
        val,
        valSplit: f.valSplit,
        epochs: f.epochs ?? demo?.epochs ?? 10,
        batchSize: f.batchSize ?? demo?.batchSize ?? 32,
        lr: f.lr ?? demo?.lr ?? (optimizer === 'adamw' ? 0.001 : 0.01),
        optimizer,
        momentum: f.momentum,
        schedule: f.schedule,
        warmupEpochs: f.warmupEpochs ?? demo?.warmupEpochs ?? 0,
        labelSmoothing: f.labelSmoothing,
        weightDecay: f.weightDecay ?? demo?.weightDecay ?? (optimizer === 'adamw' ? 0.01 : 4e-5),
        weights: f.weights,
        freeze: f.freeze,
        alpha: f.alpha ?? (f.weights ? undefined : demo?.alpha),
        inputSize: f.inputSize ?? demo?.inputSize ?? 224,
        lastChannel: f.lastChannel,
        minScale: f.minScale ?? demo?.minScale,
        out,
        resume: f.resume,
        overwrite: f.overwrite,
        signal: abortSignal,
        device: f.device,
        threads: f.threads,
        saveMemory: f.saveMemory,
        seed: f.seed,
        checkpointEvery: f.checkpointEvery,
      },
      nodeBackend,
      async (w) => {
        const c = await loadCheckpoint(w, { progress: true });
        return { model: c.model, source: c.source, preset: c.preset };
      },
    );
    const last = r.history.at(-1);
    process.stderr.write(
      `done: ${r.history.length} epochs${last?.['val_acc'] !== undefined ? `, validation accuracy ${(100 * last['val_acc']).toFixed(1)}% (best ${(100 * (r.bestValAcc ?? 0)).toFixed(1)}%)` : ''}; ` +
        `weights in ${join(out, 'model.safetensors')}, curves in ${join(out, 'curves.png')}\n`,
    );
  } catch (e) {
    if (e instanceof DivergedError) throw new CliError(EXIT.DIVERGED, 'E_DIVERGED', e.message);
    throw e;
  }
}
