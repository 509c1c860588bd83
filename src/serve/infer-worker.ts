// An inference worker thread (piscina): one ONNX Runtime session, made from the bytes the
// server's Predictor would compile, that runs the batches given to it. onnxruntime-node's run()
// blocks the thread that calls it for the whole batch, so the server keeps it off its event loop:
// HTTP, admission, deadlines and /metrics stay responsive while a batch runs.

import { workerData } from 'piscina';
import type { SessionOptions } from '../infer/backend.js';
import { nodeBackend } from '../platform/node/ort.js';
import type { Tensor } from '../tensor.js';

export interface InferTask {
  readonly data: Float32Array; // (N, 3, H, W), moved here
  readonly shape: readonly number[];
  readonly fetch: readonly string[];
}

export type InferResult = { ok: true; outputs: Record<string, Tensor> } | { ok: false; code?: string; message: string };

const { onnx, options, input } = workerData as { onnx: Uint8Array; options: SessionOptions; input: string };
const session = nodeBackend.createSession(onnx, options);
session.catch(() => undefined); // reported by the first task

export default async function infer(task: InferTask): Promise<InferResult> {
  let s;
  try {
    s = await session;
  } catch (e) {
    return { ok: false, code: (e as { code?: string }).code, message: (e as Error).message };
  }
  return { ok: true, outputs: await s.run({ [input]: { dtype: 'float32', shape: task.shape, data: task.data } }, task.fetch) };
}
