// DataLoader: every sample once per epoch in a seed-dependent order, rows aligned with their
// labels and paths, resuming mid-epoch reproduces the uninterrupted batches bit for bit, corrupt
// files are skipped and reported, and decoding runs ahead of the consumer.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import sharp from 'sharp';
import { evalTransform, trainTransform, type ImageTransform } from '../src/data/augment.js';
import { sampleGenerator } from '../src/random.js';
import type { Dataset } from '../src/data/dataset.js';
import { decodeRgb } from '../src/platform/node/image.js';
import { DataLoader, type Batch } from '../src/data/loader.js';
import { decodeSample } from '../src/platform/node/fit.js';

const N = 23;

/** N small PNGs of different sizes and colours; label = i % 3. */
async function makeDataset(): Promise<{ dir: string; ds: Dataset }> {
  const dir = mkdtempSync(join(tmpdir(), 'mnv2-loader-'));
  const samples = [];
  for (let i = 0; i < N; i++) {
    const [w, h] = [20 + (i % 5) * 7, 18 + (i % 4) * 9];
    const px = new Uint8Array(w * h * 3);
    for (let k = 0; k < px.length; k++) px[k] = (k * (i + 3) + i * 31) & 255;
    const path = join(dir, `${String(i).padStart(2, '0')}.png`);
    await sharp(px, { raw: { width: w, height: h, channels: 3 } }).png().toFile(path);
    samples.push({ path, label: i % 3 });
  }
  return { dir, ds: { samples, classes: ['a', 'b', 'c'] } };
}

async function collect(loader: DataLoader, epoch: number, startBatch = 0): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of loader.epoch(epoch, { startBatch })) out.push(b);
  return out;
}

const rows = (b: Batch, plane: number): Float32Array[] => b.indices.map((_, r) => (b.x.data as Float32Array).slice(r * plane, (r + 1) * plane));

test('every sample exactly once per epoch, in an order that depends on (seed, epoch)', async () => {
  const { dir, ds } = await makeDataset();
  try {
    const mk = (seed: number, extra = {}) => new DataLoader(ds, { decode: decodeSample, batchSize: 5, shuffle: true, seed, transform: evalTransform({ size: 8 }), ...extra });
    const loader = mk(1);
    assert.equal(loader.numBatches(0), 5);
    const b0 = await collect(loader, 0);
    assert.deepEqual(b0.map((b) => b.indices.length), [5, 5, 5, 5, 3]);
    assert.deepEqual(b0.map((b) => b.batch), [0, 1, 2, 3, 4]);
    const order0 = b0.flatMap((b) => b.indices);
    assert.deepEqual([...order0].sort((a, b) => a - b), ds.samples.map((_, i) => i));
    assert.deepEqual(order0, loader.order(0));
    assert.notDeepEqual(order0, ds.samples.map((_, i) => i), 'shuffled');
    assert.deepEqual((await collect(mk(1), 0)).flatMap((b) => b.indices), order0, 'same seed, same order');
    assert.notDeepEqual(loader.order(1), order0, 'another epoch, another order');
    assert.notDeepEqual(mk(2).order(0), order0, 'another seed, another order');
    for (const b of b0) {
      assert.deepEqual(b.x.shape, [b.indices.length, 3, 8, 8]);
      assert.deepEqual([...b.y], b.indices.map((i) => ds.samples[i]!.label));
      assert.deepEqual(b.paths, b.indices.map((i) => ds.samples[i]!.path));
      assert.deepEqual(b.skipped, []);
    }
    const dropped = mk(1, { dropLast: true });
    assert.equal(dropped.numBatches(0), 4);
    assert.deepEqual((await collect(dropped, 0)).map((b) => b.indices.length), [5, 5, 5, 5]);
    const plain = new DataLoader(ds, { decode: decodeSample, batchSize: 10, transform: evalTransform({ size: 8 }) });
    assert.deepEqual((await collect(plain, 3)).flatMap((b) => b.indices), ds.samples.map((_, i) => i), 'no shuffle: dataset order');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('row r of x is sample indices[r] through the transform with its own (seed, epoch, index) generator', async () => {
  const { dir, ds } = await makeDataset();
  try {
    const transform = trainTransform({ size: 12 });
    const plane = 3 * 12 * 12;
    const byBatchSize = new Map<number, Map<number, Float32Array>>();
    for (const batchSize of [4, 7]) {
      const loader = new DataLoader(ds, { decode: decodeSample, batchSize, shuffle: true, seed: 3, transform, concurrency: 3 });
      const m = new Map<number, Float32Array>();
      for (const b of await collect(loader, 2)) rows(b, plane).forEach((r, k) => m.set(b.indices[k]!, r));
      byBatchSize.set(batchSize, m);
    }
    for (let i = 0; i < N; i++) {
      const expected = transform.apply(await decodeRgb(ds.samples[i]!.path), sampleGenerator(3, 2, i));
      assert.deepEqual(byBatchSize.get(4)!.get(i), expected, `sample ${i}, batch size 4`);
      assert.deepEqual(byBatchSize.get(7)!.get(i), expected, `sample ${i}, batch size 7`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('startBatch resumes with exactly the batches an uninterrupted epoch yields', async () => {
  const { dir, ds } = await makeDataset();
  try {
    const mk = () => new DataLoader(ds, { decode: decodeSample, batchSize: 4, shuffle: true, seed: 9, transform: trainTransform({ size: 10 }) });
    const full = await collect(mk(), 4);
    // an interrupted run: reads two batches, stops; a fresh loader resumes at batch 2
    const first = mk();
    const seen: Batch[] = [];
    for await (const b of first.epoch(4)) {
      seen.push(b);
      if (seen.length === 2) break;
    }
    const resumed = await collect(mk(), 4, 2);
    const joined = [...seen, ...resumed];
    assert.equal(joined.length, full.length);
    joined.forEach((b, k) => {
      assert.equal(b.batch, full[k]!.batch);
      assert.deepEqual(b.indices, full[k]!.indices);
      assert.deepEqual(b.x.data, full[k]!.x.data);
      assert.deepEqual(b.y, full[k]!.y);
    });
    assert.deepEqual(await collect(mk(), 4, full.length), []);
    assert.throws(() => mk().epoch(4, { startBatch: full.length + 1 }), RangeError);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a corrupt or missing image is skipped, named and counted; the batch is smaller', async () => {
  const { dir, ds } = await makeDataset();
  try {
    writeFileSync(ds.samples[4]!.path, Buffer.from('this is not a png at all'));
    const good = readFileSync(ds.samples[9]!.path);
    writeFileSync(ds.samples[9]!.path, good.subarray(0, Math.floor(good.length / 2))); // truncated
    rmSync(ds.samples[13]!.path);
    const loader = new DataLoader(ds, { decode: decodeSample, batchSize: 5, transform: evalTransform({ size: 8 }) });
    const batches = await collect(loader, 0);
    assert.deepEqual(batches.map((b) => b.indices.length), [4, 4, 4, 5, 3]); // 4, 9, 13 fall in batches 0, 1, 2
    const skipped = batches.flatMap((b) => b.skipped);
    assert.deepEqual(skipped.map((s) => s.index), [4, 9, 13]);
    assert.deepEqual(skipped.map((s) => s.path), [4, 9, 13].map((i) => ds.samples[i]!.path));
    for (const s of skipped) assert.ok(s.message.startsWith(s.path + ': ') && !s.message.includes('\n'), s.message);
    assert.match(skipped[2]!.message, /no such file/);
    assert.equal(loader.skippedCount, 3);
    const b1 = batches[1]!;
    assert.deepEqual(b1.indices, [5, 6, 7, 8]);
    assert.deepEqual(b1.x.shape, [4, 3, 8, 8]);
    // the rows that remain are the right images, compacted in order
    const plane = 3 * 8 * 8;
    const t = evalTransform({ size: 8 });
    for (const [r, i] of b1.indices.entries()) {
      assert.deepEqual(rows(b1, plane)[r], t.apply(await decodeRgb(ds.samples[i]!.path), sampleGenerator(0, 0, i)));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('decoding runs ahead: `prefetch` batches are ready while the consumer holds one', async () => {
  const { dir, ds } = await makeDataset();
  try {
    const inner = evalTransform({ size: 8 });
    const done = new Set<number>();
    const spy: ImageTransform = { size: 8, random: false, apply: (img, g, out, off) => { const r = inner.apply(img, g, out, off); done.add(done.size); return r; } };
    const loader = new DataLoader(ds, { decode: decodeSample, batchSize: 3, transform: spy, prefetch: 2 });
    const it = loader.epoch(0);
    await it.next(); // batch 0 in hand
    // a "training step": decoding of batches 1 and 2 goes on meanwhile (wait for it, up to 5 s on a busy machine)
    for (let t = 0; t < 50 && done.size < 9; t++) await sleep(100);
    await sleep(100);
    assert.equal(done.size, 9, 'batches 0, 1, 2 decoded, batch 3 not started');
    await it.return(undefined);
    const noAhead = new DataLoader(ds, { decode: decodeSample, batchSize: 3, transform: spy, prefetch: 0 });
    done.clear();
    const it2 = noAhead.epoch(0);
    await it2.next();
    await sleep(100);
    assert.equal(done.size, 3);
    await it2.return(undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('BAD CALL - loader options', () => {
  const ds: Dataset = { samples: [], classes: [] };
  assert.throws(() => new DataLoader(ds, { decode: decodeSample, batchSize: 0 }), RangeError);
  assert.throws(() => new DataLoader(ds, { decode: decodeSample, batchSize: 2, concurrency: 0 }), RangeError);
  assert.throws(() => new DataLoader(ds, { decode: decodeSample, batchSize: 2, seed: -1 }), RangeError);
  assert.throws(() => new DataLoader({} as Dataset, { decode: decodeSample, batchSize: 2 }), TypeError);
  assert.equal(new DataLoader(ds, { decode: decodeSample, batchSize: 2 }).numBatches(0), 0);
});
