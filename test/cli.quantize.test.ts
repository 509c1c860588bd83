// `mobilenetv2 quantize` and the int8 file through predict / embed / eval / run, as a user runs
// them: the real Coral weights, calibration on half of the real photos, predictions on the other
// half; exported .onnx files as --weights; and the CLI contract for mistakes (one line, stable
// exit codes).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertOneLine, assertUsage, cli, freshDir } from './helpers/cli.js';
import { photoFolds, PHOTOS, REAL_WEIGHTS } from './helpers/views.js';
import { readSafetensors } from '../src/weights/safetensors.js';
import { readFileSync } from 'node:fs';

let work: string;
const [calib, held] = photoFolds();

before(() => {
  work = freshDir();
  mkdirSync(join(work, 'calib'));
  for (const p of calib) copyFileSync(p, join(work, 'calib', p.split('/').pop()!));
});

type Top = { file: string; top: { index: number }[] };
const tops = (stdout: string) => stdout.trim().split('\n').map((l) => JSON.parse(l) as Top);

test('quantize --weights w.pth --calibration photos/ --onnx m.int8.onnx, then predict with it: the fp32 answers on the other photos, from a file a quarter the size', () => {
  const q = cli(['quantize', '--weights', REAL_WEIGHTS, '--calibration', 'calib', '--onnx', 'm.int8.onnx'], work, 120_000);
  assert.equal(q.code, 0, q.stderr);
  assert.match(q.stderr, /^calibrating on 8 images at 224x224 \(mse, per-channel weights, uint8 activations\)\n/);
  assert.match(q.stderr, /wrote m\.int8\.onnx \(3\.\d\d MB; 52 int8 convs, 64 activation grids from 8 images\)/);
  const size = statSync(join(work, 'm.int8.onnx')).size;
  assert.ok(size < 4e6 && size < 0.3 * statSync(REAL_WEIGHTS).size, `${size} bytes`);
  const a = cli(['predict', ...held, '--weights', 'm.int8.onnx', '--json', '--topk', '1'], work);
  const b = cli(['predict', ...held, '--weights', REAL_WEIGHTS, '--json', '--topk', '1'], work);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(a.stderr, '');
  const same = tops(a.stdout).filter((t, i) => t.top[0]!.index === tops(b.stdout)[i]!.top[0]!.index).length;
  console.log(`# CLI: int8 top-1 = fp32 top-1 on ${same} of ${held.length} held-out photos`);
  assert.ok(same >= held.length - 1, `${same} of ${held.length}`);
});

test('embed takes the int8 file; predict takes an fp32 export and gives the .pth top-3', () => {
  assert.ok(existsSync(join(work, 'm.int8.onnx')));
  const e = cli(['embed', held[0]!, held[1]!, '--weights', 'm.int8.onnx', '--out', 'v.safetensors'], work);
  assert.equal(e.code, 0, e.stderr);
  assert.deepEqual(readSafetensors(readFileSync(join(work, 'v.safetensors')), 'v').tensors.get('embeddings')!.shape, [2, 1280]);
  const x = cli(['export', '--weights', REAL_WEIGHTS, '--onnx', 'm.onnx'], work);
  assert.equal(x.code, 0, x.stderr);
  const p = cli(['predict', held[0]!, '--weights', 'm.onnx', '--json', '--topk', '3'], work);
  const r = cli(['predict', held[0]!, '--weights', REAL_WEIGHTS, '--json', '--topk', '3'], work);
  assert.deepEqual(tops(p.stdout)[0]!.top.map((t) => t.index), tops(r.stdout)[0]!.top.map((t) => t.index));
});

test('quantize options: --images picks evenly, --method percentile --percentile, --activations int8; predict runs the file', () => {
  const q = cli(['quantize', '--weights', REAL_WEIGHTS, '--calibration', ...PHOTOS, '--images', '4', '--method', 'percentile', '--percentile', '99.9', '--activations', 'int8', '--onnx', 'p.onnx'], work, 120_000);
  assert.equal(q.code, 0, q.stderr);
  assert.match(q.stderr, /calibrating on 4 images at 224x224 \(percentile 99\.9, per-channel weights, int8 activations\)/);
  const p = cli(['predict', held[0]!, '--weights', 'p.onnx', '--json'], work);
  assert.equal(p.code, 0, p.stderr);
});

test('CLI contract: mistakes are one line and a stable exit code', () => {
  const d = freshDir();
  writeFileSync(join(d, 'bad.jpg'), 'not an image');
  mkdirSync(join(d, 'empty'));
  // usage (2)
  assertUsage(cli(['quantize', '--weights', REAL_WEIGHTS, '--onnx', 'o.onnx'], d), '--calibration');
  assertUsage(cli(['quantize', '--weights', REAL_WEIGHTS, '--calibration', held[0]!], d), '--onnx');
  assertUsage(cli(['quantize', '--weights', REAL_WEIGHTS, '--calibration', held[0]!, '--onnx', 'o.onnx', '--method', 'kl'], d), '--method', 'minmax, percentile, entropy, mse');
  assertUsage(cli(['quantize', '--weights', REAL_WEIGHTS, '--calibration', held[0]!, '--onnx', 'o.onnx', '--percentile', '20'], d), '--percentile');
  // a file that cannot be used (3)
  assertOneLine(cli(['quantize', '--weights', REAL_WEIGHTS, '--calibration', 'empty', '--onnx', 'o.onnx'], d), 3, 'empty', 'no images');
  assertOneLine(cli(['quantize', '--weights', 'nope.pth', '--calibration', held[0]!, '--onnx', 'o.onnx'], d), 3, 'nope.pth', 'no such file');
  assertOneLine(cli(['quantize', '--weights', join(work, 'm.int8.onnx'), '--calibration', held[0]!, '--onnx', 'o.onnx'], d), 3, 'm.int8.onnx', 'an ONNX graph');
  assertOneLine(cli(['quantize', '--weights', REAL_WEIGHTS, '--calibration', 'bad.jpg', '--onnx', 'o.onnx'], d), 3, 'bad.jpg');
  assertOneLine(cli(['quantize', '--weights', REAL_WEIGHTS, '--calibration', held[0]!, '--onnx', 'no/such/dir/o.onnx'], d), 3, 'no/such/dir');
  assertOneLine(cli(['predict', held[0]!, '--weights', join(work, 'm.int8.onnx'), '--input-size', '160'], d), 3, 'm.int8.onnx', '--input-size 160', '224x224');
  assertOneLine(cli(['export', '--weights', join(work, 'm.int8.onnx'), '--onnx', 'x.onnx'], d), 3, 'm.int8.onnx', 'not a state dict');
  writeFileSync(join(d, 'cut.onnx'), readFileSync(join(work, 'm.int8.onnx')).subarray(0, 4000));
  assertOneLine(cli(['predict', held[0]!, '--weights', 'cut.onnx'], d), 3, 'cut.onnx');
  assert.ok(!existsSync(join(d, 'o.onnx')), 'nothing written on failure');
  // some calibration images unreadable: the others calibrate, the file is written, exit 5
  const r = cli(['quantize', '--weights', REAL_WEIGHTS, '--calibration', held[0]!, 'bad.jpg', '--onnx', 'o.onnx'], d, 120_000);
  assert.equal(r.code, 5, r.stderr);
  assert.match(r.stderr, /mobilenetv2: bad\.jpg: not an image/);
  assert.match(r.stderr, /mobilenetv2: 1 of 2 calibration images could not be read\n$/);
  assert.ok(existsSync(join(d, 'o.onnx')));
});
