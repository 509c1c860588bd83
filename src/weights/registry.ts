// torchvision's ImageNet weights for mobilenet_v2, and one entry point that turns a registry
// name or a file path into a state_dict.

import { readFileSync, statSync } from 'node:fs';
import { extname } from 'node:path';
import type { StateDict } from '../tensor.js';
import { downloadToCache, type DownloadOptions } from './download.js';
import { WeightsError } from './errors.js';
import { looksLikePth, readPth } from './pth.js';
import { looksLikeSafetensors, readSafetensors } from './safetensors.js';

export interface RegistryEntry {
  /** torchvision's enum member name, e.g. 'IMAGENET1K_V1'. */
  readonly name: string;
  readonly url: string;
  /**
   * SHA-256 of the file, lower-case hex. Only the 8-digit prefix that torchvision puts in the
   * file name is known here (the full digest was not found in any public source we could
   * consult); we verify that prefix, exactly as torchvision's `check_hash` does.
   */
  readonly sha256: string;
  readonly numClasses: number;
  readonly alpha: number;
  readonly lastChannel: number;
  /** 'paper': the last conv keeps 1280 channels (at alpha 1.0 both rules give 1280). */
  readonly lastChannelRule: 'paper';
  /** The evaluation preprocessing these weights were measured with. */
  readonly preset: 'torchvision-v1' | 'torchvision-v2';
  /** ImageNet-1K validation accuracy (%) as torchvision documents it. */
  readonly acc1: number;
  readonly acc5: number;
  readonly numParams: number;
  readonly gflops: number;
  readonly recipe: string;
}

//  name             acc@1   acc@5   preset (resize -> crop 224)
//  IMAGENET1K_V1    71.878  90.286  torchvision-v1 (resize 256)
//  IMAGENET1K_V2    72.154  90.822  torchvision-v2 (resize 232)
export const REGISTRY: readonly RegistryEntry[] = [
  {
    name: 'IMAGENET1K_V1',
    url: 'https://download.pytorch.org/models/mobilenet_v2-b0353104.pth',
    sha256: 'b0353104',
    numClasses: 1000, alpha: 1.0, lastChannel: 1280, lastChannelRule: 'paper',
    preset: 'torchvision-v1',
    acc1: 71.878, acc5: 90.286, numParams: 3504872, gflops: 0.3,
    recipe: 'https://github.com/pytorch/vision/tree/main/references/classification#mobilenetv2',
  },
  {
    name: 'IMAGENET1K_V2',
    url: 'https://download.pytorch.org/models/mobilenet_v2-7ebf99e0.pth',
    sha256: '7ebf99e0',
    numClasses: 1000, alpha: 1.0, lastChannel: 1280, lastChannelRule: 'paper',
    preset: 'torchvision-v2',
    acc1: 72.154, acc5: 90.822, numParams: 3504872, gflops: 0.3,
    recipe: 'https://github.com/pytorch/vision/issues/3995#new-recipe-with-reg-tuning',
  },
];

/** torchvision's DEFAULT for mobilenet_v2. */
export const DEFAULT_WEIGHTS = 'IMAGENET1K_V2';

/**
 * Look a name up, case-insensitively; 'DEFAULT' and a 'MobileNet_V2_Weights.' prefix are
 * accepted as in torchvision.
 */
export function findEntry(name: string, registry: readonly RegistryEntry[] = REGISTRY): RegistryEntry | undefined {
  let n = name.trim().toUpperCase().replace(/^MOBILENET_V2_WEIGHTS\./, '');
  if (n === 'DEFAULT' && registry === REGISTRY) n = DEFAULT_WEIGHTS;
  return registry.find((e) => e.name.toUpperCase() === n);
}

/** Parse weight bytes by their magic, whatever the file's extension says. */
export function readWeightsBytes(bytes: Uint8Array, file: string): StateDict {
  if (looksLikeSafetensors(bytes)) return readSafetensors(bytes, file).tensors;
  if (looksLikePth(bytes)) return readPth(bytes, file);
  throw new WeightsError(`${file}: not a weights file (neither safetensors nor a PyTorch .pth/.pt/.bin)`);
}

/** Read a weights file from disk (.pth/.pt/.bin or .safetensors, sniffed by content). */
export function readWeightsFile(file: string): StateDict {
  let bytes: Uint8Array;
  try {
    if (statSync(file).isDirectory()) throw new WeightsError(`${file}: is a directory, not a weights file`);
    bytes = readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new WeightsError(`${file}: no such file`);
    if (code === 'EACCES') throw new WeightsError(`${file}: permission denied`);
    throw e;
  }
  return readWeightsBytes(bytes, file);
}

export interface LoadWeightsOptions extends Omit<DownloadOptions, 'sha256' | 'fileName'> {
  /** Entries to resolve names against (tests point them at a local server); default REGISTRY. */
  registry?: readonly RegistryEntry[];
}

export interface LoadedWeights {
  stateDict: StateDict;
  /** Set when a registry name was given. */
  entry?: RegistryEntry;
  /** The file the weights came from (the cached download for a registry name). */
  source: string;
}

const WEIGHT_EXTENSIONS = new Set(['.pth', '.pt', '.bin', '.safetensors', '.ckpt', '.tar']);

/**
 * A registry name (case-insensitive, downloaded once into the cache) or a path to a weights file.
 * An unknown name lists the valid ones; a missing file says `<file>: no such file`.
 */
export async function loadWeights(nameOrPath: string, opts: LoadWeightsOptions = {}): Promise<LoadedWeights> {
  if (typeof nameOrPath !== 'string' || nameOrPath.length === 0) {
    throw new TypeError(`loadWeights: nameOrPath must be a registry name or a file path, got ${JSON.stringify(nameOrPath)}`);
  }
  const registry = opts.registry ?? REGISTRY;
  const isFile = (() => {
    try {
      return statSync(nameOrPath).isFile();
    } catch {
      return false;
    }
  })();
  const entry = isFile ? undefined : findEntry(nameOrPath, registry);
  if (entry !== undefined) {
    const { registry: _r, ...download } = opts;
    const path = await downloadToCache(entry.url, { ...download, sha256: entry.sha256 });
    return { stateDict: readWeightsFile(path), entry, source: path };
  }
  const looksLikePath = /[/\\]/.test(nameOrPath) || WEIGHT_EXTENSIONS.has(extname(nameOrPath).toLowerCase());
  if (!isFile && !looksLikePath) {
    const names = registry.map((e) => e.name).concat(registry === REGISTRY ? ['DEFAULT'] : []);
    throw new RangeError(`Unknown weights: "${nameOrPath}". Should be one of: ${names.join(', ')} (or a path to a .pth/.safetensors file)`);
  }
  return { stateDict: readWeightsFile(nameOrPath), source: nameOrPath };
}
