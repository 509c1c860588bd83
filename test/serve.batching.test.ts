// The server under concurrency and overload, with a small model (alpha 0.25 at 64 x 64): requests
// that arrive together are batched (the batch-size histogram of /metrics shows batches > 1) and
// each still gets exactly the answer it gets alone; a full queue answers 503 with Retry-After and
// recovers; a request past --timeout-ms gets 504 and leaves the queue; a client that leaves frees
// its place; decoding on the main thread gives the decode workers' answers. A session made slow
// on purpose (a backend that delays each run) keeps requests waiting where a test needs them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { Predictor } from '../src/infer/predictor.js';
import { loadBatch } from '../src/platform/node/image.js';
import { nodeBackend } from '../src/platform/node/ort.js';
import { startServer, type RunningServer, type ServeOptions } from '../src/serve/server.js';
import type { Backend } from '../src/infer/backend.js';
import { metric, pngOf, postBytes, SMALL_PRESET, smallModel } from './helpers/serve.js';

const model = smallModel(10);

async function withServer(opts: Partial<ServeOptions>, body: (s: RunningServer) => Promise<void>): Promise<void> {
  const s = await startServer({ model, preset: SMALL_PRESET, port: 0, threads: 1, maxBatch: 16, ...opts });
  try {
    await body(s);
  } finally {
    await s.drain();
  }
}

/** Each image's logits when classified alone through predict's path. */
async function alone(images: Buffer[]): Promise<number[][]> {
  const p = new Predictor(model, nodeBackend, { threads: 1 });
  try {
    const out: number[][] = [];
    for (const img of images) {
      const { logits } = await p.run((await loadBatch([img], SMALL_PRESET)).tensor);
      out.push(Array.from(logits.data as Float32Array));
    }
    return out;
  } finally {
    await p.release();
  }
}

const classify = async (base: string, img: Buffer) => {
  const r = await postBytes(`${base}/v1/classify?topk=10`, img, 'image/png');
  return { status: r.status, headers: r.headers, body: (await r.json()) as { top?: { index: number; probability: number }[]; error?: string } };
};

test('concurrent requests are batched (batch sizes > 1 in /metrics) and each answer equals the image classified alone', async () => {
  const images = await Promise.all(Array.from({ length: 12 }, (_, i) => pngOf(i)));
  const want = await alone(images);
  await withServer({ maxDelayMs: 100 }, async (s) => {
    const got = await Promise.all(images.map((img) => classify(s.url, img)));
    const batches = await metric(s.url, 'mobilenetv2_batch_size_count');
    const rows = await metric(s.url, 'mobilenetv2_batch_size_sum');
    const ones = await metric(s.url, 'mobilenetv2_batch_size_bucket{le="1"}');
    assert.equal(rows, 12, 'every image ran once');
    assert.ok(batches - ones >= 1, `a batch of more than one image: ${batches} batches, ${ones} of one`);
    got.forEach((g, i) => {
      assert.equal(g.status, 200);
      const l = want[i]!;
      const order = l.map((_, j) => j).sort((a, b) => l[b]! - l[a]! || a - b);
      assert.deepEqual(g.body.top!.map((t) => t.index), order, `image ${i}: the same ranking`);
    });
    // the probabilities too, bit for bit: the batch does not change a row's numbers
    const p = new Predictor(model, nodeBackend, { threads: 1 });
    const { probabilities } = await p.run((await loadBatch([images[3]!], SMALL_PRESET)).tensor);
    await p.release();
    assert.deepEqual(got[3]!.body.top!.map((t) => t.probability), got[3]!.body.top!.map((t) => (probabilities.data as Float32Array)[t.index]));
  });
});

/** onnxruntime-node with each run made `slow.ms` longer: a busy session, on demand (after the warm-up). */
const slow = { ms: 0 };
const slowBackend: Backend = {
  ...nodeBackend,
  async createSession(bytes, opts) {
    const s = await nodeBackend.createSession(bytes, opts);
    return {
      inputNames: s.inputNames,
      outputNames: s.outputNames,
      device: s.device,
      release: () => s.release(),
      async run(feeds, fetches) {
        if (slow.ms > 0) await new Promise((r) => setTimeout(r, slow.ms));
        return s.run(feeds, fetches);
      },
    };
  },
};

async function withSlowServer(ms: number, opts: Partial<ServeOptions>, body: (s: RunningServer) => Promise<void>): Promise<void> {
  slow.ms = 0;
  await withServer({ backend: slowBackend, ...opts }, async (s) => {
    slow.ms = ms;
    try {
      await body(s);
    } finally {
      slow.ms = 0;
    }
  });
}

test('a full queue answers 503 with Retry-After, at once; the admitted requests are answered; it recovers', async () => {
  const img = await pngOf(1);
  await withSlowServer(600, { maxQueue: 3 }, async (s) => {
    const t0 = performance.now();
    const got = await Promise.all(Array.from({ length: 12 }, () => classify(s.url, img).then((r) => ({ ...r, ms: performance.now() - t0 }))));
    const ok = got.filter((g) => g.status === 200);
    const busy = got.filter((g) => g.status === 503);
    assert.equal(ok.length + busy.length, 12, `only 200s and 503s: ${got.map((g) => g.status)}`);
    assert.equal(ok.length, 3, 'the queue held 3');
    for (const b of busy) {
      assert.match(b.headers.get('retry-after') ?? '', /^[1-9][0-9]*$/, 'Retry-After in whole seconds');
      assert.match(b.body.error!, /busy: 3 requests are in already/);
      assert.ok(b.ms < 500, `refused at once, before the first batch was done (${b.ms.toFixed(0)} ms)`);
    }
    assert.equal(await metric(s.url, 'mobilenetv2_errors_total{route="/v1/classify",reason="queue_full"}'), 9);
    assert.equal((await classify(s.url, img)).status, 200, 'answers again once the queue has room');
    assert.equal(await metric(s.url, 'mobilenetv2_requests_in_flight'), 0);
  });
});

test('past --timeout-ms a request gets 504, whether it waits in the queue (it leaves it) or runs', async () => {
  const img = await pngOf(2);
  await withSlowServer(1500, { timeoutMs: 300 }, async (s) => {
    const t0 = performance.now();
    const running = classify(s.url, img); // takes the session for 1.5 s
    await new Promise((r) => setTimeout(r, 100));
    const queued = classify(s.url, await pngOf(3)); // waits behind it
    const [a, b] = await Promise.all([running, queued]);
    const ms = performance.now() - t0;
    for (const r of [a, b]) {
      assert.equal(r.status, 504);
      assert.deepEqual(r.body, { error: 'not answered within 300 ms (--timeout-ms)' });
    }
    assert.ok(ms < 1200, `answered at the deadline, not when the run ended (${ms.toFixed(0)} ms)`);
    assert.equal(await metric(s.url, 'mobilenetv2_queue_depth'), 0, 'the queued row left the queue');
    assert.equal(await metric(s.url, 'mobilenetv2_errors_total{route="/v1/classify",reason="timeout"}'), 2);
    while ((await metric(s.url, 'mobilenetv2_batch_size_count')) < 1 && performance.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 50)); // the running batch ends
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(await metric(s.url, 'mobilenetv2_batch_size_count'), 1, 'only the running one ran');
  });
});

test('a client that leaves frees its place in the queue at once', async () => {
  const img = await pngOf(3);
  await withSlowServer(1500, {}, async (s) => {
    const first = classify(s.url, img); // takes the session
    const t1 = performance.now(); // (its decode may be slower than the next one's: wait until it runs)
    while ((await metric(s.url, 'mobilenetv2_batches_running')) !== 1 && performance.now() - t1 < 2000) await new Promise((r) => setTimeout(r, 10));
    await new Promise<void>((resolve) => {
      const req = request({ host: '127.0.0.1', port: s.port, path: '/v1/classify', method: 'POST', headers: { 'content-type': 'image/png', 'content-length': img.length } });
      req.on('error', () => resolve());
      req.end(img);
      setTimeout(() => {
        req.destroy(); // gone while its row waits
        resolve();
      }, 300);
    });
    const t0 = performance.now();
    while ((await metric(s.url, 'mobilenetv2_requests_in_flight')) !== 1 && performance.now() - t0 < 1000) await new Promise((r) => setTimeout(r, 20));
    assert.equal(await metric(s.url, 'mobilenetv2_requests_in_flight'), 1, 'only the first is in');
    assert.equal(await metric(s.url, 'mobilenetv2_queue_depth'), 0, 'the row of the one who left is gone');
    assert.equal((await first).status, 200);
    assert.equal(await metric(s.url, 'mobilenetv2_batch_size_count'), 1, 'nothing ran for the one who left');
  });
});

test('decoding on the main thread (decodeThreads 0) gives the decode workers\' answers and errors', async () => {
  const images = await Promise.all([pngOf(5), pngOf(6), pngOf(7, 200, 90)]);
  const want = await alone(images);
  await withServer({ decodeThreads: 0, maxDelayMs: 20 }, async (s) => {
    assert.equal(s.settings.decodeThreads, 0);
    const got = await Promise.all(images.map((img) => classify(s.url, img)));
    got.forEach((g, i) => assert.deepEqual(g.body.top!.map((t) => t.index), want[i]!.map((_, j) => j).sort((a, b) => want[i]![b]! - want[i]![a]! || a - b)));
    const bad = await postBytes(`${s.url}/v1/classify`, Buffer.from('GIF89a, then nothing'));
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { error: string }).error, /^(not an image|truncated or corrupt image|cannot decode image)/);
  });
});
