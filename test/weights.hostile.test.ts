// Corrupt and hostile weight files, one per bug `npm run fuzz` found: each is refused with a
// one-line WeightsError (code E_WEIGHTS) that starts with the file name, before it can allocate
// more than the file can back. (Inputs that used to hang are in cli.weights.test.ts, run in a
// child process with a timeout.)

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { unzipSync, zipSync } from 'fflate';
import { WeightsError } from '../src/weights/errors.js';
import { PickleWriter } from '../src/weights/pickle.js';
import { readPth } from '../src/weights/pth.js';
import { readSafetensors, writeSafetensors } from '../src/weights/safetensors.js';
import { float32 } from '../src/tensor.js';
import { assertOneLineError } from './helpers/errors.js';

const DIR = fileURLToPath(new URL('../../test/fixtures/pth/', import.meta.url));
const read = (f: string): Uint8Array => new Uint8Array(readFileSync(DIR + f));
const enc = new TextEncoder();
const bytes = (...parts: (string | number[] | Uint8Array)[]): Uint8Array => {
  const bs = parts.map((p) => (typeof p === 'string' ? Uint8Array.from(p, (c) => c.charCodeAt(0)) : Uint8Array.from(p)));
  const out = new Uint8Array(bs.reduce((a, b) => a + b.length, 0));
  let o = 0;
  for (const b of bs) {
    out.set(b, o);
    o += b.length;
  }
  return out;
};
const u32 = (n: number): number[] => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24];

/** The typed error, one line, naming the file. */
function assertWeightsError(fn: () => unknown, file: string, pattern: RegExp): void {
  assertOneLineError(fn, file, pattern);
  assert.throws(fn, (e: unknown) => e instanceof WeightsError && e.code === 'E_WEIGHTS');
}

/** A legacy .pth around `object` (a pickle), with no storages: magic, protocol, sys_info, object, []. */
function legacy(object: Uint8Array, storageKeys = '\x80\x02].'): Uint8Array {
  const magic = new PickleWriter().proto().int(0x1950a86a20f9469cfc6cn).stop().bytes();
  const protocol = new PickleWriter().proto().int(1001).stop().bytes();
  const info = new PickleWriter().proto().emptyDict().stop().bytes();
  return bytes(magic, protocol, info, object, storageKeys);
}

/** A legacy .pth of one float storage of `n` elements holding one tensor of `size` / `stride` / storage offset. */
function legacyTensor(n: number, size: number[], stride: number[], offset = 0, viewOffset?: number): Uint8Array {
  const w = new PickleWriter().proto();
  w.global('collections', 'OrderedDict').emptyTuple().reduce().mark();
  w.str('w').global('torch._utils', '_rebuild_tensor_v2').mark();
  w.mark().str('storage').global('torch', 'FloatStorage').str('0').str('cpu').int(n);
  if (viewOffset === undefined) w.none();
  else w.mark().str('0v').int(viewOffset).int(n).tuple();
  w.tuple().binpersid().int(offset).ints(size).ints(stride).bool(false).global('collections', 'OrderedDict').emptyTuple().reduce().tuple().reduce();
  w.setitems().stop();
  const keys = new PickleWriter().proto().emptyList().mark().str('0').appends().stop().bytes();
  const count = new Uint8Array(8);
  new DataView(count.buffer).setBigInt64(0, BigInt(n), true);
  return bytes(legacy(w.bytes(), ''), keys, count, new Uint8Array(4 * n));
}

test('BAD FILE - a legacy .pth whose BININT1 opcode became INT (text up to the next newline) is a one-line error, not BigInt() on garbage', () => {
  const b = read('state_dict_legacy.pth');
  assert.equal(b[288], 0x4b, 'byte 288 is the BININT1 of the first storage size (pickletools)');
  b[288] = 0x49; // 'I': INT, whose decimal text now runs over binary opcodes to the next '\n'
  assertWeightsError(() => readPth(b, 'corrupt.pth'), 'corrupt.pth', /corrupt pickle: INT ".*" at offset 288 is not an integer/);
});

test('BAD FILE - a zip .pth whose data.pkl has an INT opcode over binary data is a one-line error naming the file', () => {
  const b = read('state_dict_zip.pth');
  assert.equal(b[207], 0x4b, 'byte 207 is a BININT1 inside data.pkl (stored at byte 64)');
  b[207] = 0x49;
  assertWeightsError(() => readPth(b, 'corrupt.pth'), 'corrupt.pth', /corrupt pickle: INT ".*" at offset 143 is not an integer/);
});

test('BAD FILE - LONG, FLOAT, PUT and GET text that Python would refuse are one-line errors', () => {
  const cases: [string, RegExp][] = [
    ['\x80\x02LLongStorage\n.', /LONG "LongStorage" at offset \d+ is not an integer/],
    [`\x80\x02I${'7'.repeat(5000)}\n.`, /INT of 5000 digits at offset \d+ \(Python refuses over 4300\)/],
    ['\x80\x02Fone\n.', /FLOAT "one" at offset \d+ is not a number/],
    ['\x80\x02Np-1\n.', /PUT memo key -1 at offset \d+ is out of range/],
    ['\x80\x02gx\n.', /GET "x" at offset \d+ is not an integer/],
  ];
  for (const [pickle, pattern] of cases) assertWeightsError(() => readPth(legacy(bytes(pickle)), 'bad.pth'), 'bad.pth', pattern);
  // what Python's int() and float() accept still reads
  assertWeightsError(() => readPth(legacy(bytes('\x80\x02I 1_000 \nF-inf\n\x86.')), 'ok.pth'), 'ok.pth', /holds a tuple, not a state_dict/);
});

test('BAD FILE - 200,000 nested lists do not overflow the stack (the walk over the loaded object is a loop)', () => {
  const n = 200_000;
  // beside 1 MB of bytes, so that the file is large enough to hold that many containers
  const blob = bytes('X\x01\x00\x00\x00bB', u32(1 << 20), new Uint8Array(1 << 20));
  const deep = bytes('\x80\x02}(', blob, 'X\x01\x00\x00\x00a', ']'.repeat(n), 'a'.repeat(n - 1), 'u.');
  assertWeightsError(() => readPth(legacy(deep), 'deep.pth'), 'deep.pth', /no state_dict found \(top-level keys: b, a\)/);
  const tuples = bytes('\x80\x02}(', blob, 'X\x01\x00\x00\x00t)', new Array(n).fill(0x85), 'u.');
  assertWeightsError(() => readPth(legacy(tuples), 'deep.pth'), 'deep.pth', /no state_dict found \(top-level keys: b, t\)/);
});

test('BAD FILE - APPENDS of 300,000 items (push(...items) overflowed the stack)', () => {
  const many = bytes('\x80\x02](', 'N'.repeat(300_000), 'e.');
  assertWeightsError(() => readPth(legacy(many), 'many.pth'), 'many.pth', /holds a list, not a state_dict/);
});

test('BAD FILE - a floods of containers and copies are bounded by the file size (no 200 bytes of memory per input byte)', () => {
  assertWeightsError(() => readPth(legacy(bytes('\x80\x02', ']'.repeat(400_000), '.')), 'flood.pth'), 'flood.pth', /builds more containers than/);
  // one 10,000-entry dict used as the BUILD state 20,000 times: 200 million copies
  const entries = Array.from({ length: 10_000 }, (_, i) => [0x4d, i & 0xff, i >> 8, 0x4e]).flat();
  const build = bytes('\x80\x02}(', entries, 'uq\x00', '}h\x00b0'.repeat(20_000), 'N.');
  assertWeightsError(() => readPth(legacy(build), 'build.pth'), 'build.pth', /copies more data than .* bytes can hold/);
});

test('BAD FILE - dict keys that are cyclic or exponentially shared tuples', () => {
  // L = []; t = (L,); L.append(t); {t: 1}: JSON.stringify threw "Converting circular structure"
  const cyclic = bytes('\x80\x02}]q\x00\x85q\x01h\x00h\x01a0K\x01s.');
  assertWeightsError(() => readPth(legacy(cyclic), 'key.pth'), 'key.pth', /a dict key tuple is over 4096 characters long/);
  // t0 = []; t(i+1) = (ti, ti): 2^40 leaves behind 80 bytes of pickle
  const laughs = bytes('\x80\x02}]', new Array(40).fill([0x32, 0x86]).flat(), 'K\x01s.');
  assertWeightsError(() => readPth(legacy(laughs), 'key.pth'), 'key.pth', /a dict key tuple is over 4096 characters long/);
});

test('BAD FILE - a long LONG4 is decoded in linear time', () => {
  const n = 1 << 20;
  const t0 = performance.now();
  assertWeightsError(() => readPth(legacy(bytes('\x80\x02\x8b', u32(n), new Uint8Array(n).fill(0x5a), '.')), 'long.pth'), 'long.pth', /holds a int, not a state_dict/);
  assert.ok(performance.now() - t0 < 3000, `1 MB LONG4 took ${performance.now() - t0} ms (byte-by-byte BigInt shifts: minutes)`);
});

test('BAD FILE - a view of 2^40 elements over a 4-element storage is refused before allocating', () => {
  // stride 0 repeats storage element 0: valid bounds, 4 TB to materialize (was a RangeError from new Float32Array)
  assertWeightsError(() => readPth(legacyTensor(4, [1 << 20, 1 << 20], [0, 0]), 'huge.pth'), 'huge.pth', /tensor "w": \[1048576, 1048576\] would make the tensors total more than 4x the bytes of their storages/);
  // a broadcast view of a few hundred elements still loads (within the budget)
  const sd = readPth(legacyTensor(4, [100, 4], [0, 1]), 'small.pth');
  assert.deepEqual(sd.get('w')!.shape, [100, 4]);
});

test('BAD FILE - negative sizes, strides and view offsets are errors (they read outside the storage as NaN)', () => {
  assertWeightsError(() => readPth(legacyTensor(8, [-2, -3], [1, 1]), 'neg.pth'), 'neg.pth', /tensor size holds -2, a negative number/);
  assertWeightsError(() => readPth(legacyTensor(8, [2, 2], [-1, 1]), 'neg.pth'), 'neg.pth', /tensor stride holds -1, a negative number/);
  assertWeightsError(() => readPth(legacyTensor(8, [2], [1], 0, -5), 'neg.pth'), 'neg.pth', /storage view "0" has a bad offset/);
  assertWeightsError(() => readPth(legacyTensor(8, new Array(65).fill(1), new Array(65).fill(1)), 'dims.pth'), 'dims.pth', /tensor size has 65 dimensions \(torch allows 64\)/);
});

/** state_dict_zip.pth with the declared sizes of one entry patched (central directory and local header). */
function patchZipSizes(b: Uint8Array, entry: string, compressed: number | undefined, size: number): Uint8Array {
  const out = b.slice();
  const dv = new DataView(out.buffer);
  const name = enc.encode(entry);
  for (let o = 0; o + 46 < out.length; o++) {
    const sig = dv.getUint32(o, true);
    const at = sig === 0x02014b50 ? 46 : sig === 0x04034b50 ? 30 : 0;
    if (!at || dv.getUint16(o + (at === 46 ? 28 : 26), true) !== name.length) continue;
    if (!out.subarray(o + at, o + at + name.length).every((c, i) => c === name[i])) continue;
    const sizes = at === 46 ? 20 : 18;
    if (compressed !== undefined) dv.setUint32(o + sizes, compressed, true);
    dv.setUint32(o + sizes + 4, size, true);
  }
  return out;
}

test('BAD FILE - zip bombs: a deflated entry declaring 4 GB, one inflating past 8x the file, one lying about its size', () => {
  const files = unzipSync(read('state_dict_zip.pth'));
  const name = Object.keys(files).find((k) => k.endsWith('/data/0'))!;
  const bomb = zipSync({ ...files, [name]: [new Uint8Array(16 << 20), { level: 9 }] } as never, { level: 0 });
  assert.ok(bomb.length < 100_000, `the bomb is small (${bomb.length} bytes)`);
  assertWeightsError(() => readPth(bomb, 'bomb.pth'), 'bomb.pth', /zip entry ".*data\/0" would inflate to 16777216 bytes, over the \d+ this file can account for \(a zip bomb\?\)/);
  // fflate allocated the declared size up front: new Uint8Array(0xfffffff0)
  const deflated = zipSync(files, { level: 6 });
  const declares4g = patchZipSizes(deflated, name, undefined, 0xfffffff0);
  assertWeightsError(() => readPth(declares4g, 'bomb.pth'), 'bomb.pth', /entry ".*data\/0" declares 4294967280 bytes from \d+ compressed/);
  const small = zipSync({ ...files, [name]: [new Uint8Array(400_000), { level: 9 }] } as never, { level: 0 });
  const lies = patchZipSizes(small, name, undefined, 1000);
  assertWeightsError(() => readPth(lies, 'lies.pth'), 'lies.pth', /entry ".*data\/0" inflates past its declared 1000 bytes/);
  // the same archive deflated honestly loads as the stored one
  assert.deepEqual(readPth(deflated, 'deflated.pth'), readPth(read('state_dict_zip.pth'), 'stored.pth'));
});

test('BAD FILE - zip central directories that point outside the file', () => {
  const b = read('state_dict_zip.pth');
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let eocd = b.length - 22;
  while (dv.getUint32(eocd, true) !== 0x06054b50) eocd--;
  const zip64 = dv.getUint32(eocd - 20, true) === 0x07064b50 ? Number(dv.getBigUint64(eocd - 12, true)) : -1;
  assert.ok(zip64 > 0, 'torch writes zip64 records');
  const count = b.slice();
  new DataView(count.buffer).setBigUint64(zip64 + 32, 1n << 40n, true); // fflate looped 2^40 times
  assertWeightsError(() => readPth(count, 'cd.pth'), 'cd.pth', /1099511627776 .* past the end|entries cannot fit/);
  const offset = b.slice();
  new DataView(offset.buffer).setBigUint64(zip64 + 48, 1n << 33n, true);
  assertWeightsError(() => readPth(offset, 'cd.pth'), 'cd.pth', /central directory offset 8589934592 is past the end/);
});

test('BAD FILE - safetensors headers: a shape nested 100,000 deep, a dtype named "constructor", a key with a newline', () => {
  const data = new Uint8Array(4);
  const file = (header: string): Uint8Array => {
    const json = enc.encode(header);
    const out = new Uint8Array(8 + json.length + data.length);
    new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
    out.set(json, 8);
    return out;
  };
  // JSON.stringify(shape) in the message overflowed the stack
  const deep = `{"w": {"dtype": "F32", "shape": ${'['.repeat(100_000)}1${']'.repeat(100_000)}, "data_offsets": [0, 4]}}`;
  assertWeightsError(() => readSafetensors(file(deep), 'deep.safetensors'), 'deep.safetensors', /tensor "w": shape a list of 1 is not a list of non-negative integers/);
  // "constructor" in ELEMENT_SIZE was true (the prototype): "needs NaN bytes"
  assertWeightsError(() => readSafetensors(file('{"w": {"dtype": "constructor", "shape": [1], "data_offsets": [0, 4]}}'), 'x.safetensors'), 'x.safetensors', /tensor "w": unknown dtype "constructor"/);
  // a key holding a newline reads, but an error about it must stay on one line
  const nl = writeSafetensors(new Map([['a\nb', float32([2], [1, 2])]]));
  assert.deepEqual([...readSafetensors(nl, 'nl.safetensors').tensors.keys()], ['a\nb']);
  const dtype = enc.encode('"F32"');
  const at = nl.findIndex((_, i) => dtype.every((c, j) => nl[i + j] === c));
  nl.set(enc.encode('"F99"'), at);
  assertWeightsError(() => readSafetensors(nl, 'nl.safetensors'), 'nl.safetensors', /tensor "a\\nb": unknown dtype "F99"/);
});
