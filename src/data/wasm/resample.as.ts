// AssemblyScript, compiled to WebAssembly (with SIMD) by tools/build-wasm.mjs at `npm run build`.
// The two passes of Pillow's 8-bit resampling (ImagingResampleHorizontal/Vertical_8bpc) on an RGB
// image, and the normalization into float planes: integer arithmetic identical to Pillow's and to
// data/transforms.ts (int32 accumulators from 1 << 21, weights with 22 fractional bits, >> 22,
// clipped to 0..255). data/resample.ts lays out the memory and computes the weights; every pointer
// here is a byte offset into this module's memory, every buffer padded by 16 bytes.

const SHIFT: i32 = 22;

@inline function clip8(acc: v128): v128 {
  return i32x4.min_s(i32x4.max_s(i32x4.shr_s(acc, SHIFT), i32x4.splat(0)), i32x4.splat(255));
}

/**
 * Horizontal pass: `rows` rows of an (., W, 3) image at `src` (row stride `srcStride` bytes) ->
 * (rows, S, 3) at `dst` (row stride `dstStride`). Output pixel c reads `bounds[2c+1]` input pixels
 * from `bounds[2c]` with weights `k[c * ksize ...]`. One pixel's R, G, B (and a 4th byte that is
 * weighted but never kept) are the four lanes of one i32x4.
 */
export function horizontal(src: usize, srcStride: i32, rows: i32, S: i32, bounds: usize, k: usize, ksize: i32, dst: usize, dstStride: i32): void {
  const half = i32x4.splat(1 << (SHIFT - 1));
  for (let y = 0; y < rows; y++) {
    const row = src + <usize>y * <usize>srcStride;
    const out = dst + <usize>y * <usize>dstStride;
    for (let c = 0; c < S; c++) {
      const xmin = load<i32>(bounds + (<usize>c << 3));
      const taps = load<i32>(bounds + (<usize>c << 3), 4);
      let p = row + <usize>xmin * 3;
      let kp = k + <usize>c * <usize>ksize * 4;
      let acc = half;
      for (let x = 0; x < taps; x++) {
        const px = i32x4.extend_low_i16x8_u(i16x8.extend_low_i8x16_u(v128.load32_zero(p)));
        acc = i32x4.add(acc, i32x4.mul(px, i32x4.splat(load<i32>(kp))));
        p += 3;
        kp += 4;
      }
      const v = clip8(acc);
      // 4 bytes stored, the 4th overwritten by the next pixel (or left in the padding)
      v128.store32_lane(out + <usize>c * 3, i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_s(v, v), v), 0);
    }
  }
}

/**
 * Vertical pass: (., n, bytes) rows at `src` (stride `stride`) -> S rows at `dst` (same stride),
 * 16 bytes at a time. Output row r reads `bounds[2r+1]` rows from `bounds[2r]` with weights
 * `k[r * ksize ...]`.
 */
export function vertical(src: usize, stride: i32, S: i32, bounds: usize, k: usize, ksize: i32, dst: usize): void {
  const half = i32x4.splat(1 << (SHIFT - 1));
  for (let r = 0; r < S; r++) {
    const ymin = load<i32>(bounds + (<usize>r << 3));
    const taps = load<i32>(bounds + (<usize>r << 3), 4);
    const first = src + <usize>ymin * <usize>stride;
    const kr = k + <usize>r * <usize>ksize * 4;
    const out = dst + <usize>r * <usize>stride;
    for (let x = 0; x < stride; x += 16) {
      let a0 = half, a1 = half, a2 = half, a3 = half;
      let p = first + <usize>x;
      for (let y = 0; y < taps; y++) {
        const v = v128.load(p);
        const w = i32x4.splat(load<i32>(kr + (<usize>y << 2)));
        const lo = i16x8.extend_low_i8x16_u(v);
        const hi = i16x8.extend_high_i8x16_u(v);
        a0 = i32x4.add(a0, i32x4.mul(i32x4.extend_low_i16x8_u(lo), w));
        a1 = i32x4.add(a1, i32x4.mul(i32x4.extend_high_i16x8_u(lo), w));
        a2 = i32x4.add(a2, i32x4.mul(i32x4.extend_low_i16x8_u(hi), w));
        a3 = i32x4.add(a3, i32x4.mul(i32x4.extend_high_i16x8_u(hi), w));
        p += <usize>stride;
      }
      v128.store(out + <usize>x, i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_s(clip8(a0), clip8(a1)), i16x8.narrow_i32x4_s(clip8(a2), clip8(a3))));
    }
  }
}

/**
 * (S, S, 3) bytes at `src` (row stride `stride`) -> (3, S, S) float32 at `dst` through the
 * per-channel tables at `lut` (3 x 256 float32: lut[c][v] = (v / 255 - mean[c]) / std[c]).
 */
export function normalize(src: usize, stride: i32, S: i32, lut: usize, dst: usize): void {
  const plane = <usize>S * <usize>S * 4;
  let o = dst;
  for (let y = 0; y < S; y++) {
    let p = src + <usize>y * <usize>stride;
    for (let x = 0; x < S; x++) {
      store<f32>(o, load<f32>(lut + (<usize>load<u8>(p) << 2)));
      store<f32>(o + plane, load<f32>(lut + 1024 + (<usize>load<u8>(p, 1) << 2)));
      store<f32>(o + 2 * plane, load<f32>(lut + 2048 + (<usize>load<u8>(p, 2) << 2)));
      p += 3;
      o += 4;
    }
  }
}

/** Where the caller's buffers may start (after this module's own static data). */
export function heapBase(): usize {
  return (__heap_base + 15) & ~15;
}
