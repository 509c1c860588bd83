// Model -> inference graph -> ONNX: the one place where a model meets the IR for inference.
// Exports, the Predictor's sessions (CLI, load(), the browser) and int8 all start here.

import { Graph, type Value } from '../graph/ir.js';
import { foldBatchNorm } from '../graph/passes.js';
import { emit, type Module } from '../nn/module.js';
import { toOnnx } from '../onnx/export.js';

export const MIN_INPUT_SIZE = 32;

/**
 * What an inference graph can output besides the model's own output:
 *   embedding      (N, C)        the global average of the last feature map (the pooled features);
 *   logits         (N, classes)  the classifier's output before any softmax the model applies;
 *   probabilities  (N, classes)  the softmax of the logits.
 */
export type Head = 'embedding' | 'logits' | 'probabilities';

export interface InferenceGraphOptions {
  /** Spatial input size [H, W] (or one number for square inputs). Default 224. */
  inputSize?: number | readonly [number, number];
  /** Batch dimension: a number, or a symbol for a dynamic batch. Default 'N'. */
  batch?: number | string;
  /** Fold BatchNorm into the preceding convs. Default true. */
  foldBN?: boolean;
  inputName?: string;
  /** Name of the model's own output (logits, or what includeTop / pooling / softmax make it). Default 'logits'. */
  outputName?: string;
  /** Extra outputs, named as the head (a model without a classifier has no logits / probabilities). */
  heads?: readonly Head[];
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

/** The eval-mode graph of `model`: input (N, 3, H, W) float32 -> its output, and the heads asked for. */
export function inferenceGraph(model: Module, opts: InferenceGraphOptions = {}): Graph {
  if (model.training) throw new Error('inferenceGraph: call model.eval() first');
  const [h, w] = inputHW(opts.inputSize);
  const heads = new Set(opts.heads ?? []);
  const g = new Graph();
  const x: Value = g.input(opts.inputName ?? 'input', [opts.batch ?? 'N', 3, h, w]);
  let featureMap: Value | undefined; // (N, C, h, w)
  let logits: Value | undefined; // (N, classes), before any softmax
  const out = emit(model, g, x, {
    hook: (_m, key, y) => {
      if (key === 'features') featureMap = y;
      if (key === 'classifier') logits = y;
    },
  });
  const outputName = opts.outputName ?? 'logits';
  g.output(out, outputName);
  if (heads.has('embedding')) {
    if (!featureMap) throw new Error('inferenceGraph: the model has no `features` module to embed with');
    const f = featureMap;
    g.within('embed', () => g.output(g.op1('Flatten', [g.op1('GlobalAveragePool', [f])], { axis: 1 }), 'embedding')); // (N, C, h, w) -> (N, C)
  }
  if (logits) {
    const l = logits;
    if (heads.has('logits') && outputName !== 'logits') g.within('logits', () => g.output(g.op1('Identity', [l]), 'logits'));
    if (heads.has('probabilities')) g.within('probabilities', () => g.output(g.op1('Softmax', [l], { axis: 1 }), 'probabilities'));
  }
  g.prune();
  if (opts.foldBN ?? true) foldBatchNorm(g);
  return g;
}

export function inferenceOnnx(model: Module, opts: InferenceGraphOptions = {}, metadata: Record<string, string> = {}): Uint8Array {
  return toOnnx(inferenceGraph(model, opts), { metadata });
}
