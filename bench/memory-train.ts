// Which tensors are alive at the training step's peak: a liveness walk over the compiled graph in
// its node order (ONNX Runtime's sequential executor runs a topological order close to it), every
// intermediate allocated when its node runs and freed after its last reader. Inputs (batch,
// parameters, optimizer state) are counted apart. A model of the memory plan, not a measurement:
// ORT's arena rounds and keeps chunks (bench:train's peak RSS is the measurement).
//   npx tsc -p . && node dist/bench/memory-train.js [batch] [size] [alpha] [freezeK] [formulation JSON]

import { MobileNetV2 } from '../src/models/mobilenetv2.js';
import { compileTrainStep } from '../src/train/compile.js';
import { makeOptimizer } from '../src/train/optim.js';
import type { Value } from '../src/graph/ir.js';
import type { Formulation } from '../src/graph/ops.js';

const [batch = 32, size = 224, alpha = 1.0, freeze = -1] = process.argv.slice(2, 6).map(Number);
const formulation = process.argv[6] ? (JSON.parse(process.argv[6]) as Partial<Formulation>) : undefined;
const model = new MobileNetV2({ alpha }).train();
for (let i = 0; i <= freeze; i++) {
  const m = model.features.children.get(String(i))!;
  m.eval();
  for (const [, p] of m.namedParameters()) p.requiresGrad = false;
}
const step = compileTrainStep(model, { batch, inputSize: size, numClasses: 1000, optimizer: makeOptimizer({ name: 'sgd', momentum: 0.9 }), formulation });
const g = step.graph;
const bytes = (v: Value) => (v.shape as number[]).reduce((a, b) => a * b, 1) * (v.dtype === 'int64' ? 8 : v.dtype === 'bool' ? 1 : 4);
const MB = (b: number) => (b / 2 ** 20).toFixed(0);

// Reshape's output is its input's buffer (ONNX Runtime's CPU Reshape aliases it): one tensor, alive
// until the last reader of either
const root = new Map<number, Value>();
const rootOf = (v: Value): Value => root.get(v.id) ?? v;
for (const n of g.nodes) if (n.op === 'Reshape' && n.inputs[0]) root.set(n.outputs[0]!.id, rootOf(n.inputs[0]));
const last = new Map<number, number>();
g.nodes.forEach((n, i) => n.inputs.forEach((v) => v && last.set(rootOf(v).id, i)));
for (const v of g.outputs) last.set(rootOf(v).id, g.nodes.length);
const live = new Map<number, Value>();
let cur = 0;
let peak = 0;
let atPeak: Value[] = [];
let peakNode = '';
g.nodes.forEach((n, i) => {
  for (const o of n.outputs) {
    if (root.has(o.id)) continue;
    live.set(o.id, o);
    cur += bytes(o);
  }
  if (cur > peak) [peak, atPeak, peakNode] = [cur, [...live.values()], n.name];
  for (const u of [...n.inputs, ...n.outputs]) {
    const v = u && rootOf(u);
    if (v && live.has(v.id) && (last.get(v.id) ?? i) <= i) {
      live.delete(v.id);
      cur -= bytes(v);
    }
  }
});
const inputs = g.inputs.reduce((a, v) => a + bytes(v), 0);
const consts = [...g.initializers.keys()].reduce((a, v) => a + bytes(v), 0);
// what kind of tensor: forward activations kept for the backward (produced by a forward node) or backward temporaries
const backward = (v: Value) => /(^|\/|\.)grad|^update\./.test(v.producer?.name ?? '') || /^grad/.test(v.name);
const fwd = atPeak.filter((v) => !backward(v));
const bwd = atPeak.filter(backward);
const sum = (vs: Value[]) => vs.reduce((a, v) => a + bytes(v), 0);
console.log(`batch ${batch}, ${size}x${size}, alpha ${alpha}${freeze >= 0 ? `, features.0-${freeze} frozen` : ''}${formulation ? `, formulation ${JSON.stringify(formulation)}` : ''}: ${g.nodes.length} nodes`);
console.log(`graph inputs ${MB(inputs)} MB (batch, parameters, optimizer state, running stats), constants ${MB(consts)} MB`);
console.log(`peak of intermediates ${MB(peak)} MB at ${peakNode}: ${atPeak.length} tensors, forward tensors (kept for the backward, or not yet read) ${MB(sum(fwd))} MB, backward temporaries ${MB(sum(bwd))} MB`);
const byOp = new Map<string, number>();
for (const v of fwd) byOp.set(v.producer?.op ?? 'input', (byOp.get(v.producer?.op ?? 'input') ?? 0) + bytes(v));
console.log(`forward tensors alive at the peak by producing operator: ${[...byOp].sort((a, b) => b[1] - a[1]).map(([k, b]) => `${k} ${MB(b)} MB`).join(', ')}`);
console.log('largest at the peak:');
for (const v of [...atPeak].sort((a, b) => bytes(b) - bytes(a)).slice(0, 12)) console.log(`  ${MB(bytes(v)).padStart(5)} MB  ${v.producer?.op.padEnd(20)} ${v.producer?.name}`);
