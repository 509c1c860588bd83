// mobilenetv2: the public API for Node.js. The platform-free core (core.ts) plus Node's platform:
// onnxruntime-node, sharp for images, files and a download cache on disk.

export * from './core.js';
export { nodeBackend } from './platform/node/ort.js';
export { load, nodePlatform } from './platform/node/load.js';
export type { LoadOptions } from './platform/node/load.js';
export { loadCheckpoint, openWeights, readWeightsFile, downloadHfRepo } from './platform/node/weights.js';
export type { LoadCheckpointOptions } from './platform/node/weights.js';
export { preprocess, loadBatch, decodeRgb } from './platform/node/image.js';
export type { ImageInput } from './platform/node/image.js';
export { fit } from './platform/node/fit.js';
export type { FitOptions, FitResult } from './platform/node/fit.js';
export { ImageFolder } from './platform/node/folder.js';
export { makeDemoDataset, DEMO_CLASSES } from './platform/node/demo.js';
export { drawCurves, drawConfusionMatrix } from './platform/node/plot.js';
export { readTrainingCheckpoint, writeTrainingCheckpoint } from './platform/node/checkpoint.js';
