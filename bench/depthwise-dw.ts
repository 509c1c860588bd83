// Formulations of the depthwise conv's weight gradient, timed side by side at real shapes:
// the op table's one-hot im2col conv + MatMul ('conv'), its strided-Slices one ('slices', for
// WebGPU: a Concat and a MatMul per kernel row), the same with one Concat of all k*k taps,
// per-tap Mul + ReduceSum, and the "dY as kernel" grouped conv.
//   npx tsc -p . && node dist/bench/depthwise-dw.js [N C H stride]

import * as ort from 'onnxruntime-node';
import { Graph, type Value } from '../src/graph/ir.js';
import { DEFAULT_FORMULATION, OPS, i64, reshape, type Formulation } from '../src/graph/ops.js';
import { toOnnx } from '../src/onnx/export.js';

const [N = 32, C = 144, H = 56, S = 1] = process.argv.slice(2).map(Number);
const Ho = Math.floor((H + 2 - 3) / S) + 1;

async function session(build: (g: Graph, x: Value, dy: Value) => Value) {
  const g = new Graph();
  const x = g.input('x', [N, C, H, H]);
  const dy = g.input('dy', [N, C, Ho, Ho]);
  g.output(build(g, x, dy), 'dw');
  return ort.InferenceSession.create(toOnnx(g), { executionProviders: ['cpu'], intraOpNumThreads: 2, graphOptimizationLevel: 'extended' });
}

/** The rule itself, applied to a conv node that is then dropped. */
const rule = (f: Formulation) => (g: Graph, x: Value, dy: Value) => {
  const w = g.input('w', [C, 1, 3, 3]);
  const y = g.op1('Conv', [x, w], { kernel_shape: [3, 3], strides: [S, S], pads: [1, 1, 1, 1], group: C });
  const [, dw] = OPS['Conv']!.grad!(g, y.producer!, [dy], [false, true, false], f);
  g.inputs.splice(g.inputs.indexOf(w), 1);
  g.nodes = g.nodes.filter((n) => n !== y.producer);
  return dw!;
};
/** The 9 taps of the padded x, each (N, C, Ho, Wo). */
function taps(g: Graph, x: Value): Value[] {
  const xp = g.op1('Pad', [x, i64(g, [0, 0, 1, 1, 0, 0, 1, 1])], { mode: 'constant' });
  const out: Value[] = [];
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) out.push(g.op1('Slice', [xp, i64(g, [i, j]), i64(g, [i + (Ho - 1) * S + 1, j + (Ho - 1) * S + 1]), i64(g, [2, 3]), i64(g, [S, S])]));
  return out;
}
const candidates: [string, (g: Graph, x: Value, dy: Value) => Value][] = [
  ['one-hot im2col conv + MatMul', rule(DEFAULT_FORMULATION)],
  ['slices by rows + MatMul', rule({ ...DEFAULT_FORMULATION, depthwiseDw: 'slices' })],
  [
    'slices, one Concat + MatMul',
    (g, x, dy) => {
      const P = g.op1('Concat', taps(g, x).map((t) => reshape(g, t, [N, C, 1, Ho * Ho])), { axis: 2 }); // (N, C, 9, HoWo)
      const m = g.op1('MatMul', [P, reshape(g, dy, [N, C, Ho * Ho, 1])]);
      return reshape(g, g.op1('ReduceSum', [m, i64(g, [0])], { keepdims: 0 }), [C, 1, 3, 3]);
    },
  ],
  [
    'per-tap Mul + ReduceSum',
    (g, x, dy) => {
      const sums = taps(g, x).map((t) => reshape(g, g.op1('ReduceSum', [g.op1('Mul', [t, dy]), i64(g, [0, 2, 3])], { keepdims: 0 }), [C, 1])); // (C, 1)
      return reshape(g, g.op1('Concat', sums, { axis: 1 }), [C, 1, 3, 3]);
    },
  ],
];
if (S === 1) {
  candidates.push([
    'dY-as-kernel grouped conv',
    (g, x, dy) => {
      const xg = reshape(g, g.op1('Transpose', [x], { perm: [1, 0, 2, 3] }), [1, C * N, H, H]); // (1, C*N, H, W)
      const wg = g.op1('Transpose', [dy], { perm: [1, 0, 2, 3] }); // (C, N, H, W): C kernels of N channels
      return reshape(g, g.op1('Conv', [xg, wg], { kernel_shape: [H, H], pads: [1, 1, 1, 1], group: C }), [C, 1, 3, 3]);
    },
  ]);
}
const sessions = await Promise.all(candidates.map(([, b]) => session(b)));
const x = new ort.Tensor('float32', Float32Array.from({ length: N * C * H * H }, (_, i) => Math.sin(i)), [N, C, H, H]);
const dy = new ort.Tensor('float32', Float32Array.from({ length: N * C * Ho * Ho }, (_, i) => Math.cos(i)), [N, C, Ho, Ho]);
const ref = (await sessions[0]!.run({ x, dy }))['dw']!.data as Float32Array;
const agree = async (s: ort.InferenceSession) => {
  const b = (await s.run({ x, dy }))['dw']!.data as Float32Array;
  let err = 0;
  let big = 0;
  ref.forEach((v, i) => [err, big] = [Math.max(err, Math.abs(v - b[i]!)), Math.max(big, Math.abs(v))]);
  return (err / big).toExponential(1);
};
const time = async (s: ort.InferenceSession) => {
  const ts: number[] = [];
  for (let i = 0; i < 7; i++) {
    const t0 = performance.now();
    await s.run({ x, dy });
    ts.push(performance.now() - t0);
  }
  return ts.sort((p, q) => p - q)[3]!.toFixed(1);
};
const agreement = await Promise.all(sessions.map(agree));
for (let r = 0; r < 2; r++) {
  const row: string[] = [];
  for (let i = 0; i < sessions.length; i++) row.push(`${candidates[i]![0]} ${await time(sessions[i]!)} ms${i ? ` (to ${agreement[i]})` : ''}`);
  console.log(`N${N} C${C} ${H}x${H} stride ${S}: ${row.join(', ')}`);
}
