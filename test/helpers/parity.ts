// The "parity fill" of tools/parity_fill.py, bit for bit: deterministic float32 values for every
// float tensor of a state dict, from its key and shape. Fixtures store PyTorch's logits for
// parity-filled models; tests rebuild the same weights here instead of shipping them.
//
//   seed = FNV-1a 32-bit of the UTF-8 key
//   h(i) = murmur3 fmix32 of (seed + i * 0x9E3779B9) mod 2^32;  u = (h(i) >>> 8) / 2^24 in [0, 1)
//   running_mean, 1-D bias: (2u - 1) * 0.1      running_var, 1-D weight: 0.5 + u
//   4-D weight: (2u - 1) * sqrt(3 / fan_in)     2-D weight: (2u - 1) * sqrt(3 / shape[1])
//   input_<name>: 2u - 1                        int64 (num_batches_tracked): copied
// Values are computed in float64 and rounded to float32 once, as numpy's astype does.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { float32, int64, numel, shapeStr, type StateDict, type Tensor } from '../../src/tensor.js';

/** FNV-1a 32-bit hash of the UTF-8 bytes of `key`. */
export function fnv1a32(key: string): number {
  let h = 2166136261;
  for (const b of new TextEncoder().encode(key)) {
    h ^= b;
    h = Math.imul(h, 16777619) >>> 0;
  }
  return h >>> 0;
}

/** u in [0, 1) for element i of the tensor whose key hashes to `seed`. */
function uniform(seed: number, i: number): number {
  let x = (seed + Math.imul(i, 0x9e3779b9)) >>> 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b) >>> 0;
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35) >>> 0;
  x ^= x >>> 16;
  return (x >>> 8) / 16777216;
}

/** The parity-filled float32 values (C order) of tensor `key` with `shape`. */
export function parityFill(key: string, shape: readonly number[]): Float32Array {
  const n = numel(shape);
  const leaf = key.slice(key.lastIndexOf('.') + 1);
  let f: (u: number) => number;
  if (key.startsWith('input_')) f = (u) => 2 * u - 1;
  else if (leaf === 'running_mean') f = (u) => (2 * u - 1) * 0.1;
  else if (leaf === 'running_var') f = (u) => 0.5 + u;
  else if (leaf === 'weight' && shape.length === 1) f = (u) => 0.5 + u;
  else if (leaf === 'bias' && shape.length === 1) f = (u) => (2 * u - 1) * 0.1;
  else if (leaf === 'weight' && shape.length === 4) {
    const scale = Math.sqrt(3 / (shape[1]! * shape[2]! * shape[3]!));
    f = (u) => (2 * u - 1) * scale;
  } else if (leaf === 'weight' && shape.length === 2) {
    const scale = Math.sqrt(3 / shape[1]!);
    f = (u) => (2 * u - 1) * scale;
  } else throw new Error(`parityFill: no rule for key "${key}" with shape ${shapeStr(shape)}`);
  const seed = fnv1a32(key);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = f(uniform(seed, i));
  return out;
}

/** A new state dict: same keys, order and shapes; float tensors parity-filled, int64 copied. */
export function parityStateDict(sd: StateDict): StateDict {
  const out: StateDict = new Map();
  for (const [key, t] of sd) {
    if (t.dtype === 'float32') out.set(key, float32(t.shape, parityFill(key, t.shape)));
    else out.set(key, int64(t.shape, new BigInt64Array(t.data as BigInt64Array)));
  }
  return out;
}

/** Absolute path of a file under test/fixtures/ (this file runs from dist/test/helpers/). */
export function fixturePath(...parts: string[]): string {
  return fileURLToPath(new URL(`../../../test/fixtures/${parts.join('/')}`, import.meta.url));
}

/**
 * A minimal safetensors reader (F32 / I64) for test fixtures, kept apart from src/weights so
 * the fixtures are checked by an independent reader.
 */
export function readFixtureSafetensors(path: string): { tensors: Map<string, Tensor>; metadata: Record<string, string> } {
  const buf = readFileSync(path);
  if (buf.length < 8) throw new Error(`${path}: too short for a safetensors file`);
  const n = Number(buf.readBigUInt64LE(0));
  if (8 + n > buf.length) throw new Error(`${path}: header length ${n} runs past the end of the file`);
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, unknown>;
  const metadata = (header['__metadata__'] ?? {}) as Record<string, string>;
  const base = 8 + n;
  const tensors = new Map<string, Tensor>();
  for (const [key, value] of Object.entries(header)) {
    if (key === '__metadata__') continue;
    const info = value as { dtype: string; shape: number[]; data_offsets: [number, number] };
    const [begin, end] = info.data_offsets;
    const bytes = buf.subarray(base + begin, base + end);
    // Copy into a fresh, aligned buffer before viewing it as typed values (little-endian hosts).
    const copy = new Uint8Array(bytes).buffer;
    if (info.dtype === 'F32') tensors.set(key, float32(info.shape, new Float32Array(copy)));
    else if (info.dtype === 'I64') tensors.set(key, int64(info.shape, new BigInt64Array(copy)));
    else throw new Error(`${path}: tensor "${key}" has unsupported dtype ${info.dtype}`);
  }
  return { tensors, metadata };
}

/** max_i |a_i - b_i| (shapes must agree). */
export function maxAbsDiff(a: Tensor, b: Tensor): number {
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) throw new Error(`maxAbsDiff: shapes ${shapeStr(a.shape)} and ${shapeStr(b.shape)} differ`);
  let m = 0;
  for (let i = 0; i < a.data.length; i++) m = Math.max(m, Math.abs((a.data[i] as number) - (b.data[i] as number)));
  return m;
}

/** max_i |t_i| */
export function maxAbs(t: Tensor): number {
  let m = 0;
  for (const v of t.data as Float32Array) m = Math.max(m, Math.abs(v));
  return m;
}

/** The parity tests' error of a tensor: max_i |a_i - b_i| / max|b| (at the tensor's scale). */
export function relErr(a: Tensor, b: Tensor): number {
  return maxAbsDiff(a, b) / Math.max(maxAbs(b), 1e-30);
}
