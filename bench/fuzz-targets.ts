// The parsers bench/fuzz.ts throws mutated bytes at, each with its seed corpus (real files from
// test/fixtures and ../shared, plus crafted edge cases) and the mutations that know its format.
// A target's `run` is the library's own entry point for that kind of file.

import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { unzipSync, zipSync, zlibSync } from 'fflate';
import { MobileNetV2, type MobileNetV2Options } from '../src/models/mobilenetv2.js';
import { inferenceOnnx } from '../src/infer/graph.js';
import { onnxNetwork, variantBytes } from '../src/infer/onnx.js';
import { planHfFolder, planTimm } from '../src/models/load.js';
import { resolvePreset, type PresetName, type PresetSpec } from '../src/data/transforms.js';
import { float32, int64, type StateDict } from '../src/tensor.js';
import { WeightsError } from '../src/weights/errors.js';
import { jsonObject, num, obj, str } from '../src/weights/fields.js';
import { parseJson, type CheckpointFolder } from '../src/weights/hf.js';
import { PyCallable, PyDict, unpickle } from '../src/weights/pickle.js';
import { readPth, writePth } from '../src/weights/pth.js';
import { readWeightsBytes } from '../src/weights/registry.js';
import { readSafetensors, writeSafetensors } from '../src/weights/safetensors.js';
import { INTERESTING, Rng, concat, mutate, writeInt, type Hot } from './fuzz-mutate.js';
import { TARGET_NAMES } from './fuzz-names.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url)); // dist/bench -> repo root
const SHARED = join(ROOT, '..', 'shared');
const fixture = (...p: string[]) => join(ROOT, 'test', 'fixtures', ...p);

export interface Seed {
  name: string;
  bytes: Uint8Array;
  /** Relative chance of being picked (big or slow seeds less often). Default 1. */
  weight?: number;
  /** Byte ranges holding structure. */
  hot?: Hot;
  /** Target-specific: which reader a config seed is for, etc. */
  kind?: string;
  /** A seed that is refused on purpose (a bomb, a truncated file). */
  bad?: boolean;
}

export interface Case {
  bytes: Uint8Array;
  seed: string;
  how: string[];
  kind?: string;
}

export interface Target {
  name: string;
  /** The typed error code every bad input must raise. */
  code: 'E_WEIGHTS' | 'E_IMAGE';
  /** File extension of the name cases are reported under. */
  ext: string;
  seeds: Seed[];
  make(rng: Rng): Case;
  run(c: Case, file: string): unknown;
  /** The name case `i` is reported under (default case-<i>.<ext>). */
  fileName?(i: number, c: Case): string;
  /** What error messages must start with (default `${file}: `). */
  prefix?(c: Case, file: string): string;
  /** Bytes a successful result may hold on top of the input multiple (decoded pixels). */
  allowance?(result: unknown): number;
  /** Memory any case may use whatever its size (default 8 MB). */
  slack?: number;
  /** Decodes in native code: measure peak RSS too. */
  native?: boolean;
  /** Checks an accepted result (not timed or measured): what it throws is a finding. */
  verify?(result: unknown): void;
  /**
   * Bytes PIL itself would allocate for what the header declares (w x h x 4, whatever the data
   * holds): decoders size their buffers by it before they find the data missing.
   */
  declared?(c: Case): Promise<number>;
}

function read(path: string): Uint8Array | undefined {
  return existsSync(path) ? new Uint8Array(readFileSync(path)) : undefined;
}

/** Files under ../shared/fixtures/<dir>/<file> for every dir that has it. */
function shared(file: string, under = 'fixtures'): { name: string; bytes: Uint8Array }[] {
  const root = join(SHARED, under);
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .sort()
    .map((d) => ({ name: `${under}/${d}/${file}`, bytes: read(join(root, d, file)) }))
    .filter((s): s is { name: string; bytes: Uint8Array } => s.bytes !== undefined);
}

function pickSeed(rng: Rng, seeds: readonly Seed[]): Seed {
  const total = seeds.reduce((a, s) => a + (s.weight ?? 1), 0);
  let r = rng.next() * total;
  for (const s of seeds) {
    r -= s.weight ?? 1;
    if (r < 0) return s;
  }
  return seeds[seeds.length - 1]!;
}

/** A case from the generic byte mutations of a weighted seed. */
function generic(rng: Rng, seeds: readonly Seed[]): Case {
  const s = pickSeed(rng, seeds);
  const { bytes, how } = mutate(rng, s.bytes, s.hot, seeds.map((x) => x.bytes));
  return { bytes, seed: s.name, how, kind: s.kind };
}

const isWeightsError = (e: unknown): boolean => e instanceof WeightsError;

// ---------------------------------------------------------------------------------------------
// safetensors

function safetensorsHeader(b: Uint8Array): { json: Record<string, unknown>; data: Uint8Array } {
  const n = Number(new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true));
  return { json: JSON.parse(new TextDecoder().decode(b.subarray(8, 8 + n))), data: b.subarray(8 + n) };
}

function safetensorsBytes(header: unknown, data: Uint8Array, lengthField?: bigint): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, lengthField ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

/** A safetensors file of every dtype we read (F16/BF16/F64/I64 and a zero-size tensor), written by hand. */
function allDtypesSafetensors(): Uint8Array {
  const parts: [string, string, number[], Uint8Array][] = [
    ['half', 'F16', [2, 3], Uint8Array.from([0, 0x3c, 0, 0xc0, 0xff, 0x7b, 1, 0, 0, 0x7c, 0, 0xfc])],
    ['bf', 'BF16', [3], Uint8Array.from([0x80, 0x3f, 0, 0xc0, 0x80, 0x7f])],
    ['double', 'F64', [2], new Uint8Array(new Float64Array([Math.PI, -1e300]).buffer)],
    ['long', 'I64', [2], new Uint8Array(new BigInt64Array([-1n, 1n << 62n]).buffer)],
    ['empty', 'F32', [0, 5], new Uint8Array(0)],
  ];
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let o = 0;
  for (const [k, dtype, shape, b] of parts) {
    header[k] = { dtype, shape, data_offsets: [o, o + b.length] };
    o += b.length;
  }
  return safetensorsBytes(header, concat(...parts.map((p) => p[3])));
}

const WEIRD_JSON: readonly unknown[] = [
  null, true, false, 0, -1, 1.5, 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 64, 1e308, -1e308, '', 'F32', 'x'.repeat(5000), [], [0], [-1], [1.5],
  ['1'], [[1]], [2 ** 53, 2 ** 53], [0, 2 ** 53], {}, { a: 1 }, [1, 2, 3], Array.from({ length: 100 }, () => 1),
];

function deepJson(depth: number, open: string, close: string, leaf = '1'): string {
  return open.repeat(depth) + leaf + close.repeat(depth);
}

function safetensorsTarget(): Target {
  const seeds: Seed[] = [
    { name: 'test/fixtures/pth/expected.safetensors', bytes: read(fixture('pth', 'expected.safetensors'))! },
    { name: 'test/fixtures/safetensors/timm_io.safetensors', bytes: read(fixture('safetensors', 'timm_io.safetensors'))!, weight: 0.5 },
    { name: 'crafted: every dtype', bytes: allDtypesSafetensors() },
    { name: 'writeSafetensors: int64 + float32', bytes: writeSafetensors(new Map([['a', float32([2, 2], [1, 2, 3, 4])], ['n', int64([1], [7n])]]), { k: 'v' }) },
    ...shared('model.safetensors').filter((s) => s.bytes.length < 3_000_000).map((s) => ({ ...s, weight: 0.15 })),
    ...shared('io.safetensors').filter((s) => s.bytes.length < 1_000_000).map((s) => ({ ...s, weight: 0.15 })),
  ];
  for (const s of seeds) {
    const n = Number(new DataView(s.bytes.buffer, s.bytes.byteOffset, 8).getBigUint64(0, true));
    s.hot = [[0, 8 + n]];
  }
  const structured = (rng: Rng, s: Seed): Case => {
    const { json, data } = safetensorsHeader(s.bytes);
    const keys = Object.keys(json).filter((k) => k !== '__metadata__');
    const how: string[] = [];
    let header: unknown = json;
    let lengthField: bigint | undefined;
    let payload = data;
    for (let n = 1 + rng.int(2); n > 0; n--) {
      const what = rng.int(10);
      const entry = keys.length > 0 ? (json[rng.pick(keys)] as Record<string, unknown>) : undefined;
      if (what <= 2 && entry) {
        const field = rng.pick(['dtype', 'shape', 'data_offsets']);
        const v = rng.chance(0.3) && field === 'dtype'
          ? rng.pick(['F16', 'BF16', 'F64', 'I64', 'I32', 'U8', 'BOOL', 'F8_E4M3', 'constructor', '__proto__', 'toString'])
          : rng.chance(0.3) && field === 'shape' ? [rng.logInt(1, 2 ** 30), rng.logInt(1, 2 ** 30), rng.logInt(1, 2 ** 30)]
            : rng.chance(0.3) && field === 'data_offsets' ? [rng.int(data.length + 2), rng.int(data.length + 2)]
              : rng.pick(WEIRD_JSON);
        entry[field] = v;
        how.push(`header.${field}`);
      } else if (what === 3 && entry) {
        delete entry[rng.pick(['dtype', 'shape', 'data_offsets'])];
        how.push('header.delete');
      } else if (what === 4) {
        for (let i = rng.logInt(1, 20000); i > 0; i--) json[`k${i}`] = { dtype: 'F32', shape: [1], data_offsets: [0, 4] };
        how.push('header.many-keys');
      } else if (what === 5) {
        header = `{"a": ${deepJson(rng.logInt(10, 200_000), rng.pick(['[', '{"x":']), rng.pick([']', '}']))}}`;
        how.push('header.deep');
      } else if (what === 6) {
        lengthField = rng.chance(0.5) ? rng.pick(INTERESTING) : BigInt(JSON.stringify(json).length + rng.int(17) - 8);
        how.push('length-field');
      } else if (what === 7) {
        json['__metadata__'] = rng.pick([{ a: 1 }, [], 'x', null, { [String.fromCharCode(10)]: 'x' }, { a: 'b'.repeat(100) }]);
        how.push('header.metadata');
      } else if (what === 8 && entry) {
        // a key with control characters and a huge name
        json[rng.pick(['a\nb', 'x'.repeat(100_000), '\u2028', ''])] = entry;
        how.push('header.odd-key');
      } else {
        payload = rng.chance(0.5) ? data.subarray(0, rng.int(data.length + 1)) : concat(data, new Uint8Array(rng.logInt(1, 1024)));
        how.push('data.length');
      }
    }
    return { bytes: safetensorsBytes(header, payload, lengthField), seed: s.name, how };
  };
  return {
    name: 'safetensors',
    code: 'E_WEIGHTS',
    ext: 'safetensors',
    seeds,
    make: (rng) => {
      if (rng.chance(0.4)) return structured(rng, pickSeed(rng, seeds));
      return generic(rng, seeds);
    },
    run: (c, file) => readSafetensors(c.bytes, file),
  };
}

// ---------------------------------------------------------------------------------------------
// pickle programs (protocol 2 opcodes), for the pickle and .pth targets

const enc = new TextEncoder();
const op = (...parts: (number | string | Uint8Array)[]): Uint8Array =>
  concat(...parts.map((p) => (typeof p === 'number' ? Uint8Array.of(p) : typeof p === 'string' ? enc.encode(p) : p)));
const u32 = (n: number): Uint8Array => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n >>> 0, true);
  return b;
};
const rep = (b: Uint8Array | string, n: number): Uint8Array => {
  const x = typeof b === 'string' ? enc.encode(b) : b;
  const out = new Uint8Array(x.length * n);
  for (let i = 0; i < n; i++) out.set(x, i * x.length);
  return out;
};
const PROTO2 = Uint8Array.of(0x80, 2);

/** Pickles that attack the VM and the code that walks what it builds. */
export function hostilePickle(rng: Rng): { bytes: Uint8Array; how: string } {
  const n = rng.logInt(10, 200_000);
  const kinds: [string, () => Uint8Array][] = [
    ['deep-list', () => op(PROTO2, rep(']', n), rep('a', n - 1), '.')],
    ['deep-tuple', () => op(PROTO2, ')', rep(Uint8Array.of(0x85), n), '.')],
    ['deep-dict', () => op(PROTO2, '}', rep('K\x00}', n), rep('s', n), '.')],
    ['deep-mark', () => op(PROTO2, rep('(', n), 'N.')],
    ['deep-list-in-dict', () => op(PROTO2, '}X\x01\x00\x00\x00a', rep(']', n), rep('a', n - 1), 's.')],
    ['big-appends', () => op(PROTO2, '](', rep('N', n), 'e.')],
    ['big-setitems', () => op(PROTO2, '}(', rep('K\x01N', n), 'u.')],
    ['dict-of-nones', () => op(PROTO2, '}(', Uint8Array.from({ length: 3 * Math.min(n, 60000) }, (_, i) => [0x4d, (i / 3) & 0xff, (i / 768) & 0xff][i % 3]!), rep('N', 0), 'u.')],
    ['long4', () => op(PROTO2, 0x8b, u32(n), rng.bytes(n), '.')],
    ['long4-lies', () => op(PROTO2, 0x8b, u32(0x7fffffff), rng.bytes(16), '.')],
    ['int-text-digits', () => op(PROTO2, 'I', '9'.repeat(n), '\n.')],
    ['long-text-garbage', () => op(PROTO2, 'L', rng.pick(['12a', '', '--1', '0x10', '1_000', ' 7 ', '1e3', '\u00ff', 'LongStorage']), 'L\n.')],
    ['float-text', () => op(PROTO2, 'F', rng.pick(['1.5', 'nan', '-inf', '1e400', 'x', '', '1_0.5', '.', '1e', '0x1p3']), '\n.')],
    ['put-get-text', () => op(PROTO2, 'N', rng.pick(['p', 'g']), rng.pick(['0', '-1', 'x', '99999999999', '1e3']), '\n.')],
    ['binunicode8-lies', () => op(PROTO2, 0x8d, new Uint8Array(new BigUint64Array([rng.pick(INTERESTING)]).buffer), 'abc.')],
    // an exponentially shared tuple used as a dict key, and as REDUCE arguments
    ['laughs-key', () => op(PROTO2, '}]', rep(Uint8Array.of(0x32, 0x86), Math.min(n, 60)), 'K\x01s.')],
    ['cyclic-key', () => op(PROTO2, '}]q\x00\x85q\x01h\x00h\x01a0K\x01s.')],
    ['cyclic-list', () => op(PROTO2, ']q\x002a.')],
    // BUILD with the same big state over and over (quadratic without a work budget)
    ['build-repeat', () => op(PROTO2, '}(', Uint8Array.from({ length: 4 * Math.min(n, 60000) }, (_, i) => [0x4d, (i >> 2) & 0xff, (i >> 10) & 0xff, 0x4e][i % 4]!), 'uq\x00', rep('}h\x00b0', Math.min(n, 20000)), 'N.')],
    // _codecs.encode on one big string, many times
    ['codecs-repeat', () => op(PROTO2, 'c_codecs\nencode\nq\x00X', u32(Math.min(n, 100000)), 'a'.repeat(Math.min(n, 100000)), 'q\x01', rep('h\x00h\x01X\x06\x00\x00\x00latin1\x86R0', 2000), 'N.')],
    ['ordereddict-repeat', () => op(PROTO2, 'ccollections\nOrderedDict\nq\x00](', rep(')', Math.min(n, 20000)), 'e\x85q\x01', rep('h\x00h\x01R0', 5000), 'N.')],
    ['forbidden', () => op(PROTO2, rng.pick(['cos\nsystem\n', 'cbuiltins\neval\n', 'ctorch\nload\n', 'X\x02\x00\x00\x00osX\x06\x00\x00\x00system\x93']), 'X\x02\x00\x00\x00id\x85R.')],
    ['stack-global-odd', () => op(PROTO2, 'X\x04\x00\x00\x00a\nb\nX\x01\x00\x00\x00c\x93.')],
    ['flood', () => op(PROTO2, rep(Uint8Array.of(rng.pick([0x28, 0x4e, 0x5d, 0x7d, 0x29, 0x88, 0x32, 0x30, 0x94, 0x85, 0x61, 0x73])), n), '.')],
    ['random-ops', () => {
      const ops = [0x28, 0x29, 0x2e, 0x30, 0x31, 0x32, 0x4e, 0x4b, 0x5d, 0x61, 0x62, 0x65, 0x6c, 0x71, 0x68, 0x73, 0x74, 0x75, 0x7d, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8f, 0x90, 0x91, 0x93, 0x94, 0x52, 0x81, 0x51];
      return op(PROTO2, Uint8Array.from({ length: Math.min(n, 5000) }, () => (rng.chance(0.8) ? rng.pick(ops) : rng.int(256))), '.');
    }],
  ];
  const [how, make] = rng.pick(kinds);
  return { bytes: make(), how };
}

// ---------------------------------------------------------------------------------------------
// .pth: legacy format

/** A permissive resolver, to find the five pickles of a trusted legacy seed. */
const anyGlobal = (module: string, name: string) => new PyCallable(module, name, () => new PyDict(true));

interface LegacyParts {
  /** magic, protocol and sys_info pickles */
  prefix: Uint8Array;
  object: Uint8Array;
  /** the storage key list pickle and the storages */
  suffix: Uint8Array;
  objectStart: number;
  objectEnd: number;
  keysEnd: number;
}

function legacyParts(b: Uint8Array): LegacyParts {
  const opts = { file: 'seed', resolveGlobal: anyGlobal, persistentLoad: () => null };
  let end = 0;
  for (let i = 0; i < 3; i++) end = unpickle(b, end, opts).end;
  const objectStart = end;
  const objectEnd = unpickle(b, objectStart, opts).end;
  const keysEnd = unpickle(b, objectEnd, opts).end;
  return { prefix: b.subarray(0, objectStart), object: b.subarray(objectStart, objectEnd), suffix: b.subarray(objectEnd), objectStart, objectEnd, keysEnd };
}

function smallStateDict(): StateDict {
  const w = float32([4, 3, 1, 1], Array.from({ length: 12 }, (_, i) => i / 7 - 0.5));
  return new Map([['conv.weight', w], ['bn.running_mean', float32([4], [0, 0.5, -1, 2])], ['bn.num_batches_tracked', int64([], [3n])]]);
}

function legacyTarget(): Target {
  const seeds: Seed[] = [
    { name: 'test/fixtures/pth/state_dict_legacy.pth', bytes: read(fixture('pth', 'state_dict_legacy.pth'))! },
    { name: 'writePth legacy', bytes: writePth(smallStateDict(), { format: 'legacy' }) },
  ];
  for (const s of seeds) {
    const p = legacyParts(s.bytes);
    s.hot = [[0, p.keysEnd + 8]];
  }
  return {
    name: 'pth-legacy',
    code: 'E_WEIGHTS',
    ext: 'pth',
    seeds,
    make: (rng) => {
      const s = pickSeed(rng, seeds);
      if (rng.chance(0.25)) {
        // the int64 element count in front of a storage: negative, huge, off by a little
        const p = legacyParts(s.bytes);
        const b = s.bytes.slice();
        const v = rng.chance(0.5) ? rng.pick(INTERESTING) * (rng.chance(0.3) ? -1n : 1n) : BigInt(rng.int(64));
        writeInt(b, p.keysEnd, v, 8, true);
        return { bytes: b, seed: s.name, how: ['storage-count'] };
      }
      return generic(rng, seeds);
    },
    run: (c, file) => readWeightsBytes(c.bytes, file),
  };
}

// ---------------------------------------------------------------------------------------------
// pickle: the object pickle of a legacy .pth, mutated or hostile, inside the real file around it

function pickleTarget(): Target {
  const seeds: Seed[] = [
    { name: 'test/fixtures/pth/state_dict_legacy.pth', bytes: read(fixture('pth', 'state_dict_legacy.pth'))! },
    { name: 'writePth legacy', bytes: writePth(smallStateDict(), { format: 'legacy' }) },
  ];
  const parts = seeds.map((s) => legacyParts(s.bytes));
  const objects = parts.map((p) => p.object);
  const emptyKeys = op(PROTO2, '].');
  return {
    name: 'pickle',
    code: 'E_WEIGHTS',
    ext: 'pth',
    seeds,
    make: (rng) => {
      const k = rng.int(seeds.length);
      const p = parts[k]!;
      if (rng.chance(0.35)) {
        const h = hostilePickle(rng);
        return { bytes: concat(p.prefix, h.bytes, emptyKeys), seed: 'hostile', how: [h.how] };
      }
      const { bytes, how } = mutate(rng, p.object, undefined, objects);
      return { bytes: concat(p.prefix, bytes, p.suffix), seed: `${seeds[k]!.name} (object pickle)`, how };
    },
    run: (c, file) => readPth(c.bytes, file),
  };
}

// ---------------------------------------------------------------------------------------------
// .pth: zip format

/** Offsets of the structure of a zip: local headers, central directory entries, end records. */
function zipStructure(b: Uint8Array): { fields: [number, number][]; hot: Hot } {
  const fields: [number, number][] = []; // [offset, width]
  const hot: [number, number][] = [];
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  for (let o = 0; o + 4 <= b.length; o++) {
    const sig = dv.getUint32(o, true);
    if (sig === 0x04034b50 && o + 30 <= b.length) {
      fields.push([o + 6, 2], [o + 8, 2], [o + 18, 4], [o + 22, 4], [o + 26, 2], [o + 28, 2]);
      hot.push([o, o + 30 + dv.getUint16(o + 26, true) + dv.getUint16(o + 28, true)]);
    } else if (sig === 0x02014b50 && o + 46 <= b.length) {
      fields.push([o + 8, 2], [o + 10, 2], [o + 20, 4], [o + 24, 4], [o + 28, 2], [o + 30, 2], [o + 32, 2], [o + 42, 4]);
      hot.push([o, o + 46 + dv.getUint16(o + 28, true) + dv.getUint16(o + 30, true)]);
    } else if (sig === 0x06054b50 && o + 22 <= b.length) {
      fields.push([o + 8, 2], [o + 10, 2], [o + 12, 4], [o + 16, 4], [o + 20, 2]);
      hot.push([o, o + 22]);
    } else if (sig === 0x06064b50 && o + 56 <= b.length) {
      fields.push([o + 24, 8], [o + 32, 8], [o + 40, 8], [o + 48, 8]);
      hot.push([o, o + 56]);
    } else if (sig === 0x07064b50 && o + 20 <= b.length) {
      fields.push([o + 8, 8]);
      hot.push([o, o + 20]);
    }
  }
  return { fields, hot };
}

/** A zip whose data/0 inflates to `size` zero bytes (a bomb when the file is small). */
function zipBomb(size: number, declared = size): Uint8Array {
  const files = unzipSync(read(fixture('pth', 'state_dict_zip.pth'))!);
  const out: Record<string, Uint8Array | [Uint8Array, { level: 9 }]> = {};
  for (const [k, v] of Object.entries(files)) out[k] = k.endsWith('/data/0') ? [new Uint8Array(size), { level: 9 }] : v;
  const z = zipSync(out as never, { level: 0 });
  if (declared !== size) {
    for (const [o] of zipStructure(z).fields.filter(([, w]) => w === 4)) {
      const dv = new DataView(z.buffer, z.byteOffset, z.byteLength);
      if (dv.getUint32(o, true) === size) dv.setUint32(o, declared, true);
    }
  }
  return z;
}

function zipTarget(): Target {
  const zipFixture = read(fixture('pth', 'state_dict_zip.pth'))!;
  const seeds: Seed[] = [
    { name: 'test/fixtures/pth/state_dict_zip.pth', bytes: zipFixture },
    { name: 'test/fixtures/pth/checkpoint_p4.pth', bytes: read(fixture('pth', 'checkpoint_p4.pth'))! },
    { name: 'writePth zip', bytes: writePth(smallStateDict()) },
    { name: 'test/fixtures/pth/forbidden_global.pth', bytes: read(fixture('pth', 'forbidden_global.pth'))!, bad: true },
    { name: 'state_dict_zip.pth re-zipped with deflate', bytes: zipSync(unzipSync(zipFixture), { level: 6 }) },
    { name: 'zip bomb: data/0 inflates to 16 MB', bytes: zipBomb(16 << 20), weight: 0.2, kind: 'bomb', bad: true },
    { name: 'zip bomb: data/0 declares 4 GB', bytes: zipBomb(1 << 20, 0xfffffff0), weight: 0.2, kind: 'bomb', bad: true },
    ...shared('pytorch_model.bin').filter((s) => s.bytes.length < 3_000_000).map((s) => ({ ...s, weight: 0.1 })),
  ];
  const structure = new Map(seeds.map((s) => [s, zipStructure(s.bytes)]));
  for (const s of seeds) s.hot = structure.get(s)!.hot;
  return {
    name: 'pth-zip',
    code: 'E_WEIGHTS',
    ext: 'pth',
    seeds,
    make: (rng) => {
      const s = pickSeed(rng, seeds);
      const r = rng.int(10);
      if (r < 3) {
        // a zip field (sizes, counts, offsets, name lengths, method, flags) set to an interesting value
        const b = s.bytes.slice();
        const how: string[] = [];
        for (let n = 1 + rng.int(2); n > 0; n--) {
          const [o, w] = rng.pick(structure.get(s)!.fields);
          writeInt(b, o, rng.chance(0.7) ? rng.pick(INTERESTING) : BigInt(rng.int(1 << (8 * Math.min(w, 3)))), w, true);
          how.push(`zip-field@${o}`);
        }
        return { bytes: b, seed: s.name, how };
      }
      if (r < 5 && s.kind !== 'bomb' && s.bytes.length < 1_000_000) {
        // the data.pkl inside, mutated (or replaced by a hostile pickle), re-zipped stored or deflated
        const files: Record<string, Uint8Array> = unzipSync(s.bytes);
        const pkl = Object.keys(files).find((k) => k.endsWith('data.pkl'))!;
        let how: string[];
        if (rng.chance(0.3)) {
          const h = hostilePickle(rng);
          files[pkl] = h.bytes;
          how = [h.how];
        } else {
          const m = mutate(rng, files[pkl]!, undefined, []);
          files[pkl] = m.bytes;
          how = m.how;
        }
        const level = rng.chance(0.7) ? 0 : 6;
        return { bytes: zipSync(files, { level }), seed: s.name, how: [...how.map((h) => `data.pkl:${h}`), `rezip-level-${level}`] };
      }
      return generic(rng, seeds);
    },
    run: (c, file) => readWeightsBytes(c.bytes, file),
  };
}

// ---------------------------------------------------------------------------------------------
// JSON configs: transformers config.json and preprocessor_config.json, timm pretrained_cfg.json

const TINY_SETTING = [[1, 16, 1, 1]] as const;
interface Plan {
  options: MobileNetV2Options;
  preset: PresetName | PresetSpec;
}
const DEEP = '__deep__';
const CONFIG_FIELDS = [
  'depth_multiplier', 'num_labels', 'id2label', 'image_size', 'min_depth', 'depth_divisible_by', 'expand_ratio', 'output_stride',
  'hidden_act', 'num_channels', 'tf_padding', 'layer_norm_eps', 'finegrained_output', 'first_layer_is_expansion', 'architectures',
  'model_type', 'size', 'crop_size', 'resample', 'rescale_factor', 'image_mean', 'image_std', 'do_resize', 'do_center_crop',
  'do_rescale', 'do_normalize', 'input_size', 'crop_pct', 'crop_mode', 'interpolation', 'mean', 'std', 'architecture', 'num_classes',
  'pretrained_cfg',
];
const CONFIG_VALUES: readonly unknown[] = [
  ...WEIRD_JSON, 0.35, 1.4, 1000, 8, 6, 32, 224, 'relu6', 'mobilenet_v2', 'mobilenetv2_100', 'bicubic', 'center', 0.875, 1 / 255, 2, 3,
  { shortest_edge: 256 }, { shortest_edge: 0 }, { shortest_edge: 'a' }, { height: 224, width: 224 }, { height: 224, width: 225 }, { height: -1, width: -1 },
  [3, 224, 224], [3, 224, 225], [3, 0, 0], [0.5, 0.5, 0.5], [0, 0, 0], ['MobileNetV2ForImageClassification'], ['X'], { 0: 'cat' }, { 0: 5 },
  Array.from({ length: 100_000 }, (_, i) => i), 1e6, 1e9, 1e5, 2 ** 31 - 1,
];

function configTarget(): Target {
  const hfSd = readSafetensors(gunzipSync(readFileSync(fixture('hf', 'model.safetensors.gz'))), 'hf/model.safetensors').tensors;
  const timmSd = readSafetensors(gunzipSync(readFileSync(fixture('timm', 'model.safetensors.gz'))), 'timm/model.safetensors').tensors;
  const hfConfig = read(fixture('hf', 'config.json'))!;
  const seeds: Seed[] = [
    { name: 'test/fixtures/hf/config.json', bytes: hfConfig, kind: 'config' },
    // other widths than the state dict beside them: refused by the size check, mutated all the same
    ...shared('config.json').filter((s) => s.name.includes('/hf_')).map((s) => ({ ...s, kind: 'config', bad: !s.name.includes('hf_d0.35_96_c10') })),
    ...shared('config.json', 'real').map((s) => ({ ...s, kind: 'config', weight: 0.3, bad: true })),
    { name: 'test/fixtures/hf/preprocessor_default/preprocessor_config.json', bytes: read(fixture('hf', 'preprocessor_default', 'preprocessor_config.json'))!, kind: 'preprocessor' },
    ...shared('preprocessor_config.json').map((s) => ({ ...s, kind: 'preprocessor' })),
    ...shared('preprocessor_config.json', 'real').map((s) => ({ ...s, kind: 'preprocessor' })),
    { name: 'test/fixtures/timm/pretrained_cfg.json', bytes: read(fixture('timm', 'pretrained_cfg.json'))!, kind: 'timm' },
    ...shared('pretrained_cfg.json').map((s) => ({ ...s, kind: 'timm' })),
  ];
  const structured = (rng: Rng, s: Seed): Case => {
    const doc = JSON.parse(new TextDecoder().decode(s.bytes)) as Record<string, unknown>;
    const how: string[] = [];
    let out: unknown = doc;
    for (let n = 1 + rng.int(3); n > 0; n--) {
      const r = rng.int(10);
      const key = rng.chance(0.6) ? rng.pick(Object.keys(doc)) : rng.pick(CONFIG_FIELDS);
      if (r < 6) {
        doc[key] = rng.pick(CONFIG_VALUES);
        how.push(`set ${key}`);
      } else if (r < 8) {
        delete doc[key];
        how.push(`delete ${key}`);
      } else if (r < 9) {
        doc[key] = DEEP;
        how.push(`deep ${key}`);
      } else {
        out = rng.pick([null, [], 5, 'config', [doc], true]);
        how.push('not an object');
      }
    }
    const text = JSON.stringify(out).replace(`"${DEEP}"`, () => deepJson(rng.logInt(10, 100_000), '[', ']'));
    return { bytes: enc.encode(text), seed: s.name, how, kind: s.kind };
  };
  const check = (options: MobileNetV2Options, preset: PresetName | PresetSpec): void => {
    // what the loader builds next must accept them: a RangeError here is a finding (validated
    // in full; built with one block and no head, so that the random init costs nothing)
    new MobileNetV2({ ...options, includeTop: false, pooling: options.includeTop === false ? options.pooling : undefined, seed: 0 }, TINY_SETTING as never);
    resolvePreset(preset);
  };
  const folder = (config: Record<string, unknown>, file: string, preprocessor?: Record<string, unknown>): CheckpointFolder => ({
    dir: 'case', config, configFile: file, stateDict: hfSd, weightsFile: 'case/model.safetensors', preprocessor,
  });
  return {
    name: 'config',
    code: 'E_WEIGHTS',
    ext: 'json',
    seeds,
    make: (rng) => (rng.chance(0.6) ? structured(rng, pickSeed(rng, seeds)) : generic(rng, seeds)),
    fileName: (i, c) => `case-${i}/${c.kind === 'preprocessor' ? 'preprocessor_config' : c.kind === 'timm' ? 'pretrained_cfg' : 'config'}.json`,
    run: (c, file): Plan => {
      // as readJson + readCheckpointFolder + loadCheckpoint do, up to building the model
      const doc = jsonObject(parseJson(c.bytes, file), file);
      if (c.kind === 'preprocessor') {
        const cfg = jsonObject(parseJson(hfConfig, 'config.json'), 'config.json');
        const plan = planHfFolder({ ...folder(cfg, 'config.json', doc), dir: file.slice(0, file.lastIndexOf('/')) });
        return { options: plan.options, preset: plan.preset };
      }
      const arch = str(doc, 'architecture', file);
      if (c.kind === 'timm' || arch !== undefined) {
        const pretrained = c.kind === 'timm' ? doc : obj(doc, 'pretrained_cfg', file);
        const plan = planTimm(timmSd, arch, 'case/model.safetensors', pretrained, num(doc, 'num_classes', file, { int: true, min: 1 }), file);
        return { options: { ...plan.options, includeTop: plan.includeTop, ...(plan.includeTop ? {} : { pooling: 'avg' as const }) }, preset: plan.preset };
      }
      const plan = planHfFolder(folder(doc, file));
      return { options: plan.options, preset: plan.preset };
    },
    verify: (r) => check((r as Plan).options, (r as Plan).preset),
  };
}

// ---------------------------------------------------------------------------------------------
// images: decodeRgb on bytes (sharp for JPEG/PNG/WebP/GIF/TIFF, TypeScript for BMP)

const crc32 = (b: Uint8Array): number => {
  let c = 0xffffffff;
  for (let i = 0; i < b.length; i++) {
    c ^= b[i]!;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
};

function pngChunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, data.length);
  out.set(enc.encode(type), 4);
  out.set(data, 8);
  dv.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/** A PNG of `w` x `h`, bit depth / colour type as given, whose IDAT holds `idat` (often far too little). */
export function pngHeader(w: number, h: number, depth = 8, colourType = 2, idat: Uint8Array = deflate(new Uint8Array(1000))): Uint8Array {
  const ihdr = new Uint8Array(13);
  const dv = new DataView(ihdr.buffer);
  dv.setUint32(0, w);
  dv.setUint32(4, h);
  ihdr[8] = depth;
  ihdr[9] = colourType;
  return concat(Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a), pngChunk('IHDR', ihdr), pngChunk('IDAT', idat), pngChunk('IEND', new Uint8Array(0)));
}

function deflate(b: Uint8Array): Uint8Array {
  return zlibSync(b);
}

/** PNG chunks (offset, type, data range), to mutate one and fix its CRC. */
function pngChunks(b: Uint8Array): { at: number; type: string; start: number; end: number }[] {
  const out: { at: number; type: string; start: number; end: number }[] = [];
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  for (let p = 8; p + 12 <= b.length;) {
    const n = dv.getUint32(p);
    if (p + 12 + n > b.length) break;
    out.push({ at: p, type: new TextDecoder().decode(b.subarray(p + 4, p + 8)), start: p + 8, end: p + 8 + n });
    p += 12 + n;
  }
  return out;
}

/** JPEG frame header (SOFn) offset, to set its dimensions or components. */
function jpegSof(b: Uint8Array): number | undefined {
  for (let p = 2; p + 4 <= b.length;) {
    if (b[p] !== 0xff) return undefined;
    const m = b[p + 1]!;
    if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) return p;
    if (m === 0xda) return undefined;
    p += 2 + ((b[p + 2]! << 8) | b[p + 3]!);
  }
  return undefined;
}

const FORMATS = fixture('images', 'formats');

function formatFixtures(bmp: boolean): Seed[] {
  if (!existsSync(FORMATS)) return [];
  const index = JSON.parse(readFileSync(join(FORMATS, 'index.json'), 'utf8')) as Record<string, { error?: string }>;
  return Object.keys(index)
    .sort()
    .filter((f) => f.endsWith('.bmp') === bmp)
    .map((f) => ({ name: `test/fixtures/images/formats/${f}`, bytes: read(join(FORMATS, f))!, bad: index[f]!.error !== undefined }));
}

async function imageTarget(): Promise<Target> {
  const { decodeRgb } = await import('../src/platform/node/image.js');
  const { MAX_PIXELS } = await import('../src/data/bmp.js');
  const sharp = (await import('sharp')).default;
  const seeds: Seed[] = [
    { name: 'test/fixtures/images/face.jpg', bytes: read(fixture('images', 'face.jpg'))! },
    ...['cat_720p.jpg', 'hot_dog.jpg'].map((f) => ({ name: `fixtures/images/${f}`, bytes: read(join(SHARED, 'fixtures', 'images', f)) })).filter((s): s is Seed => s.bytes !== undefined).map((s) => ({ ...s, weight: 0.2 })),
    ...(existsSync(join(SHARED, 'real', 'photos')) ? readdirSync(join(SHARED, 'real', 'photos')).sort().map((f) => ({ name: `real/photos/${f}`, bytes: read(join(SHARED, 'real', 'photos', f))!, weight: 0.3 })) : []),
    ...formatFixtures(false),
    { name: 'crafted: PNG header 50000 x 50000', bytes: pngHeader(50000, 50000), bad: true },
    { name: 'crafted: PNG header 15000 x 12000 (over PIL\'s limit, under sharp\'s)', bytes: pngHeader(15000, 12000), bad: true },
    { name: 'crafted: PNG 12000 x 12000 grey, truncated', bytes: pngHeader(12000, 12000, 8, 0), bad: true },
    { name: 'crafted: PNG 3000 x 3000 grey zeros (a small bomb, valid)', bytes: pngHeader(3000, 3000, 8, 0, deflate(new Uint8Array(3001 * 3000))), weight: 0.1 },
    { name: 'crafted: PNG header 16-bit grey 64 x 64', bytes: pngHeader(64, 64, 16, 0, deflate(new Uint8Array(129 * 64))) },
  ];
  for (const s of seeds) s.hot = [[0, 1024]];
  const structured = (rng: Rng, s: Seed): Case | undefined => {
    const b = s.bytes.slice();
    if (b[0] === 0x89 && b[1] === 0x50) {
      const chunks = pngChunks(b);
      if (chunks.length === 0) return undefined;
      const ihdr = chunks.find((c) => c.type === 'IHDR');
      const c = ihdr && rng.chance(0.6) ? ihdr : rng.pick(chunks);
      const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
      if (c.type === 'IHDR' && c.end - c.start >= 13) {
        const field = rng.int(4);
        if (field === 0) dv.setUint32(c.start, Number(rng.pick(INTERESTING) & 0xffffffffn));
        else if (field === 1) dv.setUint32(c.start + 4, Number(rng.pick(INTERESTING) & 0xffffffffn));
        else if (field === 2) b[c.start + 8] = rng.pick([1, 2, 4, 8, 16, 0, 3, 255]);
        else b[c.start + 9 + rng.int(4)] = rng.pick([0, 2, 3, 4, 6, 1, 5, 7, 255]);
      } else {
        for (let n = 1 + rng.int(4); n > 0 && c.end > c.start; n--) b[c.start + rng.int(c.end - c.start)] = rng.int(256);
      }
      dv.setUint32(c.end, crc32(b.subarray(c.at + 4, c.end))); // a valid CRC: the chunk's content is what is tested
      return { bytes: b, seed: s.name, how: [`png ${c.type}`] };
    }
    const sof = b[0] === 0xff && b[1] === 0xd8 ? jpegSof(b) : undefined;
    if (sof !== undefined && sof + 10 <= b.length) {
      const field = rng.int(3);
      if (field < 2) writeInt(b, sof + 5 + 2 * field, rng.chance(0.5) ? rng.pick([0n, 1n, 0xffffn, 65500n, 50000n, 16384n]) : BigInt(rng.int(65536)), 2, false);
      else b[sof + 9] = rng.pick([0, 1, 2, 3, 4, 5, 255]);
      return { bytes: b, seed: s.name, how: [`jpeg SOF ${['height', 'width', 'components'][field]}`] };
    }
    return undefined;
  };
  return {
    name: 'image',
    code: 'E_IMAGE',
    ext: 'img',
    seeds,
    make: (rng) => {
      const s = pickSeed(rng, seeds);
      return (rng.chance(0.4) ? structured(rng, s) : undefined) ?? generic(rng, seeds);
    },
    run: (c) => decodeRgb(c.bytes),
    prefix: (c) => `<buffer of ${c.bytes.length} bytes>: `,
    allowance: (r) => 4 * ((r as { data: Uint8Array }).data?.length ?? 0),
    // libjpeg / libpng allocate row buffers for the width a header declares (up to 65535
    // pixels x 4 channels x 16 rows x a few) before they find the data missing
    slack: 32 << 20,
    native: true,
    declared: async (c) => {
      const m = await sharp(c.bytes, { limitInputPixels: false }).metadata().catch(() => undefined);
      return m?.width && m.height ? 4 * Math.min(m.width * m.height, MAX_PIXELS) : 0;
    },
  };
}

/** A BMP file header + BITMAPINFOHEADER, then `rest` (palette and pixels). */
export function bmpHeader(w: number, h: number, bits: number, compression = 0, rest: Uint8Array = new Uint8Array(0), colors = 0): Uint8Array {
  const b = new Uint8Array(54);
  const dv = new DataView(b.buffer);
  b[0] = 0x42;
  b[1] = 0x4d;
  dv.setUint32(2, 54 + rest.length, true);
  dv.setUint32(10, 54 + (bits <= 8 ? 4 * (colors || 2 ** bits) : 0), true);
  dv.setUint32(14, 40, true);
  dv.setInt32(18, w, true);
  dv.setInt32(22, h, true);
  dv.setUint16(26, 1, true);
  dv.setUint16(28, bits, true);
  dv.setUint32(30, compression, true);
  dv.setUint32(46, colors, true);
  return concat(b, rest);
}

async function bmpTarget(): Promise<Target> {
  const { decodeRgb } = await import('../src/platform/node/image.js');
  const greyPalette = Uint8Array.from({ length: 1024 }, (_, i) => (i % 4 === 3 ? 0 : 255 - (i >> 2)));
  const seeds: Seed[] = [
    ...formatFixtures(true),
    { name: 'crafted: 50000 x 50000 24-bit header', bytes: bmpHeader(50000, 50000, 24), bad: true },
    { name: 'crafted: 10000 x 10000 24-bit, no pixels', bytes: bmpHeader(10000, 10000, 24), bad: true },
    // 2 bytes of RLE8 make 255 pixels: 48 MB of RGB from 137 KB, a valid image (PIL decodes it too)
    { name: 'crafted: RLE8 4080 x 4000 of 255-pixel runs', bytes: bmpHeader(4080, 4000, 8, 1, concat(greyPalette, rep(concat(rep(Uint8Array.of(255, 7), 16), Uint8Array.of(0, 0)), 4000))), weight: 0.05 },
    { name: 'crafted: RLE8 4000 x 4000, data for 3 rows', bytes: bmpHeader(4000, 4000, 8, 1, concat(greyPalette, rep(Uint8Array.of(200, 7), 60))), bad: true },
    { name: 'crafted: RLE4 with a delta escape', bytes: bmpHeader(16, 4, 4, 2, concat(greyPalette.subarray(0, 64), Uint8Array.of(4, 0x12, 0, 2, 1, 1, 0, 0, 0, 1))), bad: true },
  ];
  for (const s of seeds) s.hot = [[0, 1078]];
  const structured = (rng: Rng, s: Seed): Case => {
    const b = s.bytes.slice();
    const field = rng.pick([[18, 4], [22, 4], [28, 2], [30, 4], [46, 4], [10, 4], [14, 4], [54, 4], [58, 4], [62, 4]] as const);
    writeInt(b, field[0], rng.chance(0.6) ? rng.pick(INTERESTING) * (rng.chance(0.2) ? -1n : 1n) : BigInt(rng.int(field[1] === 2 ? 40 : 300)), field[1], true);
    return { bytes: b, seed: s.name, how: [`bmp header @${field[0]}`] };
  };
  return {
    name: 'bmp',
    code: 'E_IMAGE',
    ext: 'bmp',
    seeds,
    make: (rng) => {
      const s = pickSeed(rng, seeds);
      return s.bytes.length >= 54 && rng.chance(0.4) ? structured(rng, s) : generic(rng, seeds);
    },
    run: (c) => decodeRgb(c.bytes),
    prefix: (c) => `<buffer of ${c.bytes.length} bytes>: `,
    allowance: (r) => 4 * ((r as { data: Uint8Array }).data?.length ?? 0),
  };
}

// ---------------------------------------------------------------------------------------------
// onnx: an .onnx given as weights (export's fp32 graphs, quantize's int8 ones), read into the IR

function onnxTarget(): Target {
  const small = new MobileNetV2({ alpha: 0.25, numClasses: 10, lastChannel: 'seed', seed: 0 }, [[1, 16, 1, 1], [6, 24, 2, 2]]).eval();
  const seeds: Seed[] = [
    { name: 'inferenceOnnx: alpha 0.25, two blocks, 32x32', bytes: inferenceOnnx(small, { inputSize: 32 }) },
    { name: 'test/fixtures/int8/tiny.int8.onnx', bytes: read(fixture('int8', 'tiny.int8.onnx'))! },
  ];
  return {
    name: 'onnx',
    code: 'E_WEIGHTS',
    ext: 'onnx',
    seeds,
    make: (rng) => generic(rng, seeds),
    run: (c, file) => {
      const net = onnxNetwork(c.bytes, file);
      // an int8 file is rewritten for the browser's variants: that path reads its constants too
      return net.quantization ? variantBytes(net, 'weights-only') : net;
    },
  };
}

// ---------------------------------------------------------------------------------------------

export async function loadTarget(name: string): Promise<Target> {
  switch (name) {
    case 'safetensors': return safetensorsTarget();
    case 'pth-zip': return zipTarget();
    case 'pth-legacy': return legacyTarget();
    case 'pickle': return pickleTarget();
    case 'config': return configTarget();
    case 'image': return imageTarget();
    case 'bmp': return bmpTarget();
    case 'onnx': return onnxTarget();
    default: throw new RangeError(`Unknown fuzz target: "${name}". Should be one of: ${TARGET_NAMES.join(', ')}`);
  }
}

export { isWeightsError };
