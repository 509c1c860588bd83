// RandomResizedCrop + flip + ToTensor + Normalize against torchvision (Debian's python3 with
// torchvision 0.14 runs on the same PNG: checks skipped when it is not importable), the crop
// parameters' bounds and their dependence on (seed, epoch, index) only.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { drawTrainParams, evalTransform, randomResizedCropParams, trainTransform, type CropBox,  } from '../src/data/augment.js';
import { mixSeed, sampleGenerator } from '../src/random.js';
import { decodeRgb } from '../src/platform/node/image.js';
import { Generator } from '../src/random.js';

const PYTHON = '/usr/bin/python3';
const HAS_TORCHVISION = spawnSync(PYTHON, ['-c', 'import torchvision'], { encoding: 'utf8' }).status === 0;

test('mixSeed: deterministic, and every word matters', () => {
  assert.equal(mixSeed(1, 2, 3), mixSeed(1, 2, 3));
  const seen = new Set<number>();
  for (let s = 0; s < 4; s++) for (let e = 0; e < 4; e++) for (let i = 0; i < 4; i++) seen.add(mixSeed(s, e, i));
  assert.equal(seen.size, 64);
  assert.notEqual(mixSeed(1, 2 ** 32), mixSeed(1, 0), 'high bits count');
  assert.throws(() => mixSeed(-1), RangeError);
});

test('RandomResizedCrop params stay within the image and the scale/ratio bounds, and span them', () => {
  const [H, W] = [200, 300];
  let minArea = 1, maxArea = 0, minRatio = 10, maxRatio = 0;
  for (let i = 0; i < 3000; i++) {
    const b = randomResizedCropParams(H, W, sampleGenerator(5, 0, i));
    assert.ok(b.top >= 0 && b.left >= 0 && b.top + b.height <= H && b.left + b.width <= W, JSON.stringify(b));
    const area = (b.width * b.height) / (H * W);
    const ratio = b.width / b.height;
    // w and h are rounded to integers (sides >= 60 px here): 2% slack on each bound.
    assert.ok(area >= 0.08 * 0.98 && area <= 1.0 * 1.02, `area fraction ${area}`);
    assert.ok(ratio >= 0.75 * 0.98 && ratio <= (4 / 3) * 1.02, `ratio ${ratio}`);
    minArea = Math.min(minArea, area); maxArea = Math.max(maxArea, area);
    minRatio = Math.min(minRatio, ratio); maxRatio = Math.max(maxRatio, ratio);
  }
  assert.ok(minArea < 0.1 && maxArea > 0.6, `areas span [${minArea}, ${maxArea}]`);
  assert.ok(minRatio < 0.78 && maxRatio > 1.28, `ratios span [${minRatio}, ${maxRatio}]`);
  assert.throws(() => randomResizedCropParams(H, W, new Generator(0), { scale: [0.5, 0.1] }), RangeError);
  assert.throws(() => randomResizedCropParams(H, W, new Generator(0), { ratio: [0, 1] }), RangeError);
});

test('a sample\'s draws depend only on (seed, epoch, index); flips happen about half the time', () => {
  const opts = { size: 32 };
  const draw = (s: number, e: number, i: number) => drawTrainParams(120, 90, sampleGenerator(s, e, i), opts);
  assert.deepEqual(draw(3, 1, 17), draw(3, 1, 17));
  const distinct = (f: (k: number) => unknown) => new Set(Array.from({ length: 20 }, (_, k) => JSON.stringify(f(k)))).size;
  assert.ok(distinct((k) => draw(k, 1, 17)) >= 19, 'seed changes the draw');
  assert.ok(distinct((k) => draw(3, k, 17)) >= 19, 'epoch changes the draw');
  assert.ok(distinct((k) => draw(3, 1, k)) >= 19, 'index changes the draw');
  let flips = 0;
  const n = 4000;
  for (let i = 0; i < n; i++) if (draw(0, 0, i).flip) flips++;
  // Binomial(4000, 0.5): sd ~ 32; 0.46..0.54 is more than 5 sd either way.
  assert.ok(flips / n > 0.46 && flips / n < 0.54, `flip rate ${flips / n}`);
  assert.ok(Array.from({ length: 200 }, (_, i) => drawTrainParams(120, 90, sampleGenerator(0, 0, i), { size: 32, flip: 0 }).flip).every((f) => !f));
});

function python(code: string, ...args: string[]): string {
  const r = spawnSync(PYTHON, ['-c', code, ...args], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

test('fallback central crop equals torchvision get_params when no try fits', { skip: !HAS_TORCHVISION && 'torchvision not importable' }, () => {
  // scale (2, 3) never fits, so all 10 tries fail and get_params takes its fallback branch.
  const shapes: [number, number][] = [[100, 30], [30, 100], [50, 60], [61, 47], [7, 200], [200, 7], [99, 131]];
  const ref = JSON.parse(
    python(
      [
        'import sys, json, torch',
        'from torchvision.transforms import RandomResizedCrop',
        'out = []',
        'for h, w in json.loads(sys.argv[1]):',
        '    out.append(RandomResizedCrop.get_params(torch.zeros(3, h, w), [2.0, 3.0], [3 / 4, 4 / 3]))',
        'print(json.dumps(out))',
      ].join('\n'),
      JSON.stringify(shapes),
    ),
  ) as [number, number, number, number][];
  shapes.forEach(([h, w], k) => {
    const b = randomResizedCropParams(h, w, new Generator(k), { scale: [2, 3] });
    assert.deepEqual([b.top, b.left, b.height, b.width], ref[k], `image ${h}x${w}`);
  });
});

test('the fallback keeps the ratio in range (hand-checked case)', () => {
  // 100 wide x 30 high: ratio 3.33 > 4/3, so h = 30, w = round(30 * 4/3) = 40, centered.
  assert.deepEqual(randomResizedCropParams(30, 100, new Generator(0), { scale: [2, 3] }), { top: 0, left: 30, height: 30, width: 40 });
});

test('train and eval transforms equal torchvision on the same PNG (bit-exact within 1e-6)', { skip: !HAS_TORCHVISION && 'torchvision not importable' }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mnv2-augment-'));
  try {
    // A 53 x 37 RGB image with smooth structure plus noise (lossless PNG: both sides decode the same pixels).
    const [W, H] = [53, 37];
    const g = new Generator(11);
    const px = new Uint8Array(W * H * 3); // (H, W, 3)
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) for (let c = 0; c < 3; c++) {
      px[(y * W + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(128 + 90 * Math.sin((x * (c + 1)) / 7 + y / 5) + 20 * g.normal())));
    }
    const png = join(dir, 'img.png');
    await sharp(px, { raw: { width: W, height: H, channels: 3 } }).png().toFile(png);
    const img = await decodeRgb(png);

    const size = 24;
    const tr = trainTransform({ size });
    const cases: { box: CropBox; flip: boolean }[] = [];
    const ours: Float32Array[] = [];
    for (let i = 0; cases.length < 6; i++) {
      const gen = sampleGenerator(9, 0, i);
      const state = gen.getState();
      const d = drawTrainParams(H, W, gen, { size });
      // alternate flipped and unflipped samples
      if ((cases.length % 2 === 0) === d.flip) {
        gen.setState(state);
        cases.push(d);
        ours.push(tr.apply(img, gen));
      }
    }
    const evalSize = 20; // torchvision-v1 at S = 20: Resize(round(20 * 256 / 224) = 23), CenterCrop(20)
    ours.push(evalTransform({ size: evalSize }).apply(img, new Generator(0)));

    const outFile = join(dir, 'ref.f32');
    python(
      [
        'import sys, json, numpy as np, torch',
        'from PIL import Image',
        'import torchvision.transforms.functional as F',
        'from torchvision import transforms as T',
        "img = Image.open(sys.argv[1]).convert('RGB')",
        'cases, size, eval_size = json.loads(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])',
        'norm = T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])',
        'outs = []',
        'for c in cases:',
        "    b = c['box']",
        "    x = F.resized_crop(img, b['top'], b['left'], b['height'], b['width'], [size, size], T.InterpolationMode.BILINEAR)",
        "    if c['flip']: x = F.hflip(x)",
        '    outs.append(norm(F.to_tensor(x)).numpy().ravel())',
        'ev = T.Compose([T.Resize(23), T.CenterCrop(eval_size), T.ToTensor(), norm])',
        'outs.append(ev(img).numpy().ravel())',
        "np.concatenate(outs).astype('<f4').tofile(sys.argv[5])",
      ].join('\n'),
      png,
      JSON.stringify(cases),
      String(size),
      String(evalSize),
      outFile,
    );
    const buf = readFileSync(outFile);
    const ref = new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4);
    let off = 0;
    ours.forEach((o, k) => {
      let max = 0;
      for (let i = 0; i < o.length; i++) max = Math.max(max, Math.abs(o[i]! - ref[off + i]!));
      assert.ok(max <= 1e-6, `case ${k} (${JSON.stringify(cases[k] ?? 'eval')}): max |diff| ${max}`);
      off += o.length;
    });
    assert.equal(off, ref.length);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('BAD CALL - transform options', () => {
  assert.throws(() => trainTransform({ size: 0 }), RangeError);
  assert.throws(() => trainTransform({ size: 8, flip: 2 }), RangeError);
  assert.throws(() => trainTransform({ size: 8, scale: [0, 1] }), RangeError);
  assert.throws(() => evalTransform({ size: 1.5 }), RangeError);
});
