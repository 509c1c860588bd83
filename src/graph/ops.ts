// THE operator table. Each entry is one operator of the IR with, side by side:
//   attrs  - its attribute schema, which is also its ONNX emission (onnx/export.ts writes the node
//            as-is with these attribute types), opset 17;
//   infer  - its shape rule;
//   grad   - its gradient rule (reverse mode): given the output gradients, emit standard ONNX
//            operators that compute the input gradients (only those marked `need`);
//   lower  - for the composite ops (BatchNormTrain, ConvBatchNormTrain, SoftmaxCrossEntropy): the ONNX operators
//            that implement them. They exist so that their gradients can be the fast closed forms
//            measured in ../shared/notes/ort-training.md rather than backprop through their parts.
// Formulations were chosen by measurement at real shapes (docs/training.md).

import { float32, int64, shapeStr } from '../tensor.js';
import type { Dim, Graph, Node, Shape, Value, ValueType } from './ir.js';

export type AttrKind = 'int' | 'ints' | 'float' | 'floats' | 'string';
export type AttrValue = number | readonly number[] | string;
export type Attrs = Readonly<Record<string, AttrValue>>;

export interface TypeInfo {
  dtype: ValueType;
  shape: Shape;
}

type Grads = (Value | undefined)[];

export interface OpDef {
  /** Attribute name -> ONNX attribute type. */
  attrs: Readonly<Record<string, AttrKind>>;
  /** Shape rule: output dtypes and shapes from input values and attributes. */
  infer(inputs: readonly (Value | undefined)[], attrs: Attrs, g: Graph): TypeInfo[];
  /** Gradient rule: input gradients from output gradients `dy` (undefined = zero), as formulation `f` says. */
  grad?(g: Graph, n: Node, dy: Grads, need: readonly boolean[], f: Formulation): Grads;
  /** Composite ops only: emit the ONNX operators computing the outputs. */
  lower?(g: Graph, inputs: readonly (Value | undefined)[], attrs: Attrs, f: Formulation): Value[];
  /** Emitted only inside gradient rules and lowerings, never by a model's forward: it needs no gradient. */
  internal?: true;
  /** An operator of another ONNX domain (ONNX Runtime's contrib ops): its domain, and its name there. */
  domain?: { name: string; version: number; op: string };
}

/**
 * Where two standard-ONNX formulations of a gradient or composite both work, which one is emitted:
 * an option of each compiled step (compileTrainStep's `formulation`), handed to every grad and
 * lower rule. The first of each list is the default, chosen by side-by-side measurement at real
 * shapes on CPU (bench/formulations.ts, docs/training.md):
 *   bnVariance  'sumsquare' was 2.7% faster but moved the worst gradient error from 4.6e-5 to 1.1e-4
 *               of PyTorch's; 'rowsquare' (sums of squares along W, then over N, H) x0.963 in one
 *               run, worst error 7.3e-5 (9.4e-5 with the NCHWc forward): too close to the 1e-4 limit;
 *   clipMask    'sign' was 11% slower;
 *   depthwiseDw 'slices' builds the im2col by k*k strided Slices of the padded input instead of a
 *               one-hot grouped Conv with channel multiplier k*k, which onnxruntime-web's WebGPU
 *               providers compute wrong (../shared/notes/browser.md): the browser asks for it there.
 *   dwBatch     'chunks' computes each depthwise dW over slices of the batch, so that at most
 *               DW_CHUNK_BYTES of its im2col is alive at once (one im2col for the whole batch is
 *               496 MB at batch 32, the step's peak once activations are recomputed); the same
 *               speed side by side (x1.005), gradients within 3e-7 of 'whole' (the sum's order).
 *   recompute   'clips' does not keep the forward's ReLU6 outputs for the backward: it makes them
 *               again from the kept conv outputs; 'convs' also the outputs of the convs whose input
 *               is kept (stem, expansions). The same bits (passes.ts recompute); peak RSS at batch
 *               32 3.2 -> 2.1 / 1.85 GB, the step x1.10-1.14 slower (with convBn 'separate'); with
 *               'moments' 1.8 -> 1.5 GB at x0.99-1.23: not the default (train --save-memory asks for
 *               'convs').
 *   convBn      'moments' gives each widening 1x1 conv followed by a train-mode BatchNorm (the
 *               expansions and the last conv) its batch statistics from the moments of the conv's
 *               input (mean and covariance, Ci x Ci) instead of from its output (Co = 6 Ci wide):
 *               the normalised output is one Conv with the statistics folded into its weight, and
 *               the backward goes through the conv in closed form (ConvBatchNormTrain below), so the
 *               wide conv output is never made, read or kept. x0.850 / x0.872 of 'separate' side by
 *               side at batch 32; as close to PyTorch's float64 gradients as 'separate' at 224x224.
 *   batchSum    sum_n A[n] B[n]^T (a 1x1 conv's dW, the covariance and G of ConvBatchNormTrain): 'batched'
 *               is one batched MatMul then a ReduceSum over N, which writes N (P, Q) products; 'auto'
 *               does that where they are smaller than the operands, else moves N next to the pixels
 *               (two Transposes) and runs one MatMul over N*HW: the 7x7 layers, where N*Co*Ci is
 *               several times the tensors themselves.
 */
export const FORMULATIONS = {
  bnVariance: ['mul', 'sumsquare', 'rowsquare'],
  clipMask: ['compare', 'sign'],
  depthwiseDw: ['conv', 'slices'],
  dwBatch: ['chunks', 'whole'],
  recompute: ['none', 'clips', 'convs'],
  convBn: ['moments', 'separate'],
  batchSum: ['auto', 'batched'],
} as const;

export type Formulation = { -readonly [K in keyof typeof FORMULATIONS]: (typeof FORMULATIONS)[K][number] };

export const DEFAULT_FORMULATION: Readonly<Formulation> = Object.freeze({ bnVariance: 'mul', clipMask: 'compare', depthwiseDw: 'conv', dwBatch: 'chunks', recompute: 'none', convBn: 'moments', batchSum: 'auto' });

/** The defaults overridden by `partial`; a wrong key or value is named with the valid ones. */
export function resolveFormulation(partial: Partial<Formulation> | undefined, where = 'formulation'): Formulation {
  if (partial === undefined) return { ...DEFAULT_FORMULATION };
  if (typeof partial !== 'object' || partial === null) throw new TypeError(`${where} must be an object, got ${partial === null ? 'null' : typeof partial}`);
  const f: Formulation = { ...DEFAULT_FORMULATION };
  for (const [k, v] of Object.entries(partial)) {
    if (v === undefined) continue;
    const options = (FORMULATIONS as Record<string, readonly string[]>)[k];
    if (!options) throw new RangeError(`${where}: unknown key "${k}". Should be one of: ${Object.keys(FORMULATIONS).join(', ')}`);
    if (!options.includes(v as string)) throw new RangeError(`${where}.${k}: unsupported value ${JSON.stringify(v)}. Should be one of: ${options.map((o) => `'${o}'`).join(', ')}`);
    (f as Record<string, string>)[k] = v as string;
  }
  return f;
}

// ---- helpers for shape rules ----

function req(inputs: readonly (Value | undefined)[], i: number, op: string): Value {
  const v = inputs[i];
  if (v === undefined) throw new Error(`${op}: input ${i} is required`);
  return v;
}

function ints(a: Attrs, k: string, dflt: readonly number[]): readonly number[] {
  const v = a[k];
  return v === undefined ? dflt : (v as readonly number[]);
}

function int(a: Attrs, k: string, dflt: number): number {
  const v = a[k];
  return v === undefined ? dflt : (v as number);
}

function num(d: Dim, op: string): number {
  if (typeof d !== 'number') throw new Error(`${op}: needs a concrete dimension, got ${d}`);
  return d;
}

/** Numpy-style broadcasting of two shapes. */
export function broadcast(a: Shape, b: Shape, op = 'broadcast'): Dim[] {
  const n = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1;
    const y = b[b.length - n + i] ?? 1;
    if (x === y || y === 1) out.push(x);
    else if (x === 1) out.push(y);
    else throw new Error(`${op}: shapes ${shapeStr(a)} and ${shapeStr(b)} do not broadcast`);
  }
  return out;
}

/** The int64 data of a constant input (for shape rules that read e.g. Pad's pads). */
export function constInts(g: Graph, v: Value | undefined, op: string): number[] {
  const t = v && g.initializers.get(v);
  if (!t || t.dtype !== 'int64') throw new Error(`${op}: this input must be a constant int64 tensor`);
  return Array.from(t.data as BigInt64Array, Number);
}

const same = (op: string) => (inputs: readonly (Value | undefined)[]): TypeInfo[] => {
  const x = req(inputs, 0, op);
  return [{ dtype: x.dtype, shape: x.shape }];
};

const elementwise = (op: string, dtype?: ValueType) => (inputs: readonly (Value | undefined)[]): TypeInfo[] => {
  const a = req(inputs, 0, op);
  const b = req(inputs, 1, op);
  return [{ dtype: dtype ?? a.dtype, shape: broadcast(a.shape, b.shape, op) }];
};

/** Q / DQ's scale and zero point: scalars (per tensor) or 1-D of x's size along `axis` (per channel). */
function quantParams(inputs: readonly (Value | undefined)[], a: Attrs, x: Shape, op: string): void {
  const scale = req(inputs, 1, op);
  const zp = inputs[2];
  if (scale.dtype !== 'float32') throw new Error(`${op}: scale must be float32, got ${scale.dtype}`);
  if (zp && zp.dtype !== 'int8' && zp.dtype !== 'uint8' && zp.dtype !== 'int32') throw new Error(`${op}: zero point must be int8, uint8 or int32, got ${zp.dtype}`);
  if (zp && zp.shape.join() !== scale.shape.join()) throw new Error(`${op}: scale [${scale.shape.join(', ')}] and zero point [${zp.shape.join(', ')}] differ in shape`);
  if (scale.shape.length === 0) return;
  const axis = int(a, 'axis', 1);
  const ax = axis < 0 ? axis + x.length : axis;
  if (scale.shape.length !== 1 || x[ax] !== scale.shape[0]) throw new Error(`${op}: a per-channel scale [${scale.shape.join(', ')}] must have x's size ${x[ax]} along axis ${axis}`);
}

function reduceShape(x: Shape, axes: readonly number[], keepdims: boolean): Dim[] {
  const r = x.length;
  const ax = new Set(axes.map((a) => (a < 0 ? a + r : a)));
  const out: Dim[] = [];
  x.forEach((d, i) => {
    if (!ax.has(i)) out.push(d);
    else if (keepdims) out.push(1);
  });
  return out;
}

// ---- helpers for gradient rules (they emit graph nodes) ----

/** A 1-D int64 constant (axes, shapes, pads). */
export function i64(g: Graph, values: readonly number[], hint = 'ints'): Value {
  return g.constant(int64([values.length], values.map(BigInt)), hint);
}

export function reshape(g: Graph, x: Value, shape: readonly number[]): Value {
  return g.op1('Reshape', [x, i64(g, shape, 'shape')]);
}

function reduceSum(g: Graph, x: Value, axes: readonly number[], keepdims = 0): Value {
  return g.op1('ReduceSum', [x, i64(g, axes, 'axes')], { keepdims });
}

/** Sum a broadcast gradient back down to `shape`. */
export function unbroadcast(g: Graph, dy: Value, shape: Shape): Value {
  if (dy.shape.length === shape.length && dy.shape.every((d, i) => d === shape[i])) return dy;
  const lead = dy.shape.length - shape.length;
  const axes: number[] = [];
  dy.shape.forEach((d, i) => {
    if (i < lead || (shape[i - lead] === 1 && d !== 1)) axes.push(i);
  });
  const s = axes.length ? reduceSum(g, dy, axes, 1) : dy;
  return reshape(g, s, shape.map((d) => num(d, 'unbroadcast')));
}

/**
 * sum_n A[n] B[n]^T for A (N, P, K) and B (N, Q, K): (P, Q). Batched MatMul then a sum over N, or
 * (batchSum 'auto', where the N products outweigh the operands) N moved next to K and one MatMul.
 */
function batchGram(g: Graph, A: Value, B: Value, f: Formulation): Value {
  const [N, P, K] = A.shape.map((d) => num(d, 'batchGram'));
  const Q = num(B.shape[1]!, 'batchGram');
  if (f.batchSum === 'batched' || P! * Q <= (P! + Q) * K!) {
    return reduceSum(g, g.op1('MatMul', [A, g.op1('Transpose', [B], { perm: [0, 2, 1] })]), [0]);
  }
  const flat = (v: Value, rows: number) => reshape(g, g.op1('Transpose', [v], { perm: [1, 0, 2] }), [rows, N! * K!]);
  return g.op1('MatMul', [flat(A, P!), g.op1('Transpose', [flat(B, Q)], { perm: [1, 0] })]);
}

/** A BatchNorm's epsilon attribute (ONNX's default 1e-5). */
const bnEps = (a: Attrs): number => (a.epsilon as number | undefined) ?? 1e-5;

/** 1 / sqrt(var + eps), per channel, with the BatchNorm's epsilon. */
const invStd = (g: Graph, vari: Value, a: Attrs): Value => g.op1('Reciprocal', [g.op1('Sqrt', [g.op1('Add', [vari, g.scalar(bnEps(a))])])]);

const perChannel = (g: Graph, v: Value) => reshape(g, v, [1, num(v.shape[0]!, 'perChannel'), 1, 1]); // (C) -> (1, C, 1, 1)

/** dwBatch 'chunks': the most bytes of depthwise im2col alive at once (a slice of the batch each). */
export const DW_CHUNK_BYTES = 64 * 2 ** 20;

/** One-hot im2col kernel: E[c*kk + t, c or 0, t / k, t % k] = 1 (depthwise: second dim 1). */
function oneHotKernel(g: Graph, channels: number, k: number, depthwise: boolean): Value {
  const kk = k * k;
  const cin = depthwise ? 1 : channels;
  const e = float32([channels * kk, cin, k, k]);
  const d = e.data as Float32Array;
  for (let c = 0; c < channels; c++) {
    for (let t = 0; t < kk; t++) d[(((c * kk + t) * cin + (depthwise ? 0 : c)) * k + Math.floor(t / k)) * k + (t % k)] = 1;
  }
  return g.constant(e, 'im2col');
}

/**
 * Depthwise dW without a grouped conv: zero-pad x as the conv does; one strided Slice per tap
 * t = (i, j) reads x[., ., o*s + i - top, p*s + j - left] for every output (o, p), so the taps of
 * kernel row i form P_i (N, C, k, HoWo) and MatMul with dY gives dW's row i. Row by row keeps every
 * Concat at k inputs (onnxruntime-web's JSEP computes a Concat of 8 or more inputs wrong) and P at
 * 1/k of the full im2col. Returns (N, C, kk, 1), taps in row-major order as the weight's (k, k).
 */
function depthwiseDwSlices(g: Graph, x: Value, dy: Value, k: number, s: number, [pt, pl, pb, pr]: readonly number[]): Value {
  const [N, C] = x.shape.map((d) => num(d, 'Conv grad'));
  const [, , Ho, Wo] = dy.shape.map((d) => num(d, 'Conv grad'));
  const hw = Ho! * Wo!;
  const padded = pt || pl || pb || pr ? g.op1('Pad', [x, i64(g, [0, 0, pt!, pl!, 0, 0, pb!, pr!], 'pads')], { mode: 'constant' }) : x; // (N, C, H + pt + pb, W + pl + pr)
  const axes = i64(g, [2, 3], 'axes');
  const steps = i64(g, [s, s], 'steps');
  const dyCol = reshape(g, dy, [N!, C!, hw, 1]);
  const rows: Value[] = [];
  for (let i = 0; i < k; i++) {
    const taps: Value[] = [];
    for (let j = 0; j < k; j++) {
      const tap = g.op1('Slice', [padded, i64(g, [i, j], 'starts'), i64(g, [i + (Ho! - 1) * s + 1, j + (Wo! - 1) * s + 1], 'ends'), axes, steps]); // (N, C, Ho, Wo)
      taps.push(reshape(g, tap, [N!, C!, 1, hw]));
    }
    const P = k === 1 ? taps[0]! : g.op1('Concat', taps, { axis: 2 }); // (N, C, k, HoWo)
    rows.push(g.op1('MatMul', [P, dyCol])); // (N, C, k, 1)
  }
  return k === 1 ? rows[0]! : g.op1('Concat', rows, { axis: 2 }); // (N, C, kk, 1)
}

/**
 * Conv's gradient rule, for any zero pads [top, left, bottom, right] (TF "SAME" gives [0, 0, 1, 1]
 * to a stride-2 conv on an even size), dilation 1. Along one axis, with pads (before, after):
 * y[o] = sum_t x[o*s + t - before] w[t].
 */
function convGrad(g: Graph, n: Node, [dy]: Grads, need: readonly boolean[], f: Formulation): Grads {
  const [x, w, b] = n.inputs as [Value, Value, Value | undefined];
  const [N, Ci, H, W] = x.shape.map((d) => num(d, 'Conv grad'));
  const [Co, , k, kw] = w.shape as number[];
  const [, , Ho, Wo] = dy!.shape.map((d) => num(d, 'Conv grad'));
  const group = int(n.attrs, 'group', 1);
  const [s, sw] = ints(n.attrs, 'strides', [1, 1]);
  const pads = ints(n.attrs, 'pads', [0, 0, 0, 0]);
  const [pt, pl, pb, pr] = pads as [number, number, number, number];
  const unpadded = pads.every((q) => q === 0);
  const depthwise = group > 1 && group === Ci && group === Co;
  if (group > 1 && !depthwise) throw new Error('Conv grad: grouped convolutions other than depthwise are not supported');
  const dilations = ints(n.attrs, 'dilations', [1, 1]);
  if (dilations.some((d) => d !== 1)) throw new Error(`Conv grad: needs dilations [1, 1], got ${shapeStr(dilations)}`);
  if (k !== kw || s !== sw) throw new Error(`Conv grad: needs a square kernel and equal strides, got kernel ${k}x${kw}, strides [${s}, ${sw}]`);
  let dx: Value | undefined;
  if (need[0]) {
    // the correlation that undoes the padding: pads k-1-p per side (they differ where the conv's do)
    const flippedPads = pads.map((q) => k! - 1 - q);
    if (k === 1 && s === 1 && unpadded && group === 1) {
      // pointwise: dX = W^T dY as a 1x1 conv
      dx = g.op1('Conv', [dy!, g.op1('Transpose', [w], { perm: [1, 0, 2, 3] })], { kernel_shape: [1, 1] });
    } else if (depthwise && s === 1 && flippedPads.every((q) => q >= 0)) {
      // stride-1 depthwise: correlate dY with the spatially flipped kernel
      const big = -(2 ** 31);
      const flipped = g.op1('Slice', [w, i64(g, [-1, -1]), i64(g, [big, big]), i64(g, [2, 3]), i64(g, [-1, -1])]);
      dx = g.op1('Conv', [dy!, flipped], { kernel_shape: [k!, k!], pads: flippedPads, group });
    } else {
      // strided: the transposed convolution with the conv's pads; output_padding restores the rows
      // and columns the strided conv never reached (< s)
      const oh = H! - ((Ho! - 1) * s! - pt - pb + k!);
      const ow = W! - ((Wo! - 1) * s! - pl - pr + k!);
      dx = g.op1('ConvTranspose', [dy!, w], { kernel_shape: [k!, k!], strides: [s!, s!], pads: [pt, pl, pb, pr], output_padding: [oh, ow], group });
    }
  }
  let dw: Value | undefined;
  if (need[1]) {
    const kk = k! * k!;
    const hw = Ho! * Wo!;
    if (depthwise) {
      // dW[c, t] = sum_n,hw P[n, c, t, hw] dY[n, c, hw] with P = im2col (N, C, kk, HoWo)
      const E = f.depthwiseDw === 'slices' ? undefined : oneHotKernel(g, Ci!, k!, true);
      const part = (xs: Value, dys: Value, n: number): Value => {
        let m: Value; // (n, C, kk, 1)
        if (!E) m = depthwiseDwSlices(g, xs, dys, k!, s!, [pt, pl, pb, pr]);
        else {
          // P by a one-hot depthwise conv (channel multiplier kk): (n, C*kk, Ho, Wo)
          const P = g.op1('Conv', [xs, E], { kernel_shape: [k!, k!], strides: [s!, s!], pads: [pt, pl, pb, pr], group: Ci! });
          m = g.op1('MatMul', [reshape(g, P, [n, Ci!, kk, hw]), reshape(g, dys, [n, Ci!, hw, 1])]);
        }
        return reduceSum(g, m, [0]); // (C, kk, 1)
      };
      // 'chunks': the im2col of a slice of the batch at a time (each at most DW_CHUNK_BYTES), its
      // part of the sum taken before the next slice is read, so one slice's P is alive at a time
      const per = Math.max(1, Math.floor(DW_CHUNK_BYTES / (Ci! * kk * hw * 4)));
      const chunks = f.dwBatch === 'chunks' ? Math.ceil(N! / per) : 1;
      let sum: Value | undefined;
      for (let c = 0; c < chunks; c++) {
        const n0 = Math.floor((c * N!) / chunks), n1 = Math.floor(((c + 1) * N!) / chunks);
        const slice = (v: Value) => (chunks === 1 ? v : g.op1('Slice', [v, i64(g, [n0], 'starts'), i64(g, [n1], 'ends'), i64(g, [0], 'axes'), i64(g, [1], 'steps')]));
        const t = part(slice(x), slice(dy!), n1 - n0);
        sum = sum ? g.op1('Add', [sum, t]) : t;
      }
      dw = reshape(g, sum!, [Ci!, 1, k!, k!]);
    } else {
      // P = im2col (N, Ci*kk, HoWo) (the input itself for 1x1 stride 1); dW = sum_n dY[n] P[n]^T
      const P =
        k === 1 && s === 1 && unpadded
          ? x
          : g.op1('Conv', [x, oneHotKernel(g, Ci!, k!, false)], { kernel_shape: [k!, k!], strides: [s!, s!], pads: [pt, pl, pb, pr] });
      dw = reshape(g, batchGram(g, reshape(g, dy!, [N!, Co!, hw]), reshape(g, P, [N!, Ci! * kk, hw]), f), [Co!, Ci!, k!, k!]);
    }
  }
  const db = need[2] && b ? reduceSum(g, dy!, [0, 2, 3]) : undefined;
  return [dx, dw, db];
}

/** BatchNormTrain's ONNX: the batch mean, the two-pass biased variance, then BatchNormalization with them. */
function lowerBatchNormTrain(g: Graph, [x, gamma, beta]: readonly (Value | undefined)[], a: Attrs, f: Formulation): Value[] {
  const mean = g.op1('ReduceMean', [x], { axes: [0, 2, 3], keepdims: 0 }); // (C)
  const d = g.op1('Sub', [x!, perChannel(g, mean)]); // two-pass variance: E[x^2] - E[x]^2 loses digits
  const M = num(x!.shape[0]!, 'BN') * num(x!.shape[2]!, 'BN') * num(x!.shape[3]!, 'BN');
  const vari =
    f.bnVariance === 'rowsquare' // sums of squares along each row (W), then over N and H: no d*d tensor
      ? g.op1('Mul', [reduceSum(g, g.op1('ReduceSumSquare', [d], { axes: [3], keepdims: 0 }), [0, 2]), g.scalar(1 / M)])
      : f.bnVariance === 'sumsquare'
      ? g.op1('Mul', [g.op1('ReduceSumSquare', [d], { axes: [0, 2, 3], keepdims: 0 }), g.scalar(1 / M)])
      : g.op1('ReduceMean', [g.op1('Mul', [d, d])], { axes: [0, 2, 3], keepdims: 0 }); // (C), biased
  const y = g.op1('BatchNormalization', [x, gamma, beta, mean, vari], { epsilon: bnEps(a) });
  return [y, mean, vari];
}

/** BatchNormTrain's gradient in its affine form: dx = a*dz + b*x + c, with a, b, c per channel (one BatchNormalization + Mul + Add). */
function batchNormTrainGrad(g: Graph, n: Node, [dz]: Grads, need: readonly boolean[]): Grads {
  const [x, gamma] = n.inputs as Value[];
  const [, mean, vari] = n.outputs;
  const [N, C, H, W] = x!.shape.map((d) => num(d, 'BatchNormTrain grad'));
  const M = N! * H! * W!;
  const invstd = invStd(g, vari!, n.attrs);
  const s1 = reduceSum(g, dz!, [0, 2, 3]); // sum dz
  const s2 = reduceSum(g, g.op1('Mul', [dz!, x!]), [0, 2, 3]); // sum dz * x
  const dgamma = g.op1('Mul', [invstd, g.op1('Sub', [s2, g.op1('Mul', [mean!, s1])])]);
  let dx: Value | undefined;
  if (need[0]) {
    const a = g.op1('Mul', [gamma!, invstd]);
    const b = g.op1('Mul', [g.op1('Mul', [a, invstd]), g.op1('Mul', [dgamma, g.scalar(-1 / M)])]);
    const c = g.op1('Sub', [g.op1('Mul', [a, g.op1('Mul', [s1, g.scalar(-1 / M)])]), g.op1('Mul', [b, mean!])]);
    const zeros = g.constant(float32([C!]), 'zeros');
    const ones = g.constant(float32([C!], new Float32Array(C!).fill(1)), 'ones');
    const adz = g.op1('BatchNormalization', [dz!, a, c, zeros, ones], { epsilon: 0 }); // a*dz + c
    dx = g.op1('Add', [adz, g.op1('Mul', [x!, perChannel(g, b)])]);
  }
  return [dx, need[1] ? dgamma : undefined, need[2] ? s1 : undefined];
}

/**
 * ConvBatchNormTrain (formulation convBn 'moments'): z = BatchNormTrain(Conv1x1(x, W)) without the
 * conv output x W. With d = x - mean(x) and S = cov(x) = sum d d^T / M over the M = N*H*W pixels
 * (Ci x Ci), the output's batch statistics are mu = W mean(x) and var = rowsum((W S) * W), so
 * z = Conv(d, W * s) + beta, s = gamma / sqrt(var + eps). Outputs: z, mu, var (as
 * BatchNormTrain's), then mean(x), S and d for the gradient.
 */
function lowerConvBatchNormTrain(g: Graph, [x, w, gamma, beta]: readonly (Value | undefined)[], a: Attrs, f: Formulation): Value[] {
  const [N, Ci, H, W] = x!.shape.map((d) => num(d, 'ConvBatchNormTrain'));
  const Co = num(w!.shape[0]!, 'ConvBatchNormTrain');
  const hw = H! * W!;
  const M = N! * hw;
  const muIn = g.op1('ReduceMean', [x], { axes: [0, 2, 3], keepdims: 0 }); // (Ci)
  const d = g.op1('Sub', [x!, perChannel(g, muIn)]);
  const d3 = reshape(g, d, [N!, Ci!, hw]);
  const S = g.op1('Mul', [batchGram(g, d3, d3, f), g.scalar(1 / M)]); // (Ci, Ci)
  const w2 = reshape(g, w!, [Co, Ci!]);
  const mu = reshape(g, g.op1('MatMul', [w2, reshape(g, muIn, [Ci!, 1])]), [Co]); // (Co)
  const vari = g.op1('Relu', [g.op1('ReduceSum', [g.op1('Mul', [g.op1('MatMul', [w2, S]), w2]), i64(g, [1], 'axes')], { keepdims: 0 })]); // (Co), >= 0
  const s = g.op1('Mul', [gamma!, invStd(g, vari, a)]);
  // from the centred input: (x - mean(x)) W = xW - mu, no cancellation against a bias beta - mu*s
  const z = g.op1('Conv', [d, g.op1('Mul', [w!, reshape(g, s, [Co, 1, 1, 1])]), beta!], { kernel_shape: [1, 1] });
  return [z, mu, vari, muIn, S, d];
}

/**
 * ConvBatchNormTrain's gradient through the conv in closed form. BatchNormTrain's dx_conv =
 * a*dz + b*(xW - mu) + c (per output channel) is never made: with G = sum_n dz d^T (Co x Ci, the
 * MatMul a 1x1 conv's dW is anyway), sum dz*(xW - mu) = rowsum(W * G), so dgamma = invstd *
 * rowsum(W * G), dW = a*G + b*M*(W S), and dX = W^T dx_conv = Conv(dz, (a W)^T, W^T c) +
 * Conv(d, W^T diag(b) W), the second a Ci x Ci conv.
 */
function convBatchNormTrainGrad(g: Graph, n: Node, [dz, dmu, dvar]: Grads, need: readonly boolean[], f: Formulation): Grads {
  if (dmu || dvar) throw new Error('ConvBatchNormTrain grad: the batch statistics are not differentiated');
  const [, w, gamma] = n.inputs as Value[];
  const [, , vari, , S, d] = n.outputs as Value[];
  const [N, Ci, H, W] = d!.shape.map((v) => num(v, 'ConvBatchNormTrain grad'));
  const Co = num(w!.shape[0]!, 'ConvBatchNormTrain grad');
  const hw = H! * W!;
  const M = N! * hw;
  const col = (v: Value) => reshape(g, v, [Co, 1]);
  const invstd = invStd(g, vari!, n.attrs);
  const w2 = reshape(g, w!, [Co, Ci!]);
  const s1 = reduceSum(g, dz!, [0, 2, 3]); // (Co) = dbeta
  const G = batchGram(g, reshape(g, dz!, [N!, Co, hw]), reshape(g, d!, [N!, Ci!, hw]), f); // (Co, Ci)
  const dgamma = g.op1('Mul', [invstd, reduceSum(g, g.op1('Mul', [w2, G]), [1])]);
  const A = g.op1('Mul', [gamma!, invstd]);
  const B = g.op1('Mul', [g.op1('Mul', [A, invstd]), g.op1('Mul', [dgamma, g.scalar(-1 / M)])]); // (Co)
  let dx: Value | undefined;
  if (need[0]) {
    const c = g.op1('Mul', [A, g.op1('Mul', [s1, g.scalar(-1 / M)])]); // (Co)
    const bias = reshape(g, g.op1('MatMul', [reshape(g, c, [1, Co]), w2]), [Ci!]); // W^T c
    const waT = g.op1('Transpose', [g.op1('Mul', [w!, reshape(g, A, [Co, 1, 1, 1])])], { perm: [1, 0, 2, 3] }); // (Ci, Co, 1, 1)
    const K = reshape(g, g.op1('MatMul', [g.op1('Transpose', [w2], { perm: [1, 0] }), g.op1('Mul', [w2, col(B)])]), [Ci!, Ci!, 1, 1]);
    dx = g.op1('Add', [g.op1('Conv', [dz!, waT, bias], { kernel_shape: [1, 1] }), g.op1('Conv', [d!, K], { kernel_shape: [1, 1] })]);
  }
  const dw = need[1]
    ? reshape(g, g.op1('Add', [g.op1('Mul', [G, col(A)]), g.op1('Mul', [g.op1('MatMul', [w2, S!]), col(g.op1('Mul', [B, g.scalar(M)]))])]), [Co, Ci!, 1, 1])
    : undefined;
  return [dx, dw, need[2] ? dgamma : undefined, need[3] ? s1 : undefined];
}

// ---- the table ----

export const OPS: Record<string, OpDef> = {
  Conv: {
    attrs: { kernel_shape: 'ints', strides: 'ints', pads: 'ints', dilations: 'ints', group: 'int' },
    infer(inputs, a) {
      const x = req(inputs, 0, 'Conv'); // (N, C, H, W)
      const w = req(inputs, 1, 'Conv'); // (Cout, C/group, kh, kw)
      const [n, c, h, wd] = x.shape;
      const [cout, cg, kh, kw] = w.shape as number[];
      const group = int(a, 'group', 1);
      if (x.shape.length !== 4) throw new Error(`Conv: input must be 4-D, got ${shapeStr(x.shape)}`);
      if ((c as number) !== cg! * group) throw new Error(`Conv: input has ${c} channels, weight expects ${cg! * group}`);
      const [sh, sw] = ints(a, 'strides', [1, 1]);
      const [pt, pl, pb, pr] = ints(a, 'pads', [0, 0, 0, 0]);
      const [dh, dw] = ints(a, 'dilations', [1, 1]);
      const ho = Math.floor(((h as number) + pt! + pb! - dh! * (kh! - 1) - 1) / sh!) + 1;
      const wo = Math.floor(((wd as number) + pl! + pr! - dw! * (kw! - 1) - 1) / sw!) + 1;
      if (ho < 1 || wo < 1) throw new Error(`Conv: input ${h}x${wd} is too small for this convolution`);
      return [{ dtype: x.dtype, shape: [n!, cout!, ho, wo] }]; // (N, Cout, Ho, Wo)
    },
    grad: convGrad,
  },
  ConvTranspose: {
    internal: true,
    attrs: { kernel_shape: 'ints', strides: 'ints', pads: 'ints', output_padding: 'ints', dilations: 'ints', group: 'int' },
    infer(inputs, a) {
      const x = req(inputs, 0, 'ConvTranspose'); // (N, C, H, W)
      const w = req(inputs, 1, 'ConvTranspose'); // (C, Cout/group, kh, kw)
      const group = int(a, 'group', 1);
      const [kh, kw] = [w.shape[2] as number, w.shape[3] as number];
      const [sh, sw] = ints(a, 'strides', [1, 1]);
      const [pt, pl, pb, pr] = ints(a, 'pads', [0, 0, 0, 0]);
      const [oh, ow] = ints(a, 'output_padding', [0, 0]);
      const h = (num(x.shape[2]!, 'ConvTranspose') - 1) * sh! - pt! - pb! + kh + oh!;
      const wd = (num(x.shape[3]!, 'ConvTranspose') - 1) * sw! - pl! - pr! + kw + ow!;
      return [{ dtype: x.dtype, shape: [x.shape[0]!, (w.shape[1] as number) * group, h, wd] }];
    },
  },
  BatchNormalization: {
    attrs: { epsilon: 'float', momentum: 'float', training_mode: 'int' },
    infer(inputs) {
      const x = req(inputs, 0, 'BatchNormalization');
      const c = [x.shape[1]!]; // training_mode=1 also outputs the updated running mean and variance
      return [{ dtype: x.dtype, shape: x.shape }, { dtype: x.dtype, shape: c }, { dtype: x.dtype, shape: c }];
    },
    grad(g, n, [dy], need) {
      // inference form (a frozen layer): y = a * x + c per channel, a = scale / sqrt(var + eps)
      const [x, scale, , mean, vari] = n.inputs as Value[];
      const invstd = invStd(g, vari!, n.attrs);
      const dx = need[0] ? g.op1('Mul', [dy!, perChannel(g, g.op1('Mul', [scale!, invstd]))]) : undefined;
      const xhat = need[1] ? g.op1('Mul', [g.op1('Sub', [x!, perChannel(g, mean!)]), perChannel(g, invstd)]) : undefined;
      const dscale = xhat ? reduceSum(g, g.op1('Mul', [dy!, xhat]), [0, 2, 3]) : undefined;
      const dbias = need[2] ? reduceSum(g, dy!, [0, 2, 3]) : undefined;
      return [dx, dscale, dbias];
    },
  },
  BatchNormTrain: {
    // composite: (x, gamma, beta) -> (y normalised with the batch statistics, batch mean, biased batch variance)
    attrs: { epsilon: 'float' },
    infer(inputs) {
      const x = req(inputs, 0, 'BatchNormTrain');
      const c = [x.shape[1]!];
      return [{ dtype: x.dtype, shape: x.shape }, { dtype: x.dtype, shape: c }, { dtype: x.dtype, shape: c }];
    },
    lower: lowerBatchNormTrain,
    grad: batchNormTrainGrad,
  },
  ConvBatchNormTrain: {
    // composite (convBn 'moments'; passes.ts convBatchNorm): (x, W 1x1, gamma, beta) -> (BatchNormTrain(Conv(x, W)),
    // its batch mean and biased variance, then x's batch mean, covariance and x - mean for the gradient)
    attrs: { epsilon: 'float' },
    infer(inputs) {
      const x = req(inputs, 0, 'ConvBatchNormTrain');
      const w = req(inputs, 1, 'ConvBatchNormTrain');
      const [n, ci, h, wd] = x.shape;
      const co = w.shape[0]!;
      if (x.shape.length !== 4 || w.shape.length !== 4 || w.shape[1] !== ci || w.shape[2] !== 1 || w.shape[3] !== 1) throw new Error(`ConvBatchNormTrain: needs x (N, C, H, W) and a 1x1 weight (Co, C, 1, 1), got ${shapeStr(x.shape)} and ${shapeStr(w.shape)}`);
      return [
        { dtype: x.dtype, shape: [n!, co, h!, wd!] },
        { dtype: x.dtype, shape: [co] },
        { dtype: x.dtype, shape: [co] },
        { dtype: x.dtype, shape: [ci!] },
        { dtype: x.dtype, shape: [ci!, ci!] },
        { dtype: x.dtype, shape: x.shape },
      ];
    },
    lower: lowerConvBatchNormTrain,
    grad: convBatchNormTrainGrad,
  },
  Clip: {
    attrs: {},
    infer: same('Clip'), // inputs: x, min, max (constants)
    grad(g, n, [dy], need, f) {
      // pass the gradient where min < y < max (ReLU6: 0 < y < 6); Where is slow on ORT CPU, a float mask is not
      const [, lo, hi] = n.inputs as Value[];
      const y = n.outputs[0]!;
      if (!need[0]) return [undefined];
      if (f.clipMask === 'sign') {
        // (y - lo) * (hi - y) > 0 exactly inside: one float mask, no booleans
        return [g.op1('Mul', [dy!, g.op1('Sign', [g.op1('Mul', [g.op1('Sub', [y, lo!]), g.op1('Sub', [hi!, y])])])])];
      }
      const inside = g.op1('And', [g.op1('Greater', [y, lo!]), g.op1('Less', [y, hi!])]);
      return [g.op1('Mul', [dy!, g.op1('Cast', [inside], { to: 1 })])];
    },
  },
  Relu: { attrs: {}, infer: same('Relu') },
  // int8 graphs (quant/): y = saturate(round_half_even(x / scale) + zero_point), x = (y - zero_point) * scale;
  // per tensor (scalar scale) or per channel along `axis` (1-D scale). No gradient rule: inference only.
  QuantizeLinear: {
    attrs: { axis: 'int' },
    infer(inputs, a) {
      const x = req(inputs, 0, 'QuantizeLinear');
      quantParams(inputs, a, x.shape, 'QuantizeLinear');
      const zp = inputs[2];
      return [{ dtype: zp ? zp.dtype : 'uint8', shape: x.shape }]; // the zero point's type (uint8 without one)
    },
  },
  DequantizeLinear: {
    attrs: { axis: 'int' },
    infer(inputs, a) {
      const x = req(inputs, 0, 'DequantizeLinear');
      if (x.dtype !== 'int8' && x.dtype !== 'uint8' && x.dtype !== 'int32') throw new Error(`DequantizeLinear: input must be int8, uint8 or int32, got ${x.dtype}`);
      quantParams(inputs, a, x.shape, 'DequantizeLinear');
      return [{ dtype: 'float32', shape: x.shape }];
    },
  },
  Identity: { attrs: {}, infer: same('Identity'), grad: (_g, _n, [dy]) => [dy] },
  Softmax: { attrs: { axis: 'int' }, infer: same('Softmax') },
  Sqrt: { attrs: {}, infer: same('Sqrt'), internal: true },
  Sign: { attrs: {}, infer: same('Sign'), internal: true },
  Reciprocal: { attrs: {}, infer: same('Reciprocal'), internal: true },
  Neg: { attrs: {}, infer: same('Neg'), internal: true },
  Add: {
    attrs: {},
    infer: elementwise('Add'),
    grad: (g, n, [dy], need) => n.inputs.map((v, i) => (need[i] ? unbroadcast(g, dy!, v!.shape) : undefined)),
  },
  Sub: {
    attrs: {},
    infer: elementwise('Sub'),
    grad: (g, n, [dy], need) => [
      need[0] ? unbroadcast(g, dy!, n.inputs[0]!.shape) : undefined,
      need[1] ? unbroadcast(g, g.op1('Neg', [dy!]), n.inputs[1]!.shape) : undefined,
    ],
  },
  Mul: {
    attrs: {},
    infer: elementwise('Mul'),
    grad: (g, n, [dy], need) => {
      const [a, b] = n.inputs as Value[];
      return [need[0] ? unbroadcast(g, g.op1('Mul', [dy!, b!]), a!.shape) : undefined, need[1] ? unbroadcast(g, g.op1('Mul', [dy!, a!]), b!.shape) : undefined];
    },
  },
  Div: { attrs: {}, infer: elementwise('Div'), internal: true },
  Greater: { attrs: {}, infer: elementwise('Greater', 'bool'), internal: true },
  Less: { attrs: {}, infer: elementwise('Less', 'bool'), internal: true },
  And: { attrs: {}, infer: elementwise('And', 'bool'), internal: true },
  Cast: {
    internal: true,
    attrs: { to: 'int' },
    infer(inputs, a) {
      const to: Record<number, ValueType> = { 1: 'float32', 7: 'int64', 9: 'bool' };
      return [{ dtype: to[a.to as number] ?? 'float32', shape: req(inputs, 0, 'Cast').shape }];
    },
  },
  GlobalAveragePool: {
    attrs: {},
    infer(inputs) {
      const x = req(inputs, 0, 'GlobalAveragePool'); // (N, C, H, W) -> (N, C, 1, 1)
      return [{ dtype: x.dtype, shape: [...x.shape.slice(0, 2), ...x.shape.slice(2).map(() => 1)] }];
    },
    grad(g, n, [dy], need) {
      const x = n.inputs[0]!;
      const hw = num(x.shape[2]!, 'GlobalAveragePool grad') * num(x.shape[3]!, 'GlobalAveragePool grad');
      const shape = x.shape.map((d) => num(d, 'GlobalAveragePool grad'));
      return [need[0] ? g.op1('Expand', [g.op1('Mul', [dy!, g.scalar(1 / hw)]), i64(g, shape, 'shape')]) : undefined];
    },
  },
  GlobalMaxPool: {
    attrs: {},
    infer(inputs) {
      const x = req(inputs, 0, 'GlobalMaxPool'); // (N, C, H, W) -> (N, C, 1, 1)
      return [{ dtype: x.dtype, shape: [...x.shape.slice(0, 2), ...x.shape.slice(2).map(() => 1)] }];
    },
  },
  Flatten: {
    attrs: { axis: 'int' },
    infer(inputs, a) {
      const x = req(inputs, 0, 'Flatten');
      const axis = int(a, 'axis', 1);
      const prod = (s: Shape): Dim => (s.every((d) => typeof d === 'number') ? (s as number[]).reduce((p, d) => p * d, 1) : s.length === 1 ? s[0]! : '?');
      return [{ dtype: x.dtype, shape: [prod(x.shape.slice(0, axis)), prod(x.shape.slice(axis))] }];
    },
    grad: (g, n, [dy], need) => [need[0] ? reshape(g, dy!, n.inputs[0]!.shape.map((d) => num(d, 'Flatten grad'))) : undefined],
  },
  Reshape: {
    attrs: {},
    infer(inputs, _a, g) {
      const x = req(inputs, 0, 'Reshape');
      const target = constInts(g, inputs[1], 'Reshape');
      const total = x.shape.every((d) => typeof d === 'number') ? (x.shape as number[]).reduce((p, d) => p * d, 1) : undefined;
      const known = target.filter((d) => d !== -1).reduce((p, d) => p * d, 1);
      const shape = target.map((d) => (d === -1 ? (total === undefined ? '?' : total / known) : d));
      if (total !== undefined && !target.includes(-1) && known !== total) throw new Error(`Reshape: cannot reshape ${shapeStr(x.shape)} to ${shapeStr(target)}`);
      return [{ dtype: x.dtype, shape }];
    },
    grad: (g, n, [dy], need) => [need[0] ? reshape(g, dy!, n.inputs[0]!.shape.map((d) => num(d, 'Reshape grad'))) : undefined],
  },
  Expand: {
    internal: true,
    attrs: {},
    infer(inputs, _a, g) {
      const x = req(inputs, 0, 'Expand');
      return [{ dtype: x.dtype, shape: broadcast(x.shape, constInts(g, inputs[1], 'Expand'), 'Expand') }];
    },
  },
  Transpose: {
    internal: true,
    attrs: { perm: 'ints' },
    infer(inputs, a) {
      const x = req(inputs, 0, 'Transpose');
      const perm = ints(a, 'perm', x.shape.map((_, i) => x.shape.length - 1 - i));
      return [{ dtype: x.dtype, shape: perm.map((p) => x.shape[p]!) }];
    },
  },
  Slice: {
    internal: true,
    attrs: {},
    infer(inputs, _a, g) {
      // inputs: data, starts, ends, axes, steps (all constant)
      const x = req(inputs, 0, 'Slice');
      const [starts, ends, axes, steps] = [1, 2, 3, 4].map((i) => constInts(g, inputs[i], 'Slice'));
      const shape = [...x.shape];
      axes!.forEach((ax, j) => {
        const d = num(x.shape[ax]!, 'Slice');
        const step = steps![j]!;
        const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v < 0 ? v + d : v, lo), hi);
        const s = step > 0 ? clamp(starts![j]!, 0, d) : clamp(starts![j]!, -1, d - 1);
        const e = step > 0 ? clamp(ends![j]!, 0, d) : clamp(ends![j]!, -1, d - 1);
        shape[ax] = Math.max(0, Math.ceil((e - s) / step));
      });
      return [{ dtype: x.dtype, shape }];
    },
  },
  Concat: {
    internal: true,
    // only inside gradient rules (the depthwise dW by slices): no gradient rule of its own
    attrs: { axis: 'int' },
    infer(inputs, a) {
      const xs = inputs.map((_, i) => req(inputs, i, 'Concat'));
      if (xs.length === 0) throw new Error('Concat: needs at least one input');
      const r = xs[0]!.shape.length;
      const axis = int(a, 'axis', 0) < 0 ? int(a, 'axis', 0) + r : int(a, 'axis', 0);
      if (axis < 0 || axis >= r) throw new Error(`Concat: axis ${int(a, 'axis', 0)} is out of range for rank ${r}`);
      const shape = [...xs[0]!.shape];
      shape[axis] = 0;
      for (const x of xs) {
        if (x.shape.length !== r || x.shape.some((d, i) => i !== axis && d !== xs[0]!.shape[i])) {
          throw new Error(`Concat: shapes ${shapeStr(xs[0]!.shape)} and ${shapeStr(x.shape)} differ outside axis ${axis}`);
        }
        shape[axis] = (shape[axis] as number) + num(x.shape[axis]!, 'Concat');
      }
      return [{ dtype: xs[0]!.dtype, shape }];
    },
  },
  Gemm: {
    attrs: { alpha: 'float', beta: 'float', transA: 'int', transB: 'int' },
    infer(inputs, a) {
      const x = req(inputs, 0, 'Gemm');
      const w = req(inputs, 1, 'Gemm');
      const m = int(a, 'transA', 0) ? x.shape[1]! : x.shape[0]!;
      const k = int(a, 'transA', 0) ? x.shape[0]! : x.shape[1]!;
      const kw = int(a, 'transB', 0) ? w.shape[1]! : w.shape[0]!;
      const n = int(a, 'transB', 0) ? w.shape[0]! : w.shape[1]!;
      if (k !== kw) throw new Error(`Gemm: inner dimensions ${k} and ${kw} differ`);
      return [{ dtype: x.dtype, shape: [m, n] }]; // (M, K) x (K, N) -> (M, N)
    },
    grad(g, n, [dy], need) {
      // y = x W^T + b (the Linear layer: transB = 1, no transA, alpha = beta = 1)
      if (int(n.attrs, 'transA', 0) || !int(n.attrs, 'transB', 0) || (n.attrs.alpha ?? 1) !== 1 || (n.attrs.beta ?? 1) !== 1) throw new Error('Gemm grad: only the Linear form (transB=1) is supported');
      const [x, w, b] = n.inputs as Value[];
      return [
        need[0] ? g.op1('MatMul', [dy!, w!]) : undefined, // (N, out) x (out, in) -> (N, in)
        need[1] ? g.op1('Gemm', [dy!, x!], { transA: 1 }) : undefined, // (out, N) x (N, in) -> (out, in)
        need[2] && b ? reduceSum(g, dy!, [0]) : undefined,
      ];
    },
  },
  MatMul: {
    internal: true,
    attrs: {},
    infer(inputs) {
      const a = req(inputs, 0, 'MatMul');
      const b = req(inputs, 1, 'MatMul');
      if (a.shape.length < 2 || b.shape.length < 2) throw new Error('MatMul: operands must be at least 2-D');
      if (a.shape.at(-1) !== b.shape.at(-2)) throw new Error(`MatMul: inner dimensions ${a.shape.at(-1)} and ${b.shape.at(-2)} differ`);
      const batch = broadcast(a.shape.slice(0, -2), b.shape.slice(0, -2), 'MatMul');
      return [{ dtype: a.dtype, shape: [...batch, a.shape.at(-2)!, b.shape.at(-1)!] }];
    },
  },
  ReduceSum: {
    attrs: { keepdims: 'int', noop_with_empty_axes: 'int' },
    infer(inputs, a, g) {
      const x = req(inputs, 0, 'ReduceSum'); // axes are input 1 from opset 13
      return [{ dtype: x.dtype, shape: reduceShape(x.shape, constInts(g, inputs[1], 'ReduceSum'), int(a, 'keepdims', 1) === 1) }];
    },
    grad(g, n, [dy], need) {
      // broadcast dy back over the summed axes
      const x = n.inputs[0]!;
      const shape = x.shape.map((d) => num(d, 'ReduceSum grad'));
      const kept = reduceShape(shape, constInts(g, n.inputs[1], 'ReduceSum'), true) as number[];
      return [need[0] ? g.op1('Expand', [reshape(g, dy!, kept), i64(g, shape, 'shape')]) : undefined];
    },
  },
  ReduceMean: {
    internal: true,
    attrs: { axes: 'ints', keepdims: 'int' }, // axes an attribute until opset 18
    infer(inputs, a) {
      const x = req(inputs, 0, 'ReduceMean');
      return [{ dtype: x.dtype, shape: reduceShape(x.shape, ints(a, 'axes', x.shape.map((_, i) => i)), int(a, 'keepdims', 1) === 1) }];
    },
  },
  ReduceSumSquare: {
    internal: true,
    attrs: { axes: 'ints', keepdims: 'int' },
    infer(inputs, a) {
      const x = req(inputs, 0, 'ReduceSumSquare');
      return [{ dtype: x.dtype, shape: reduceShape(x.shape, ints(a, 'axes', x.shape.map((_, i) => i)), int(a, 'keepdims', 1) === 1) }];
    },
  },
  ReduceLogSumExp: {
    internal: true,
    attrs: { axes: 'ints', keepdims: 'int' },
    infer(inputs, a) {
      const x = req(inputs, 0, 'ReduceLogSumExp');
      return [{ dtype: x.dtype, shape: reduceShape(x.shape, ints(a, 'axes', x.shape.map((_, i) => i)), int(a, 'keepdims', 1) === 1) }];
    },
  },
  SoftmaxCrossEntropy: {
    // composite: (logits (N, K), target probabilities (N, K)) -> mean cross-entropy (scalar).
    // Label smoothing is in the target: (1 - e) * onehot + e / K, as torch's label_smoothing.
    attrs: {},
    infer(inputs) {
      const z = req(inputs, 0, 'SoftmaxCrossEntropy');
      broadcast(z.shape, req(inputs, 1, 'SoftmaxCrossEntropy').shape, 'SoftmaxCrossEntropy');
      return [{ dtype: z.dtype, shape: [] }];
    },
    lower(g, [z, t]) {
      const lse = g.op1('ReduceLogSumExp', [z], { axes: [1], keepdims: 0 }); // (N)
      const dot = reduceSum(g, g.op1('Mul', [z!, t!]), [1]); // (N)
      return [g.op1('ReduceMean', [g.op1('Sub', [lse, dot])], { axes: [0], keepdims: 0 })];
    },
    grad(g, n, [dl], need) {
      const [z, t] = n.inputs as Value[];
      const N = num(z!.shape[0]!, 'SoftmaxCrossEntropy grad');
      const diff = g.op1('Sub', [g.op1('Softmax', [z!], { axis: 1 }), t!]); // (N, K)
      return [need[0] ? g.op1('Mul', [diff, g.op1('Mul', [dl!, g.scalar(1 / N)])]) : undefined, undefined];
    },
  },
  Pad: {
    attrs: { mode: 'string' },
    infer(inputs, _a, g) {
      const x = req(inputs, 0, 'Pad');
      const pads = constInts(g, inputs[1], 'Pad'); // [b0, b1, ..., e0, e1, ...]
      const r = x.shape.length;
      return [{ dtype: x.dtype, shape: x.shape.map((d, i) => (typeof d === 'number' ? d + pads[i]! + pads[i + r]! : d)) }];
    },
    grad(g, n, [dy], need) {
      // zero padding only: the gradient is the un-padded window of dy
      const x = n.inputs[0]!;
      const pads = constInts(g, n.inputs[1], 'Pad');
      const r = x.shape.length;
      const axes = x.shape.map((_, i) => i).filter((i) => pads[i] || pads[i + r]);
      const starts = axes.map((i) => pads[i]!);
      const ends = axes.map((i) => pads[i]! + num(x.shape[i]!, 'Pad grad'));
      return [need[0] ? g.op1('Slice', [dy!, i64(g, starts), i64(g, ends), i64(g, axes), i64(g, axes.map(() => 1))]) : undefined];
    },
  },
};
