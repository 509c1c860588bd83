// Where a training step's time goes: ONNX Runtime's profiler over the compiled step graph,
// aggregated by operator and by phase (forward / backward / update). Not a test; a tool.
//   npx tsc -p . && node dist/bench/profile-train.js [batch] [size] [alpha]
//   (ORT_LEVEL=all|extended, FORMULATION='{"recompute":"convs"}', RUNS=3, TOP=25)

import os from 'node:os';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { MobileNetV2 } from '../src/models/mobilenetv2.js';
import { compileTrainStep } from '../src/train/compile.js';
import { makeOptimizer } from '../src/train/optim.js';
import { Generator } from '../src/random.js';
import { stepFeeds } from './step-feeds.js';
import type { Formulation } from '../src/graph/ops.js';

const [batch = 32, size = 224, alpha = 1.0] = process.argv.slice(2).map(Number);
const level = (process.env['ORT_LEVEL'] ?? 'extended') as 'extended' | 'all';
const model = new MobileNetV2({ alpha }).train();
const opt = makeOptimizer({ name: 'sgd', momentum: 0.9 });
const formulation = process.env['FORMULATION'] ? (JSON.parse(process.env['FORMULATION']) as Partial<Formulation>) : undefined;
const step = compileTrainStep(model, { batch, inputSize: size, numClasses: 1000, optimizer: opt, formulation });
console.log(`graph: ${step.graph.nodes.length} nodes, ${(step.onnx.length / 2 ** 20).toFixed(1)} MB`);
const profDir = mkdtempSync(join(os.tmpdir(), 'mnv2-profile-'));
const s = await ort.InferenceSession.create(step.onnx, {
  executionProviders: ['cpu'],
  intraOpNumThreads: os.availableParallelism(),
  graphOptimizationLevel: level,
  enableProfiling: true,
  profileFilePrefix: join(profDir, 'step'),
});
const rng = new Generator(0);
const feeds = stepFeeds(step, model.stateDict(), Float32Array.from({ length: batch * 3 * size * size }, () => rng.normal()), batch, size);
const runs = Number(process.env['RUNS'] ?? 3);
for (let i = 0; i < runs; i++) {
  const t0 = performance.now();
  await s.run(feeds);
  console.log(`run ${i}: ${(performance.now() - t0).toFixed(0)} ms`);
}
s.endProfiling(); // writes <prefix>_<date>.json
await s.release();
const file = readdirSync(profDir).filter((f) => f.startsWith('step') && f.endsWith('.json')).map((f) => join(profDir, f)).sort().at(-1)!;
const all = JSON.parse(readFileSync(file, 'utf8')) as { cat: string; name: string; dur: number; ts: number; args?: { op_name?: string } }[];
rmSync(profDir, { recursive: true, force: true });
// steady state only: drop the first two runs (arena growth)
const starts = all.filter((e) => e.name === 'model_run').map((e) => e.ts).sort((a, b) => a - b);
const from = starts[Math.min(2, starts.length - 1)] ?? 0;
const events = all.filter((e) => e.ts >= from);
const counted = starts.filter((t) => t >= from).length;
const byOp = new Map<string, number>();
const byPhase = new Map<string, number>();
const byNode = new Map<string, number>();
for (const e of events) {
  if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
  const op = e.args?.op_name ?? '?';
  const node = e.name.replace(/_kernel_time$/, '');
  const phase = node.startsWith('grad.') ? 'backward' : node.startsWith('update.') || node.startsWith('new.') ? 'update' : 'forward';
  byOp.set(op, (byOp.get(op) ?? 0) + e.dur / counted / 1000);
  byPhase.set(phase, (byPhase.get(phase) ?? 0) + e.dur / counted / 1000);
  byNode.set(`${phase} ${op}`, (byNode.get(`${phase} ${op}`) ?? 0) + e.dur / counted / 1000);
}
const show = (m: Map<string, number>, n = 40) => [...m].sort((a, b) => b[1] - a[1]).slice(0, n).forEach(([k, v]) => console.log(`${v.toFixed(1).padStart(8)} ms  ${k}`));
console.log('--- by phase'); show(byPhase);
console.log('--- by phase and op'); show(byNode, 30);
const perNode = new Map<string, number>();
for (const e of events) if (e.cat === 'Node' && e.name.endsWith('_kernel_time')) perNode.set(e.name.replace(/_kernel_time$/, ''), (perNode.get(e.name.replace(/_kernel_time$/, '')) ?? 0) + e.dur / counted / 1000);
console.log('--- slowest nodes'); show(perNode, Number(process.env['TOP'] ?? 25));
