// Conversions from the element types found in weight files to the two dtypes our tensors hold.
// Floats of any width become float32 (float64 rounds to nearest, f16/bf16 widen exactly);
// int64 stays int64. Every other integer type is refused: no key of MobileNetV2 needs one.

import type { Tensor } from '../tensor.js';

/** Element types that may appear in a file, named as safetensors names them. */
export type FileDType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

export const ELEMENT_SIZE: Record<FileDType, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1,
};

/** The dtype a tensor of this file dtype gets once loaded, or undefined when unsupported. */
export function loadedDType(dt: FileDType): Tensor['dtype'] | undefined {
  if (dt === 'F64' || dt === 'F32' || dt === 'F16' || dt === 'BF16') return 'float32';
  if (dt === 'I64') return 'int64';
  return undefined;
}

/** IEEE half (binary16) bits -> number, exact (subnormals, infinities and NaN included). */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24; // zero or subnormal
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/**
 * Decode `count` little-endian elements of type `dt` starting at byte `offset` of `bytes`
 * into a fresh Float32Array or BigInt64Array. Caller checked the bounds and the dtype.
 */
export function decodeElements(bytes: Uint8Array, offset: number, count: number, dt: FileDType): Float32Array | BigInt64Array {
  const size = ELEMENT_SIZE[dt];
  // Copy into an aligned buffer first: the source offset need not be a multiple of the element size.
  // (Buffer.slice would return a view, hence the explicit copy.)
  const raw = new Uint8Array(count * size);
  raw.set(bytes.subarray(offset, offset + count * size));
  switch (dt) {
    case 'F32':
      return new Float32Array(raw.buffer, 0, count);
    case 'I64':
      return new BigInt64Array(raw.buffer, 0, count);
    case 'F64':
      return Float32Array.from(new Float64Array(raw.buffer, 0, count));
    case 'F16': {
      const src = new Uint16Array(raw.buffer, 0, count);
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = halfToFloat(src[i]!);
      return out;
    }
    case 'BF16': {
      const src = new Uint16Array(raw.buffer, 0, count);
      const out = new Float32Array(count);
      const outBits = new Uint32Array(out.buffer);
      for (let i = 0; i < count; i++) outBits[i] = src[i]! << 16;
      return out;
    }
    default:
      throw new Error(`decodeElements: unsupported dtype ${dt}`);
  }
}

/** The raw little-endian bytes of a tensor's data (a view, no copy when aligned). */
export function tensorBytes(t: Tensor): Uint8Array {
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

// Typed arrays use the platform's byte order; every format we read is little-endian.
if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  throw new Error('mobilenetv2 weights: big-endian platforms are not supported');
}

/** A plain Uint8Array view of the same bytes (a Node Buffer's slice() aliases; Uint8Array's copies). */
export function plainBytes(b: Uint8Array): Uint8Array {
  return Object.getPrototypeOf(b) === Uint8Array.prototype ? b : new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}
