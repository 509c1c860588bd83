// load() in Node: weights by registry name, hf:<org>/<name>, folder or file (downloads cached on
// disk), images as paths, encoded bytes or raw pixels (decoded by sharp), run by onnxruntime-node.

import { isRawImage } from '../../data/image.js';
import { loadWith, MobileNetV2Model, type LoadOptions as CoreLoadOptions, type Platform } from '../../infer/model.js';
import { loadBatch, type ImageInput } from './image.js';
import { nodeBackend } from './ort.js';
import { openWeights } from './weights.js';

export interface NodeLoadExtra {
  /** Weight-download cache (default $MOBILENETV2_CACHE, else $XDG_CACHE_HOME/mobilenetv2, else ~/.cache/mobilenetv2). */
  cacheDir?: string;
  /** Progress bar on stderr while downloading (default: when stderr is a terminal). */
  progress?: boolean;
  /** Hugging Face endpoint (default https://huggingface.co or $HF_ENDPOINT). */
  endpoint?: string;
}

export type LoadOptions = CoreLoadOptions<string> & NodeLoadExtra;

export const nodePlatform: Platform<ImageInput, string, NodeLoadExtra> = {
  backend: nodeBackend,
  optionKeys: ['cacheDir', 'progress', 'endpoint'],
  openWeights(weights, opts) {
    if (typeof weights !== 'string') throw new TypeError(`load: weights must be a string or null, got ${typeof weights}`);
    return openWeights(weights, { cacheDir: opts.cacheDir, progress: opts.progress, endpoint: opts.endpoint });
  },
  isImage: (x): x is ImageInput => typeof x === 'string' || x instanceof Uint8Array || isRawImage(x),
  imageKinds: 'a file path, a Buffer, an { data, width, height, channels } object',
  loadImages: (images, preset) => loadBatch(images, preset),
};

/** Load a MobileNetV2 (weights downloaded once into the cache) ready to classify and embed. */
export function load(opts: LoadOptions = {}): Promise<MobileNetV2Model<ImageInput>> {
  return loadWith(nodePlatform, opts);
}
