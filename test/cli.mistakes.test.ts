// What is almost surely a user's mistake is refused or said, in one line: reusing a run folder
// without --resume (or --overwrite), a failed start (which leaves no run folder), one class, a
// frozen random backbone, exporting random weights, and a checkpoint with another class count
// (not "another width").
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeDemoDataset } from '../src/platform/node/demo.js';
import { MobileNetV2 } from '../src/models/mobilenetv2.js';
import { writePth } from '../src/weights/pth.js';
import { assertOneLine, cli, freshDir, scratch } from './helpers/cli.js';

let train: string;
const RUN = ['--alpha', '0.25', '--input-size', '32', '--batch-size', '10', '--epochs', '1', '--threads', '1'];

before(async () => {
  train = (await makeDemoDataset(join(scratch, 'demo-mistakes'), { seed: 2, perClass: 2, valPerClass: 1, size: 32 })).train;
});

test('train into a folder that holds a run: refused (say --resume or --overwrite); --overwrite starts over', () => {
  const dir = freshDir();
  const out = join(dir, 'run');
  assert.equal(cli(['train', train, '--out', out, ...RUN], dir, 300_000).code, 0);
  const metrics = readFileSync(join(out, 'metrics.jsonl'), 'utf8');
  const again = cli(['train', train, '--out', out, ...RUN], dir, 300_000);
  assertOneLine(again, 3, out, 'already holds a training run', '--resume', '--overwrite');
  assert.equal(readFileSync(join(out, 'metrics.jsonl'), 'utf8'), metrics, 'the first run is untouched');
  const over = cli(['train', train, '--out', out, '--overwrite', ...RUN], dir, 300_000);
  assert.equal(over.code, 0, over.stderr);
  assert.equal(readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').length, 1, 'one run in the metrics, not two');
});

test('a failed start leaves no run folder behind', () => {
  const dir = freshDir();
  const empty = join(dir, 'nothing');
  mkdirSync(empty);
  assertOneLine(cli(['train', empty, '--out', join(dir, 'run1'), ...RUN], dir), 3, empty);
  assert.ok(!existsSync(join(dir, 'run1')));
  assertOneLine(cli(['train', train, '--out', join(dir, 'run2'), '--resume', ...RUN], dir), 3, 'no checkpoint to resume from');
  assert.ok(!existsSync(join(dir, 'run2')));
});

test('warnings: one class folder; --freeze backbone without weights; export without --weights', () => {
  const dir = freshDir();
  const one = join(dir, 'one');
  cpSync(join(train, 'red_circle'), join(one, 'red_circle'), { recursive: true });
  const r = cli(['train', one, '--out', join(dir, 'run'), '--freeze', 'backbone', ...RUN], dir, 300_000);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^warning: .*one has one class folder \(red_circle\): there is nothing to tell apart$/m);
  assert.match(r.stderr, /^warning: --freeze backbone without --weights: the head learns on a random, frozen backbone$/m);
  const e = cli(['export', '--alpha', '0.25', '--onnx', join(dir, 'm.onnx')], dir);
  assert.equal(e.code, 0, e.stderr);
  assert.match(e.stderr, /^warning: no --weights: exporting the random init \(seed 0\), which classifies nothing$/m);
});

test('a checkpoint with another class count gets the class-count hint, not "another width"', () => {
  const dir = freshDir();
  writeFileSync(join(dir, 'w10.pth'), writePth(new MobileNetV2({ alpha: 0.25, numClasses: 10, lastChannel: 'seed' }).stateDict()));
  const line = assertOneLine(cli(['predict', 'x.jpg', '--weights', 'w10.pth', '--num-classes', '5'], dir), 3, 'w10.pth');
  assert.match(line, /the checkpoint has 10 classes: leave out --num-classes, or fine-tune it to yours with train --weights\)$/);
  assert.doesNotMatch(line, /width/);
});
