// Where the server's batches run: ONNX Runtime sessions on worker threads (the default: the event
// loop stays free while a batch runs), or Predictors on the main thread (a backend of the
// caller's own, which cannot move to a thread).

import { Piscina } from 'piscina';
import { DeviceUnavailableError, type Backend, type SessionOptions } from '../infer/backend.js';
import { graphNames, Predictor, type Network } from '../infer/predictor.js';
import { nodeBackend } from '../platform/node/ort.js';
import type { Tensor } from '../tensor.js';
import type { InferResult, InferTask } from './infer-worker.js';

const FETCH = ['logits', 'probabilities', 'embedding'] as const;

export interface Sessions {
  /** (N, 3, H, W) -> logits, probabilities (N, classes), embedding (N, C), on session `runner`. */
  run(input: Tensor, runner: number): Promise<Record<string, Tensor>>;
  close(): Promise<void>;
}

/** `count` sessions for input H x W, each on its own worker thread. */
export function workerSessions(network: Network, hw: [number, number], count: number, options: SessionOptions): Sessions {
  // the bytes a Predictor's session compiles (an .onnx file of ours: as it is, or its int8 variant), its input and output names
  const onnx = new Predictor(network, nodeBackend, options).onnx(hw);
  const { input: inputName, outputs: names } = graphNames(network, FETCH);
  const fetch = names.filter((n): n is string => n !== undefined);
  const pool = new Piscina({
    filename: new URL('./infer-worker.js', import.meta.url).href,
    minThreads: count,
    maxThreads: count,
    idleTimeout: 2 ** 31 - 1,
    workerData: { onnx, options, input: inputName },
  });
  return {
    async run(input) {
      const data = input.data as Float32Array;
      const own = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength;
      const task: InferTask = { data: own ? data : data.slice(), shape: input.shape, fetch };
      const r: InferResult = await pool.run(task, { transferList: [task.data.buffer as ArrayBuffer] }); // moved, not copied
      if (r.ok) return Object.fromEntries(FETCH.flatMap((k, i) => (names[i] === undefined ? [] : [[k, r.outputs[names[i]!]!]])));
      if (r.code === 'DEVICE_UNAVAILABLE') throw new DeviceUnavailableError(r.message);
      throw new Error(r.message);
    },
    close: () => pool.destroy(),
  };
}

/** `count` Predictors on the main thread, with the caller's backend. */
export function inProcessSessions(network: Network, backend: Backend, count: number, options: SessionOptions): Sessions {
  const predictors = Array.from({ length: count }, () => new Predictor(network, backend, options));
  const names = graphNames(network, FETCH).outputs;
  const fetch = FETCH.filter((_, i) => names[i] !== undefined);
  return {
    run: (input, runner) => predictors[runner]!.run(input, fetch),
    close: async () => {
      for (const p of predictors) await p.release();
    },
  };
}
