// Side-by-side timing of alternative formulations of the training step (FORMULATION in
// src/graph/ops.ts): each candidate is compiled beside the default and the two are run
// alternately in the same process, so machine noise hits both. Not a test; a tool.
//   npx tsc -p . && node dist/bench/formulations.js [batch] [size] [alpha] [rounds]

import os from 'node:os';
import * as ort from 'onnxruntime-node';
import { FORMULATION } from '../src/graph/ops.js';
import { MobileNetV2 } from '../src/models/mobilenetv2.js';
import { compileTrainStep } from '../src/train/compile.js';
import { makeOptimizer } from '../src/train/optim.js';
import { Generator } from '../src/nn/init.js';
import { stepFeeds } from './step-feeds.js';

const [batch = 32, size = 224, alpha = 1.0, rounds = 4] = process.argv.slice(2).map(Number);
type F = typeof FORMULATION;
const DEFAULT: F = { ...FORMULATION };
const CANDIDATES: Partial<F>[] = [{ bnVariance: 'sumsquare' }, { clipMask: 'sign' }];

const model = new MobileNetV2({ alpha }).train();
const sd = model.stateDict();
const rng = new Generator(0);
const input = Float32Array.from({ length: batch * 3 * size * size }, () => rng.normal());

async function build(f: F) {
  Object.assign(FORMULATION, f);
  const step = compileTrainStep(model, { batch, inputSize: size, numClasses: 1000, optimizer: makeOptimizer({ name: 'sgd', momentum: 0.9 }) });
  Object.assign(FORMULATION, DEFAULT);
  const s = await ort.InferenceSession.create(step.onnx, { executionProviders: ['cpu'], intraOpNumThreads: os.availableParallelism(), graphOptimizationLevel: 'extended' });
  const feeds = stepFeeds(step, sd, input, batch, size);
  return { s, feeds, nodes: step.graph.nodes.length };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
for (const cand of CANDIDATES) {
  const a = await build(DEFAULT);
  const b = await build({ ...DEFAULT, ...cand });
  for (let i = 0; i < 2; i++) {
    await a.s.run(a.feeds);
    await b.s.run(b.feeds);
  }
  const ta: number[] = [];
  const tb: number[] = [];
  for (let r = 0; r < rounds; r++) {
    let t = performance.now();
    await a.s.run(a.feeds);
    ta.push(performance.now() - t);
    t = performance.now();
    await b.s.run(b.feeds);
    tb.push(performance.now() - t);
  }
  const [ma, mb] = [median(ta), median(tb)];
  console.log(`${JSON.stringify(cand).padEnd(28)} ${mb.toFixed(0).padStart(6)} ms vs default ${ma.toFixed(0).padStart(6)} ms  (x${(mb / ma).toFixed(3)}; ${b.nodes} vs ${a.nodes} nodes)`);
  await a.s.release();
  await b.s.release();
}
