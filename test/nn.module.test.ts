// The Module system: state-dict order and loading rules (as torch's load_state_dict), modes, init.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MobileNetV2, makeDivisible, mobilenetV2x25, mobilenetV2x50, mobilenetV2x75, mobilenetV2x100, InvertedResidual } from '../src/models/mobilenetv2.js';
import { configFromStateDict } from '../src/models/config.js';
import { float32 } from '../src/tensor.js';

test('makeDivisible matches the seed: nearest multiple, never 10% below', () => {
  // values computed by the seed's _make_divisible in Python
  assert.equal(makeDivisible(32 * 0.35), 16); // 11.2 -> 8 is < 0.9 * 11.2 -> 16
  assert.equal(makeDivisible(32 * 0.25), 8);
  assert.equal(makeDivisible(1280 * 0.75), 960);
  assert.equal(makeDivisible(24 * 1.4), 32); // 33.6 -> 32
  assert.equal(makeDivisible(3), 8);
});

test('the seed factories scale the last channel; paper mode keeps 1280', () => {
  assert.deepEqual([mobilenetV2x25(), mobilenetV2x50(), mobilenetV2x75(), mobilenetV2x100()].map((m) => m.lastChannel), [320, 640, 960, 1280]);
  assert.equal(new MobileNetV2({ alpha: 0.5, lastChannel: 'paper' }).lastChannel, 1280);
  assert.equal(new MobileNetV2({ alpha: 1.4, lastChannel: 'paper' }).lastChannel, 1792);
});

test('inverted residual blocks: shortcut iff stride 1 and same width; t=1 has no expansion', () => {
  const m = new MobileNetV2();
  const blocks = [...m.features.children.values()].filter((b): b is InvertedResidual => b instanceof InvertedResidual);
  assert.equal(blocks.length, 17);
  assert.deepEqual(blocks.map((b) => (b.useShortcut ? 1 : 0)).join(''), '00101101110110110');
  assert.equal(blocks[0]!.conv.children.size, 3); // dw, pw-linear conv, BN
  assert.equal(blocks[1]!.conv.children.size, 4); // pw, dw, pw-linear conv, BN
});

test('a reduced architecture table builds the network it describes', () => {
  const m = new MobileNetV2({ alpha: 1.0, numClasses: 3 }, [
    [1, 16, 1, 1],
    [6, 24, 2, 2],
  ]);
  const keys = [...m.stateDict().keys()];
  assert.equal(m.features.children.size, 1 + 3 + 1);
  assert.ok(keys.includes('features.3.conv.2.weight'));
  assert.deepEqual(m.stateDict().get('features.4.0.weight')!.shape, [1280, 24, 1, 1]);
});

test('same seed, same weights; another seed, other weights', () => {
  const a = new MobileNetV2({ alpha: 0.25, seed: 7 }).stateDict().get('features.2.conv.1.0.weight')!.data;
  const b = new MobileNetV2({ alpha: 0.25, seed: 7 }).stateDict().get('features.2.conv.1.0.weight')!.data;
  const c = new MobileNetV2({ alpha: 0.25, seed: 8 }).stateDict().get('features.2.conv.1.0.weight')!.data;
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
});

test('train()/eval() reach every module', () => {
  const m = new MobileNetV2({ alpha: 0.25 }).eval();
  assert.ok([...m.namedModules()].every(([, x]) => !x.training));
  m.train();
  assert.ok([...m.namedModules()].every(([, x]) => x.training));
});

test('loadStateDict copies values; strict=false tolerates missing and unexpected keys', () => {
  const src = new MobileNetV2({ alpha: 0.25, numClasses: 10, seed: 1 });
  const dst = new MobileNetV2({ alpha: 0.25, numClasses: 10, seed: 2 });
  dst.loadStateDict(src.stateDict());
  assert.deepEqual(dst.stateDict().get('classifier.1.weight')!.data, src.stateDict().get('classifier.1.weight')!.data);
  const partial = new Map(src.stateDict());
  partial.delete('classifier.1.bias');
  partial.set('extra.weight', float32([1]));
  const r = dst.loadStateDict(partial, false);
  assert.deepEqual(r.missing, ['classifier.1.bias']);
  assert.deepEqual(r.unexpected, ['extra.weight']);
});

test('BAD CALL - loadStateDict strict: missing, unexpected and mis-shaped keys are named', () => {
  const m = new MobileNetV2({ alpha: 0.25, numClasses: 10 });
  const sd = new Map(m.stateDict());
  sd.delete('features.0.0.weight');
  assert.throws(() => m.loadStateDict(sd), /missing 1 key\(s\): features\.0\.0\.weight/);
  const other = new MobileNetV2({ alpha: 0.25, numClasses: 5 }).stateDict();
  assert.throws(() => m.loadStateDict(other), /size mismatch for classifier\.1\.weight: checkpoint has \[5, 320\], model has \[10, 320\]/);
});

test('BAD CALL - constructor validates its arguments', () => {
  assert.throws(() => new MobileNetV2({ alpha: 0 }), RangeError);
  assert.throws(() => new MobileNetV2({ numClasses: 0 }), /numClasses must be an integer >= 1/);
  assert.throws(() => new MobileNetV2({ lastChannel: 'keras' as never }), /lastChannel must be 'seed' or 'paper'/);
  assert.throws(() => new MobileNetV2({ channelRule: 'tfjs' as never }), /channelRule must be 'torchvision', 'hf', 'keras', got tfjs/);
  // torchvision's check of the table: non-empty, four numbers a row
  assert.throws(() => new MobileNetV2({}, []), /inverted residual setting must be a non-empty list of \[t, c, n, s\] rows/);
  assert.throws(() => new MobileNetV2({}, [[1, 16, 1]] as never), /inverted residual setting/);
  assert.throws(() => new MobileNetV2({}, [[1, 16, 0, 1]]), /inverted residual setting/);
  // a reduced table builds (the STYLE's test on a reduced table)
  const small = new MobileNetV2({ numClasses: 4 }, [[1, 16, 1, 1], [6, 24, 1, 2]]);
  assert.equal(small.features.children.size, 4, 'stem, two blocks, last conv');
});

test('configFromStateDict reads alpha, classes and the last-channel rule off a checkpoint', () => {
  for (const [alpha, lastChannel, numClasses] of [[0.35, 'paper', 1000], [0.5, 'seed', 10], [1.4, 'seed', 3], [0.75, 'paper', 7]] as const) {
    const sd = new MobileNetV2({ alpha, lastChannel, numClasses }).stateDict();
    assert.deepEqual(configFromStateDict(sd), { alpha, lastChannel, numClasses });
  }
});
