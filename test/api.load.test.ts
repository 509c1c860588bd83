// The tfjs/Keras-style API on real checkpoints: load() a transformers folder, a local hub
// (`hf:<org>/<name>` against a 127.0.0.1 server serving the committed fixture: never the real
// network), classify / embed / infer / dispose, the 1001-class background rule, and BAD CALLs
// (TypeError for a wrong kind of argument, RangeError for a bad value, naming the argument).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { load } from '../src/platform/node/load.js';
import type { MobileNetV2Model } from '../src/infer/model.js';
import type { ImageInput } from '../src/platform/node/image.js';
import { readSafetensors } from '../src/weights/safetensors.js';
import { expandFixture, hasShared, SHARED } from './helpers/interop.js';
import { maxAbsDiff } from './helpers/parity.js';

const FACE = fileURLToPath(new URL('../../test/fixtures/images/face.jpg', import.meta.url));
const HF_DIR = expandFixture('hf'); // transformers hf_d0.35_96_c10: tf_padding, 10 classes
const io = readSafetensors(readFileSync(join(HF_DIR, 'io.safetensors')), 'io.safetensors').tensors;


let model: MobileNetV2Model<ImageInput>;
let server: Server;
let base = '';
const hits = new Map<string, number>();

before(async () => {
  model = await load({ weights: HF_DIR });
  // a hub: /<org>/<name>/resolve/main/<file> serves the fixture folder; anything else is 404
  server = createServer((req, res) => {
    const url = req.url ?? '/';
    hits.set(url, (hits.get(url) ?? 0) + 1);
    const m = /^\/google\/tiny_v2\/resolve\/main\/([\w.]+)$/.exec(url);
    const files = readdirSync(HF_DIR);
    if (m && files.includes(m[1]!) && m[1] !== 'io.safetensors') {
      const body = readFileSync(join(HF_DIR, m[1]!));
      res.writeHead(200, { 'content-length': body.length });
      res.end(body);
    } else {
      res.writeHead(404, 'Not Found');
      res.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  await model.dispose();
  server.close();
});

test('load(transformers folder): infer on the reference input equals transformers logits to 1e-4; labels and preset from the configs', async () => {
  for (const size of [96, 97]) {
    const logits = await model.infer(io.get(`input_${size}`)!);
    const err = maxAbsDiff(logits, io.get(`logits_${size}`)!);
    assert.ok(err <= 1e-4, `at ${size}: ${err}`);
  }
  assert.equal(model.family, 'hf');
  assert.deepEqual(model.labels, Array.from({ length: 10 }, (_, i) => `LABEL_${i}`));
  // no preprocessor_config.json in this folder: the hf preset at the config's image_size (96)
  assert.equal(typeof model.preset === 'object' && model.preset.crop, 96);
});

test('classify: top-k { className, probability, index } best first, a batch gives one list per image', async () => {
  const top = await model.classify(FACE, 5);
  assert.equal(top.length, 5);
  for (let i = 1; i < top.length; i++) assert.ok(top[i - 1]!.probability >= top[i]!.probability);
  for (const t of top) assert.equal(t.className, `LABEL_${t.index}`);
  const raw = { data: new Uint8Array(120 * 100 * 3).fill(128), width: 120, height: 100, channels: 3 as const };
  const batch = await model.classify([FACE, readFileSync(FACE), raw]);
  assert.equal(batch.length, 3);
  assert.deepEqual(batch[0], batch[1]); // the path and its bytes are the same image
  assert.deepEqual(batch[0]!.slice(0, 3), top.slice(0, 3));
  // the probabilities are the softmax of infer's logits
  const logits = (await model.infer(FACE)).data as Float32Array;
  const mx = Math.max(...logits);
  const z = logits.reduce((s, v) => s + Math.exp(v - mx), 0);
  assert.ok(Math.abs(top[0]!.probability - Math.exp(logits[top[0]!.index]! - mx) / z) < 1e-6);
});

test('embed: the pooled feature vector (length = last channel) = the mean of the includeTop:false feature map', async () => {
  const v = await model.embed(FACE);
  assert.ok(v instanceof Float32Array);
  assert.equal(v.length, 1280);
  assert.equal(model.embeddingSize, 1280);
  const both = await model.embed([FACE, FACE]);
  assert.equal(both.length, 2);
  assert.deepEqual(both[0], v);
  const headless = await load({ weights: HF_DIR, includeTop: false });
  const fmap = await headless.infer(FACE); // (1, 1280, 3, 3)
  assert.deepEqual(fmap.shape, [1, 1280, 3, 3]);
  const d = fmap.data as Float32Array;
  for (const c of [0, 100, 1279]) {
    let s = 0;
    for (let i = 0; i < 9; i++) s += d[c * 9 + i]!;
    assert.ok(Math.abs(s / 9 - v[c]!) < 1e-5);
  }
  const maxPool = await load({ weights: HF_DIR, includeTop: false, pooling: 'max' });
  const mp = await maxPool.infer(FACE);
  assert.deepEqual(mp.shape, [1, 1280]);
  assert.equal((mp.data as Float32Array)[5], Math.max(...d.slice(5 * 9, 6 * 9)));
  await assert.rejects(headless.classify(FACE), /includeTop: false/);
  await headless.dispose();
  await maxPool.dispose();
  await assert.rejects(async () => headless.embed(FACE), /used after dispose\(\)/);
});

test("classifierActivation 'softmax': infer returns probabilities", async () => {
  const soft = await load({ weights: HF_DIR, classifierActivation: 'softmax' });
  const p = (await soft.infer(io.get('input_96')!)).data as Float32Array;
  assert.ok(Math.abs(p.slice(0, 10).reduce((a, b) => a + b, 0) - 1) < 1e-5);
  await soft.dispose();
});

test('hf:<org>/<name> resolves to <endpoint>/<org>/<name>/resolve/main/<file>, downloaded once into the cache', async () => {
  const cacheDir = mkdtempSync(join(tmpdir(), 'mnv2-hf-'));
  const a = await load({ weights: 'hf:google/tiny_v2', endpoint: base, cacheDir, progress: false });
  assert.equal(a.source, 'hf:google/tiny_v2');
  const logits = await a.infer(io.get('input_97')!);
  assert.ok(maxAbsDiff(logits, io.get('logits_97')!) <= 1e-4);
  assert.deepEqual(readdirSync(join(cacheDir, 'hf', 'google', 'tiny_v2')).sort(), ['config.json', 'model.safetensors']);
  assert.equal(hits.get('/google/tiny_v2/resolve/main/model.safetensors'), 1);
  assert.equal(hits.get('/google/tiny_v2/resolve/main/preprocessor_config.json'), 1); // 404: optional
  const b = await load({ weights: 'hf:google/tiny_v2', endpoint: base, cacheDir, progress: false });
  assert.equal(hits.get('/google/tiny_v2/resolve/main/model.safetensors'), 1); // from the cache
  await a.dispose();
  await b.dispose();
  await assert.rejects(load({ weights: 'hf:google/missing', endpoint: base, cacheDir, progress: false }), /hf:google\/missing: no such model on http:\/\/127\.0\.0\.1:\d+ \(config\.json: HTTP 404\)/);
});

test('1001-class TF head (hf_d1.0_224_c1001): classify never lists background (class 0); probabilities are the full softmax', { skip: hasShared ? false : `SKIPPED: ${SHARED} not found` }, async () => {
  const m = await load({ weights: join(SHARED, 'hf_d1.0_224_c1001') });
  assert.equal(m.background, true);
  const x = readSafetensors(readFileSync(join(SHARED, 'hf_d1.0_224_c1001', 'io.safetensors')), 'io').tensors;
  assert.ok(maxAbsDiff(await m.infer(x.get('input_224')!), x.get('logits_224')!) <= 1e-4);
  const top = await m.classify(FACE, 1001);
  assert.equal(top.length, 1000);
  assert.ok(top.every((t) => t.index !== 0));
  const sum = top.reduce((s, t) => s + t.probability, 0);
  assert.ok(sum < 1 && sum > 0.9); // background's share is left out, not renormalised
  await m.dispose();
});

test('BAD CALL - load / classify / embed / infer name the argument', async () => {
  await assert.rejects(load('hf:x' as never), (e: Error) => e instanceof TypeError && /load: options must be an object/.test(e.message));
  await assert.rejects(load({ weights: 5 as never }), (e: Error) => e instanceof TypeError && /weights must be a string or null/.test(e.message));
  await assert.rejects(load({ alpha: -1, weights: null }), (e: Error) => e instanceof RangeError && /alpha must be a number > 0/.test(e.message));
  await assert.rejects(load({ classes: 1.5, weights: null }), (e: Error) => e instanceof RangeError && /classes must be an integer >= 1/.test(e.message));
  await assert.rejects(load({ pooling: 'avg' }), (e: Error) => e instanceof RangeError && /pooling applies only with includeTop: false/.test(e.message));
  await assert.rejects(load({ inputSize: 16, weights: null }), (e: Error) => e instanceof RangeError && /input size must be an integer >= 32/.test(e.message));
  await assert.rejects(load({ weights: HF_DIR, alpha: 1.0 }), (e: Error) => e instanceof RangeError && /alpha 1 does not match the weights/.test(e.message));
  await assert.rejects(load({ weights: HF_DIR, classes: 1000 }), (e: Error) => e instanceof RangeError && /classes 1000 does not match/.test(e.message));
  await assert.rejects(load({ wieghts: 'x' } as never), (e: Error) => e instanceof TypeError && /unknown option "wieghts"/.test(e.message));
  await assert.rejects(load({ weights: 'hf:not a name' }), (e: Error) => e instanceof RangeError && /not a Hugging Face model name/.test(e.message));
  await assert.rejects(model.classify(FACE, 0), (e: Error) => e instanceof RangeError && /topk must be an integer >= 1/.test(e.message));
  await assert.rejects(model.classify(FACE, '3' as never), (e: Error) => e instanceof TypeError && /topk must be a number/.test(e.message));
  await assert.rejects(model.classify(42 as never), (e: Error) => e instanceof TypeError && /classify: image must be a file path/.test(e.message));
  await assert.rejects(model.embed([]), (e: Error) => e instanceof RangeError && /embed: images must not be empty/.test(e.message));
  await assert.rejects(model.classify('no/such.jpg'), /no\/such\.jpg: no such file/);
  await assert.rejects(model.infer(FACE, 'yes' as never), (e: Error) => e instanceof TypeError && /infer: embedding must be a boolean/.test(e.message));
  const random = await load({ weights: null, alpha: 0.35, classes: 7, inputSize: 64 });
  assert.deepEqual((await random.infer(FACE)).shape, [1, 7]);
  await random.dispose();
});
