// `mobilenetv2 summary` as a child process: stdout is torchsummary's printout of the real PyTorch
// seed model byte for byte (goldens of tools/gen_fixtures.py); bad values are exit 2.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';



import { fixturePath } from './helpers/parity.js';
import { cli, assertUsage, freshDir } from './helpers/cli.js';


test('summary with no flags prints the seed MobileNetV2x100 at 3x224x224, equal to torchsummary byte for byte', () => {
  const r = cli(['summary'], freshDir());
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, readFileSync(fixturePath('summary', 'seed_a1.0_c1000_seed_224.txt'), 'utf8'));
  assert.equal(r.stderr, '');
});

test('summary --alpha 0.5 --input-size 160 --last-channel paper equals torchsummary byte for byte', () => {
  const r = cli(['summary', '--alpha', '0.5', '--input-size', '160', '--last-channel', 'paper'], freshDir());
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, readFileSync(fixturePath('summary', 'seed_a0.5_c1000_paper_160.txt'), 'utf8'));
});

test('BAD CALL - summary --input-size 16 (below 32) is exit 2 naming the option', () => {
  const r = cli(['summary', '--input-size', '16'], freshDir());
  assertUsage(r, '--input-size', '16');
  assert.equal(r.stdout, '');
});

test('BAD CALL - summary --alpha -1 is exit 2 naming the option', () => {
  const r = cli(['summary', '--alpha', '-1'], freshDir());
  assertUsage(r, '--alpha', '-1');
  assert.equal(r.stdout, '');
});

test('BAD CALL - summary --last-channel foo is exit 2 naming the value and the valid rules', () => {
  const r = cli(['summary', '--last-channel', 'foo'], freshDir());
  assertUsage(r, '--last-channel', 'foo', 'seed', 'paper');
  assert.equal(r.stdout, '');
});
