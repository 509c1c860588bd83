// Which MobileNetV2 a state dict belongs to, read off its shapes so `--weights my.pth` works
// without repeating the configuration: numClasses, alpha and the last-channel rule of a
// torchvision-layout file; the variant of a timm file.

import type { StateDict } from '../tensor.js';
import { WeightsError } from '../weights/errors.js';
import { familyWidths, stageRepeats, TIMM_VARIANTS } from './families.js';
import { INVERTED_RESIDUAL_SETTING, makeDivisible, type MobileNetV2Options } from './mobilenetv2.js';

/** Width multipliers of published MobileNetV2 checkpoints (and the seed's factories). */
export const KNOWN_ALPHAS = [1.0, 0.25, 0.35, 0.5, 0.75, 1.3, 1.4] as const;

export function configFromStateDict(sd: StateDict, given: MobileNetV2Options = {}): MobileNetV2Options {
  const head = sd.get('classifier.1.weight'); // (numClasses, lastChannel)
  const stem = sd.get('features.0.0.weight'); // (32 * alpha, 3, 3, 3)
  const out: MobileNetV2Options = { ...given };
  if (!head || !stem) return out; // not ours: loadStateDict will name the missing keys
  out.numClasses ??= head.shape[0];
  const keys = [...sd.keys()].filter((k) => /^features\.\d+\.conv\.\d+\.weight$/.test(k) || /^features\.\d+\.conv\.\d+\.0\.weight$/.test(k));
  const lastBlockOut = keys.length ? sd.get(keys.at(-1)!)?.shape[0] : undefined; // (320 * alpha, ...)
  if (out.alpha === undefined) {
    const rn = given.roundNearest ?? 8;
    out.alpha = KNOWN_ALPHAS.find((a) => makeDivisible(32 * a, rn) === stem.shape[0] && makeDivisible(320 * a, rn) === lastBlockOut);
  }
  if (out.lastChannel === undefined && out.alpha !== undefined) {
    const width = head.shape[1];
    const rn = given.roundNearest ?? 8;
    out.lastChannel = width === makeDivisible(1280 * out.alpha, rn) ? 'seed' : 'paper';
  }
  return out;
}

/** Blocks per stage of a timm state dict: counts of distinct blocks.<s>.<j>. */
export function timmStageRepeats(sd: StateDict): number[] {
  const repeats: number[] = [];
  for (const k of sd.keys()) {
    const m = /^blocks\.(\d+)\.(\d+)\./.exec(k);
    if (!m) continue;
    const s = Number(m[1]);
    const j = Number(m[2]);
    repeats[s] = Math.max(repeats[s] ?? 0, j + 1);
  }
  return Array.from(repeats, (r) => r ?? 0);
}

/**
 * The timm variant whose stem width, blocks per stage and head width fit this state dict
 * (mobilenetv2_035 ... _140, _110d, _120d): each variant's widths by timm's rules (families.ts),
 * its depth by the table's n column; a WeightsError naming what was found otherwise.
 */
export function guessTimmArchitecture(sd: StateDict, file: string): string {
  const stem = sd.get('conv_stem.weight')?.shape[0];
  const head = sd.get('conv_head.weight')?.shape[0];
  const last = sd.get('conv_head.weight')?.shape[1];
  const repeats = timmStageRepeats(sd).join(',');
  const ns = INVERTED_RESIDUAL_SETTING.map(([, , n]) => n);
  for (const [name, v] of Object.entries(TIMM_VARIANTS)) {
    const w = familyWidths({ channelRule: 'torchvision', alpha: v.alpha, roundNearest: 8, ...(v.fixStemHead ? { stemChannels: 32, lastChannel: 1280 } : { lastChannel: 'paper' as const }) });
    if (stem === w.stem && head === w.last && last === w.block(320) && repeats === stageRepeats(ns, v.depth).join(',')) return name;
  }
  throw new WeightsError(`${file}: a timm MobileNetV2 state dict that fits none of ${Object.keys(TIMM_VARIANTS).join(', ')} (stem ${stem}, blocks per stage [${repeats}], head ${head})`);
}
