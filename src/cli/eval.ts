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
import { addModelOptions, buildNetwork, deviceFlag, positiveInt, presetFlag, runCommand, type ModelFlags } from './common.js';
import { badInput } from './errors.js';
import { abortSignal } from './signals.js';
import { resolvePreset } from '../data/transforms.js';
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

/**
 * Which output of the model each class folder is. By name when the weights carry class names (a
 * fine-tune of ours, a checkpoint with id2label, ImageNet's 1000): every folder must name one of
 * them, in any order, and a folder may hold only some of the model's classes. Without names, by
 * sorted position (torchvision's ImageFolder order), which needs as many folders as classes.
 */
function matchClasses(dir: string, folders: readonly string[], labels: readonly string[] | undefined, numClasses: number): { index: number[]; note?: string } {
  if (labels && labels.length === numClasses) {
    const at = new Map(labels.map((l, i) => [l, i]));
    const unknown = folders.filter((c) => !at.has(c));
    if (unknown.length === 0) return { index: folders.map((c) => at.get(c)!) };
    if (folders.length !== numClasses) {
      const show = (xs: readonly string[]) => xs.slice(0, 8).join(', ') + (xs.length > 8 ? `, ... (${xs.length})` : '');
      throw badInput(`${dir}: class folders that are not the model's classes: ${show(unknown)} (the model's: ${show(labels)})`);
    }
    return { index: folders.map((_, i) => i), note: `${dir}: the folder names are not the model's class names (${unknown.slice(0, 3).join(', ')}${unknown.length > 3 ? ', ...' : ''}): matched by sorted position` };
  }
  if (folders.length !== numClasses) throw badInput(`${dir}: ${folders.length} class folders, but the weights have ${numClasses} classes`);
  return { index: folders.map((_, i) => i), note: labels ? undefined : `${dir}: the weights carry no class names: folders matched by sorted position` };
}

async function run(dir: string, f: EvalFlags): Promise<void> {
  const folder = new ImageFolder(dir);
  const { network, preset, labels, numClasses, inputSize: fixedSize } = await buildNetwork(f);
  const { index, note } = matchClasses(dir, folder.classes, labels, numClasses);
  if (note) process.stderr.write(`mobilenetv2: note: ${note}\n`);
  // the folder's samples labelled with the model's outputs
  const data = { classes: labels ?? folder.classes, samples: folder.samples.map((s) => ({ ...s, label: index[s.label]! })) };
  const base = presetFlag(f.preset) ?? preset ?? 'torchvision-v1';
  const inputSize = f.inputSize ?? fixedSize ?? resolvePreset(base).crop; // the size the weights were trained at, when they say
  await mkdir(f.out, { recursive: true });
  const bar = process.stderr.isTTY ? new cliProgress.SingleBar({ format: 'eval [{bar}] {value}/{total} images | ETA {eta}s' }, cliProgress.Presets.shades_classic) : undefined;
  bar?.start(folder.samples.length, 0);
  const r = await evaluate(network, data, numClasses, nodeBackend, {
    inputSize,
    batchSize: f.batchSize,
    device: f.device,
    threads: f.threads,
    preset: base,
    decode: decodeSample,
    concurrency: DECODE_CONCURRENCY,
    onBatch: (done) => bar?.update(done),
    signal: abortSignal,
  });
  bar?.stop();
  for (const s of r.skipped) process.stderr.write(`mobilenetv2: skipped ${s.message}\n`);
  // the matrix over the folder's classes; predictions of any other class of the model in a last column
  const names = [...folder.classes];
  const others = index.length < numClasses;
  const confusion = index.map((i) => {
    const row = index.map((j) => r.confusion[i]![j]!);
    return others ? [...row, r.confusion[i]!.reduce((a, v) => a + v, 0) - row.reduce((a, v) => a + v, 0)] : row;
  });
  const png = join(f.out, 'confusion.png');
  const columns = others ? [...names, 'other'] : names;
  await writeFileAtomic(png, await drawConfusionMatrix(others ? [...confusion, new Array(columns.length).fill(0)] : confusion, columns, { title: `${dir}: top-1 ${(100 * r.top1).toFixed(2)}% at ${inputSize}x${inputSize}` }));
  const perClass = index.map((i) => r.perClass[i]!);
  if (f.json) {
    process.stdout.write(JSON.stringify({ images: r.images, skipped: r.skipped.length, inputSize, top1: r.top1, top5: r.top5, loss: r.loss, perClass: Object.fromEntries(names.map((c, k) => [c, perClass[k]])), classes: columns, confusion, confusionImage: png }) + '\n');
    return;
  }
  const w = Math.max(8, ...names.map((c) => c.length));
  process.stdout.write(`${r.images} images${r.skipped.length ? ` (${r.skipped.length} skipped)` : ''} at ${inputSize}x${inputSize}: top-1 ${(100 * r.top1).toFixed(2)}%  top-5 ${(100 * r.top5).toFixed(2)}%  loss ${r.loss.toFixed(4)}\n`);
  names.forEach((c, k) => {
    const n = confusion[k]!.reduce((a, v) => a + v, 0);
    process.stdout.write(`  ${c.padEnd(w)}  ${Number.isNaN(perClass[k]) ? '   -  ' : `${(100 * perClass[k]!).toFixed(1).padStart(5)}%`}  (${n} images)\n`);
  });
  process.stdout.write(`confusion matrix: ${png}\n`);
}
