// `mobilenetv2 train` and `eval` as a user runs them: a run killed with SIGKILL mid-epoch and
// resumed ends with the same weights as one never interrupted; a diverging loss stops the run
// (exit 6) and keeps the last good checkpoint; --freeze backbone with a new head leaves the
// backbone untouched; eval reports accuracy and draws the confusion matrix.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeDemoDataset } from '../src/platform/node/demo.js';
import { loadCheckpoint } from '../src/platform/node/weights.js';
import { MobileNetV2 } from '../src/models/mobilenetv2.js';
import { readSafetensors } from '../src/weights/safetensors.js';
import { writePth } from '../src/weights/pth.js';
import { CLI, assertOneLine, assertUsage, cli, freshDir, scratch } from './helpers/cli.js';
import { expandFixture } from './helpers/interop.js';

let data: { train: string; val: string };
before(async () => {
  const d = await makeDemoDataset(join(scratch, 'demo'), { seed: 3, perClass: 8, valPerClass: 3, size: 40 });
  data = { train: d.train, val: d.val };
});

// 80 images, batch 8: 10 steps an epoch, 2 epochs, a checkpoint every 2 steps
const RUN = ['--alpha', '0.25', '--input-size', '32', '--batch-size', '8', '--epochs', '2', '--seed', '7', '--checkpoint-every', '2', '--optimizer', 'adamw', '--threads', '2'];
const weights = (dir: string) => readSafetensors(readFileSync(join(dir, 'model.safetensors')), 'model.safetensors').tensors;

// the interrupted run also recomputes activations in the backward (--save-memory): the same
// gradients bit for bit, so the same weights
test('a run killed with SIGKILL mid-epoch and resumed ends with exactly the weights of an uninterrupted run (and --save-memory changes no bit)', async () => {
  const a = freshDir();
  const r = cli(['train', data.train, '--val', data.val, '--out', a, ...RUN], a, 300_000);
  assert.equal(r.code, 0, r.stderr);

  const b = freshDir();
  const child = spawn(process.execPath, [CLI, 'train', data.train, '--val', data.val, '--out', b, ...RUN, '--save-memory'], { cwd: b, stdio: 'ignore' });
  const ckpt = join(b, 'checkpoint.safetensors');
  // kill as soon as the first mid-epoch checkpoint (step 2 of 10) is on disk
  await new Promise<void>((resolve, reject) => {
    const t = setInterval(() => {
      if (existsSync(ckpt)) {
        clearInterval(t);
        child.kill('SIGKILL');
        resolve();
      }
    }, 5);
    child.on('exit', () => {
      clearInterval(t);
      reject(new Error('the run ended before it could be killed'));
    });
  });
  await new Promise((resolve) => child.on('exit', resolve));
  assert.ok(!existsSync(join(b, 'model.safetensors')), 'killed before the first epoch ended');
  const state = JSON.parse(readSafetensors(readFileSync(ckpt), ckpt).metadata['checkpoint']!) as { epoch: number; batch: number; step: number };
  // a loaded machine may let the run reach a later checkpoint before the kill lands; any mid-epoch one will do
  assert.equal(state.epoch, 0);
  assert.ok(state.batch >= 2 && state.batch < 10 && state.batch % 2 === 0, `the checkpoint is mid-epoch (batch ${state.batch})`);
  assert.deepEqual(readdirSync(b).filter((f) => f.endsWith('.tmp')), [], 'no half-written file');

  const resumed = cli(['train', data.train, '--val', data.val, '--out', b, ...RUN, '--save-memory', '--resume'], b, 300_000);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stderr, new RegExp(`resuming from .*checkpoint\\.safetensors: epoch 1, batch ${state.batch}, step ${state.step}`));
  const [wa, wb] = [weights(a), weights(b)];
  assert.equal(wa.size, 314);
  for (const [k, t] of wa) assert.deepEqual(wb.get(k)!.data, t.data, `${k} differs after resume`);
  const metrics = (dir: string) => readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>);
  assert.deepEqual(metrics(b).map((m) => m['val_acc']), metrics(a).map((m) => m['val_acc']));
  for (const f of ['curves.png', 'confusion.png', 'classes.json', 'train.log']) assert.ok(existsSync(join(b, f)), f);
});

test('BAD CALL - a diverging loss stops the run: exit 6, one line naming the checkpoint, which stays loadable', () => {
  const dir = freshDir();
  const r = cli(['train', data.train, '--out', dir, '--alpha', '0.25', '--input-size', '32', '--batch-size', '16', '--epochs', '1', '--optimizer', 'sgd', '--lr', '1e12', '--schedule', 'constant', '--checkpoint-every', '1'], dir);
  const line = assertOneLine(r, 6, 'checkpoint.safetensors');
  assert.match(line, /(the loss became (NaN|Infinity|-Infinity) at epoch 1, batch \d|became non-finite by step \d)/);
  const { tensors } = readSafetensors(readFileSync(join(dir, 'checkpoint.safetensors')), 'checkpoint');
  for (const [k, t] of tensors) if (t.dtype === 'float32') assert.ok((t.data as Float32Array).every(Number.isFinite), `${k} is finite`);
});

test('--weights with another class count gets a new head; --freeze backbone leaves every backbone tensor as it was', () => {
  const dir = freshDir();
  const start = new MobileNetV2({ alpha: 0.25, numClasses: 1000, lastChannel: 'paper', seed: 5 });
  writeFileSync(join(dir, 'start.pth'), writePth(start.stateDict()));
  const r = cli(['train', data.train, '--out', join(dir, 'run'), '--weights', 'start.pth', '--freeze', 'backbone', '--input-size', '32', '--batch-size', '16', '--epochs', '1'], dir);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /backbone loaded; new 10-class head \(the checkpoint has 1000 classes\)/);
  const w = weights(join(dir, 'run'));
  assert.deepEqual(w.get('classifier.1.weight')!.shape, [10, 1280]);
  for (const [k, t] of start.stateDict()) {
    if (!k.startsWith('features.')) continue;
    assert.deepEqual(w.get(k)!.data, t.data, `${k} must not change`);
  }
});

test('--freeze features.0-13 keeps the stem and blocks 0-13 exactly as loaded (weights and BN statistics) and trains the rest', () => {
  const dir = freshDir();
  const start = new MobileNetV2({ alpha: 0.25, numClasses: 10, lastChannel: 'paper', seed: 6 });
  writeFileSync(join(dir, 'start.pth'), writePth(start.stateDict()));
  const r = cli(['train', data.train, '--out', join(dir, 'run'), '--weights', 'start.pth', '--freeze', 'features.0-13', '--input-size', '32', '--batch-size', '16', '--epochs', '1'], dir);
  assert.equal(r.code, 0, r.stderr);
  const w = weights(join(dir, 'run'));
  let frozen = 0;
  let trained = 0;
  for (const [k, t] of start.stateDict()) {
    const layer = /^features\.(\d+)\./.exec(k);
    const same = (w.get(k)!.data as ArrayLike<number | bigint>).length === t.data.length && Array.from(w.get(k)!.data as ArrayLike<number>).every((v, i) => v === (t.data as ArrayLike<number>)[i]);
    if (layer && Number(layer[1]) <= 13) {
      assert.ok(same, `${k} must not change`);
      frozen++;
    } else if (t.dtype === 'float32' && t.shape.length > 1) {
      assert.ok(!same, `${k} was trained`);
      trained++;
    }
  }
  assert.ok(frozen > 100 && trained > 5, `${frozen} frozen, ${trained} trained tensors`);
  assertUsage(cli(['train', data.train, '--freeze', 'features.0-40'], dir), '--freeze', 'features.0-K');
});

test('a full fine-tune (no --freeze) of a transformers checkpoint with tf_padding runs to the end (exit 0) and trains every conv, the asymmetrically padded stride-2 ones included', async () => {
  const hf = expandFixture('hf'); // transformers' save_pretrained folder: tf_padding true, depth_multiplier 0.35
  assert.equal((JSON.parse(readFileSync(join(hf, 'config.json'), 'utf8')) as { tf_padding: boolean }).tf_padding, true);
  const dir = freshDir();
  // 32x32: every stride-2 conv sees an even size, so TF "SAME" pads it [0, 0, 1, 1]
  const r = cli(['train', data.train, '--out', join(dir, 'run'), '--weights', hf, '--input-size', '32', '--batch-size', '16', '--epochs', '1', '--optimizer', 'sgd', '--lr', '0.01', '--threads', '2'], dir, 300_000);
  assert.equal(r.code, 0, r.stderr);
  const start = (await loadCheckpoint(hf)).model.stateDict();
  const w = weights(join(dir, 'run'));
  const convs = [...start].filter(([k, t]) => k.startsWith('features.') && t.shape.length === 4);
  assert.equal(convs.length, 52, 'stem, 17 blocks of 2 or 3 convs, last conv');
  for (const [k, t] of convs) {
    const [a, b] = [w.get(k)!.data as Float32Array, t.data as Float32Array];
    assert.equal(a.length, b.length, k);
    assert.ok(a.some((v, i) => v !== b[i]), `${k} was trained`);
    assert.ok(a.every(Number.isFinite), `${k} is finite`);
  }
});

test('eval: top-1 / top-5 / per-class accuracy of a trained run, and a confusion matrix image', () => {
  const dir = freshDir();
  const train = cli(['train', data.train, '--out', join(dir, 'run'), ...RUN.slice(0, 8)], dir);
  assert.equal(train.code, 0, train.stderr);
  const r = cli(['eval', data.val, '--weights', join(dir, 'run', 'model.safetensors'), '--input-size', '32', '--out', dir, '--json'], dir);
  assert.equal(r.code, 0, r.stderr);
  const res = JSON.parse(r.stdout) as { images: number; top1: number; top5: number; perClass: Record<string, number>; confusion: number[][] };
  assert.equal(res.images, 30);
  assert.equal(Object.keys(res.perClass).length, 10);
  const diag = res.confusion.reduce((s, row, i) => s + row[i]!, 0);
  assert.equal(diag / 30, res.top1, 'top-1 is the confusion diagonal');
  assert.ok(res.top5 >= res.top1);
  assert.equal(readFileSync(join(dir, 'confusion.png')).subarray(1, 4).toString(), 'PNG');
  const bad = cli(['eval', data.train, '--weights', join(dir, 'run', 'model.safetensors'), '--num-classes', '3'], dir);
  assertOneLine(bad, 3);
});
