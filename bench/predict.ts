// npm run bench: images/s of our predict path vs a raw onnxruntime-node session on the same ONNX
// graph (same run, interleaved), and end-to-end JPEG -> top-5 with decoding overlapped.
// A benchmark, not a test: the machine is shared and noisy, so compare ratios from one run.

import os from 'node:os';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { MobileNetV2 } from '../src/models/mobilenetv2.js';
import { Predictor, topk } from '../src/infer/predictor.js';
import { nodeBackend } from '../src/platform/node/ort.js';
import { sessionOptions } from '../src/platform/node/ort.js';
import { loadBatch, type BatchResult } from '../src/platform/node/image.js';
import { float32 } from '../src/tensor.js';
import { median, timeIt } from './timing.js';

const THREADS = Number(process.env['BENCH_THREADS'] ?? os.availableParallelism());
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 5);
const resultsPath = new URL('../../bench/results.json', import.meta.url);

async function main(): Promise<void> {
  const model = new MobileNetV2({ alpha: 1.0 }).eval();
  const predictor = new Predictor(model, nodeBackend, { threads: THREADS });
  const bytes = predictor.onnx(224);
  const raw = await ort.InferenceSession.create(bytes, sessionOptions({ threads: THREADS }));

  const forward: Record<string, unknown> = {};
  for (const batch of [1, 32]) {
    const x = float32([batch, 3, 224, 224], Float32Array.from({ length: batch * 3 * 224 * 224 }, (_, i) => Math.sin(i)));
    const rawX = new ort.Tensor('float32', x.data as Float32Array, [batch, 3, 224, 224]);
    const ours = async () => {
      const { logits, probabilities } = await predictor.run(x);
      return topk(probabilities, logits, 5);
    };
    const baseline = () => raw.run({ input: rawX });
    for (let i = 0; i < 3; i++) { await ours(); await baseline(); } // warm-up (arena growth)
    const o: number[] = [];
    const r: number[] = [];
    for (let k = 0; k < ROUNDS; k++) {
      o.push(await timeIt(ours));
      r.push(await timeIt(baseline));
    }
    const ourIps = (batch * 1000) / median(o);
    const rawIps = (batch * 1000) / median(r);
    forward[`batch_${batch}`] = { ours_images_per_s: +ourIps.toFixed(1), raw_ort_images_per_s: +rawIps.toFixed(1), ratio: +(ourIps / rawIps).toFixed(3) };
    console.log(`batch ${String(batch).padStart(2)}: ours ${ourIps.toFixed(1).padStart(7)} img/s   raw onnxruntime-node ${rawIps.toFixed(1).padStart(7)} img/s   ratio ${(ourIps / rawIps).toFixed(3)}`);
  }

  // End to end: JPEG files -> decode + resize + crop (sharp + Pillow-exact resampling) -> network -> top-5,
  // decoding batch i+1 while the network runs batch i.
  const shared = new URL('../../../shared/fixtures/images', import.meta.url).pathname; // ../shared beside the checkout
  const imgDir = existsSync(shared) ? shared : new URL('../../test/fixtures/images', import.meta.url).pathname;
  const photos = ['hot_dog.jpg', 'face.jpg', 'cat_720p.jpg'].map((f) => `${imgDir}/${f}`).filter((f) => existsSync(f));
  const e2e: Record<string, unknown> = {};
  if (photos.length) {
    const files = Array.from({ length: 96 }, (_, i) => photos[i % photos.length]!);
    const bs = 32;
    const batches: string[][] = [];
    for (let i = 0; i < files.length; i += bs) batches.push(files.slice(i, i + bs));
    await loadBatch(batches[0]!, 'torchvision-v1');
    let t0 = performance.now();
    for (const b of batches) await loadBatch(b, 'torchvision-v1');
    const decodeIps = (files.length * 1000) / (performance.now() - t0);
    t0 = performance.now();
    let next: Promise<BatchResult> | undefined = loadBatch(batches[0]!, 'torchvision-v1');
    for (let i = 0; i < batches.length; i++) {
      const b = await next!;
      next = i + 1 < batches.length ? loadBatch(batches[i + 1]!, 'torchvision-v1') : undefined;
      const { logits, probabilities } = await predictor.run(b.tensor);
      topk(probabilities, logits, 5);
    }
    const e2eIps = (files.length * 1000) / (performance.now() - t0);
    const sizes = photos.map((p) => readFileSync(p).length);
    e2e['jpeg_top5'] = { images: files.length, batch: bs, photos: photos.map((p) => p.split('/').pop()), photo_bytes: sizes, decode_only_images_per_s: +decodeIps.toFixed(1), end_to_end_images_per_s: +e2eIps.toFixed(1) };
    console.log(`end to end (JPEG -> top-5, ${files.length} images of ${photos.length} photos, batch ${bs}): ${e2eIps.toFixed(1)} img/s   (decode+preprocess alone: ${decodeIps.toFixed(1)} img/s)`);
  }

  const machine = { cpu: os.cpus()[0]?.model, cores: os.availableParallelism(), threads: THREADS, node: process.version, onnxruntime: ort.env.versions?.node, date: new Date().toISOString() };
  const all = existsSync(resultsPath) ? JSON.parse(readFileSync(resultsPath, 'utf8')) : {};
  all['predict'] = { machine, model: 'MobileNetV2 alpha 1.0, 224x224, random weights, BN folded', forward, ...e2e };
  writeFileSync(resultsPath, JSON.stringify(all, null, 2) + '\n');
  console.log(`machine: ${machine.cpu}, ${machine.cores} cores, ${THREADS} ORT threads; wrote bench/results.json`);
  await predictor.release();
  await raw.release();
}

await main();
