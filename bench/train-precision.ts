// How close a training step's gradients are to PyTorch's float64 ones at real shapes (MobileNetV2
// 1.0, 224x224), for each formulation given: the parity tests use alpha 0.25 at 64x64, where the
// deep layers see 16 pixels; this checks the full-size network. Writes, into DIR, the model's state
// dict and the batch (`model.safetensors`, random init, dropout 0, input `__input`) and each
// formulation's loss and gradients (`grads_<name>.safetensors`); tools/check_train_precision.py then
// runs torch in float64 and float32 on the same and prints the distances. Not a test; a tool.
//   npx tsc -p . && node dist/bench/train-precision.js DIR [batch=8] [size=224] ['{"name": {formulation}, ...}']
//   /usr/bin/python3 tools/check_train_precision.py DIR

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import os from 'node:os';
import * as ort from 'onnxruntime-node';
import { MobileNetV2 } from '../src/models/mobilenetv2.js';
import { compileTrainStep } from '../src/train/compile.js';
import { makeOptimizer } from '../src/train/optim.js';
import { Generator } from '../src/random.js';
import { writeSafetensors } from '../src/weights/safetensors.js';
import { float32, type StateDict } from '../src/tensor.js';
import { stepFeeds } from './step-feeds.js';

const dir = process.argv[2];
if (!dir) {
  console.error('usage: node dist/bench/train-precision.js DIR [batch] [size] [formulations JSON]');
  process.exit(2);
}
const batch = Number(process.argv[3] ?? 8);
const size = Number(process.argv[4] ?? 224);
const forms = JSON.parse(process.argv[5] ?? '{"moments": {"convBn": "moments"}, "separate": {"convBn": "separate"}}') as Record<string, object>;
mkdirSync(dir, { recursive: true });
const model = new MobileNetV2({ alpha: 1, dropout: 0 }).train();
const sd = model.stateDict();
const rng = new Generator(0);
const input = Float32Array.from({ length: batch * 3 * size * size }, () => rng.normal());
writeFileSync(join(dir, 'model.safetensors'), writeSafetensors(new Map([...sd, ['__input', float32([batch, 3, size, size], input)]])));
for (const [name, formulation] of Object.entries(forms)) {
  const step = compileTrainStep(model, { batch, inputSize: size, numClasses: 1000, optimizer: makeOptimizer({ name: 'sgd', momentum: 0.9 }), outputGradients: true, formulation });
  const s = await ort.InferenceSession.create(step.onnx, { executionProviders: ['cpu'], intraOpNumThreads: os.availableParallelism(), graphOptimizationLevel: 'all', enableMemPattern: false });
  const out = await s.run(stepFeeds(step, sd, input, batch, size));
  const grads: StateDict = new Map();
  for (const [k, v] of Object.entries(out)) if (k.startsWith('grad.') || k === 'loss') grads.set(k, float32(v.dims as number[], v.data as Float32Array));
  writeFileSync(join(dir, `grads_${name}.safetensors`), writeSafetensors(grads));
  console.log(`${name}: loss ${(out['loss']!.data as Float32Array)[0]}`);
  await s.release();
}
