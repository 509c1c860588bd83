// MobileNetV2 (Sandler et al. 2018), as the seed defines it. Module names and nesting are
// torchvision's mobilenet_v2, so state-dict keys are identical: features.0.0.weight,
// features.1.conv.0.0.weight, ..., classifier.1.weight.

import type { Value } from '../graph/ir.js';
import { Generator, fill_, kaimingNormalFanOut_, normal_ } from '../nn/init.js';
import { AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Dropout, Linear, ReLU6, Sequential } from '../nn/layers.js';
import { Module, type EmitContext } from '../nn/module.js';

/**
 * Round `ch` to the nearest multiple of `divisor`, at least `minCh` (default `divisor`);
 * if rounding down loses more than 10%, go up one step.
 */
export function makeDivisible(ch: number, divisor = 8, minCh?: number): number {
  const min = minCh ?? divisor;
  let newCh = Math.max(min, Math.floor(ch + divisor / 2) - (Math.floor(ch + divisor / 2) % divisor));
  // Make sure that round down does not go down by more than 10%.
  if (newCh < 0.9 * ch) newCh += divisor;
  return newCh;
}

/** Conv2d (no bias) + BatchNorm2d + ReLU6; "same" padding for odd kernels. */
export class ConvBNReLU extends Sequential {
  override readonly typeName: string = 'ConvBNReLU';
  constructor(inChannel: number, outChannel: number, kernelSize = 3, stride = 1, groups = 1) {
    const padding = (kernelSize - 1) >> 1;
    super(
      new Conv2d(inChannel, outChannel, kernelSize, { stride, padding, groups, bias: false }),
      new BatchNorm2d(outChannel),
      new ReLU6(),
    );
  }
}

export class InvertedResidual extends Module {
  readonly typeName = 'InvertedResidual';
  readonly useShortcut: boolean;
  readonly conv: Sequential;

  constructor(inChannel: number, outChannel: number, stride: number, expandRatio: number) {
    super();
    const hiddenChannel = Math.round(inChannel * expandRatio);
    this.useShortcut = stride === 1 && inChannel === outChannel;

    const layers: Module[] = [];
    if (expandRatio !== 1) {
      layers.push(new ConvBNReLU(inChannel, hiddenChannel, 1)); // pw
    }
    layers.push(
      new ConvBNReLU(hiddenChannel, hiddenChannel, 3, stride, hiddenChannel), // dw
      new Conv2d(hiddenChannel, outChannel, 1, { bias: false }), // pw-linear
      new BatchNorm2d(outChannel), // no ReLU: the linear bottleneck
    );
    this.conv = this.addModule('conv', new Sequential(...layers));
  }

  forward(ctx: EmitContext, x: Value): Value {
    const y = this.conv.call(ctx, x);
    return this.useShortcut ? ctx.graph.op1('Add', [x, y]) : y;
  }
}

/** How the last 1x1 conv's width follows alpha. */
export type LastChannelRule = 'seed' | 'paper';

export interface MobileNetV2Options {
  numClasses?: number;
  /** Width multiplier. */
  alpha?: number;
  roundNearest?: number;
  dropout?: number;
  /**
   * 'seed': last channel = makeDivisible(1280 * alpha), as the seed does.
   * 'paper': makeDivisible(1280 * max(1, alpha)), as the paper, torchvision, Keras and every
   * published checkpoint of alpha < 1 do. The two agree for alpha >= 1.
   */
  lastChannel?: LastChannelRule;
  /** Seed of the weight initialisation. */
  seed?: number;
}

// t: expansion factor, c: output channels, n: repeats, s: stride of the first repeat
export const INVERTED_RESIDUAL_SETTING: readonly (readonly [number, number, number, number])[] = [
  // t, c, n, s
  [1, 16, 1, 1],
  [6, 24, 2, 2],
  [6, 32, 3, 2],
  [6, 64, 4, 2],
  [6, 96, 3, 1],
  [6, 160, 3, 2],
  [6, 320, 1, 1],
];

export class MobileNetV2 extends Module {
  readonly typeName = 'MobileNetV2';
  readonly numClasses: number;
  readonly alpha: number;
  readonly lastChannel: number;
  readonly lastChannelRule: LastChannelRule;
  readonly features: Sequential;
  readonly avgpool: AdaptiveAvgPool2d;
  readonly classifier: Sequential;

  constructor(opts: MobileNetV2Options = {}, setting = INVERTED_RESIDUAL_SETTING) {
    super();
    const { numClasses = 1000, alpha = 1.0, roundNearest = 8, dropout = 0.2, lastChannel = 'seed', seed = 0 } = opts;
    if (!Number.isInteger(numClasses) || numClasses < 1) throw new RangeError(`MobileNetV2: numClasses must be an integer >= 1, got ${numClasses}`);
    if (!(alpha > 0) || !Number.isFinite(alpha)) throw new RangeError(`MobileNetV2: alpha must be > 0, got ${alpha}`);
    if (!Number.isInteger(roundNearest) || roundNearest < 1) throw new RangeError(`MobileNetV2: roundNearest must be an integer >= 1, got ${roundNearest}`);
    if (lastChannel !== 'seed' && lastChannel !== 'paper') throw new RangeError(`MobileNetV2: lastChannel must be 'seed' or 'paper', got ${String(lastChannel)}`);
    this.numClasses = numClasses;
    this.alpha = alpha;
    this.lastChannelRule = lastChannel;

    let inputChannel = makeDivisible(32 * alpha, roundNearest);
    this.lastChannel = makeDivisible(1280 * (lastChannel === 'seed' ? alpha : Math.max(1.0, alpha)), roundNearest);

    const features: Module[] = [new ConvBNReLU(3, inputChannel, 3, 2)]; // conv1
    for (const [t, c, n, s] of setting) {
      const outputChannel = makeDivisible(c * alpha, roundNearest);
      for (let i = 0; i < n; i++) {
        const stride = i === 0 ? s : 1;
        features.push(new InvertedResidual(inputChannel, outputChannel, stride, t));
        inputChannel = outputChannel;
      }
    }
    features.push(new ConvBNReLU(inputChannel, this.lastChannel, 1)); // conv2
    this.features = this.addModule('features', new Sequential(...features));
    this.avgpool = this.addModule('avgpool', new AdaptiveAvgPool2d([1, 1]));
    this.classifier = this.addModule('classifier', new Sequential(new Dropout(dropout), new Linear(this.lastChannel, numClasses)));

    this.initWeights(seed);
  }

  /** The seed's init: kaiming normal (fan_out) convs, BN ones/zeros, Linear N(0, 0.01) with zero bias. */
  initWeights(seed: number): void {
    const gen = new Generator(seed);
    for (const [, m] of this.namedModules()) {
      if (m instanceof Conv2d) {
        kaimingNormalFanOut_(m.params.get('weight')!.data, gen);
        const b = m.params.get('bias');
        if (b) fill_(b.data, 0);
      } else if (m instanceof BatchNorm2d) {
        fill_(m.params.get('weight')!.data, 1);
        fill_(m.params.get('bias')!.data, 0);
      } else if (m instanceof Linear) {
        normal_(m.params.get('weight')!.data, 0.01, gen);
        fill_(m.params.get('bias')!.data, 0);
      }
    }
  }

  forward(ctx: EmitContext, x: Value): Value {
    const g = ctx.graph;
    x = this.features.call(ctx, x); // (N, 3, H, W) -> (N, last, H/32, W/32)
    x = this.avgpool.call(ctx, x); // -> (N, last, 1, 1)
    x = g.op1('Flatten', [x], { axis: 1 }); // -> (N, last)
    return this.classifier.call(ctx, x); // -> (N, numClasses)
  }
}

export const mobilenetV2x25 = (opts: Omit<MobileNetV2Options, 'alpha'> = {}) => new MobileNetV2({ ...opts, alpha: 0.25 });
export const mobilenetV2x50 = (opts: Omit<MobileNetV2Options, 'alpha'> = {}) => new MobileNetV2({ ...opts, alpha: 0.5 });
export const mobilenetV2x75 = (opts: Omit<MobileNetV2Options, 'alpha'> = {}) => new MobileNetV2({ ...opts, alpha: 0.75 });
export const mobilenetV2x100 = (opts: Omit<MobileNetV2Options, 'alpha'> = {}) => new MobileNetV2({ ...opts, alpha: 1.0 });
