// Hugging Face checkpoints: a transformers MobileNetV2 folder (config.json + model.safetensors or
// pytorch_model.bin + preprocessor_config.json) or a timm hub folder (config.json with
// "architecture" + model.safetensors), from a local directory or `hf:<org>/<name>`, which
// resolves to https://huggingface.co/<org>/<name>/resolve/main/<file> and is downloaded once
// into the cache (<cache>/hf/<org>/<name>/).

import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { PresetSpec } from '../data/transforms.js';
import { resolvePreset } from '../data/transforms.js';
import { defaultCacheDir, downloadToCache, type DownloadOptions } from './download.js';
import { WeightsError, clean, describe } from './errors.js';
import { bool, jsonObject, num, nums, obj, str, type Json } from './fields.js';
import { readWeightsFile } from './registry.js';
import type { StateDict } from '../tensor.js';

/** `https://huggingface.co`, or `$HF_ENDPOINT` (a mirror), as huggingface_hub reads it. */
export function hfEndpoint(env: NodeJS.ProcessEnv = process.env): string {
  return (env['HF_ENDPOINT'] ?? 'https://huggingface.co').replace(/\/+$/, '');
}

/** 'hf:google/mobilenet_v2_1.0_224' -> { repo: 'google/mobilenet_v2_1.0_224' }; other strings: undefined. */
export function parseHfName(name: string): { repo: string } | undefined {
  if (!name.startsWith('hf:')) return undefined;
  const repo = name.slice(3);
  if (!/^[A-Za-z0-9][\w.-]*\/[\w.-]+$/.test(repo) || repo.includes('..')) {
    throw new RangeError(`weights: "${name}" is not a Hugging Face model name; expected hf:<org>/<name>, e.g. hf:google/mobilenet_v2_1.0_224`);
  }
  return { repo };
}

export interface HfDownloadOptions extends Omit<DownloadOptions, 'sha256' | 'fileName' | 'cacheDir'> {
  cacheDir?: string;
  /** Default: {@link hfEndpoint}(). Tests point it at a local server. */
  endpoint?: string;
}

const WEIGHT_FILES = ['model.safetensors', 'pytorch_model.bin'];
const is404 = (e: unknown) => e instanceof WeightsError && /HTTP 404/.test(e.message);

/**
 * Download a hub repo's files once into the cache; returns the local folder. config.json and one
 * weights file (model.safetensors, else pytorch_model.bin) are required; preprocessor_config.json
 * is fetched when the repo has one. Files already in the cache are not downloaded again.
 */
export async function downloadHfRepo(repo: string, opts: HfDownloadOptions = {}): Promise<string> {
  const endpoint = (opts.endpoint ?? hfEndpoint()).replace(/\/+$/, '');
  const dir = join(opts.cacheDir ?? defaultCacheDir(), 'hf', ...repo.split('/'));
  const { endpoint: _e, cacheDir: _c, ...dl } = opts;
  const get = (file: string) => downloadToCache(`${endpoint}/${repo}/resolve/main/${file}`, { ...dl, cacheDir: dir, fileName: file });
  try {
    await get('config.json');
  } catch (e) {
    if (is404(e)) throw new WeightsError(`hf:${repo}: no such model on ${endpoint} (config.json: HTTP 404)`, 'E_DOWNLOAD');
    throw e;
  }
  try {
    await get('preprocessor_config.json');
  } catch (e) {
    if (!is404(e)) throw e; // timm repos have none
  }
  for (const file of WEIGHT_FILES) {
    try {
      await get(file);
      return dir;
    } catch (e) {
      if (!is404(e)) throw e;
    }
  }
  throw new WeightsError(`hf:${repo}: the repo has neither ${WEIGHT_FILES.join(' nor ')}`, 'E_DOWNLOAD');
}

/** The JSON of a file, or an Error naming it. */
export function readJson<T>(file: string): T {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new WeightsError(`${file}: ${code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  return parseJson<T>(text, file);
}

/** JSON.parse, or a WeightsError naming the file. */
export function parseJson<T>(text: string, file: string): T {
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new WeightsError(`${file}: not valid JSON (${clean((e as Error).message, 120)})`);
  }
}

export function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** A checkpoint folder's parts, as files; which family it is follows from config.json. */
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
export function readCheckpointFolder(dir: string): CheckpointFolder {
  const weightsFile = WEIGHT_FILES.map((f) => join(dir, f)).find((f) => existsSync(f));
  if (!weightsFile) throw new WeightsError(`${dir}: no ${WEIGHT_FILES.join(' or ')} in this folder`);
  const configFile = join(dir, 'config.json');
  const pretrainedFile = join(dir, 'pretrained_cfg.json');
  const pretrainedCfg = existsSync(pretrainedFile) ? jsonObject(readJson(pretrainedFile), pretrainedFile) : undefined;
  let config: Record<string, unknown>;
  if (existsSync(configFile)) config = jsonObject(readJson(configFile), configFile);
  else if (pretrainedCfg) config = { architecture: pretrainedCfg['architecture'], pretrained_cfg: pretrainedCfg };
  else throw new WeightsError(`${dir}: no config.json (a transformers or timm checkpoint folder has one)`);
  const ppFile = join(dir, 'preprocessor_config.json');
  const preprocessor = existsSync(ppFile) ? jsonObject(readJson(ppFile), ppFile) : undefined;
  return {
    dir,
    config,
    configFile: existsSync(configFile) ? configFile : pretrainedFile,
    stateDict: readWeightsFile(weightsFile),
    weightsFile,
    preprocessor,
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
