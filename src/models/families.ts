// The published MobileNetV2 families as options of our MobileNetV2. Each rule was read off the
// family's own source (docs/interop.md has the references):
//   transformers  MobileNetV2Config -> channelRule 'hf', tf_padding, layer_norm_eps (1e-3),
//                 finegrained_output (last conv 1280 for depth_multiplier < 1), first_layer_is_expansion
//   timm          _gen_mobilenet_v2(channel_multiplier, depth_multiplier, fix_stem_head)
//   keras / TF    keras.applications.MobileNetV2(alpha): SAME padding, BN eps 1e-3, int(c * alpha)

import { WeightsError, describe } from '../weights/errors.js';
import { bool, jsonObject, num, obj, str, strs } from '../weights/fields.js';
import { roundHalfEven } from '../numbers.js';
import { makeDivisible, type ChannelRule, type MobileNetV2Options } from './mobilenetv2.js';

/**
 * How each family turns the table's widths into channels at width multiplier alpha and divisor d:
 * the blocks' outputs, the stem, the expansion. A new family is one entry.
 */
export const CHANNEL_RULES: Readonly<Record<ChannelRule, { block(c: number, alpha: number, d: number): number; stem(alpha: number, d: number): number; hidden(inCh: number, t: number, d: number): number }>> = {
  // torchvision (and timm's round_channels): makeDivisible(c * alpha); the expansion round(in * t)
  torchvision: { block: (c, a, d) => makeDivisible(c * a, d), stem: (a, d) => makeDivisible(32 * a, d), hidden: (i, t) => Math.round(i * t) },
  // transformers: makeDivisible(round(c * alpha)) and the expansion makeDivisible(round(in * t))
  hf: { block: (c, a, d) => makeDivisible(roundHalfEven(c * a), d), stem: (a, d) => makeDivisible(roundHalfEven(32 * a), d), hidden: (i, t, d) => makeDivisible(roundHalfEven(i * t), d) },
  // keras.applications: makeDivisible(int(c * alpha)) for blocks, the stem makeDivisible(32 * alpha), the expansion in * t
  keras: { block: (c, a, d) => makeDivisible(Math.trunc(c * a), d), stem: (a, d) => makeDivisible(32 * a, d), hidden: (i, t) => Math.round(i * t) },
};

/** A model's widths by its family's rule: block(c), the stem, the expansion, the last conv. */
export function familyWidths(o: { channelRule: ChannelRule; alpha: number; roundNearest: number; stemChannels?: number; lastChannel: 'seed' | 'paper' | number }) {
  const r = CHANNEL_RULES[o.channelRule];
  const block = (c: number) => r.block(c, o.alpha, o.roundNearest);
  return {
    block,
    stem: o.stemChannels ?? r.stem(o.alpha, o.roundNearest),
    hidden: (inCh: number, t: number) => r.hidden(inCh, t, o.roundNearest),
    // 'seed' scales 1280 with alpha; 'paper' only above 1; a number is that many channels (timm's 110d/120d)
    last: typeof o.lastChannel === 'number' ? o.lastChannel : o.lastChannel === 'seed' || o.alpha > 1 ? block(1280) : 1280,
  };
}

/** timm's per-stage depth: each stage repeats ceil(n * d) blocks, the first and last stage kept at n. */
export function stageRepeats(ns: readonly number[], depthMultiplier: number): number[] {
  return ns.map((n, i) => (i === 0 || i === ns.length - 1 || depthMultiplier === 1 ? n : Math.ceil(n * depthMultiplier)));
}

/** Channel divisors above this build no MobileNetV2 anyone trained (published: 8). */
const MAX_DIVISOR = 256;

/** Width multipliers and input sizes of the TF-slim / Keras / HF ImageNet checkpoints. */
export const PUBLISHED_ALPHAS = [0.35, 0.5, 0.75, 1.0, 1.3, 1.4] as const;
export const PUBLISHED_SIZES = [96, 128, 160, 192, 224] as const;

/** The TensorFlow-trained MobileNetV2 (Keras / TF-slim): 1001 classes with background, SAME padding, eps 1e-3. */
export function kerasOptions(alpha: number, opts: MobileNetV2Options = {}): MobileNetV2Options {
  return { alpha, channelRule: 'keras', tfPadding: true, bnEps: 1e-3, lastChannel: 'paper', ...opts };
}

/** A transformers `config.json` (MobileNetV2Config); absent fields take transformers' defaults. */
export interface HfConfig {
  model_type?: string;
  architectures?: string[];
  depth_multiplier?: number;
  depth_divisible_by?: number;
  min_depth?: number;
  expand_ratio?: number;
  output_stride?: number;
  first_layer_is_expansion?: boolean;
  finegrained_output?: boolean;
  hidden_act?: string;
  tf_padding?: boolean;
  layer_norm_eps?: number;
  num_channels?: number;
  num_labels?: number;
  id2label?: Record<string, string>;
  image_size?: number;
  classifier_dropout_prob?: number;
}

/**
 * MobileNetV2Config -> our options; anything we do not build, and any field of the wrong type,
 * is a WeightsError naming the file and the field.
 */
export function hfOptions(config: HfConfig, file: string): MobileNetV2Options {
  const cfg = jsonObject(config, file);
  const bad = (field: string, v: unknown, want: string) => new WeightsError(`${file}: ${field} = ${describe(v)} is not supported (${want})`);
  const modelType = str(cfg, 'model_type', file);
  if (modelType !== undefined && modelType !== 'mobilenet_v2') throw bad('model_type', modelType, "expected 'mobilenet_v2'");
  const divisor = num(cfg, 'depth_divisible_by', file, { int: true, min: 1, max: MAX_DIVISOR }) ?? 8;
  const minDepth = num(cfg, 'min_depth', file, { int: true, min: 1 }) ?? 8;
  if (minDepth !== divisor) throw bad('min_depth', minDepth, `must equal depth_divisible_by (${divisor})`);
  const expand = num(cfg, 'expand_ratio', file);
  if ((expand ?? 6) !== 6) throw bad('expand_ratio', expand, 'MobileNetV2 expands by 6');
  const stride = num(cfg, 'output_stride', file);
  if ((stride ?? 32) !== 32) throw bad('output_stride', stride, 'dilated (segmentation) backbones are not built; 32 only');
  const act = str(cfg, 'hidden_act', file);
  if ((act ?? 'relu6') !== 'relu6') throw bad('hidden_act', act, 'relu6 only');
  const channels = num(cfg, 'num_channels', file);
  if ((channels ?? 3) !== 3) throw bad('num_channels', channels, '3 only');
  const alpha = num(cfg, 'depth_multiplier', file, { above: 0 }) ?? 1.0;
  const labels = obj(cfg, 'id2label', file);
  if (labels !== undefined) {
    for (const [k, v] of Object.entries(labels)) if (typeof v !== 'string') throw new WeightsError(`${file}: id2label[${describe(k)}] = ${describe(v)} is not a string`);
    if (Object.keys(labels).length === 0 && cfg['num_labels'] == null) throw bad('id2label', labels, 'at least one label');
  }
  const numClasses = num(cfg, 'num_labels', file, { int: true, min: 1 }) ?? (labels ? Object.keys(labels).length : 1001);
  const architectures = strs(cfg, 'architectures', file);
  const classifier = !architectures || architectures.includes('MobileNetV2ForImageClassification');
  return {
    alpha,
    numClasses,
    roundNearest: divisor,
    channelRule: 'hf',
    tfPadding: bool(cfg, 'tf_padding', file) ?? true,
    bnEps: num(cfg, 'layer_norm_eps', file, { above: 0 }) ?? 1e-3,
    // finegrained_output keeps 1280 for depth_multiplier < 1 (the paper's rule); off: 1280 scaled
    lastChannel: (bool(cfg, 'finegrained_output', file) ?? true) ? 'paper' : 'seed',
    firstLayerIsExpansion: bool(cfg, 'first_layer_is_expansion', file) ?? true,
    dropout: 0.2,
    includeTop: classifier,
    ...(classifier ? {} : { pooling: 'avg' as const }),
  };
}

/** timm's mobilenetv2_* entry points: channel multiplier, depth multiplier, fix_stem_head. */
export const TIMM_VARIANTS: Readonly<Record<string, { alpha: number; depth: number; fixStemHead: boolean }>> = {
  mobilenetv2_035: { alpha: 0.35, depth: 1.0, fixStemHead: false },
  mobilenetv2_050: { alpha: 0.5, depth: 1.0, fixStemHead: false },
  mobilenetv2_075: { alpha: 0.75, depth: 1.0, fixStemHead: false },
  mobilenetv2_100: { alpha: 1.0, depth: 1.0, fixStemHead: false },
  mobilenetv2_140: { alpha: 1.4, depth: 1.0, fixStemHead: false },
  mobilenetv2_110d: { alpha: 1.1, depth: 1.2, fixStemHead: true },
  mobilenetv2_120d: { alpha: 1.2, depth: 1.4, fixStemHead: true },
};

/**
 * timm's architecture name (a pretrained tag after '.' is ignored: 'mobilenetv2_100.ra_in1k')
 * -> our options. timm builds with PyTorch padding and BN eps 1e-5, rounds channels as
 * torchvision (round_channels = make_divisible(c * multiplier)), keeps the last conv at
 * max(1280, 1280 * multiplier), or stem 32 / head 1280 with fix_stem_head.
 */
export function timmOptions(architecture: string, numClasses = 1000): MobileNetV2Options {
  const arch = architecture.split('.')[0]!;
  const v = TIMM_VARIANTS[arch];
  if (!v) {
    throw new RangeError(`timm architecture "${architecture}" is not a MobileNetV2 we build. Should be one of: ${Object.keys(TIMM_VARIANTS).join(', ')}`);
  }
  return {
    alpha: v.alpha,
    numClasses,
    channelRule: 'torchvision',
    bnEps: 1e-5,
    depthMultiplier: v.depth,
    ...(v.fixStemHead ? { stemChannels: 32, lastChannel: 1280 } : { lastChannel: 'paper' as const }),
  };
}
