// mobilenetv2/web: the public API for web pages. The platform-free core (core.ts) plus the
// browser's platform: onnxruntime-web (WASM, WebGPU), the browser's image decoders, fetch with the
// Cache Storage, in-memory training runs. No Node module is imported here or below.
//
//   import { load } from 'mobilenetv2/web';
//   const model = await load({ weights: 'IMAGENET1K_V2' });      // or a URL, a File, hf:<org>/<name>
//   await model.classify(document.querySelector('img'), 5);

export * from './core.js';
export { exportModel } from './infer/export.js';
export type { ExportFormat, ExportOptions } from './infer/export.js';
export { load, webPlatform, pageBackend, withWasmFallback } from './platform/web/load.js';
export type { WebLoadOptions, WebLoadExtra, WebModel } from './platform/web/load.js';
export { webBackend, webgpuAvailable, wasmThreads } from './platform/web/ort.js';
export type { WebBackendOptions } from './platform/web/ort.js';
export { decodeWebImage, loadWebBatch, isWebImage } from './platform/web/image.js';
export type { WebImageInput } from './platform/web/image.js';
export { openWebWeights, folderAtUrl } from './platform/web/weights.js';
export type { WebWeights, WebWeightsOptions } from './platform/web/weights.js';
export { fetchBytes, sha256Hex } from './platform/web/download.js';
export { fit } from './platform/web/fit.js';
export type { WebFitOptions, WebFitResult, LabelledImage } from './platform/web/fit.js';
export { WorkerModel, serveIfWorker } from './platform/web/worker.js';
export { downloadBytes } from './platform/web/save.js';
