import { relative } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { writeTritonRepository } from '../serve/triton.js';
import { inferenceOnnx } from '../infer/graph.js';
import { writePth } from '../weights/pth.js';
import { writeSafetensors } from '../weights/safetensors.js';
import { shapeStr } from '../tensor.js';
import { resolvePreset, withInputSize } from '../data/transforms.js';
import { onnxMetadata } from '../infer/export.js';
import { addModelOptions, buildModel, positiveInt, presetFlag, runCommand, weightsName, type ModelFlags } from './common.js';
import { usage } from './errors.js';
import { checkOutputFolders, writeFileAtomic } from './files.js';

interface ExportFlags extends ModelFlags {
  onnx?: string;
  safetensors?: string;
  pth?: string;
  pthFormat: 'zip' | 'legacy';
  foldBn: boolean;
  batch?: number;
  preset?: string;
  triton?: string;
  name: string;
  maxBatch: number;
  maxDelayMs: number;
}

function nonNegative(name: string) {
  return (v: string): number => {
    const x = Number(v);
    if (!Number.isFinite(x) || x < 0) throw new InvalidArgumentError(`${name} must be a number >= 0, got "${v}"`);
    return x;
  };
}

export function exportCommand(): Command {
  const cmd = new Command('export')
    .description('write the model as ONNX (opset 17) and/or its state dict as .safetensors / .pth (torchvision keys: torch.load + load_state_dict(strict=True) accept it)')
    .option('--weights <name|file>', 'registry name, hf:<org>/<name>, a transformers/timm checkpoint folder, or a .pth/.safetensors file (default: the seeded random init)')
    .option('--preset <name>', "preprocessing recorded in the ONNX metadata: torchvision-v1, torchvision-v2, hf, tf, timm (default: the weights')")
    .option('--onnx <file>', 'ONNX file to write (input "input" N x 3 x H x W, output "logits")')
    .option('--safetensors <file>', 'state dict as safetensors')
    .option('--pth <file>', 'state dict as a PyTorch .pth')
    .addOption(new Option('--pth-format <format>', 'torch.save format').choices(['zip', 'legacy']).default('zip'))
    .option('--no-fold-bn', 'ONNX: keep BatchNorm as its own operator')
    .option('--batch <n>', 'ONNX: fixed batch size (default: dynamic)', positiveInt('--batch'))
    .option('--triton <repository>', 'write a Triton model repository: <repository>/<name>/config.pbtxt (dynamic batching), labels.txt and 1/model.onnx, serving the same /v2 contract as `serve`')
    .option('--name <name>', 'Triton: the model name (its folder and /v2/models/<name>)', 'mobilenetv2')
    .option('--max-batch <n>', 'Triton: max_batch_size', positiveInt('--max-batch'), 32)
    .option('--max-delay-ms <ms>', "Triton: dynamic batching's max queue delay", nonNegative('--max-delay-ms'), 2)
    .option('--seed <n>', 'weight-init seed when no --weights is given', positiveInt('--seed', 0), 0);
  addModelOptions(cmd).action((flags: ExportFlags) =>
    runCommand(async () => {
      if (!flags.onnx && !flags.safetensors && !flags.pth && !flags.triton) throw usage('nothing to export: give --onnx, --safetensors, --pth and/or --triton');
      if (flags.triton && flags.batch) throw usage('--triton needs a dynamic batch (Triton batches requests itself): leave out --batch');
      if (flags.triton && !/^[A-Za-z0-9_.-]+$/.test(flags.name)) throw usage(`--name must be letters, digits, '_', '.' or '-' (a folder and a URL segment), got "${flags.name}"`);
      await checkOutputFolders([flags.onnx, flags.safetensors, flags.pth]);
      const override = presetFlag(flags.preset);
      const { model, source, preset: own, family, labels } = await buildModel(flags);
      if (!flags.weights) process.stderr.write(`warning: no --weights: exporting the random init (seed ${flags.seed ?? 0}), which classifies nothing\n`);
      const preset = override ?? own;
      const size = flags.inputSize ?? (preset === undefined ? 224 : resolvePreset(preset).crop);
      const spec = preset === undefined ? undefined : withInputSize(preset, size);
      const meta = onnxMetadata(model, {
        weights: source ? weightsName(flags.weights!, source) : `random init (seed ${flags.seed ?? 0})`,
        family,
        labels,
        preset: spec ? { name: typeof preset === 'string' ? preset : 'checkpoint', spec } : undefined,
        inputSize: size,
      });
      if ((flags.safetensors || flags.pth) && (model.tfPadding || model.bnEps !== 1e-5 || model.stageRepeats.join() !== '1,2,3,4,3,3,1')) {
        // the keys are torchvision's, but torchvision's mobilenet_v2 would compute it differently
        process.stderr.write(`note: this network uses${model.tfPadding ? ' TF SAME padding' : ''}${model.bnEps !== 1e-5 ? ` BatchNorm eps ${model.bnEps}` : ''}${model.stageRepeats.join() !== '1,2,3,4,3,3,1' ? ` blocks per stage ${shapeStr(model.stageRepeats)}` : ''}: torchvision's mobilenet_v2 loads these keys only with the same settings (recorded in the metadata)\n`);
      }
      if (flags.onnx) {
        await writeFileAtomic(flags.onnx, inferenceOnnx(model.eval(), { inputSize: size, foldBN: flags.foldBn, batch: flags.batch ?? 'N' }, meta));
        process.stderr.write(`wrote ${flags.onnx} (input [${flags.batch ?? 'N'}, 3, ${size}, ${size}])\n`);
      }
      if (flags.triton) {
        const files = await writeTritonRepository(flags.triton, model, { name: flags.name, inputSize: size, maxBatch: flags.maxBatch, maxDelayMs: flags.maxDelayMs, labels, metadata: meta });
        process.stderr.write(`wrote the Triton model repository ${flags.triton}: ${files.map((f) => relative(flags.triton!, f)).join(', ')} (model "${flags.name}", input [N, 3, ${size}, ${size}], max batch ${flags.maxBatch})\n`);
      }
      const sd = model.stateDict();
      if (flags.safetensors) {
        await writeFileAtomic(flags.safetensors, writeSafetensors(sd, meta));
        process.stderr.write(`wrote ${flags.safetensors} (${sd.size} tensors)\n`);
      }
      if (flags.pth) {
        await writeFileAtomic(flags.pth, writePth(sd, { format: flags.pthFormat }));
        process.stderr.write(`wrote ${flags.pth} (${sd.size} tensors, ${flags.pthFormat} format)\n`);
      }
    }),
  );
  return cmd;
}
