// Side-by-side timing of alternative formulations of the training step (FORMULATIONS in
// src/graph/ops.ts, compileTrainStep's `formulation` option): each candidate is compiled beside
// the default and the two are run alternately in the same process, so machine noise hits both.
// At level 'all', as onnxruntime-node's Trainer runs a step. Also prints how far the candidate's loss and gradients are from the default's. Not a test; a tool.
//   npx tsc -p . && node dist/bench/formulations.js [batch] [size] [alpha] [rounds] [key,...]
// (the last argument keeps only the candidates for those keys, e.g. depthwiseDw; env BASE='{...}'
// compares against that formulation instead of the default, each candidate on top of it)

import os from 'node:os';
import * as ort from 'onnxruntime-node';
import { DEFAULT_FORMULATION, type Formulation } from '../src/graph/ops.js';
import { MobileNetV2 } from '../src/models/mobilenetv2.js';
import { compileTrainStep } from '../src/train/compile.js';
import { makeOptimizer } from '../src/train/optim.js';
import { Generator } from '../src/random.js';
import { stepFeeds } from './step-feeds.js';

const args = process.argv.slice(2);
const [batch = 32, size = 224, alpha = 1.0, rounds = 4] = args.slice(0, 4).map(Number);
const only = args[4]?.split(',');
const ALL: Partial<Formulation>[] = [{ bnVariance: 'sumsquare' }, { clipMask: 'sign' }, { depthwiseDw: 'slices' }, { dwBatch: 'whole' }, { recompute: 'clips' }, { recompute: 'convs' }, { bnVariance: 'rowsquare' }, { convBn: 'separate' }, { batchSum: 'batched' }];
const BASE = process.env['BASE'] ? (JSON.parse(process.env['BASE']) as Partial<Formulation>) : {};
// env CANDIDATE='{...}': that one candidate instead (e.g. the former default, several keys at once)
const CANDIDATES = process.env['CANDIDATE'] ? [JSON.parse(process.env['CANDIDATE']) as Partial<Formulation>] : ALL.filter(
  (c) => !only || Object.keys(c).some((k) => only.includes(k)),
);

const model = new MobileNetV2({ alpha }).train();
const sd = model.stateDict();
const rng = new Generator(0);
const input = Float32Array.from({ length: batch * 3 * size * size }, () => rng.normal());

async function build(formulation: Partial<Formulation>) {
  const step = compileTrainStep(model, { batch, inputSize: size, numClasses: 1000, optimizer: makeOptimizer({ name: 'sgd', momentum: 0.9 }), outputGradients: true, formulation });
  const s = await ort.InferenceSession.create(step.onnx, { executionProviders: ['cpu'], intraOpNumThreads: os.availableParallelism(), graphOptimizationLevel: 'all', enableMemPattern: false });
  const feeds = stepFeeds(step, sd, input, batch, size);
  return { s, feeds, nodes: step.graph.nodes.length };
}

/**
 * The candidate's gradients against the default's: the worst max|a - b| over gradient tensors, at
 * the scale of all gradients (the largest |b| of any); per tensor at its own scale, tensors whose
 * gradient is ~0 in exact arithmetic make noise look like disagreement. And the loss difference.
 */
function agreement(a: ort.InferenceSession.OnnxValueMapType, b: ort.InferenceSession.OnnxValueMapType): string {
  let diff = 0;
  let scale = 0;
  let where = '';
  for (const k of Object.keys(b)) {
    if (!k.startsWith('grad.')) continue;
    const [x, y] = [a[k]!.data as Float32Array, b[k]!.data as Float32Array];
    for (let i = 0; i < y.length; i++) {
      if (Math.abs(x[i]! - y[i]!) > diff) [diff, where] = [Math.abs(x[i]! - y[i]!), k.slice(5)];
      scale = Math.max(scale, Math.abs(y[i]!));
    }
  }
  const loss = Math.abs((a['loss']!.data as Float32Array)[0]! - (b['loss']!.data as Float32Array)[0]!);
  return `loss diff ${loss.toExponential(1)}, gradients within ${(diff / Math.max(scale, 1e-30)).toExponential(1)} of the largest (at ${where})`;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`batch ${batch}, ${size}x${size}, alpha ${alpha}, ${os.availableParallelism()} threads, median of ${rounds}; default ${JSON.stringify(DEFAULT_FORMULATION)}, base ${JSON.stringify(BASE)}`);
for (const cand of CANDIDATES) {
  const a = await build(BASE);
  const b = await build({ ...BASE, ...cand });
  const agree = agreement(await b.s.run(b.feeds), await a.s.run(a.feeds));
  for (let i = 0; i < 1; i++) {
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
  console.log(`${JSON.stringify(cand).padEnd(28)} ${mb.toFixed(0).padStart(6)} ms vs default ${ma.toFixed(0).padStart(6)} ms  (x${(mb / ma).toFixed(3)}; ${b.nodes} vs ${a.nodes} nodes; ${agree})`);
  await a.s.release();
  await b.s.release();
}
