// Every endpoint of the server, in-process on 127.0.0.1 and a free port, with the real weights of
// ../shared/real: /v1/classify and /v1/embed equal predict's path (loadBatch + Predictor) on the
// same photo, bit for bit, and PyTorch's top-5; multipart forms answer per image; the Open
// Inference Protocol (KServe v2: health, metadata, infer in JSON, Triton's binary tensor and
// classification extensions) gives the Predictor's logits of the same tensor; /metrics is
// Prometheus text; and bad input gets its status with a one-line { "error" }.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { imagenetClasses } from '../src/data/labels.js';
import { Predictor, topk } from '../src/infer/predictor.js';
import { nodeBackend } from '../src/platform/node/ort.js';
import { loadBatch } from '../src/platform/node/image.js';
import { startServer, type RunningServer } from '../src/serve/server.js';
import { metric, photo, pngHeaderClaiming, postBytes, realCheckpoint, reference, skipReal } from './helpers/serve.js';

let server: RunningServer;
let base: string;
let predictor: Predictor;
const labels = imagenetClasses();

before(async () => {
  if (skipReal) return;
  const c = await realCheckpoint();
  server = await startServer({ model: c.model, labels, preset: 'torchvision-v1', port: 0, maxBatch: 4, maxBodyBytes: 8 * 2 ** 20, threads: 2 });
  base = server.url;
  predictor = new Predictor(c.model, nodeBackend, { threads: 2 });
});
after(async () => {
  await server?.drain();
  await predictor?.release();
});

/** What predict computes for these files: loadBatch + Predictor.run + top-k. */
async function predicted(files: string[], k = 5) {
  const b = await loadBatch(files, 'torchvision-v1');
  const out = await predictor.run(b.tensor, ['logits', 'probabilities', 'embedding']);
  return { top: topk(out.probabilities, out.logits, k).map((row) => row.map((t) => ({ index: t.index, label: labels[t.index]!, probability: t.probability }))), out, tensor: b.tensor };
}

const json = async (r: Response) => ({ status: r.status, body: (await r.json()) as Record<string, unknown> });

/** The contract for a refused request: its status and exactly one line in { "error" }. */
async function assertError(r: Response, status: number, ...words: string[]): Promise<string> {
  assert.equal(r.status, status, `status ${r.status}: ${await r.clone().text()}`);
  const body = (await r.json()) as { error: string };
  assert.deepEqual(Object.keys(body), ['error']);
  assert.equal(typeof body.error, 'string');
  assert.doesNotMatch(body.error, /\n/, 'one line');
  for (const w of words) assert.ok(body.error.includes(w), `"${body.error}" says ${w}`);
  return body.error;
}

test('POST /v1/classify with image bytes (curl --data-binary): predict\'s top-5 bit for bit, and PyTorch\'s', { skip: skipReal }, async () => {
  const ref = reference();
  for (const [name, type] of [['parrot.jpg', undefined], ['bird.png', 'image/png']] as const) {
    const r = await json(await postBytes(`${base}/v1/classify`, readFileSync(photo(name)), type));
    assert.equal(r.status, 200);
    const want = await predicted([photo(name)]);
    assert.deepEqual(r.body, { top: want.top[0] });
    const top = r.body['top'] as { index: number; probability: number }[];
    assert.deepEqual(top.map((t) => t.index), ref[name]!.torchvision_layout.top5);
    top.forEach((t, i) => assert.ok(Math.abs(t.probability - ref[name]!.torchvision_layout.probs[i]!) < 1e-3, `${name} ${i}`));
  }
  const r = await json(await postBytes(`${base}/v1/classify?topk=2`, readFileSync(photo('owl.jpg')), 'image/jpeg'));
  assert.equal((r.body['top'] as unknown[]).length, 2);
});

test('POST /v1/embed: the pooled features predict\'s path computes, bit for bit', { skip: skipReal }, async () => {
  const r = await json(await postBytes(`${base}/v1/embed`, readFileSync(photo('cat.png')), 'image/png'));
  assert.equal(r.status, 200);
  const want = await predicted([photo('cat.png')]);
  assert.deepEqual(r.body['embedding'], Array.from(want.out.embedding.data as Float32Array));
  assert.equal((r.body['embedding'] as number[]).length, 1280);
});

test('a multipart form of several images: one answer per file, in order; a bad file gets its reason, the others their answers', { skip: skipReal }, async () => {
  const form = new FormData();
  form.append('a', new Blob([readFileSync(photo('owl.jpg'))], { type: 'image/jpeg' }), 'owl.jpg');
  form.append('note', 'a text field is ignored');
  form.append('b', new Blob([Buffer.from('not an image at all')]), 'notes.txt');
  form.append('c', new Blob([readFileSync(photo('sunflower.png'))], { type: 'image/png' }), 'sunflower.png');
  const r = await json(await fetch(`${base}/v1/classify?topk=3`, { method: 'POST', body: form }));
  assert.equal(r.status, 200);
  const want = await predicted([photo('owl.jpg'), photo('sunflower.png')], 3);
  assert.deepEqual(r.body, {
    results: [
      { file: 'owl.jpg', top: want.top[0] },
      { file: 'notes.txt', error: 'notes.txt: not an image (unsupported format)' },
      { file: 'sunflower.png', top: want.top[1] },
    ],
  });
  const e = new FormData();
  e.append('x', new Blob([readFileSync(photo('owl.jpg'))]), 'owl.jpg');
  const emb = await json(await fetch(`${base}/v1/embed`, { method: 'POST', body: e }));
  assert.deepEqual(emb.body, { results: [{ file: 'owl.jpg', embedding: Array.from((await predicted([photo('owl.jpg')])).out.embedding.data as Float32Array) }] });
  const bad = new FormData();
  bad.append('b', new Blob([Buffer.from('GIF89a garbage')]), 'x.gif');
  const none = await fetch(`${base}/v1/classify`, { method: 'POST', body: bad });
  assert.equal(none.status, 400);
  const tooMany = new FormData();
  for (let i = 0; i < 5; i++) tooMany.append(`f${i}`, new Blob([readFileSync(photo('owl.jpg'))]), `${i}.jpg`);
  await assertError(await fetch(`${base}/v1/classify`, { method: 'POST', body: tooMany }), 413, 'at most 4 images');
});

test('KServe v2 health and metadata', { skip: skipReal }, async () => {
  for (const path of ['/v2/health/live', '/v2/health/ready', '/v2/models/mobilenetv2/ready', '/v2/models/mobilenetv2/versions/1/ready']) {
    const r = await fetch(base + path);
    assert.equal(r.status, 200, path);
    assert.equal(await r.text(), '', `${path}: the spec's empty body`);
  }
  assert.deepEqual((await json(await fetch(`${base}/v2`))).body, { name: 'mobilenetv2', version: '0.1.0', extensions: ['binary_tensor_data', 'classification'] });
  const meta = {
    name: 'mobilenetv2',
    versions: ['1'],
    platform: 'onnxruntime_onnx',
    inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 3, 224, 224] }],
    outputs: [{ name: 'logits', datatype: 'FP32', shape: [-1, 1000] }],
  };
  assert.deepEqual((await json(await fetch(`${base}/v2/models/mobilenetv2`))).body, meta);
  assert.deepEqual((await json(await fetch(`${base}/v2/models/mobilenetv2/versions/1`))).body, meta);
  await assertError(await fetch(`${base}/v2/models/resnet50`), 404, 'resnet50', 'mobilenetv2');
  await assertError(await fetch(`${base}/v2/models/mobilenetv2/versions/2`), 404, 'version "2"');
});

test('POST /v2/models/<name>/infer: JSON FP32 (N, 3, 224, 224) -> the Predictor\'s logits of that tensor, bit for bit; id echoed; nested data too', { skip: skipReal }, async () => {
  const { tensor, out } = await predicted([photo('parrot.jpg'), photo('owl.jpg')]);
  const data = Array.from(tensor.data as Float32Array);
  const r = await json(await fetch(`${base}/v2/models/mobilenetv2/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: 'req-7', inputs: [{ name: 'input', shape: [2, 3, 224, 224], datatype: 'FP32', data }] }) }));
  assert.equal(r.status, 200);
  assert.deepEqual(r.body, { model_name: 'mobilenetv2', model_version: '1', id: 'req-7', outputs: [{ name: 'logits', shape: [2, 1000], datatype: 'FP32', data: Array.from(out.logits.data as Float32Array) }] });
  // the spec allows the natural nesting too; and the versioned URL
  const one = data.slice(0, 3 * 224 * 224);
  const nested = [0, 1, 2].map((c) => Array.from({ length: 224 }, (_, y) => one.slice((c * 224 + y) * 224, (c * 224 + y + 1) * 224)));
  const n = await json(await fetch(`${base}/v2/models/mobilenetv2/versions/1/infer`, { method: 'POST', body: JSON.stringify({ inputs: [{ name: 'input', shape: [1, 3, 224, 224], datatype: 'FP32', data: [nested] }], outputs: [{ name: 'logits' }] }) }));
  assert.deepEqual((n.body['outputs'] as { data: number[] }[])[0]!.data, Array.from((out.logits.data as Float32Array).subarray(0, 1000)));
});

test("Triton's binary tensor extension (tritonclient's default) and classification extension", { skip: skipReal }, async () => {
  const { tensor, out } = await predicted([photo('bird.png')]);
  const f = tensor.data as Float32Array;
  const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'input', shape: [1, 3, 224, 224], datatype: 'FP32', parameters: { binary_data_size: f.byteLength } }], outputs: [{ name: 'logits', parameters: { binary_data: true } }] }));
  const r = await fetch(`${base}/v2/models/mobilenetv2/infer`, { method: 'POST', headers: { 'inference-header-content-length': String(header.length), 'content-type': 'application/octet-stream' }, body: Buffer.concat([header, Buffer.from(f.buffer, f.byteOffset, f.byteLength)]) });
  assert.equal(r.status, 200);
  const len = Number(r.headers.get('inference-header-content-length'));
  const body = Buffer.from(await r.arrayBuffer());
  assert.deepEqual(JSON.parse(body.subarray(0, len).toString()), { model_name: 'mobilenetv2', model_version: '1', outputs: [{ name: 'logits', datatype: 'FP32', shape: [1, 1000], parameters: { binary_data_size: 4000 } }] });
  assert.deepEqual(new Float32Array(body.buffer.slice(body.byteOffset + len, body.byteOffset + body.length)), out.logits.data);
  // classification: the top 3 as "value:index:label", best first, as Triton writes them with label_filename
  const c = await json(await fetch(`${base}/v2/models/mobilenetv2/infer`, { method: 'POST', body: JSON.stringify({ inputs: [{ name: 'input', shape: [1, 3, 224, 224], datatype: 'FP32', data: Array.from(f) }], outputs: [{ name: 'logits', parameters: { classification: 3 } }] }) }));
  const l = out.logits.data as Float32Array;
  const top3 = topk(out.probabilities, out.logits, 3)[0]!.map((t) => `${l[t.index]!.toFixed(6)}:${t.index}:${labels[t.index]}`);
  assert.deepEqual(c.body['outputs'], [{ name: 'logits', datatype: 'BYTES', shape: [1, 3], data: top3 }]);
  assert.match(top3[0]!, /:19:chickadee$/);
});

test('BAD CALL - /v2 infer requests that do not fit the contract: 400 naming what is wrong', { skip: skipReal }, async () => {
  const infer = (body: unknown, headers: Record<string, string> = {}) => fetch(`${base}/v2/models/mobilenetv2/infer`, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const input = (over: Record<string, unknown>) => ({ inputs: [{ name: 'input', shape: [1, 3, 224, 224], datatype: 'FP32', data: new Array(150528).fill(0), ...over }] });
  await assertError(await infer('{"inputs": ['), 400, 'not valid JSON');
  await assertError(await infer({ foo: 1 }), 400, '"inputs"');
  await assertError(await infer(input({ name: 'pixels' })), 400, 'pixels', '"input"');
  await assertError(await infer(input({ datatype: 'INT8' })), 400, 'FP32', 'INT8');
  await assertError(await infer(input({ shape: [1, 3, 64, 64] })), 400, '[N, 3, 224, 224]');
  await assertError(await infer(input({ shape: [5, 3, 224, 224], data: [] })), 400, 'batch 5', '1..4');
  await assertError(await infer(input({ data: [1, 2, 3] })), 400, '150528 values', 'got 3');
  await assertError(await infer(input({ data: ['x', ...new Array(150527).fill(0)] })), 400, 'data[0] is not a number');
  await assertError(await infer({ ...input({}), outputs: [{ name: 'probs' }] }), 400, 'probs', '"logits"');
  await assertError(await infer(input({ parameters: { binary_data_size: 602112 } }), { 'inference-header-content-length': '5000000' }), 400, 'Inference-Header-Content-Length');
  await assertError(await fetch(`${base}/v2/models/other/infer`, { method: 'POST', body: '{}' }), 404, 'unknown model "other"');
  await assertError(await fetch(`${base}/v2/models/mobilenetv2/infer`, { method: 'POST' }), 400, 'empty body');
});

test('undecodable and oversized input: 400 with the decoder\'s one-line reason, 413 for a large body and for too many pixels', { skip: skipReal }, async () => {
  assert.equal(await assertError(await postBytes(`${base}/v1/classify`, Buffer.from('hello, not an image')), 400), 'not an image (unsupported format)');
  const jpeg = readFileSync(photo('parrot.jpg'));
  await assertError(await postBytes(`${base}/v1/classify`, jpeg.subarray(0, 2000), 'image/jpeg'), 400, 'truncated or corrupt image');
  await assertError(await postBytes(`${base}/v1/classify`, Buffer.alloc(0)), 400, 'empty body');
  await assertError(await postBytes(`${base}/v1/classify`, Buffer.alloc(9 * 2 ** 20, 1)), 413, '8388608 bytes');
  await assertError(await postBytes(`${base}/v1/embed`, pngHeaderClaiming(50_000, 50_000), 'image/png'), 413, '50000x50000', '50000000');
  await assertError(await postBytes(`${base}/v1/classify?topk=0`, jpeg), 400, 'topk', '1 to 1000');
  await assertError(await postBytes(`${base}/v1/classify?topk=abc`, jpeg), 400, 'topk');
  await assertError(await fetch(`${base}/v1/nothing`), 404, 'GET /v1/nothing');
  // the server is still up and right
  assert.equal((await postBytes(`${base}/v1/classify`, jpeg)).status, 200);
});

test('/metrics: Prometheus text with requests, errors, latency, batch sizes and queue depth', { skip: skipReal }, async () => {
  const r = await fetch(`${base}/metrics`);
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type')!, /^text\/plain; version=0\.0\.4/);
  const text = await r.text();
  for (const family of ['mobilenetv2_requests_total counter', 'mobilenetv2_errors_total counter', 'mobilenetv2_request_duration_seconds histogram', 'mobilenetv2_batch_size histogram', 'mobilenetv2_queue_depth gauge', 'mobilenetv2_requests_in_flight gauge', 'mobilenetv2_inference_duration_seconds histogram', 'process_resident_memory_bytes gauge']) {
    assert.ok(text.includes(`# TYPE ${family}`), family);
  }
  assert.ok((await metric(base, 'mobilenetv2_requests_total{route="/v1/classify",status="200"}')) >= 3);
  assert.ok((await metric(base, 'mobilenetv2_errors_total{route="/v1/classify",reason="bad_image"}')) >= 2);
  assert.ok((await metric(base, 'mobilenetv2_errors_total{route="/v1/classify",reason="too_large"}')) >= 1);
  assert.ok((await metric(base, 'mobilenetv2_batch_size_count')) >= 1);
  assert.equal(await metric(base, 'mobilenetv2_queue_depth'), 0);
  assert.equal(await metric(base, 'mobilenetv2_requests_in_flight'), 0);
});
