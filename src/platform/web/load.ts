// load() in a web page: weights by URL, File/Blob/bytes, registry name or hf:<org>/<name>
// (downloads cached in the Cache Storage), images as elements, bitmaps, frames, pixels or files,
// run by onnxruntime-web on WASM or WebGPU (falling back to WASM, with the reason, when the page
// has no WebGPU).

import { loadWith, MobileNetV2Model, type LoadOptions as CoreLoadOptions, type Platform } from '../../infer/model.js';
import type { Backend, Device, Session, SessionOptions } from '../../infer/backend.js';
import { isWebImage, loadWebBatch, WEB_IMAGE_KINDS, type WebImageInput } from './image.js';
import { webBackend, webgpuAvailable } from './ort.js';
import { openWebWeights, type WebWeights, type WebWeightsOptions } from './weights.js';
import { loadInWorker } from './worker.js';

export interface WebLoadExtra extends WebWeightsOptions {
  /** Run the model in a Web Worker, so the page never blocks (see worker.ts). */
  worker?: boolean;
}

export type WebLoadOptions = CoreLoadOptions<WebWeights> & WebLoadExtra;

let shared: Backend | undefined;
/** The page's onnxruntime-web backend (one per page: WASM threads are fixed by the first session). */
export function pageBackend(): Backend {
  return (shared ??= webBackend());
}

/**
 * A backend that tries WebGPU and, when a session cannot be made there, says why once and uses
 * WASM instead. `device` reports where the last session went.
 */
export function withWasmFallback(inner: Backend, note: (m: string) => void = (m) => console.warn(`mobilenetv2: ${m}`)): Backend & { used?: Device } {
  const b: Backend & { used?: Device } = {
    name: inner.name,
    devices: inner.devices,
    formulation: inner.formulation?.bind(inner),
    trainOptimizationLevel: inner.trainOptimizationLevel?.bind(inner),
    async createSession(model: Uint8Array, opts: SessionOptions = {}): Promise<Session> {
      if (opts.device === 'webgpu') {
        try {
          const s = await inner.createSession(model, opts);
          b.used = 'webgpu';
          return s;
        } catch (e) {
          note(`WebGPU unavailable, running on WASM instead: ${(e as Error).message.split('\n')[0]}`);
        }
      }
      const s = await inner.createSession(model, { ...opts, device: 'wasm' });
      b.used = 'wasm';
      return s;
    },
  };
  return b;
}

export const webPlatform: Platform<WebImageInput, WebWeights, WebLoadExtra> = {
  backend: withWasmFallback(pageBackend()),
  optionKeys: ['cache', 'onProgress', 'endpoint', 'registry', 'sha256', 'fetch', 'worker'],
  openWeights: (weights, opts) => openWebWeights(weights, { cache: opts.cache, onProgress: opts.onProgress, endpoint: opts.endpoint, registry: opts.registry, sha256: opts.sha256, fetch: opts.fetch }),
  isImage: isWebImage,
  imageKinds: WEB_IMAGE_KINDS,
  loadImages: loadWebBatch,
  sessionDefaults: (opts) => ({ device: opts.device ?? 'wasm' }),
};

export type WebModel = MobileNetV2Model<WebImageInput>;

/** Load a MobileNetV2 in the page (or, with `worker: true`, in a Web Worker: see loadInWorker). */
export async function load(opts: WebLoadOptions = {}): Promise<WebModel> {
  if (opts.device !== undefined && opts.device !== 'wasm' && opts.device !== 'webgpu') throw new RangeError(`Unsupported device: "${opts.device}". Should be one of: wasm, webgpu`);
  if (opts.worker) return loadInWorker(opts) as unknown as Promise<WebModel>;
  if (opts.device === 'webgpu') {
    const gpu = await webgpuAvailable();
    if (!gpu.ok) {
      console.warn(`mobilenetv2: WebGPU unavailable, running on WASM instead: ${gpu.reason}`);
      return loadWith(webPlatform, { ...opts, device: 'wasm' });
    }
  }
  return loadWith(webPlatform, opts);
}
