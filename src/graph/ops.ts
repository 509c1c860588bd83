// THE operator table. Every operator the IR knows is an ONNX operator (opset 17); its entry
// holds the attribute schema (which is also its ONNX emission: onnx/export.ts writes the node
// as-is with these attribute types) and its shape rule. The training issue adds each op's
// gradient rule to the same entry.

import type { DType, Dim, Graph, Shape, Value } from './ir.js';

export type AttrKind = 'int' | 'ints' | 'float' | 'floats' | 'string';
export type AttrValue = number | readonly number[] | string;
export type Attrs = Readonly<Record<string, AttrValue>>;

export interface TypeInfo {
  dtype: DType;
  shape: Shape;
}

export interface OpDef {
  /** Attribute name -> ONNX attribute type. */
  attrs: Readonly<Record<string, AttrKind>>;
  /** Shape rule: output dtypes and shapes from input values and attributes. */
  infer(inputs: readonly (Value | undefined)[], attrs: Attrs, g: Graph): TypeInfo[];
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

/** Numpy-style broadcasting of two shapes. */
export function broadcast(a: Shape, b: Shape, op = 'broadcast'): Dim[] {
  const n = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1;
    const y = b[b.length - n + i] ?? 1;
    if (x === y || y === 1) out.push(x);
    else if (x === 1) out.push(y);
    else throw new Error(`${op}: shapes [${a.join(', ')}] and [${b.join(', ')}] do not broadcast`);
  }
  return out;
}

/** The int64 data of a constant input (for shape rules that read e.g. Pad's pads). */
function constInts(g: Graph, v: Value | undefined, op: string): number[] {
  const t = v && g.initializers.get(v);
  if (!t || t.dtype !== 'int64') throw new Error(`${op}: this input must be a constant int64 tensor`);
  return Array.from(t.data as BigInt64Array, Number);
}

const same = (op: string) => (inputs: readonly (Value | undefined)[]): TypeInfo[] => {
  const x = req(inputs, 0, op);
  return [{ dtype: x.dtype, shape: x.shape }];
};

const elementwise = (op: string) => (inputs: readonly (Value | undefined)[]): TypeInfo[] => {
  const a = req(inputs, 0, op);
  const b = req(inputs, 1, op);
  return [{ dtype: a.dtype, shape: broadcast(a.shape, b.shape, op) }];
};

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
      if (x.shape.length !== 4) throw new Error(`Conv: input must be 4-D, got [${x.shape.join(', ')}]`);
      if ((c as number) !== cg! * group) throw new Error(`Conv: input has ${c} channels, weight expects ${cg! * group}`);
      const [sh, sw] = ints(a, 'strides', [1, 1]);
      const [pt, pl, pb, pr] = ints(a, 'pads', [0, 0, 0, 0]);
      const [dh, dw] = ints(a, 'dilations', [1, 1]);
      const ho = Math.floor(((h as number) + pt! + pb! - dh! * (kh! - 1) - 1) / sh!) + 1;
      const wo = Math.floor(((wd as number) + pl! + pr! - dw! * (kw! - 1) - 1) / sw!) + 1;
      if (ho < 1 || wo < 1) throw new Error(`Conv: input ${h}x${wd} is too small for this convolution`);
      return [{ dtype: x.dtype, shape: [n!, cout!, ho, wo] }]; // (N, Cout, Ho, Wo)
    },
  },
  BatchNormalization: {
    attrs: { epsilon: 'float', momentum: 'float', training_mode: 'int' },
    infer(inputs) {
      const x = req(inputs, 0, 'BatchNormalization');
      const c = [x.shape[1]!];
      // training_mode=1 also yields the batch mean and variance (running-stat outputs)
      return [{ dtype: x.dtype, shape: x.shape }, { dtype: x.dtype, shape: c }, { dtype: x.dtype, shape: c }];
    },
  },
  Clip: { attrs: {}, infer: same('Clip') }, // inputs: x, min, max
  Relu: { attrs: {}, infer: same('Relu') },
  Identity: { attrs: {}, infer: same('Identity') },
  Softmax: { attrs: { axis: 'int' }, infer: same('Softmax') },
  Add: { attrs: {}, infer: elementwise('Add') },
  Sub: { attrs: {}, infer: elementwise('Sub') },
  Mul: { attrs: {}, infer: elementwise('Mul') },
  Div: { attrs: {}, infer: elementwise('Div') },
  GlobalAveragePool: {
    attrs: {},
    infer(inputs) {
      const x = req(inputs, 0, 'GlobalAveragePool'); // (N, C, H, W) -> (N, C, 1, 1)
      return [{ dtype: x.dtype, shape: [...x.shape.slice(0, 2), ...x.shape.slice(2).map(() => 1)] }];
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
  },
  Pad: {
    attrs: { mode: 'string' },
    infer(inputs, _a, g) {
      const x = req(inputs, 0, 'Pad');
      const pads = constInts(g, inputs[1], 'Pad'); // [b0, b1, ..., e0, e1, ...]
      const r = x.shape.length;
      return [{ dtype: x.dtype, shape: x.shape.map((d, i) => (typeof d === 'number' ? d + pads[i]! + pads[i + r]! : d)) }];
    },
  },
};
