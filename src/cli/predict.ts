import { Command, Option } from 'commander';
import { DEFAULT_WEIGHTS } from '../weights/registry.js';
import { labelsForHead } from '../data/labels.js';
import { withInputSize } from '../data/transforms.js';
import { Predictor, topk } from '../infer/predictor.js';
import { nodeBackend } from '../platform/node/ort.js';
import { addModelOptions, buildNetwork, deviceFlag, positiveInt, presetFlag, runCommand, type ModelFlags } from './common.js';
import { forEachImageBatch, imageList } from './images.js';
import type { Device } from '../infer/backend.js';

interface PredictFlags extends ModelFlags {
  topk: number;
  json?: boolean;
  device: Device;
  batchSize: number;
  threads?: number;
  preset?: string;
  filesFrom?: string;
}


export function predictCommand(): Command {
  const cmd = new Command('predict')
    .description('classify images (jpg, png, webp, gif, tiff...) and print the top-k classes')
    .argument('[images...]', 'image files or folders (searched recursively)')
    .option('--files-from <list>', 'also the paths listed in this file, one per line (- for stdin)')
    .option('--weights <name|file>', `registry name (IMAGENET1K_V1, IMAGENET1K_V2), hf:<org>/<name>, a transformers/timm checkpoint folder, a .pth/.safetensors file, or an .onnx of export / quantize`, DEFAULT_WEIGHTS)
    .option('--topk <k>', 'how many classes to show', positiveInt('--topk'), 5)
    .option('--json', 'one JSON object per image on stdout')
    .addOption(new Option('--device <device>', 'where ONNX Runtime runs the network').argParser(deviceFlag).default('cpu'))
    .option('--batch-size <n>', 'images per forward pass', positiveInt('--batch-size'), 32)
    .option('--threads <n>', 'CPU threads for ONNX Runtime (default: all cores)', positiveInt('--threads'))
    .option('--preset <name>', 'preprocessing: torchvision-v1, torchvision-v2, hf, tf, timm (default: the weights\')');
  addModelOptions(cmd).action((images: string[], flags: PredictFlags) => runCommand(async () => predict(await imageList(images, flags.filesFrom), flags)));
  return cmd;
}

async function predict(images: string[], flags: PredictFlags): Promise<void> {
  const override = presetFlag(flags.preset);
  const loaded = await buildNetwork(flags);
  const base = override ?? loaded.preset ?? 'torchvision-v1';
  const size = flags.inputSize ?? loaded.inputSize;
  const preset = size ? withInputSize(base, size) : base;
  const labels = loaded.labels ?? labelsForHead(loaded.numClasses);
  const background = loaded.background ?? false;
  const predictor = new Predictor(loaded.network, nodeBackend, { device: flags.device, threads: flags.threads });
  try {
    await forEachImageBatch(
      images,
      flags.batchSize,
      preset,
      async (batch, files) => {
        const { logits, probabilities } = await predictor.run(batch.tensor);
        // a 1001-class TF head: class 0 (background) is not listed; probabilities stay the full softmax
        topk(probabilities, logits, flags.topk, background ? [0] : []).forEach((row, r) => {
          const top = row.map((t) => ({ index: t.index, label: labels?.[t.index] ?? `class ${t.index}`, probability: t.probability, logit: t.logit }));
          if (flags.json) process.stdout.write(JSON.stringify({ file: files[r], top }) + '\n');
          else process.stdout.write(`${files[r]}\n${top.map((t, i) => `  ${i + 1}. ${t.label.padEnd(28)} ${(100 * t.probability).toFixed(2).padStart(6)}%  (class ${t.index})`).join('\n')}\n`);
        });
      },
      'predict',
    );
  } finally {
    await predictor.release();
  }
}
