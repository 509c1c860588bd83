// The demo dataset: the layout ImageFolder reads, same bytes for the same seed, images of the
// requested size whose shape is drawn in its class's colour.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { DEMO_CLASSES, makeDemoDataset } from '../src/platform/node/demo.js';
import { ImageFolder } from '../src/platform/node/folder.js';
import { decodeRgb } from '../src/platform/node/image.js';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'mnv2-demo-'));

test('demo dataset: train/val class folders ImageFolder reads, 10 classes, counts and size as asked', async () => {
  const dir = tmp();
  try {
    const d = await makeDemoDataset(dir, { seed: 3, perClass: 6, valPerClass: 2, size: 40 });
    assert.equal(d.files, 80);
    const train = new ImageFolder(d.train);
    const val = new ImageFolder(d.val);
    assert.deepEqual(train.classes, d.classes);
    assert.deepEqual(val.classes, d.classes);
    assert.equal(new Set(DEMO_CLASSES.map(([, shape]) => shape)).size, 10, 'ten distinct shapes');
    assert.equal(new Set(DEMO_CLASSES.map(([, , hue]) => hue)).size, 10, 'ten distinct hues');
    assert.deepEqual(train.classCounts(), new Array(10).fill(6));
    assert.deepEqual(val.classCounts(), new Array(10).fill(2));
    for (const s of [...train.samples.slice(0, 12), ...val.samples.slice(0, 4)]) {
      const meta = await sharp(s.path).metadata();
      assert.equal(meta.format, 'png');
      assert.equal(meta.width, 40);
      assert.equal(meta.height, 40);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('demo dataset: same seed, same bytes; another seed, other images', async () => {
  const [a, b, c] = [tmp(), tmp(), tmp()];
  try {
    const opts = { perClass: 3, valPerClass: 1, size: 32 };
    const da = await makeDemoDataset(a, { seed: 5, ...opts });
    const db = await makeDemoDataset(b, { seed: 5, ...opts });
    const dc = await makeDemoDataset(c, { seed: 6, ...opts });
    const fa = new ImageFolder(da.train).samples;
    const fb = new ImageFolder(db.train).samples;
    const fc = new ImageFolder(dc.train).samples;
    let differ = 0;
    fa.forEach((s, i) => {
      assert.deepEqual(readFileSync(s.path), readFileSync(fb[i]!.path), s.path);
      if (!readFileSync(s.path).equals(readFileSync(fc[i]!.path))) differ++;
    });
    assert.equal(differ, fa.length);
    const va = new ImageFolder(da.val).samples;
    assert.ok(va.every((s, i) => !readFileSync(s.path).equals(readFileSync(fa[i * 3]!.path))), 'val images are not train images');
  } finally {
    for (const d of [a, b, c]) rmSync(d, { recursive: true, force: true });
  }
});

/** Hue in degrees of the most saturated pixels' mean colour. */
function dominantHue(data: Uint8Array): number {
  const px: [number, number, number, number][] = [];
  for (let i = 0; i < data.length; i += 3) {
    const [r, g, b] = [data[i]!, data[i + 1]!, data[i + 2]!];
    px.push([Math.max(r, g, b) - Math.min(r, g, b), r, g, b]);
  }
  px.sort((p, q) => q[0] - p[0]);
  const top = px.slice(0, 30);
  const [r, g, b] = [1, 2, 3].map((k) => top.reduce((s, p) => s + p[k]!, 0) / top.length) as [number, number, number];
  const max = Math.max(r, g, b);
  const min = Math.min(r, g, b);
  const d = max - min;
  const h = max === r ? ((g - b) / d) % 6 : max === g ? (b - r) / d + 2 : (r - g) / d + 4;
  return (h * 60 + 360) % 360;
}

test('demo dataset: each image holds its class\'s colour (the label is in the pixels)', async () => {
  const dir = tmp();
  try {
    const d = await makeDemoDataset(dir, { seed: 1, perClass: 4, valPerClass: 0, size: 64 });
    const ds = new ImageFolder(d.train);
    for (const s of ds.samples) {
      const [, , hue] = DEMO_CLASSES.find(([name]) => name === ds.classes[s.label])!;
      const got = dominantHue((await decodeRgb(s.path)).data);
      const diff = Math.min(Math.abs(got - hue), 360 - Math.abs(got - hue));
      assert.ok(diff < 20, `${s.path}: hue ${got.toFixed(0)}, class hue ${hue}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('demo dataset: refuses a directory holding other files; default is 40 + 10 per class at 64 px', async () => {
  const dir = tmp();
  try {
    mkdirSync(join(dir, 'train', 'my_photos'), { recursive: true });
    writeFileSync(join(dir, 'train', 'my_photos', 'x.jpg'), 'x');
    await assert.rejects(makeDemoDataset(dir), (e: Error) => e.message.startsWith(join(dir, 'train') + ': exists'));
    rmSync(join(dir, 'train'), { recursive: true });
    const d = await makeDemoDataset(dir);
    assert.equal(d.files, 500);
    assert.deepEqual(new ImageFolder(d.train).classCounts(), new Array(10).fill(40));
    assert.deepEqual(new ImageFolder(d.val).classCounts(), new Array(10).fill(10));
    assert.equal((await sharp(new ImageFolder(d.val).samples[0]!.path).metadata()).width, 64);
    await assert.rejects(makeDemoDataset(dir, { size: 8 }), RangeError);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
