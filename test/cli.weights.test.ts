// Weights the user gives the CLI, through `run` and `predict`: a missing file, a truncated .pth,
// another width than --alpha says, an unknown registry name. Each is one line and an exit code;
// nothing is downloaded (the cache is an empty temporary folder) and no output is left behind.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MobileNetV2 } from '../src/models/mobilenetv2.js';
import { float32 } from '../src/tensor.js';
import { writePth } from '../src/weights/pth.js';
import { writeSafetensors } from '../src/weights/safetensors.js';
import { fixturePath } from './helpers/parity.js';
import { cli, assertOneLine, freshDir, scratch } from './helpers/cli.js';

/** Bytes of w05.pth: a seeded MobileNetV2 0.5 with 10 classes, as torch.save's zip format. */
let w05: Uint8Array;
/** Folder holding in.safetensors (input 1 x 3 x 32 x 32) and face.jpg. */
let data: string;
before(() => {
  w05 = writePth(new MobileNetV2({ alpha: 0.5, numClasses: 10, lastChannel: 'seed', seed: 0 }).stateDict());
  data = freshDir();
  writeFileSync(join(data, 'in.safetensors'), writeSafetensors(new Map([['input', float32([1, 3, 32, 32])]])));
  copyFileSync(fixturePath('images', 'face.jpg'), join(data, 'face.jpg'));
});

const runArgs = (weights: string, ...more: string[]) => ['run', '--weights', weights, '--input', join(data, 'in.safetensors'), '--output', 'out.safetensors', ...more];

test('BAD CALL - run --weights nope.pth (missing) is exit 3: "nope.pth: no such file"', () => {
  const cwd = freshDir();
  const line = assertOneLine(cli(runArgs('nope.pth'), cwd), 3);
  assert.equal(line, 'mobilenetv2: nope.pth: no such file');
  assert.deepEqual(readdirSync(cwd), []);
});

test('BAD CALL - run with a truncated .pth (its first 1000 bytes) is exit 3 naming it, and leaves no output or temporary file', () => {
  const cwd = freshDir();
  writeFileSync(join(cwd, 'cut.pth'), w05.subarray(0, 1000));
  assertOneLine(cli(runArgs('cut.pth'), cwd), 3, 'cut.pth');
  assert.deepEqual(readdirSync(cwd), ['cut.pth']);
});

test('BAD CALL - predict with a .pth of width 0.5 and --alpha 1.0 is exit 3, one line naming the file and the mismatch', () => {
  const cwd = freshDir();
  writeFileSync(join(cwd, 'w05.pth'), w05);
  const line = assertOneLine(cli(['predict', join(data, 'face.jpg'), '--weights', 'w05.pth', '--alpha', '1.0'], cwd), 3, 'w05.pth', 'features.0.0.weight');
  assert.ok(line.includes('[16, 3, 3, 3]') && line.includes('[32, 3, 3, 3]'), line);
});

test('BAD CALL - run --weights IMAGENET1K_V9 (no such registry name) is exit 2 listing the valid names', () => {
  const cwd = freshDir();
  assertOneLine(cli(runArgs('IMAGENET1K_V9'), cwd), 2, 'IMAGENET1K_V9', 'IMAGENET1K_V1', 'IMAGENET1K_V2');
  assert.deepEqual(readdirSync(cwd), []);
  assert.deepEqual(readdirSync(scratch).filter((f) => f === 'cache'), [], 'nothing downloaded, no cache folder made');
});

// Corrupt and hostile files (test/weights.hostile.test.ts has the library side): exit 3 and one
// line, never "this looks like a bug" and a trace; and no hang.

/** state_dict_legacy.pth with the BININT1 at byte 288 turned into INT: decimal text over binary opcodes. */
function corruptLegacy(): Uint8Array {
  const b = new Uint8Array(readFileSync(fixturePath('pth', 'state_dict_legacy.pth')));
  assert.equal(b[288], 0x4b);
  b[288] = 0x49;
  return b;
}

test('BAD FILE - predict --weights corrupt.pth (BigInt() of garbage, was exit 1 and a trace) is exit 3, one line naming the file', () => {
  const cwd = freshDir();
  writeFileSync(join(cwd, 'corrupt.pth'), corruptLegacy());
  const line = assertOneLine(cli(['predict', join(data, 'face.jpg'), '--weights', 'corrupt.pth'], cwd), 3, 'corrupt.pth');
  assert.match(line, /^mobilenetv2: corrupt\.pth: corrupt pickle: INT ".*" at offset 288 is not an integer$/);
});

test('BAD FILE - run --weights with a 1 MB LONG4 integer (minutes of BigInt shifts before) answers in seconds, exit 3', () => {
  const cwd = freshDir();
  const n = 1 << 20;
  const long = new Uint8Array(3 + 5 + n + 1);
  long.set([0x80, 0x02, 0x8b, n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, 0]);
  long.fill(0x5a, 7, 7 + n);
  long[7 + n] = 0x2e;
  writeFileSync(join(cwd, 'long.pth'), long);
  const t0 = performance.now();
  assertOneLine(cli(runArgs('long.pth'), cwd, 30_000), 3, 'long.pth', 'PyTorch magic number');
  assert.ok(performance.now() - t0 < 30_000);
});
