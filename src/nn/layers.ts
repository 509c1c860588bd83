// The layers MobileNetV2 is made of, named and shaped as torch.nn's, emitting ONNX operators.

import type { Value } from '../graph/ir.js';
import { float32, int64, shapeStr } from '../tensor.js';
import { Module, type EmitContext } from './module.js';

export class Sequential extends Module {
  readonly typeName: string = 'Sequential';
  constructor(...modules: Module[]) {
    super();
    modules.forEach((m, i) => this.addModule(String(i), m));
  }
  forward(ctx: EmitContext, x: Value): Value {
    for (const m of this.children.values()) x = m.call(ctx, x);
    return x;
  }
}

export interface Conv2dOptions {
  stride?: number;
  /** Symmetric zero padding (PyTorch's), or 'same-tf': TensorFlow's "SAME", from the input size. */
  padding?: number | 'same-tf';
  groups?: number;
  bias?: boolean;
}

/**
 * TensorFlow's "SAME" padding along one axis (tf.nn notes on padding): the output is
 * ceil(in / stride); the total padding is split with the extra pixel AFTER. For a 3x3 stride-2
 * conv on an even input that is 0 before and 1 after (PyTorch's padding=1 puts 1 on both sides).
 */
export function tfSamePads(inSize: number, kernel: number, stride: number): [number, number] {
  const total = Math.max(inSize % stride === 0 ? kernel - stride : kernel - (inSize % stride), 0);
  const before = Math.floor(total / 2);
  return [before, total - before];
}

export class Conv2d extends Module {
  readonly typeName = 'Conv2d';
  readonly stride: number;
  readonly padding: number | 'same-tf';
  readonly groups: number;
  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernelSize: number,
    opts: Conv2dOptions = {},
  ) {
    super();
    this.stride = opts.stride ?? 1;
    this.padding = opts.padding ?? 0;
    this.groups = opts.groups ?? 1;
    if (inChannels % this.groups || outChannels % this.groups) {
      throw new RangeError(`Conv2d: channels ${inChannels} -> ${outChannels} are not divisible by groups=${this.groups}`);
    }
    this.addParameter('weight', float32([outChannels, inChannels / this.groups, kernelSize, kernelSize]));
    if (opts.bias ?? true) this.addParameter('bias', float32([outChannels]));
  }
  forward(ctx: EmitContext, x: Value): Value {
    const inputs = [x, this.tensor(ctx, 'weight')];
    if (this.params.has('bias')) inputs.push(this.tensor(ctx, 'bias'));
    let pads: number[];
    if (this.padding === 'same-tf') {
      // computed from this conv's own input size, so it holds at any image size
      const [h, w] = [x.shape[2], x.shape[3]];
      if (typeof h !== 'number' || typeof w !== 'number') throw new Error(`Conv2d: 'same-tf' padding needs a static H x W, got ${shapeStr(x.shape)}`);
      const [top, bottom] = tfSamePads(h, this.kernelSize, this.stride);
      const [left, right] = tfSamePads(w, this.kernelSize, this.stride);
      pads = [top, left, bottom, right]; // ONNX order: begins (H, W), then ends (H, W)
    } else {
      const p = this.padding;
      pads = [p, p, p, p];
    }
    // (N, Cin, H, W) -> (N, Cout, Ho, Wo)
    return ctx.graph.op1('Conv', inputs, {
      kernel_shape: [this.kernelSize, this.kernelSize],
      strides: [this.stride, this.stride],
      pads,
      group: this.groups,
    });
  }
}

export class BatchNorm2d extends Module {
  readonly typeName = 'BatchNorm2d';
  constructor(
    readonly numFeatures: number,
    readonly eps = 1e-5,
    readonly momentum = 0.1,
  ) {
    super();
    this.addParameter('weight', float32([numFeatures], new Float32Array(numFeatures).fill(1)));
    this.addParameter('bias', float32([numFeatures]));
    this.addBuffer('running_mean', float32([numFeatures]));
    this.addBuffer('running_var', float32([numFeatures], new Float32Array(numFeatures).fill(1)));
    this.addBuffer('num_batches_tracked', int64([]));
  }
  forward(ctx: EmitContext, x: Value): Value {
    const t = (n: string) => this.tensor(ctx, n);
    if (this.training) {
      if (!ctx.train) throw new Error('BatchNorm2d: train-mode graphs are built by the training compiler; call model.eval() for inference');
      // (N, C, H, W) -> (N, C, H, W) normalised with the batch statistics, which also update the running ones
      const [y, mean, variance] = ctx.graph.op('BatchNormTrain', [x, t('weight'), t('bias')], { epsilon: this.eps }, 3);
      const [n, , h, w] = x.shape as number[];
      ctx.train.batchStats(ctx.paths.get(this) ?? '', mean!, variance!, n! * h! * w!, this.momentum);
      return y!;
    }
    // (N, C, H, W) -> (N, C, H, W), normalised with the running statistics
    return ctx.graph.op1('BatchNormalization', [x, t('weight'), t('bias'), t('running_mean'), t('running_var')], { epsilon: this.eps });
  }
}

export class ReLU6 extends Module {
  readonly typeName = 'ReLU6';
  forward(ctx: EmitContext, x: Value): Value {
    const g = ctx.graph;
    return g.op1('Clip', [x, g.scalar(0), g.scalar(6)]);
  }
}

export class Dropout extends Module {
  readonly typeName = 'Dropout';
  constructor(readonly p = 0.5) {
    super();
    if (!(p >= 0 && p < 1)) throw new RangeError(`Dropout: p must be in [0, 1), got ${p}`);
  }
  forward(ctx: EmitContext, x: Value): Value {
    if (!this.training || this.p === 0) return x; // identity in eval mode
    if (!ctx.train) throw new Error('Dropout: train-mode graphs are built by the training compiler; call model.eval() for inference');
    return ctx.graph.op1('Mul', [x, ctx.train.dropoutMask(ctx.paths.get(this) ?? '', x, this.p)]);
  }
}

export class Linear extends Module {
  readonly typeName = 'Linear';
  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
  ) {
    super();
    this.addParameter('weight', float32([outFeatures, inFeatures]));
    this.addParameter('bias', float32([outFeatures]));
  }
  forward(ctx: EmitContext, x: Value): Value {
    // (N, in) x (out, in)^T + (out) -> (N, out)
    return ctx.graph.op1('Gemm', [x, this.tensor(ctx, 'weight'), this.tensor(ctx, 'bias')], { transB: 1 });
  }
}

export class AdaptiveAvgPool2d extends Module {
  readonly typeName = 'AdaptiveAvgPool2d';
  constructor(readonly outputSize: 1 | [1, 1] = [1, 1]) {
    super();
  }
  forward(ctx: EmitContext, x: Value): Value {
    return ctx.graph.op1('GlobalAveragePool', [x]); // (N, C, H, W) -> (N, C, 1, 1)
  }
}
