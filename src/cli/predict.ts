import { Command, Option } from 'commander';
import cliProgress from 'cli-progress';
import { loadBatch, type BatchResult } from '../data/image.js';
import { imagenetClasses } from '../data/labels.js';
import { withInputSize } from '../data/transforms.js';
import { float32 } from '../tensor.js';
import { Predictor, topk } from '../predictor.js';
import { nodeBackend } from '../runtime/node.js';
import { addModelOptions, buildModel, deviceFlag, positiveInt, presetFlag, runCommand, type ModelFlags } from './common.js';
import { EXIT, usage } from './errors.js';
import type { Device } from '../runtime/backend.js';

interface PredictFlags extends ModelFlags {
  topk: number;
  json?: boolean;
  device: Device;
  batchSize: number;
  threads?: number;
  preset?: string;
}

export const DEFAULT_WEIGHTS = 'IMAGENET1K_V2';

export function predictCommand(): Command {
  const cmd = new Command('predict')
    .description('classify images (jpg, png, webp, gif, tiff...) and print the top-k classes')
    .argument('<images...>', 'image files')
    .option('--weights <name|file>', `registry name (IMAGENET1K_V1, IMAGENET1K_V2), hf:<org>/<name>, a transformers/timm checkpoint folder, or a .pth/.safetensors file`, DEFAULT_WEIGHTS)
    .option('--topk <k>', 'how many classes to show', positiveInt('--topk'), 5)
    .option('--json', 'one JSON object per image on stdout')
    .addOption(new Option('--device <device>', 'where ONNX Runtime runs the network').argParser(deviceFlag).default('cpu'))
    .option('--batch-size <n>', 'images per forward pass', positiveInt('--batch-size'), 32)
    .option('--threads <n>', 'CPU threads for ONNX Runtime (default: all cores)', positiveInt('--threads'))
    .option('--preset <name>', 'preprocessing: torchvision-v1, torchvision-v2, hf, tf, timm (default: the weights\')');
  addModelOptions(cmd).action((images: string[], flags: PredictFlags) => runCommand(() => predict(images, flags)));
  return cmd;
}

async function predict(images: string[], flags: PredictFlags): Promise<void> {
  const override = presetFlag(flags.preset);
  const loaded = await buildModel(flags);
  const { model } = loaded;
  const base = override ?? loaded.preset ?? 'torchvision-v1';
  const preset = flags.inputSize ? withInputSize(base, flags.inputSize) : base;
  const labels = loaded.labels ?? (model.numClasses === 1000 ? imagenetClasses() : undefined);
  const background = loaded.background ?? false;
  const predictor = new Predictor(model, nodeBackend, { device: flags.device, threads: flags.threads });

  const batches: string[][] = [];
  for (let i = 0; i < images.length; i += flags.batchSize) batches.push(images.slice(i, i + flags.batchSize));
  const bar = process.stderr.isTTY && images.length > flags.batchSize ? new cliProgress.SingleBar({ format: 'predict [{bar}] {value}/{total} images | {rate} img/s | ETA {eta}s', hideCursor: true }, cliProgress.Presets.shades_classic) : undefined;
  bar?.start(images.length, 0, { rate: '0' });
  const t0 = performance.now();

  let failed = 0;
  let done = 0;
  // decode batch i+1 while the network runs on batch i
  let next: Promise<BatchResult> | undefined = loadBatch(batches[0]!, preset);
  try {
    for (let b = 0; b < batches.length; b++) {
      const batch = await next!;
      next = b + 1 < batches.length ? loadBatch(batches[b + 1]!, preset) : undefined;
      for (const e of batch.errors) {
        failed++;
        bar?.stop();
        process.stderr.write(`mobilenetv2: ${e.message}\n`);
      }
      if (batch.ok.length === 0) continue;
      const { logits, probabilities } = await predictor.run(batch.tensor);
      let ranked = probabilities;
      if (background) {
        // a 1001-class TF head: class 0 (background) is not listed; probabilities stay the full softmax
        const p = new Float32Array(probabilities.data as Float32Array);
        for (let i = 0; i < p.length; i += model.numClasses) p[i] = -1;
        ranked = float32(probabilities.shape, p);
      }
      const rows = topk(ranked, logits, background ? flags.topk + 1 : flags.topk).map((row) => row.filter((t) => !(background && t.index === 0)).slice(0, flags.topk));
      rows.forEach((row, r) => {
        const file = batches[b]![batch.ok[r]!]!;
        const top = row.map((t) => ({ index: t.index, label: labels?.[t.index] ?? `class ${t.index}`, probability: t.probability, logit: t.logit }));
        if (flags.json) process.stdout.write(JSON.stringify({ file, top }) + '\n');
        else process.stdout.write(`${file}\n${top.map((t, i) => `  ${i + 1}. ${t.label.padEnd(28)} ${(100 * t.probability).toFixed(2).padStart(6)}%  (class ${t.index})`).join('\n')}\n`);
      });
      done += batches[b]!.length;
      bar?.update(done, { rate: (done / ((performance.now() - t0) / 1000)).toFixed(1) });
    }
  } finally {
    bar?.stop();
    await predictor.release();
  }
  if (failed === images.length) {
    // each failure has had its own line; one image needs no summary line
    if (failed > 1) process.stderr.write(`mobilenetv2: none of the ${failed} images could be read\n`);
    process.exitCode = EXIT.INPUT;
    return;
  }
  if (failed > 0) {
    process.stderr.write(`mobilenetv2: ${failed} of ${images.length} images could not be read\n`);
    process.exitCode = EXIT.PARTIAL;
  }
}
