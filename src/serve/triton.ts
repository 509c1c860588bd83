// A Triton Inference Server model repository for the model `serve` serves, with the same
// /v2/models/<name>/infer contract (input "input" FP32 (N, 3, H, W) -> output "logits" FP32
// (N, classes)): what to point KServe / Triton at when one machine is not enough.
//
//   <repository>/<name>/config.pbtxt     platform onnxruntime_onnx, max_batch_size, dynamic_batching
//   <repository>/<name>/labels.txt       one class name per line (Triton's classification extension)
//   <repository>/<name>/1/model.onnx     the BN-folded inference graph, dynamic batch
//
// The configuration's fields are Triton's ModelConfig (model_config.proto, in protobuf text
// format); dims leave the batch dimension out when max_batch_size > 0.

import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { inferenceOnnx } from '../infer/graph.js';
import type { MobileNetV2 } from '../models/mobilenetv2.js';
import { writeFileAtomic } from '../platform/node/files.js';

export interface TritonOptions {
  /** The model's name: its folder and its /v2/models/<name> URL. */
  readonly name: string;
  /** Square input size. */
  readonly inputSize: number;
  /** Triton's max_batch_size. */
  readonly maxBatch: number;
  /** dynamic_batching's max_queue_delay_microseconds, in ms. */
  readonly maxDelayMs: number;
  readonly labels?: readonly string[];
  /** ONNX metadata (weights, preprocessing, classes...). */
  readonly metadata?: Record<string, string>;
}

const quote = (s: string): string => JSON.stringify(s); // protobuf text format's string escapes are a superset of JSON's for what we write

/** config.pbtxt for the model: the text Triton reads. */
export function tritonConfig(o: TritonOptions & { readonly classes: number }): string {
  if (!/^[A-Za-z0-9_.-]+$/.test(o.name)) throw new RangeError(`name must be letters, digits, '_', '.' or '-' (a folder and a URL segment), got ${JSON.stringify(o.name)}`);
  if (!Number.isInteger(o.maxBatch) || o.maxBatch < 1) throw new RangeError(`maxBatch must be an integer >= 1, got ${o.maxBatch}`);
  if (!(o.maxDelayMs >= 0)) throw new RangeError(`maxDelayMs must be a number >= 0, got ${o.maxDelayMs}`);
  return [
    `# Triton Inference Server model configuration, written by mobilenetv2 export --triton.`,
    `# The same contract as mobilenetv2 serve's /v2/models/${o.name}/infer: "input" FP32 [N, 3, ${o.inputSize}, ${o.inputSize}] -> "logits" FP32 [N, ${o.classes}].`,
    `name: ${quote(o.name)}`,
    `platform: "onnxruntime_onnx"`,
    `max_batch_size: ${o.maxBatch}`,
    `input [`,
    `  {`,
    `    name: "input"`,
    `    data_type: TYPE_FP32`,
    `    format: FORMAT_NCHW`,
    `    dims: [ 3, ${o.inputSize}, ${o.inputSize} ]`,
    `  }`,
    `]`,
    `output [`,
    `  {`,
    `    name: "logits"`,
    `    data_type: TYPE_FP32`,
    `    dims: [ ${o.classes} ]`,
    ...(o.labels ? [`    label_filename: "labels.txt"`] : []),
    `  }`,
    `]`,
    `dynamic_batching {`,
    `  max_queue_delay_microseconds: ${Math.round(o.maxDelayMs * 1000)}`,
    `}`,
    '',
  ].join('\n');
}

/** Write the repository's files for `model` (eval mode is set and restored); returns the paths written. */
export async function writeTritonRepository(repository: string, model: MobileNetV2, o: TritonOptions): Promise<string[]> {
  const config = tritonConfig({ ...o, classes: model.numClasses }); // checks the options before anything is written
  if (o.labels && o.labels.length !== model.numClasses) throw new RangeError(`labels: ${o.labels.length} names for ${model.numClasses} classes`);
  if (o.labels?.some((l) => /[\r\n]/.test(l))) throw new RangeError('labels: a class name holds a line break (labels.txt has one name per line)');
  const dir = join(repository, o.name);
  await mkdir(join(dir, '1'), { recursive: true });
  const modes = [...model.namedModules()].map(([, m]) => [m, m.training] as const);
  let onnx: Uint8Array;
  try {
    onnx = inferenceOnnx(model.eval(), { inputSize: o.inputSize, batch: 'N' }, o.metadata); // input "input" (N, 3, S, S) -> "logits" (N, classes)
  } finally {
    for (const [m, t] of modes) m.training = t;
  }
  const written = [join(dir, '1', 'model.onnx'), join(dir, 'config.pbtxt')];
  await writeFileAtomic(written[0]!, onnx);
  if (o.labels) {
    written.push(join(dir, 'labels.txt'));
    await writeFileAtomic(written[2]!, o.labels.join('\n') + '\n');
  }
  await writeFileAtomic(written[1]!, config); // last: a repository with a config has all its files
  return written;
}
