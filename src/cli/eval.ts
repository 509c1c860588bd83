import { Command, Option } from 'commander';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import cliProgress from 'cli-progress';
import { ImageFolder } from '../platform/node/folder.js';
import { nodeBackend } from '../platform/node/ort.js';
import { evaluate } from '../train/evaluate.js';
import { decodeSample, DECODE_CONCURRENCY } from '../platform/node/fit.js';
import { drawConfusionMatrix } from '../platform/node/plot.js';
import { writeFileAtomic } from '../platform/node/files.js';
import { addModelOptions, buildModel, deviceFlag, positiveInt, presetFlag, runCommand, type ModelFlags } from './common.js';
import { badInput } from './errors.js';
import type { Device } from '../infer/backend.js';

interface EvalFlags extends ModelFlags {
  device: Device;
  threads?: number;
  batchSize: number;
  out: string;
  json?: boolean;
  preset?: string;
}

export function evalCommand(): Command {
  const cmd = new Command('eval')
    .description('accuracy on a labelled folder (<dir>/<class>/*): top-1, top-5, per class, and a confusion matrix image')
    .argument('<dir>', 'images in one subfolder per class, named and sorted as for training')
    .requiredOption('--weights <name|file>', 'weights to evaluate (e.g. runs/NAME/model.safetensors)')
    .addOption(new Option('--device <device>', 'where ONNX Runtime runs the network').argParser(deviceFlag).default('cpu'))
    .option('--threads <n>', 'CPU threads for ONNX Runtime', positiveInt('--threads'))
    .option('--batch-size <n>', 'images per forward pass', positiveInt('--batch-size'), 64)
    .option('--out <dir>', 'where confusion.png goes', '.')
    .option('--json', 'print the result as JSON')
    .option('--preset <name>', 'preprocessing (default: the weights\' own, else torchvision-v1)');
  addModelOptions(cmd).action((dir: string, flags: EvalFlags) => runCommand(() => run(dir, flags)));
  return cmd;
}

async function run(dir: string, f: EvalFlags): Promise<void> {
  const data = new ImageFolder(dir);
  const { model, preset } = await buildModel(f);
  if (model.numClasses !== data.classes.length) {
    throw badInput(`${dir}: ${data.classes.length} class folders, but the weights have ${model.numClasses} classes`);
  }
  await mkdir(f.out, { recursive: true });
  const bar = process.stderr.isTTY ? new cliProgress.SingleBar({ format: 'eval [{bar}] {value}/{total} images | ETA {eta}s' }, cliProgress.Presets.shades_classic) : undefined;
  bar?.start(data.samples.length, 0);
  const r = await evaluate(model, data, model.numClasses, nodeBackend, {
    inputSize: f.inputSize ?? 224,
    batchSize: f.batchSize,
    device: f.device,
    threads: f.threads,
    preset: presetFlag(f.preset) ?? preset,
    decode: decodeSample,
    concurrency: DECODE_CONCURRENCY,
    onBatch: (done) => bar?.update(done),
  });
  bar?.stop();
  for (const s of r.skipped) process.stderr.write(`mobilenetv2: skipped ${s.message}\n`);
  const png = join(f.out, 'confusion.png');
  await writeFileAtomic(png, await drawConfusionMatrix(r.confusion, data.classes as string[], { title: `${dir}: top-1 ${(100 * r.top1).toFixed(2)}%` }));
  if (f.json) {
    process.stdout.write(JSON.stringify({ images: r.images, skipped: r.skipped.length, top1: r.top1, top5: r.top5, loss: r.loss, perClass: Object.fromEntries(data.classes.map((c, i) => [c, r.perClass[i]])), confusion: r.confusion, confusionImage: png }) + '\n');
    return;
  }
  const w = Math.max(8, ...data.classes.map((c) => c.length));
  process.stdout.write(`${r.images} images${r.skipped.length ? ` (${r.skipped.length} skipped)` : ''}: top-1 ${(100 * r.top1).toFixed(2)}%  top-5 ${(100 * r.top5).toFixed(2)}%  loss ${r.loss.toFixed(4)}\n`);
  data.classes.forEach((c, i) => {
    const n = r.confusion[i]!.reduce((a, v) => a + v, 0);
    process.stdout.write(`  ${c.padEnd(w)}  ${Number.isNaN(r.perClass[i]) ? '   -  ' : `${(100 * r.perClass[i]!).toFixed(1).padStart(5)}%`}  (${n} images)\n`);
  });
  process.stdout.write(`confusion matrix: ${png}\n`);
}
