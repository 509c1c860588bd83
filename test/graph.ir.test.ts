// The graph IR, the op table's shape rules, ONNX emission and the BN-folding pass.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph } from '../src/graph/ir.js';
import { broadcast, OPS } from '../src/graph/ops.js';
import { compileTrainStep } from '../src/train/compile.js';
import { makeOptimizer } from '../src/train/optim.js';
import { foldBatchNorm } from '../src/graph/passes.js';
import { fromOnnx, toOnnx } from '../src/onnx/export.js';
import { inferenceGraph } from '../src/infer/graph.js';
import { MobileNetV2 } from '../src/models/mobilenetv2.js';
import { nodeBackend } from '../src/platform/node/ort.js';
import { float32 } from '../src/tensor.js';

test('Conv shape rule: stride, padding, groups, batch symbol kept', () => {
  const g = new Graph();
  const x = g.input('x', ['N', 32, 97, 97]);
  const w = g.initializer('w', float32([32, 1, 3, 3]));
  const y = g.op1('Conv', [x, w], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], group: 32 });
  assert.deepEqual(y.shape, ['N', 32, 49, 49]); // floor((97 + 2 - 3) / 2) + 1
  const pw = g.op1('Conv', [y, g.initializer('w2', float32([16, 32, 1, 1]))], { kernel_shape: [1, 1] });
  assert.deepEqual(pw.shape, ['N', 16, 49, 49]);
});

test('BAD CALL - Conv with mismatched channels, unknown op, unknown attribute', () => {
  const g = new Graph();
  const x = g.input('x', [1, 3, 8, 8]);
  assert.throws(() => g.op1('Conv', [x, g.initializer('w', float32([4, 2, 3, 3]))], {}), /input has 3 channels, weight expects 2/);
  assert.throws(() => g.op1('Frobnicate', [x]), /unknown operator Frobnicate/);
  assert.throws(() => g.op1('Relu', [x], { alpha: 1 }), /Relu has no attribute alpha/);
});

test('broadcast follows numpy', () => {
  assert.deepEqual(broadcast([2, 1, 5], [3, 1]), [2, 3, 5]);
  assert.deepEqual(broadcast(['N', 8], [8]), ['N', 8]);
  assert.throws(() => broadcast([2, 3], [4]), /do not broadcast/);
});

test('Flatten and Gemm shapes through the classifier, dynamic batch', () => {
  const g = new Graph();
  const x = g.input('x', ['N', 1280, 1, 1]);
  const f = g.op1('Flatten', [x], { axis: 1 });
  assert.deepEqual(f.shape, ['N', 1280]);
  const y = g.op1('Gemm', [f, g.initializer('w', float32([10, 1280])), g.initializer('b', float32([10]))], { transB: 1 });
  assert.deepEqual(y.shape, ['N', 10]);
});

test('ONNX emission: opset 17, dynamic batch, initializers named by state-dict keys', () => {
  const m = new MobileNetV2({ alpha: 0.25, numClasses: 10 }).eval();
  const model = fromOnnx(toOnnx(inferenceGraph(m, { inputSize: 64, foldBN: false })));
  assert.equal(Number(model.opsetImport[0]!.version), 17);
  const graph = model.graph!;
  const input = graph.input![0]!;
  assert.equal(input.name, 'input');
  assert.deepEqual(input.type!.tensorType!.shape!.dim!.map((d) => d.dimParam || Number(d.dimValue)), ['N', 3, 64, 64]);
  const names = new Set(graph.initializer!.map((t) => t.name));
  for (const k of m.stateDict().keys()) {
    if (!k.endsWith('num_batches_tracked')) assert.ok(names.has(k), `initializer ${k}`);
  }
  const ops = graph.node!.map((n) => n.opType);
  assert.equal(ops.filter((o) => o === 'BatchNormalization').length, 52);
  // shortcut blocks: 10 at alpha 1.0, plus the first block at 0.25 (32 * 0.25 and 16 * 0.25 both round to 8)
  assert.equal(ops.filter((o) => o === 'Add').length, 11);
});

test('BN folding removes all 52 BatchNormalization nodes and keeps the output', () => {
  const m = new MobileNetV2({ alpha: 0.5 }).eval();
  const g = inferenceGraph(m, { inputSize: 64, foldBN: false });
  const before = g.nodes.length;
  assert.equal(foldBatchNorm(g), 52);
  assert.equal(g.nodes.length, before - 52);
  assert.ok(!g.nodes.some((n) => n.op === 'BatchNormalization'));
  assert.equal(g.outputs[0]!.producer!.op, 'Gemm');
});

test('a dynamic-batch graph runs at batch 1 and 3 in ONNX Runtime and rows agree', async () => {
  const m = new MobileNetV2({ alpha: 0.25, numClasses: 7 }).eval();
  const s = await nodeBackend.createSession(toOnnx(inferenceGraph(m, { inputSize: 32 })));
  const one = float32([1, 3, 32, 32], Float32Array.from({ length: 3 * 32 * 32 }, (_, i) => Math.cos(i)));
  const three = float32([3, 3, 32, 32], new Float32Array(3 * 3 * 32 * 32));
  (three.data as Float32Array).set(one.data as Float32Array, 2 * 3 * 32 * 32);
  const a = (await s.run({ input: one }))['logits']!;
  const b = (await s.run({ input: three }))['logits']!;
  assert.deepEqual(b.shape, [3, 7]);
  for (let j = 0; j < 7; j++) assert.ok(Math.abs((a.data[j] as number) - (b.data[14 + j] as number)) < 1e-6);
  await s.release();
});

test('the op table: ops emitted only inside gradients and lowerings carry no gradient rule; every op the models emit forward has one (or is inference-only)', () => {
  for (const [name, def] of Object.entries(OPS)) if (def.internal) assert.equal(def.grad, undefined, `${name} is internal and has a gradient rule`);
  // what MobileNetV2's training forward emits (every family option that trains): all differentiable
  for (const opts of [{}, { tfPadding: true, bnEps: 1e-3 }]) {
    const m = new MobileNetV2({ alpha: 0.25, numClasses: 4, ...opts }).train();
    assert.doesNotThrow(() => compileTrainStep(m, { batch: 2, inputSize: 32, numClasses: 4, optimizer: makeOptimizer({ name: 'sgd' }) }));
  }
});
