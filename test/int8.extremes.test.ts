// int8 at the ends of the range: weights at +-127 and activations at 0 and 255, where ONNX Runtime's
// u8 x s8 GEMM on AVX2 without VNNI saturates its int16 pair sums (src/quant/storage.ts). Each
// kind of integer layer our graphs have (the stem's 3x3 conv, a 1x1 conv, a depthwise 3x3 conv,
// the classifier's Gemm) is emitted by the quantizer, run by ONNX Runtime's integer kernels (every
// one fused, checked in its optimized-model dump) and compared integer by integer with a float64
// interpreter of the same QDQ graph (helpers/qdq-reference.ts). Every scale is a power of two and
// every bias a multiple of its step, so each real number is exact in float32 as well: no output
// sits on a rounding boundary, the answer is exact. The old storage (int8 weights everywhere) is
// measured beside it and printed: on AVX2 without VNNI it is wrong here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { Graph } from '../src/graph/ir.js';
import { emitQdq } from '../src/quant/qdq.js';
import { EXACT_STORAGE, type WeightStorage } from '../src/quant/storage.js';
import type { QParams } from '../src/quant/calibrate.js';
import { graphFromOnnx } from '../src/onnx/import.js';
import { fromOnnx, toOnnx } from '../src/onnx/export.js';
import { nodeBackend } from '../src/platform/node/ort.js';
import { Generator } from '../src/random.js';
import { float32, type Tensor } from '../src/tensor.js';
import { interpretQdq } from './helpers/qdq-reference.js';

interface Case {
  name: string;
  op: 'Conv' | 'Gemm';
  x: number[];
  w: number[];
  attrs: Record<string, number | number[]>;
  /** The input grid's zero point (uint8 activations; int8 ones use 0). */
  zero: number;
  /** The op ONNX Runtime must run it as. */
  fused: string;
}

const CASES: Case[] = [
  { name: 'stem 3x3 conv', op: 'Conv', x: [2, 3, 8, 8], w: [16, 3, 3, 3], attrs: { kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: [2, 2] }, zero: 0, fused: 'QLinearConv' },
  { name: '1x1 conv', op: 'Conv', x: [2, 64, 4, 4], w: [16, 64, 1, 1], attrs: { kernel_shape: [1, 1] }, zero: 0, fused: 'QLinearConv' },
  { name: 'depthwise 3x3 conv', op: 'Conv', x: [2, 16, 6, 6], w: [16, 1, 3, 3], attrs: { kernel_shape: [3, 3], pads: [1, 1, 1, 1], group: 16 }, zero: 0, fused: 'QLinearConv' },
  { name: 'Gemm', op: 'Gemm', x: [4, 64], w: [16, 64], attrs: { transB: 1 }, zero: 128, fused: 'QGemm' },
];
const [XS, WS] = [2 ** -8, 2 ** -7]; // input and weight steps: the bias step is 2^-15

/** The float layer: weights at +-127 steps (channel 0 all +127, 1 all -127, 2 alternating, then random signs, the last four random values), a bias on its grid. */
function floatLayer(c: Case, gen: Generator): Graph {
  const [m, per] = [c.w[0]!, c.w.slice(1).reduce((a, d) => a * d, 1)];
  const w = new Float32Array(m * per);
  for (let o = 0; o < m; o++)
    for (let j = 0; j < per; j++) {
      const q = o === 0 ? 127 : o === 1 ? -127 : o === 2 ? (j % 2 ? -127 : 127) : o < m - 4 || j === 0 ? (gen.uniform() < 0.5 ? -127 : 127) : gen.int(255) - 127;
      w[o * per + j] = q * WS;
    }
  const bias = Float32Array.from({ length: m }, () => (gen.int(8193) - 4096) * XS * WS);
  const g = new Graph();
  const x = g.input('input', c.x);
  const wv = g.initializer('layer.weight', float32(c.w, w));
  const bv = g.initializer('layer.bias', float32([m], bias));
  g.output(g.within('layer', () => g.op1(c.op, [x, wv, bv], c.attrs)), 'output');
  return g;
}

/** The input's integers: 70% at the top of the range, 20% at the bottom, the rest anywhere. */
function extremeInput(c: Case, activations: 'uint8' | 'int8', gen: Generator): Tensor {
  const [lo, hi, zero] = activations === 'uint8' ? [0, 255, c.zero] : [-128, 127, 0];
  const n = c.x.reduce((a, d) => a * d, 1);
  return float32(c.x, Float32Array.from({ length: n }, () => {
    const u = gen.uniform();
    const q = u < 0.7 ? hi : u < 0.9 ? lo : lo + gen.int(hi - lo + 1);
    return (q - zero) * XS;
  }));
}

interface Result {
  off: number;
  total: number;
  worst: number;
  ops: Record<string, number>;
}

async function runCase(c: Case, storage: WeightStorage, activations: 'uint8' | 'int8'): Promise<Result> {
  const gen = new Generator(CASES.indexOf(c) + 1);
  const g = floatLayer(c, gen);
  const input = extremeInput(c, activations, gen);
  // the output grid: a power-of-two step that holds about +-120 steps of the largest output
  const y = interpretQdq(g, { input }).get(g.outputs[0]!.name)!;
  const big = Math.max(...Array.from(y.data, Math.abs)) / (XS * WS);
  const ys = XS * WS * 2 ** Math.ceil(Math.log2(big / 120));
  const grid = (zeroPoint: number, scale: number): QParams => ({ type: activations, scale, zeroPoint: activations === 'uint8' ? zeroPoint : 0 });
  const h = emitQdq(g, { weights: 'per-channel', params: new Map([[g.inputs[0]!.id, grid(c.zero, XS)], [g.outputs[0]!.id, grid(128, ys)]]), storage });
  // as ONNX Runtime gets it, with the layer's integers (its QuantizeLinear output) fetched
  const { graph: q } = graphFromOnnx(toOnnx(h), 'extremes.onnx');
  const probe = q.nodes.find((n) => n.op === 'QuantizeLinear' && n.inputs[0]!.producer?.op === c.op)!.outputs[0]!;
  q.output(probe);
  const dump = join(tmpdir(), `mnv2-int8-extremes-${process.pid}.onnx`);
  const s = await nodeBackend.createSession(toOnnx(q), { threads: 1, optimizedModelFilePath: dump });
  const got = (await s.run({ input }, [probe.name]))[probe.name]!.data as Int8Array | Uint8Array;
  await s.release();
  const ops: Record<string, number> = {};
  for (const n of fromOnnx(readFileSync(dump)).graph?.node ?? []) ops[n.opType!] = (ops[n.opType!] ?? 0) + 1;
  rmSync(dump, { force: true });
  const want = interpretQdq(q, { input }).get(probe.name)!.data;
  let [off, worst] = [0, 0];
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i]! - want[i]!);
    if (d > 0) off++;
    worst = Math.max(worst, d);
  }
  return { off, total: want.length, worst, ops };
}

const line = (r: Result) => `${r.off} of ${r.total} off, worst ${r.worst} step${r.worst === 1 ? '' : 's'}`;

test(`the exact weight storage ('${EXACT_STORAGE}'): every integer of every layer equals the float64 reference, weights and activations at the ends of their range`, async () => {
  let [off, total, oldOff] = [0, 0, 0];
  for (const c of CASES) {
    const r = await runCase(c, EXACT_STORAGE, 'uint8');
    const old = await runCase(c, 'int8', 'uint8');
    console.log(`# int8 extremes, ${c.name}: ${EXACT_STORAGE} ${line(r)}; int8 weights everywhere (the old storage) ${line(old)}`);
    assert.equal(r.ops[c.fused], 1, `${c.name}: ONNX Runtime ran it as ${c.fused} (${JSON.stringify(r.ops)})`);
    assert.equal((r.ops['Conv'] ?? 0) + (r.ops['Gemm'] ?? 0), 0, `${c.name}: no float ${c.op} left`);
    assert.equal(r.off, 0, `${c.name}: ${line(r)}`);
    [off, total, oldOff] = [off + r.off, total + r.total, oldOff + old.off];
  }
  console.log(`# int8 extremes: ${EXACT_STORAGE} storage ${off} of ${total} integers off; the old int8 storage ${oldOff} of ${total} on this machine`);
});

test('the uint8 storage everywhere is exact too', async () => {
  for (const c of CASES) {
    const r = await runCase(c, 'uint8', 'uint8');
    assert.equal(r.ops[c.fused], 1, `${c.name}: ${JSON.stringify(r.ops)}`);
    assert.equal(r.off, 0, `${c.name}: ${line(r)}`);
  }
});
