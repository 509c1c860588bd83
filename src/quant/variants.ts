// Variants of one int8 graph: the same integer weights, biases and activation grids, with some
// convs computed in float on the dequantized values (DQ(x) -> Conv with the dequantized weights ->
// Q) instead of by an integer kernel. ONNX Runtime fuses a conv into QLinearConv only when its
// weight comes through a DequantizeLinear; storing the dequantized weight as a float constant
// keeps that conv in float, computing the same real numbers up to float rounding (an output lands
// on the other side of a rounding boundary, one integer step away, rarely).
//   qdq       every conv integer (ONNX Runtime on CPU: the fastest);
//   dw-float  the depthwise convs in float (onnxruntime-web's WASM int8 depthwise kernel is slow);
//   pw-only   only the 1x1 convs integer (the stem's 3x3 in float too).

import type { Graph, Node, Value } from '../graph/ir.js';
import { float32, type Tensor } from '../tensor.js';

export const INT8_VARIANTS = ['qdq', 'dw-float', 'pw-only'] as const;
export type Int8Variant = (typeof INT8_VARIANTS)[number];

const kernel = (n: Node) => (n.attrs.kernel_shape as readonly number[] | undefined) ?? [];
const SELECT: Record<Exclude<Int8Variant, 'qdq'>, (conv: Node) => boolean> = {
  'dw-float': (n) => ((n.attrs.group as number | undefined) ?? 1) > 1,
  'pw-only': (n) => kernel(n).some((k) => k !== 1),
};

/** x = (q - zero_point) * scale of a constant DequantizeLinear, per tensor or per channel along its axis. */
export function dequantizeConstant(g: Graph, dq: Node): Tensor | undefined {
  const [q, s, z] = dq.inputs.map((v) => (v ? g.initializers.get(v) : undefined));
  if (!q || !s || (dq.inputs[2] && !z)) return undefined;
  const out = new Float32Array(q.data.length);
  const scale = s.data as Float32Array;
  const zp = z ? Array.from(z.data as ArrayLike<number>) : [0];
  const axis = (dq.attrs.axis as number | undefined) ?? 1;
  const inner = scale.length === 1 ? q.data.length : q.shape.slice(axis + 1).reduce((a, d) => a * d, 1);
  const ch = scale.length;
  const data = q.data as ArrayLike<number>;
  for (let i = 0; i < out.length; i++) {
    const c = ch === 1 ? 0 : Math.floor(i / inner) % ch;
    out[i] = Math.fround((data[i]! - (zp[c] ?? zp[0]!)) * scale[c]!);
  }
  return float32(q.shape, out);
}

/** Make the convs `variant` names float (their weight and bias DQs folded into float constants). Returns how many. */
export function floatConvs(g: Graph, variant: Exclude<Int8Variant, 'qdq'>): number {
  const pick = SELECT[variant];
  let count = 0;
  const replaced = new Map<Node, Node>();
  for (const n of g.nodes) {
    if (n.op !== 'Conv' || !pick(n)) continue;
    const inputs = n.inputs.map((v, i): Value | undefined => {
      const p = v?.producer;
      if (i === 0 || !p || p.op !== 'DequantizeLinear') return v;
      const t = dequantizeConstant(g, p);
      return t ? g.initializer(`${v!.name}_float`, t) : v;
    });
    if (inputs[1] === n.inputs[1]) continue; // not an int8 weight
    const m: Node = { ...n, inputs };
    for (const o of m.outputs) o.producer = m;
    replaced.set(n, m);
    count++;
  }
  g.nodes = g.nodes.map((n) => replaced.get(n) ?? n);
  g.prune();
  return count;
}
