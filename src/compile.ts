// Model -> inference graph -> ONNX. The one place where a model meets the IR for inference.

import { Graph, type Value } from './graph/ir.js';
import { foldBatchNorm } from './graph/passes.js';
import { emit, type Module } from './nn/module.js';
import { toOnnx } from './onnx/export.js';

export const MIN_INPUT_SIZE = 32;

export interface InferenceGraphOptions {
  /** Spatial input size [H, W] (or one number for square inputs). Default 224. */
  inputSize?: number | readonly [number, number];
  /** Batch dimension: a number, or a symbol for a dynamic batch. Default 'N'. */
  batch?: number | string;
  /** Fold BatchNorm into the preceding convs. Default true. */
  foldBN?: boolean;
  inputName?: string;
  outputName?: string;
}

export function inputHW(size: InferenceGraphOptions['inputSize'] = 224): [number, number] {
  const [h, w] = typeof size === 'number' ? [size, size] : size;
  for (const d of [h, w]) {
    if (!Number.isInteger(d) || d < MIN_INPUT_SIZE) {
      throw new RangeError(`input size must be an integer >= ${MIN_INPUT_SIZE} (the network downsamples by 32), got ${d}`);
    }
  }
  return [h, w];
}

/** The eval-mode graph of `model`: input (N, 3, H, W) float32 -> logits. */
export function inferenceGraph(model: Module, opts: InferenceGraphOptions = {}): Graph {
  if (model.training) throw new Error('inferenceGraph: call model.eval() first');
  const [h, w] = inputHW(opts.inputSize);
  const g = new Graph();
  const x: Value = g.input(opts.inputName ?? 'input', [opts.batch ?? 'N', 3, h, w]);
  g.output(emit(model, g, x), opts.outputName ?? 'logits');
  g.prune();
  if (opts.foldBN ?? true) foldBatchNorm(g);
  return g;
}

export function inferenceOnnx(model: Module, opts: InferenceGraphOptions = {}, metadata: Record<string, string> = {}): Uint8Array {
  return toOnnx(inferenceGraph(model, opts), { metadata });
}
