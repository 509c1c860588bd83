// Measures how far our decode + resize is from the reference pipelines (PIL via torchvision,
// transformers, timm) on real photos, for each resize engine, and times each engine.
//   npx tsc -p . && node dist/bench/preprocess.js [../shared/fixtures]
// Prints a markdown table: max / mean |ours - reference| in normalized units and in 0-255 levels.
//   node dist/bench/preprocess.js --write-fixture
// rewrites test/fixtures/images/face_reference.safetensors.gz (face.jpg's four reference tensors,
// copied unchanged from the shared file) for test/data.preprocess.test.ts.

import { readFileSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { decodeRgb, sharpOneStep, preprocess, type ResizeEngine } from '../src/platform/node/image.js';
import { PRESETS, normalizeToChw, type PresetName, type PresetSpec } from '../src/data/transforms.js';

const writeFixture = process.argv.includes('--write-fixture');
const fixtures = process.argv.slice(2).find((a) => !a.startsWith('--')) ?? new URL('../../../shared/fixtures', import.meta.url).pathname;
const IMAGES = ['hot_dog.jpg', 'face.jpg', 'cat_720p.jpg'];
// reference tensor name -> our preset
const REFS: [string, PresetName][] = [
  ['torchvision_v1', 'torchvision-v1'],
  ['torchvision_v2', 'torchvision-v2'],
  ['hf_default', 'hf'],
  ['timm_mobilenetv2_100', 'timm'],
];

/** Reads every F32 tensor of a safetensors file: 8-byte LE header length, JSON header, data. */
function readSafetensors(path: string): Map<string, { shape: number[]; data: Float32Array }> {
  const buf = readFileSync(path);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, t] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    if (t.dtype !== 'F32') throw new Error(`${path}: ${name}: expected F32, got ${t.dtype}`);
    const bytes = buf.subarray(8 + n + t.data_offsets[0], 8 + n + t.data_offsets[1]);
    out.set(name, { shape: t.shape, data: new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length)) });
  }
  return out;
}

function diff(ours: Float32Array, ref: Float32Array, std: readonly number[]): { max: number; mean: number; maxLv: number; meanLv: number } {
  let max = 0, sum = 0, maxLv = 0, sumLv = 0;
  const plane = ref.length / 3;
  for (let i = 0; i < ref.length; i++) {
    const d = Math.abs(ours[i] - ref[i]);
    const lv = d * std[Math.floor(i / plane)] * 255; // back to 0-255 pixel levels
    max = Math.max(max, d);
    sum += d;
    maxLv = Math.max(maxLv, lv);
    sumLv += lv;
  }
  return { max, mean: sum / ref.length, maxLv, meanLv: sumLv / ref.length };
}

type Variant = { name: string; run: (file: string, spec: PresetSpec) => Promise<Float32Array> };
const engine = (e: ResizeEngine): Variant => ({ name: e, run: (f, spec) => preprocess(f, { preset: spec, engine: e }) });
const oneStep = (k: 'linear' | 'cubic' | 'mitchell' | 'lanczos3', fast: boolean): Variant => ({
  name: `sharp-${k} one-step${fast ? ' fastShrinkOnLoad' : ''}`,
  run: async (f, spec) => normalizeToChw(await sharpOneStep(f, spec, k, fast), spec.mean, spec.std),
});
const VARIANTS: Variant[] = [
  engine('pil'),
  engine('sharp-linear'),
  engine('sharp-cubic'),
  engine('sharp-mitchell'),
  engine('sharp-lanczos2'),
  engine('sharp-lanczos3'),
  oneStep('linear', false),
  oneStep('linear', true),
  oneStep('cubic', false),
  oneStep('cubic', true),
];

/** Writes F32 tensors as safetensors (8-byte LE header length, JSON header, data), gzipped. */
function writeSafetensorsGz(path: string, tensors: Map<string, { shape: number[]; data: Float32Array }>): void {
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const [name, t] of tensors) {
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  const parts = [len, Buffer.from(json, 'utf8'), ...[...tensors.values()].map((t) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength))];
  writeFileSync(path, gzipSync(Buffer.concat(parts), { level: 9 }));
}

async function main(): Promise<void> {
  const refs = readSafetensors(join(fixtures, 'preprocess_reference.safetensors'));
  if (writeFixture) {
    const out = 'test/fixtures/images/face_reference.safetensors.gz';
    writeSafetensorsGz(out, new Map(REFS.map(([r]) => [`face.jpg:${r}`, refs.get(`face.jpg:${r}`)!])));
    console.log(`wrote ${out}`);
    return;
  }
  const rows: string[] = [];
  rows.push('| preset | engine | image | max abs (norm.) | mean abs (norm.) | max (levels) | mean (levels) |');
  rows.push('| --- | --- | --- | --- | --- | --- | --- |');
  const summary: string[] = ['| preset | engine | worst max (levels) | mean of mean (levels) |', '| --- | --- | --- | --- |'];
  for (const [refName, presetName] of REFS) {
    for (const crop of presetName === 'hf' ? (['floor', 'round'] as const) : (['round'] as const)) {
      const spec: PresetSpec = { ...PRESETS[presetName], cropRounding: crop };
      const label = presetName === 'hf' ? `${presetName} (crop ${crop})` : presetName;
      for (const v of VARIANTS) {
        let worst = 0, meanSum = 0;
        for (const image of IMAGES) {
          const ref = refs.get(`${image}:${refName}`);
          if (!ref) throw new Error(`reference ${image}:${refName} missing`);
          const ours = await v.run(join(fixtures, 'images', image), spec);
          const d = diff(ours, ref.data, spec.std);
          worst = Math.max(worst, d.maxLv);
          meanSum += d.meanLv;
          rows.push(`| ${label} | ${v.name} | ${image} | ${d.max.toFixed(4)} | ${d.mean.toFixed(5)} | ${d.maxLv.toFixed(1)} | ${d.meanLv.toFixed(3)} |`);
        }
        summary.push(`| ${label} | ${v.name} | ${worst.toFixed(1)} | ${(meanSum / IMAGES.length).toFixed(3)} |`);
      }
    }
  }
  console.log('## Summary (over the three photos)\n');
  console.log(summary.join('\n'));
  console.log('\n## Per image\n');
  console.log(rows.join('\n'));

  // Decode-only check: how far is the decoded full-size image from itself across engines? (timing)
  console.log('\n## Time per image (ms, one at a time, torchvision-v1)\n');
  console.log('| engine | ' + IMAGES.join(' | ') + ' |');
  console.log('| --- |' + IMAGES.map(() => ' --- |').join(''));
  for (const v of VARIANTS) {
    const cells: string[] = [];
    for (const image of IMAGES) {
      const f = join(fixtures, 'images', image);
      await v.run(f, PRESETS['torchvision-v1']); // warm up
      const reps = 10;
      const t0 = performance.now();
      for (let r = 0; r < reps; r++) await v.run(f, PRESETS['torchvision-v1']);
      cells.push(((performance.now() - t0) / reps).toFixed(1));
    }
    console.log(`| ${v.name} | ${cells.join(' | ')} |`);
  }
  const t0 = performance.now();
  for (const image of IMAGES) await decodeRgb(join(fixtures, 'images', image));
  console.log(`\n(decode only, three photos: ${(performance.now() - t0).toFixed(1)} ms)`);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
