// A model's card: what a weights file of ours carries besides the tensors so that it is a model,
// not just weights: the options that build its architecture, its class names, and the
// preprocessing and input size it was trained with. Stored as JSON under the `mobilenetv2` key of
// a safetensors file's metadata (train's model.safetensors and checkpoint.safetensors, export,
// the browser's downloads); torch ignores it.

import { resolvePreset, type PresetSpec } from '../data/transforms.js';
import { WeightsError } from '../weights/errors.js';
import type { MobileNetV2, MobileNetV2Options } from './mobilenetv2.js';

export const CARD_KEY = 'mobilenetv2';

export interface ModelCard {
  /** MobileNetV2's options (numClasses included), and the (t, c, n, s) table when not the seed's. */
  config: MobileNetV2Options & { setting?: [number, number, number, number][] };
  /** Class names by head index. */
  classes?: string[];
  /** The evaluation preprocessing, at the model's input size (crop = input size). */
  preset?: PresetSpec;
}

export function cardMetadata(model: MobileNetV2, extra: { classes?: readonly string[]; preset?: PresetSpec } = {}): Record<string, string> {
  const card: ModelCard = { config: model.config() as ModelCard['config'], ...(extra.classes ? { classes: [...extra.classes] } : {}), ...(extra.preset ? { preset: extra.preset } : {}) };
  return { [CARD_KEY]: JSON.stringify(card) };
}

/** The card in a safetensors file's metadata, checked; undefined when there is none. */
export function readCard(metadata: Record<string, string>, file: string): ModelCard | undefined {
  const raw = metadata[CARD_KEY];
  if (raw === undefined) return undefined;
  const bad = (what: string): never => {
    throw new WeightsError(`${file}: its "${CARD_KEY}" metadata ${what}`);
  };
  let card: ModelCard;
  try {
    card = JSON.parse(raw) as ModelCard;
  } catch {
    return bad('is not valid JSON');
  }
  if (typeof card !== 'object' || card === null || typeof card.config !== 'object' || card.config === null) bad('has no config');
  const n = card.config.numClasses;
  if (n !== undefined && !(Number.isInteger(n) && n >= 1)) bad(`has numClasses ${JSON.stringify(n)}`);
  if (card.classes !== undefined && (!Array.isArray(card.classes) || card.classes.some((c) => typeof c !== 'string') || (n !== undefined && card.classes.length !== n))) {
    bad(`has class names that do not fit its ${n} classes`);
  }
  if (card.preset !== undefined) {
    try {
      resolvePreset(card.preset);
    } catch (e) {
      bad(`has a bad preset (${(e as Error).message})`);
    }
  }
  const s = card.config.setting;
  if (s !== undefined && (!Array.isArray(s) || s.length === 0 || s.some((r) => !Array.isArray(r) || r.length !== 4 || r.some((v) => !Number.isInteger(v) || v < 1)))) bad('has a bad (t, c, n, s) table');
  return card;
}
