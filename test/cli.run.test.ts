// `mobilenetv2 run` as a child process: the parity tool. PyTorch's logits for parity-filled weights
// (tools/gen_fixtures.py) must come out of `run` with the configuration read off the weights file,
// .pth or .safetensors, BN folded or not; a bad input tensor is exit 3 and writes nothing.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MobileNetV2 } from '../src/models/mobilenetv2.js';
import { float32, type Tensor } from '../src/tensor.js';
import { writePth } from '../src/weights/pth.js';
import { writeSafetensors } from '../src/weights/safetensors.js';
import { fixturePath, parityStateDict, readFixtureSafetensors, maxAbsDiff } from './helpers/parity.js';
import { cli, assertOneLine, freshDir } from './helpers/cli.js';

interface Case { name: string; config: { alpha: number; num_classes: number; last_channel: 'seed' | 'paper' }; logits: string }
const { cases } = JSON.parse(readFileSync(fixturePath('parity', 'cases.json'), 'utf8')) as { cases: Case[] };
const c = cases.find((k) => k.name === 'a0.5_c10_seed')!;
const x97 = readFixtureSafetensors(fixturePath('parity', 'inputs.safetensors')).tensors.get('input_97')!; // (1, 3, 97, 97)
const want = readFixtureSafetensors(fixturePath('parity', c.logits)).tensors.get('logits_97')!; // (1, 10), PyTorch's

/** Folder with the parity-filled weights of case a0.5_c10_seed as w.pth and w.safetensors, and in.safetensors. */
let data: string;
before(() => {
  data = freshDir();
  const m = new MobileNetV2({ alpha: c.config.alpha, numClasses: c.config.num_classes, lastChannel: c.config.last_channel });
  const sd = parityStateDict(m.stateDict());
  writeFileSync(join(data, 'w.pth'), writePth(sd));
  writeFileSync(join(data, 'w.safetensors'), writeSafetensors(sd));
  writeFileSync(join(data, 'in.safetensors'), writeSafetensors(new Map([['input', x97]])));
});


for (const weights of ['w.pth', 'w.safetensors']) {
  for (const fold of [true, false]) {
    test(`run --weights ${weights}${fold ? '' : ' --no-fold-bn'} gives PyTorch's logits of ${c.name} to 1e-4 (config read off the weights)`, () => {
      const cwd = freshDir();
      const args = ['run', '--weights', join(data, weights), '--input', join(data, 'in.safetensors'), '--output', 'out.safetensors'];
      const r = cli(fold ? args : [...args, '--no-fold-bn'], cwd);
      assert.equal(r.code, 0, r.stderr);
      assert.doesNotMatch(r.stderr, /mobilenetv2: /);
      assert.deepEqual(readdirSync(cwd), ['out.safetensors'], 'only the output, no temporary file left');
      const out = readFixtureSafetensors(join(cwd, 'out.safetensors')).tensors;
      assert.deepEqual([...out.keys()], ['logits']);
      const err = maxAbsDiff(out.get('logits')!, want); // (1, 10)
      assert.ok(err <= 1e-4, `max abs error ${err}`);
    });
  }
}

/** `run` on an input file holding `tensors`: a user's mistake, exit 3 naming the input, nothing written. */
function runBadInput(tensors: Map<string, Tensor>, ...names: string[]): void {
  const cwd = freshDir();
  writeFileSync(join(cwd, 'bad_in.safetensors'), writeSafetensors(tensors));
  const r = cli(['run', '--weights', join(data, 'w.safetensors'), '--input', 'bad_in.safetensors', '--output', 'out.safetensors'], cwd);
  assertOneLine(r, 3, 'bad_in.safetensors', ...names);
  assert.equal(r.stdout, '');
  assert.deepEqual(readdirSync(cwd), ['bad_in.safetensors'], 'no output, no temporary file');
}

test('BAD CALL - run with an input file that has no tensor "input" is exit 3 naming the file and what it has', () => {
  runBadInput(new Map([['pixels', x97]]), '"input"', 'pixels');
});

test('BAD CALL - run with an input of rank 3 (3 x 97 x 97) is exit 3 naming the file and the shape', () => {
  runBadInput(new Map([['input', float32([3, 97, 97], x97.data as Float32Array)]]), '[3, 97, 97]');
});

test('BAD CALL - run with an input smaller than 32 x 32 is exit 3 naming the file and the size', () => {
  runBadInput(new Map([['input', float32([1, 3, 16, 16])]]), '16x16', '32x32');
});
