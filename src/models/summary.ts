// torchsummary's printout (sksq96/pytorch-summary), computed from the graph's shape inference:
// no numbers are run. One row per module that is not a Sequential (ConvBNReLU is one) and not
// the model itself, numbered in the order forwards finish; then our multiply-adds line.

import { Graph, type Shape } from '../graph/ir.js';
import { Conv2d, Linear, Sequential } from '../nn/layers.js';
import { emit, type Module } from '../nn/module.js';
import { inputHW } from '../infer/graph.js';
import { numel, shapeStr } from '../tensor.js';

export interface SummaryRow {
  name: string; // e.g. Conv2d-1
  key: string; // state-dict prefix, e.g. features.0.0
  outputShape: number[]; // batch as -1
  params: number;
  trainable: boolean | undefined; // undefined: the module has no weight
  macs: number;
}

export interface SummaryResult {
  rows: SummaryRow[];
  totalParams: number;
  trainableParams: number;
  macs: number;
  inputSizeMB: number;
  forwardBackwardMB: number;
  paramsMB: number;
  totalMB: number;
  text: string;
}

const RULE_EQ = '='.repeat(64);
const RULE_DASH = '-'.repeat(64);

/** Python's "{:,}". */
const grouped = (n: number): string => n.toLocaleString('en-US', { maximumFractionDigits: 0 });

/**
 * Python's "%0.2f". Both round the exact binary value; they differ only on exact ties, which for
 * two decimals are the multiples of 1/8 ending in 5 (0.125, 0.375...): Python goes to even, JS up.
 */
export function fixed2(x: number): string {
  const scaled = x * 100; // exact for multiples of 1/8 of modest size
  if (Number.isInteger(x * 8) && scaled - Math.floor(scaled) === 0.5) {
    const lo = Math.floor(scaled);
    return ((lo % 2 === 0 ? lo : lo + 1) / 100).toFixed(2);
  }
  return x.toFixed(2);
}

const pad = (s: string, w: number) => s.padStart(w);

/** torchsummary.summary(model, inputSize) as text (and its numbers), with our multiply-adds line. */
export function summary(model: Module, inputSize: readonly [number, number, number] = [3, 224, 224]): SummaryResult {
  const [c, h, w] = inputSize;
  inputHW([h, w]);
  const wasTraining = model.training;
  model.eval(); // shapes are the same in both modes; eval emission needs no training compiler
  const rows: SummaryRow[] = [];
  try {
    const g = new Graph();
    const x = g.input('input', [2, c, h, w]); // batch 2, as torchsummary feeds
    emit(model, g, x, {
      hook(m, key, out) {
        if (m instanceof Sequential || m === model) return;
        const weight = m.params.get('weight');
        const bias = m.params.get('bias');
        const params = (weight ? numel(weight.data.shape) : 0) + (bias ? numel(bias.data.shape) : 0);
        const shape = [-1, ...(out.shape.slice(1) as number[])];
        rows.push({ name: `${m.typeName}-${rows.length + 1}`, key, outputShape: shape, params, trainable: weight?.requiresGrad, macs: macs(m, out.shape) });
      },
    });
  } finally {
    model.train(wasTraining);
  }

  let totalParams = 0;
  let totalOutput = 0;
  let trainableParams = 0;
  let totalMacs = 0;
  const lines = [RULE_DASH, `${pad('Layer (type)', 20)}  ${pad('Output Shape', 25)} ${pad('Param #', 15)}`, RULE_EQ];
  for (const r of rows) {
    lines.push(`${pad(r.name, 20)}  ${pad(shapeStr(r.outputShape), 25)} ${pad(grouped(r.params), 15)}`);
    totalParams += r.params;
    totalOutput += r.outputShape.reduce((a, b) => a * b, 1); // negative: batch is -1
    if (r.trainable === true) trainableParams += r.params;
    totalMacs += r.macs;
  }
  const MB = 1024 ** 2;
  const inputSizeMB = Math.abs((c * h * w * -1 * 4) / MB);
  const forwardBackwardMB = Math.abs((2 * totalOutput * 4) / MB); // x2 for gradients
  const paramsMB = Math.abs((totalParams * 4) / MB);
  const totalMB = paramsMB + forwardBackwardMB + inputSizeMB;
  lines.push(
    RULE_EQ,
    `Total params: ${grouped(totalParams)}`,
    `Trainable params: ${grouped(trainableParams)}`,
    `Non-trainable params: ${grouped(totalParams - trainableParams)}`,
    RULE_DASH,
    `Input size (MB): ${fixed2(inputSizeMB)}`,
    `Forward/backward pass size (MB): ${fixed2(forwardBackwardMB)}`,
    `Params size (MB): ${fixed2(paramsMB)}`,
    `Estimated Total Size (MB): ${fixed2(totalMB)}`,
    `Multiply-adds: ${grouped(totalMacs)}`,
    RULE_DASH,
  );
  return { rows, totalParams, trainableParams, macs: totalMacs, inputSizeMB, forwardBackwardMB, paramsMB, totalMB, text: lines.join('\n') + '\n' };
}

/** Multiply-adds of one sample: convs and linears (BN, ReLU6, adds and pooling are not counted). */
function macs(m: Module, out: Shape): number {
  if (m instanceof Conv2d) return numel(out.slice(1) as number[]) * (m.inChannels / m.groups) * m.kernelSize * m.kernelSize;
  if (m instanceof Linear) return m.inFeatures * m.outFeatures;
  return 0;
}
