// Post-training int8 on real weights and photos: quantize() on the Coral MobileNetV2 calibrated on
// one half of the 16 photos (as crops and mirror images), the QDQ graph it emits, what ONNX Runtime
// fuses it into (its optimized-model dump), the file's size and metadata, and top-1 agreement with
// fp32 on the other half's views (views of 8 distinct photos: a weaker measure than 176 distinct
// photos would be). The statistics, range methods, weight grids and equalization on their own, and
// BAD CALLs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { load } from '../src/platform/node/load.js';
import { loadBatch } from '../src/platform/node/image.js';
import { nodeBackend } from '../src/platform/node/ort.js';
import { quantize, quantizeNetwork, floatGraph, activationTensors, calibrate } from '../src/quant/quantize.js';
import { TensorStats, chooseRange, activationParams } from '../src/quant/calibrate.js';
import { quantizeWeight, weightGrid } from '../src/quant/qdq.js';
import { equalize, equalizablePairs } from '../src/quant/equalize.js';
import { graphFromOnnx } from '../src/onnx/import.js';
import { fromOnnx, toOnnx } from '../src/onnx/export.js';
import { float32, type Tensor } from '../src/tensor.js';
import { Graph } from '../src/graph/ir.js';
import type { MobileNetV2Model } from '../src/infer/model.js';
import type { ImageInput } from '../src/platform/node/image.js';
import type { RawImage } from '../src/data/image.js';
import { photoFolds, photoViews, REAL_WEIGHTS, VIEWS_PER_PHOTO } from './helpers/views.js';
import { tinyModel, TINY_SIZE } from './helpers/int8.js';
import { PHOTOS } from './helpers/views.js';
import { withInputSize } from '../src/data/transforms.js';

const dir = mkdtempSync(join(tmpdir(), 'mnv2-int8-'));
let fp32: MobileNetV2Model<ImageInput>;
let bytes: Uint8Array;
let heldOut: RawImage[];

before(async () => {
  fp32 = await load({ weights: REAL_WEIGHTS });
  const [calib, held] = photoFolds();
  bytes = await quantize(fp32, await photoViews(calib, 8), { batchSize: 16 });
  writeFileSync(join(dir, 'm.int8.onnx'), bytes);
  heldOut = await photoViews(held);
});
after(async () => {
  await fp32?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

const argmax = (t: Tensor, i: number) => {
  const c = t.shape[1]!;
  const d = (t.data as Float32Array).subarray(i * c, (i + 1) * c);
  return d.indexOf(Math.max(...d));
};

test('the int8 graph: QDQ around every conv, per-channel weights (uint8 at zero point 128, depthwise int8), int32 biases, ReLU6 folded, the three heads', () => {
  const { graph: g, metadata } = graphFromOnnx(bytes, 'm.int8.onnx');
  const count = (op: string) => g.nodes.filter((n) => n.op === op).length;
  assert.equal(count('Conv'), 52);
  assert.equal(count('Clip'), 0, 'every ReLU6 is folded into its conv output range');
  assert.equal(count('QuantizeLinear'), 64, 'one Q per activation tensor: input, 52 convs, 10 Adds, the pool');
  for (const n of g.nodes.filter((x) => x.op === 'Conv' || x.op === 'Gemm')) {
    const [x, w, b] = n.inputs.map((v) => v!.producer);
    assert.equal(x?.op, 'DequantizeLinear', `${n.name}: its input comes through a DQ`);
    assert.equal(w?.op, 'DequantizeLinear', `${n.name}: its weight comes through a DQ`);
    // the exact storage (storage.ts): depthwise int8, zero point 0; the others uint8, zero point 128
    const depthwise = ((n.attrs.group as number | undefined) ?? 1) > 1;
    const [type, zero] = depthwise ? ['int8', 0] : ['uint8', 128];
    assert.equal(w!.inputs[0]!.dtype, type, `${n.name}: ${type} weights`);
    assert.equal(w!.attrs.axis, 0, `${n.name}: per-channel weights (axis 0)`);
    assert.equal(g.initializers.get(w!.inputs[2]!)!.data.every((z) => z === zero), true, `symmetric weights: zero point ${zero}`);
    const q = g.initializers.get(w!.inputs[0]!)!.data as ArrayLike<number>;
    assert.ok(Array.from(q).every((v) => Math.abs(v - zero) <= 127), `${n.name}: q - zero point in [-127, 127]`);
    assert.equal(b?.op, 'DequantizeLinear');
    assert.equal(b!.inputs[0]!.dtype, 'int32', `${n.name}: int32 bias`);
    // the bias scale is the input scale times each weight scale
    const xs = g.initializers.get(x!.inputs[1]!)!.data[0] as number;
    const ws = g.initializers.get(w!.inputs[1]!)!.data as Float32Array;
    const bs = g.initializers.get(b!.inputs[1]!)!.data as Float32Array;
    bs.forEach((s, c) => assert.equal(s, Math.fround(xs * ws[c]!)));
  }
  for (const n of g.nodes.filter((x) => x.op === 'Add')) assert.deepEqual(n.inputs.map((v) => v!.producer?.op), ['DequantizeLinear', 'DequantizeLinear']);
  assert.deepEqual(g.outputs.map((v) => v.name).sort(), ['embedding', 'logits', 'probabilities']);
  // the same metadata as an fp32 export, and how it was quantized
  for (const k of ['weights', 'alpha', 'num_classes', 'last_channel', 'preprocessing', 'classes', 'input_size', 'mobilenetv2']) assert.ok(k in metadata, `metadata has ${k}`);
  assert.equal(metadata['input_size'], '224');
  assert.equal(JSON.parse(metadata['classes']!).length, 1000);
  const q = JSON.parse(metadata['quantization']!);
  assert.deepEqual([q.format, q.method, q.weights, q.activations, q.images], ['qdq', 'mse', 'per-channel', 'uint8', 64]);
});

test('ONNX Runtime runs it with integer kernels: 52 QLinearConv, 10 QLinearAdd, QLinearGlobalAveragePool, QGemm; no float Conv', async () => {
  const dump = join(dir, 'optimized.onnx');
  const s = await nodeBackend.createSession(bytes, { threads: 1, optimizedModelFilePath: dump });
  await s.release();
  const ops: Record<string, number> = {};
  for (const n of fromOnnx(readFileSync(dump)).graph?.node ?? []) ops[n.opType!] = (ops[n.opType!] ?? 0) + 1;
  console.log(`# ORT's optimized int8 graph: ${JSON.stringify(ops)}`);
  assert.equal(ops['QLinearConv'], 52);
  assert.equal(ops['QLinearAdd'], 10);
  assert.equal(ops['QLinearGlobalAveragePool'], 1);
  assert.equal(ops['QGemm'], 1);
  assert.equal(ops['Conv'] ?? 0, 0);
  assert.equal(ops['QuantizeLinear'], 1, 'the input is quantized once; everything after stays integer');
});

test('a quarter of the size: the 1.0@224 int8 file is under 4 MB', () => {
  const fp32Bytes = fp32.predictor.onnx(224).length;
  console.log(`# sizes: fp32 ${(fp32Bytes / 1e6).toFixed(2)} MB, int8 ${(bytes.length / 1e6).toFixed(2)} MB (${(bytes.length / fp32Bytes).toFixed(3)})`);
  assert.ok(bytes.length < 4e6);
  assert.ok(bytes.length < 0.3 * fp32Bytes);
});

test('held-out photos: int8 agrees with fp32 on top-1 for >= 95% of the views of the 8 photos not calibrated on', async () => {
  const int8 = await load({ weights: join(dir, 'm.int8.onnx') });
  try {
    let agree = 0;
    for (let i = 0; i < heldOut.length; i += 32) {
      const x = await fp32.toTensor(heldOut.slice(i, i + 32));
      const a = (await fp32.run(x, ['logits'])).logits;
      const b = (await int8.run(x, ['logits'])).logits;
      for (let r = 0; r < x.shape[0]!; r++) if (argmax(a, r) === argmax(b, r)) agree++;
    }
    console.log(`# int8 vs fp32 top-1 agreement: ${agree} of ${heldOut.length} views (${VIEWS_PER_PHOTO} of each of 8 held-out photos): ${((100 * agree) / heldOut.length).toFixed(1)}%`);
    assert.ok(agree / heldOut.length >= 0.95, `${agree} of ${heldOut.length}`);
  } finally {
    await int8.dispose();
  }
});

test('statistics and ranges: min-max, percentile, mse, entropy on known distributions; 0 exactly on the grid', () => {
  const s = new TensorStats();
  const n = 200_000;
  const x = Float32Array.from({ length: n }, (_, i) => (i < n / 2 ? 0 : ((i * 7919) % n) / n) * 6); // half zeros, the rest spread over [0, 6)
  x[7] = 100; // one outlier
  s.add(x, [1, 1, n]);
  assert.deepEqual(chooseRange(s, { method: 'minmax' }), [0, 100]);
  const [, p] = chooseRange(s, { method: 'percentile', percentile: 99.9 });
  assert.ok(p > 5.9 && p < 6.05, `99.9th percentile ${p}`);
  const [, m] = chooseRange(s, { method: 'mse' });
  assert.ok(m >= 6 && m < 100, `mse trades the outlier's clipping against the step: ${m}`);
  // entropy on a long tail (exponential, by its quantiles): it clips the far tail, not the bulk
  const t = new TensorStats();
  t.add(Float32Array.from({ length: n }, (_, i) => -Math.log(1 - (i + 0.5) / n)), [1, 1, n]);
  const [, e] = chooseRange(t, { method: 'entropy' });
  assert.ok(e > t.quantile(0.99) && e < t.max, `entropy threshold ${e} (99th percentile ${t.quantile(0.99)}, max ${t.max})`);
  const q = activationParams([-1.3, 4.1], 'uint8');
  assert.equal(q.scale, Math.fround(5.4 / 255));
  assert.equal(q.zeroPoint, Math.round(1.3 / q.scale), '0 is the integer zero point: exact');
  const s8 = activationParams([-1.3, 4.1], 'int8');
  assert.equal(s8.zeroPoint, Math.round(-128 + 1.3 / s8.scale));
  assert.equal(s.channelMeans().length, 1);
});

test('weights already on a grid keep it: int8 holds them exactly; others get max|w| / 127', () => {
  const step = 0.0371;
  const onGrid = float32([2, 9], Array.from({ length: 18 }, (_, i) => step * ((i * 7) % 18 - 9) * (i < 9 ? 1 : 11))); // multiples of step, up to 88 of them
  assert.ok(Math.abs(weightGrid(onGrid.data as Float32Array)! - step) < 1e-6);
  const { q, scale } = quantizeWeight(onGrid, 'per-channel');
  const per = q.length / scale.length;
  (onGrid.data as Float32Array).forEach((w, i) => assert.ok(Math.abs(q[i]! * scale[Math.floor(i / per)]! - w) < 1e-6, `weight ${i} kept exactly`));
  const off = float32([1, 5], [0.1, -0.333, 0.25, 0.7, -0.01]);
  assert.equal(weightGrid(off.data as Float32Array), undefined);
  assert.equal(quantizeWeight(off, 'per-tensor').scale[0], Math.fround(0.7 / 127));
});

test('cross-layer equalization with ReLU6 bounded by calibration: the float network unchanged on its calibration images', async () => {
  const model = await tinyModel();
  const x = (await loadBatch(PHOTOS, withInputSize('torchvision-v1', TINY_SIZE))).tensor;
  const g0 = floatGraph(model, TINY_SIZE);
  const g = floatGraph(model, TINY_SIZE);
  const { stats } = await calibrate(g, activationTensors(g), [x], nodeBackend, { histogram: false });
  const pairs = equalize(g, 20, new Map([...stats].map(([id, s]) => [id, s.channelMax!])));
  assert.ok(pairs.length >= 4, `${pairs.length} pairs`);
  assert.equal(equalizablePairs(g0).length, pairs.length);
  const run = async (graph: typeof g) => {
    const s = await nodeBackend.createSession(toOnnx(graph), { threads: 1 });
    const out = (await s.run({ input: x }, ['logits'])).logits.data as Float32Array;
    await s.release();
    return out;
  };
  const [a, b] = [await run(g0), await run(g)];
  const diff = Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i]!)));
  assert.ok(diff < 1e-4, `equalization changed the logits by ${diff}`);
});

test('cross-layer equalization (no clip in between): both convs get the same per-channel ranges, the function stays', async () => {
  // conv (3 -> 4 channels, ranges 1, 100, 0.01, 1) -> Relu -> 1x1 conv (4 -> 2)
  const g = new Graph();
  const x = g.input('input', [1, 3, 8, 8]);
  const scales = [1, 100, 0.01, 1];
  const w1 = g.initializer('w1', float32([4, 3, 3, 3], Array.from({ length: 108 }, (_, i) => Math.sin(i) * scales[Math.floor(i / 27)]!)));
  const b1 = g.initializer('b1', float32([4], [0.1, 5, 0.001, -0.2]));
  const w2 = g.initializer('w2', float32([2, 4, 1, 1], [0.3, 0.002, 40, -0.5, -0.1, 0.004, 25, 0.6]));
  const y = g.op1('Relu', [g.op1('Conv', [x, w1, b1], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] })]);
  g.output(g.op1('Conv', [y, w2], { kernel_shape: [1, 1] }), 'out');
  const input = float32([1, 3, 8, 8], Array.from({ length: 192 }, (_, i) => Math.cos(i)));
  const run = async () => {
    const s = await nodeBackend.createSession(toOnnx(g), { threads: 1 });
    const o = (await s.run({ input }, ['out'])).out.data as Float32Array;
    await s.release();
    return o;
  };
  const before = await run();
  // the worst channel's relative RMS error with one scale for the whole tensor
  const err = (v: typeof w1, channelOf: (i: number) => number) => {
    const t = g.initializers.get(v)!;
    const { q, scale } = quantizeWeight(t, 'per-tensor');
    const n = new Float64Array(4);
    const d = new Float64Array(4);
    (t.data as Float32Array).forEach((w, i) => ((n[channelOf(i)] += (q[i]! * scale[0]! - w) ** 2), (d[channelOf(i)] += w * w)));
    return Math.max(...Array.from(n, (x, c) => Math.sqrt(x / d[c]!)));
  };
  const ch1 = (i: number) => Math.floor(i / 27);
  const ch2 = (i: number) => i % 4;
  const e0 = [err(w1, ch1), err(w2, ch2)];
  assert.equal(equalize(g).length, 1);
  const after = await run();
  assert.ok(Math.max(...Array.from(before, (v, i) => Math.abs(v - after[i]!) / Math.max(1, Math.abs(v)))) < 1e-5, 'the function is unchanged');
  const r = (t: Float32Array, ch: (i: number) => number) => {
    const m = new Float64Array(4);
    t.forEach((v, i) => (m[ch(i)] = Math.max(m[ch(i)]!, Math.abs(v))));
    return m;
  };
  const r1 = r(g.initializers.get(w1)!.data as Float32Array, (i) => Math.floor(i / 27));
  const r2 = r(g.initializers.get(w2)!.data as Float32Array, (i) => i % 4);
  r1.forEach((v, i) => assert.ok(Math.abs(v - r2[i]!) <= 1e-5 * v, `channel ${i}: ranges ${v} and ${r2[i]}`));
  const e1 = [err(w1, ch1), err(w2, ch2)];
  console.log(`# per-tensor weight error (worst channel, relative RMS): conv1 ${e0[0]!.toFixed(4)} -> ${e1[0]!.toFixed(4)}, conv2 ${e0[1]!.toFixed(4)} -> ${e1[1]!.toFixed(4)}`);
  assert.ok(e1[0]! < e0[0]! / 10 && e1[1]! < e0[1]! / 10);
});

test('per-tensor weights: one scale per weight tensor (no axis), equalized pairs recorded', async () => {
  const model = await tinyModel();
  const x = (await loadBatch(PHOTOS.slice(0, 4), withInputSize('torchvision-v1', TINY_SIZE))).tensor;
  const { graph, report } = await quantizeNetwork(model, [x], nodeBackend, { inputSize: TINY_SIZE, weights: 'per-tensor' });
  assert.equal(report.equalize, true);
  assert.equal(report.biasCorrection, true);
  assert.ok(report.equalizedPairs >= 4);
  for (const n of graph.nodes.filter((m) => m.op === 'Conv')) {
    const w = n.inputs[1]!.producer!;
    assert.equal(w.attrs.axis, undefined);
    assert.deepEqual(graph.initializers.get(w.inputs[1]!)!.shape, []);
  }
});

test('BAD CALL - quantize: options and arguments are checked, naming them', async () => {
  const imgs = [PHOTOS[0]!];
  await assert.rejects(quantize(fp32, imgs, { method: 'kl' as never }), (e: Error) => e instanceof RangeError && /method: "kl"\. Should be one of: minmax, percentile, entropy, mse/.test(e.message));
  await assert.rejects(quantize(fp32, imgs, { percentile: 40 }), (e: Error) => e instanceof RangeError && /percentile must be a number in \(50, 100\], got 40/.test(e.message));
  await assert.rejects(quantize(fp32, imgs, { weights: 'per-row' as never }), (e: Error) => e instanceof RangeError && /weights: "per-row"/.test(e.message));
  await assert.rejects(quantize(fp32, imgs, { activations: 'int4' as never }), (e: Error) => e instanceof RangeError && /activations/.test(e.message));
  await assert.rejects(quantize(fp32, imgs, { equalize: 'yes' as never }), TypeError);
  await assert.rejects(quantize(fp32, [], {}), (e: Error) => e instanceof RangeError && /images must not be empty/.test(e.message));
  await assert.rejects(quantize(fp32, 'photo.jpg' as never, {}), (e: Error) => e instanceof TypeError && /images must be an array/.test(e.message));
  await assert.rejects(quantize({} as never, imgs, {}), (e: Error) => e instanceof TypeError && /model must be what load\(\) returns/.test(e.message));
  await assert.rejects(quantize(fp32, imgs, { count: 0 }), (e: Error) => e instanceof RangeError && /count must be an integer >= 1/.test(e.message));
  const onnxModel = await load({ weights: join(dir, 'm.int8.onnx') });
  await assert.rejects(quantize(onnxModel, imgs), (e: Error) => e instanceof RangeError && /is an ONNX graph; quantize needs the weights it was made from/.test(e.message));
  await onnxModel.dispose();
});
