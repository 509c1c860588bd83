// safetensors against files the real `safetensors` library wrote (a small one committed, the
// model files of ../shared when present), a round trip through our writer, every float dtype
// decoded exactly, and one-line `<file>: <problem>` errors for truncated or malformed files.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { float32, int64, numel, type StateDict } from '../src/tensor.js';
import { looksLikeSafetensors, readSafetensors, writeSafetensors } from '../src/weights/safetensors.js';
import { assertOneLineError } from './helpers/errors.js';

const fixture = (p: string): string => fileURLToPath(new URL(`../../test/fixtures/${p}`, import.meta.url));
const SHARED = fileURLToPath(new URL('../../../shared/fixtures/', import.meta.url));

function assertSameStateDict(a: StateDict, b: StateDict): void {
  assert.deepEqual([...a.keys()], [...b.keys()]);
  for (const [k, t] of a) {
    const u = b.get(k)!;
    assert.equal(u.dtype, t.dtype, k);
    assert.deepEqual(u.shape, t.shape, k);
    assert.deepEqual(u.data, t.data, k);
  }
}

/** Build a file by hand: header object + raw data bytes. */
function handmade(header: unknown, data: Uint8Array, pad = true): Uint8Array {
  let json = new TextEncoder().encode(JSON.stringify(header));
  if (pad && json.length % 8) json = new TextEncoder().encode(JSON.stringify(header) + ' '.repeat(8 - (json.length % 8)));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

test('reads a file written by the safetensors library (committed timm io.safetensors)', () => {
  const bytes = readFileSync(fixture('safetensors/timm_io.safetensors'));
  assert.ok(looksLikeSafetensors(bytes));
  const { tensors, metadata } = readSafetensors(bytes, 'timm_io.safetensors');
  assert.deepEqual(metadata, {});
  assert.deepEqual([...tensors.keys()].sort(), ['input_64', 'input_65', 'logits_64', 'logits_65']);
  assert.deepEqual(tensors.get('input_64')!.shape, [2, 3, 64, 64]);
  assert.deepEqual(tensors.get('input_65')!.shape, [2, 3, 65, 65]);
  assert.deepEqual(tensors.get('logits_65')!.shape, [2, 10]);
  // Every value decoded is the file's own bytes: compare against the data section directly.
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString()) as Record<string, { data_offsets: [number, number] }>;
  for (const [k, t] of tensors) {
    const [b, e] = header[k]!.data_offsets;
    assert.deepEqual(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), new Uint8Array(bytes.subarray(8 + n + b, 8 + n + e)), k);
    assert.ok((t.data as Float32Array).every(Number.isFinite), k);
  }
  assertSameStateDict(tensors, readSafetensors(writeSafetensors(tensors), 'again').tensors);
});

test('reads the model.safetensors that transformers wrote (../shared, hf_d0.35_96_c10)', (t) => {
  const file = `${SHARED}hf_d0.35_96_c10/model.safetensors`;
  if (!existsSync(file)) {
    t.skip(`SKIPPED: ${file} is absent (shared fixtures not checked out beside the repo)`);
    return;
  }
  const manifest = JSON.parse(readFileSync(`${SHARED}MANIFEST.json`, 'utf8')) as { cases: Record<string, { params: number }> };
  const { tensors, metadata } = readSafetensors(readFileSync(file), file);
  assert.deepEqual(metadata, { format: 'pt' });
  let params = 0;
  let buffers = 0;
  for (const [k, v] of tensors) {
    if (k.endsWith('num_batches_tracked')) {
      assert.equal(v.dtype, 'int64', k);
      assert.deepEqual(v.shape, [], k);
      buffers++;
    } else if (k.endsWith('running_mean') || k.endsWith('running_var')) {
      buffers++;
    } else {
      params += numel(v.shape);
    }
    if (v.dtype === 'float32') {
      // The fixtures hold bf16-representable values only: a misaligned read would break this.
      const bits = new Uint32Array(v.data.buffer, v.data.byteOffset, v.data.length);
      assert.ok(bits.every((b) => (b & 0xffff) === 0), `${k} is not bf16-representable: misread?`);
    }
  }
  assert.equal(params, manifest.cases['hf_d0.35_96_c10']!.params);
  assert.ok(buffers > 0);
  const again = readSafetensors(writeSafetensors(tensors, metadata), 'again');
  assertSameStateDict(tensors, again.tensors);
  assert.deepEqual(again.metadata, metadata);
});

test('reads io.safetensors that the reference wrote (../shared, hf_d0.35_96_c10)', (t) => {
  const file = `${SHARED}hf_d0.35_96_c10/io.safetensors`;
  if (!existsSync(file)) {
    t.skip(`SKIPPED: ${file} is absent (shared fixtures not checked out beside the repo)`);
    return;
  }
  const { tensors } = readSafetensors(readFileSync(file), file);
  assert.deepEqual(tensors.get('input_96')!.shape, [2, 3, 96, 96]);
  assert.deepEqual(tensors.get('input_97')!.shape, [2, 3, 97, 97]);
  assert.deepEqual(tensors.get('logits_96')!.shape, [2, 10]);
});

test('writer: header padded with spaces to 8 bytes, data in state-dict order, metadata kept', () => {
  const sd: StateDict = new Map([
    ['z.weight', float32([2, 3], [1, 2, 3, 4, 5, 6])],
    ['a.num_batches_tracked', int64([], [9007199254740993n])],
    ['m.bias', float32([3], [-0, Infinity, 1e-45])],
  ]);
  const bytes = writeSafetensors(sd, { format: 'pt', note: 'x' });
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal((8 + n) % 8, 0);
  const headerText = new TextDecoder().decode(bytes.subarray(8, 8 + n));
  assert.equal(headerText.trimEnd().length + (n - headerText.trimEnd().length), n);
  assert.match(headerText, /^\{.*\} *$/);
  const header = JSON.parse(headerText) as Record<string, { data_offsets: number[] }>;
  assert.deepEqual(header['z.weight']!.data_offsets, [0, 24]);
  assert.deepEqual(header['a.num_batches_tracked']!.data_offsets, [24, 32]);
  const back = readSafetensors(bytes, 'mem');
  assert.deepEqual(back.metadata, { format: 'pt', note: 'x' });
  assertSameStateDict(sd, back.tensors);
  assert.ok(Object.is(back.tensors.get('m.bias')!.data[0], -0));
});

test('F16, BF16 and F64 widen to float32 exactly (F64 rounds to nearest)', () => {
  const f16 = new Uint16Array([0x3c00, 0x0001, 0x7bff, 0x8000, 0x7c00, 0xfc00, 0x3555]);
  const bf16 = new Uint16Array([0x3f80, 0xc0a0, 0x0001, 0x7f80]);
  const f64 = new Float64Array([1 / 3, 1e300, -2.5e-40, 0.1]);
  const data = new Uint8Array(f16.byteLength + bf16.byteLength + f64.byteLength + 2);
  // F64 first so it stays 8-aligned in the data section; the others follow.
  data.set(new Uint8Array(f64.buffer), 0);
  data.set(new Uint8Array(f16.buffer), 32);
  data.set(new Uint8Array(bf16.buffer), 46);
  const file = handmade({
    d: { dtype: 'F64', shape: [4], data_offsets: [0, 32] },
    h: { dtype: 'F16', shape: [7], data_offsets: [32, 46] },
    b: { dtype: 'BF16', shape: [2, 2], data_offsets: [46, 54] },
    i: { dtype: 'I64', shape: [0], data_offsets: [54, 54] },
    e: { dtype: 'F32', shape: [0, 3], data_offsets: [54, 54] },
    u: { dtype: 'U8', shape: [2], data_offsets: [54, 56] },
  }, data);
  // U8 is refused, by name.
  assertOneLineError(() => readSafetensors(file, 'mixed.safetensors'), 'mixed.safetensors', /tensor "u": dtype U8 is not supported/);
  const ok = handmade({
    d: { dtype: 'F64', shape: [4], data_offsets: [0, 32] },
    h: { dtype: 'F16', shape: [7], data_offsets: [32, 46] },
    b: { dtype: 'BF16', shape: [2, 2], data_offsets: [46, 54] },
    e: { dtype: 'F32', shape: [0, 3], data_offsets: [54, 54] },
  }, data.subarray(0, 54));
  const { tensors } = readSafetensors(ok, 'ok');
  assert.deepEqual([...tensors.get('d')!.data], [...f64].map(Math.fround));
  assert.deepEqual([...tensors.get('h')!.data], [1, 2 ** -24, 65504, -0, Infinity, -Infinity, 0.333251953125]);
  assert.ok(Object.is(tensors.get('h')!.data[3], -0));
  assert.deepEqual([...tensors.get('b')!.data], [1, -5, 2 ** -133, Infinity]);
  assert.deepEqual(tensors.get('e')!.shape, [0, 3]);
  assert.equal(tensors.get('e')!.data.length, 0);
});

test('BAD FILE - truncated, garbage and malformed files give one-line errors naming the file', () => {
  const good = writeSafetensors(new Map([['w', float32([4], [1, 2, 3, 4])], ['n', int64([], [1n])]]));
  const F = 'model.safetensors';
  assertOneLineError(() => readSafetensors(good.subarray(0, 5), F), F, /shorter than the 8-byte header length/);
  assertOneLineError(() => readSafetensors(good.subarray(0, 20), F), F, /truncated safetensors file: header length \d+ runs past the end/);
  assertOneLineError(() => readSafetensors(good.subarray(0, good.length - 3), F), F, /truncated safetensors file: tensor "n" ends at byte 24/);
  const garbage = new TextEncoder().encode('this is not a safetensors file at all, just text');
  assertOneLineError(() => readSafetensors(garbage, F), F, /not a safetensors file/);
  assert.ok(!looksLikeSafetensors(garbage));
  const bad = new Uint8Array(good);
  bad[8] = 0x5b; // '[': JSON, but not an object... then broken JSON
  assertOneLineError(() => readSafetensors(bad, F), F, /header is not valid JSON|not a JSON object/);
  const d16 = new Uint8Array(16);
  assertOneLineError(() => readSafetensors(handmade({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, d16.subarray(0, 12)), F), F, /overlaps another tensor/);
  assertOneLineError(() => readSafetensors(handmade({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, d16.subarray(0, 8)), F), F, /F32 \[3\] needs 12 bytes but data_offsets \[0, 8\] span 8/);
  assertOneLineError(() => readSafetensors(handmade({ a: { dtype: 'F32', shape: [2], data_offsets: [8, 16] } }, d16), F), F, /gap in the data section before tensor "a"/);
  assertOneLineError(() => readSafetensors(handmade({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, d16), F), F, /8 trailing bytes/);
  assertOneLineError(() => readSafetensors(handmade({ a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, d16.subarray(0, 8)), F), F, /tensor "a" ends at byte 16 of a 8-byte data section/);
  assertOneLineError(() => readSafetensors(handmade({ a: { dtype: 'F8', shape: [1], data_offsets: [0, 1] } }, d16.subarray(0, 1)), F), F, /unknown dtype "F8"/);
  assertOneLineError(() => readSafetensors(handmade({ a: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, d16.subarray(0, 4)), F), F, /shape \[-1\] is not a list/);
  assertOneLineError(() => readSafetensors(handmade({ a: { dtype: 'I32', shape: [1], data_offsets: [0, 4] } }, d16.subarray(0, 4)), F), F, /dtype I32 is not supported/);
  const huge = new Uint8Array(16);
  new DataView(huge.buffer).setBigUint64(0, 2n ** 40n, true);
  assertOneLineError(() => readSafetensors(huge, F), F, /over the 100000000-byte limit/);
});
