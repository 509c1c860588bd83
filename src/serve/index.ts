// mobilenetv2/serve: the inference server and the Triton repository writer, for Node programs
// that embed them (the CLI's `serve` and `export --triton` use the same). A subpath of its own
// so that the main entry does not load fastify and its company.
//
//   import { startServer } from 'mobilenetv2/serve';
//   const { model, labels, preset } = await loadCheckpoint('w.pth');
//   const server = await startServer({ model, labels, preset, port: 8080 });
//   process.on('SIGTERM', () => server.drain());

export { startServer } from './server.js';
export type { RunningServer, ServeOptions } from './server.js';
export { Batcher } from './batcher.js';
export type { BatcherOptions, RunBatch } from './batcher.js';
export { tritonConfig, writeTritonRepository } from './triton.js';
export type { TritonOptions } from './triton.js';
export { modelMetadata, parseInferRequest, inferResponse } from './kserve.js';
export type { ModelContract, InferRequest, InferResponse } from './kserve.js';
