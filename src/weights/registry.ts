// torchvision's ImageNet weights for mobilenet_v2, and weight bytes -> a state_dict by their magic.
// Fetching and caching the files is per platform (platform/node/download.ts, platform/web/download.ts).

import type { StateDict } from '../tensor.js';
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

/** Endings of files that hold weights (for telling a mistyped registry name from a path). */
export const WEIGHT_EXTENSIONS = ['.pth', '.pt', '.bin', '.safetensors', '.ckpt', '.tar', '.onnx'] as const;

/** Whether `name` reads as a path or URL of a weights file rather than a registry name. */
export function looksLikeWeightsPath(name: string): boolean {
  const lower = name.toLowerCase();
  return /[/\\]/.test(name) || WEIGHT_EXTENSIONS.some((e) => lower.endsWith(e));
}

/** The error for a name that is neither a registry entry nor a file: it lists the valid names. */
export function unknownWeights(name: string, registry: readonly RegistryEntry[] = REGISTRY): RangeError {
  const names = registry.map((e) => e.name).concat(registry === REGISTRY ? ['DEFAULT'] : []);
  return new RangeError(`Unknown weights: "${name}". Should be one of: ${names.join(', ')} (or a path to a .pth/.safetensors file)`);
}
