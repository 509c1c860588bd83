// serve runs the .onnx files a user ships: an fp32 export and a quantize'd int8 file are served as
// they are (on the worker threads), and each answer is the one predict's path gives for the same
// file; a fixed-batch export is refused with a one-line reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inferenceOnnx } from '../src/infer/graph.js';
import { onnxNetwork } from '../src/infer/onnx.js';
import { Predictor } from '../src/infer/predictor.js';
import { loadBatch } from '../src/platform/node/image.js';
import { nodeBackend } from '../src/platform/node/ort.js';
import { quantizeNetwork } from '../src/quant/quantize.js';
import { toOnnx } from '../src/onnx/export.js';
import { startServer } from '../src/serve/server.js';
import { pngOf, postBytes, SMALL_PRESET, smallModel } from './helpers/serve.js';

const model = smallModel(10);

async function served(bytes: Uint8Array, name: string): Promise<void> {
  const net = onnxNetwork(bytes, name);
  const images = await Promise.all([1, 2, 3].map((i) => pngOf(i)));
  const s = await startServer({ model: net, preset: SMALL_PRESET, port: 0, threads: 1, decodeThreads: 1 });
  const p = new Predictor(net, nodeBackend, { threads: 1 });
  try {
    for (const img of images) {
      const r = await postBytes(`${s.url}/v1/classify?topk=3`, img, 'image/png');
      assert.equal(r.status, 200);
      const got = ((await r.json()) as { top: { index: number; probability: number }[] }).top;
      const { probabilities } = await p.run((await loadBatch([img], SMALL_PRESET)).tensor);
      const prob = probabilities.data as Float32Array;
      const order = Array.from(prob.keys()).sort((a, b) => prob[b]! - prob[a]! || a - b).slice(0, 3);
      assert.deepEqual(got.map((t) => t.index), order, `${name}: predict's ranking`);
      assert.deepEqual(got.map((t) => t.probability), order.map((i) => prob[i]!), `${name}: predict's probabilities, bit for bit`);
    }
    const e = await postBytes(`${s.url}/v1/embed`, images[0]!, 'image/png');
    assert.equal(e.status, 200);
    assert.equal(((await e.json()) as { embedding: number[] }).embedding.length, net.embeddingSize);
  } finally {
    await p.release();
    await s.drain();
  }
}

test('an fp32 export and an int8 file are served as they are: predict\'s answers for the same file', async () => {
  await served(inferenceOnnx(model, { inputSize: 64 }), 'm.onnx');
  const calib = (await loadBatch(await Promise.all([4, 5, 6, 7].map((i) => pngOf(i))), SMALL_PRESET)).tensor;
  const { graph } = await quantizeNetwork(model, [calib], nodeBackend, { inputSize: 64, session: { threads: 1 } });
  await served(toOnnx(graph), 'm.int8.onnx');
});

test('BAD CALL - a fixed-batch export, or an input size the preprocessing does not crop, is refused by name', async () => {
  await assert.rejects(startServer({ model: onnxNetwork(inferenceOnnx(model, { inputSize: 64, batch: 1 }), 'b1.onnx'), preset: SMALL_PRESET, port: 0 }), /b1\.onnx has a fixed batch of 1/);
  await assert.rejects(startServer({ model: onnxNetwork(inferenceOnnx(model, { inputSize: 96 }), 'm96.onnx'), preset: SMALL_PRESET, port: 0 }), /m96\.onnx takes 96x96 images, but the preprocessing crops 64x64/);
});
