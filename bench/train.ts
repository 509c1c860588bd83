// npm run bench:train: training images/s at batch 32, 224x224, alpha 1.0 (2 CPU threads by default),
// the inference forward time of the same batch in the same run, their ratio, and peak RSS; the same
// for --freeze features.0-13 and --save-memory (recompute: step time beside the default, peak RSS in
// a process of its own).
// Writes bench/results.json under "train". A benchmark, not a test: compare ratios from one run.

import os from 'node:os';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ImageFolder } from '../src/platform/node/folder.js';
import { DataLoader } from '../src/data/loader.js';
import { decodeSample } from '../src/platform/node/fit.js';
import { trainTransform } from '../src/data/augment.js';
import { MobileNetV2 } from '../src/models/mobilenetv2.js';
import { Predictor } from '../src/infer/predictor.js';
import { nodeBackend } from '../src/platform/node/ort.js';
import { Trainer } from '../src/train/step.js';
import { compileTrainStep } from '../src/train/compile.js';
import { makeOptimizer } from '../src/train/optim.js';
import * as ort from 'onnxruntime-node';
import { sessionOptions } from '../src/platform/node/ort.js';
import { stepFeeds } from './step-feeds.js';
import { Generator } from '../src/random.js';
import { float32 } from '../src/tensor.js';
import type { OptimizerSpec } from '../src/train/optim.js';
import type { Formulation } from '../src/graph/ops.js';

const BATCH = Number(process.env['BENCH_BATCH'] ?? 32);
const SIZE = Number(process.env['BENCH_SIZE'] ?? 224);
const ALPHA = Number(process.env['BENCH_ALPHA'] ?? 1.0);
const THREADS = Number(process.env['BENCH_THREADS'] ?? os.availableParallelism());
const STEPS = Number(process.env['BENCH_STEPS'] ?? 6);
const resultsPath = new URL('../../bench/results.json', import.meta.url);
/** `node dist/bench/train.js --variant arena-off`: only the step's time and this process's peak RSS, as JSON on stdout (the main run spawns it). */
const VARIANT = process.argv.includes('--variant') ? process.argv[process.argv.indexOf('--variant') + 1] : undefined;
/** `--formulation JSON`: the variant's step in that formulation (compileTrainStep's option). */
/** What `train --save-memory` asks for (src/train/fit.ts). */
const SAVE_MEMORY: Partial<Formulation> = { recompute: 'convs' };
const FORMULATION = process.argv.includes('--formulation') ? (JSON.parse(process.argv[process.argv.indexOf('--formulation') + 1]!) as Partial<Formulation>) : undefined;

let peakRss = 0;
const sample = () => (peakRss = Math.max(peakRss, process.memoryUsage.rss()));
const timer = setInterval(sample, 20);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** A variant of the step in a process of its own, so its peak RSS is its own. */
async function variant(name: string, formulation?: Partial<Formulation>): Promise<{ step_ms: number; peak_rss_mb: number }> {
  const { execFileSync } = await import('node:child_process');
  const args = [new URL(import.meta.url).pathname, '--variant', name, ...(formulation ? ['--formulation', JSON.stringify(formulation)] : [])];
  const out = execFileSync(process.execPath, args, { encoding: 'utf8', env: process.env, maxBuffer: 1 << 20 });
  return JSON.parse(out.trim().split('\n').at(-1)!) as { step_ms: number; peak_rss_mb: number };
}

async function main(): Promise<void> {
  const rng = new Generator(0);
  const x = float32([BATCH, 3, SIZE, SIZE], Float32Array.from({ length: BATCH * 3 * SIZE * SIZE }, () => rng.normal()));
  const labels = Array.from({ length: BATCH }, (_, i) => i % 1000);
  const optimizer: OptimizerSpec = { name: 'sgd', momentum: 0.9, weightDecay: 4e-5 };
  if (VARIANT) {
    if (VARIANT !== 'arena-off' && VARIANT !== 'default') throw new RangeError(`--variant: arena-off or default, got ${VARIANT}`);
    const t = new Trainer(new MobileNetV2({ alpha: ALPHA }).train(), nodeBackend, { optimizer, numClasses: 1000, inputSize: SIZE, threads: THREADS, memArena: VARIANT !== 'arena-off', formulation: FORMULATION });
    const times: number[] = [];
    for (let i = 0; i < 4; i++) {
      const t0 = performance.now();
      await t.train(x, labels, 0.01, rng);
      if (i > 0) times.push(performance.now() - t0);
      sample();
    }
    await t.release();
    clearInterval(timer);
    process.stdout.write(JSON.stringify({ step_ms: +median(times).toFixed(1), peak_rss_mb: Math.round(peakRss / 2 ** 20) }) + '\n');
    return;
  }

  const model = new MobileNetV2({ alpha: ALPHA });
  const trainer = new Trainer(model.train(), nodeBackend, { optimizer, numClasses: 1000, inputSize: SIZE, threads: THREADS });
  let t0 = performance.now();
  await trainer.train(x, labels, 0.01, rng); // compile + arena warm-up
  const firstStep = performance.now() - t0;
  await trainer.train(x, labels, 0.01, rng);
  await trainer.train(x, labels, 0.01, rng);
  sample();
  const trainOnlyRss = peakRss; // three steps, before any other session exists
  // what carrying parameters and optimizer state through inputs/outputs costs: the same compiled
  // graph run bare with fixed feeds (nothing carried), alternately with Trainer.train
  const bareModel = new MobileNetV2({ alpha: ALPHA }).train();
  const bare = compileTrainStep(bareModel, { batch: BATCH, inputSize: SIZE, numClasses: 1000, optimizer: makeOptimizer(optimizer) });
  const bareSession = await ort.InferenceSession.create(bare.onnx, sessionOptions({ threads: THREADS, graphOptimizationLevel: 'extended', memPattern: false }));
  const feeds = stepFeeds(bare, bareModel.stateDict(), x.data as Float32Array, BATCH, SIZE);
  await bareSession.run(feeds);
  const carried: number[] = [];
  const bareRuns: number[] = [];
  for (let i = 0; i < 4; i++) {
    t0 = performance.now();
    await trainer.train(x, labels, 0.01, rng);
    carried.push(performance.now() - t0);
    t0 = performance.now();
    await bareSession.run(feeds);
    bareRuns.push(performance.now() - t0);
  }
  await bareSession.release();
  const overheadMs = median(carried) - median(bareRuns);
  console.log(`Trainer.train ${median(carried).toFixed(0)} ms vs the bare graph run ${median(bareRuns).toFixed(0)} ms: carrying state costs ${overheadMs.toFixed(0)} ms`);
  // the inference forward of the same batch, timed alternately with the step so noise hits both;
  // and the step with the stem and blocks 0-13 frozen (--freeze features.0-13), at the default level and at 'extended'
  const infer = new Predictor(new MobileNetV2({ alpha: ALPHA }).eval(), nodeBackend, { threads: THREADS });
  await infer.run(x);
  const partialModel = new MobileNetV2({ alpha: ALPHA }).train();
  for (let i = 0; i <= 13; i++) {
    const m = partialModel.features.children.get(String(i))!;
    m.eval();
    for (const [, p] of m.namedParameters()) p.requiresGrad = false;
  }
  const partial = new Trainer(partialModel, nodeBackend, { optimizer, numClasses: 1000, inputSize: SIZE, threads: THREADS });
  await partial.train(x, labels, 0.01, rng);
  // the same partial step at level 'extended' (before: no NCHWc pass, so the frozen convs ran on the plain Conv kernels)
  const partialExt = new Trainer(partialModel, nodeBackend, { optimizer, numClasses: 1000, inputSize: SIZE, threads: THREADS, graphOptimizationLevel: 'extended' });
  await partialExt.train(x, labels, 0.01, rng);
  // train --save-memory: the same step recomputing ReLU6 outputs and stem/expansion conv outputs in the backward
  const lean = new Trainer(new MobileNetV2({ alpha: ALPHA }).train(), nodeBackend, { optimizer, numClasses: 1000, inputSize: SIZE, threads: THREADS, formulation: SAVE_MEMORY });
  await lean.train(x, labels, 0.01, rng);
  const leanSteps: number[] = [];
  const steps: number[] = [];
  const fw: number[] = [];
  const partialSteps: number[] = [];
  const partialExtSteps: number[] = [];
  for (let i = 0; i < STEPS; i++) {
    t0 = performance.now();
    await trainer.train(x, labels, 0.01, rng);
    steps.push(performance.now() - t0);
    sample();
    t0 = performance.now();
    await infer.run(x);
    fw.push(performance.now() - t0);
    t0 = performance.now();
    await partial.train(x, labels, 0.01, rng);
    partialSteps.push(performance.now() - t0);
    t0 = performance.now();
    await partialExt.train(x, labels, 0.01, rng);
    partialExtSteps.push(performance.now() - t0);
    t0 = performance.now();
    await lean.train(x, labels, 0.01, rng);
    leanSteps.push(performance.now() - t0);
  }
  await lean.release();
  await infer.release();
  await partial.release();
  await partialExt.release();
  // with real JPEG decoding (sharp + Pillow-exact crop/resize, ahead of the step): how long does the step wait?
  let e2e: Record<string, number> | undefined;
  const photos = new URL('../../../shared/fixtures/images', import.meta.url).pathname;
  if (existsSync(photos) && SIZE === 224) {
    const root = mkdtempSync(join(os.tmpdir(), 'bench-train-'));
    const names = ['hot_dog.jpg', 'face.jpg', 'cat_720p.jpg'];
    for (let c = 0; c < 4; c++) {
      mkdirSync(join(root, `class${c}`));
      for (let i = 0; i < 24; i++) copyFileSync(join(photos, names[i % 3]!), join(root, `class${c}`, `${i}.jpg`));
    }
    const loader = new DataLoader(new ImageFolder(root), { decode: decodeSample, batchSize: BATCH, shuffle: true, seed: 0, transform: trainTransform({ size: SIZE }) });
    let waited = 0;
    let images = 0;
    const t1 = performance.now();
    const it = loader.epoch(0);
    for (;;) {
      const w0 = performance.now();
      const n = await it.next();
      waited += performance.now() - w0;
      if (n.done) break;
      const b = n.value;
      if (b.x.shape[0] !== BATCH) continue; // a smaller last batch would compile a second graph
      await trainer.train(b.x, b.y, 0.01, rng);
      images += b.y.length;
      sample();
    }
    const total = performance.now() - t1;
    e2e = { images, images_per_s: +((images * 1000) / total).toFixed(2), waited_for_data_ms: +waited.toFixed(0), total_ms: +total.toFixed(0) };
    rmSync(root, { recursive: true, force: true });
    console.log(`with JPEG decoding: ${e2e['images_per_s']} images/s over ${images} images; the step waited ${e2e['waited_for_data_ms']} ms of ${e2e['total_ms']} ms for data`);
  }
  await trainer.release();
  const trainRss = peakRss;

  clearInterval(timer);

  const step = median(steps);
  const forward = median(fw);
  const partialStep = median(partialSteps);
  const partialExtStep = median(partialExtSteps);
  const arenaOff = await variant('arena-off');
  const arenaOn = await variant('default');
  const leanOwn = await variant('default', SAVE_MEMORY);
  const leanStep = median(leanSteps);
  console.log(`the step in a process of its own: ${arenaOn.step_ms} ms, peak RSS ${arenaOn.peak_rss_mb} MB; without ORT's CPU arena: ${arenaOff.step_ms} ms, peak RSS ${arenaOff.peak_rss_mb} MB`);
  const result = {
    machine: { cpu: os.cpus()[0]?.model, cores: os.availableParallelism(), threads: THREADS, node: process.version, date: new Date().toISOString() },
    config: { alpha: ALPHA, input: SIZE, batch: BATCH, optimizer: 'sgd momentum 0.9, wd 4e-5', steps_timed: STEPS },
    step_ms: +step.toFixed(1),
    state_carry_overhead_ms: +overheadMs.toFixed(1),
    train_images_per_s: +((BATCH * 1000) / step).toFixed(2),
    inference_forward_ms: +forward.toFixed(1),
    step_over_inference_ratio: +(step / forward).toFixed(2),
    first_step_ms: +firstStep.toFixed(0),
    peak_rss_mb: Math.round(trainOnlyRss / 2 ** 20),
    peak_rss_mb_with_other_sessions: Math.round(trainRss / 2 ** 20),
    ...(e2e ? { with_jpeg_decoding: e2e } : {}),
    partial_freeze_features_0_13: { step_ms: +partialStep.toFixed(1), step_over_inference_ratio: +(partialStep / forward).toFixed(2), train_images_per_s: +((BATCH * 1000) / partialStep).toFixed(2), at_level_extended: { step_ms: +partialExtStep.toFixed(1), step_over_inference_ratio: +(partialExtStep / forward).toFixed(2) } },
    own_process: { arena_on: arenaOn, arena_off: arenaOff },
    save_memory: { formulation: SAVE_MEMORY, step_ms: +leanStep.toFixed(1), step_over_inference_ratio: +(leanStep / forward).toFixed(2), slowdown_vs_default: +(leanStep / step).toFixed(3), own_process: leanOwn },
  };
  console.log(`training step  ${result.step_ms} ms  (${result.train_images_per_s} images/s at batch ${BATCH}, ${SIZE}x${SIZE}, alpha ${ALPHA}, ${THREADS} threads)`);
  console.log(`inference fwd  ${result.inference_forward_ms} ms  -> step / inference = ${result.step_over_inference_ratio}`);
  console.log(`--freeze features.0-13: step ${result.partial_freeze_features_0_13.step_ms} ms -> step / inference = ${result.partial_freeze_features_0_13.step_over_inference_ratio} (at level 'extended', without the NCHWc pass: ${partialExtStep.toFixed(0)} ms, ratio ${(partialExtStep / forward).toFixed(2)})`);
  console.log(`--save-memory (recompute ${SAVE_MEMORY.recompute}): step ${result.save_memory.step_ms} ms (x${result.save_memory.slowdown_vs_default} the default step, ratio ${result.save_memory.step_over_inference_ratio}); in a process of its own ${leanOwn.step_ms} ms, peak RSS ${leanOwn.peak_rss_mb} MB vs ${arenaOn.peak_rss_mb} MB`);
  console.log(`first step (compile + warm-up) ${result.first_step_ms} ms; peak RSS training alone ${result.peak_rss_mb} MB (${result.peak_rss_mb_with_other_sessions} MB with the bare-graph session, the inference session and the JPEG loader alive too)`);
  const all = existsSync(resultsPath) ? JSON.parse(readFileSync(resultsPath, 'utf8')) : {};
  all['train'] = result;
  writeFileSync(resultsPath, JSON.stringify(all, null, 2) + '\n');
}

await main();
