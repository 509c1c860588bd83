// int8 measurements (npm run bench writes them under `int8` in bench/results.json):
//   - accuracy on real photos: top-1 agreement of int8 with fp32 and the change in top-1, per
//     calibration method and per-channel vs per-tensor weights, calibrating on one half of the 16
//     photos (as crops and mirror images) and measuring on the other half, both ways round;
//   - a fine-tuned model (the `train --demo` recipe, trained once and kept in bench/tmp/): top-1
//     on freshly drawn demo images before and after quantization;
//   - Node speed: fp32 vs int8 images/s at batch 1 and 32, interleaved in one run; file sizes.
// The browser's WASM figures come from bench/int8-web.ts (the same `int8` key).

import os from 'node:os';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { loadCheckpoint } from '../src/platform/node/weights.js';
import { loadBatch } from '../src/platform/node/image.js';
import { nodeBackend } from '../src/platform/node/ort.js';
import { floatGraph, quantizeNetwork, type QuantizeOptions } from '../src/quant/quantize.js';
import { fromOnnx, toOnnx } from '../src/onnx/export.js';
import { makeDemoDataset } from '../src/platform/node/demo.js';
import { ImageFolder } from '../src/platform/node/folder.js';
import { withInputSize } from '../src/data/transforms.js';
import { Predictor } from '../src/infer/predictor.js';
import { onnxNetwork } from '../src/infer/onnx.js';
import { float32, type Tensor } from '../src/tensor.js';
import type { MobileNetV2 } from '../src/models/mobilenetv2.js';
import type { RawImage } from '../src/data/image.js';
import { median, timeIt } from './timing.js';
import { webInt8 } from './int8-web.js';
import { photoFolds, photoViews, REAL, REAL_WEIGHTS, VIEWS_PER_PHOTO } from '../test/helpers/views.js';

const THREADS = Number(process.env['BENCH_THREADS'] ?? os.availableParallelism());

export function argmaxRows(t: Tensor): number[] {
  const [n, c] = t.shape as [number, number];
  const d = t.data as Float32Array;
  return Array.from({ length: n }, (_, i) => {
    let best = 0;
    for (let j = 1; j < c; j++) if (d[i * c + j]! > d[i * c + best]!) best = j;
    return best;
  });
}

/** Logits of `images` through the ONNX `bytes` (batches of 32). */
export async function logitsOf(bytes: Uint8Array, tensor: Tensor): Promise<Tensor> {
  const net = onnxNetwork(bytes, 'bench');
  const p = new Predictor(net, nodeBackend, { threads: THREADS });
  try {
    const [n] = tensor.shape as [number];
    const per = tensor.data.length / n;
    const rows: Float32Array[] = [];
    let c = 0;
    for (let i = 0; i < n; i += 32) {
      const m = Math.min(32, n - i);
      const x = float32([m, ...tensor.shape.slice(1)], (tensor.data as Float32Array).slice(i * per, (i + m) * per));
      const { logits } = await p.run(x, ['logits']);
      c = logits.shape[1]!;
      rows.push(logits.data as Float32Array);
    }
    const out = new Float32Array(n * c);
    let o = 0;
    for (const r of rows) {
      out.set(r, o);
      o += r.length;
    }
    return float32([n, c], out);
  } finally {
    await p.release();
  }
}

export interface Agreement {
  images: number;
  agreement: number;
  top1_fp32: number;
  top1_int8: number;
  top1_change_points: number;
  max_logit_diff: number;
  mean_abs_logit_diff: number;
}

export function compare(fp: Tensor, q: Tensor, labels: readonly number[]): Agreement {
  const a = argmaxRows(fp);
  const b = argmaxRows(q);
  const n = a.length;
  let agree = 0;
  let c1 = 0;
  let c2 = 0;
  for (let i = 0; i < n; i++) {
    if (a[i] === b[i]) agree++;
    if (a[i] === labels[i]) c1++;
    if (b[i] === labels[i]) c2++;
  }
  let max = 0;
  let sum = 0;
  const x = fp.data as Float32Array;
  const y = q.data as Float32Array;
  for (let i = 0; i < x.length; i++) {
    const d = Math.abs(x[i]! - y[i]!);
    max = Math.max(max, d);
    sum += d;
  }
  return { images: n, agreement: agree / n, top1_fp32: c1 / n, top1_int8: c2 / n, top1_change_points: (100 * (c2 - c1)) / n, max_logit_diff: max, mean_abs_logit_diff: sum / x.length };
}

async function tensorOf(images: readonly RawImage[]): Promise<Tensor> {
  return (await loadBatch([...images], 'torchvision-v1')).tensor;
}

export const CONFIGS: { name: string; opts: QuantizeOptions }[] = [
  { name: 'per-channel, min-max', opts: { method: 'minmax' } },
  { name: 'per-channel, percentile 99.99', opts: { method: 'percentile', percentile: 99.99 } },
  { name: 'per-channel, percentile 99.999', opts: { method: 'percentile', percentile: 99.999 } },
  { name: 'per-channel, entropy', opts: { method: 'entropy' } },
  { name: 'per-channel, mse', opts: { method: 'mse' } },
  { name: 'per-tensor, mse, no CLE / bias correction', opts: { method: 'mse', weights: 'per-tensor', equalize: false, biasCorrection: false } },
  { name: 'per-tensor + CLE + bias correction, min-max', opts: { method: 'minmax', weights: 'per-tensor' } },
  { name: 'per-tensor + CLE + bias correction, mse', opts: { method: 'mse', weights: 'per-tensor' } },
];

/**
 * On the 16 real photos, two folds: calibrate on `calib` views of each photo of one half, measure
 * on all views of the other half (and the other way round). Labels: PyTorch's fp32 top-1 of each
 * whole photo (reference.json), so "top-1" is agreement with that label over the views.
 */
export async function realPhotoAccuracy(opts: { calibPerPhoto?: number; configs?: typeof CONFIGS; log?: (s: string) => void } = {}): Promise<Record<string, unknown>> {
  const log = opts.log ?? console.log;
  const calibPerPhoto = opts.calibPerPhoto ?? 8;
  const { model } = await loadCheckpoint(REAL_WEIGHTS);
  const reference = JSON.parse(readFileSync(join(REAL, 'reference.json'), 'utf8')) as { images: Record<string, { torchvision_layout: { top5: number[] } }> };
  const folds = photoFolds();
  const fp32 = toOnnx(floatGraph(model, 224));
  const data = [] as { calib: Tensor; eval: Tensor; labels: number[]; fp: Tensor }[];
  for (let f = 0; f < 2; f++) {
    const [cal, held] = f === 0 ? folds : [folds[1], folds[0]];
    const evalT = await tensorOf(await photoViews(held));
    const labels = held.flatMap((p) => Array<number>(VIEWS_PER_PHOTO).fill(reference.images[p.split('/').pop()!]!.torchvision_layout.top5[0]!));
    data.push({ calib: await tensorOf(await photoViews(cal, calibPerPhoto)), eval: evalT, labels, fp: await logitsOf(fp32, evalT) });
  }
  const rows: Record<string, unknown>[] = [];
  for (const c of opts.configs ?? CONFIGS) {
    const parts: Agreement[] = [];
    let size = 0;
    for (const d of data) {
      const bytes = toOnnx((await quantizeNetwork(model, [d.calib], nodeBackend, { ...c.opts, session: { threads: THREADS } })).graph);
      size = bytes.length;
      parts.push(compare(d.fp, await logitsOf(bytes, d.eval), d.labels));
    }
    const n = parts[0]!.images + parts[1]!.images;
    const w = (k: keyof Agreement) => (parts[0]![k] * parts[0]!.images + parts[1]![k] * parts[1]!.images) / n;
    const row = { config: c.name, ...c.opts, images: n, agreement: +w('agreement').toFixed(4), top1_fp32: +w('top1_fp32').toFixed(4), top1_int8: +w('top1_int8').toFixed(4), top1_change_points: +w('top1_change_points').toFixed(2), max_logit_diff: +Math.max(parts[0]!.max_logit_diff, parts[1]!.max_logit_diff).toFixed(3), mean_abs_logit_diff: +w('mean_abs_logit_diff').toFixed(4), bytes: size };
    rows.push(row);
    log(`${c.name.padEnd(52)} agreement ${(100 * row.agreement).toFixed(1).padStart(5)}%  top-1 ${(100 * row.top1_fp32).toFixed(1)} -> ${(100 * row.top1_int8).toFixed(1)} (${row.top1_change_points >= 0 ? '+' : ''}${row.top1_change_points})  max |dlogit| ${row.max_logit_diff}`);
  }
  return {
    what: `16 real photos (../shared/real) in two halves of 8; calibrated on ${calibPerPhoto} views of each photo of one half (${8 * calibPerPhoto} images), measured on all ${VIEWS_PER_PHOTO} views (whole photo, 80% and 64% crops at center and corners, mirrored) of each photo of the other half, both ways round: ${2 * 8 * VIEWS_PER_PHOTO} views of 16 distinct photos. Labels: PyTorch fp32's top-1 of each whole photo.`,
    weights: 'mobilenet_v2_coral_imagenet.pth (real ImageNet weights, trained quantization-aware by Google: already on a coarse grid)',
    rows,
  };
}

/** fp32 vs int8 images/s through the same Predictor path, interleaved, at batch 1 and 32. */
export async function nodeSpeed(fp32: Uint8Array, int8: Uint8Array, rounds = 5, minMs = 1500): Promise<Record<string, unknown>> {
  const nets = { fp32: new Predictor(onnxNetwork(fp32, 'fp32.onnx'), nodeBackend, { threads: THREADS }), int8: new Predictor(onnxNetwork(int8, 'int8.onnx'), nodeBackend, { threads: THREADS }) };
  const out: Record<string, unknown> = {};
  for (const batch of [1, 32]) {
    const x = float32([batch, 3, 224, 224], Float32Array.from({ length: batch * 3 * 224 * 224 }, (_, i) => Math.sin(i)));
    const t: Record<string, number[]> = { fp32: [], int8: [] };
    for (const p of Object.values(nets)) for (let i = 0; i < 3; i++) await p.run(x);
    for (let r = 0; r < rounds; r++) for (const [k, p] of Object.entries(nets)) t[k]!.push(await timeIt(() => p.run(x), minMs));
    const f = (batch * 1000) / median(t['fp32']!);
    const q = (batch * 1000) / median(t['int8']!);
    out[`batch_${batch}`] = { fp32_images_per_s: +f.toFixed(1), int8_images_per_s: +q.toFixed(1) };
    out[`speedup_b${batch}`] = +(q / f).toFixed(3);
    console.log(`node batch ${String(batch).padStart(2)}: fp32 ${f.toFixed(1).padStart(7)} img/s   int8 ${q.toFixed(1).padStart(7)} img/s   int8 / fp32 ${(q / f).toFixed(2)}x`);
  }
  for (const p of Object.values(nets)) await p.release();
  return out;
}

/** The op types ONNX Runtime (node, CPU) runs an ONNX graph with, from its optimized-model dump. */
export async function optimizedOps(bytes: Uint8Array, dir: string): Promise<Record<string, number>> {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `optimized-${process.pid}-${Date.now()}.onnx`);
  const s = await nodeBackend.createSession(bytes, { threads: 1, optimizedModelFilePath: file });
  await s.release();
  const counts: Record<string, number> = {};
  for (const n of fromOnnx(readFileSync(file)).graph?.node ?? []) {
    const k = n.domain ? `${n.domain}.${n.opType}` : (n.opType ?? '');
    counts[k] = (counts[k] ?? 0) + 1;
  }
  return counts;
}

export { existsSync, THREADS };
export type { MobileNetV2 };

/**
 * A model fine-tuned on our own data: the demo set's recipe (train --demo: alpha 0.35, 64x64,
 * trained from scratch, no quantization-aware anything), top-1 on freshly drawn demo images (seed
 * 1: never trained on) before and after quantization, calibrated on `calib` training images.
 */
export async function demoAccuracy(weights: string, work: string, opts: { calib?: number; evalPerClass?: number; configs?: typeof CONFIGS; log?: (s: string) => void } = {}): Promise<Record<string, unknown>> {
  const log = opts.log ?? console.log;
  const { model, preset } = await loadCheckpoint(weights);
  const calibN = opts.calib ?? 100;
  const perClass = opts.evalPerClass ?? 50;
  const trainDir = join(work, 'demo-calib');
  const evalDir = join(work, 'demo-eval');
  if (!existsSync(trainDir)) await makeDemoDataset(trainDir, { seed: 0, perClass: Math.ceil(calibN / 10), valPerClass: 1 });
  if (!existsSync(evalDir)) await makeDemoDataset(evalDir, { seed: 1, perClass: 1, valPerClass: perClass });
  const calibFolder = new ImageFolder(join(trainDir, 'train'));
  const evalFolder = new ImageFolder(join(evalDir, 'val'));
  const size = 64;
  const spec = withInputSize(preset ?? 'torchvision-v1', size);
  const calib = (await loadBatch(calibFolder.samples.slice(0, calibN).map((s) => s.path), spec)).tensor;
  const evalT = (await loadBatch(evalFolder.samples.map((s) => s.path), spec)).tensor;
  const labels = evalFolder.samples.map((s) => s.label);
  const fp = await logitsOf(toOnnx(floatGraph(model, size)), evalT);
  const rows: Record<string, unknown>[] = [];
  for (const c of opts.configs ?? CONFIGS) {
    const bytes = toOnnx((await quantizeNetwork(model, [calib], nodeBackend, { ...c.opts, inputSize: size, session: { threads: THREADS } })).graph);
    const r = compare(fp, await logitsOf(bytes, evalT), labels);
    rows.push({ config: c.name, ...c.opts, ...r, bytes: bytes.length });
    log(`demo ${c.name.padEnd(47)} agreement ${(100 * r.agreement).toFixed(1).padStart(5)}%  top-1 ${(100 * r.top1_fp32).toFixed(1)} -> ${(100 * r.top1_int8).toFixed(1)} (${r.top1_change_points >= 0 ? '+' : ''}${r.top1_change_points.toFixed(2)})`);
  }
  return { what: `demo model (train --demo recipe: MobileNetV2 alpha 0.35 at 64x64 trained from scratch on the drawn-shapes set, 10 classes), calibrated on ${calibN} of its training images, measured on ${evalFolder.samples.length} freshly drawn images (seed 1) with their true labels`, rows };
}

/**
 * npm run bench:int8: the real weights quantized as `mobilenetv2 quantize` does by default
 * (per-channel, mse, calibrated on 64 views of 8 photos), fp32 vs int8 speed in Node and in
 * Chromium's WASM (each variant), file sizes, what ORT fused, accuracy per configuration on
 * held-out views, and the demo model before and after quantization. Writes `int8` in
 * bench/results.json.
 */
async function main(): Promise<void> {
  const resultsPath = fileURLToPath(new URL('../../bench/results.json', import.meta.url));
  const work = fileURLToPath(new URL('../../bench/tmp/int8/', import.meta.url));
  mkdirSync(work, { recursive: true });
  const { model } = await loadCheckpoint(REAL_WEIGHTS);
  const [calibPhotos] = photoFolds();
  const calib = await tensorOf(await photoViews(calibPhotos!, 8));
  const fp32 = toOnnx(floatGraph(model, 224));
  const q = await quantizeNetwork(model, [calib], nodeBackend, { method: 'mse', session: { threads: THREADS } });
  const int8 = toOnnx(q.graph);
  writeFileSync(join(work, 'fp32.onnx'), fp32);
  writeFileSync(join(work, 'int8.onnx'), int8);
  const sizes = { fp32_bytes: fp32.length, int8_bytes: int8.length, int8_mb: +(int8.length / 1e6).toFixed(2), ratio: +(int8.length / fp32.length).toFixed(3) };
  console.log(`sizes: fp32 ${(fp32.length / 1e6).toFixed(2)} MB, int8 ${sizes.int8_mb} MB`);
  const ops = await optimizedOps(int8, work);
  console.log(`ORT runs the int8 graph with: ${Object.entries(ops).map(([k, v]) => `${k} x${v}`).join(', ')}`);
  const node = await nodeSpeed(fp32, int8);
  let web: unknown;
  try {
    web = await webInt8(fp32, int8, work, { rounds: Number(process.env['BENCH_ROUNDS'] ?? 3) });
    console.log(`web (WASM): ${JSON.stringify(web)}`);
  } catch (e) {
    web = { error: (e as Error).message.split('\n')[0] };
    console.log(`web: not measured (${(web as { error: string }).error})`);
  }
  const accuracy = await realPhotoAccuracy();
  // the demo model: trained once with `train --demo` and kept in bench/tmp/
  const demoDir = join(work, 'demo-model');
  if (!existsSync(join(demoDir, 'model.safetensors'))) {
    console.log('training the demo model once (train --demo) ...');
    const r = spawnSync(process.execPath, [fileURLToPath(new URL('../src/cli/main.js', import.meta.url)), 'train', '--demo', '--out', demoDir, '--overwrite'], { stdio: ['ignore', 'inherit', 'inherit'] });
    if (r.status !== 0) throw new Error(`train --demo failed (${r.status})`);
  }
  const demo = await demoAccuracy(join(demoDir, 'model.safetensors'), work, { configs: CONFIGS.filter((c) => c.name === 'per-channel, mse' || c.name.startsWith('per-tensor + CLE + bias correction, mse')) });
  const all = existsSync(resultsPath) ? JSON.parse(readFileSync(resultsPath, 'utf8')) : {};
  all.int8 = {
    machine: { cpu: os.cpus()[0]?.model, cores: os.availableParallelism(), threads: THREADS, date: new Date().toISOString() },
    model: 'MobileNetV2 1.0 @ 224, mobilenet_v2_coral_imagenet.pth; int8: per-channel weights, mse ranges, calibrated on 64 views of 8 of the 16 real photos (quantize defaults)',
    speedup_b1: (node as Record<string, number>)['speedup_b1'],
    speedup_b32: (node as Record<string, number>)['speedup_b32'],
    node,
    web,
    sizes,
    ort_ops: ops,
    accuracy,
    demo,
  };
  writeFileSync(resultsPath, JSON.stringify(all, null, 2) + '\n');
  console.log('wrote bench/results.json (int8)');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
