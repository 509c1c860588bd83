// The WebAssembly SIMD transform (data/resample.ts) against the TypeScript one it replaces
// (transformRgbJs, itself checked against torchvision, transformers and timm by
// data.preprocess.test.ts): the same float32 bits on the 16 real photos for every preset and
// other input sizes, and on random images of every shape class (smaller than the crop, a side
// kept, thin strips, upscales, downscales by up to 16x) with pixels crowded at 0 and 255, where
// the clipping of each pass happens.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { decodeRgb } from '../src/platform/node/image.js';
import { PRESETS, transformRgb, transformRgbJs, withInputSize, type PresetName, type PresetSpec, type RgbImage } from '../src/data/transforms.js';
import { resampleKernel } from '../src/data/resample.js';
import { Generator } from '../src/random.js';
import { REAL } from './helpers/views.js';

const SPECS: (PresetName | PresetSpec)[] = [
  ...(Object.keys(PRESETS) as PresetName[]),
  withInputSize('torchvision-v1', 97),
  withInputSize('timm', 331),
  { ...PRESETS.hf, resize: 225, crop: 225 },
  { ...PRESETS.timm, resize: 7, crop: 5 },
];

/** Index of the first float that differs (bits, not value: -0 vs 0 counts), or -1. */
function firstDifference(a: Float32Array, b: Float32Array): number {
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  if (ua.length !== ub.length) return 0;
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) return i;
  return -1;
}

function same(img: RgbImage, spec: PresetName | PresetSpec): void {
  const js = (() => { try { return transformRgbJs(img, spec); } catch (e) { return (e as Error).message; } })();
  const wasm = (() => { try { return transformRgb(img, spec); } catch (e) { return (e as Error).message; } })();
  const what = `${img.width}x${img.height} ${JSON.stringify(spec)}`;
  if (typeof js === 'string' || typeof wasm === 'string') return assert.equal(wasm, js, what);
  const i = firstDifference(js, wasm);
  assert.equal(i, -1, `${what}: value ${i} is ${wasm[i]} in wasm, ${js[i]} in js`);
}

test('Node runs the WebAssembly SIMD kernels', () => {
  assert.equal(resampleKernel(), 'wasm-simd');
});

test('real photos: the same bits as the TypeScript transform, every preset and size', async () => {
  const dir = join(REAL, 'photos');
  const files = readdirSync(dir).sort();
  assert.equal(files.length, 16);
  for (const f of files) {
    const img = await decodeRgb(join(dir, f));
    for (const spec of SPECS) same(img, spec);
  }
});

test('random images of every shape, pixels crowded at 0 and 255: the same bits', () => {
  const g = new Generator(13);
  const int = (lo: number, hi: number) => lo + Math.floor(g.uniform() * (hi - lo + 1));
  const shapes: [number, number][] = [[224, 224], [256, 256], [256, 300], [300, 256], [1, 1], [1, 700], [700, 3], [223, 5000], [9000, 240], [4100, 4100]];
  for (let i = 0; i < 40; i++) shapes.push([int(1, 900), int(1, 900)]);
  for (const [width, height] of shapes) {
    const data = new Uint8Array(width * height * 3);
    for (let i = 0; i < data.length; i++) {
      const u = g.uniform();
      data[i] = u < 0.2 ? 0 : u < 0.4 ? 255 : Math.floor(g.uniform() * 256);
    }
    for (const spec of SPECS) same({ data, width, height }, spec);
  }
});

test('writes at an offset into a batch and leaves the rest alone', async () => {
  const img = await decodeRgb(join(REAL, 'photos', readdirSync(join(REAL, 'photos')).sort()[0]!));
  const n = 3 * 224 * 224;
  const batch = new Float32Array(3 * n).fill(7);
  transformRgb(img, 'torchvision-v1', batch, n);
  assert.equal(firstDifference(batch.subarray(n, 2 * n), transformRgbJs(img, 'torchvision-v1')), -1);
  assert.ok(batch.subarray(0, n).every((v) => v === 7) && batch.subarray(2 * n).every((v) => v === 7));
  assert.throws(() => transformRgb(img, 'torchvision-v1', batch, 2 * n + 1), /output holds/);
});
