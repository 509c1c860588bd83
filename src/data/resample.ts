// The preset's eval transform (Pillow's resize, center crop, normalize) in WebAssembly with SIMD:
// the kernels of wasm/resample.as.ts, the weights and the memory layout here. The same integers
// as data/transforms.ts' transformRgbJs, bit for bit (test/data.resample.test.ts), at a fraction
// of its time. Platform-free: Node and browsers compile the same 1 KB module synchronously; where
// WebAssembly SIMD is missing, transformRgb falls back to the JS kernels.

import { WASM_BASE64 } from './wasm/resample.bytes.js';
import { centerCropOffsets, coefficients, normalizeLut, resizedShape, PRECISION_BITS, type Coeffs, type PresetSpec, type RgbImage } from './transforms.js';

interface Kernels {
  readonly memory: WebAssembly.Memory;
  horizontal(src: number, srcStride: number, rows: number, S: number, bounds: number, k: number, ksize: number, dst: number, dstStride: number): void;
  vertical(src: number, stride: number, S: number, bounds: number, k: number, ksize: number, dst: number): void;
  normalize(src: number, stride: number, S: number, lut: number, dst: number): void;
  heapBase(): number;
}

/** Memory kept between calls; above it (a huge photo) the instance is dropped after the call. */
const KEEP_BYTES = 64 << 20;

let kernels: Kernels | null | undefined;

function instantiate(): Kernels | null {
  try {
    const bytes = Uint8Array.from(atob(WASM_BASE64), (c) => c.charCodeAt(0));
    if (!WebAssembly.validate(bytes)) return null; // no SIMD here
    return new WebAssembly.Instance(new WebAssembly.Module(bytes), {}).exports as unknown as Kernels;
  } catch {
    return null;
  }
}

/** Which kernels transformRgb runs here: 'wasm-simd', or 'js' where WebAssembly SIMD is missing. */
export function resampleKernel(): 'wasm-simd' | 'js' {
  kernels ??= instantiate();
  return kernels ? 'wasm-simd' : 'js';
}

const pad16 = (n: number): number => (n + 31) & ~15; // 16-aligned, with 16 bytes of slack

/** The crop's S outputs of a pass: (first input, taps) relative to `origin`, and their weights. */
function cropTaps(c: Coeffs | undefined, start: number, S: number, origin: number): { bounds: Int32Array; k: Int32Array; ksize: number } {
  const bounds = new Int32Array(2 * S);
  if (!c) {
    // the size is kept: each output is one input with weight 1.0 (exact: (v << 22 + 1 << 21) >> 22 = v)
    for (let i = 0; i < S; i++) bounds.set([start + i - origin, 1], 2 * i);
    return { bounds, k: new Int32Array(S).fill(1 << PRECISION_BITS), ksize: 1 };
  }
  for (let i = 0; i < S; i++) bounds.set([c.bounds[2 * (start + i)]! - origin, c.bounds[2 * (start + i) + 1]!], 2 * i);
  return { bounds, k: c.k.subarray(start * c.ksize, (start + S) * c.ksize), ksize: c.ksize };
}

/**
 * transformRgb in WebAssembly: (H, W, 3) uint8 -> (3, crop, crop) float32 into `dst` at `offset`.
 * Returns false where the kernels are unavailable (the caller then runs the JS ones).
 */
export function transformWasm(img: RgbImage, spec: PresetSpec, dst: Float32Array, offset: number): boolean {
  kernels ??= instantiate();
  const K = kernels;
  if (!K) return false;
  const size = resizedShape(img.height, img.width, spec.resize);
  const { top, left } = centerCropOffsets(size.height, size.width, spec.crop, spec.cropRounding);
  const S = spec.crop;
  const W = img.width;
  const hc = size.width !== W ? coefficients(W, size.width, spec.interpolation) : undefined;
  const vc = size.height !== img.height ? coefficients(img.height, size.height, spec.interpolation) : undefined;

  // the input window the crop reads: rows y0..y1, columns x0..x1
  let y0 = top, y1 = top + S, x0 = left, x1 = left + S;
  if (vc) {
    y0 = vc.bounds[2 * top]!;
    y1 = 0;
    for (let r = top; r < top + S; r++) y1 = Math.max(y1, vc.bounds[2 * r]! + vc.bounds[2 * r + 1]!);
  }
  if (hc) {
    x0 = hc.bounds[2 * left]!;
    x1 = 0;
    for (let c = left; c < left + S; c++) x1 = Math.max(x1, hc.bounds[2 * c]! + hc.bounds[2 * c + 1]!);
  }
  const h = cropTaps(hc, left, S, x0);
  const v = cropTaps(vc, top, S, y0);
  const rows = y1 - y0;
  const srcStride = (x1 - x0) * 3;
  const stride = (S * 3 + 15) & ~15; // rows of the two passes' outputs, 16-byte aligned

  // memory: lut | h bounds | h weights | v bounds | v weights | window | mid | crop | planes
  const lutAt = K.heapBase();
  const hbAt = lutAt + pad16(3 * 256 * 4);
  const hkAt = hbAt + pad16(h.bounds.byteLength);
  const vbAt = hkAt + pad16(h.k.byteLength);
  const vkAt = vbAt + pad16(v.bounds.byteLength);
  const srcAt = vkAt + pad16(v.k.byteLength);
  const midAt = srcAt + pad16(rows * srcStride);
  const cropAt = midAt + pad16(rows * stride);
  const outAt = cropAt + pad16(S * stride);
  const end = outAt + pad16(3 * S * S * 4);
  const have = K.memory.buffer.byteLength;
  if (end > have) K.memory.grow(Math.ceil((end - have) / 65536));

  const mem = new Uint8Array(K.memory.buffer);
  const i32 = (at: number, a: Int32Array) => new Int32Array(K.memory.buffer, at, a.length).set(a);
  new Float32Array(K.memory.buffer, lutAt, 768).set(normalizeLut(spec.mean, spec.std));
  i32(hbAt, h.bounds);
  i32(hkAt, h.k);
  i32(vbAt, v.bounds);
  i32(vkAt, v.k);
  const inp = img.data;
  if (x0 === 0 && x1 === W) mem.set(inp.subarray(y0 * W * 3, y1 * W * 3), srcAt);
  else for (let y = 0; y < rows; y++) mem.set(inp.subarray(((y0 + y) * W + x0) * 3, ((y0 + y) * W + x1) * 3), srcAt + y * srcStride);

  K.horizontal(srcAt, srcStride, rows, S, hbAt, hkAt, h.ksize, midAt, stride); // (rows, S, 3)
  K.vertical(midAt, stride, S, vbAt, vkAt, v.ksize, cropAt); // (S, S, 3)
  K.normalize(cropAt, stride, S, lutAt, outAt); // (3, S, S)
  dst.set(new Float32Array(K.memory.buffer, outAt, 3 * S * S), offset);
  if (K.memory.buffer.byteLength > KEEP_BYTES) kernels = undefined; // let a huge photo's memory go
  return true;
}
