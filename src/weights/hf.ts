// Hugging Face checkpoints, read from their files wherever those live: a transformers
// MobileNetV2 folder (config.json + model.safetensors or pytorch_model.bin +
// preprocessor_config.json) or a timm hub folder (config.json with "architecture" +
// model.safetensors). `hf:<org>/<name>` names https://huggingface.co/<org>/<name>/resolve/main/<file>;
// each platform fetches and caches those files its own way (platform/node, platform/web).

import type { PresetSpec } from '../data/transforms.js';
import { resolvePreset } from '../data/transforms.js';
import { WeightsError } from './errors.js';
import { readWeightsBytes } from './registry.js';
import type { StateDict } from '../tensor.js';

export const HF_ENDPOINT = 'https://huggingface.co';

/** 'hf:google/mobilenet_v2_1.0_224' -> { repo: 'google/mobilenet_v2_1.0_224' }; other strings: undefined. */
export function parseHfName(name: string): { repo: string } | undefined {
  if (!name.startsWith('hf:')) return undefined;
  const repo = name.slice(3);
  if (!/^[A-Za-z0-9][\w.-]*\/[\w.-]+$/.test(repo) || repo.includes('..')) {
    throw new RangeError(`weights: "${name}" is not a Hugging Face model name; expected hf:<org>/<name>, e.g. hf:google/mobilenet_v2_1.0_224`);
  }
  return { repo };
}

/** The URL of a file of a hub repo (`main` revision). */
export function hfFileUrl(endpoint: string, repo: string, file: string): string {
  return `${endpoint.replace(/\/+$/, '')}/${repo}/resolve/main/${file}`;
}

/** The weights files a checkpoint folder may hold, in the order they are looked for. */
export const WEIGHT_FILES = ['model.safetensors', 'pytorch_model.bin'] as const;

/** A checkpoint folder's files, wherever they are: `read` gives a file's bytes, undefined when absent. */
export interface FolderReader {
  /** What errors name: the folder's path, URL or hf: name. */
  readonly name: string;
  read(file: string): Promise<Uint8Array | undefined>;
  /** How `file` is named in messages (default `<name>/<file>`). */
  path?(file: string): string;
}

/** The JSON of a file's bytes, or a WeightsError naming it. */
export function parseJson<T>(bytes: Uint8Array, file: string): T {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new WeightsError(`${file}: not valid JSON (not UTF-8 text)`);
  }
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new WeightsError(`${file}: not valid JSON (${(e as Error).message.split('\n')[0]})`);
  }
}

/** A checkpoint folder's parts; which family it is follows from config.json. */
export interface CheckpointFolder {
  dir: string;
  config: Record<string, unknown>;
  configFile: string;
  stateDict: StateDict;
  weightsFile: string;
  /** preprocessor_config.json, when present. */
  preprocessor?: Record<string, unknown>;
  /** timm's pretrained_cfg.json, when present (timm's own save_pretrained writes it into config.json). */
  pretrainedCfg?: Record<string, unknown>;
}

/** Read config.json (or timm's pretrained_cfg.json), the weights and the preprocessor config of a folder. */
export async function readCheckpointFolder(folder: FolderReader): Promise<CheckpointFolder> {
  const dir = folder.name;
  const path = (f: string) => folder.path?.(f) ?? `${dir}/${f}`;
  const json = async (f: string): Promise<Record<string, unknown> | undefined> => {
    const b = await folder.read(f);
    if (b === undefined) return undefined;
    const v = parseJson<unknown>(b, path(f));
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new WeightsError(`${path(f)}: not a JSON object`);
    return v as Record<string, unknown>;
  };
  let weightsFile: string | undefined;
  let weights: Uint8Array | undefined;
  for (const f of WEIGHT_FILES) {
    weights = await folder.read(f);
    if (weights !== undefined) {
      weightsFile = path(f);
      break;
    }
  }
  if (weights === undefined || weightsFile === undefined) throw new WeightsError(`${dir}: no ${WEIGHT_FILES.join(' or ')} in this folder`);
  // only the files the folder's family has are asked for (a page's console logs every 404)
  let config = await json('config.json');
  const timm = config === undefined || typeof config['architecture'] === 'string';
  const pretrainedCfg = timm ? await json('pretrained_cfg.json') : undefined;
  const configFile = config ? path('config.json') : path('pretrained_cfg.json');
  if (!config) {
    if (!pretrainedCfg) throw new WeightsError(`${dir}: no config.json (a transformers or timm checkpoint folder has one)`);
    config = { architecture: pretrainedCfg['architecture'], pretrained_cfg: pretrainedCfg };
  }
  const nested = config['pretrained_cfg'];
  return {
    dir,
    config,
    configFile,
    stateDict: readWeightsBytes(weights, weightsFile),
    weightsFile,
    preprocessor: timm ? undefined : await json('preprocessor_config.json'),
    pretrainedCfg: pretrainedCfg ?? (typeof nested === 'object' && nested !== null ? (nested as Record<string, unknown>) : undefined),
  };
}

const PIL_RESAMPLE: Record<number, 'bilinear' | 'bicubic'> = { 2: 'bilinear', 3: 'bicubic' };

/**
 * transformers' MobileNetV2ImageProcessor config -> a PresetSpec: shortest_edge resize (PIL
 * resample 2 bilinear / 3 bicubic), crop_size center crop with numpy's floor offsets,
 * rescale 1/255, image_mean / image_std. What it cannot express is an Error naming the field.
 */
export function presetFromPreprocessor(pp: Record<string, unknown>, file: string): PresetSpec {
  const bad = (what: string) => new WeightsError(`${file}: ${what} is not supported`);
  const size = pp['size'] as { shortest_edge?: number; height?: number; width?: number } | number | undefined;
  const shortest = typeof size === 'number' ? size : size?.shortest_edge;
  if (pp['do_resize'] === false || typeof shortest !== 'number') throw bad(`size ${JSON.stringify(size)} (only {"shortest_edge": n})`);
  const crop = pp['crop_size'] as { height?: number; width?: number } | number | undefined;
  const [ch, cw] = typeof crop === 'number' ? [crop, crop] : [crop?.height, crop?.width];
  if (pp['do_center_crop'] === false || typeof ch !== 'number' || ch !== cw) throw bad(`crop_size ${JSON.stringify(crop)} (a square center crop is needed)`);
  const resample = (pp['resample'] as number | undefined) ?? 2;
  const interpolation = PIL_RESAMPLE[resample];
  if (!interpolation) throw bad(`resample ${resample} (2 bilinear or 3 bicubic)`);
  const rescale = (pp['rescale_factor'] as number | undefined) ?? 1 / 255;
  if (pp['do_rescale'] === false || Math.abs(rescale - 1 / 255) > 1e-12) throw bad(`rescale ${JSON.stringify(rescale)} (1/255 only)`);
  const normalize = pp['do_normalize'] !== false;
  const mean = normalize ? ((pp['image_mean'] as number[] | undefined) ?? [0.5, 0.5, 0.5]) : [0, 0, 0];
  const std = normalize ? ((pp['image_std'] as number[] | undefined) ?? [0.5, 0.5, 0.5]) : [1, 1, 1];
  if (mean.length !== 3 || std.length !== 3) throw bad('image_mean / image_std of other than 3 values');
  return resolvePreset({
    resize: shortest,
    crop: ch,
    interpolation,
    cropRounding: 'floor',
    mean: [mean[0]!, mean[1]!, mean[2]!],
    std: [std[0]!, std[1]!, std[2]!],
  });
}

/**
 * timm's pretrained_cfg -> a PresetSpec: resize floor(size / crop_pct), bicubic/bilinear,
 * center crop rounded as torchvision's CenterCrop (timm uses it), mean / std.
 */
export function presetFromTimmCfg(cfg: Record<string, unknown>, file: string): PresetSpec {
  const input = (cfg['input_size'] as number[] | undefined) ?? [3, 224, 224];
  const size = input[1]!;
  if (input[2] !== size) throw new WeightsError(`${file}: non-square input_size ${JSON.stringify(input)} is not supported`);
  const cropPct = (cfg['crop_pct'] as number | undefined) ?? 0.875;
  if ((cfg['crop_mode'] ?? 'center') !== 'center') throw new WeightsError(`${file}: crop_mode ${JSON.stringify(cfg['crop_mode'])} is not supported (center only)`);
  const interp = (cfg['interpolation'] as string | undefined) ?? 'bicubic';
  if (interp !== 'bicubic' && interp !== 'bilinear') throw new WeightsError(`${file}: interpolation "${interp}" is not supported (bicubic, bilinear)`);
  const mean = (cfg['mean'] as number[] | undefined) ?? [0.485, 0.456, 0.406];
  const std = (cfg['std'] as number[] | undefined) ?? [0.229, 0.224, 0.225];
  return resolvePreset({
    resize: Math.floor(size / cropPct),
    crop: size,
    interpolation: interp,
    cropRounding: 'round',
    mean: [mean[0]!, mean[1]!, mean[2]!],
    std: [std[0]!, std[1]!, std[2]!],
  });
}
