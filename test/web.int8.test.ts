// An int8 file made by quantize classifies in the page: mobilenetv2/web loads the .onnx a user
// ships (labels, preset and input size from its metadata), onnxruntime-web's WASM runs the variant
// the web backend picks (Backend.int8Variant), and the answers are Node's for the same variant: the
// same top-5 on real photos, logits within a few integer steps of the output's grid. onnxruntime-web
// fuses it as Node does (every conv a QLinearConv, from its profiler), and an int8 file in the
// old form (int8 weights everywhere) gives the same logits in the page.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { load } from '../src/platform/node/load.js';
import { quantize } from '../src/quant/quantize.js';
import { onnxNetwork, variantBytes } from '../src/infer/onnx.js';
import { graphFromOnnx } from '../src/onnx/import.js';
import { toOnnx } from '../src/onnx/export.js';
import { storeWeights } from '../src/quant/storage.js';
import { Predictor } from '../src/infer/predictor.js';
import { nodeBackend } from '../src/platform/node/ort.js';
import { webBackend } from '../src/platform/web/ort.js';
import { openSite, SHARED, type Site } from './helpers/browser.js';
import { PHOTOS, REAL_WEIGHTS } from './helpers/views.js';

const dir = mkdtempSync(join(tmpdir(), 'mnv2-web-int8-'));
const INT8 = join(dir, 'm.int8.onnx');
const NAMES = ['parrot.jpg', 'bird.png', 'grace_hopper.png', 'owl.jpg'];
let site: Site;

before(async () => {
  const m = await load({ weights: REAL_WEIGHTS });
  writeFileSync(INT8, await quantize(m, PHOTOS.filter((_, i) => i % 2 === 0), { batchSize: 8 }));
  await m.dispose();
  // the same file in the form quantize wrote before 2026-12: int8 weights everywhere
  const { graph, metadata } = graphFromOnnx(readFileSync(INT8), INT8);
  storeWeights(graph, 'int8');
  writeFileSync(join(dir, 'old.int8.onnx'), toOnnx(graph, { metadata }));
  site = await openSite('/blank.html', { mounts: { '/int8/': dir, '/photos/': join(SHARED, 'real', 'photos') } });
});
after(async () => {
  await site?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('an int8 .onnx from quantize classifies in the page: Node\'s top-5 and logits for the same variant', async () => {
  const names = NAMES;
  const variant = webBackend().int8Variant?.('wasm') ?? 'qdq';
  const page = (await site.page.evaluate(async (names) => {
    const lib = await import('/mobilenetv2.web.js' as string);
    const m = await lib.load({ weights: '/int8/m.int8.onnx' });
    const blobs = await Promise.all(names.map(async (n: string) => (await fetch(`/photos/${n}`)).blob()));
    const top = await m.classify(blobs, 5);
    const t = await m.toTensor(blobs);
    const { logits } = await m.run(t, ['logits']);
    const r = { family: m.family, top: top.map((row: { index: number; className: string }[]) => row.map((c) => ({ index: c.index, className: c.className }))), logits: Array.from(logits.data as Float32Array), tensor: Array.from(t.data as Float32Array) };
    await m.dispose();
    // the weights-only variant: a float graph from the same file (fp32's speed in WASM)
    const f = await lib.load({ weights: '/int8/m.int8.onnx', int8Variant: 'weights-only' });
    const fl = await f.run(t, ['logits']);
    await f.dispose();
    // the old form of the file: load() stores its weights exactly, as quantize does now
    const o = await lib.load({ weights: '/int8/old.int8.onnx' });
    const ol = await o.run(t, ['logits']);
    await o.dispose();
    // what onnxruntime-web runs the file as: its profiler's node events (printed to the console)
    const ort = await import('/ort.wasm.bundle.min.mjs' as string);
    const s = await ort.InferenceSession.create(new Uint8Array(await (await fetch('/int8/m.int8.onnx')).arrayBuffer()), { executionProviders: ['wasm'], graphOptimizationLevel: 'all', enableProfiling: true });
    await s.run({ input: new ort.Tensor('float32', t.data, t.shape) });
    s.endProfiling();
    await s.release();
    return { ...r, floatLogits: Array.from(fl.logits.data as Float32Array), oldLogits: Array.from(ol.logits.data as Float32Array) };
  }, names)) as { family: string; top: { index: number; className: string }[][]; logits: number[]; tensor: number[]; floatLogits: number[]; oldLogits: number[] };
  assert.equal(page.family, 'onnx');
  assert.deepEqual(page.oldLogits, page.logits, 'the old int8-weight file gives the new file\'s logits in the page');
  const ops: Record<string, number> = {};
  for (const l of site.console) {
    const op = /"op_name" *: *"(\w+)"/.exec(l)?.[1];
    if (op) ops[op] = (ops[op] ?? 0) + 1;
  }
  console.log(`# onnxruntime-web ran the int8 file as: ${JSON.stringify(ops)}`);
  assert.equal(ops['QLinearConv'], 52, 'every conv a QLinearConv (uint8 and int8 weights alike)');
  assert.equal(ops['QGemm'], 1);
  assert.equal(ops['QLinearAdd'], 10);
  assert.equal((ops['Conv'] ?? 0) + (ops['Gemm'] ?? 0), 0, 'no float conv or Gemm');
  // Node, the same variant of the same file, on the page's own tensors
  const net = onnxNetwork(readFileSync(INT8), INT8);
  const p = new Predictor(net, { ...nodeBackend, int8Variant: () => variant }, { threads: 1 });
  try {
    const x = { dtype: 'float32' as const, shape: [names.length, 3, 224, 224], data: Float32Array.from(page.tensor) };
    const want = (await p.run(x, ['logits'])).logits.data as Float32Array;
    let worst = 0;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(want[i]! - page.logits[i]!));
    const spread = Math.max(...want) - Math.min(...want);
    assert.ok(worst <= 0.02 * spread, `page logits within 2% of their range of Node's (${worst.toFixed(4)} of ${spread.toFixed(2)})`);
    for (let r = 0; r < names.length; r++) {
      const row = Array.from(want.subarray(r * 1000, (r + 1) * 1000));
      const order = row.map((_, j) => j).sort((a, b) => row[b]! - row[a]!).slice(0, 5);
      assert.equal(page.top[r]![0]!.index, order[0], `${names[r]}: Node's top-1`);
      assert.deepEqual(new Set(page.top[r]!.map((c) => c.index)), new Set(order), `${names[r]}: Node's top-5`);
      assert.ok(page.top[r]![0]!.className.length > 0, 'class names from the file\'s metadata');
      const fl = page.floatLogits.slice(r * 1000, (r + 1) * 1000);
      assert.equal(fl.indexOf(Math.max(...fl)), order[0], `${names[r]}: weights-only gives the int8 top-1`);
    }
    // weights-only computes in float: no weight is dequantized at run time, every conv and the Gemm read
    // float constants (one Q/DQ pair is left, on the 1280 pooled features before the Flatten)
    const { fromOnnx } = await import('../src/onnx/export.js');
    const g = fromOnnx(variantBytes(net, 'weights-only')).graph!;
    const constants = new Set((g.initializer ?? []).map((t) => t.name));
    const count = (op: string) => (g.node ?? []).filter((n) => n.opType === op).length;
    assert.deepEqual((g.node ?? []).filter((n) => n.opType === 'DequantizeLinear' && constants.has(n.input![0]!)).map((n) => n.name), [], 'no weight DequantizeLinear');
    assert.ok(count('QuantizeLinear') <= 1 && count('Conv') === 52, `${count('QuantizeLinear')} QuantizeLinear, ${count('Conv')} float convs`);
  } finally {
    await p.release();
  }
});
