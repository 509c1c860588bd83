// Hugging Face checkpoints, read from their files wherever those live: a transformers
// MobileNetV2 folder (config.json + model.safetensors or pytorch_model.bin +
// preprocessor_config.json) or a timm hub folder (config.json with "architecture" +
// model.safetensors). `hf:<org>/<name>` names https://huggingface.co/<org>/<name>/resolve/main/<file>;
// each platform fetches and caches those files its own way (platform/node, platform/web).

import type { PresetSpec } from '../data/transforms.js';
import { resolvePreset } from '../data/transforms.js';
import { WeightsError, clean, describe } from './errors.js';
import { bool, jsonObject, num, nums, obj, str, type Json } from './fields.js';
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
    throw new WeightsError(`${file}: not valid JSON (${clean((e as Error).message, 120)})`);
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
    return jsonObject(parseJson<unknown>(b, path(f)), path(f));
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
  return {
    dir,
    config,
    configFile,
    stateDict: readWeightsBytes(weights, weightsFile),
    weightsFile,
    preprocessor: timm ? undefined : await json('preprocessor_config.json'),
    pretrainedCfg: pretrainedCfg ?? obj(config, 'pretrained_cfg', configFile),
  };
}

const PIL_RESAMPLE: Record<number, 'bilinear' | 'bicubic'> = { 2: 'bilinear', 3: 'bicubic' };

/** `size` / `crop_size`: an int, or an object of ints (shortest_edge, height, width). */
function sizeField(pp: Json, key: string, file: string): number | Json | undefined {
  const v = pp[key];
  if (typeof v === 'number') return num(pp, key, file, { int: true, min: 1 });
  const o = obj(pp, key, file);
  if (o) for (const k of ['shortest_edge', 'height', 'width']) num(o, k, file, { int: true, min: 1 }, `${key}.${k}`);
  return o;
}

/**
 * transformers' MobileNetV2ImageProcessor config -> a PresetSpec: shortest_edge resize (PIL
 * resample 2 bilinear / 3 bicubic), crop_size center crop with numpy's floor offsets,
 * rescale 1/255, image_mean / image_std. What it cannot express, and any field of the wrong
 * type, is a WeightsError naming the file and the field.
 */
export function presetFromPreprocessor(config: Record<string, unknown>, file: string): PresetSpec {
  const pp = jsonObject(config, file);
  const bad = (what: string) => new WeightsError(`${file}: ${what} is not supported`);
  const size = sizeField(pp, 'size', file);
  const shortest = typeof size === 'number' ? size : (size?.['shortest_edge'] as number | undefined);
  if (bool(pp, 'do_resize', file) === false || shortest === undefined) throw bad(`size ${describe(size)} (only {"shortest_edge": n})`);
  const crop = sizeField(pp, 'crop_size', file);
  const [ch, cw] = typeof crop === 'number' ? [crop, crop] : [crop?.['height'], crop?.['width']];
  if (bool(pp, 'do_center_crop', file) === false || typeof ch !== 'number' || ch !== cw) throw bad(`crop_size ${describe(crop)} (a square center crop is needed)`);
  if (ch > shortest) throw bad(`crop_size ${ch} larger than size.shortest_edge ${shortest}`);
  const resample = num(pp, 'resample', file) ?? 2;
  const interpolation = PIL_RESAMPLE[resample];
  if (!interpolation) throw bad(`resample ${resample} (2 bilinear or 3 bicubic)`);
  const rescale = num(pp, 'rescale_factor', file) ?? 1 / 255;
  if (bool(pp, 'do_rescale', file) === false || Math.abs(rescale - 1 / 255) > 1e-12) throw bad(`rescale ${describe(rescale)} (1/255 only)`);
  const normalize = bool(pp, 'do_normalize', file) !== false;
  // transformers broadcasts a single number to the three channels
  const mean = normalize ? (nums(pp, 'image_mean', file, 3, {}, true) ?? [0.5, 0.5, 0.5]) : [0, 0, 0];
  const std = normalize ? (nums(pp, 'image_std', file, 3, {}, true) ?? [0.5, 0.5, 0.5]) : [1, 1, 1];
  if (std.includes(0)) throw bad(`image_std ${describe(std)} (a zero divides by zero)`);
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
export function presetFromTimmCfg(config: Record<string, unknown>, file: string): PresetSpec {
  const cfg = jsonObject(config, file);
  const input = nums(cfg, 'input_size', file, 3, { int: true, min: 1 }) ?? [3, 224, 224];
  const size = input[1]!;
  if (input[2] !== size) throw new WeightsError(`${file}: non-square input_size ${describe(input)} is not supported`);
  const cropPct = num(cfg, 'crop_pct', file, { above: 0, max: 1 }) ?? 0.875;
  const cropMode = str(cfg, 'crop_mode', file) ?? 'center';
  if (cropMode !== 'center') throw new WeightsError(`${file}: crop_mode ${describe(cropMode)} is not supported (center only)`);
  const interp = str(cfg, 'interpolation', file) ?? 'bicubic';
  if (interp !== 'bicubic' && interp !== 'bilinear') throw new WeightsError(`${file}: interpolation ${describe(interp)} is not supported (bicubic, bilinear)`);
  const mean = nums(cfg, 'mean', file, 3) ?? [0.485, 0.456, 0.406];
  const std = nums(cfg, 'std', file, 3) ?? [0.229, 0.224, 0.225];
  if (std.includes(0)) throw new WeightsError(`${file}: std ${describe(std)} is not supported (a zero divides by zero)`);
  return resolvePreset({
    resize: Math.floor(size / cropPct),
    crop: size,
    interpolation: interp,
    cropRounding: 'round',
    mean: [mean[0]!, mean[1]!, mean[2]!],
    std: [std[0]!, std[1]!, std[2]!],
  });
}
