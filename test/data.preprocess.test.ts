// Preprocessing against tensors that torchvision, transformers and timm produced on real photos.
// Committed: face.jpg and its four reference tensors (test/fixtures/images/face_reference.safetensors.gz,
// copied from ../shared/fixtures/preprocess_reference.safetensors).
// HINT: regenerate with `npx tsc -p . && node dist/bench/preprocess.js --write-fixture`.
//
// Tolerances come from the measurement in docs/preprocessing.md:
// - 'pil' engine, torchvision-v1/-v2 and timm: measured 0 difference (bit-exact); allowed 1e-6.
// - 'pil' engine, hf: measured at most 1 level (0.0078 normalized) on ~0.1% of values; allowed
//   1 level max, mean 1e-4.
// - 'sharp-linear' engine, torchvision-v1: measured 2 levels max, 0.19 level mean; allowed 2 / 0.25.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { preprocess, type ResizeEngine } from '../src/platform/node/image.js';
import {
  PRESETS,
  centerCropOffsets,
  centerCropSize,
  cropRgb,
  normalizeToChw,
  resizeRgb,
  resizeSize,
  resizedShape,
  resolvePreset,
  transformRgb,
  withInputSize,
  type PresetName,
  type PresetSpec,
} from '../src/data/transforms.js';

const here = (p: string): string => fileURLToPath(new URL(p, import.meta.url));
// Compiled to dist/test/, the sources' fixtures are two levels up.
const FIXTURES = here('../../test/fixtures/images/');
// ../shared beside the checkout (as in CI's clone), compiled to dist/test/: three levels up.
const SHARED = here('../../../shared/fixtures');

type Refs = Map<string, Float32Array>;

function parseSafetensors(buf: Buffer): Refs {
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string; data_offsets: [number, number] }>;
  const out: Refs = new Map();
  for (const [name, t] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    assert.equal(t.dtype, 'F32');
    const b = buf.subarray(8 + n + t.data_offsets[0], 8 + n + t.data_offsets[1]);
    out.set(name, new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length)));
  }
  return out;
}

const REF_NAME: Record<Exclude<PresetName, 'tf'>, string> = {
  'torchvision-v1': 'torchvision_v1',
  'torchvision-v2': 'torchvision_v2',
  hf: 'hf_default',
  timm: 'timm_mobilenetv2_100',
};

function stats(ours: Float32Array, ref: Float32Array): { max: number; mean: number } {
  assert.equal(ours.length, ref.length, 'length');
  let max = 0, sum = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = Math.abs(ours[i] - ref[i]);
    if (!(d <= max)) max = d; // NaN-safe: a NaN difference becomes the max
    sum += d;
  }
  return { max, mean: sum / ref.length };
}

/** Tolerance in normalized units: levels / 255 / std (std is 0.5 for hf, >= 0.224 else). */
function tolerance(preset: PresetName, engine: ResizeEngine): { max: number; mean: number } {
  const minStd = Math.min(...PRESETS[preset].std);
  if (engine === 'pil') return preset === 'hf' ? { max: 1 / 255 / 0.5 + 1e-6, mean: 1e-4 } : { max: 1e-6, mean: 1e-7 };
  return { max: 2 / 255 / minStd + 1e-6, mean: 0.25 / 255 / minStd };
}

async function check(refs: Refs, dir: string, image: string, preset: Exclude<PresetName, 'tf'>, engine: ResizeEngine): Promise<void> {
  const ref = refs.get(`${image}:${REF_NAME[preset]}`);
  assert.ok(ref, `reference ${image}:${REF_NAME[preset]} missing`);
  const ours = await preprocess(`${dir}/${image}`, { preset, engine }); // (3, 224, 224)
  const tol = tolerance(preset, engine);
  const s = stats(ours, ref);
  assert.ok(s.max <= tol.max && s.mean <= tol.mean, `${image} ${preset} ${engine}: max ${s.max} (allowed ${tol.max}), mean ${s.mean} (allowed ${tol.mean})`);
}

const committed = parseSafetensors(gunzipSync(readFileSync(`${FIXTURES}face_reference.safetensors.gz`)));

for (const preset of Object.keys(REF_NAME) as (keyof typeof REF_NAME)[]) {
  test(`preprocess face.jpg equals the ${preset} reference (pil engine)`, async () => {
    await check(committed, FIXTURES, 'face.jpg', preset, 'pil');
  });
}

test('preprocess face.jpg with the sharp-linear engine stays within 2 levels of torchvision-v1', async () => {
  await check(committed, FIXTURES, 'face.jpg', 'torchvision-v1', 'sharp-linear');
});

test('the tf preset is x / 127.5 - 1 on the hf geometry', async () => {
  const hf = await preprocess(`${FIXTURES}face.jpg`, 'hf');
  const tf = await preprocess(`${FIXTURES}face.jpg`, 'tf');
  const ref = committed.get('face.jpg:hf_default')!;
  assert.ok(stats(tf, hf).max <= 1e-6);
  assert.ok(stats(tf, ref).max <= 1 / 127.5 + 1e-6);
});

test('all shared photos and presets match their references', async (t) => {
  const file = `${SHARED}/preprocess_reference.safetensors`;
  if (!existsSync(file)) {
    console.warn(`SKIPPED: ${file} is absent; only face.jpg was checked`);
    t.skip(`${file} is absent`);
    return;
  }
  const refs = parseSafetensors(readFileSync(file));
  for (const image of ['hot_dog.jpg', 'face.jpg', 'cat_720p.jpg']) {
    for (const preset of Object.keys(REF_NAME) as (keyof typeof REF_NAME)[]) {
      await check(refs, `${SHARED}/images`, image, preset, 'pil');
    }
    await check(refs, `${SHARED}/images`, image, 'torchvision-v1', 'sharp-linear');
  }
});

test('geometry follows torchvision: int() on the long side, round-half-even crop offsets', () => {
  // cat_720p is 1280x720: Resize(256) -> int(256 * 1280 / 720) = int(455.1) = 455
  assert.deepEqual(resizedShape(720, 1280, 256), { height: 256, width: 455 });
  assert.deepEqual(resizedShape(1280, 720, 256), { height: 455, width: 256 });
  assert.deepEqual(resizedShape(100, 100, 232), { height: 232, width: 232 });
  // (455 - 224) / 2 = 115.5: torchvision int(round(115.5)) = 116, transformers 231 // 2 = 115
  assert.deepEqual(centerCropOffsets(256, 455, 224, 'round'), { top: 16, left: 116 });
  assert.deepEqual(centerCropOffsets(256, 455, 224, 'floor'), { top: 16, left: 115 });
  // face.jpg 512x355 -> 369x256: (369 - 224) / 2 = 72.5 -> round half to even = 72
  assert.deepEqual(centerCropOffsets(256, 369, 224, 'round'), { top: 16, left: 72 });
  assert.throws(() => centerCropOffsets(100, 300, 224), RangeError);
});

test('--input-size S: crop S, resize round(S * resize / crop)', () => {
  assert.equal(resizeSize('torchvision-v1'), 256);
  assert.equal(centerCropSize('torchvision-v1'), 224);
  assert.equal(resizeSize('torchvision-v1', 160), 183); // 160 * 256 / 224 = 182.86
  assert.equal(centerCropSize('torchvision-v1', 160), 160);
  assert.equal(resizeSize('torchvision-v2', 224), 232);
  assert.equal(resizeSize('timm', 96), 110); // 96 / 0.875 = 109.7
  const s = withInputSize('hf', 96);
  assert.equal(s.resize, 110);
  assert.equal(s.crop, 96);
  assert.equal(s.cropRounding, 'floor');
});

test('preprocess at another input size gives (3, S, S)', async () => {
  const x = await preprocess(`${FIXTURES}face.jpg`, withInputSize('torchvision-v1', 96));
  assert.equal(x.length, 3 * 96 * 96);
});

test('BAD CALL - unknown preset names the valid ones', async () => {
  assert.throws(() => resolvePreset('imagenet' as PresetName), { name: 'RangeError', message: /Unsupported preset: "imagenet"\. Should be one of: torchvision-v1, torchvision-v2, hf, tf, timm/ });
  await assert.rejects(preprocess(`${FIXTURES}face.jpg`, 'nope' as PresetName), RangeError);
  assert.throws(() => resizeSize('timm', 0), RangeError);
  assert.throws(() => resolvePreset({ ...PRESETS.timm, crop: 300 }), RangeError);
  await assert.rejects(preprocess(`${FIXTURES}face.jpg`, { engine: 'sharp-box' as ResizeEngine }), { name: 'RangeError', message: /Should be one of: pil, sharp-linear/ });
});

test('transformRgb (resampling only the crop, normalizing in the vertical pass) equals resize, then crop, then normalize, bit for bit', () => {
  let seed = 12345;
  const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const cases: [number, number, PresetSpec][] = [];
  for (const [w, h] of [[500, 375], [375, 500], [1280, 720], [256, 256], [231, 300], [224, 224], [100, 60], [257, 999], [300, 231]]) {
    for (const name of ['torchvision-v1', 'torchvision-v2', 'hf', 'timm'] as const) cases.push([w, h, PRESETS[name]]);
  }
  cases.push([400, 300, withInputSize('torchvision-v1', 96)], [333, 777, withInputSize('timm', 160)], [64, 64, withInputSize('hf', 64)]);
  for (const [w, h, spec] of cases) {
    const img = { data: Uint8Array.from({ length: w * h * 3 }, () => Math.floor(rnd() * 256)), width: w, height: h };
    const size = resizedShape(h, w, spec.resize);
    const resized = resizeRgb(img, size.width, size.height, spec.interpolation);
    const { top, left } = centerCropOffsets(size.height, size.width, spec.crop, spec.cropRounding);
    const want = normalizeToChw(cropRgb(resized, top, left, spec.crop), spec.mean, spec.std);
    const got = transformRgb(img, spec);
    assert.equal(got.length, want.length);
    for (let i = 0; i < want.length; i++) if (got[i] !== want[i]) assert.fail(`${w}x${h} ${JSON.stringify(spec)}: element ${i} is ${got[i]}, the composition gives ${want[i]}`);
  }
});
