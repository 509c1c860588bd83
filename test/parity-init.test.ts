// The TypeScript parity fill must reproduce, bit for bit, the tensors tools/gen_fixtures.py
// wrote with numpy (fill_samples.safetensors, inputs.safetensors).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { float32, int64, type StateDict } from '../src/tensor.js';
import { fixturePath, fnv1a32, parityFill, parityStateDict, readFixtureSafetensors } from './helpers/parity.js';

function assertBitEqual(actual: Float32Array, expected: Float32Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  const a = new Uint32Array(actual.buffer, actual.byteOffset, actual.length);
  const e = new Uint32Array(expected.buffer, expected.byteOffset, expected.length);
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== e[i]) assert.fail(`${what}[${i}]: got ${actual[i]}, PyTorch side wrote ${expected[i]}`);
  }
}

test('fnv1a32 matches the published FNV-1a test vectors', () => {
  assert.equal(fnv1a32(''), 0x811c9dc5);
  assert.equal(fnv1a32('a'), 0xe40c292c);
  assert.equal(fnv1a32('foobar'), 0xbf9cf968);
});

test('parityFill equals the numpy fill for every sample tensor (one per rule, a non-ASCII key)', () => {
  const { tensors } = readFixtureSafetensors(fixturePath('parity', 'fill_samples.safetensors'));
  assert.ok(tensors.size >= 10);
  for (const [key, t] of tensors) {
    assertBitEqual(parityFill(key, t.shape), t.data as Float32Array, key);
  }
});

test('parityFill equals the stored inputs input_64 and input_97', () => {
  const { tensors } = readFixtureSafetensors(fixturePath('parity', 'inputs.safetensors'));
  assert.deepEqual([...tensors.keys()], ['input_64', 'input_97']);
  assert.deepEqual(tensors.get('input_64')!.shape, [2, 3, 64, 64]);
  for (const [key, t] of tensors) assertBitEqual(parityFill(key, t.shape), t.data as Float32Array, key);
});

test('parityStateDict keeps keys, order and shapes of a case from cases.json, copies int64', () => {
  const cases = JSON.parse(readFileSync(fixturePath('parity', 'cases.json'), 'utf8')) as {
    cases: { name: string; state_dict: [string, 'F32' | 'I64', number[]][] }[];
  };
  const c = cases.cases.find((x) => x.name === 'a1.0_c10_seed')!;
  const sd: StateDict = new Map();
  for (const [key, dtype, shape] of c.state_dict) {
    sd.set(key, dtype === 'F32' ? float32(shape) : int64(shape, [7n]));
  }
  const filled = parityStateDict(sd);
  assert.deepEqual([...filled.keys()], [...sd.keys()]);
  for (const [key, t] of sd) {
    const f = filled.get(key)!;
    assert.equal(f.dtype, t.dtype, key);
    assert.deepEqual(f.shape, t.shape, key);
    assert.notEqual(f.data, t.data, `${key}: must be a new array`);
  }
  const nbt = filled.get('features.0.1.num_batches_tracked')!;
  assert.deepEqual([...(nbt.data as BigInt64Array)], [7n]);
  const { tensors } = readFixtureSafetensors(fixturePath('parity', 'fill_samples.safetensors'));
  for (const key of ['features.0.0.weight', 'features.0.1.running_var', 'classifier.1.weight']) {
    assertBitEqual(filled.get(key)!.data as Float32Array, tensors.get(key)!.data as Float32Array, key);
  }
});

test('parityFill rejects a tensor it has no rule for, naming the key', () => {
  assert.throws(() => parityFill('features.0.1.scale', [4]), /no rule for key "features\.0\.1\.scale" with shape \[4\]/);
  assert.throws(() => parityFill('features.0.0.weight', [2, 3, 4]), /no rule/);
});
