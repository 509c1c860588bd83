// The runtime interface. The core (graph, nn, models) never imports ONNX Runtime; one module per
// platform implements this: node.ts (onnxruntime-node), web.ts (onnxruntime-web).

import type { Formulation } from '../graph/ops.js';
import type { Int8Variant } from '../quant/variants.js';
import type { Tensor } from '../tensor.js';

export type Device = 'cpu' | 'webgpu' | 'cuda' | 'wasm';

export interface SessionOptions {
  device?: Device;
  /** Intra-op threads (CPU). Default: the number of cores. */
  threads?: number;
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  /**
   * Let ORT plan all intermediate buffers as one block after the first run (default true). Training
   * turns it off: the plan's block comes on top of the first run's arena chunks (5.0 vs 3.1 GB peak
   * at batch 32, same speed: docs/training.md).
   */
  memPattern?: boolean;
  /** ORT's CPU arena (default true): off, freed tensors go back to the allocator at once. */
  memArena?: boolean;
  /**
   * Let idle intra-op threads spin-wait for the next work (ORT's default, true). Off, they sleep:
   * a server whose cores also decode images gets those cycles back (serve: docs/serving.md).
   */
  spinning?: boolean;
  /** Node: where ONNX Runtime writes the graph it actually runs after its optimizations (to see what it fused). */
  optimizedModelFilePath?: string;
}

export interface Session {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly device: Device;
  run(feeds: Record<string, Tensor>, fetches?: readonly string[]): Promise<Record<string, Tensor>>;
  release(): Promise<void>;
}

export interface Backend {
  readonly name: string;
  readonly devices: readonly Device[];
  createSession(model: Uint8Array, opts?: SessionOptions): Promise<Session>;
  /**
   * The training-graph formulations this runtime needs on a device, where the default is wrong
   * there (onnxruntime-web's WebGPU providers compute the im2col depthwise dW wrong: 'slices'), or
   * where another is faster; it may be asked of the runtime (a promise).
   */
  formulation?(device: Device): Partial<Formulation> | Promise<Partial<Formulation>>;
  /**
   * The graph optimization level for a training step on a device, where 'extended' (the default)
   * is not the best: onnxruntime-node's CPU at 'all' runs frozen, constant convs on its NCHWc
   * kernels (docs/training.md).
   */
  trainOptimizationLevel?(device: Device): SessionOptions['graphOptimizationLevel'];
  /**
   * The int8 graph variant this runtime runs fastest on a device, where it is not the all-integer
   * QDQ graph (onnxruntime-web's WASM: 'dw-float', measured in bench/int8.ts).
   */
  int8Variant?(device: Device): Int8Variant;
}

/** A device the runtime cannot give: the message says how to get it. */
export class DeviceUnavailableError extends Error {
  readonly code = 'DEVICE_UNAVAILABLE';
}
