// Cross-layer equalization (Nagel et al., "Data-Free Quantization Through Weight Equalization and
// Bias Correction", ICCV 2019, section 4.1): for two convs in a row with a ReLU between them,
// scaling output channel i of the first by 1/s_i and input channel i of the second by s_i leaves
// the network's function unchanged (ReLU(x / s) = ReLU(x) / s for s > 0) and, with
// s_i = sqrt(r1_i / r2_i), gives both channels the same weight range sqrt(r1_i * r2_i). With one
// scale per tensor (per-tensor weights), that is what rescues MobileNetV2's depthwise convs, whose
// per-channel ranges differ by orders of magnitude.
//
// ReLU6 does not commute with the scaling (min(x / s, 6) != min(x, 6) / s). The paper turns an
// equalized pair's ReLU6 into a ReLU; on real weights that changes the network (the Coral
// MobileNetV2: 77% top-1 agreement with itself, float). With calibration data we keep the ReLU6
// and bound the scales instead: a channel that reaches 6 on the calibration images is not scaled;
// one that stays below may only be divided (s >= 1: its clip moves to 6s, which it does not reach
// either). Multiplying a channel (s < 1) would move its clip below values other images reach
// (bounding it by the calibrated maximum, the Coral weights agreed with themselves, float, on 75%
// of other photos' views). Exact wherever a scaled channel stays below 6 before scaling.

import type { Graph, Node, Value } from '../graph/ir.js';
import { float32, type Tensor } from '../tensor.js';

const isConv = (n: Node | undefined): n is Node => n?.op === 'Conv';

/** The Clip(0, 6) / Relu between two convs, or undefined. */
function activationBetween(g: Graph, n: Node): 'relu6' | 'relu' | undefined {
  if (n.op === 'Relu') return 'relu';
  if (n.op !== 'Clip') return undefined;
  const lo = n.inputs[1] && g.initializers.get(n.inputs[1]);
  const hi = n.inputs[2] && g.initializers.get(n.inputs[2]);
  if (!lo || lo.data[0] !== 0) return undefined;
  return hi ? 'relu6' : 'relu';
}

interface Pair {
  first: Node;
  act: Node;
  second: Node;
}

/** conv -> Clip(0, 6) | Relu -> conv, each value read once: the pairs CLE may rescale. */
export function equalizablePairs(g: Graph): Pair[] {
  const readers = g.consumers();
  const outputs = new Set(g.outputs.map((v) => v.id));
  const only = (v: Value) => (readers.get(v.id)?.length === 1 && !outputs.has(v.id) ? readers.get(v.id)![0] : undefined);
  const pairs: Pair[] = [];
  for (const first of g.nodes) {
    if (!isConv(first) || !g.isConstant(first.inputs[1])) continue;
    const act = only(first.outputs[0]!);
    if (!act || !activationBetween(g, act)) continue;
    const second = only(act.outputs[0]!);
    if (!isConv(second) || second.inputs[0] !== act.outputs[0] || !g.isConstant(second.inputs[1])) continue;
    pairs.push({ first, act, second });
  }
  return pairs;
}

/**
 * Equalize every pair, `iterations` sweeps (a chain pw -> dw -> pw shares the dw, so the scales
 * settle over a few sweeps). With `channelMax` (per-channel maxima of each activation, by value
 * id, from calibration) ReLU6s stay and bound the scales; without, they become ReLUs. Weights are
 * replaced by new tensors (the model's own are not touched). Returns the pairs.
 */
export function equalize(g: Graph, iterations = 20, channelMax?: Map<number, Float64Array>): Pair[] {
  const pairs = equalizablePairs(g);
  const w = (n: Node): Tensor => g.initializers.get(n.inputs[1]!)!;
  const set = (v: Value, t: Tensor) => g.initializers.set(v, t);
  // fresh copies first, so the model's tensors stay as they are
  for (const p of pairs) {
    for (const n of [p.first, p.second]) {
      for (const v of n.inputs.slice(1)) if (v && g.isConstant(v)) set(v, float32(g.initializers.get(v)!.shape, Float32Array.from(g.initializers.get(v)!.data as Float32Array)));
    }
  }
  // per pair, the total divisor S_i applied to each channel so far and the least it may reach
  const total = new Map<Pair, Float64Array>();
  const least = new Map<Pair, Float64Array>();
  for (const p of pairs) {
    const c = w(p.first).shape[0]!;
    total.set(p, new Float64Array(c).fill(1));
    const m = channelMax?.get(p.act.outputs[0]!.id);
    const relu6 = activationBetween(g, p.act) === 'relu6';
    // reaches 6: not scaled (Infinity marks it); else divided only
    least.set(p, Float64Array.from({ length: c }, (_, i) => (!channelMax || !relu6 ? 0 : !m || m[i]! >= 6 * (1 - 1e-6) ? Infinity : 1)));
  }
  for (let it = 0; it < iterations; it++) {
    for (const p of pairs) {
      const { first, second } = p;
      const S = total.get(p)!;
      const lower = least.get(p)!;
      const w1 = w(first).data as Float32Array; // (C, I, k, k)
      const w2t = w(second);
      const w2 = w2t.data as Float32Array;
      const c = w(first).shape[0]!;
      const per1 = w1.length / c;
      const group = (second.attrs.group as number | undefined) ?? 1;
      const depthwise = group === c && w2t.shape[1] === 1; // (C, 1, k, k): input channel i is output channel i
      const [o2, i2] = [w2t.shape[0]!, w2t.shape[1]!];
      const kk = w2.length / (o2 * i2);
      if (!depthwise && group !== 1) continue;
      const r1 = new Float64Array(c);
      const r2 = new Float64Array(c);
      for (let i = 0; i < c; i++) for (let j = i * per1; j < (i + 1) * per1; j++) r1[i] = Math.max(r1[i]!, Math.abs(w1[j]!));
      if (depthwise) for (let i = 0; i < c; i++) for (let j = i * kk; j < (i + 1) * kk; j++) r2[i] = Math.max(r2[i]!, Math.abs(w2[j]!));
      else for (let o = 0; o < o2; o++) for (let i = 0; i < c; i++) for (let j = 0; j < kk; j++) r2[i] = Math.max(r2[i]!, Math.abs(w2[(o * i2 + i) * kk + j]!));
      const b1 = first.inputs[2] ? (g.initializers.get(first.inputs[2])!.data as Float32Array) : undefined;
      for (let i = 0; i < c; i++) {
        let s = r1[i]! > 0 && r2[i]! > 0 ? Math.sqrt(r1[i]! / r2[i]!) : 1; // W1[i] / s, W2[:, i] * s
        if (lower[i] === Infinity) continue; // this channel's ReLU6 clips: it keeps its scale
        s = Math.max(S[i]! * s, lower[i]!) / S[i]!;
        if (s === 1) continue;
        S[i]! *= s;
        for (let j = i * per1; j < (i + 1) * per1; j++) w1[j] = w1[j]! / s;
        if (b1) b1[i] = b1[i]! / s;
        if (depthwise) for (let j = i * kk; j < (i + 1) * kk; j++) w2[j] = w2[j]! * s;
        else for (let o = 0; o < o2; o++) for (let j = 0; j < kk; j++) w2[(o * i2 + i) * kk + j] = w2[(o * i2 + i) * kk + j]! * s;
      }
    }
  }
  // without calibration bounds, ReLU6 -> ReLU between equalized convs: the clip at 6 does not survive the scaling
  const relu = new Map<Node, Node>();
  for (const { act } of channelMax ? [] : pairs) {
    if (activationBetween(g, act) !== 'relu6') continue;
    const r: Node = { op: 'Relu', inputs: [act.inputs[0]], outputs: act.outputs, attrs: {}, name: act.name.replace(/Clip$/, 'Relu') };
    for (const o of r.outputs) o.producer = r;
    relu.set(act, r);
  }
  g.nodes = g.nodes.map((n) => relu.get(n) ?? n);
  g.prune();
  return pairs;
}
