// timm MobileNetV2 checkpoints (conv_stem, bn1, blocks.s.j.*, conv_head, bn2, classifier): which
// variant a state dict is, read off its shapes when no config names it.

import type { StateDict } from '../tensor.js';
import { TIMM_VARIANTS } from '../models/families.js';
import { makeDivisible } from '../models/mobilenetv2.js';
import { WeightsError } from './errors.js';

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
 * (mobilenetv2_035 ... _140, _110d, _120d); an Error naming what was found otherwise.
 */
export function guessTimmArchitecture(sd: StateDict, file: string): string {
  const stem = sd.get('conv_stem.weight')?.shape[0];
  const head = sd.get('conv_head.weight')?.shape[0];
  const last = sd.get('conv_head.weight')?.shape[1];
  const repeats = timmStageRepeats(sd).join(',');
  for (const [name, v] of Object.entries(TIMM_VARIANTS)) {
    const base = [1, 2, 3, 4, 3, 3, 1];
    const want = base.map((n, i) => (i === 0 || i === base.length - 1 || v.depth === 1 ? n : Math.ceil(n * v.depth))).join(',');
    const wantStem = v.fixStemHead ? 32 : makeDivisible(32 * v.alpha);
    const wantHead = v.fixStemHead ? 1280 : Math.max(1280, makeDivisible(1280 * v.alpha));
    if (stem === wantStem && head === wantHead && last === makeDivisible(320 * v.alpha) && repeats === want) return name;
  }
  throw new WeightsError(`${file}: a timm MobileNetV2 state dict that fits none of ${Object.keys(TIMM_VARIANTS).join(', ')} (stem ${stem}, blocks per stage [${repeats}], head ${head})`);
}
