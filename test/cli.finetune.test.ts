// A fine-tuned model is a model: the weights `train` writes carry the class names, the input size,
// the preprocessing and the architecture, and predict, load(), eval and export use them. eval
// matches class folders by name (any order, a subset), and the training checkpoint loads too.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { makeDemoDataset } from '../src/platform/node/demo.js';
import { load } from '../src/platform/node/load.js';
import { fromOnnx } from '../src/onnx/export.js';
import { assertOneLine, cli, freshDir, scratch } from './helpers/cli.js';

let data: { train: string; val: string; classes: string[] };
let run: string;
let image: string;
const SIZE = 48;

before(async () => {
  const d = await makeDemoDataset(join(scratch, 'demo-finetune'), { seed: 5, perClass: 4, valPerClass: 2, size: 40 });
  data = { train: d.train, val: d.val, classes: [...d.classes] };
  run = join(freshDir(), 'run');
  const r = cli(['train', data.train, '--alpha', '0.25', '--input-size', String(SIZE), '--batch-size', '8', '--epochs', '1', '--threads', '1', '--out', run], scratch, 300_000);
  assert.equal(r.code, 0, r.stderr);
  const cls = data.classes[3]!;
  image = join(data.val, cls, readdirSync(join(data.val, cls))[0]!);
});

test('predict with the fine-tuned weights prints the trained class names', () => {
  const r = cli(['predict', image, '--weights', join(run, 'model.safetensors'), '--json', '--topk', '10'], scratch);
  assert.equal(r.code, 0, r.stderr);
  const top = (JSON.parse(r.stdout) as { top: { label: string; index: number }[] }).top;
  assert.deepEqual(top.map((t) => t.label).sort(), [...data.classes].sort());
  for (const t of top) assert.equal(t.label, data.classes[t.index]);
});

test('load() of the fine-tuned weights: class names, the trained input size and preprocessing', async () => {
  const m = await load({ weights: join(run, 'model.safetensors') });
  try {
    assert.deepEqual(m.labels, data.classes);
    assert.equal(typeof m.preset === 'object' && m.preset.crop, SIZE);
    assert.equal(m.model.alpha, 0.25);
    const top = await m.classify(image, 1);
    assert.ok(data.classes.includes(top[0]!.className));
  } finally {
    await m.dispose();
  }
});

test('eval runs at the trained input size and matches class folders by name: a subset in another order', () => {
  const sub = join(freshDir(), 'val');
  const picked = [data.classes[7]!, data.classes[2]!];
  for (const c of picked) cpSync(join(data.val, c), join(sub, `${c}`), { recursive: true });
  const r = cli(['eval', sub, '--weights', join(run, 'model.safetensors'), '--json', '--out', freshDir()], scratch);
  assert.equal(r.code, 0, r.stderr);
  const res = JSON.parse(r.stdout) as { images: number; inputSize: number; perClass: Record<string, number>; classes: string[]; confusion: number[][] };
  assert.equal(res.inputSize, SIZE);
  assert.equal(res.images, 4);
  assert.deepEqual(Object.keys(res.perClass), [...picked].sort());
  assert.deepEqual(res.classes, [...[...picked].sort(), 'other']);
});

test("eval names the folders that are not the model's classes", () => {
  const bad = join(freshDir(), 'val');
  cpSync(join(data.val, data.classes[0]!), join(bad, data.classes[0]!), { recursive: true });
  mkdirSync(join(bad, 'zebra'));
  cpSync(image, join(bad, 'zebra', 'z.png'));
  const line = assertOneLine(cli(['eval', bad, '--weights', join(run, 'model.safetensors')], scratch), 3, bad, 'zebra');
  assert.match(line, /class folders that are not the model's classes: zebra \(the model's: /);
});

test('eval --weights run/checkpoint.safetensors (the training checkpoint) works', () => {
  const r = cli(['eval', data.val, '--weights', join(run, 'checkpoint.safetensors'), '--json', '--out', freshDir()], scratch);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((JSON.parse(r.stdout) as { images: number }).images, 20);
});

test('export --onnx of the fine-tuned weights: the trained input size, the class names in the metadata, no local path', () => {
  const out = join(freshDir(), 'm.onnx');
  const r = cli(['export', '--weights', join(run, 'model.safetensors'), '--onnx', out], scratch);
  assert.equal(r.code, 0, r.stderr);
  const m = fromOnnx(readFileSync(out));
  const dims = m.graph!.input![0]!.type!.tensorType!.shape!.dim!.map((d) => d.dimValue?.toString() ?? d.dimParam);
  assert.deepEqual(dims.slice(1), ['3', String(SIZE), String(SIZE)]);
  const meta = Object.fromEntries(m.metadataProps!.map((p) => [p.key, p.value]));
  assert.deepEqual(JSON.parse(meta['classes']!), data.classes);
  assert.equal(meta['weights'], 'model.safetensors');
  assert.equal(meta['input_size'], String(SIZE));
});
