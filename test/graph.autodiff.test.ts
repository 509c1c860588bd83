// Every gradient rule of the op table against finite differences of the forward graph, both run
// by ONNX Runtime. Float32 (ORT's CPU Conv has no float64 kernel), so the check is directional:
// (L(x + e u) - L(x - e u)) / 2e against sum(grad * u) for random directions u, L = sum(out * R).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph, type Value } from '../src/graph/ir.js';
import { gradients } from '../src/graph/autodiff.js';
import { DEFAULT_FORMULATION, DW_CHUNK_BYTES, i64, type Formulation } from '../src/graph/ops.js';
import { lowerComposites } from '../src/graph/passes.js';
import { toOnnx } from '../src/onnx/export.js';
import { nodeBackend } from '../src/platform/node/ort.js';
import { Generator } from '../src/random.js';
import { float32, numel, type Tensor } from '../src/tensor.js';
import { maxAbs, maxAbsDiff } from './helpers/parity.js';

interface In {
  name: string;
  shape: number[];
  /** how to fill it (default: normal) */
  fill?: (rng: Generator, i: number) => number;
  /** differentiate with respect to it (default true) */
  diff?: boolean;
}

async function gradcheck(
  ins: In[],
  build: (g: Graph, v: Value[]) => Value,
  { eps = 1e-2, tol = 3e-3, seed = 1, formulation = DEFAULT_FORMULATION as Formulation } = {},
): Promise<number> {
  const rng = new Generator(seed);
  const values: Tensor[] = ins.map((i) => float32(i.shape, Float32Array.from({ length: numel(i.shape) }, (_, k) => (i.fill ? i.fill(rng, k) : rng.normal()))));
  const make = (withGrad: boolean) => {
    const g = new Graph();
    const vs = ins.map((i) => g.input(i.name, i.shape));
    const out = build(g, vs);
    const shape = out.shape as number[];
    const r = new Generator(99);
    const R = g.constant(float32(shape, Float32Array.from({ length: numel(shape) }, () => r.normal())), 'R');
    const loss = g.op1('ReduceSum', [g.op1('Mul', [out, R]), i64(g, shape.map((_, k) => k))], { keepdims: 0 });
    g.output(loss, 'loss');
    if (withGrad) {
      const grads = gradients(g, loss, vs.filter((_, k) => ins[k]!.diff !== false), formulation);
      for (const [v, d] of grads) g.output(g.op1('Identity', [d!]), `grad.${v.name}`);
    }
    lowerComposites(g, formulation);
    g.prune();
    return nodeBackend.createSession(toOnnx(g), { threads: 1 });
  };
  const [withGrad, plain] = await Promise.all([make(true), make(false)]);
  const feeds = (vals: Tensor[]) => Object.fromEntries(ins.map((i, k) => [i.name, vals[k]!]));
  const out = await withGrad.run(feeds(values));
  let worst = 0;
  for (let trial = 0; trial < 3; trial++) {
    const dirs = ins.map((i) => Float32Array.from({ length: numel(i.shape) }, () => (i.diff === false ? 0 : rng.normal())));
    const shifted = (sign: number) =>
      values.map((t, k) => float32(t.shape, Float32Array.from(t.data as Float32Array, (v, j) => v + sign * eps * dirs[k]![j]!)));
    const lp = (await plain.run(feeds(shifted(1))))['loss']!.data[0] as number;
    const lm = (await plain.run(feeds(shifted(-1))))['loss']!.data[0] as number;
    const fd = (lp - lm) / (2 * eps);
    let an = 0;
    ins.forEach((i, k) => {
      if (i.diff === false) return;
      const gd = out[`grad.${i.name}`]!.data as Float32Array;
      for (let j = 0; j < gd.length; j++) an += gd[j]! * dirs[k]![j]!;
    });
    const rel = Math.abs(fd - an) / Math.max(Math.abs(an), Math.abs(fd), 1e-3);
    worst = Math.max(worst, rel);
    assert.ok(rel <= tol, `directional derivative: finite difference ${fd}, autodiff ${an} (relative error ${rel})`);
  }
  await withGrad.release();
  await plain.release();
  return worst;
}

const conv = (attrs: Record<string, number | number[]>) => (g: Graph, [x, w, b]: Value[]) => g.op1('Conv', b ? [x!, w!, b] : [x!, w!], attrs);

test('Conv pointwise 1x1: dX, dW, dB', async () => {
  await gradcheck([{ name: 'x', shape: [2, 6, 5, 5] }, { name: 'w', shape: [4, 6, 1, 1] }, { name: 'b', shape: [4] }], conv({ kernel_shape: [1, 1] }));
});

test('Conv depthwise 3x3 stride 1 (flipped-kernel dX, one-hot im2col dW)', async () => {
  await gradcheck([{ name: 'x', shape: [2, 4, 7, 7] }, { name: 'w', shape: [4, 1, 3, 3] }], conv({ kernel_shape: [3, 3], pads: [1, 1, 1, 1], group: 4 }));
});

test('Conv depthwise 3x3 stride 2, even and odd sizes (ConvTranspose dX with output_padding)', async () => {
  for (const s of [8, 9]) {
    await gradcheck([{ name: 'x', shape: [2, 3, s, s] }, { name: 'w', shape: [3, 1, 3, 3] }], conv({ kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], group: 3 }));
  }
});

test('Conv 3x3 stride 2 with 3 input channels (the stem): dW by im2col, dX by ConvTranspose', async () => {
  await gradcheck([{ name: 'x', shape: [2, 3, 9, 9] }, { name: 'w', shape: [5, 3, 3, 3] }], conv({ kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }));
});

// Asymmetric pads [top, left, bottom, right]: TF "SAME" pads a stride-2 conv on an even size [0, 0, 1, 1]
// (HF checkpoints with tf_padding); the other orders and sizes check each side on its own.
const ASYMMETRIC = [[0, 0, 1, 1], [1, 0, 0, 1], [0, 1, 1, 0], [2, 0, 1, 1]];

test('Conv depthwise 3x3 stride 2, asymmetric pads, even and odd sizes (ConvTranspose dX: pads and output_padding per side)', async () => {
  for (const s of [8, 9]) {
    for (const pads of ASYMMETRIC) {
      await gradcheck([{ name: 'x', shape: [2, 3, s, s] }, { name: 'w', shape: [3, 1, 3, 3] }], conv({ kernel_shape: [3, 3], strides: [2, 2], pads, group: 3 }));
    }
  }
});

test('Conv depthwise stride 1, asymmetric pads (flipped-kernel dX with pads k-1-p per side; wider than the kernel: ConvTranspose)', async () => {
  for (const pads of [...ASYMMETRIC, [0, 1, 2, 1]]) {
    await gradcheck([{ name: 'x', shape: [2, 4, 7, 6] }, { name: 'w', shape: [4, 1, 3, 3] }], conv({ kernel_shape: [3, 3], pads, group: 4 }));
  }
  // TF "SAME" with an even kernel pads after only: 2x2 stride 1 gets [0, 0, 1, 1]
  await gradcheck([{ name: 'x', shape: [2, 4, 6, 6] }, { name: 'w', shape: [4, 1, 2, 2] }], conv({ kernel_shape: [2, 2], pads: [0, 0, 1, 1], group: 4 }));
  // a pad wider than the kernel (k - 1 - p < 0) leaves the flipped conv for the transposed one
  await gradcheck([{ name: 'x', shape: [2, 4, 6, 6] }, { name: 'w', shape: [4, 1, 3, 3] }], conv({ kernel_shape: [3, 3], pads: [3, 0, 1, 1], group: 4 }));
});

test('Conv dense 3x3 (the stem) stride 2 and 1, and padded 1x1, with asymmetric pads: im2col dW, ConvTranspose dX', async () => {
  for (const s of [8, 9]) {
    for (const pads of ASYMMETRIC) {
      await gradcheck([{ name: 'x', shape: [2, 3, s, s] }, { name: 'w', shape: [5, 3, 3, 3] }], conv({ kernel_shape: [3, 3], strides: [2, 2], pads }));
    }
  }
  await gradcheck([{ name: 'x', shape: [2, 3, 6, 7] }, { name: 'w', shape: [4, 3, 3, 3] }, { name: 'b', shape: [4] }], conv({ kernel_shape: [3, 3], pads: [0, 1, 2, 1] }));
  await gradcheck([{ name: 'x', shape: [2, 6, 5, 5] }, { name: 'w', shape: [4, 6, 1, 1] }], conv({ kernel_shape: [1, 1], pads: [0, 0, 1, 1] }));
});

test("Conv depthwise dW by strided slices of the padded input (depthwiseDw 'slices'): stride 1 and 2, no, symmetric and asymmetric pads", async () => {
  const slices = { formulation: { ...DEFAULT_FORMULATION, depthwiseDw: 'slices' as const } };
  const dw = (shape: number[], k: number, attrs: Record<string, number | number[]>) =>
    gradcheck([{ name: 'x', shape, diff: false }, { name: 'w', shape: [shape[1]!, 1, k, k] }], conv({ kernel_shape: [k, k], group: shape[1]!, ...attrs }), slices);
  for (const pads of [[0, 0, 0, 0], [1, 1, 1, 1], ...ASYMMETRIC, [0, 1, 2, 1]]) await dw([2, 4, 7, 6], 3, { pads });
  for (const s of [8, 9]) for (const pads of [[0, 0, 0, 0], [1, 1, 1, 1], ...ASYMMETRIC]) await dw([2, 3, s, s], 3, { strides: [2, 2], pads });
  await dw([2, 4, 6, 6], 2, { pads: [0, 0, 1, 1] }); // TF "SAME" with an even kernel
  await dw([2, 3, 9, 8], 5, { strides: [2, 2], pads: [2, 1, 2, 2] }); // 5x5: 25 taps
  await dw([2, 4, 5, 5], 1, { strides: [2, 2] }); // 1x1: one tap, no Concat
  // dX and dW together, as in a network
  await gradcheck([{ name: 'x', shape: [2, 3, 8, 8] }, { name: 'w', shape: [3, 1, 3, 3] }], conv({ kernel_shape: [3, 3], strides: [2, 2], pads: [0, 0, 1, 1], group: 3 }), slices);
});

// dwBatch 'chunks' (the default) sums the depthwise dW over slices of the batch so that at most
// DW_CHUNK_BYTES of im2col is alive at once; at real shapes (features.3's stride-1 and features.2's
// stride-2 depthwise at batch 32) it must give 'whole''s dW up to the order of the sum.
test("Conv depthwise dW in batch chunks (dwBatch 'chunks') at real shapes equals one im2col for the batch ('whole')", async () => {
  for (const { shape, stride } of [{ shape: [32, 144, 56, 56], stride: 1 }, { shape: [32, 96, 112, 112], stride: 2 }]) {
    const [N, C, H] = shape as [number, number, number, number];
    const rng = new Generator(3);
    const x = float32(shape, Float32Array.from({ length: numel(shape) }, () => rng.normal()));
    const w = float32([C, 1, 3, 3], Float32Array.from({ length: C * 9 }, () => rng.normal()));
    const dW = async (dwBatch: 'chunks' | 'whole') => {
      const g = new Graph();
      const [xv, wv] = [g.input('x', shape), g.input('w', [C, 1, 3, 3])];
      const y = g.op1('Conv', [xv, wv], { kernel_shape: [3, 3], strides: [stride, stride], pads: [1, 1, 1, 1], group: C });
      const loss = g.op1('ReduceSum', [g.op1('Mul', [y, y]), i64(g, [0, 1, 2, 3])], { keepdims: 0 });
      const f = { ...DEFAULT_FORMULATION, dwBatch };
      g.output(g.op1('Identity', [gradients(g, loss, [wv], f).get(wv)!]), 'dw');
      lowerComposites(g, f);
      g.prune();
      const im2col = g.nodes.filter((n) => n.op === 'Conv' && n.inputs[1]?.name.includes('im2col')).length;
      const s = await nodeBackend.createSession(toOnnx(g), { threads: 2 });
      const out = (await s.run({ x, w }))['dw']!;
      await s.release();
      return { out, im2col };
    };
    const [chunks, whole] = [await dW('chunks'), await dW('whole')];
    const per = Math.max(1, Math.floor(DW_CHUNK_BYTES / (C * 9 * (H / stride) ** 2 * 4)));
    assert.equal(chunks.im2col, Math.ceil(N / per), 'one im2col per slice of the batch');
    assert.ok(chunks.im2col > 1 && whole.im2col === 1);
    const e = maxAbsDiff(chunks.out, whole.out) / maxAbs(whole.out);
    assert.ok(e <= 1e-6, `${shape}: chunks vs whole, relative error ${e}`);
  }
});

test('BAD CALL - Conv grad with a dilation says so in one line', () => {
  const g = new Graph();
  const x = g.input('x', [1, 2, 7, 7]);
  const w = g.input('w', [2, 1, 3, 3]);
  const y = g.op1('Conv', [x, w], { kernel_shape: [3, 3], pads: [2, 2, 2, 2], dilations: [2, 2], group: 2 });
  const loss = g.op1('ReduceSum', [y, i64(g, [0, 1, 2, 3])], { keepdims: 0 });
  assert.throws(() => gradients(g, loss, [x, w]), (e: Error) => /^Conv grad: needs dilations \[1, 1\], got \[2, 2\]$/.test(e.message));
});

test('BatchNormTrain (batch statistics): dX, dGamma, dBeta', async () => {
  await gradcheck(
    [{ name: 'x', shape: [3, 4, 5, 5] }, { name: 'gamma', shape: [4], fill: (r) => 0.5 + r.uniform() }, { name: 'beta', shape: [4] }],
    (g, [x, ga, be]) => g.op('BatchNormTrain', [x!, ga!, be!], { epsilon: 1e-5 }, 3)[0]!,
  );
});

test('BatchNormalization with running statistics (frozen layer): dX, dScale, dBias', async () => {
  await gradcheck(
    [
      { name: 'x', shape: [2, 4, 3, 3] },
      { name: 'scale', shape: [4] },
      { name: 'bias', shape: [4] },
      { name: 'mean', shape: [4], diff: false },
      { name: 'var', shape: [4], fill: (r) => 0.5 + r.uniform(), diff: false },
    ],
    (g, [x, s, b, m, v]) => g.op1('BatchNormalization', [x!, s!, b!, m!, v!], { epsilon: 1e-5 }),
  );
});

test('Clip as ReLU6 (inputs kept away from the kinks at 0 and 6)', async () => {
  const away = (r: Generator, i: number) => [-2, 1, 3, 5, 8][i % 5]! + 0.2 * r.uniform();
  await gradcheck([{ name: 'x', shape: [2, 3, 4, 5], fill: away }], (g, [x]) => g.op1('Clip', [x!, g.scalar(0), g.scalar(6)]));
});

test('Add / Sub / Mul with broadcasting', async () => {
  await gradcheck([{ name: 'a', shape: [2, 3, 4, 4] }, { name: 'b', shape: [1, 3, 1, 1] }], (g, [a, b]) => g.op1('Add', [a!, b!]));
  await gradcheck([{ name: 'a', shape: [2, 3] }, { name: 'b', shape: [3] }], (g, [a, b]) => g.op1('Sub', [a!, b!]));
  await gradcheck([{ name: 'a', shape: [2, 3, 4] }, { name: 'b', shape: [3, 1] }], (g, [a, b]) => g.op1('Mul', [a!, b!]));
});

test('GlobalAveragePool, Flatten, Reshape, Identity, ReduceSum, Pad', async () => {
  await gradcheck([{ name: 'x', shape: [2, 3, 4, 5] }], (g, [x]) => g.op1('Flatten', [g.op1('GlobalAveragePool', [x!])], { axis: 1 }));
  await gradcheck([{ name: 'x', shape: [2, 6] }], (g, [x]) => g.op1('Identity', [g.op1('Reshape', [x!, i64(g, [3, 4])])]));
  await gradcheck([{ name: 'x', shape: [2, 3, 4] }], (g, [x]) => g.op1('ReduceSum', [x!, i64(g, [0, 2])], { keepdims: 0 }));
  await gradcheck([{ name: 'x', shape: [1, 2, 3, 3] }], (g, [x]) => g.op1('Pad', [x!, i64(g, [0, 0, 0, 1, 0, 0, 1, 0])], { mode: 'constant' }));
});

test('Gemm as Linear: dX, dW, dB', async () => {
  await gradcheck([{ name: 'x', shape: [3, 5] }, { name: 'w', shape: [4, 5] }, { name: 'b', shape: [4] }], (g, [x, w, b]) => g.op1('Gemm', [x!, w!, b!], { transB: 1 }));
});

test('SoftmaxCrossEntropy with a smoothed target', async () => {
  const t = (_r: Generator, i: number) => (i % 4 === 1 ? 0.925 : 0.025);
  await gradcheck([{ name: 'z', shape: [3, 4] }, { name: 't', shape: [3, 4], fill: t, diff: false }], (g, [z, t]) => g.op1('SoftmaxCrossEntropy', [z!, t!]));
});

test('BAD CALL - an op without a gradient rule is named', () => {
  const g = new Graph();
  const x = g.input('x', [2, 3]);
  const y = g.op1('ReduceSum', [g.op1('Softmax', [x], { axis: 1 }), i64(g, [0, 1])], { keepdims: 0 });
  assert.throws(() => gradients(g, y, [x]), /Softmax .* has no gradient rule/);
});
