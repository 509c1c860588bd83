// The published MobileNetV2 families as options of our MobileNetV2. Each rule was read off the
// family's own source (docs/interop.md has the references):
//   transformers  MobileNetV2Config -> channelRule 'hf', tf_padding, layer_norm_eps (1e-3),
//                 finegrained_output (last conv 1280 for depth_multiplier < 1), first_layer_is_expansion
//   timm          _gen_mobilenet_v2(channel_multiplier, depth_multiplier, fix_stem_head)
//   keras / TF    keras.applications.MobileNetV2(alpha): SAME padding, BN eps 1e-3, int(c * alpha)

import type { MobileNetV2Options } from './mobilenetv2.js';

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

/** MobileNetV2Config -> our options; anything we do not build is an Error naming the field. */
export function hfOptions(cfg: HfConfig, file: string): MobileNetV2Options {
  const bad = (field: string, v: unknown, want: string) => new Error(`${file}: ${field} = ${JSON.stringify(v)} is not supported (${want})`);
  if (cfg.model_type !== undefined && cfg.model_type !== 'mobilenet_v2') throw bad('model_type', cfg.model_type, "expected 'mobilenet_v2'");
  const divisor = cfg.depth_divisible_by ?? 8;
  if ((cfg.min_depth ?? 8) !== divisor) throw bad('min_depth', cfg.min_depth, `must equal depth_divisible_by (${divisor})`);
  if ((cfg.expand_ratio ?? 6) !== 6) throw bad('expand_ratio', cfg.expand_ratio, 'MobileNetV2 expands by 6');
  if ((cfg.output_stride ?? 32) !== 32) throw bad('output_stride', cfg.output_stride, 'dilated (segmentation) backbones are not built; 32 only');
  if ((cfg.hidden_act ?? 'relu6') !== 'relu6') throw bad('hidden_act', cfg.hidden_act, 'relu6 only');
  if ((cfg.num_channels ?? 3) !== 3) throw bad('num_channels', cfg.num_channels, '3 only');
  const alpha = cfg.depth_multiplier ?? 1.0;
  const numClasses = cfg.num_labels ?? (cfg.id2label ? Object.keys(cfg.id2label).length : 1001);
  const classifier = !cfg.architectures || cfg.architectures.includes('MobileNetV2ForImageClassification');
  return {
    alpha,
    numClasses,
    roundNearest: divisor,
    channelRule: 'hf',
    tfPadding: cfg.tf_padding ?? true,
    bnEps: cfg.layer_norm_eps ?? 1e-3,
    // finegrained_output keeps 1280 for depth_multiplier < 1 (the paper's rule); off: 1280 scaled
    lastChannel: (cfg.finegrained_output ?? true) ? 'paper' : 'seed',
    firstLayerIsExpansion: cfg.first_layer_is_expansion ?? true,
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
