// Calibration: what the float network's activations look like on real images, and the int8 grid
// each activation tensor gets from that. Statistics are gathered per tensor over all calibration
// images (min, max, a histogram, per-channel means); a method turns them into a range [lo, hi]:
//   minmax      the observed extremes;
//   percentile  the p-th and (100 - p)-th percentiles (default 99.99), clipping rare outliers;
//   entropy     the threshold whose quantized distribution is closest, in KL divergence, to the
//               observed one (TensorRT's calibrator: Migacz, "8-bit Inference with TensorRT", 2017);
//               exact zeros (ReLU's) are left out: the grid holds them exactly;
//   mse         the range with the least expected squared error: rounding (step^2 / 12 inside)
//               plus clipping (outside), from the histogram.
// A range becomes a scale and zero point with 0 exactly representable (zero padding and ReLU's
// zeros stay exact).

export const CALIBRATION_METHODS = ['minmax', 'percentile', 'entropy', 'mse'] as const;
export type CalibrationMethod = (typeof CALIBRATION_METHODS)[number];
export type ActivationType = 'uint8' | 'int8';

/** Histogram bins per sign: [-R, 0) and [0, R) get BINS each; R doubles (bins merge pairwise) when a value passes it. */
const BINS = 2048;

export class TensorStats {
  min = Infinity;
  max = -Infinity;
  count = 0;
  /** How many values were exactly 0 (they are in the histogram too). */
  zeros = 0;
  /** 2 * BINS counts over [-range, range). */
  hist = new Float64Array(2 * BINS);
  range = 0;
  /** Per-channel sums (axis 1) for the channel means bias correction needs. */
  channelSum: Float64Array | undefined;
  /** Per-channel maxima (axis 1): where a ReLU6 clips, for cross-layer equalization. */
  channelMax: Float64Array | undefined;
  channelCount = 0;

  constructor(
    /** Keep a histogram (percentile and entropy need one; min-max does not). */
    readonly histogram = true,
  ) {}

  /** Add one batch: data of shape (N, C, ...). One pass for the extremes, one for the histogram and channel sums. */
  add(data: Float32Array, shape: readonly number[]): void {
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < data.length; i++) {
      const v = data[i]!;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    if (!(lo <= hi) || !Number.isFinite(lo) || !Number.isFinite(hi)) throw new Error(`calibration: a tensor has non-finite values (min ${lo}, max ${hi})`);
    this.min = Math.min(this.min, lo);
    this.max = Math.max(this.max, hi);
    const absmax = Math.max(-lo, hi);
    if (this.range === 0) this.range = absmax > 0 ? absmax : 1e-30;
    while (absmax > this.range) this.grow();
    const h = this.hist;
    const R = this.range;
    const perBin = BINS / R;
    const top = 2 * BINS - 1;
    const [n, c] = [shape[0]!, shape[1] ?? 1];
    const rest = data.length / (n * c);
    const sums = (this.channelSum ??= new Float64Array(c));
    const maxes = (this.channelMax ??= new Float64Array(c).fill(-Infinity));
    for (let a = 0; a < n; a++) {
      for (let ch = 0; ch < c; ch++) {
        let s = 0;
        let m = -Infinity;
        const end = (a * c + ch + 1) * rest;
        if (!this.histogram) {
          for (let i = end - rest; i < end; i++) {
            const v = data[i]!;
            s += v;
            if (v > m) m = v;
          }
        } else {
          for (let i = end - rest; i < end; i++) {
            const v = data[i]!;
            s += v;
            if (v > m) m = v;
            if (v === 0) this.zeros++;
            const b = ((v + R) * perBin) | 0; // v + R >= 0: truncation is floor
            h[b > top ? top : b]!++;
          }
        }
        sums[ch]! += s;
        if (m > maxes[ch]!) maxes[ch] = m;
      }
    }
    this.count += data.length;
    this.channelCount += n * rest;
  }

  /** Double the range: bins merge pairwise, the old range lands in the middle half. */
  private grow(): void {
    const h = new Float64Array(2 * BINS);
    for (let i = 0; i < 2 * BINS; i++) h[BINS / 2 + (i >> 1)]! += this.hist[i]!;
    this.hist = h;
    this.range *= 2;
  }

  channelMeans(): Float64Array {
    if (!this.channelSum) throw new Error('calibration: no data');
    return this.channelSum.map((s) => s / this.channelCount);
  }

  /** The value below which a fraction `q` of all values lie (linear within a bin). */
  quantile(q: number): number {
    const target = q * this.count;
    const w = this.range / BINS;
    let cum = 0;
    for (let i = 0; i < 2 * BINS; i++) {
      const c = this.hist[i]!;
      if (cum + c >= target && c > 0) return -this.range + (i + (target - cum) / c) * w;
      cum += c;
    }
    return this.max;
  }
}

export interface RangeOptions {
  method: CalibrationMethod;
  /** percentile: which (default 99.99). */
  percentile?: number;
}

/** The range [lo, hi] (lo <= 0 <= hi) that `method` picks from the statistics. */
export function chooseRange(s: TensorStats, o: RangeOptions): [number, number] {
  if (s.count === 0) throw new Error('calibration: no data');
  let lo = s.min;
  let hi = s.max;
  if (o.method === 'percentile') {
    const p = o.percentile ?? 99.99;
    if (s.min < 0) lo = Math.max(s.min, s.quantile(1 - p / 100));
    hi = Math.min(s.max, s.quantile(p / 100));
  } else if (o.method === 'entropy') {
    const t = entropyThreshold(s, s.min >= 0 ? 256 : 128);
    lo = Math.max(s.min, -t);
    hi = Math.min(s.max, t);
  } else if (o.method === 'mse') {
    [lo, hi] = mseRange(s);
  }
  return [Math.min(lo, 0), Math.max(hi, 0)];
}

/**
 * The KL-optimal clipping threshold of |x| (TensorRT's entropy calibration): for each candidate
 * threshold i bins wide, P = the histogram up to i with the clipped tail added to its last bin, Q =
 * P merged into `levels` quantization bins and spread back evenly over P's non-empty bins; the
 * threshold minimising KL(P || Q).
 */
export function entropyThreshold(s: TensorStats, levels: number): number {
  const w = s.range / BINS;
  const abs = new Float64Array(BINS); // |x| histogram over [0, R)
  for (let j = 0; j < BINS; j++) abs[j] = s.hist[BINS + j]! + s.hist[BINS - 1 - j]!;
  abs[0]! -= s.zeros; // exact zeros: on the grid whatever the threshold
  let last = BINS;
  while (last > 0 && abs[last - 1] === 0) last--;
  if (last <= levels) return last * w;
  const tails = new Float64Array(BINS + 1); // tails[i] = sum of abs[i..]
  for (let j = BINS - 1; j >= 0; j--) tails[j] = tails[j + 1]! + abs[j]!;
  const q = new Float64Array(BINS);
  let best = last;
  let bestKl = Infinity;
  for (let i = levels; i <= last; i++) {
    // Q: abs[0..i) merged into `levels` bins, each spread evenly over its non-empty source bins
    for (let k = 0; k < levels; k++) {
      const a = Math.floor((k * i) / levels);
      const b = Math.floor(((k + 1) * i) / levels);
      let sum = 0;
      let nonEmpty = 0;
      for (let j = a; j < b; j++) {
        sum += abs[j]!;
        if (abs[j]! > 0) nonEmpty++;
      }
      for (let j = a; j < b; j++) q[j] = abs[j]! > 0 ? sum / nonEmpty : 0;
    }
    // P: abs[0..i) with the clipped tail added to its last bin; both normalised
    const pSum = tails[0]!;
    const qSum = pSum - tails[i]!;
    let kl = 0;
    for (let j = 0; j < i; j++) {
      const pj = (abs[j]! + (j === i - 1 ? tails[i]! : 0)) / pSum;
      if (pj === 0) continue;
      const qj = q[j]! / qSum;
      kl += pj * Math.log(pj / (qj > 0 ? qj : 1e-12)); // P's last bin may be non-empty where Q's is not
    }
    if (kl < bestKl) {
      bestKl = kl;
      best = i;
    }
  }
  return best * w;
}

/**
 * The range [min * a, max * a] (a in (0, 1]) with the least expected squared error on an 8-bit
 * grid: values inside are off by step^2 / 12 on average, values outside by their distance to the
 * range.
 */
export function mseRange(s: TensorStats, steps = 255, candidates = 100): [number, number] {
  const w = s.range / BINS;
  const lo0 = Math.min(s.min, 0);
  const hi0 = Math.max(s.max, 0);
  let best: [number, number] = [lo0, hi0];
  let bestErr = Infinity;
  for (let k = candidates; k >= 1; k--) {
    const a = k / candidates;
    const [lo, hi] = [lo0 * a, hi0 * a];
    const step = (hi - lo) / steps;
    let err = 0;
    for (let i = 0; i < 2 * BINS; i++) {
      const n = s.hist[i]!;
      if (n === 0) continue;
      const c = -s.range + (i + 0.5) * w;
      const d = c < lo ? lo - c : c > hi ? c - hi : 0;
      err += n * (d > 0 ? d * d : (step * step) / 12);
    }
    if (err < bestErr) {
      bestErr = err;
      best = [lo, hi];
    }
  }
  return best;
}

export interface QParams {
  scale: number;
  zeroPoint: number;
  type: ActivationType;
}

/**
 * An activation range -> the 8-bit affine grid: scale = (hi - lo) / 255, the zero point the integer
 * that 0 maps to (so 0 is exact; the range is nudged to it, as every int8 runtime does).
 */
export function activationParams([lo, hi]: readonly [number, number], type: ActivationType): QParams {
  const qmin = type === 'uint8' ? 0 : -128;
  const qmax = type === 'uint8' ? 255 : 127;
  if (!(lo <= 0 && hi >= 0)) throw new Error(`quantize: range [${lo}, ${hi}] must contain 0`);
  if (hi - lo < 1e-12) return { scale: 1, zeroPoint: type === 'uint8' ? 0 : 0, type }; // a constant 0 tensor
  const scale = Math.fround((hi - lo) / (qmax - qmin));
  const zeroPoint = Math.min(qmax, Math.max(qmin, Math.round(qmin - lo / scale)));
  return { scale, zeroPoint, type };
}
