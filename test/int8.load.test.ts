// Our exported .onnx files as weights: load() runs an fp32 export and an int8 file as they are
// (through the one Predictor), with the labels, preprocessing and input size their metadata and
// graph give; heads the file lacks are added (an fp32 export has only logits); a fixed-batch
// export is fed in slices; and the mistakes: options the graph fixes, a state-dict reader given a
// graph, a module asked of a graph.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { load } from '../src/platform/node/load.js';
import { loadCheckpoint } from '../src/platform/node/weights.js';
import { inferenceOnnx } from '../src/infer/graph.js';
import { onnxMetadata } from '../src/infer/export.js';
import { onnxNetwork } from '../src/infer/onnx.js';
import { Predictor } from '../src/infer/predictor.js';
import { graphFromOnnx } from '../src/onnx/import.js';
import { toOnnx } from '../src/onnx/export.js';
import { storeWeights } from '../src/quant/storage.js';
import { nodeBackend } from '../src/platform/node/ort.js';
import { quantize } from '../src/quant/quantize.js';
import { withInputSize } from '../src/data/transforms.js';
import { imagenetClasses } from '../src/data/labels.js';
import type { MobileNetV2Model } from '../src/infer/model.js';
import type { ImageInput } from '../src/platform/node/image.js';
import type { Backend } from '../src/infer/backend.js';
import { PHOTOS, REAL_WEIGHTS } from './helpers/views.js';

const dir = mkdtempSync(join(tmpdir(), 'mnv2-onnx-'));
const FP32 = join(dir, 'm.onnx');
const INT8 = join(dir, 'm.int8.onnx');
const BATCH1 = join(dir, 'b1.onnx');
let pth: MobileNetV2Model<ImageInput>;

before(async () => {
  pth = await load({ weights: REAL_WEIGHTS });
  const meta = onnxMetadata(pth.model, { weights: 'mobilenet_v2_coral_imagenet.pth', family: 'torchvision', labels: pth.labels, preset: { name: 'torchvision-v1', spec: withInputSize('torchvision-v1', 224) }, inputSize: 224 });
  writeFileSync(FP32, inferenceOnnx(pth.model, { inputSize: 224 }, meta)); // what `export --onnx` writes
  writeFileSync(BATCH1, inferenceOnnx(pth.model, { inputSize: 224, batch: 1 }, meta)); // export --batch 1
  writeFileSync(INT8, await quantize(pth, PHOTOS.filter((_, i) => i % 2 === 0), { batchSize: 8 }));
});
after(async () => {
  await pth?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

test('load() of an fp32 export: the .pth model\'s logits (<= 1e-4), top-5 and embedding, with the probabilities and embedding heads added', async () => {
  const m = await load({ weights: FP32 });
  try {
    assert.equal(m.family, 'onnx');
    assert.equal(m.includeTop, true);
    assert.equal(m.embeddingSize, 1280);
    assert.deepEqual(m.labels, imagenetClasses());
    const x = await pth.toTensor(PHOTOS.slice(0, 4));
    const a = (await pth.run(x, ['logits'])).logits.data as Float32Array;
    const b = (await m.run(x, ['logits'])).logits.data as Float32Array;
    assert.ok(Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i]!))) <= 1e-4);
    assert.deepEqual((await m.classify(PHOTOS[0]!, 5)).map((c) => c.index), (await pth.classify(PHOTOS[0]!, 5)).map((c) => c.index));
    const [e1, e2] = [await m.embed(PHOTOS[1]!), await pth.embed(PHOTOS[1]!)];
    assert.ok(Math.max(...Array.from(e1, (v, i) => Math.abs(v - e2[i]!))) <= 1e-4);
    assert.throws(() => m.model, /runs the ONNX graph of .*m\.onnx: there is no module/);
  } finally {
    await m.dispose();
  }
});

test('load() of an int8 file: classify, embed, the labels and preset from its metadata; top-1 = fp32 on most of the 16 photos', async () => {
  const m = await load({ weights: INT8 });
  try {
    assert.equal(m.family, 'onnx');
    assert.deepEqual(m.labels, imagenetClasses());
    assert.equal(typeof m.preset === 'object' && m.preset.crop, 224);
    const top = await m.classify(PHOTOS, 1);
    const ref = await pth.classify(PHOTOS, 1);
    const same = top.filter((t, i) => t[0]!.index === ref[i]![0]!.index).length;
    console.log(`# int8 file vs .pth: the same top-1 on ${same} of ${PHOTOS.length} photos (8 of them calibrated on)`);
    assert.ok(same >= 14, `${same} of 16`);
    assert.equal((await m.embed(PHOTOS[0]!)).length, 1280);
    assert.equal((await m.infer(PHOTOS[0]!)).shape.join(), '1,1000');
  } finally {
    await m.dispose();
  }
});

test('an int8 file with int8 weights everywhere (quantize before 2026-12): load() runs the same numbers in the exact storage, the answers of the file quantize writes now', async () => {
  const now = readFileSync(INT8);
  const { graph: g, metadata } = graphFromOnnx(now, INT8);
  assert.ok(storeWeights(g, 'int8') > 0);
  const OLD = join(dir, 'old.int8.onnx');
  writeFileSync(OLD, toOnnx(g, { metadata }));
  const old = readFileSync(OLD);
  const weights = (bytes: Uint8Array) => {
    const { graph } = graphFromOnnx(bytes, OLD);
    return new Map(graph.nodes.filter((n) => n.op === 'Conv' || n.op === 'Gemm').map((n) => {
      const [q, , z] = n.inputs[1]!.producer!.inputs.map((v) => graph.initializers.get(v!)!);
      return [n.name, { depthwise: ((n.attrs.group as number | undefined) ?? 1) > 1, dtype: q!.dtype, q: Array.from(q!.data as ArrayLike<number>, (v, i) => v - Number(z!.data[z!.data.length === 1 ? 0 : Math.floor(i / (q!.data.length / z!.data.length))])) }];
    }));
  };
  const before = weights(old);
  assert.ok([...before.values()].every((w) => w.dtype === 'int8'), 'the old form: every weight int8');
  const net = onnxNetwork(old, OLD);
  const after = weights(net.bytes);
  const want = weights(now);
  assert.equal(after.size, 53);
  for (const [name, w] of after) {
    assert.equal(w.dtype, w.depthwise ? 'int8' : 'uint8', `${name}: the exact storage`);
    assert.deepEqual(w.q, want.get(name)!.q, `${name}: the same integers (q - zero point) as the file quantize writes now`);
  }
  const m = await load({ weights: OLD });
  const n = await load({ weights: INT8 });
  const raw = new Predictor({ ...net, bytes: old }, nodeBackend, { threads: 1 }); // the old bytes as they are
  try {
    const x = await pth.toTensor(PHOTOS.slice(0, 4));
    const [a, b, c] = [(await m.run(x, ['logits'])).logits.data as Float32Array, (await n.run(x, ['logits'])).logits.data as Float32Array, (await raw.run(x, ['logits'])).logits.data as Float32Array];
    const diff = (p: Float32Array, q: Float32Array) => Math.max(...Array.from(p, (v, i) => Math.abs(v - q[i]!)));
    console.log(`# old int8 file: logits after load()'s rewrite ${diff(a, b)} from the new file's; the old bytes run as they are: ${diff(c, b).toFixed(3)} (int8 weights: exact only with VNNI)`);
    assert.equal(diff(a, b), 0, 'the same integers, the same kernels: the same logits');
  } finally {
    await m.dispose();
    await n.dispose();
    await raw.release();
  }
});

test('a fixed-batch export (batch 1) runs any number of images, in slices', async () => {
  const m = await load({ weights: BATCH1 });
  try {
    const rows = await m.classify(PHOTOS.slice(0, 3), 1);
    const ref = await pth.classify(PHOTOS.slice(0, 3), 1);
    assert.deepEqual(rows.map((r) => r[0]!.index), ref.map((r) => r[0]!.index));
  } finally {
    await m.dispose();
  }
});

test('the runtime picks the int8 variant it runs fastest (Backend.int8Variant): the same answers from another emission', async () => {
  const asked: string[] = [];
  const backend: Backend = { ...nodeBackend, int8Variant: (d) => (asked.push(d), 'dw-float') };
  const net = onnxNetwork((await import('node:fs')).readFileSync(INT8), INT8);
  const p = new Predictor(net, backend, { threads: 1 });
  const q = new Predictor(net, nodeBackend, { threads: 1 });
  try {
    const x = await pth.toTensor(PHOTOS.slice(0, 4));
    const [a, b] = [(await p.run(x)).logits, (await q.run(x)).logits];
    assert.deepEqual(asked, ['cpu']);
    const argmax = (d: Float32Array, r: number) => { const s = d.subarray(r * 1000, (r + 1) * 1000); return s.indexOf(Math.max(...s)); };
    for (let r = 0; r < 4; r++) assert.equal(argmax(a.data as Float32Array, r), argmax(b.data as Float32Array, r));
  } finally {
    await p.release();
    await q.release();
  }
});

test('BAD CALL - load() of an .onnx: options its graph fixes are RangeErrors naming the file; state-dict readers refuse it', async () => {
  await assert.rejects(load({ weights: INT8, inputSize: 160 }), (e: Error) => e instanceof RangeError && /inputSize 160 does not match the ONNX file .*m\.int8\.onnx \(input 224x224\)/.test(e.message));
  await assert.rejects(load({ weights: INT8, includeTop: false }), (e: Error) => e instanceof RangeError && /includeTop false/.test(e.message));
  await assert.rejects(load({ weights: INT8, classes: 10 }), (e: Error) => e instanceof RangeError && /classes 10 does not match/.test(e.message));
  await assert.rejects(load({ weights: INT8, alpha: 0.5 }), (e: Error) => e instanceof RangeError && /alpha 0.5/.test(e.message));
  await assert.rejects(loadCheckpoint(INT8), (e: Error) => e.name === 'WeightsError' && e.message.startsWith(`${INT8}: an ONNX graph (from export or quantize), not a state dict`));
  // a model's run at another size: the graph's is fixed
  const m = await load({ weights: FP32 });
  try {
    await assert.rejects(m.predictor.run({ dtype: 'float32', shape: [1, 3, 160, 160], data: new Float32Array(3 * 160 * 160) }), (e: Error) => e instanceof RangeError && /input is 160x160, but the ONNX graph of .* takes 224x224/.test(e.message));
  } finally {
    await m.dispose();
  }
  // a truncated file is one line naming it
  writeFileSync(join(dir, 'cut.onnx'), (await import('node:fs')).readFileSync(INT8).subarray(0, 5000));
  await assert.rejects(load({ weights: join(dir, 'cut.onnx') }), (e: Error) => !e.message.includes('\n') && e.message.startsWith(`${join(dir, 'cut.onnx')}: `));
});
