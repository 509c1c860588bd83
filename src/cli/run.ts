import { Command, Option } from 'commander';
import { Predictor } from '../infer/predictor.js';
import { nodeBackend } from '../platform/node/ort.js';
import { shapeStr } from '../tensor.js';
import { readSafetensors, writeSafetensors } from '../weights/safetensors.js';
import { weightsName, addModelOptions, buildNetwork, deviceFlag, positiveInt, runCommand, type ModelFlags } from './common.js';
import { badInput } from './errors.js';
import { checkOutputFolders, readUserFile, writeFileAtomic } from './files.js';
import type { Device } from '../infer/backend.js';

interface RunFlags extends ModelFlags {
  input: string;
  output: string;
  device: Device;
  threads?: number;
  foldBn: boolean;
}

export function runTensorCommand(): Command {
  const cmd = new Command('run')
    .description("run the network on a tensor: reads `input` (N x 3 x H x W float32) from a safetensors file, writes `logits` (the parity tool: feed it what you fed PyTorch)")
    .requiredOption('--weights <name|file>', 'registry name or .pth/.safetensors file')
    .requiredOption('--input <file>', 'safetensors file holding tensor "input"')
    .requiredOption('--output <file>', 'safetensors file to write tensor "logits" to')
    .addOption(new Option('--device <device>', 'where ONNX Runtime runs the network').argParser(deviceFlag).default('cpu'))
    .option('--threads <n>', 'CPU threads for ONNX Runtime', positiveInt('--threads'))
    .option('--no-fold-bn', 'keep BatchNorm as its own operator (default: folded into the convs)');
  addModelOptions(cmd, { inputSize: false }).action((flags: RunFlags) =>
    runCommand(async () => {
      await checkOutputFolders([flags.output]);
      const { tensors } = readSafetensors(await readUserFile(flags.input), flags.input);
      const input = tensors.get('input');
      if (!input) throw badInput(`${flags.input}: no tensor named "input" (found ${tensors.size}: ${[...tensors.keys()].slice(0, 5).join(', ') || 'none'}${tensors.size > 5 ? ', ...' : ''})`);
      if (input.dtype !== 'float32' || input.shape.length !== 4 || input.shape[1] !== 3) {
        throw badInput(`${flags.input}: "input" must be float32 N x 3 x H x W, got ${input.dtype} ${shapeStr(input.shape)}`);
      }
      if (input.shape[2]! < 32 || input.shape[3]! < 32) throw badInput(`${flags.input}: "input" is ${input.shape[2]}x${input.shape[3]}; the network needs at least 32x32`);
      const { network, source, inputSize } = await buildNetwork(flags);
      if (inputSize !== undefined && (input.shape[2] !== inputSize || input.shape[3] !== inputSize)) throw badInput(`${flags.input}: "input" is ${input.shape[2]}x${input.shape[3]}, but the ONNX graph of ${flags.weights} takes ${inputSize}x${inputSize}`);
      const predictor = new Predictor(network, nodeBackend, { device: flags.device, threads: flags.threads, foldBN: flags.foldBn });
      try {
        const { logits } = await predictor.run(input);
        await writeFileAtomic(flags.output, writeSafetensors(new Map([['logits', logits]]), { weights: source ? weightsName(flags.weights!, source) : '', input: flags.input }));
        process.stderr.write(`wrote logits ${shapeStr(logits.shape)} to ${flags.output}\n`);
      } finally {
        await predictor.release();
      }
    }),
  );
  return cmd;
}
