// Decoding and preprocessing on worker threads (src/platform/node/pool.ts): the rows a list gets
// from the workers are the main thread's, bit for bit, on the 16 real photos and every kind of
// input loadBatch takes; a user's bad file in a list comes back as its one-line error; the
// workers never keep a finished process alive.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { decodeRgb, loadBatch } from '../src/platform/node/image.js';
import { closePrepareWorkers, prepareThreads } from '../src/platform/node/pool.js';
import { PHOTOS } from './helpers/views.js';

const dir = mkdtempSync(join(tmpdir(), 'mnv2-pool-'));
after(closePrepareWorkers);

test('workers give the main thread rows bit for bit: 16 real photos as paths, bytes and pixels, three presets', async () => {
  const decoded = await decodeRgb(PHOTOS[3]!);
  const raw = { data: decoded.data, width: decoded.width, height: decoded.height, channels: 3 as const };
  const list = [...PHOTOS, readFileSync(PHOTOS[0]!), raw, readFileSync(PHOTOS[5]!)];
  for (const preset of ['torchvision-v1', 'timm', 'hf'] as const) {
    const here = await loadBatch(list, preset, { workers: 0 });
    const there = await loadBatch(list, preset, { workers: 2 });
    assert.deepEqual(there.ok, here.ok);
    assert.equal(there.errors.length, 0);
    assert.deepEqual(there.tensor.shape, [list.length, 3, 224, 224]);
    const a = here.tensor.data as Float32Array;
    const b = there.tensor.data as Float32Array;
    let off = 0;
    for (let i = 0; i < a.length; i++) if (Object.is(a[i], b[i]) === false) off++;
    assert.equal(off, 0, `${preset}: ${off} of ${a.length} values differ between the worker and the main thread`);
  }
});

test('a bad file in a list on the workers: its one-line error, the others still answered', async () => {
  const text = join(dir, 'notes.jpg');
  writeFileSync(text, 'these are my notes, not a photo\n');
  const cut = join(dir, 'cut.jpg');
  writeFileSync(cut, readFileSync(PHOTOS.find((p) => p.endsWith('.jpg'))!).subarray(0, 300));
  const missing = join(dir, 'missing.png');
  const list = [...PHOTOS.slice(0, 6), text, PHOTOS[6]!, missing, cut, PHOTOS[7]!];
  const here = await loadBatch(list, 'torchvision-v1', { workers: 0 });
  const there = await loadBatch(list, 'torchvision-v1', { workers: 2 });
  assert.deepEqual(there.ok, [0, 1, 2, 3, 4, 5, 7, 10]);
  assert.deepEqual(there.errors, here.errors);
  assert.deepEqual(there.errors.map((e) => e.file), [text, missing, cut]);
  for (const e of there.errors) {
    assert.ok(e.message.startsWith(`${e.file}: `), e.message);
    assert.ok(!e.message.includes('\n'), e.message);
  }
  assert.deepEqual(there.tensor.data, here.tensor.data);
});

test('worker count: MOBILENETV2_PREPARE_THREADS, its default, and bad values', async () => {
  assert.equal(prepareThreads({ MOBILENETV2_PREPARE_THREADS: '0' }), 0);
  assert.equal(prepareThreads({ MOBILENETV2_PREPARE_THREADS: '3' }), 3);
  assert.ok(prepareThreads({}) >= 1);
  assert.throws(() => prepareThreads({ MOBILENETV2_PREPARE_THREADS: 'two' }), /MOBILENETV2_PREPARE_THREADS must be an integer >= 0, got "two"/);
  await assert.rejects(loadBatch(PHOTOS, 'timm', { workers: -1 }), RangeError);
});

test('a script that used the workers exits by itself, at once', () => {
  const image = fileURLToPath(new URL('../src/platform/node/image.js', import.meta.url));
  const script = `import { loadBatch } from ${JSON.stringify(image)};
const r = await loadBatch(${JSON.stringify(PHOTOS)}, 'torchvision-v1', { workers: 2 });
console.log(r.ok.length);`;
  const t0 = Date.now();
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), String(PHOTOS.length));
  // the idle timeout of the workers is 5 s: exiting sooner means they do not hold the event loop
  assert.ok(Date.now() - t0 < 4_500, `took ${Date.now() - t0} ms to exit`);
});
