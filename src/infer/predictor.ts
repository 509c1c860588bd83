// A model compiled for inference and held in ONNX Runtime sessions, one per input size: the one
// inference path. The CLI (predict, embed, eval, run), load()'s classify / embed / infer and the
// browser all run the network through it. Backend-agnostic: each platform passes its own.

import { inferenceGraph, inputHW, type Head } from './graph.js';
import type { Module } from '../nn/module.js';
import { toOnnx } from '../onnx/export.js';
import type { Backend, Device, Session, SessionOptions } from './backend.js';
import { isOnnxNetwork, variantBytes, type OnnxNetwork } from './onnx.js';
import type { Int8Variant } from '../quant/variants.js';
import { numel, shapeStr, type Tensor } from '../tensor.js';

/**
 * What a Predictor runs: a module (compiled to an inference graph per input size) or an ONNX file
 * of ours (export's fp32 graph, quantize's int8 one: run as it is, at the graph's input size).
 */
export type Network = Module | OnnxNetwork;

export interface PredictorOptions extends SessionOptions {
  /** Fold BatchNorm into convs (default true). */
  foldBN?: boolean;
  /** An int8 network: the variant to run (default the backend's pick, else 'qdq'). */
  int8Variant?: Int8Variant;
}

/** What a run can fetch: the model's own output and the heads (graph.ts). */
export type Output = 'output' | Head;

export interface TopK {
  index: number;
  probability: number;
  logit: number;
}

const HEADS: readonly Head[] = ['embedding', 'logits', 'probabilities'];

/** The ONNX bytes a Predictor's session runs (for a session made elsewhere, e.g. on a worker thread). */
export function predictorOnnx(model: Module, inputSize: number | readonly [number, number], foldBN = true): Uint8Array {
  if (model.training) model.eval();
  return toOnnx(inferenceGraph(model, { inputSize, foldBN, outputName: 'output', heads: HEADS }));
}

/**
 * Our names -> the graph's: its input, and the output serving each of `fetch` (a file's are named as
 * it names them; undefined where it has none).
 */
export function graphNames(network: Network, fetch: readonly Output[]): { input: string; outputs: (string | undefined)[] } {
  const net = isOnnxNetwork(network) ? network : undefined;
  return { input: net?.inputName ?? 'input', outputs: fetch.map((k) => (net ? net.outputs[k] : k)) };
}

export class Predictor {
  private readonly sessions = new Map<string, Promise<Session>>();
  private disposed = false;

  constructor(
    readonly network: Network,
    readonly backend: Backend,
    private readonly opts: PredictorOptions = {},
  ) {
    if (!isOnnxNetwork(network) && network.training) network.eval();
  }

  /** The module compiled; an ONNX network has none (its weights are in the graph). */
  get model(): Module {
    if (isOnnxNetwork(this.network)) throw new Error(`this model runs the ONNX graph of ${this.network.source}: there is no module (its weights are in the graph)`);
    return this.network;
  }

  get device(): Device {
    return this.opts.device ?? 'cpu';
  }

  /** The ONNX bytes a session runs for input H x W (dynamic batch): output, embedding, logits, probabilities. */
  onnx(inputSize: number | readonly [number, number]): Uint8Array {
    const [h, w] = inputHW(inputSize);
    const net = this.network;
    if (!isOnnxNetwork(net)) return predictorOnnx(net, [h, w], this.opts.foldBN ?? true);
    if (h !== net.inputSize[0] || w !== net.inputSize[1]) {
      throw new RangeError(`input is ${h}x${w}, but the ONNX graph of ${net.source} takes ${net.inputSize[0]}x${net.inputSize[1]} (an ONNX graph's input size is fixed)`);
    }
    // an int8 graph in the variant this runtime runs fastest (onnxruntime-web's WASM: depthwise convs in float)
    return net.quantization ? variantBytes(net, this.opts.int8Variant ?? this.backend.int8Variant?.(this.device) ?? 'qdq') : net.bytes;
  }

  /** The session for input H x W, compiled on first use. */
  session(h: number, w: number): Promise<Session> {
    if (this.disposed) throw new Error('Predictor: used after release()');
    inputHW([h, w]);
    const key = `${h}x${w}`;
    let s = this.sessions.get(key);
    if (s === undefined) {
      s = (async () => this.backend.createSession(this.onnx([h, w]), this.opts))();
      this.sessions.set(key, s);
      s.catch(() => this.sessions.delete(key));
    }
    return s;
  }

  /** (N, 3, H, W) float32 -> the outputs asked for (default logits and probabilities, (N, classes)). */
  async run<K extends Output = 'logits' | 'probabilities'>(input: Tensor, fetch: readonly K[] = ['logits', 'probabilities'] as K[]): Promise<Record<K, Tensor>> {
    if (typeof input !== 'object' || input === null || input.dtype !== 'float32' || input.shape.length !== 4 || input.shape[1] !== 3) {
      throw new RangeError(`input must be a float32 N x 3 x H x W tensor, got ${input?.dtype} ${input?.shape ? shapeStr(input.shape) : typeof input}`);
    }
    const s = await this.session(input.shape[2]!, input.shape[3]!);
    const net = isOnnxNetwork(this.network) ? this.network : undefined;
    const { input: feedName, outputs: names } = graphNames(this.network, fetch);
    fetch.forEach((k, i) => {
      if (names[i] === undefined || !s.outputNames.includes(names[i]!)) throw new Error(`this model has no ${k} output${k === 'logits' || k === 'probabilities' ? ' (it has no classifier: includeTop false)' : ''}`);
    });
    const out = net?.batch !== undefined && net.batch !== input.shape[0] ? await this.runFixedBatch(s, feedName, input, names as string[], net.batch) : await s.run({ [feedName]: input }, names as string[]);
    return Object.fromEntries(fetch.map((k, i) => [k, out[names[i]!]!])) as Record<K, Tensor>;
  }

  /** A graph with a fixed batch b: the input in slices of b (the last one zero-padded), the outputs joined. */
  private async runFixedBatch(s: Session, feed: string, x: Tensor, fetch: string[], b: number): Promise<Record<string, Tensor>> {
    const n = x.shape[0]!;
    const per = numel(x.shape.slice(1));
    const parts: Record<string, Tensor>[] = [];
    for (let i = 0; i < n; i += b) {
      const data = new Float32Array(b * per);
      data.set((x.data as Float32Array).subarray(i * per, Math.min(n, i + b) * per));
      parts.push(await s.run({ [feed]: { dtype: 'float32', shape: [b, ...x.shape.slice(1)], data } }, fetch));
    }
    return Object.fromEntries(
      fetch.map((name) => {
        const t0 = parts[0]![name]!;
        const row = numel(t0.shape.slice(1));
        const data = new Float32Array(n * row);
        parts.forEach((p, j) => data.set((p[name]!.data as Float32Array).subarray(0, Math.min(b, n - j * b) * row), j * b * row));
        return [name, { dtype: 'float32', shape: [n, ...t0.shape.slice(1)], data } as Tensor];
      }),
    );
  }

  /** Release the runtime sessions; the predictor cannot be used afterwards. */
  async release(): Promise<void> {
    this.disposed = true;
    const all = [...this.sessions.values()];
    this.sessions.clear();
    for (const s of all) await (await s.catch(() => undefined))?.release();
  }
}

/**
 * The k most probable classes of each row of (N, C) probabilities, best first (ties: lower index).
 * `skip` leaves classes out of the ranking (a 1001-class TF head's background, class 0); the
 * probabilities stay as given.
 */
export function topk(probabilities: Tensor, logits: Tensor, k: number, skip: readonly number[] = []): TopK[][] {
  const [n, c] = probabilities.shape as [number, number];
  const p = probabilities.data as Float32Array;
  const l = logits.data as Float32Array;
  const skipped = new Set(skip);
  const kk = Math.min(k, c - skipped.size);
  const rows: TopK[][] = [];
  for (let i = 0; i < n; i++) {
    const best: number[] = []; // indices, kept sorted by probability, descending: O(C * k)
    for (let j = 0; j < c; j++) {
      if (skipped.has(j)) continue;
      const v = p[i * c + j]!;
      if (best.length === kk && v <= p[i * c + best[kk - 1]!]!) continue;
      let pos = best.length;
      while (pos > 0 && p[i * c + best[pos - 1]!]! < v) pos--;
      best.splice(pos, 0, j);
      if (best.length > kk) best.pop();
    }
    rows.push(best.map((j) => ({ index: j, probability: p[i * c + j]!, logit: l[i * c + j]! })));
  }
  return rows;
}
