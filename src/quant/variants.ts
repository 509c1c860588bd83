// Variants of one int8 graph: the same integer weights, biases and activation grids, with some
// convs computed in float on the dequantized values (DQ(x) -> Conv with the dequantized weights ->
// Q) instead of by an integer kernel. ONNX Runtime fuses a conv into QLinearConv only when its
// weight comes through a DequantizeLinear; storing the dequantized weight as a float constant
// keeps that conv in float, computing the same real numbers up to float rounding (an output lands
// on the other side of a rounding boundary, one integer step away, rarely).
//   qdq       every conv integer (ONNX Runtime on CPU: the fastest);
//   dw-float  the depthwise convs in float (onnxruntime-web's WASM int8 depthwise kernel is slow);
//   pw-only   only the 1x1 convs integer (the stem's 3x3 in float too);
//   float     every conv in float on the integer grid's values (the activations still rounded to it);
//   weights-only  not exact: a float graph on the dequantized weights, the activations clipped to
//             their ranges but not rounded (the int8 file's size, a float network's speed).

import type { Graph, Node, Value } from '../graph/ir.js';
import { float32, type Tensor } from '../tensor.js';

export const INT8_VARIANTS = ['qdq', 'dw-float', 'pw-only', 'float', 'weights-only'] as const;
export type Int8Variant = (typeof INT8_VARIANTS)[number];

const kernel = (n: Node) => (n.attrs.kernel_shape as readonly number[] | undefined) ?? [];
const SELECT: Record<Exclude<Int8Variant, 'qdq' | 'weights-only'>, (conv: Node) => boolean> = {
  'dw-float': (n) => ((n.attrs.group as number | undefined) ?? 1) > 1,
  'pw-only': (n) => kernel(n).some((k) => k !== 1),
  float: () => true,
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
export function floatConvs(g: Graph, variant: Exclude<Int8Variant, 'qdq' | 'weights-only'>): number {
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

/**
 * The weights-only variant: every constant DequantizeLinear becomes its float tensor and every
 * activation QuantizeLinear -> DequantizeLinear pair becomes a Clip to the range the integers
 * cover (ReLU6 lives in those ranges), leaving a float graph. Returns how many DequantizeLinear
 * nodes went.
 */
export function dequantizeAll(g: Graph): number {
  const use = new Map<Value, Value>();
  const outputs = new Set(g.outputs);
  let count = 0;
  g.nodes = g.nodes.map((n) => {
    if (n.op !== 'DequantizeLinear' || outputs.has(n.outputs[0]!)) return n;
    const [src, s, z] = n.inputs.map((v) => v!);
    if (g.initializers.has(src!)) {
      const t = dequantizeConstant(g, n);
      if (!t) return n;
      use.set(n.outputs[0]!, g.initializer(`${n.outputs[0]!.name}_float`, t));
      count++;
      return n; // pruned below: nothing uses it
    }
    if (src!.producer?.op !== 'QuantizeLinear' || !s || !g.initializers.has(s) || (z && !g.initializers.has(z))) return n;
    const scales = g.initializers.get(s)!.data as Float32Array;
    if (scales.length !== 1) return n; // per-channel activations: not ours
    const scale = scales[0]!;
    const zt = z ? g.initializers.get(z)! : undefined;
    const zp = zt ? Number((zt.data as ArrayLike<number>)[0]) : 0;
    const [qmin, qmax] = zt?.dtype === 'int8' ? [-128, 127] : [0, 255];
    const lo = g.initializer(`${n.outputs[0]!.name}_min`, float32([], [Math.fround((qmin - zp) * scale)]));
    const hi = g.initializer(`${n.outputs[0]!.name}_max`, float32([], [Math.fround((qmax - zp) * scale)]));
    const clip: Node = { op: 'Clip', inputs: [src!.producer.inputs[0]!, lo, hi], outputs: n.outputs, attrs: {}, name: `${n.name}_clip` };
    for (const o of clip.outputs) o.producer = clip;
    count++;
    return clip;
  });
  g.nodes = g.nodes.map((n) => {
    if (!n.inputs.some((v) => v && use.has(v))) return n;
    const m: Node = { ...n, inputs: n.inputs.map((v) => (v && use.get(v)) ?? v) };
    for (const o of m.outputs) o.producer = m;
    return m;
  });
  g.prune();
  return count;
}
