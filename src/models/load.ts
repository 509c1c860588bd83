// One entry point from "what the user named" to a MobileNetV2 with its weights, labels and
// preprocessing: a registry name (torchvision's IMAGENET1K_V1/V2), `hf:<org>/<name>`, a
// transformers or timm checkpoint folder, or a single weights file in any of the three key
// layouts (torchvision / timm; a transformers file needs its config.json beside it).

import { withInputSize, type PresetName, type PresetSpec } from '../data/transforms.js';
import { imagenetClasses } from '../data/labels.js';
import type { StateDict } from '../tensor.js';
import { WeightsError, quote } from '../weights/errors.js';
import { num, str } from '../weights/fields.js';
import {
  downloadHfRepo,
  isDirectory,
  parseHfName,
  presetFromPreprocessor,
  presetFromTimmCfg,
  readCheckpointFolder,
  type CheckpointFolder,
  type HfDownloadOptions,
} from '../weights/hf.js';
import { loadWeights, type RegistryEntry } from '../weights/registry.js';
import { guessTimmArchitecture } from '../weights/timm.js';
import { configFromStateDict } from './config.js';
import { TIMM_VARIANTS, hfOptions, timmOptions, type HfConfig } from './families.js';
import { detectFamily, toOurStateDict } from './keymaps.js';
import { MobileNetV2, type MobileNetV2Options } from './mobilenetv2.js';

export type CheckpointFamily = 'torchvision' | 'hf' | 'timm';

export interface LoadedCheckpoint {
  model: MobileNetV2;
  family: CheckpointFamily;
  /** The file (or folder) the weights came from. */
  source: string;
  /** Set for a registry name. */
  entry?: RegistryEntry;
  /** Class names by head index, when known (id2label, or ImageNet for 1000 / 1001 heads). */
  labels?: string[];
  /** The preprocessing the checkpoint was trained with, when known. */
  preset?: PresetName | PresetSpec;
  /** Class 0 is TF-slim's "background" (1001-class heads): classify leaves it out. */
  background: boolean;
}

/** Options applied on top of what the checkpoint says (Keras' includeTop / pooling / activation). */
export type HeadOverrides = Pick<MobileNetV2Options, 'includeTop' | 'pooling' | 'classifierActivation'>;

export interface LoadCheckpointOptions extends HfDownloadOptions {
  /** For torchvision-layout files: alpha / numClasses / lastChannel when they cannot be read off. */
  given?: MobileNetV2Options;
  head?: HeadOverrides;
  /** Registry to resolve names against (tests); default REGISTRY. */
  registry?: readonly RegistryEntry[];
}

const dropHead = (sd: StateDict): StateDict => new Map([...sd].filter(([k]) => !/^classifier\./.test(k)));

function build(opts: MobileNetV2Options, head: HeadOverrides | undefined, sd: StateDict, source: string): MobileNetV2 {
  const includeTop = head?.includeTop ?? opts.includeTop ?? true;
  const model = new MobileNetV2({ ...opts, ...head, includeTop, pooling: includeTop ? undefined : (head?.pooling ?? (head ? undefined : opts.pooling)) });
  try {
    model.loadStateDict(includeTop ? sd : dropHead(sd), true);
  } catch (e) {
    throw new WeightsError(`${source}: ${(e as Error).message}`);
  }
  return model.eval();
}

function defaultLabels(numClasses: number): string[] | undefined {
  if (numClasses === 1000) return imagenetClasses();
  if (numClasses === 1001) return ['background', ...imagenetClasses()];
  return undefined;
}

/**
 * A floor on the parameters of the model `options` describe (its last 1x1 conv and classifier;
 * every width is at least 90% of c * alpha and at least the divisor): a config cannot make us
 * build a model far larger than the weights beside it (depth_multiplier 1000 in a 1 KB config).
 */
function checkConfigFitsWeights(options: MobileNetV2Options, sd: StateDict, configFile: string, weightsFile: string): void {
  let elements = 0;
  for (const t of sd.values()) elements += t.data.length;
  const a = options.alpha ?? 1;
  const d = options.roundNearest ?? 8;
  const k = options.numClasses ?? 1000;
  const w = (c: number) => Math.max(d, 0.9 * c * a);
  const last = typeof options.lastChannel === 'number' ? options.lastChannel : options.lastChannel === 'paper' && a <= 1 ? 1280 : w(1280);
  const floor = w(320) * last + (options.includeTop === false ? 0 : last * k);
  if (floor > elements) {
    throw new WeightsError(`${configFile}: describes a model of over ${Math.round(floor)} parameters (depth_multiplier ${a}, ${k} classes) but ${weightsFile} holds ${elements}`);
  }
}

/** What a transformers folder's configs say, checked against its weights before any model is built. */
export interface HfFolderPlan {
  options: MobileNetV2Options;
  labels?: string[];
  preset: PresetName | PresetSpec;
}

/** Options, labels and preprocessing of a transformers checkpoint folder; a bad config is a WeightsError naming it. */
export function planHfFolder(folder: CheckpointFolder): HfFolderPlan {
  const file = folder.configFile;
  const cfg = folder.config as HfConfig;
  const options = hfOptions(cfg, file);
  checkConfigFitsWeights(options, folder.stateDict, file, folder.weightsFile);
  const n = options.numClasses!;
  let labels = cfg.id2label ? Array.from({ length: n }, (_, i) => cfg.id2label![String(i)] ?? `class ${i}`) : defaultLabels(n);
  if (labels && labels.length !== n) labels = undefined;
  const imageSize = num(folder.config, 'image_size', file, { int: true, min: 32 });
  const preset = folder.preprocessor
    ? presetFromPreprocessor(folder.preprocessor, `${folder.dir}/preprocessor_config.json`)
    : imageSize && imageSize !== 224 ? withInputSize('hf', imageSize) : 'hf';
  return { options, labels, preset };
}

function fromHfFolder(dir: string, opts: LoadCheckpointOptions): LoadedCheckpoint {
  const folder = readCheckpointFolder(dir);
  const architecture = str(folder.config, 'architecture', folder.configFile);
  if (architecture !== undefined) {
    const numClasses = num(folder.config, 'num_classes', folder.configFile, { int: true, min: 1 });
    return fromTimm(folder.stateDict, architecture, folder.weightsFile, opts, folder.pretrainedCfg, numClasses, folder.configFile);
  }
  const { options, labels, preset } = planHfFolder(folder);
  const sd = toOurStateDict(new MobileNetV2({ ...options, seed: 0 }), 'hf', folder.stateDict, folder.weightsFile);
  const model = build(options, opts.head, sd, folder.weightsFile);
  const n = options.numClasses!;
  return { model, family: 'hf', source: dir, labels, preset, background: n === 1001 };
}

/** What a timm checkpoint (and its pretrained_cfg) says, before any model is built. */
export interface TimmPlan {
  options: MobileNetV2Options;
  numClasses: number;
  includeTop: boolean;
  preset: PresetName | PresetSpec;
}

/**
 * Options and preprocessing of a timm state dict; `architecture` from its config (checked: a
 * WeightsError naming `configFile`), else guessed from the shapes.
 */
export function planTimm(theirs: StateDict, architecture: string | undefined, file: string, pretrainedCfg?: Record<string, unknown>, numClassesHint?: number, configFile = file): TimmPlan {
  if (architecture !== undefined && !Object.hasOwn(TIMM_VARIANTS, architecture.split('.')[0]!)) {
    throw new WeightsError(`${configFile}: architecture ${quote(architecture)} is not a MobileNetV2 we build. Should be one of: ${Object.keys(TIMM_VARIANTS).join(', ')}`);
  }
  const arch = architecture ?? guessTimmArchitecture(theirs, file);
  const numClasses = theirs.get('classifier.weight')?.shape[0] ?? numClassesHint ?? 1000;
  const options = timmOptions(arch, numClasses);
  const includeTop = theirs.has('classifier.weight');
  const preset = pretrainedCfg ? presetFromTimmCfg(pretrainedCfg, configFile) : 'timm';
  return { options, numClasses, includeTop, preset };
}

function fromTimm(
  theirs: StateDict,
  architecture: string | undefined,
  file: string,
  opts: LoadCheckpointOptions,
  pretrainedCfg?: Record<string, unknown>,
  numClassesHint?: number,
  configFile?: string,
): LoadedCheckpoint {
  const { options, numClasses, includeTop, preset } = planTimm(theirs, architecture, file, pretrainedCfg, numClassesHint, configFile);
  const sd = toOurStateDict(new MobileNetV2({ ...options, includeTop, seed: 0 }), 'timm', theirs, file);
  const model = build({ ...options, includeTop, ...(includeTop ? {} : { pooling: 'avg' as const }) }, opts.head, sd, file);
  return { model, family: 'timm', source: file, labels: defaultLabels(numClasses), preset, background: numClasses === 1001 };
}

/**
 * Resolve `spec` (registry name, hf:<org>/<name>, folder or file) to a loaded model in eval mode.
 * Users' mistakes are Errors whose one-line message names the file and the problem.
 */
export async function loadCheckpoint(spec: string, opts: LoadCheckpointOptions = {}): Promise<LoadedCheckpoint> {
  if (typeof spec !== 'string' || spec.length === 0) throw new TypeError(`weights must be a registry name, hf:<org>/<name> or a path, got ${JSON.stringify(spec)}`);
  const hf = parseHfName(spec);
  if (hf) {
    const { given: _g, head: _h, registry: _r, ...dl } = opts;
    const dir = await downloadHfRepo(hf.repo, dl);
    return { ...fromHfFolder(dir, opts), source: spec };
  }
  if (isDirectory(spec)) return fromHfFolder(spec, opts);

  const { stateDict, entry, source } = await loadWeights(spec, { progress: opts.progress, cacheDir: opts.cacheDir, onProgress: opts.onProgress, ...(opts.registry ? { registry: opts.registry } : {}) });
  const family = detectFamily(stateDict);
  if (family === 'timm') return fromTimm(stateDict, undefined, source, opts);
  if (family === 'hf') throw new WeightsError(`${source}: a transformers MobileNetV2 state dict: pass its folder (with config.json) instead of the file`);
  const cfg = configFromStateDict(stateDict, opts.given ?? {});
  const includeTop = opts.head?.includeTop ?? true;
  let model: MobileNetV2;
  try {
    model = build(cfg, opts.head, stateDict, source);
  } catch (e) {
    const hint = opts.given?.alpha === undefined && cfg.alpha === undefined ? ' (is it a MobileNetV2 of another width? pass alpha)' : '';
    throw new WeightsError(`${(e as Error).message}${hint}`);
  }
  const n = model.numClasses;
  return { model, family: 'torchvision', source, entry, labels: includeTop ? defaultLabels(n) : undefined, preset: entry?.preset, background: false };
}
