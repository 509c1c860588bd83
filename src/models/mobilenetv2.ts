// MobileNetV2 (Sandler et al. 2018), as the seed defines it. Module names and nesting are
// torchvision's mobilenet_v2, so state-dict keys are identical: features.0.0.weight,
// features.1.conv.0.0.weight, ..., classifier.1.weight.
//
// The options also build the TensorFlow-trained networks (Keras, TF-slim, Hugging Face's
// google/mobilenet_v2_*) and timm's variants exactly: TF "SAME" padding, BatchNorm eps 1e-3, each
// family's channel rounding, a fixed stem/head, timm's per-stage depth multiplier, and Keras'
// includeTop / pooling / classifierActivation. Their checkpoints are mapped onto these module
// names (src/models/keymaps.ts); the rules and where each comes from: docs/interop.md.

import type { Value } from '../graph/ir.js';
import { fill_, kaimingNormalFanOut_, normal_ } from '../nn/init.js';
import { Generator } from '../random.js';
import { AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Dropout, Linear, ReLU6, Sequential } from '../nn/layers.js';
import { Module, type EmitContext } from '../nn/module.js';
import { CHANNEL_RULES, familyWidths, stageRepeats } from './families.js';


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

/** How the convolutions pad and normalise: PyTorch's (default) or TensorFlow's. */
export interface LayerStyle {
  /** TensorFlow "SAME" padding computed from each conv's input size (asymmetric for stride 2 on even sizes). */
  readonly tfPadding?: boolean;
  /** BatchNorm epsilon: 1e-5 (PyTorch) or 1e-3 (TensorFlow-trained checkpoints). */
  readonly bnEps?: number;
}

/** Conv2d (no bias) + BatchNorm2d + ReLU6; "same" padding for odd kernels. */
export class ConvBNReLU extends Sequential {
  override readonly typeName: string = 'ConvBNReLU';
  constructor(inChannel: number, outChannel: number, kernelSize = 3, stride = 1, groups = 1, style: LayerStyle = {}) {
    const padding = style.tfPadding ? 'same-tf' : (kernelSize - 1) >> 1;
    super(
      new Conv2d(inChannel, outChannel, kernelSize, { stride, padding, groups, bias: false }),
      new BatchNorm2d(outChannel, style.bnEps ?? 1e-5),
      new ReLU6(),
    );
  }
}

export class InvertedResidual extends Module {
  readonly typeName = 'InvertedResidual';
  readonly useShortcut: boolean;
  readonly conv: Sequential;

  /**
   * `hiddenChannel` defaults to torchvision's round(in * t); `forceExpand` keeps the 1x1
   * expansion even for t = 1 (HF's `first_layer_is_expansion: false`).
   */
  constructor(
    inChannel: number,
    outChannel: number,
    stride: number,
    expandRatio: number,
    style: LayerStyle & { hiddenChannel?: number; forceExpand?: boolean } = {},
  ) {
    super();
    const hiddenChannel = style.hiddenChannel ?? Math.round(inChannel * expandRatio);
    this.useShortcut = stride === 1 && inChannel === outChannel;

    const layers: Module[] = [];
    if (expandRatio !== 1 || style.forceExpand) {
      layers.push(new ConvBNReLU(inChannel, hiddenChannel, 1, 1, 1, style)); // pw
    }
    layers.push(
      new ConvBNReLU(hiddenChannel, hiddenChannel, 3, stride, hiddenChannel, style), // dw
      new Conv2d(hiddenChannel, outChannel, 1, { bias: false }), // pw-linear
      new BatchNorm2d(outChannel, style.bnEps ?? 1e-5), // no ReLU: the linear bottleneck
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

/**
 * How a block's width c becomes channels at width multiplier alpha (divisor 8):
 * 'torchvision' makeDivisible(c * alpha) (also timm's round_channels);
 * 'hf'    makeDivisible(round(c * alpha)), and the expansion makeDivisible(round(in * t)) (transformers);
 * 'keras' makeDivisible(int(c * alpha)) for block outputs, makeDivisible(32 * alpha) for the stem,
 *         expansion in * t unrounded (keras.applications.MobileNetV2).
 */
export type ChannelRule = 'torchvision' | 'hf' | 'keras';

/** Keras' pooling for includeTop: false. */
export type Pooling = 'avg' | 'max';

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
   * A number: exactly that many channels (timm's 110d/120d keep 1280).
   */
  lastChannel?: LastChannelRule | number;
  /** Seed of the weight initialisation. */
  seed?: number;
  /** TensorFlow "SAME" padding at every conv (HF `tf_padding`, Keras, TF-slim). Default false. */
  tfPadding?: boolean;
  /** BatchNorm epsilon. Default 1e-5 (PyTorch); TensorFlow-trained checkpoints use 1e-3. */
  bnEps?: number;
  /** Channel rounding of the family the weights come from. Default 'torchvision'. */
  channelRule?: ChannelRule;
  /** Stem width, unscaled by alpha (timm's fix_stem_head: 32). Default: the channel rule on 32. */
  stemChannels?: number;
  /**
   * timm's depth multiplier: each stage repeats ceil(n * d) blocks, the first and last stage
   * kept at n (timm `decode_arch_def(depth_multiplier, fix_first_last=True)`, mobilenetv2_110d:
   * 1.2, _120d: 1.4). Not HF's `depth_multiplier`, which is our alpha. Default 1.
   */
  depthMultiplier?: number;
  /** HF `first_layer_is_expansion`: false adds a 1x1 expansion conv to the first block. Default true. */
  firstLayerIsExpansion?: boolean;
  /** Keras include_top: false drops avgpool + classifier (the output is the feature map or its pooling). Default true. */
  includeTop?: boolean;
  /** With includeTop false: 'avg' or 'max' global pooling -> (N, C); undefined -> the (N, C, h, w) map. */
  pooling?: Pooling;
  /** 'softmax' appends a Softmax to the classifier (Keras' default); null (default) outputs logits. */
  classifierActivation?: 'softmax' | null;
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
  /** Classes of the head (changes with resetClassifier). */
  numClasses: number;
  readonly alpha: number;
  readonly lastChannel: number;
  readonly lastChannelRule: LastChannelRule | 'fixed';
  readonly tfPadding: boolean;
  readonly bnEps: number;
  readonly channelRule: ChannelRule;
  readonly includeTop: boolean;
  readonly pooling: Pooling | undefined;
  readonly classifierActivation: 'softmax' | null;
  /** The blocks per stage actually built (the setting's n, times timm's depth multiplier). */
  readonly stageRepeats: readonly number[];
  readonly features: Sequential;
  readonly avgpool: AdaptiveAvgPool2d | undefined;
  readonly classifier: Sequential | undefined;

  constructor(
    private readonly opts: MobileNetV2Options = {},
    private readonly setting = INVERTED_RESIDUAL_SETTING,
  ) {
    super();
    const o = checkOptions(opts);
    checkSetting(setting);
    this.numClasses = o.numClasses;
    this.alpha = o.alpha;
    this.tfPadding = o.tfPadding;
    this.bnEps = o.bnEps;
    this.channelRule = o.channelRule;
    this.includeTop = o.includeTop;
    this.pooling = o.pooling;
    this.classifierActivation = o.classifierActivation;
    this.lastChannelRule = typeof o.lastChannel === 'number' ? 'fixed' : o.lastChannel;
    const style: LayerStyle = { tfPadding: o.tfPadding, bnEps: o.bnEps };
    const widths = familyWidths(o); // the family's channel rounding (families.ts)

    // building first layer
    let inputChannel = widths.stem;
    this.lastChannel = widths.last;
    this.stageRepeats = stageRepeats(setting.map(([, , n]) => n), o.depthMultiplier);
    const features: Module[] = [new ConvBNReLU(3, inputChannel, 3, 2, 1, style)];
    // building inverted residual blocks
    setting.forEach(([t, c, , s], stage) => {
      const outputChannel = widths.block(c);
      for (let i = 0; i < this.stageRepeats[stage]!; i++) {
        const stride = i === 0 ? s : 1;
        const forceExpand = features.length === 1 && !o.firstLayerIsExpansion;
        features.push(new InvertedResidual(inputChannel, outputChannel, stride, t, { ...style, hiddenChannel: widths.hidden(inputChannel, t), forceExpand }));
        inputChannel = outputChannel;
      }
    });
    // building last several layers
    features.push(new ConvBNReLU(inputChannel, this.lastChannel, 1, 1, 1, style));
    this.features = this.addModule('features', new Sequential(...features));
    if (o.includeTop) {
      this.avgpool = this.addModule('avgpool', new AdaptiveAvgPool2d([1, 1]));
      this.classifier = this.addModule('classifier', new Sequential(new Dropout(o.dropout), new Linear(this.lastChannel, o.numClasses)));
    }

    this.initWeights(o.seed);
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

  /** The options that build this architecture again (the head at its current size; no init seed). */
  config(): MobileNetV2Options & { setting?: (readonly [number, number, number, number])[] } {
    const { seed: _s, ...o } = this.opts;
    return { ...o, numClasses: this.numClasses, ...(this.setting === INVERTED_RESIDUAL_SETTING ? {} : { setting: this.setting.map((r) => [...r] as const) }) };
  }

  /** An independent copy: the same architecture, weights, buffers and train/eval modes. */
  clone(): MobileNetV2 {
    const m = new MobileNetV2({ ...this.opts, numClasses: this.numClasses }, this.setting);
    m.loadStateDict(this.stateDict());
    const modes = new Map([...this.namedModules()].map(([k, x]) => [k, x.training]));
    for (const [k, x] of m.namedModules()) x.training = modes.get(k) ?? x.training;
    return m;
  }

  /**
   * A new head for `numClasses` (fine-tuning on other classes): Linear(lastChannel, numClasses)
   * initialised as the seed does, N(0, 0.01) and zero bias; the backbone is kept.
   */
  resetClassifier(numClasses: number, seed = 0): void {
    if (!this.classifier) throw new Error('resetClassifier: this model has no classifier (includeTop: false)');
    if (!Number.isInteger(numClasses) || numClasses < 1) throw new RangeError(`resetClassifier: numClasses must be an integer >= 1, got ${numClasses}`);
    const head = new Linear(this.lastChannel, numClasses);
    normal_(head.params.get('weight')!.data, 0.01, new Generator(seed));
    this.classifier.children.set('1', head);
    this.numClasses = numClasses;
  }

  forward(ctx: EmitContext, x: Value): Value {
    const g = ctx.graph;
    x = this.features.call(ctx, x); // (N, 3, H, W) -> (N, last, H/32, W/32)
    if (!this.avgpool || !this.classifier) {
      if (this.pooling === undefined) return x; // the feature map (N, last, h, w)
      return g.within(this.pooling === 'avg' ? 'global_average_pool' : 'global_max_pool', () => {
        const p = g.op1(this.pooling === 'avg' ? 'GlobalAveragePool' : 'GlobalMaxPool', [x]); // -> (N, last, 1, 1)
        return g.op1('Flatten', [p], { axis: 1 }); // -> (N, last)
      });
    }
    x = this.avgpool.call(ctx, x); // -> (N, last, 1, 1)
    x = g.op1('Flatten', [x], { axis: 1 }); // -> (N, last)
    x = this.classifier.call(ctx, x); // -> (N, numClasses)
    if (this.classifierActivation === 'softmax') x = g.within('softmax', () => g.op1('Softmax', [x], { axis: 1 })); // -> probabilities
    return x;
  }
}

export const mobilenetV2x25 = (opts: Omit<MobileNetV2Options, 'alpha'> = {}) => new MobileNetV2({ ...opts, alpha: 0.25 });
export const mobilenetV2x50 = (opts: Omit<MobileNetV2Options, 'alpha'> = {}) => new MobileNetV2({ ...opts, alpha: 0.5 });
export const mobilenetV2x75 = (opts: Omit<MobileNetV2Options, 'alpha'> = {}) => new MobileNetV2({ ...opts, alpha: 0.75 });
export const mobilenetV2x100 = (opts: Omit<MobileNetV2Options, 'alpha'> = {}) => new MobileNetV2({ ...opts, alpha: 1.0 });

/** The options with their defaults, each checked: a bad one is a RangeError naming it and its value. */
function checkOptions(opts: MobileNetV2Options) {
  const {
    numClasses = 1000, alpha = 1.0, roundNearest = 8, dropout = 0.2, lastChannel = 'seed', seed = 0,
    tfPadding = false, bnEps = 1e-5, channelRule = 'torchvision', stemChannels, depthMultiplier = 1,
    firstLayerIsExpansion = true, includeTop = true, pooling, classifierActivation = null,
  } = opts;
  const bad = (what: string): never => {
    throw new RangeError(`MobileNetV2: ${what}`);
  };
  if (!Number.isInteger(numClasses) || numClasses < 1) bad(`numClasses must be an integer >= 1, got ${numClasses}`);
  if (!(alpha > 0) || !Number.isFinite(alpha)) bad(`alpha must be > 0, got ${alpha}`);
  if (!Number.isInteger(roundNearest) || roundNearest < 1) bad(`roundNearest must be an integer >= 1, got ${roundNearest}`);
  if (lastChannel !== 'seed' && lastChannel !== 'paper' && !(Number.isInteger(lastChannel) && (lastChannel as number) >= 1)) bad(`lastChannel must be 'seed' or 'paper' (or a channel count), got ${String(lastChannel)}`);
  if (!(bnEps > 0)) bad(`bnEps must be > 0, got ${bnEps}`);
  if (!Object.hasOwn(CHANNEL_RULES, channelRule)) bad(`channelRule must be ${Object.keys(CHANNEL_RULES).map((r) => `'${r}'`).join(', ')}, got ${String(channelRule)}`);
  if (stemChannels !== undefined && !(Number.isInteger(stemChannels) && stemChannels >= 1)) bad(`stemChannels must be an integer >= 1, got ${stemChannels}`);
  if (!(depthMultiplier > 0) || !Number.isFinite(depthMultiplier)) bad(`depthMultiplier must be > 0, got ${depthMultiplier}`);
  if (pooling !== undefined && pooling !== 'avg' && pooling !== 'max') bad(`pooling must be 'avg', 'max' or undefined, got ${String(pooling)}`);
  if (pooling !== undefined && includeTop) bad('pooling applies only with includeTop: false (the classifier always average-pools)');
  if (classifierActivation !== null && classifierActivation !== 'softmax') bad(`classifierActivation must be 'softmax' or null, got ${String(classifierActivation)}`);
  return { numClasses, alpha, roundNearest, dropout, lastChannel, seed, tfPadding, bnEps, channelRule, stemChannels, depthMultiplier, firstLayerIsExpansion, includeTop, pooling, classifierActivation };
}

/** torchvision's check of the (t, c, n, s) table: non-empty, four positive integers a row. */
function checkSetting(setting: readonly (readonly number[])[]): void {
  if (!Array.isArray(setting) || setting.length === 0 || setting.some((r) => !Array.isArray(r) || r.length !== 4 || r.some((v) => !Number.isInteger(v) || v < 1))) {
    throw new RangeError(`MobileNetV2: the inverted residual setting must be a non-empty list of [t, c, n, s] rows of positive integers, got ${JSON.stringify(setting)}`);
  }
}
