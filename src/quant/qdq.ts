// The int8 graph, in ONNX's QDQ form: the float inference graph (BN folded) with each activation
// tensor passed through QuantizeLinear once and DequantizeLinear once per reader, 8-bit weights and
// int32 biases behind their own DequantizeLinear. ONNX Runtime recognises each
// DQ -> op -> Q group and runs it as one integer kernel (Conv -> QLinearConv, Add -> QLinearAdd,
// GlobalAveragePool -> QLinearGlobalAveragePool, Gemm -> QGemm); what it needs to see
// (../shared/notes/int8.md):
//   Conv   DQ(x uint8/int8, per tensor), DQ(w int8 with zero point 0, or the same integers as
//          uint8 with zero point 128 (storage.ts: exact on AVX2), per channel on axis 0 or per
//          tensor), DQ(b int32, scale x_scale * w_scale, zero point 0), then Q. The ReLU6 / ReLU
//          after it is not emitted: the output range [0, min(6, max)] clips it (saturation).
//   Add    DQ on both inputs, Q on the output (the residual connections).
//   Pool   DQ -> GlobalAveragePool -> Q; Flatten runs on the integers.
//   Gemm   DQ(x), DQ(w int8), DQ(b int32); a float output (the logits).
// Heads: logits (float), probabilities (Softmax of them), embedding (the pooled features, DQ).

import { Graph, type Node, type Value } from '../graph/ir.js';
import { float32, intTensor, type Tensor } from '../tensor.js';
import type { QParams } from './calibrate.js';
import { EXACT_STORAGE, weightType, type WeightStorage } from './storage.js';

export type WeightGranularity = 'per-channel' | 'per-tensor';

export interface EmitOptions {
  weights: WeightGranularity;
  /** Activation grids by float value id (the graph input, each conv's activation, Adds, pools). */
  params: Map<number, QParams>;
  /** Per-channel means of conv inputs by float value id: with them, biases absorb the weights' rounding error. */
  biasCorrection?: Map<number, Float64Array>;
  /** Which integer type holds each conv's and Gemm's weights (default: the exact one, storage.ts). */
  storage?: WeightStorage;
}

const INT32_MAX = 2 ** 31 - 1;

/**
 * The step of the uniform grid a weight tensor already lies on (a checkpoint dequantized from int8
 * or uint8, as TFLite's quantization-aware models are: w = s * (q - z), every weight an integer
 * multiple of s), or undefined. At most 255 steps from 0 either way; checked on every value.
 */
export function weightGrid(data: Float32Array): number | undefined {
  const u = [...new Set(data)].sort((a, b) => a - b);
  if (u.length < 3 || u.length > 511) return undefined;
  let step = Infinity;
  for (let i = 1; i < u.length; i++) step = Math.min(step, u[i]! - u[i - 1]!);
  const far = Math.max(-u[0]!, u[u.length - 1]!);
  if (!(step > 0) || far / step > 255.5) return undefined;
  step = far / Math.round(far / step); // the smallest gap carries float32 noise; the largest value pins the step
  for (const v of u) if (Math.abs(v / step - Math.round(v / step)) > 0.01) return undefined;
  return step;
}

/**
 * Symmetric int8 weights, zero point 0, q in [-127, 127]: one scale per output channel (axis 0)
 * or one for all. Each scale is max|w| / 127, or, for weights already on a grid (weightGrid), the
 * smallest multiple of its step that holds them when that rounds them with less error (exactly,
 * when they fit in 127 steps).
 */
export function quantizeWeight(w: Tensor, granularity: WeightGranularity, minScale: Float32Array | undefined = undefined): { q: Int8Array; scale: Float32Array } {
  const data = w.data as Float32Array;
  const c = w.shape[0]!;
  const per = data.length / c;
  const groups = granularity === 'per-channel' ? c : 1;
  const span = data.length / groups;
  const scale = new Float32Array(groups);
  const grid = weightGrid(data);
  const sse = (s: number, from: number, to: number) => {
    let e = 0;
    for (let j = from; j < to; j++) {
      const d = Math.max(-127, Math.min(127, roundHalfEven(data[j]! / s))) * s - data[j]!;
      e += d * d;
    }
    return e;
  };
  for (let k = 0; k < groups; k++) {
    const [from, to] = [k * span, (k + 1) * span];
    let m = 0;
    for (let j = from; j < to; j++) m = Math.max(m, Math.abs(data[j]!));
    let floor = 0;
    if (minScale) for (let o = from / per; o < to / per; o++) floor = Math.max(floor, minScale[o]!);
    let s = Math.fround(Math.max(m > 0 ? m / 127 : 1 / 127, floor)); // an all-zero channel: any scale gives q = 0
    if (grid !== undefined && m > 0) {
      const g = Math.fround(Math.max(grid * Math.max(1, Math.ceil(m / (127 * grid) - 1e-6)), floor));
      if (sse(g, from, to) < sse(s, from, to)) s = g;
    }
    scale[k] = s;
  }
  const q = new Int8Array(data.length);
  for (let j = 0; j < data.length; j++) q[j] = Math.max(-127, Math.min(127, roundHalfEven(data[j]! / scale[Math.floor(j / span)]!)));
  return { q, scale };
}

export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** The QDQ graph of `g` (a float inference graph, BN folded, duplicates merged). */
export function emitQdq(g: Graph, o: EmitOptions): Graph {
  const h = new Graph();
  const readers = g.consumers();
  const quantized = new Map<number, { v: Value; p: QParams; scale: Value; zp: Value }>(); // float value id -> its integers in h
  const floats = new Map<number, Value>(); // float value id -> the float value in h
  const consts = new Map<number, Value>();
  const skip = new Set<Node>(); // activations folded into their conv's output range

  const constant = (v: Value): Value => {
    let c = consts.get(v.id);
    if (!c) consts.set(v.id, (c = h.initializer(v.name, g.initializers.get(v)!)));
    return c;
  };
  const zpTensor = (p: QParams) => intTensor(p.type, [], [p.zeroPoint]);
  /** Q once per tensor: the integers of float `y` (in h) on grid `p`, recorded for float value `of`. */
  const quantize = (of: Value, y: Value, p: QParams): void => {
    h.within(`${of.name}_quantized`, () => {
      const scale = h.constant(float32([], [p.scale]), 'scale');
      const zp = h.constant(zpTensor(p), 'zero_point');
      quantized.set(of.id, { v: h.op1('QuantizeLinear', [y, scale, zp]), p, scale, zp });
    });
  };
  /** The float value for one reader: a fresh DQ of a quantized tensor (one per reader), else the float. */
  const floatIn = (v: Value): Value => {
    const q = quantized.get(v.id);
    if (q) return h.within(`${v.name}_dequantized`, () => h.op1('DequantizeLinear', [q.v, q.scale, q.zp]));
    if (g.isConstant(v)) return constant(v);
    const f = floats.get(v.id);
    if (!f) throw new Error(`quantize: ${v.name} has not been emitted`);
    return f;
  };
  /** The (float) output `y` in h of float node output `of`: quantized when it has a grid. */
  const result = (of: Value, y: Value): void => {
    const p = o.params.get(of.id);
    if (p) quantize(of, y, p);
    else floats.set(of.id, y);
  };
  /** Weight and bias through DQs: 8-bit weights (axis 0, stored as storage.ts says), int32 bias at x_scale * w_scale. */
  const weightAndBias = (n: Node, name: string, xp: QParams | undefined, correction?: Float64Array): [Value, Value | undefined] => {
    const wt = g.initializers.get(n.inputs[1]!);
    if (!wt) throw new Error(`quantize: ${n.name}: its weight is not a constant`);
    const bt = n.inputs[2] ? g.initializers.get(n.inputs[2]) : undefined;
    const c = wt.shape[0]!;
    let bias = bt ? Float32Array.from(bt.data as Float32Array) : new Float32Array(c);
    // the bias must fit int32 at scale x_scale * w_scale: a floor on the weight scale
    const minScale = xp ? bias.map((b) => Math.abs(b) / (xp.scale * INT32_MAX * 0.5)) : undefined;
    let { q, scale } = quantizeWeight(wt, o.weights, minScale);
    const per = q.length / c;
    const ws = (ch: number) => scale[scale.length === 1 ? 0 : ch]!;
    if (correction) {
      // E[(W_q - W) x] = sum over the kernel of (W_q - W) * E[x] per input channel (padding ignored)
      const wd = wt.data as Float32Array;
      const group = (n.attrs.group as number | undefined) ?? 1;
      const cin = wt.shape[1]!;
      const kk = per / cin;
      bias = bias.map((b, ch) => {
        let e = 0;
        for (let i = 0; i < cin; i++) {
          const mean = correction[Math.floor(ch / (c / group)) * cin + i]!;
          for (let t = 0; t < kk; t++) {
            const j = ch * per + i * kk + t;
            e += (q[j]! * ws(ch) - wd[j]!) * mean;
          }
        }
        return b - e;
      });
    }
    return h.within(name, () => {
      // the same numbers as int8 q, zero point 0, or as uint8 q + 128, zero point 128 (storage.ts)
      const type = xp ? weightType(n, o.storage ?? EXACT_STORAGE, xp.type) : 'int8';
      const zero = type === 'uint8' ? 128 : 0;
      const wq = h.constant(intTensor(type, wt.shape, zero ? Array.from(q, (v) => v + zero) : q), 'weight_quantized');
      const wScale = h.constant(float32(scale.length === 1 ? [] : [c], scale), 'weight_scale');
      const wZp = h.constant(intTensor(type, scale.length === 1 ? [] : [c], new Array<number>(scale.length).fill(zero)), 'weight_zero_point');
      const w = h.op1('DequantizeLinear', [wq, wScale, wZp], scale.length === 1 ? {} : { axis: 0 });
      if (!bt && !correction) return [w, undefined];
      if (!xp) return [w, h.constant(float32([c], bias), 'bias')]; // a float input (kept out of int8): a float bias
      const bScale = Float32Array.from({ length: c }, (_, ch) => Math.fround(xp.scale * ws(ch)));
      const bq = Int32Array.from(bias, (b, ch) => Math.max(-INT32_MAX, Math.min(INT32_MAX, roundHalfEven(b / bScale[ch]!))));
      const b = h.op1('DequantizeLinear', [h.constant(intTensor('int32', [c], bq), 'bias_quantized'), h.constant(float32([c], bScale), 'bias_scale'), h.constant(intTensor('int32', [c]), 'bias_zero_point')], { axis: 0 });
      return [w, b];
    });
  };
  const inputGrid = (v: Value): QParams | undefined => quantized.get(v.id)?.p;

  for (const x of g.inputs) {
    const hx = h.input(x.name, x.shape, x.dtype);
    result(x, hx);
  }
  for (const n of g.nodes) {
    if (skip.has(n)) continue;
    const [x] = n.inputs;
    const out = n.outputs[0]!;
    switch (n.op) {
      case 'Conv': {
        // (N, Cin, H, W) -> (N, Cout, Ho, Wo); the activation after it is the output range
        const xp = inputGrid(x!);
        const [w, b] = weightAndBias(n, g.initializers.has(n.inputs[1]!) ? n.inputs[1]!.name.replace(/\.weight(\.bn_folded)?$/, '') : n.name, xp, o.biasCorrection?.get(x!.id));
        const y = h.within(n.name.replace(/\/Conv$/, ''), () => h.op1('Conv', [floatIn(x!), w, ...(b ? [b] : [])], n.attrs));
        const act = readers.get(out.id)?.length === 1 ? readers.get(out.id)![0]! : undefined;
        if (act && foldable(g, act) && o.params.has(act.outputs[0]!.id)) {
          skip.add(act);
          result(act.outputs[0]!, y);
        } else result(out, y);
        break;
      }
      case 'Gemm': {
        // (N, in) x (out, in)^T + (out) -> (N, out): QGemm, float logits
        if (!n.attrs.transB) throw new Error(`quantize: ${n.name}: only Gemm with transB = 1 (Linear)`);
        const [w, b] = weightAndBias(n, n.inputs[1]!.name.replace(/\.weight$/, ''), inputGrid(x!));
        result(out, h.within(n.name.replace(/\/Gemm$/, ''), () => h.op1('Gemm', [floatIn(x!), w, ...(b ? [b] : [])], n.attrs)));
        break;
      }
      case 'Flatten':
      case 'Identity': {
        const q = quantized.get(x!.id);
        if (q) quantized.set(out.id, { ...q, v: h.within(`${out.name}_quantized`, () => h.op1(n.op, [q.v], n.attrs)) }); // on the integers, same grid
        else result(out, h.within(out.name, () => h.op1(n.op, [floatIn(x!)], n.attrs)));
        break;
      }
      case 'Add':
      case 'GlobalAveragePool':
      case 'GlobalMaxPool':
      case 'Softmax':
      case 'Clip':
      case 'Relu':
        result(out, h.within(out.name, () => h.op1(n.op, n.inputs.map((v) => (v ? floatIn(v) : undefined)), n.attrs)));
        break;
      default:
        throw new Error(`quantize: cannot quantize operator ${n.op} (${n.name})`);
    }
  }
  for (const v of g.outputs) {
    const y = quantized.has(v.id) ? floatIn(v) : floats.get(v.id)!;
    h.output(h.outputs.includes(y) ? h.within(v.name, () => h.op1('Identity', [y])) : y, v.name);
  }
  h.prune();
  return h;
}

/** A Clip(0, max) or Relu that the output range of the conv before it can stand for. */
export function foldable(g: Graph, n: Node): boolean {
  if (n.op === 'Relu') return true;
  if (n.op !== 'Clip') return false;
  const lo = n.inputs[1] && g.initializers.get(n.inputs[1]);
  return lo !== undefined && lo.data[0] === 0;
}
