// mobilenetv2 embed <images...> --out vectors.safetensors: the pooled feature vector of each
// image (global average of the last feature map), one row per image that could be read, with
// the images' paths in row order in the file's metadata. Written atomically.

import { Command, Option } from 'commander';
import { Predictor } from '../infer/predictor.js';
import { withInputSize } from '../data/transforms.js';
import { nodeBackend } from '../platform/node/ort.js';
import type { Device } from '../infer/backend.js';
import { float32 } from '../tensor.js';
import { writeSafetensors } from '../weights/safetensors.js';
import { weightsName, addModelOptions, buildNetwork, deviceFlag, positiveInt, presetFlag, runCommand, type ModelFlags } from './common.js';
import { forEachImageBatch, imageList } from './images.js';
import { checkOutputFolders, writeFileAtomic } from './files.js';
import { DEFAULT_WEIGHTS } from '../weights/registry.js';
import { badInput } from './errors.js';

interface EmbedFlags extends ModelFlags {
  out: string;
  device: Device;
  batchSize: number;
  threads?: number;
  preset?: string;
  filesFrom?: string;
}

export function embedCommand(): Command {
  const cmd = new Command('embed')
    .description('write each image\'s pooled feature vector (length = last channel) to a safetensors file: tensor "embeddings" (N x C), metadata "files" (JSON list, row order)')
    .argument('[images...]', 'image files or folders (searched recursively)')
    .option('--files-from <list>', 'also the paths listed in this file, one per line (- for stdin)')
    .requiredOption('--out <file>', 'safetensors file to write')
    .option('--weights <name|file>', 'registry name, hf:<org>/<name>, a transformers/timm checkpoint folder, a .pth/.safetensors file, or an .onnx of export / quantize', DEFAULT_WEIGHTS)
    .option('--preset <name>', "preprocessing: torchvision-v1, torchvision-v2, hf, tf, timm (default: the weights')")
    .addOption(new Option('--device <device>', 'where ONNX Runtime runs the network').argParser(deviceFlag).default('cpu'))
    .option('--batch-size <n>', 'images per forward pass', positiveInt('--batch-size'), 32)
    .option('--threads <n>', 'CPU threads for ONNX Runtime (default: all cores)', positiveInt('--threads'));
  addModelOptions(cmd).action((images: string[], flags: EmbedFlags) => runCommand(async () => embed(await imageList(images, flags.filesFrom), flags)));
  return cmd;
}

async function embed(images: string[], flags: EmbedFlags): Promise<void> {
  const override = presetFlag(flags.preset);
  await checkOutputFolders([flags.out]);
  const loaded = await buildNetwork(flags);
  const base = override ?? loaded.preset ?? 'torchvision-v1';
  const size = flags.inputSize ?? loaded.inputSize;
  const preset = size ? withInputSize(base, size) : base;
  const predictor = new Predictor(loaded.network, nodeBackend, { device: flags.device, threads: flags.threads });
  const c = loaded.embeddingSize;
  if (c === 0) throw badInput(`${flags.weights}: its ONNX graph has no embedding (the pooled features) to output`);
  const rows: Float32Array[] = [];
  const files: string[] = [];
  let failed: number;
  try {
    failed = await forEachImageBatch(
      images,
      flags.batchSize,
      preset,
      async (batch, batchFiles) => {
        const out = (await predictor.run(batch.tensor, ['embedding'])).embedding.data as Float32Array; // (n, C)
        batchFiles.forEach((f, r) => {
          rows.push(out.subarray(r * c, (r + 1) * c));
          files.push(f);
        });
      },
      'embed',
    );
  } finally {
    await predictor.release();
  }
  if (rows.length === 0) return; // nothing is written; forEachImageBatch said why and set exit code 3
  const data = new Float32Array(rows.length * c); // (N_ok, C)
  rows.forEach((r, i) => data.set(r, i * c));
  await writeFileAtomic(flags.out, writeSafetensors(new Map([['embeddings', float32([rows.length, c], data)]]), { weights: loaded.source ? weightsName(flags.weights!, loaded.source) : '', files: JSON.stringify(files) }));
  process.stderr.write(`wrote ${flags.out} (embeddings [${rows.length}, ${c}])${failed ? ` of the ${images.length - failed} readable images` : ''}\n`);
}
