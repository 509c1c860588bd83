// Which MobileNetV2 a state dict belongs to: numClasses, alpha and the last-channel rule read
// off its shapes, so `--weights my.pth` works without repeating the configuration.

import type { StateDict } from '../tensor.js';
import { makeDivisible, type MobileNetV2Options } from './mobilenetv2.js';

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
