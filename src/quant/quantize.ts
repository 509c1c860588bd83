// Post-training int8 quantization of the inference graph:
//
//   model -> inference graph (BN folded, heads) -> [cross-layer equalization] -> calibration
//   (the float graph run by ONNX Runtime on real images, every activation fetched) -> activation
//   grids (min-max / percentile / entropy) -> QDQ graph (qdq.ts) -> ONNX bytes.
//
// Platform-free: the runtime comes in as a Backend, images as (N, 3, H, W) float32 batches already
// preprocessed with the model's preset.

import type { Graph, Value } from '../graph/ir.js';
import { mergeDuplicates } from '../graph/passes.js';
import type { Backend, SessionOptions } from '../infer/backend.js';
import { inferenceGraph, inputHW, type Head } from '../infer/graph.js';
import type { Module } from '../nn/module.js';
import { resolvePreset } from '../data/transforms.js';
import { onnxMetadata } from '../infer/export.js';
import { MobileNetV2Model } from '../infer/model.js';
import type { MobileNetV2 } from '../models/mobilenetv2.js';
import { toOnnx } from '../onnx/export.js';
import type { Tensor } from '../tensor.js';
import { activationParams, CALIBRATION_METHODS, chooseRange, TensorStats, type ActivationType, type CalibrationMethod, type QParams } from './calibrate.js';
import { equalize } from './equalize.js';
import { emitQdq, foldable, type WeightGranularity } from './qdq.js';
import { EXACT_STORAGE, type WeightStorage } from './storage.js';

export interface QuantizeOptions {
  /** How activation ranges are chosen from the calibration images (default 'mse': the most accurate on real photos, bench/int8.ts). */
  method?: CalibrationMethod;
  /** For method 'percentile': which percentile of each tensor's values bounds its range (default 99.99). */
  percentile?: number;
  /** Weight scales: one per output channel (default) or one per tensor (for runtimes without per-channel int8). */
  weights?: WeightGranularity;
  /** Activation integers (default 'uint8': the type ONNX Runtime's x86 kernels are fastest with). */
  activations?: ActivationType;
  /** Cross-layer equalization before quantizing (default: on with per-tensor weights). */
  equalize?: boolean;
  /** Biases absorb the mean error of the rounded weights (default: on with per-tensor weights). */
  biasCorrection?: boolean;
  /** Called after each calibration batch. */
  onProgress?: (done: number, total: number | undefined) => void;
}

export const QUANTIZE_DEFAULTS = { method: 'mse', percentile: 99.99, weights: 'per-channel', activations: 'uint8' } as const;

export interface QuantizeReport {
  method: CalibrationMethod;
  percentile?: number;
  weights: WeightGranularity;
  /** How the weight integers are stored (storage.ts): the exact storage. */
  weightStorage: WeightStorage;
  activations: ActivationType;
  equalize: boolean;
  biasCorrection: boolean;
  /** Calibration images seen. */
  images: number;
  /** Activation tensors given an int8 grid. */
  tensors: number;
  /** Conv pairs cross-layer equalization rescaled. */
  equalizedPairs: number;
  /** The grid of each activation tensor, by the float graph's value name. */
  grids: Record<string, QParams & { range: [number, number] }>;
}

/** Options checked at the public boundary; errors name the option and list the valid values. */
export function resolveQuantizeOptions(o: QuantizeOptions = {}): Required<Omit<QuantizeOptions, 'onProgress'>> {
  if (typeof o !== 'object' || o === null) throw new TypeError(`quantize: options must be an object, got ${o === null ? 'null' : typeof o}`);
  const oneOf = <T extends string>(name: string, v: unknown, all: readonly T[], dflt: T): T => {
    if (v === undefined) return dflt;
    if (!all.includes(v as T)) throw new RangeError(`quantize: unsupported ${name}: ${JSON.stringify(v)}. Should be one of: ${all.join(', ')}`);
    return v as T;
  };
  const method = oneOf('method', o.method, CALIBRATION_METHODS, QUANTIZE_DEFAULTS.method);
  const weights = oneOf<WeightGranularity>('weights', o.weights, ['per-channel', 'per-tensor'], QUANTIZE_DEFAULTS.weights);
  const activations = oneOf<ActivationType>('activations', o.activations, ['uint8', 'int8'], QUANTIZE_DEFAULTS.activations);
  const percentile = o.percentile ?? QUANTIZE_DEFAULTS.percentile;
  if (typeof percentile !== 'number' || !(percentile > 50 && percentile <= 100)) throw new RangeError(`quantize: percentile must be a number in (50, 100], got ${String(o.percentile)}`);
  for (const k of ['equalize', 'biasCorrection'] as const) {
    if (o[k] !== undefined && typeof o[k] !== 'boolean') throw new TypeError(`quantize: ${k} must be a boolean, got ${typeof o[k]}`);
  }
  const perTensor = weights === 'per-tensor';
  return { method, percentile, weights, activations, equalize: o.equalize ?? perTensor, biasCorrection: o.biasCorrection ?? perTensor };
}

/** The float graph quantize works on: BN folded, the three heads, the duplicate pooling merged. */
export function floatGraph(model: Module, inputSize: number | readonly [number, number]): Graph {
  const includeTop = (model as { includeTop?: boolean }).includeTop ?? true;
  const heads: Head[] = includeTop ? ['embedding', 'probabilities'] : ['embedding'];
  const g = inferenceGraph(model, { inputSize, outputName: includeTop ? 'logits' : 'output', heads });
  mergeDuplicates(g);
  return g;
}

/** The activation tensors that get an int8 grid: the input, each conv's (after its ReLU6), each Add's and pool's. */
export function activationTensors(g: Graph): Value[] {
  const readers = g.consumers();
  const out: Value[] = [...g.inputs];
  for (const n of g.nodes) {
    if (n.op === 'Conv') {
      const r = readers.get(n.outputs[0]!.id);
      out.push(r?.length === 1 && foldable(g, r[0]!) ? r[0]!.outputs[0]! : n.outputs[0]!);
    } else if (n.op === 'Add' || n.op === 'GlobalAveragePool' || n.op === 'GlobalMaxPool') out.push(n.outputs[0]!);
  }
  return out;
}

/**
 * Run the float graph `g` on `batches` with every tensor of `acts` fetched, and gather each one's
 * statistics. `g` is left as it was.
 */
export async function calibrate(
  g: Graph,
  acts: readonly Value[],
  batches: Iterable<Tensor> | AsyncIterable<Tensor>,
  backend: Backend,
  opts: { session?: SessionOptions; total?: number; histogram?: boolean; onProgress?: QuantizeOptions['onProgress'] } = {},
): Promise<{ stats: Map<number, TensorStats>; images: number }> {
  const x0 = g.inputs[0]!;
  const [h, w] = [x0.shape[2], x0.shape[3]];
  const n0 = g.outputs.length;
  g.outputs.push(...acts.filter((v) => !g.outputs.includes(v)));
  const session = await backend.createSession(toOnnx(g), opts.session ?? {});
  g.outputs.length = n0;
  const stats = new Map<number, TensorStats>(acts.map((v) => [v.id, new TensorStats(opts.histogram ?? true)]));
  let images = 0;
  try {
    for await (const x of batches) {
      if (x.dtype !== 'float32' || x.shape.length !== 4 || x.shape[1] !== 3 || x.shape[2] !== h || x.shape[3] !== w) {
        throw new RangeError(`quantize: calibration batches must be float32 N x 3 x ${h} x ${w}, got ${x.dtype} [${x.shape.join(', ')}]`);
      }
      const out = await session.run({ [x0.name]: x }, acts.filter((v) => !g.inputs.includes(v)).map((v) => v.name));
      for (const v of acts) {
        const t = g.inputs.includes(v) ? x : out[v.name]!;
        stats.get(v.id)!.add(t.data as Float32Array, t.shape);
      }
      images += x.shape[0]!;
      opts.onProgress?.(images, opts.total);
    }
  } finally {
    await session.release();
  }
  if (images === 0) throw new RangeError('quantize: no calibration images');
  return { stats, images };
}

/**
 * Calibrate `model` on `batches` and emit its int8 QDQ graph. `total` (images) is for progress
 * only. The model is not modified.
 */
export async function quantizeNetwork(
  model: Module,
  batches: Iterable<Tensor> | AsyncIterable<Tensor>,
  backend: Backend,
  opts: QuantizeOptions & { inputSize?: number | readonly [number, number]; session?: SessionOptions; total?: number } = {},
): Promise<{ graph: Graph; report: QuantizeReport }> {
  const o = resolveQuantizeOptions(opts);
  const size = inputHW(opts.inputSize ?? 224);
  if (model.training) throw new Error('quantize: call model.eval() first');
  const g = floatGraph(model, size);
  const list = o.equalize && !Array.isArray(batches) ? await collect(batches) : batches; // equalization reads the images twice
  let pairs: ReturnType<typeof equalize> = [];
  if (o.equalize) {
    // where each ReLU6 clips, from the images, bounds the equalization's scales (equalize.ts)
    const { stats } = await calibrate(g, activationTensors(g), list, backend, { session: opts.session, histogram: false });
    pairs = equalize(g, 20, new Map([...stats].map(([id, s]) => [id, s.channelMax!])));
  }
  const acts = activationTensors(g);

  const { stats, images } = await calibrate(g, acts, list, backend, { ...opts, histogram: o.method !== 'minmax' });
  const params = new Map<number, QParams>();
  const grids: QuantizeReport['grids'] = {};
  for (const v of acts) {
    const range = chooseRange(stats.get(v.id)!, { method: o.method, percentile: o.percentile });
    const p = activationParams(range, o.activations);
    params.set(v.id, p);
    grids[v.name] = { ...p, range };
  }
  const means = o.biasCorrection ? new Map([...stats].map(([id, s]) => [id, s.channelMeans()])) : undefined;
  const graph = emitQdq(g, { weights: o.weights, params, biasCorrection: means });
  const report: QuantizeReport = {
    method: o.method,
    ...(o.method === 'percentile' ? { percentile: o.percentile } : {}),
    weights: o.weights,
    weightStorage: o.activations === 'int8' ? 'int8' : EXACT_STORAGE,
    activations: o.activations,
    equalize: o.equalize,
    biasCorrection: o.biasCorrection,
    images,
    tensors: acts.length,
    equalizedPairs: pairs.length,
    grids,
  };
  return { graph, report };
}

async function collect<T>(xs: Iterable<T> | AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of xs) out.push(x);
  return out;
}

/** What an int8 file records about how it was made (metadata key `quantization`). */
export function quantizationMetadata(r: QuantizeReport): Record<string, string> {
  const { grids: _g, ...rest } = r;
  return { quantization: JSON.stringify({ format: 'qdq', ...rest }) };
}

export interface QuantizeModelOptions extends QuantizeOptions {
  /** Calibrate on this many of the images, evenly spaced over the list (default: all). */
  count?: number;
  /** Calibration images per forward pass (default 8). */
  batchSize?: number;
}

/** `count` indices spread evenly over [0, n): a list sorted by class gives every class its share. */
export function evenlySpaced(n: number, count: number): number[] {
  if (count >= n) return Array.from({ length: n }, (_, i) => i);
  return Array.from({ length: count }, (_, i) => Math.floor((i * n) / count));
}

/**
 * A loaded model (load()'s) -> the ONNX bytes of its int8 graph, calibrated on `images` (what
 * classify takes: paths, buffers, pixels; in the browser elements, bitmaps, files) with the model's
 * preprocessing, at its input size. The file carries the model's metadata (labels, preprocessing,
 * input size, card) and how it was quantized; load(), predict and mobilenetv2/web run it.
 */
export async function quantize<Img>(model: MobileNetV2Model<Img>, images: readonly Img[], opts: QuantizeModelOptions = {}): Promise<Uint8Array> {
  if (!(model instanceof MobileNetV2Model)) throw new TypeError(`quantize: model must be what load() returns, got ${model === null ? 'null' : typeof model}`);
  if (!Array.isArray(images)) throw new TypeError(`quantize: images must be an array of calibration images, got ${images === null ? 'null' : typeof images}`);
  if (images.length === 0) throw new RangeError('quantize: images must not be empty (calibration needs real images)');
  const { count = images.length, batchSize = 8 } = opts;
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`quantize: count must be an integer >= 1, got ${String(opts.count)}`);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`quantize: batchSize must be an integer >= 1, got ${String(opts.batchSize)}`);
  resolveQuantizeOptions(opts);
  if (model.family === 'onnx') throw new RangeError(`quantize: ${model.source} is an ONNX graph; quantize needs the weights it was made from (.pth, .safetensors, a registry name)`);
  const net = model.model as MobileNetV2;
  const picked = evenlySpaced(images.length, count).map((i) => images[i]!);
  const spec = resolvePreset(model.preset);
  async function* batches(): AsyncGenerator<Tensor> {
    for (let i = 0; i < picked.length; i += batchSize) yield model.toTensor(picked.slice(i, i + batchSize));
  }
  const { graph, report } = await quantizeNetwork(net, batches(), model.predictor.backend, { ...opts, inputSize: spec.crop, total: picked.length, session: { device: model.predictor.device } });
  const meta = onnxMetadata(net, {
    weights: model.source.replace(/[/\\]+$/, '').split(/[/\\]/).pop() ?? model.source,
    family: model.family === 'none' ? undefined : model.family,
    labels: model.labels,
    preset: { name: typeof model.preset === 'string' ? model.preset : 'checkpoint', spec },
    inputSize: spec.crop,
  });
  return toOnnx(graph, { metadata: { ...meta, ...quantizationMetadata(report) } });
}
