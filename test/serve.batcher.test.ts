// The dynamic batcher alone (no HTTP, no network): requests that arrive together run together up
// to maxBatch rows, each gets exactly its own rows back, shapes never mix, a request waits at most
// maxDelayMs for company, an abort takes queued rows out, and drain() runs what is queued at once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Batcher } from '../src/serve/batcher.js';
import { float32, type Tensor } from '../src/tensor.js';

/** A fake network: output row = input row * 2, and a record of each run's rows. */
function fake(ms = 5) {
  const runs: { rows: number; runner: number; shape: number[] }[] = [];
  const run = async (input: Tensor, runner: number) => {
    runs.push({ rows: input.shape[0]!, runner, shape: [...input.shape] });
    await new Promise((r) => setTimeout(r, ms));
    return { y: float32(input.shape, (input.data as Float32Array).map((v) => v * 2)) };
  };
  return { runs, run };
}

const rows = (n: number, start: number, width = 4): Tensor => float32([n, width], Array.from({ length: n * width }, (_, i) => start + i));

test('requests arriving together run as one batch and each gets its own rows', async () => {
  const { runs, run } = fake();
  const b = new Batcher(run, { maxBatch: 8, maxDelayMs: 20, runners: 1 });
  const outs = await Promise.all([b.submit(rows(1, 0)), b.submit(rows(2, 100)), b.submit(rows(1, 200))]);
  assert.deepEqual(runs.map((r) => r.rows), [4]);
  assert.deepEqual([...(outs[0]!['y']!.data as Float32Array)], [0, 2, 4, 6]);
  assert.deepEqual(outs[1]!['y']!.shape, [2, 4]);
  assert.deepEqual([...(outs[1]!['y']!.data as Float32Array)], Array.from({ length: 8 }, (_, i) => 2 * (100 + i)));
  assert.deepEqual([...(outs[2]!['y']!.data as Float32Array)], [400, 402, 404, 406]);
});

test('no batch holds more than maxBatch rows; arrival order is kept; a full batch does not wait', async () => {
  const { runs, run } = fake();
  const b = new Batcher(run, { maxBatch: 3, maxDelayMs: 10_000, runners: 1 });
  const t0 = performance.now();
  const pending = Array.from({ length: 7 }, (_, i) => b.submit(rows(1, 10 * i)));
  await Promise.all(pending.slice(0, 6)); // two full batches: no waiting for the 10 s delay
  assert.ok(performance.now() - t0 < 5000);
  assert.equal(b.depth, 1);
  await b.drain(); // the last, partial batch is run by drain at once
  const outs = await Promise.all(pending);
  assert.ok(performance.now() - t0 < 5000);
  assert.deepEqual(runs.map((r) => r.rows), [3, 3, 1]);
  outs.forEach((o, i) => assert.equal((o['y']!.data as Float32Array)[0], 20 * i));
});

test('a lone request waits maxDelayMs for company, then runs alone', async () => {
  const { runs, run } = fake(1);
  const b = new Batcher(run, { maxBatch: 8, maxDelayMs: 60, runners: 1 });
  const t0 = performance.now();
  await b.submit(rows(1, 0));
  const waited = performance.now() - t0;
  assert.ok(waited >= 55, `ran after ${waited.toFixed(1)} ms`);
  assert.deepEqual(runs.map((r) => r.rows), [1]);
});

test('requests of different shapes never share a batch', async () => {
  const { runs, run } = fake();
  const b = new Batcher(run, { maxBatch: 8, maxDelayMs: 20, runners: 1 });
  const [a, c, d] = await Promise.all([b.submit(rows(1, 0, 4)), b.submit(rows(1, 0, 6)), b.submit(rows(2, 50, 4))]);
  assert.deepEqual(runs.map((r) => r.shape).sort(), [[1, 6], [3, 4]]);
  assert.deepEqual(a!['y']!.shape, [1, 4]);
  assert.deepEqual(c!['y']!.shape, [1, 6]);
  assert.deepEqual(d!['y']!.shape, [2, 4]);
});

test('runners run batches at the same time; while they are busy the queue batches itself', async () => {
  const { runs, run } = fake(40);
  const b = new Batcher(run, { maxBatch: 16, maxDelayMs: 0, runners: 2 });
  const first = [b.submit(rows(1, 0)), b.submit(rows(1, 1))]; // one each, at once (no delay)
  await new Promise((r) => setTimeout(r, 5));
  const later = Array.from({ length: 6 }, (_, i) => b.submit(rows(1, 10 + i)));
  await Promise.all([...first, ...later]);
  assert.deepEqual(new Set(runs.slice(0, 2).map((r) => r.runner)), new Set([0, 1]));
  assert.ok(runs.length <= 4 && runs.slice(2).some((r) => r.rows > 1), `runs ${JSON.stringify(runs.map((r) => r.rows))}`);
});

test('an abort takes queued rows out (its reason is the rejection); the others still run', async () => {
  const { runs, run } = fake();
  const b = new Batcher(run, { maxBatch: 8, maxDelayMs: 50, runners: 1 });
  const ac = new AbortController();
  const gone = b.submit(rows(2, 0), ac.signal);
  const kept = b.submit(rows(1, 7));
  assert.equal(b.depth, 3);
  ac.abort(new Error('deadline'));
  await assert.rejects(gone, /deadline/);
  assert.equal(b.depth, 1);
  await kept;
  assert.deepEqual(runs.map((r) => r.rows), [1]);
  await assert.rejects(b.submit(rows(1, 0), AbortSignal.abort(new Error('already'))), /already/);
});

test('a failed run rejects every request of its batch; the batcher keeps working', async () => {
  let fail = true;
  const b = new Batcher(
    async (x) => {
      if (fail) throw new Error('runtime exploded');
      return { y: x };
    },
    { maxBatch: 4, maxDelayMs: 10, runners: 1 },
  );
  const r = await Promise.allSettled([b.submit(rows(1, 0)), b.submit(rows(1, 1))]);
  assert.deepEqual(r.map((x) => x.status), ['rejected', 'rejected']);
  fail = false;
  assert.deepEqual((await b.submit(rows(1, 3)))['y']!.shape, [1, 4]);
});

test('BAD CALL - a request larger than maxBatch, or of no rows, is a RangeError', () => {
  const b = new Batcher(async (x) => ({ y: x }), { maxBatch: 2, maxDelayMs: 0, runners: 1 });
  assert.throws(() => b.submit(rows(3, 0)), RangeError);
  assert.throws(() => b.submit(float32([0, 4])), RangeError);
  assert.throws(() => new Batcher(async (x) => ({ y: x }), { maxBatch: 0, maxDelayMs: 0, runners: 1 }), RangeError);
});

test('with nothing incoming (no request decoding), a lone request does not wait; with some, it waits for them', async () => {
  const { runs, run } = fake(1);
  let incoming = 0;
  const b = new Batcher(run, { maxBatch: 8, maxDelayMs: 500, runners: 1, incoming: () => incoming });
  let t0 = performance.now();
  await b.submit(rows(1, 0));
  assert.ok(performance.now() - t0 < 200, 'ran at once');
  incoming = 1;
  t0 = performance.now();
  const first = b.submit(rows(1, 1));
  setTimeout(() => {
    incoming = 0;
    void b.submit(rows(1, 2)); // the one it waited for
  }, 50);
  await first;
  assert.ok(performance.now() - t0 < 400, 'not the whole delay: the last incoming request arrived');
  assert.deepEqual(runs.map((r) => r.rows), [1, 2]);
});
