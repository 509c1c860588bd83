// From a checkpoint's files to a MobileNetV2 with its weights, labels and preprocessing: a
// transformers or timm checkpoint folder, or a single weights file in any of the three key layouts
// (torchvision / timm; a transformers file needs its config.json beside it). Platform-free: each
// platform resolves what the user named (a registry name, `hf:<org>/<name>`, a path, a URL, a
// File) to a WeightsSource (platform/node/weights.ts, platform/web/weights.ts).

import { withInputSize, type PresetName, type PresetSpec } from '../data/transforms.js';
import { labelsForHead } from '../data/labels.js';
import type { StateDict } from '../tensor.js';
import { WeightsError, quote, type WeightsHint } from '../weights/errors.js';
import { num, str } from '../weights/fields.js';
import { presetFromPreprocessor, presetFromTimmCfg, readCheckpointFolder, type CheckpointFolder, type FolderReader } from '../weights/hf.js';
import { readWeightsBytes, type RegistryEntry } from '../weights/registry.js';
import { looksLikeSafetensors, readSafetensors } from '../weights/safetensors.js';
import { readCard, type ModelCard } from './card.js';

import { configFromStateDict, guessTimmArchitecture } from './config.js';
import { TIMM_VARIANTS, hfOptions, timmOptions, type HfConfig } from './families.js';
import { looksLikeOnnx } from '../onnx/import.js';
import { detectFamily, toOurStateDict } from './keymaps.js';
import { INVERTED_RESIDUAL_SETTING, MobileNetV2, type MobileNetV2Options } from './mobilenetv2.js';

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

/** A checkpoint as its platform found it: one weights file's bytes, or a folder of files. */
export type WeightsSource =
  | { readonly kind: 'file'; readonly name: string; readonly bytes: Uint8Array; readonly entry?: RegistryEntry }
  | { readonly kind: 'folder'; readonly folder: FolderReader };

export interface CheckpointOptions {
  /** For torchvision-layout files: alpha / numClasses / lastChannel when they cannot be read off. */
  given?: MobileNetV2Options;
  head?: HeadOverrides;
}

const dropHead = (sd: StateDict): StateDict => new Map([...sd].filter(([k]) => !/^classifier\./.test(k)));

function build(opts: MobileNetV2Options, head: HeadOverrides | undefined, sd: StateDict, source: string, setting = INVERTED_RESIDUAL_SETTING): MobileNetV2 {
  const includeTop = head?.includeTop ?? opts.includeTop ?? true;
  const model = new MobileNetV2({ ...opts, ...head, includeTop, pooling: includeTop ? undefined : (head?.pooling ?? (head ? undefined : opts.pooling)) }, setting);
  try {
    model.loadStateDict(includeTop ? sd : dropHead(sd), true);
  } catch (e) {
    throw new WeightsError(`${source}: ${(e as Error).message}`);
  }
  return model.eval();
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
export function planHfFolder(folder: CheckpointFolder, preprocessorFile = `${folder.dir}/preprocessor_config.json`): HfFolderPlan {
  const file = folder.configFile;
  const cfg = folder.config as HfConfig;
  const options = hfOptions(cfg, file);
  checkConfigFitsWeights(options, folder.stateDict, file, folder.weightsFile);
  const n = options.numClasses!;
  let labels = cfg.id2label ? Array.from({ length: n }, (_, i) => cfg.id2label![String(i)] ?? `class ${i}`) : labelsForHead(n);
  if (labels && labels.length !== n) labels = undefined;
  const imageSize = num(folder.config, 'image_size', file, { int: true, min: 32 });
  const preset = folder.preprocessor
    ? presetFromPreprocessor(folder.preprocessor, preprocessorFile)
    : imageSize && imageSize !== 224 ? withInputSize('hf', imageSize) : 'hf';
  return { options, labels, preset };
}

async function fromFolder(reader: FolderReader, opts: CheckpointOptions): Promise<LoadedCheckpoint> {
  const folder = await readCheckpointFolder(reader);
  const architecture = str(folder.config, 'architecture', folder.configFile);
  if (architecture !== undefined) {
    const numClasses = num(folder.config, 'num_classes', folder.configFile, { int: true, min: 1 });
    return fromTimm(folder.stateDict, architecture, folder.weightsFile, opts, folder.pretrainedCfg, numClasses, folder.configFile);
  }
  const { options, labels, preset } = planHfFolder(folder, reader.path?.('preprocessor_config.json'));
  const sd = toOurStateDict(new MobileNetV2({ ...options, seed: 0 }), 'hf', folder.stateDict, folder.weightsFile);
  const model = build(options, opts.head, sd, folder.weightsFile);
  return { model, family: 'hf', source: folder.dir, labels, preset, background: options.numClasses === 1001 };
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
  opts: CheckpointOptions,
  pretrainedCfg?: Record<string, unknown>,
  numClassesHint?: number,
  configFile?: string,
): LoadedCheckpoint {
  const { options, numClasses, includeTop, preset } = planTimm(theirs, architecture, file, pretrainedCfg, numClassesHint, configFile);
  const sd = toOurStateDict(new MobileNetV2({ ...options, includeTop, seed: 0 }), 'timm', theirs, file);
  const model = build({ ...options, includeTop, ...(includeTop ? {} : { pooling: 'avg' as const }) }, opts.head, sd, file);
  return { model, family: 'timm', source: file, labels: labelsForHead(numClasses), preset, background: numClasses === 1001 };
}

/**
 * A checkpoint's files -> a loaded model in eval mode. Users' mistakes are WeightsErrors whose
 * one-line message names the file and the problem.
 */
export async function checkpointFrom(source: WeightsSource, opts: CheckpointOptions = {}): Promise<LoadedCheckpoint> {
  if (source.kind === 'folder') return fromFolder(source.folder, opts);
  const { name: file, bytes, entry } = source;
  let stateDict: StateDict;
  let card: ModelCard | undefined;
  if (looksLikeOnnx(bytes)) throw new WeightsError(`${file}: an ONNX graph (from export or quantize), not a state dict: this needs the .pth or .safetensors weights it was made from`);
  if (looksLikeSafetensors(bytes)) {
    const { tensors, metadata } = readSafetensors(bytes, file);
    card = readCard(metadata, file);
    stateDict = tensors;
    if (metadata['checkpoint'] !== undefined && [...tensors.keys()].some((k) => k.startsWith('model.'))) {
      // a training checkpoint (train/checkpoint.ts): the model's tensors are model.<key>
      stateDict = new Map([...tensors].filter(([k]) => k.startsWith('model.')).map(([k, t]) => [k.slice(6), t]));
      if (!card) {
        let classes: unknown;
        try {
          classes = (JSON.parse(metadata['checkpoint']) as { classes?: unknown } | null)?.classes;
        } catch {
          throw new WeightsError(`${file}: its "checkpoint" metadata is not valid JSON`);
        }
        if (Array.isArray(classes) && classes.every((c) => typeof c === 'string')) card = { config: {}, classes };
      }
    }
  } else stateDict = readWeightsBytes(bytes, file);
  if (card && Object.keys(card.config).length > 0) return fromCard(card, stateDict, file, opts, entry);
  const family = detectFamily(stateDict);
  if (family === 'timm') return fromTimm(stateDict, undefined, file, opts);
  if (family === 'hf') throw new WeightsError(`${file}: a transformers MobileNetV2 state dict: pass its folder (with config.json) instead of the file`);
  const cfg = configFromStateDict(stateDict, opts.given ?? {});
  const includeTop = opts.head?.includeTop ?? true;
  let model: MobileNetV2;
  try {
    model = build(cfg, opts.head, stateDict, file);
  } catch (e) {
    // a head of another size is not another width: compare the shapes themselves
    let misfit: string[] = [];
    try {
      const own = new MobileNetV2({ ...cfg, ...opts.head, includeTop }).stateDict();
      misfit = [...own].filter(([k, t]) => stateDict.get(k)?.shape.join() !== t.shape.join()).map(([k]) => k);
    } catch {
      // options that build nothing: no hint
    }
    const headOnly = misfit.length > 0 && misfit.every((k) => k.startsWith('classifier.')) && stateDict.has('classifier.1.weight');
    const hint: WeightsHint | undefined = headOnly ? { kind: 'classes', classes: stateDict.get('classifier.1.weight')!.shape[0]! } : opts.given?.alpha === undefined && cfg.alpha === undefined ? { kind: 'width' } : undefined;
    throw new WeightsError((e as Error).message, 'E_WEIGHTS', hint);
  }
  const n = model.numClasses;
  const labels = card?.classes?.length === n ? card.classes : labelsForHead(n);
  return { model, family: 'torchvision', source: file, entry, labels: includeTop ? labels : undefined, preset: card?.preset ?? entry?.preset, background: false };
}

/** A file of ours with its card: the architecture, class names and preprocessing it was saved with. */
function fromCard(card: ModelCard, sd: StateDict, file: string, opts: CheckpointOptions, entry?: RegistryEntry): LoadedCheckpoint {
  const { setting, ...config } = card.config;
  const g = opts.given ?? {};
  if (g.numClasses !== undefined && config.numClasses !== undefined && g.numClasses !== config.numClasses) throw new WeightsError(`${file}: the model has ${config.numClasses} classes, not ${g.numClasses}`);
  if (g.alpha !== undefined && Math.abs(g.alpha - (config.alpha ?? 1)) > 1e-9) throw new WeightsError(`${file}: the model's alpha is ${config.alpha ?? 1}, not ${g.alpha}`);
  const includeTop = opts.head?.includeTop ?? config.includeTop ?? true;
  let model: MobileNetV2;
  try {
    model = build(config, opts.head, sd, file, setting);
  } catch (e) {
    throw e instanceof WeightsError ? e : new WeightsError(`${file}: its "mobilenetv2" metadata describes no MobileNetV2 (${(e as Error).message})`);
  }
  return { model, family: 'torchvision', source: file, entry, labels: includeTop ? (card.classes ?? labelsForHead(model.numClasses)) : undefined, preset: card.preset, background: false };
}
