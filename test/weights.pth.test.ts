// .pth files written by the real torch.save (torch 1.13; tools/gen_pth_fixtures.py), in the zip
// format, the legacy format and a protocol-4 checkpoint, compared exactly with the values the
// generator stored in expected.safetensors; our writer round-trips through our reader (that torch
// itself reads our files is checked by `tools/gen_pth_fixtures.py --verify-writer`); bad files
// and forbidden globals give one-line errors.
// HINT: regenerate the fixtures on purpose with `/usr/bin/python3 tools/gen_pth_fixtures.py`.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { unzipSync, zipSync } from 'fflate';
import { float32, int64, type StateDict } from '../src/tensor.js';
import { readSafetensors } from '../src/weights/safetensors.js';
import { PickleWriter, PyDict, unpickle } from '../src/weights/pickle.js';
import { crc32, findStateDict, isTensor, loadPthObject, looksLikePth, readPth, writePth } from '../src/weights/pth.js';
import { assertOneLineError } from './helpers/errors.js';

const DIR = fileURLToPath(new URL('../../test/fixtures/pth/', import.meta.url));
const read = (f: string): Uint8Array => readFileSync(DIR + f);
const expected = readSafetensors(read('expected.safetensors'), 'expected.safetensors').tensors;

/** Equal keys (in order), dtypes, shapes and bit-exact values (-0 and NaN included). */
function assertExactly(actual: StateDict, want: StateDict, what: string): void {
  assert.deepEqual([...actual.keys()], [...want.keys()], `${what}: keys`);
  for (const [k, e] of want) {
    const a = actual.get(k)!;
    assert.equal(a.dtype, e.dtype, `${what} ${k}: dtype`);
    assert.deepEqual(a.shape, e.shape, `${what} ${k}: shape`);
    assert.equal(a.data.length, e.data.length, `${what} ${k}: length`);
    for (let i = 0; i < e.data.length; i++) assert.ok(Object.is(a.data[i], e.data[i]), `${what} ${k}[${i}]: ${a.data[i]} != ${e.data[i]}`);
  }
}

test('zip format (torch.save default) equals the expected values exactly', () => {
  assert.ok(looksLikePth(read('state_dict_zip.pth')));
  assertExactly(readPth(read('state_dict_zip.pth'), 'state_dict_zip.pth'), expected, 'zip');
});

test('legacy format (_use_new_zipfile_serialization=False) equals the expected values exactly', () => {
  assert.ok(looksLikePth(read('state_dict_legacy.pth')));
  assertExactly(readPth(read('state_dict_legacy.pth'), 'state_dict_legacy.pth'), expected, 'legacy');
});

test('protocol-4 checkpoint {epoch, state_dict, optimizer, ...}: the state_dict is found', () => {
  assertExactly(readPth(read('checkpoint_p4.pth'), 'checkpoint_p4.pth'), expected, 'checkpoint');
  const obj = loadPthObject(read('checkpoint_p4.pth'), 'checkpoint_p4.pth');
  assert.ok(obj instanceof PyDict);
  assert.equal(obj.entries.get('epoch'), 3);
  assert.equal(obj.entries.get('arch'), 'mobilenet_v2');
  assert.equal(obj.entries.get('best_acc1'), 0.25);
  const opt = obj.entries.get('optimizer');
  assert.ok(opt instanceof PyDict);
  assert.equal(opt.entries.get('momentum'), 0.9);
  assertOneLineError(() => findStateDict(opt, 'checkpoint_p4.pth'), 'checkpoint_p4.pth', /no state_dict found \(top-level keys: lr, momentum\)/);
});

test('views of one storage: offset, transpose, step and shared keys are materialized', () => {
  const sd = readPth(read('state_dict_zip.pth'), 'x.pth');
  const base = sd.get('base')!.data as Float32Array; // (3, 4)
  const at = (r: number, c: number): number => base[r * 4 + c]!;
  assert.deepEqual([...sd.get('row1')!.data], [at(1, 0), at(1, 1), at(1, 2), at(1, 3)]);
  assert.deepEqual(sd.get('transposed')!.shape, [4, 3]); // (3, 4) -> (4, 3)
  assert.deepEqual([...sd.get('transposed')!.data], [0, 1, 2, 3].flatMap((c) => [at(0, c), at(1, c), at(2, c)]));
  assert.deepEqual([...sd.get('strided')!.data], [0, 1, 2].flatMap((r) => [at(r, 0), at(r, 2)]));
  assert.deepEqual(sd.get('shared_a')!.data, sd.get('shared_b')!.data);
  assert.deepEqual(sd.get('bn.num_batches_tracked'), int64([], [7n]));
});

test('OrderedDict._metadata set by BUILD is kept as an attribute', () => {
  const obj = loadPthObject(read('state_dict_legacy.pth'), 'x.pth');
  assert.ok(obj instanceof PyDict && obj.ordered);
  const meta = obj.attrs.get('_metadata');
  assert.ok(meta instanceof PyDict);
  const root = meta.entries.get('');
  assert.ok(root instanceof PyDict);
  assert.equal(root.entries.get('version'), 1);
  assert.ok(isTensor(obj.entries.get('param')));
});

test('our writer round-trips through our reader, zip and legacy', () => {
  for (const format of ['zip', 'legacy'] as const) {
    const bytes = writePth(expected, { format });
    assert.ok(looksLikePth(bytes));
    assertExactly(readPth(bytes, `ours_${format}.pth`), expected, format);
  }
});

test('our zip is laid out as torch writes it: stored entries, 64-byte aligned records, valid CRCs', () => {
  const sd: StateDict = new Map([
    ['features.0.0.weight', float32([2, 1, 1, 1], [0.5, -1])],
    ['features.0.1.num_batches_tracked', int64([], [0n])],
  ]);
  const bytes = writePth(sd);
  const files = unzipSync(bytes);
  assert.deepEqual(Object.keys(files), ['archive/data.pkl', 'archive/data/0', 'archive/data/1', 'archive/version']);
  assert.equal(new TextDecoder().decode(files['archive/version']), '3\n');
  const dv = new DataView(bytes.buffer, bytes.byteOffset);
  let pos = 0;
  for (const [name, data] of Object.entries(files)) {
    assert.equal(dv.getUint32(pos, true), 0x04034b50, name);
    assert.equal(dv.getUint16(pos + 8, true), 0, `${name}: stored`);
    assert.equal(dv.getUint32(pos + 14, true), zlibCrc32(data), `${name}: CRC`);
    const start = pos + 30 + dv.getUint16(pos + 26, true) + dv.getUint16(pos + 28, true);
    assert.equal(start % 64, 0, `${name}: data at ${start}`);
    pos = start + data.length;
  }
  assert.equal(crc32(new TextEncoder().encode('123456789')), 0xcbf43926);
});

test('BAD FILE - truncated files give one-line errors naming the file', () => {
  for (const f of ['state_dict_zip.pth', 'state_dict_legacy.pth']) {
    const b = read(f);
    for (const cut of [b.length - 10, Math.floor(b.length / 2), 40]) {
      assertOneLineError(() => readPth(b.subarray(0, cut), f), f, /truncated|corrupt/);
    }
  }
});

test('BAD FILE - not a .pth file', () => {
  assertOneLineError(() => readPth(new TextEncoder().encode('hello, world'), 'notes.txt'), 'notes.txt', /not a PyTorch \.pth file/);
  assertOneLineError(() => readPth(read('expected.safetensors'), 'w.pth'), 'w.pth', /not a PyTorch \.pth file/);
  assertOneLineError(() => readPth(new Uint8Array(0), 'empty.pth'), 'empty.pth', /not a PyTorch \.pth file/);
  // A pickle, but not one torch.save wrote.
  const bare = new PickleWriter().proto().int(5).stop().bytes();
  assertOneLineError(() => readPth(bare, 'bare.pkl'), 'bare.pkl', /without the PyTorch magic number/);
  const zip = zipSync({ 'model/weights.bin': new Uint8Array(8) }, { level: 0 });
  assertOneLineError(() => readPth(zip, 'other.zip'), 'other.zip', /zip archive has no data\.pkl/);
});

test('FORBIDDEN - a pickle naming os.system is refused before anything is built', () => {
  assertOneLineError(() => readPth(read('forbidden_global.pth'), 'forbidden_global.pth'), 'forbidden_global.pth',
    /^forbidden_global\.pth: refusing to load global os\.system \(not part of a state_dict\)$/);
  assertOneLineError(() => readPth(read('forbidden_global.pkl'), 'forbidden_global.pkl'), 'forbidden_global.pkl',
    /refusing to load global os\.system/);
  // torch.storage._load_from_bytes (how torch pickles storages inside non-tensor objects) is refused too.
  const p = new PickleWriter().proto().global('torch.storage', '_load_from_bytes').mark().str('x').tuple().reduce().stop().bytes();
  assertOneLineError(() => unpickle(p, 0, { file: 'p.pkl', resolveGlobal: () => undefined }), 'p.pkl', /refusing to load global torch\.storage\._load_from_bytes/);
  assertOneLineError(() => readPth(p, 'p.pkl'), 'p.pkl', /refusing to load global torch\.storage\._load_from_bytes/);
});

test('unpickler: protocol-2 opcodes for ints, floats, lists and memo', () => {
  const w = new PickleWriter().proto().emptyList().mark();
  for (const v of [0, 255, 256, 65535, 65536, -1, -(2 ** 31), 2 ** 31, 2 ** 53 - 1]) w.int(v);
  w.int(-(2n ** 63n)).int(2n ** 64n).appends().stop();
  const { value } = unpickle(w.bytes(), 0, { file: 'ints', resolveGlobal: () => undefined });
  assert.deepEqual(value, [0, 255, 256, 65535, 65536, -1, -(2 ** 31), 2 ** 31, 2 ** 53 - 1, -(2n ** 63n), 2n ** 64n]);
});
