// Runs compiled training steps: holds the parameters, optimizer state and running statistics
// between steps (ONNX Runtime's outputs become the next step's inputs), writes them back into the
// model, and makes each step's dropout masks and targets.

import type { Module } from '../nn/module.js';
import type { Generator } from '../random.js';
import type { Backend, Session, SessionOptions } from '../infer/backend.js';
import { float32, int64, type Tensor } from '../tensor.js';
import { compileTrainStep, type CompiledStep } from './compile.js';
import { makeOptimizer, type Optimizer, type OptimizerSpec } from './optim.js';
import type { Formulation } from '../graph/ops.js';

export interface TrainerOptions extends SessionOptions {
  optimizer: OptimizerSpec;
  numClasses: number;
  inputSize: number;
  labelSmoothing?: number;
  /** Return each parameter's gradient too (tests, tools). */
  outputGradients?: boolean;
  /** Formulations of the compiled step (compileTrainStep's); WebGPU needs `{ depthwiseDw: 'slices' }`. */
  formulation?: Partial<Formulation>;
}

export interface StepResult {
  loss: number;
  logits: Tensor;
  /** By parameter key, when `outputGradients` is set. */
  grads?: Map<string, Tensor>;
}

/** Where dropout masks come from: a generator (training), or given tensors by mask name (tests). */
export type DropoutSource = Generator | Map<string, Tensor>;

/** (B) labels -> (B, K) targets: one-hot, or (1 - e) * onehot + e / K with label smoothing e. */
export function targets(labels: ArrayLike<number>, numClasses: number, smoothing = 0): Tensor {
  const t = float32([labels.length, numClasses], new Float32Array(labels.length * numClasses).fill(smoothing / numClasses));
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i]!;
    if (!Number.isInteger(y) || y < 0 || y >= numClasses) throw new RangeError(`label ${y} is not a class index in [0, ${numClasses})`);
    (t.data as Float32Array)[i * numClasses + y] = 1 - smoothing + smoothing / numClasses;
  }
  return t;
}

export class Trainer {
  readonly optimizer: Optimizer;
  /** Optimizer state by input name (`<key>.<slot>`); survives recompiles and checkpoints. */
  readonly optState = new Map<string, Tensor>();
  /** Optimizer steps taken (Adam's bias correction counts from 1). */
  step = 0;
  private readonly compiled = new Map<number, Promise<{ step: CompiledStep; session: Session }>>();

  constructor(
    readonly model: Module,
    private readonly backend: Backend,
    readonly opts: TrainerOptions,
  ) {
    this.optimizer = makeOptimizer(opts.optimizer);
  }

  /** The compiled step for a batch size (compiled on first use; a smaller last batch gets its own). */
  private get(batch: number): Promise<{ step: CompiledStep; session: Session }> {
    let c = this.compiled.get(batch);
    if (!c) {
      c = this.compile(batch);
      this.compiled.set(batch, c);
    }
    return c;
  }

  private async compile(batch: number): Promise<{ step: CompiledStep; session: Session }> {
    const device = this.opts.device ?? 'cpu';
    const step = compileTrainStep(this.model, {
      batch,
      inputSize: this.opts.inputSize,
      numClasses: this.opts.numClasses,
      optimizer: this.optimizer,
      outputGradients: this.opts.outputGradients,
      // what the runtime needs or runs fastest on this device (WebGPU: 'slices'; onnxruntime-node's
      // CPU: its NCHWc kernels), then what the caller asked for
      formulation: { ...(await this.backend.formulation?.(device)), ...this.opts.formulation },
    });
    // the runtime's level for training on this device ('extended' unless it says otherwise: docs/training.md)
    const level = this.opts.graphOptimizationLevel ?? this.backend.trainOptimizationLevel?.(device) ?? 'extended';
    const session = await this.backend.createSession(step.onnx, { ...this.opts, graphOptimizationLevel: level, memPattern: this.opts.memPattern ?? false });
    return { step, session };
  }

  /** One optimizer step on a batch; `dropout` gives the dropout masks (a generator draws fresh ones). */
  async train(x: Tensor, labels: ArrayLike<number>, lr: number, dropout: DropoutSource): Promise<StepResult> {
    const batch = x.shape[0]!;
    const { step, session: s } = await this.get(batch);
    const sd = this.model.stateDict();
    const feeds: Record<string, Tensor> = { input: x, target: targets(labels, this.opts.numClasses, this.opts.labelSmoothing ?? 0) };
    for (const st of step.state) {
      if (st.kind === 'optimizer') {
        let t = this.optState.get(st.name);
        if (!t) this.optState.set(st.name, (t = float32(st.shape, new Float32Array(st.shape.reduce((a, b) => a * b, 1)).fill(st.init ?? 0))));
        feeds[st.name] = t;
      } else feeds[st.name] = sd.get(st.key)!;
    }
    for (const d of step.dropout) {
      if (dropout instanceof Map) {
        const given = dropout.get(d.name);
        if (!given) throw new Error(`train: no dropout mask ${d.name} given`);
        feeds[d.name] = given;
        continue;
      }
      const m = new Float32Array(d.shape.reduce((a, b) => a * b, 1));
      const keep = 1 / (1 - d.p);
      for (let i = 0; i < m.length; i++) m[i] = dropout.uniform() < d.p ? 0 : keep;
      feeds[d.name] = float32(d.shape, m);
    }
    this.step++;
    const sv = this.optimizer.scalarValues(this.step, lr);
    for (const k of step.scalars) feeds[k] = float32([], [sv[k]!]);

    const out = await s.run(feeds);
    const loss = (out['loss']!.data as Float32Array)[0]!;
    // carry the new state: parameters and running stats go back into the model
    const updates = new Map<string, Tensor>();
    for (const st of step.state) {
      const t = out[`new.${st.name}`]!;
      if (st.kind === 'optimizer') this.optState.set(st.name, t);
      else updates.set(st.key, t);
    }
    for (const key of step.trainBN) {
      const n = sd.get(`${key}.num_batches_tracked`)!;
      updates.set(`${key}.num_batches_tracked`, int64([], [(n.data as BigInt64Array)[0]! + 1n]));
    }
    this.model.loadStateDict(updates, false);
    const grads = this.opts.outputGradients ? new Map(step.state.filter((st) => st.kind === 'parameter').map((st) => [st.key, out[`grad.${st.key}`]!])) : undefined;
    return { loss, logits: out['logits']!, grads };
  }

  async release(): Promise<void> {
    for (const c of this.compiled.values()) await (await c).session.release();
    this.compiled.clear();
  }
}
