// mobilenetv2 quantize --weights w.pth --calibration photos/ --onnx m.int8.onnx: post-training int8
// quantization (quant/): the BN-folded inference graph calibrated on real images, written as an
// ONNX QDQ graph ONNX Runtime runs with integer kernels, carrying the same metadata as export's
// fp32 files. predict / embed / eval / load() / mobilenetv2/web take the file as --weights.

import { Command, InvalidArgumentError, Option } from 'commander';
import cliProgress from 'cli-progress';
import { resolvePreset, withInputSize } from '../data/transforms.js';
import type { Device } from '../infer/backend.js';
import { onnxMetadata } from '../infer/export.js';
import { toOnnx } from '../onnx/export.js';
import { loadBatch } from '../platform/node/image.js';
import { nodeBackend } from '../platform/node/ort.js';
import { CALIBRATION_METHODS, type ActivationType, type CalibrationMethod } from '../quant/calibrate.js';
import { evenlySpaced, quantizationMetadata, quantizeNetwork, QUANTIZE_DEFAULTS } from '../quant/quantize.js';
import type { Tensor } from '../tensor.js';
import { addModelOptions, buildModel, deviceFlag, positiveInt, presetFlag, runCommand, weightsName, type ModelFlags } from './common.js';
import { EXIT } from './errors.js';
import { checkOutputFolders, writeFileAtomic } from './files.js';
import { imageList } from './images.js';
import { abortSignal } from './signals.js';

interface QuantizeFlags extends ModelFlags {
  calibration: string[];
  onnx: string;
  method: CalibrationMethod;
  percentile: number;
  perTensor?: boolean;
  activations: ActivationType;
  equalize?: boolean;
  biasCorrection?: boolean;
  images?: number;
  batchSize: number;
  preset?: string;
  device: Device;
  threads?: number;
}

function percentileFlag(v: string): number {
  const x = Number(v);
  if (!(x > 50 && x <= 100)) throw new InvalidArgumentError(`--percentile must be a number in (50, 100], got "${v}"`);
  return x;
}

export function quantizeCommand(): Command {
  const cmd = new Command('quantize')
    .description('post-training int8 quantization: calibrate on real images, write an ONNX QDQ graph (8-bit weights and activations) that predict, embed, load() and the browser run')
    .requiredOption('--weights <name|file>', 'weights to quantize: registry name, hf:<org>/<name>, a checkpoint folder, or a .pth/.safetensors file')
    .requiredOption('--calibration <images...>', 'calibration images: files and/or folders (searched recursively); a few hundred photos like the ones the model will see')
    .requiredOption('--onnx <file>', 'the int8 ONNX file to write')
    .addOption(new Option('--method <name>', 'how each activation range is chosen').choices([...CALIBRATION_METHODS]).default(QUANTIZE_DEFAULTS.method))
    .option('--percentile <p>', 'with --method percentile: the percentile bounding each range', percentileFlag, QUANTIZE_DEFAULTS.percentile)
    .option('--per-tensor', 'one weight scale per tensor (for runtimes without per-channel int8); cross-layer equalization and bias correction on')
    .addOption(new Option('--activations <type>', 'activation integers').choices(['uint8', 'int8']).default(QUANTIZE_DEFAULTS.activations))
    .option('--equalize', 'cross-layer equalization (default: with --per-tensor)')
    .option('--no-equalize', 'no cross-layer equalization')
    .option('--bias-correction', 'biases absorb the weights\' mean rounding error (default: with --per-tensor)')
    .option('--no-bias-correction', 'no bias correction')
    .option('--images <n>', 'calibrate on n of the images, evenly spaced over the list (default: all)', positiveInt('--images'))
    .option('--batch-size <n>', 'calibration images per forward pass', positiveInt('--batch-size'), 8)
    .option('--preset <name>', "preprocessing: torchvision-v1, torchvision-v2, hf, tf, timm (default: the weights')")
    .addOption(new Option('--device <device>', 'where ONNX Runtime runs the float network during calibration').argParser(deviceFlag).default('cpu'))
    .option('--threads <n>', 'CPU threads for ONNX Runtime (default: all cores)', positiveInt('--threads'));
  addModelOptions(cmd).action((flags: QuantizeFlags) => runCommand(() => quantizeCli(flags)));
  return cmd;
}

async function quantizeCli(flags: QuantizeFlags): Promise<void> {
  const override = presetFlag(flags.preset);
  await checkOutputFolders([flags.onnx]);
  const all = await imageList(flags.calibration);
  const { model, source, preset: own, family, labels } = await buildModel(flags);
  const base = override ?? own ?? 'torchvision-v1';
  const size = flags.inputSize ?? resolvePreset(base).crop;
  const spec = withInputSize(base, size);
  const files = evenlySpaced(all.length, flags.images ?? all.length).map((i) => all[i]!);
  const perTensor = flags.perTensor ?? false;
  const opts = { method: flags.method, percentile: flags.percentile, weights: perTensor ? ('per-tensor' as const) : ('per-channel' as const), activations: flags.activations, equalize: flags.equalize, biasCorrection: flags.biasCorrection };
  let said = false;
  const say = () => {
    // once the first images have decoded: a run whose images all fail prints only their errors
    if (!said) process.stderr.write(`calibrating on ${files.length} image${files.length === 1 ? '' : 's'} at ${size}x${size} (${flags.method}${flags.method === 'percentile' ? ` ${flags.percentile}` : ''}, ${opts.weights} weights, ${flags.activations} activations)\n`);
    if (!said) bar?.start(files.length, 0);
    said = true;
  };
  const bar = process.stderr.isTTY && files.length > flags.batchSize ? new cliProgress.SingleBar({ format: 'calibrate [{bar}] {value}/{total} images | ETA {eta}s', hideCursor: true }, cliProgress.Presets.shades_classic) : undefined;
  let failed = 0;
  // batches decoded one ahead of the network; an unreadable image is one line and is left out
  async function* batches(): AsyncGenerator<Tensor> {
    const chunks: string[][] = [];
    for (let i = 0; i < files.length; i += flags.batchSize) chunks.push(files.slice(i, i + flags.batchSize));
    let next = chunks.length ? loadBatch(chunks[0]!, spec) : undefined;
    for (let i = 0; i < chunks.length; i++) {
      const b = await next!;
      next = i + 1 < chunks.length ? loadBatch(chunks[i + 1]!, spec) : undefined;
      for (const e of b.errors) {
        failed++;
        bar?.stop();
        process.stderr.write(`mobilenetv2: ${e.message}\n`);
      }
      abortSignal.throwIfAborted();
      if (b.ok.length === 0) continue;
      say();
      yield b.tensor;
    }
  }
  let result: Awaited<ReturnType<typeof quantizeNetwork>>;
  try {
    result = await quantizeNetwork(model.eval(), batches(), nodeBackend, { ...opts, inputSize: size, total: files.length, session: { device: flags.device, threads: flags.threads }, onProgress: (done) => bar?.update(done) });
  } catch (e) {
    if (failed === files.length) {
      // every image said why on its own line
      if (failed > 1) process.stderr.write(`mobilenetv2: none of the ${failed} calibration images could be read\n`);
      process.exitCode = EXIT.INPUT;
      return;
    }
    throw e;
  } finally {
    bar?.stop();
  }
  const { graph, report } = result;
  const meta = onnxMetadata(model, {
    weights: weightsName(flags.weights!, source ?? flags.weights!),
    family,
    labels,
    preset: { name: typeof base === 'string' ? base : 'checkpoint', spec },
    inputSize: size,
  });
  const bytes = toOnnx(graph, { metadata: { ...meta, ...quantizationMetadata(report) } });
  await writeFileAtomic(flags.onnx, bytes);
  const convs = graph.nodes.filter((n) => n.op === 'Conv').length;
  process.stderr.write(`wrote ${flags.onnx} (${(bytes.length / 1e6).toFixed(2)} MB; ${convs} int8 convs, ${report.tensors} activation grids from ${report.images} images${report.equalizedPairs ? `, ${report.equalizedPairs} conv pairs equalized` : ''})\n`);
  if (failed > 0) {
    process.stderr.write(`mobilenetv2: ${failed} of ${files.length} calibration images could not be read\n`);
    process.exitCode = EXIT.PARTIAL;
  }
}
