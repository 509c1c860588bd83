// The CLI on transformers / timm checkpoints: predict and export take a checkpoint folder (as
// hf:<org>/<name> resolves to), `--preset`; `embed` writes the pooled vectors atomically.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { load } from '../src/platform/node/load.js';
import { readSafetensors } from '../src/weights/safetensors.js';
import { assertOneLine, cli, freshDir } from './helpers/cli.js';
import { expandFixture } from './helpers/interop.js';

const FACE = fileURLToPath(new URL('../../test/fixtures/images/face.jpg', import.meta.url));
const HF = expandFixture('hf');
const TIMM = expandFixture('timm');
const api = await load({ weights: HF });
after(() => api.dispose());

test('predict --weights <transformers folder>: labels from id2label, the same top-3 as the API', async () => {
  const r = cli(['predict', FACE, '--weights', HF, '--json', '--topk', '3'], freshDir());
  assert.equal(r.code, 0, r.stderr);
  const { top } = JSON.parse(r.stdout) as { top: { index: number; label: string; probability: number }[] };
  const want = await api.classify(FACE, 3);
  assert.deepEqual(top.map((t) => [t.index, t.label]), want.map((t) => [t.index, t.className]));
  top.forEach((t, i) => assert.ok(Math.abs(t.probability - want[i]!.probability) < 1e-6));
});

test('predict --weights <timm folder> and a timm file alone; --preset typo is a usage error', () => {
  const a = cli(['predict', FACE, '--weights', TIMM, '--json'], freshDir());
  assert.equal(a.code, 0, a.stderr);
  const b = cli(['predict', FACE, '--weights', join(TIMM, 'model.safetensors'), '--json', '--preset', 'timm'], freshDir());
  assert.equal(b.code, 0, b.stderr);
  assert.equal(JSON.parse(a.stdout).top[0].index, JSON.parse(b.stdout).top[0].index);
  assertOneLine(cli(['predict', FACE, '--weights', HF, '--preset', 'keras'], freshDir()), 2, 'Unsupported preset: "keras"');
  assertOneLine(cli(['predict', FACE, '--weights', HF, '--alpha', '1.0'], freshDir()), 3, '--alpha 1 does not match the checkpoint (alpha 0.35');
});

test('embed: one row per readable image, paths in metadata; a bad image is one line and exit 5; none readable: exit 3, nothing written', async () => {
  const cwd = freshDir();
  copyFileSync(FACE, join(cwd, 'face.jpg'));
  writeFileSync(join(cwd, 'bad.jpg'), 'not a jpeg');
  const r = cli(['embed', 'face.jpg', 'bad.jpg', 'face.jpg', '--out', 'v.safetensors', '--weights', HF, '--batch-size', '2'], cwd);
  assert.equal(r.code, 5, r.stderr);
  assert.match(r.stderr, /^mobilenetv2: bad\.jpg: not an image/m);
  const { tensors, metadata } = readSafetensors(readFileSync(join(cwd, 'v.safetensors')), 'v.safetensors');
  const e = tensors.get('embeddings')!;
  assert.deepEqual(e.shape, [2, 1280]);
  assert.deepEqual(JSON.parse(metadata['files']!), ['face.jpg', 'face.jpg']);
  const want = await api.embed(FACE);
  let err = 0;
  for (let i = 0; i < 1280; i++) err = Math.max(err, Math.abs((e.data[i] as number) - want[i]!));
  assert.ok(err < 1e-6, String(err));
  const none = freshDir();
  writeFileSync(join(none, 'bad.jpg'), 'x');
  assertOneLine(cli(['embed', 'bad.jpg', '--out', 'v.safetensors', '--weights', HF], none), 3, 'bad.jpg');
  assert.deepEqual(readdirSync(none), ['bad.jpg']);
  assertOneLine(cli(['embed', FACE, '--out', 'no/such/dir/v.safetensors', '--weights', HF], freshDir()), 3, 'no/such/dir');
});

test('export --weights <transformers folder>: ONNX at the checkpoint\'s own size with its preprocessing and TF settings in the metadata', () => {
  const cwd = freshDir();
  const r = cli(['export', '--weights', HF, '--onnx', 'm.onnx', '--safetensors', 'w.safetensors'], cwd);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /input \[N, 3, 96, 96\]/);
  assert.match(r.stderr, /note: this network uses TF SAME padding BatchNorm eps 0\.001/);
  const { metadata } = readSafetensors(readFileSync(join(cwd, 'w.safetensors')), 'w.safetensors');
  assert.equal(metadata['tf_padding'], 'true');
  assert.equal(metadata['family'], 'hf');
  assert.equal(JSON.parse(metadata['preprocessing']!).crop, 96);
});
