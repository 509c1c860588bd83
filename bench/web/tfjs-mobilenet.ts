// MobileNetV2 in TensorFlow.js 4.22, from OUR weights (torchvision state-dict keys), for bench:web.
// Browser code: bundled with @tensorflow/tfjs by esbuild (tfjs-runner.ts builds it).
//
// Two builds of the same network:
//   buildTfjsMobileNetV2   inference as a converted tfjs graph model runs it: every BatchNorm
//                          folded into the conv before it, tf.fused.conv2d / fused.depthwiseConv2d
//                          with bias and relu6, fused matMul for the head. Doubles as a parity
//                          check of our ONNX path (same weights, same numbers in).
//   buildTfjsTrainable     a training step as a tfjs fine-tune runs it: conv, BatchNorm with batch
//                          statistics (tf.moments + tf.batchNorm, running stats updated), relu6,
//                          dropout 0.2 before the head, softmax cross-entropy, SGD.
//
// Padding: PyTorch pads (k-1)/2 on every side. tfjs' 'same' is TF SAME, which pads 0 before and
// 1 after for stride 2 on even sizes, so it is NOT used by default: a numeric pad is symmetric and
// tfjs floors the output size (Math.trunc in conv_util), exactly PyTorch's rule. The wasm kernels
// take the explicit pads (XNNPACK's TF SAME flag is only set for 'same'). `padding: 'tf-same'`
// builds the TF variant, for measuring what 'same' would cost in parity.
//
// Input: (N, 3, H, W) float32, NCHW as we feed ONNX Runtime; predict transposes it to NHWC
// (`inputLayout: 'NHWC'` skips that).

import * as tf from '@tensorflow/tfjs';
import { INVERTED_RESIDUAL_SETTING, makeDivisible } from '../../src/models/mobilenetv2.js';
import type { StateDict, Tensor } from '../../src/tensor.js';

export type Padding = 'torch' | 'tf-same';
export type Layout = 'NCHW' | 'NHWC';

/** One conv of the network, with the BatchNorm that follows it. */
export interface ConvSpec {
  /** State-dict prefix of the conv weight, e.g. 'features.2.conv.0.0'. */
  conv: string;
  /** State-dict prefix of its BatchNorm, e.g. 'features.2.conv.0.1'. */
  bn: string;
  depthwise: boolean;
  k: number;
  stride: number;
  cin: number;
  cout: number;
  /** ReLU6 after BN; false for the linear bottleneck. */
  relu6: boolean;
}

/** A run of convs; `residual` adds the block's input to its output (stride 1, in == out). */
export interface BlockSpec {
  name: string;
  convs: ConvSpec[];
  residual: boolean;
}

export interface Plan {
  blocks: BlockSpec[];
  lastChannel: number;
  numClasses: number;
}

export interface BuildOptions {
  /** Width multiplier the weights were made for (checked against their shapes). Default 1.0. */
  alpha?: number;
  /** BatchNorm epsilon. Default 1e-5 (PyTorch). */
  eps?: number;
  padding?: Padding;
  inputLayout?: Layout;
}

function get(sd: StateDict, key: string): Tensor {
  const t = sd.get(key);
  if (!t) throw new RangeError(`stateDict: missing key "${key}"`);
  if (t.dtype !== 'float32') throw new TypeError(`stateDict: "${key}" must be float32, got ${t.dtype}`);
  return t;
}

/**
 * The network's structure: strides from the (t, c, n, s) table, channels from the weights'
 * shapes, checked against makeDivisible(c * alpha) (torchvision's rule).
 */
export function planFromStateDict(sd: StateDict, alpha = 1.0): Plan {
  if (!(alpha > 0)) throw new RangeError(`planFromStateDict: alpha must be > 0, got ${alpha}`);
  const conv = (prefix: string, bn: string, stride: number, relu6: boolean, depthwise = false): ConvSpec => {
    const w = get(sd, `${prefix}.weight`); // (O, I / groups, k, k)
    const [cout, cinG, k] = w.shape as [number, number, number, number];
    if (depthwise && cinG !== 1) throw new RangeError(`planFromStateDict: ${prefix}.weight should be depthwise (C, 1, k, k), got [${w.shape.join(', ')}]`);
    return { conv: prefix, bn, depthwise, k, stride, cin: depthwise ? cout : cinG, cout, relu6 };
  };
  const expect = (what: string, got: number, want: number): void => {
    if (got !== want) throw new RangeError(`planFromStateDict: ${what} has ${got} channels, alpha ${alpha} gives ${want}`);
  };
  const blocks: BlockSpec[] = [];
  const stem = conv('features.0.0', 'features.0.1', 2, true); // conv1: 3x3 s2
  expect('features.0', stem.cout, makeDivisible(32 * alpha));
  blocks.push({ name: 'features.0', convs: [stem], residual: false });
  let i = 1;
  let cin = stem.cout;
  for (const [t, c, n, s] of INVERTED_RESIDUAL_SETTING) {
    for (let j = 0; j < n; j++, i++) {
      const p = `features.${i}.conv`;
      const stride = j === 0 ? s : 1;
      const expanded = sd.has(`${p}.3.weight`); // pw, dw, pw-linear, BN; else (t = 1) dw, pw-linear, BN
      if (expanded !== (t !== 1)) throw new RangeError(`planFromStateDict: features.${i} ${expanded ? 'has' : 'lacks'} an expansion conv, the table's t is ${t}`);
      const convs = expanded
        ? [conv(`${p}.0.0`, `${p}.0.1`, 1, true), conv(`${p}.1.0`, `${p}.1.1`, stride, true, true), conv(`${p}.2`, `${p}.3`, 1, false)]
        : [conv(`${p}.0.0`, `${p}.0.1`, stride, true, true), conv(`${p}.1`, `${p}.2`, 1, false)];
      const out = convs[convs.length - 1]!.cout;
      expect(`features.${i}`, out, makeDivisible(c * alpha));
      if (convs[0]!.cin !== cin) throw new RangeError(`planFromStateDict: features.${i} takes ${convs[0]!.cin} channels, the previous block gives ${cin}`);
      blocks.push({ name: `features.${i}`, convs, residual: stride === 1 && cin === out });
      cin = out;
    }
  }
  const last = conv(`features.${i}.0`, `features.${i}.1`, 1, true); // conv2: 1x1 to the last channel
  blocks.push({ name: `features.${i}`, convs: [last], residual: false });
  const fc = get(sd, 'classifier.1.weight'); // (classes, lastChannel)
  if (fc.shape[1] !== last.cout) throw new RangeError(`planFromStateDict: classifier.1.weight takes ${fc.shape[1]} features, features.${i} gives ${last.cout}`);
  return { blocks, lastChannel: last.cout, numClasses: fc.shape[0]! };
}

/** PyTorch conv weight (O, I, kh, kw) -> tfjs conv2d filter (kh, kw, I, O); depthwise (C, 1, kh, kw) -> (kh, kw, C, 1). */
function toHwio(w: Float32Array, o: number, i: number, k: number, scale?: Float64Array, depthwise = false): tf.Tensor4D {
  const out = new Float32Array(w.length);
  for (let a = 0; a < o; a++) {
    const s = scale ? scale[a]! : 1;
    for (let b = 0; b < i; b++) {
      for (let y = 0; y < k; y++) {
        for (let x = 0; x < k; x++) {
          const v = w[((a * i + b) * k + y) * k + x]! * s;
          // depthwise: (kh, kw, C, 1) with C = a; conv: (kh, kw, I, O)
          out[depthwise ? (y * k + x) * o + a : ((y * k + x) * i + b) * o + a] = v;
        }
      }
    }
  }
  return depthwise ? tf.tensor4d(out, [k, k, o, 1]) : tf.tensor4d(out, [k, k, i, o]);
}

/**
 * BatchNorm folded into the conv before it: w' = w * gamma / sqrt(var + eps),
 * b' = beta - mean * gamma / sqrt(var + eps) (in float64, then float32).
 */
export function foldBatchNorm(sd: StateDict, c: ConvSpec, eps: number): { filter: tf.Tensor4D; bias: tf.Tensor1D } {
  const w = get(sd, `${c.conv}.weight`).data as Float32Array;
  const gamma = get(sd, `${c.bn}.weight`).data as Float32Array;
  const beta = get(sd, `${c.bn}.bias`).data as Float32Array;
  const mean = get(sd, `${c.bn}.running_mean`).data as Float32Array;
  const variance = get(sd, `${c.bn}.running_var`).data as Float32Array;
  const scale = new Float64Array(c.cout);
  const bias = new Float32Array(c.cout);
  for (let o = 0; o < c.cout; o++) {
    scale[o] = gamma[o]! / Math.sqrt(variance[o]! + eps);
    bias[o] = beta[o]! - mean[o]! * scale[o]!;
  }
  return { filter: toHwio(w, c.cout, c.depthwise ? 1 : c.cin, c.k, scale, c.depthwise), bias: tf.tensor1d(bias) };
}

function pad(c: ConvSpec, padding: Padding): 'valid' | 'same' | number {
  if (c.k === 1) return 'valid';
  return padding === 'tf-same' ? 'same' : (c.k - 1) / 2; // symmetric, output floor((H + 2p - k) / s) + 1
}

export interface TfjsMobileNetV2 {
  plan: Plan;
  inputLayout: Layout;
  padding: Padding;
  /** (N, 3, H, W) (or NHWC with inputLayout 'NHWC') -> logits (N, classes); runs in tf.tidy. */
  predict(x: tf.Tensor4D): tf.Tensor2D;
  /** The weight tensors (on the backend active when built). */
  weights: tf.Tensor[];
  dispose(): void;
}

/** Inference network with BN folded into fused convs (tensors go to the backend active now). */
export function buildTfjsMobileNetV2(sd: StateDict, opts: BuildOptions = {}): TfjsMobileNetV2 {
  const { alpha = 1.0, eps = 1e-5, padding = 'torch', inputLayout = 'NCHW' } = opts;
  if (padding !== 'torch' && padding !== 'tf-same') throw new RangeError(`buildTfjsMobileNetV2: padding must be 'torch' or 'tf-same', got ${String(padding)}`);
  if (inputLayout !== 'NCHW' && inputLayout !== 'NHWC') throw new RangeError(`buildTfjsMobileNetV2: inputLayout must be 'NCHW' or 'NHWC', got ${String(inputLayout)}`);
  const plan = planFromStateDict(sd, alpha);
  const folded = plan.blocks.map((b) => b.convs.map((c) => ({ c, ...foldBatchNorm(sd, c, eps) })));
  const fcw = get(sd, 'classifier.1.weight');
  // (classes, C) -> (C, classes) for x @ W
  const fcW = tf.tidy(() => tf.transpose(tf.tensor2d(fcw.data as Float32Array, [plan.numClasses, plan.lastChannel])));
  const fcB = tf.tensor1d(get(sd, 'classifier.1.bias').data as Float32Array);
  const weights = [...folded.flat().flatMap((f) => [f.filter, f.bias]), fcW, fcB];
  return {
    plan,
    inputLayout,
    padding,
    weights,
    predict(x: tf.Tensor4D): tf.Tensor2D {
      return tf.tidy((): tf.Tensor2D => {
        let h: tf.Tensor4D = inputLayout === 'NCHW' ? tf.transpose(x, [0, 2, 3, 1]) : x; // (N, 3, H, W) -> (N, H, W, 3)
        plan.blocks.forEach((b, bi) => {
          const input = h;
          for (const { c, filter, bias } of folded[bi]!) {
            const args = { x: h, filter, strides: c.stride, pad: pad(c, padding), bias, activation: c.relu6 ? ('relu6' as const) : ('linear' as const) };
            h = c.depthwise ? tf.fused.depthwiseConv2d(args) : tf.fused.conv2d(args);
          }
          if (b.residual) h = tf.add(input, h);
        });
        const pooled = tf.mean(h, [1, 2]) as tf.Tensor2D; // (N, h, w, C) -> (N, C)
        return tf.fused.matMul({ a: pooled, b: fcW, bias: fcB }) as tf.Tensor2D; // (N, classes)
      });
    },
    dispose() {
      for (const t of weights) t.dispose();
    },
  };
}

export interface TrainOptions extends BuildOptions {
  /** BatchNorm running-statistics momentum (PyTorch's 0.1). */
  momentum?: number;
  /** Dropout before the classifier, as torchvision's (0.2); 0 for none. */
  dropout?: number;
  learningRate?: number;
}

/** One BatchNorm's batch statistics (kept out of the step's tidy), and how many values per channel. */
export interface BatchStats {
  mean: tf.Tensor1D;
  variance: tf.Tensor1D;
  count: number;
}

export interface TfjsTrainable {
  plan: Plan;
  /** Trainable variables: conv filters (HWIO, unfolded), BN gamma / beta, head. */
  variables: tf.Variable[];
  /** BN running mean / var (updated by each step, not trained). */
  running: tf.Variable[];
  /** Train-mode forward: (N, 3, H, W) -> logits (N, classes), batch statistics. */
  forward(x: tf.Tensor4D, stats?: BatchStats[]): tf.Tensor2D;
  /** One SGD step on (x, int32 labels): forward, loss, gradients, update, running stats. Returns the loss (a scalar tensor; caller disposes). */
  step(x: tf.Tensor4D, labels: tf.Tensor1D): tf.Scalar;
  dispose(): void;
}

/**
 * The same architecture for training as a tfjs fine-tune runs it: conv2d / depthwiseConv2d
 * (no bias), BatchNorm on batch statistics (tf.moments + tf.batchNorm), relu6, residual adds,
 * mean pool, dropout, dense; softmax cross-entropy; SGD.
 */
export function buildTfjsTrainable(sd: StateDict, opts: TrainOptions = {}): TfjsTrainable {
  const { alpha = 1.0, eps = 1e-5, padding = 'torch', inputLayout = 'NCHW', momentum = 0.1, dropout = 0.2, learningRate = 0.01 } = opts;
  const plan = planFromStateDict(sd, alpha);
  // tf.variable keeps its initial tensor alive as a second handle: made in a tidy, only the variable stays
  const variable = (make: () => tf.Tensor, trainable = true) => tf.tidy(() => tf.variable(make(), trainable));
  const vec = (key: string, trainable = true) => variable(() => tf.tensor1d(get(sd, key).data as Float32Array), trainable);
  const layers = plan.blocks.map((b) =>
    b.convs.map((c) => {
      const w = get(sd, `${c.conv}.weight`).data as Float32Array;
      return {
        c,
        filter: variable(() => toHwio(w, c.cout, c.depthwise ? 1 : c.cin, c.k, undefined, c.depthwise)),
        gamma: vec(`${c.bn}.weight`),
        beta: vec(`${c.bn}.bias`),
        mean: vec(`${c.bn}.running_mean`, false),
        variance: vec(`${c.bn}.running_var`, false),
      };
    }),
  );
  const fcW = variable(() => tf.transpose(tf.tensor2d(get(sd, 'classifier.1.weight').data as Float32Array, [plan.numClasses, plan.lastChannel])));
  const fcB = vec('classifier.1.bias');
  const variables = [...layers.flat().flatMap((l) => [l.filter, l.gamma, l.beta]), fcW, fcB];
  const running = layers.flat().flatMap((l) => [l.mean, l.variance]);
  const optimizer = tf.train.sgd(learningRate);

  const forward = (x: tf.Tensor4D, stats?: BatchStats[]): tf.Tensor2D => {
    let h: tf.Tensor4D = inputLayout === 'NCHW' ? tf.transpose(x, [0, 2, 3, 1]) : x; // (N, 3, H, W) -> (N, H, W, 3)
    plan.blocks.forEach((b, bi) => {
      const input = h;
      for (const l of layers[bi]!) {
        const { c } = l;
        const p = pad(c, padding);
        h = c.depthwise
          ? tf.depthwiseConv2d(h, l.filter as tf.Tensor4D, c.stride, p)
          : tf.conv2d(h, l.filter as tf.Tensor4D, c.stride, p);
        const m = tf.moments(h, [0, 1, 2]); // per channel over (N, h, w); biased variance, as PyTorch normalises
        if (stats) stats.push({ mean: tf.keep(m.mean as tf.Tensor1D), variance: tf.keep(m.variance as tf.Tensor1D), count: h.shape[0] * h.shape[1] * h.shape[2] });
        h = tf.batchNorm4d(h, m.mean as tf.Tensor1D, m.variance as tf.Tensor1D, l.beta as tf.Tensor1D, l.gamma as tf.Tensor1D, eps);
        if (c.relu6) h = tf.relu6(h);
      }
      if (b.residual) h = tf.add(input, h);
    });
    let pooled = tf.mean(h, [1, 2]) as tf.Tensor2D; // (N, h, w, C) -> (N, C)
    if (dropout > 0) pooled = tf.dropout(pooled, dropout) as tf.Tensor2D;
    return tf.add(tf.matMul(pooled, fcW), fcB); // (N, classes)
  };

  return {
    plan,
    variables,
    running,
    forward,
    step(x: tf.Tensor4D, labels: tf.Tensor1D): tf.Scalar {
      const stats: BatchStats[] = [];
      try {
        // in a tidy, for a step that throws. tfjs itself still keeps ~750 tensors then (on wasm,
        // no Conv2DBackpropFilter): engine.gradients frees its saved-for-backward clones only
        // after a complete backprop
        return tf.tidy(() => {
          const loss = optimizer.minimize(() => {
            const logits = forward(x, stats);
            return tf.losses.softmaxCrossEntropy(tf.oneHot(labels, plan.numClasses), logits) as tf.Scalar;
          }, true, variables)!;
          // running stats as PyTorch: (1 - m) * running + m * batch, the variance unbiased
          layers.flat().forEach((l, i) => {
            const s = stats[i]!;
            l.mean.assign(tf.add(tf.mul(l.mean, 1 - momentum), tf.mul(s.mean, momentum)));
            l.variance.assign(tf.add(tf.mul(l.variance, 1 - momentum), tf.mul(s.variance, (momentum * s.count) / Math.max(1, s.count - 1))));
          });
          return loss;
        });
      } finally {
        for (const s of stats) tf.dispose([s.mean, s.variance]);
      }
    },
    dispose() {
      tf.dispose([...variables, ...running]);
      optimizer.dispose();
    },
  };
}
