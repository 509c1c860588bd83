// Two formulations of the depthwise conv's weight gradient, timed side by side at real shapes:
// the op table's one-hot im2col conv + MatMul, and the "dY as kernel" grouped conv.
//   npx tsc -p . && node dist/bench/depthwise-dw.js [N C H]   (stride 1)

import * as ort from 'onnxruntime-node';
import { Graph, type Value } from '../src/graph/ir.js';
import { OPS, reshape } from '../src/graph/ops.js';
import { toOnnx } from '../src/onnx/export.js';

const [N = 32, C = 144, H = 56] = process.argv.slice(2).map(Number);

async function session(build: (g: Graph, x: Value, dy: Value) => Value) {
  const g = new Graph();
  const x = g.input('x', [N, C, H, H]);
  const dy = g.input('dy', [N, C, H, H]);
  g.output(build(g, x, dy), 'dw');
  return ort.InferenceSession.create(toOnnx(g), { executionProviders: ['cpu'], intraOpNumThreads: 2, graphOptimizationLevel: 'extended' });
}

const oneHot = await session((g, x, dy) => {
  // the rule itself, applied to a conv node that is then dropped
  const w = g.input('w', [C, 1, 3, 3]);
  const y = g.op1('Conv', [x, w], { kernel_shape: [3, 3], pads: [1, 1, 1, 1], group: C });
  const [, dw] = OPS['Conv']!.grad!(g, y.producer!, [dy], [false, true, false]);
  g.inputs.splice(g.inputs.indexOf(w), 1);
  g.nodes = g.nodes.filter((n) => n !== y.producer);
  return dw!;
});
const asKernel = await session((g, x, dy) => {
  const xg = reshape(g, g.op1('Transpose', [x], { perm: [1, 0, 2, 3] }), [1, C * N, H, H]); // (1, C*N, H, W)
  const wg = g.op1('Transpose', [dy], { perm: [1, 0, 2, 3] }); // (C, N, H, W): C kernels of N channels
  return reshape(g, g.op1('Conv', [xg, wg], { kernel_shape: [H, H], pads: [1, 1, 1, 1], group: C }), [C, 1, 3, 3]);
});
const x = new ort.Tensor('float32', Float32Array.from({ length: N * C * H * H }, (_, i) => Math.sin(i)), [N, C, H, H]);
const dy = new ort.Tensor('float32', Float32Array.from({ length: N * C * H * H }, (_, i) => Math.cos(i)), [N, C, H, H]);
const a = (await oneHot.run({ x, dy }))['dw']!.data as Float32Array;
const b = (await asKernel.run({ x, dy }))['dw']!.data as Float32Array;
let err = 0;
let big = 0;
a.forEach((v, i) => {
  err = Math.max(err, Math.abs(v - b[i]!));
  big = Math.max(big, Math.abs(v));
});
const time = async (s: ort.InferenceSession) => {
  const ts: number[] = [];
  for (let i = 0; i < 7; i++) {
    const t0 = performance.now();
    await s.run({ x, dy });
    ts.push(performance.now() - t0);
  }
  return ts.sort((p, q) => p - q)[3]!.toFixed(1);
};
for (let r = 0; r < 2; r++) console.log(`N${N} C${C} ${H}x${H}: one-hot im2col + MatMul ${await time(oneHot)} ms, dY-as-kernel grouped conv ${await time(asKernel)} ms (agree to ${(err / big).toExponential(1)})`);
