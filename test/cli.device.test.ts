// --device through the CLI: CUDA without ONNX Runtime's CUDA build is exit 4 and says how to get
// it; a device that does not exist is a bad command line (exit 2).
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, readdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { MobileNetV2 } from '../src/models/mobilenetv2.js';
import { float32 } from '../src/tensor.js';
import { writeSafetensors } from '../src/weights/safetensors.js';
import { fixturePath } from './helpers/parity.js';
import { cli, assertOneLine, assertUsage, freshDir } from './helpers/cli.js';

// The CUDA provider is only there when onnxruntime-node was installed with ONNXRUNTIME_NODE_INSTALL=cuda12
// (this project's .npmrc skips it); then --device cuda may well work, and exit 4 is not the contract.
const ortDir = dirname(createRequire(import.meta.url).resolve('onnxruntime-node/package.json'));
const cudaBuild = existsSync(join(ortDir, 'bin', 'napi-v6', process.platform, process.arch, 'libonnxruntime_providers_cuda.so'));

/** Folder with w.safetensors (seeded MobileNetV2 0.25, 10 classes), in.safetensors (1 x 3 x 32 x 32) and face.jpg. */
let data: string;
before(() => {
  data = freshDir();
  writeFileSync(join(data, 'w.safetensors'), writeSafetensors(new MobileNetV2({ alpha: 0.25, numClasses: 10, lastChannel: 'seed', seed: 0 }).stateDict()));
  writeFileSync(join(data, 'in.safetensors'), writeSafetensors(new Map([['input', float32([1, 3, 32, 32])]])));
  copyFileSync(fixturePath('images', 'face.jpg'), join(data, 'face.jpg'));
});

const runArgs = (...more: string[]) => ['run', '--weights', join(data, 'w.safetensors'), '--input', join(data, 'in.safetensors'), '--output', 'out.safetensors', ...more];

test('BAD CALL - run --device cuda without the CUDA build is exit 4, one line saying ONNXRUNTIME_NODE_INSTALL=cuda12', { skip: cudaBuild && 'onnxruntime-node has its CUDA provider installed' }, () => {
  const cwd = freshDir();
  assertOneLine(cli(runArgs('--device', 'cuda'), cwd), 4, 'cuda', 'ONNXRUNTIME_NODE_INSTALL=cuda12');
  assert.deepEqual(readdirSync(cwd), [], 'no output');
});

test('BAD CALL - predict --device cuda without the CUDA build is exit 4, one line saying ONNXRUNTIME_NODE_INSTALL=cuda12', { skip: cudaBuild && 'onnxruntime-node has its CUDA provider installed' }, () => {
  assertOneLine(cli(['predict', join(data, 'face.jpg'), '--weights', join(data, 'w.safetensors'), '--device', 'cuda'], freshDir()), 4, 'cuda', 'ONNXRUNTIME_NODE_INSTALL=cuda12');
});

test('BAD CALL - run --device tpu is exit 2 listing the devices', () => {
  const cwd = freshDir();
  assertUsage(cli(runArgs('--device', 'tpu'), cwd), '--device', 'tpu', 'cpu, webgpu, cuda');
  assert.deepEqual(readdirSync(cwd), []);
});

test('BAD CALL - predict --device tpu is exit 2 listing the devices', () => {
  assertUsage(cli(['predict', 'face.jpg', '--weights', join(data, 'w.safetensors'), '--device', 'tpu'], freshDir()), '--device', 'tpu', 'cpu, webgpu, cuda');
});
