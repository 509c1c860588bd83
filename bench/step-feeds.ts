// Fixed feeds for running a compiled training step bare (benchmarks and profiles): the batch,
// one-hot targets, the model's parameters and running stats, zero optimizer state, dropout masks
// that keep everything (scaled), lr 0.01.

import * as ort from 'onnxruntime-node';
import type { CompiledStep } from '../src/train/compile.js';
import type { StateDict } from '../src/tensor.js';

export function stepFeeds(step: CompiledStep, sd: StateDict, input: Float32Array, batch: number, size: number, numClasses = 1000): Record<string, ort.Tensor> {
  const target = new Float32Array(batch * numClasses);
  for (let i = 0; i < batch; i++) target[i * numClasses + (i % numClasses)] = 1;
  const feeds: Record<string, ort.Tensor> = {
    input: new ort.Tensor('float32', input, [batch, 3, size, size]),
    target: new ort.Tensor('float32', target, [batch, numClasses]),
    lr: new ort.Tensor('float32', [0.01], []),
  };
  const count = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
  for (const st of step.state) feeds[st.name] = new ort.Tensor('float32', st.kind === 'optimizer' ? new Float32Array(count(st.shape)) : (sd.get(st.key)!.data as Float32Array), st.shape);
  for (const d of step.dropout) feeds[d.name] = new ort.Tensor('float32', new Float32Array(count(d.shape)).fill(1 / (1 - d.p)), d.shape);
  return feeds;
}
