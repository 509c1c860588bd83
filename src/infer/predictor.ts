// A model compiled for inference and held in ONNX Runtime sessions, one per input size: the one
// inference path. The CLI (predict, embed, eval, run), load()'s classify / embed / infer and the
// browser all run the network through it. Backend-agnostic: each platform passes its own.

import { inferenceGraph, inputHW, type Head } from './graph.js';
import type { Module } from '../nn/module.js';
import { toOnnx } from '../onnx/export.js';
import type { Backend, Device, Session, SessionOptions } from './backend.js';
import { shapeStr, type Tensor } from '../tensor.js';

export interface PredictorOptions extends SessionOptions {
  /** Fold BatchNorm into convs (default true). */
  foldBN?: boolean;
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

export class Predictor {
  private readonly sessions = new Map<string, Promise<Session>>();
  private disposed = false;

  constructor(
    readonly model: Module,
    private readonly backend: Backend,
    private readonly opts: PredictorOptions = {},
  ) {
    if (model.training) model.eval();
  }

  get device(): Device {
    return this.opts.device ?? 'cpu';
  }

  /** The ONNX bytes a session runs for input H x W (dynamic batch): output, embedding, logits, probabilities. */
  onnx(inputSize: number | readonly [number, number]): Uint8Array {
    return predictorOnnx(this.model, inputSize, this.opts.foldBN ?? true);
  }

  /** The session for input H x W, compiled on first use. */
  session(h: number, w: number): Promise<Session> {
    if (this.disposed) throw new Error('Predictor: used after release()');
    inputHW([h, w]);
    const key = `${h}x${w}`;
    let s = this.sessions.get(key);
    if (s === undefined) {
      s = this.backend.createSession(this.onnx([h, w]), this.opts);
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
    for (const k of fetch) if (!s.outputNames.includes(k)) throw new Error(`this model has no ${k} output${k === "logits" || k === "probabilities" ? " (it has no classifier: includeTop false)" : ""}`);
    return (await s.run({ input }, fetch)) as Record<K, Tensor>;
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
