// Other libraries' MobileNetV2 state dicts, renamed onto our (torchvision's) module names.
// The map is generated from the model we built, so it follows its blocks exactly: a checkpoint
// whose layout differs shows up as missing / unexpected keys, never as a silent misload.
//
//   ours (torchvision)            transformers (MobileNetV2ForImageClassification)   timm (EfficientNet builder)
//   features.0.{0,1}              mobilenet_v2.conv_stem.first_conv.{convolution,normalization}   conv_stem, bn1
//   features.1.conv.0.{0,1}       conv_stem.conv_3x3                                  blocks.0.0.conv_dw, bn1
//   features.1.conv.{1,2}         conv_stem.reduce_1x1.{convolution,normalization}    blocks.0.0.conv_pw, bn2
//   features.k.conv.0.{0,1}       layer.{k-2}.expand_1x1                              blocks.s.j.conv_pw, bn1
//   features.k.conv.1.{0,1}       layer.{k-2}.conv_3x3                                blocks.s.j.conv_dw, bn2
//   features.k.conv.{2,3}         layer.{k-2}.reduce_1x1                              blocks.s.j.conv_pwl, bn3
//   features.last.{0,1}           mobilenet_v2.conv_1x1                               conv_head, bn2
//   classifier.1                  classifier                                          classifier

import type { StateDict } from '../tensor.js';
import { InvertedResidual, type MobileNetV2 } from './mobilenetv2.js';
import { WeightsError } from '../weights/errors.js';

export type Family = 'hf' | 'timm';

const BN_KEYS = ['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked'];

/** our module prefix -> their module prefix, for a conv (weight) or a BatchNorm (all five). */
type ModuleMap = [ours: string, theirs: string, kind: 'conv' | 'bn' | 'linear'][];

function hfModules(model: MobileNetV2): ModuleMap {
  const m: ModuleMap = [];
  const convLayer = (ours: string, theirs: string) => {
    m.push([`${ours}.0`, `${theirs}.convolution`, 'conv'], [`${ours}.1`, `${theirs}.normalization`, 'bn']);
  };
  const feats = [...model.features.children.values()];
  const last = feats.length - 1;
  const p = 'mobilenet_v2.';
  convLayer('features.0', `${p}conv_stem.first_conv`);
  feats.forEach((block, k) => {
    if (!(block instanceof InvertedResidual)) return;
    const base = k === 1 ? `${p}conv_stem` : `${p}layer.${k - 2}`;
    const n = block.conv.children.size; // 3 without expansion, 4 with
    let i = 0;
    if (n === 4) convLayer(`features.${k}.conv.${i++}`, `${base}.expand_1x1`);
    convLayer(`features.${k}.conv.${i++}`, `${base}.conv_3x3`);
    m.push([`features.${k}.conv.${i++}`, `${base}.reduce_1x1.convolution`, 'conv']);
    m.push([`features.${k}.conv.${i++}`, `${base}.reduce_1x1.normalization`, 'bn']);
  });
  convLayer(`features.${last}`, `${p}conv_1x1`);
  if (model.classifier) m.push(['classifier.1', 'classifier', 'linear']);
  return m;
}

function timmModules(model: MobileNetV2): ModuleMap {
  const m: ModuleMap = [
    ['features.0.0', 'conv_stem', 'conv'],
    ['features.0.1', 'bn1', 'bn'],
  ];
  let k = 1;
  model.stageRepeats.forEach((n, s) => {
    for (let j = 0; j < n; j++, k++) {
      const b = `blocks.${s}.${j}`;
      const block = model.features.children.get(String(k)) as InvertedResidual;
      if (block.conv.children.size === 3) {
        // timm's DepthwiseSeparableConv: conv_dw, bn1, (act), conv_pw, bn2
        m.push([`features.${k}.conv.0.0`, `${b}.conv_dw`, 'conv'], [`features.${k}.conv.0.1`, `${b}.bn1`, 'bn']);
        m.push([`features.${k}.conv.1`, `${b}.conv_pw`, 'conv'], [`features.${k}.conv.2`, `${b}.bn2`, 'bn']);
      } else {
        // timm's InvertedResidual: conv_pw, bn1, conv_dw, bn2, conv_pwl, bn3
        m.push([`features.${k}.conv.0.0`, `${b}.conv_pw`, 'conv'], [`features.${k}.conv.0.1`, `${b}.bn1`, 'bn']);
        m.push([`features.${k}.conv.1.0`, `${b}.conv_dw`, 'conv'], [`features.${k}.conv.1.1`, `${b}.bn2`, 'bn']);
        m.push([`features.${k}.conv.2`, `${b}.conv_pwl`, 'conv'], [`features.${k}.conv.3`, `${b}.bn3`, 'bn']);
      }
    }
  });
  m.push([`features.${k}.0`, 'conv_head', 'conv'], [`features.${k}.1`, 'bn2', 'bn']);
  if (model.classifier) m.push(['classifier.1', 'classifier', 'linear']);
  return m;
}

/** Our state-dict key -> the family's key, in our order. */
export function keyMap(model: MobileNetV2, family: Family): Map<string, string> {
  const out = new Map<string, string>();
  for (const [ours, theirs, kind] of family === 'hf' ? hfModules(model) : timmModules(model)) {
    const leaves = kind === 'bn' ? BN_KEYS : kind === 'linear' ? ['weight', 'bias'] : ['weight'];
    for (const l of leaves) out.set(`${ours}.${l}`, `${theirs}.${l}`);
  }
  return out;
}

/**
 * Rename a family's state dict onto our keys. A bare HF `MobileNetV2Model` (no `mobilenet_v2.`
 * prefix) is accepted; `num_batches_tracked` may be absent (older saves). Anything else missing
 * or left over is an Error that names the keys.
 */
export function toOurStateDict(model: MobileNetV2, family: Family, theirs: StateDict, file: string): StateDict {
  let src = theirs;
  if (family === 'hf' && ![...theirs.keys()].some((k) => k.startsWith('mobilenet_v2.'))) {
    src = new Map([...theirs].map(([k, t]) => [k === 'classifier.weight' || k === 'classifier.bias' ? k : `mobilenet_v2.${k}`, t]));
  }
  const map = keyMap(model, family);
  const own = model.stateDict();
  const out: StateDict = new Map();
  const missing: string[] = [];
  const used = new Set<string>();
  for (const [ours, key] of map) {
    const t = src.get(key);
    if (t !== undefined) {
      out.set(ours, t);
      used.add(key);
    } else if (ours.endsWith('num_batches_tracked')) out.set(ours, own.get(ours)!);
    else missing.push(key);
  }
  const unexpected = [...src.keys()].filter((k) => !used.has(k));
  if (missing.length || unexpected.length) {
    const list = (ks: string[]) => `${ks.slice(0, 3).join(', ')}${ks.length > 3 ? `, ... (${ks.length - 3} more)` : ''}`;
    const parts = [missing.length ? `missing ${missing.length} key(s): ${list(missing)}` : '', unexpected.length ? `unexpected ${unexpected.length} key(s): ${list(unexpected)}` : ''].filter(Boolean);
    throw new WeightsError(`${file}: ${family === 'hf' ? 'transformers' : 'timm'} state dict does not fit the MobileNetV2 its config describes: ${parts.join('; ')}`);
  }
  return out;
}

/** Which family's key names a state dict uses ('torchvision' for ours). */
export function detectFamily(sd: StateDict): Family | 'torchvision' | undefined {
  if (sd.has('features.0.0.weight')) return 'torchvision';
  if (sd.has('mobilenet_v2.conv_stem.first_conv.convolution.weight') || sd.has('conv_stem.first_conv.convolution.weight')) return 'hf';
  if (sd.has('conv_stem.weight') && sd.has('blocks.0.0.conv_dw.weight')) return 'timm';
  return undefined;
}
