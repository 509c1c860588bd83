// A model compiled for inference and held in an ONNX Runtime session: the predict path.
// Backend-agnostic: node and web pass their own Backend.

import { inferenceGraph, inputHW } from './compile.js';
import { Graph } from './graph/ir.js';
import type { Module } from './nn/module.js';
import { toOnnx } from './onnx/export.js';
import type { Backend, Device, Session, SessionOptions } from './runtime/backend.js';
import { shapeStr, type Tensor } from './tensor.js';

export interface PredictorOptions extends SessionOptions {
  /** Fold BatchNorm into convs (default true). */
  foldBN?: boolean;
}

export interface TopK {
  index: number;
  probability: number;
  logit: number;
}

/** Append Softmax over the logits as a second output, so probabilities come from the runtime too. */
function withProbabilities(g: Graph): Graph {
  const logits = g.outputs[0]!;
  g.within('probabilities', () => g.output(g.op1('Softmax', [logits], { axis: 1 }), 'probabilities'));
  return g;
}

export class Predictor {
  private readonly sessions = new Map<string, Promise<Session>>();

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

  /** The ONNX bytes of the inference graph for an input size (dynamic batch). */
  onnx(inputSize: number | [number, number]): Uint8Array {
    return toOnnx(withProbabilities(inferenceGraph(this.model, { inputSize, foldBN: this.opts.foldBN ?? true })));
  }

  /** The session for input H x W, compiled on first use. */
  session(h: number, w: number): Promise<Session> {
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

  /** (N, 3, H, W) float32 -> { logits, probabilities }, both (N, numClasses). */
  async run(input: Tensor): Promise<{ logits: Tensor; probabilities: Tensor }> {
    if (input.dtype !== 'float32' || input.shape.length !== 4 || input.shape[1] !== 3) {
      throw new RangeError(`input must be a float32 N x 3 x H x W tensor, got ${input.dtype} ${shapeStr(input.shape)}`);
    }
    const s = await this.session(input.shape[2]!, input.shape[3]!);
    const out = await s.run({ input });
    return { logits: out['logits']!, probabilities: out['probabilities']! };
  }

  async release(): Promise<void> {
    const all = [...this.sessions.values()];
    this.sessions.clear();
    for (const s of all) await (await s).release();
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
