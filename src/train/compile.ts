// The training step as ONE ONNX graph: forward in train mode (batch-statistics BatchNorm, dropout
// from a mask input), softmax cross-entropy, reverse-mode autodiff, the optimizer update and the
// running-statistics update. Compiled once per batch shape; every step is one ONNX Runtime run.
//
// Inputs:  input (B, 3, H, W), target (B, K) class probabilities (one-hot or label-smoothed),
//          each trainable parameter by its state-dict key, each optimizer state `<key>.<slot>`,
//          each train-mode BatchNorm's running_mean / running_var, dropout masks, scalars (lr...).
// Outputs: loss, logits, then `new.<name>` for every parameter, optimizer state and running stat.
// Frozen parameters and eval-mode layers are constants of the graph; a frozen conv's eval-mode
// BatchNorm is folded into it (as in the inference graph), so a frozen prefix (`--freeze
// features.0-K`) is an inference subgraph: constant, BN-folded Conv (+ ReLU6), which ONNX Runtime
// at level 'all' runs on its prepacked NCHWc kernels, and no gradient is computed there.

import { gradients } from '../graph/autodiff.js';
import { Graph, type Value } from '../graph/ir.js';
import { resolveFormulation, type Formulation } from '../graph/ops.js';
import { convBatchNorm, foldBatchNorm, lowerComposites, recompute } from '../graph/passes.js';
import { emit, type Module } from '../nn/module.js';
import { toOnnx } from '../onnx/export.js';
import { inputHW } from '../infer/graph.js';
import type { Optimizer } from './optim.js';
import { shapeStr } from '../tensor.js';

export interface TrainStepSpec {
  batch: number;
  inputSize: number | readonly [number, number];
  numClasses: number;
  optimizer: Optimizer;
  /** Also output each parameter's gradient as `grad.<key>` (for tests and tools). */
  outputGradients?: boolean;
  /**
   * Which standard-ONNX formulation each gradient and composite emits (ops.ts FORMULATIONS);
   * unset keys take the CPU defaults. WebGPU needs `{ depthwiseDw: 'slices' }`.
   */
  formulation?: Partial<Formulation>;
}

export interface StateInput {
  /** Graph input name; the updated value is output `new.<name>`. */
  name: string;
  shape: number[];
  kind: 'parameter' | 'optimizer' | 'running_mean' | 'running_var';
  /** State-dict key this tensor belongs to (the parameter, or the BN buffer). */
  key: string;
  /** Optimizer slot name, or for running stats the BN's batch count and momentum. */
  slot?: string;
  init?: number;
  count?: number;
  momentum?: number;
}

export interface CompiledStep {
  graph: Graph;
  onnx: Uint8Array;
  /** Everything carried from one step to the next, in output order after loss and logits. */
  state: StateInput[];
  dropout: { name: string; shape: number[]; p: number }[];
  scalars: readonly string[];
  /** State-dict prefixes of the train-mode BatchNorm layers (their num_batches_tracked advance). */
  trainBN: string[];
}

export function compileTrainStep(model: Module, spec: TrainStepSpec): CompiledStep {
  const formulation = resolveFormulation(spec.formulation, 'compileTrainStep: formulation');
  const [h, w] = inputHW(spec.inputSize);
  const g = new Graph();
  const x = g.input('input', [spec.batch, 3, h, w]);
  const target = g.input('target', [spec.batch, spec.numClasses]);
  const state: StateInput[] = [];
  const dropout: CompiledStep['dropout'] = [];
  const params: { key: string; value: Value }[] = [];
  const running: { key: string; mean: Value; variance: Value; count: number; momentum: number }[] = [];
  const trainable = new Set(model.namedParameters().filter(([, p]) => p.requiresGrad).map(([k]) => k));

  const logits = emit(model, g, x, {
    bind(key, t, kind) {
      if (kind === 'parameter' && trainable.has(key)) {
        const v = g.input(key, t.shape);
        params.push({ key, value: v });
        return v;
      }
      return g.initializer(key, t); // frozen: a constant (ORT's constant-weight fast paths apply)
    },
    train: {
      batchStats(key, mean, variance, count, momentum) {
        running.push({ key, mean, variance, count, momentum });
      },
      dropoutMask(key, like, p) {
        const shape = like.shape as number[];
        const name = `dropout.${key}`;
        dropout.push({ name, shape, p });
        return g.input(name, shape);
      },
    },
  });
  if (logits.shape.length !== 2 || logits.shape[1] !== spec.numClasses) throw new Error(`compileTrainStep: logits are ${shapeStr(logits.shape)}, expected [${spec.batch}, ${spec.numClasses}]`);
  const loss = g.op1('SoftmaxCrossEntropy', [logits, target]);
  g.output(loss, 'loss');
  g.output(logits, 'logits');
  // frozen Conv + eval BatchNorm -> one Conv with folded constant weights (before autodiff: a
  // frozen layer between trainable ones gets its dX through the folded conv, the same function)
  foldBatchNorm(g);
  // a 1x1 conv and its train-mode BatchNorm as one composite, statistics from the conv's input
  if (formulation.convBn === 'moments') convBatchNorm(g);

  // backward (everything the forward computed is a value that exists now)
  const forward = new Set(g.nodes.flatMap((n) => n.outputs.map((o) => o.id)));
  const grads = gradients(g, loss, params.map((p) => p.value), formulation);

  // optimizer update
  const scalars = Object.fromEntries(spec.optimizer.scalars.map((s) => [s, g.input(s, [])]));
  const newState: Value[] = [];
  for (const { key, value } of params) {
    const grad = grads.get(value);
    if (!grad) throw new Error(`compileTrainStep: the loss does not depend on ${key}`);
    const slots = spec.optimizer.slots.map((s) => {
      const name = `${key}.${s.name}`;
      state.push({ name, shape: value.shape as number[], kind: 'optimizer', key, slot: s.name, init: s.init });
      return g.input(name, value.shape);
    });
    const out = g.at(`update.${key}`, () => spec.optimizer.emit(g, value, grad, slots, scalars));
    newState.push(out.param, ...out.states);
    state.splice(state.length - slots.length, 0, { name: key, shape: value.shape as number[], kind: 'parameter', key });
  }
  // running statistics, as torch: r = (1 - m) r + m * batch, the variance unbiased (times M / (M - 1))
  for (const r of running) {
    const c = r.mean.shape as number[];
    const rm = g.input(`${r.key}.running_mean`, c);
    const rv = g.input(`${r.key}.running_var`, c);
    const m = r.momentum;
    g.at(`update.${r.key}`, () => {
      const unbiased = g.op1('Mul', [r.variance, g.scalar(r.count / Math.max(1, r.count - 1))]);
      newState.push(
        g.op1('Add', [g.op1('Mul', [rm, g.scalar(1 - m)]), g.op1('Mul', [r.mean, g.scalar(m)])]),
        g.op1('Add', [g.op1('Mul', [rv, g.scalar(1 - m)]), g.op1('Mul', [unbiased, g.scalar(m)])]),
      );
    });
    state.push(
      { name: rm.name, shape: c, kind: 'running_mean', key: `${r.key}.running_mean`, count: r.count, momentum: m },
      { name: rv.name, shape: c, kind: 'running_var', key: `${r.key}.running_var`, count: r.count, momentum: m },
    );
  }
  newState.forEach((v, i) => g.output(g.op1('Identity', [v]), `new.${state[i]!.name}`));
  if (spec.outputGradients) for (const { key, value } of params) g.output(g.op1('Identity', [grads.get(value)!]), `grad.${key}`);

  lowerComposites(g, formulation);
  if (formulation.recompute !== 'none') {
    let backwardFrom = g.nodes.length;
    while (backwardFrom > 0 && !g.nodes[backwardFrom - 1]!.outputs.some((o) => forward.has(o.id))) backwardFrom--;
    recompute(g, backwardFrom, formulation.recompute);
  }
  g.prune();
  return { graph: g, onnx: toOnnx(g), state, dropout, scalars: spec.optimizer.scalars, trainBN: running.map((r) => r.key) };
}
