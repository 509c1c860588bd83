// From a checkpoint's files to a MobileNetV2 with its weights, labels and preprocessing: a
// transformers or timm checkpoint folder, or a single weights file in any of the three key layouts
// (torchvision / timm; a transformers file needs its config.json beside it). Platform-free: each
// platform resolves what the user named (a registry name, `hf:<org>/<name>`, a path, a URL, a
// File) to a WeightsSource (platform/node/weights.ts, platform/web/weights.ts).

import { withInputSize, type PresetName, type PresetSpec } from '../data/transforms.js';
import { imagenetClasses } from '../data/labels.js';
import type { StateDict } from '../tensor.js';
import { WeightsError } from '../weights/errors.js';
import { presetFromPreprocessor, presetFromTimmCfg, readCheckpointFolder, type FolderReader } from '../weights/hf.js';
import { readWeightsBytes, type RegistryEntry } from '../weights/registry.js';
import { looksLikeSafetensors, readSafetensors } from '../weights/safetensors.js';
import { readCard, type ModelCard } from './card.js';
import { looksLikeOnnx } from '../onnx/import.js';
import { guessTimmArchitecture } from '../weights/timm.js';
import { configFromStateDict } from './config.js';
import { hfOptions, timmOptions, type HfConfig } from './families.js';
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

function defaultLabels(numClasses: number): string[] | undefined {
  if (numClasses === 1000) return imagenetClasses();
  if (numClasses === 1001) return ['background', ...imagenetClasses()];
  return undefined;
}

async function fromFolder(reader: FolderReader, opts: CheckpointOptions): Promise<LoadedCheckpoint> {
  const folder = await readCheckpointFolder(reader);
  const dir = folder.dir;
  if (typeof folder.config['architecture'] === 'string') return fromTimm(folder.stateDict, folder.config['architecture'], folder.weightsFile, opts, folder.pretrainedCfg, (folder.config['num_classes'] as number | undefined));
  const cfg = folder.config as HfConfig;
  const options = hfOptions(cfg, folder.configFile);
  const sd = toOurStateDict(new MobileNetV2({ ...options, seed: 0 }), 'hf', folder.stateDict, folder.weightsFile);
  const model = build(options, opts.head, sd, folder.weightsFile);
  const n = options.numClasses!;
  let labels = cfg.id2label ? Array.from({ length: n }, (_, i) => cfg.id2label![String(i)] ?? `class ${i}`) : defaultLabels(n);
  if (labels && labels.length !== n) labels = undefined;
  const preset = folder.preprocessor
    ? presetFromPreprocessor(folder.preprocessor, reader.path?.('preprocessor_config.json') ?? `${dir}/preprocessor_config.json`)
    : cfg.image_size && cfg.image_size !== 224 ? withInputSize('hf', cfg.image_size) : 'hf';
  return { model, family: 'hf', source: dir, labels, preset, background: n === 1001 };
}

function fromTimm(
  theirs: StateDict,
  architecture: string | undefined,
  file: string,
  opts: CheckpointOptions,
  pretrainedCfg?: Record<string, unknown>,
  numClassesHint?: number,
): LoadedCheckpoint {
  const arch = architecture ?? guessTimmArchitecture(theirs, file);
  const numClasses = theirs.get('classifier.weight')?.shape[0] ?? numClassesHint ?? 1000;
  const options = timmOptions(arch, numClasses);
  const includeTop = theirs.has('classifier.weight');
  const sd = toOurStateDict(new MobileNetV2({ ...options, includeTop, seed: 0 }), 'timm', theirs, file);
  const model = build({ ...options, includeTop, ...(includeTop ? {} : { pooling: 'avg' as const }) }, opts.head, sd, file);
  const preset = pretrainedCfg ? presetFromTimmCfg(pretrainedCfg, file) : 'timm';
  return { model, family: 'timm', source: file, labels: defaultLabels(numClasses), preset, background: numClasses === 1001 };
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
        const classes = (JSON.parse(metadata['checkpoint']) as { classes?: unknown }).classes;
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
    const msg = (e as Error).message;
    // a head of another size is not another width
    const sizes = [...msg.matchAll(/size mismatch for (\S+):/g)].map((m) => m[1]!);
    const headOnly = sizes.length > 0 && sizes.every((k) => k.startsWith('classifier.')) && !/missing|unexpected/.test(msg);
    const n = stateDict.get('classifier.1.weight')?.shape[0];
    const hint = headOnly ? ` (the checkpoint has ${n} classes: give that class count, or fine-tune it to yours with train --weights)` : opts.given?.alpha === undefined && cfg.alpha === undefined ? ' (is it a MobileNetV2 of another width? pass alpha)' : '';
    throw new WeightsError(`${msg}${hint}`);
  }
  const n = model.numClasses;
  const labels = card?.classes?.length === n ? card.classes : defaultLabels(n);
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
  return { model, family: 'torchvision', source: file, entry, labels: includeTop ? (card.classes ?? defaultLabels(model.numClasses)) : undefined, preset: card.preset, background: false };
}
