// A float64 interpreter of our QDQ graphs, written from the ONNX operator definitions (as
// tools/gen_int8_fixtures.py is in Python), independent of ONNX Runtime and of the quantizer:
//   DequantizeLinear  x = (q - zero_point) * scale     (per tensor, or per channel on `axis`)
//   QuantizeLinear    q = saturate(round_half_even(x / scale) + zero_point)
//   Conv (NCHW, groups, pads, strides), Gemm, Add, Flatten, Identity, Relu, Clip.
// Returns every value it computed, by name; QuantizeLinear outputs hold their integers.
import type { Graph, Node } from '../../src/graph/ir.js';
import type { Tensor } from '../../src/tensor.js';

export interface F64 {
  shape: number[];
  data: Float64Array;
}

const halfEven = (x: number) => {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
};
const f64 = (t: Tensor): F64 => ({ shape: t.shape.map(Number), data: Float64Array.from(t.data as ArrayLike<number>, Number) });
const ints = (a: Node['attrs'], k: string, d: number[]) => (a[k] as readonly number[] | undefined)?.slice() ?? d;

export function interpretQdq(g: Graph, feeds: Record<string, Tensor>): Map<string, F64> {
  const env = new Map<number, F64>();
  const out = new Map<string, F64>();
  for (const [v, t] of g.initializers) env.set(v.id, f64(t));
  for (const x of g.inputs) env.set(x.id, f64(feeds[x.name]!));
  const zpType = new Map<number, string>();
  for (const [v, t] of g.initializers) zpType.set(v.id, t.dtype);
  for (const n of g.nodes) {
    const i = n.inputs.map((v) => (v ? env.get(v.id) : undefined));
    let y: F64;
    switch (n.op) {
      case 'DequantizeLinear':
      case 'QuantizeLinear': {
        const [x, s, z] = i as [F64, F64, F64 | undefined];
        const axis = ((n.attrs.axis as number | undefined) ?? 1 + x.shape.length) % x.shape.length;
        const inner = x.shape.slice(axis + 1).reduce((a, d) => a * d, 1);
        const at = (p: F64 | undefined, j: number) => (p === undefined ? 0 : p.data.length === 1 ? p.data[0]! : p.data[Math.floor(j / inner) % p.data.length]!);
        const data = new Float64Array(x.data.length);
        if (n.op === 'DequantizeLinear') for (let j = 0; j < data.length; j++) data[j] = (x.data[j]! - at(z, j)) * at(s, j);
        else {
          const type = n.inputs[2] ? zpType.get(n.inputs[2].id) : 'uint8';
          const [lo, hi] = type === 'int8' ? [-128, 127] : [0, 255];
          for (let j = 0; j < data.length; j++) data[j] = Math.min(hi, Math.max(lo, halfEven(x.data[j]! / at(s, j)) + at(z, j)));
        }
        y = { shape: x.shape, data };
        break;
      }
      case 'Conv': {
        const [x, w, b] = i as [F64, F64, F64 | undefined];
        const [N, C, H, W] = x.shape as [number, number, number, number];
        const [M, Cg, KH, KW] = w.shape as [number, number, number, number];
        const group = (n.attrs.group as number | undefined) ?? 1;
        const [sh, sw] = ints(n.attrs, 'strides', [1, 1]) as [number, number];
        const [pt, pl, pb, pr] = ints(n.attrs, 'pads', [0, 0, 0, 0]) as [number, number, number, number];
        const HO = Math.floor((H + pt + pb - KH) / sh) + 1;
        const WO = Math.floor((W + pl + pr - KW) / sw) + 1;
        const data = new Float64Array(N * M * HO * WO);
        const mg = M / group;
        for (let nn = 0; nn < N; nn++)
          for (let m = 0; m < M; m++) {
            const c0 = Math.floor(m / mg) * Cg;
            for (let oh = 0; oh < HO; oh++)
              for (let ow = 0; ow < WO; ow++) {
                let acc = b ? b.data[m]! : 0;
                for (let c = 0; c < Cg; c++)
                  for (let kh = 0; kh < KH; kh++) {
                    const ih = oh * sh - pt + kh;
                    if (ih < 0 || ih >= H) continue;
                    for (let kw = 0; kw < KW; kw++) {
                      const iw = ow * sw - pl + kw;
                      if (iw < 0 || iw >= W) continue;
                      acc += x.data[((nn * C + c0 + c) * H + ih) * W + iw]! * w.data[((m * Cg + c) * KH + kh) * KW + kw]!;
                    }
                  }
                data[((nn * M + m) * HO + oh) * WO + ow] = acc;
              }
          }
        y = { shape: [N, M, HO, WO], data };
        break;
      }
      case 'Gemm': {
        const [x, w, b] = i as [F64, F64, F64 | undefined];
        if (!n.attrs.transB || n.attrs.transA) throw new Error('interpretQdq: Gemm with transB = 1 only');
        const [N, K] = x.shape as [number, number];
        const M = w.shape[0]!;
        const data = new Float64Array(N * M);
        for (let r = 0; r < N; r++)
          for (let m = 0; m < M; m++) {
            let acc = b ? b.data[b.data.length === 1 ? 0 : m]! : 0;
            for (let k = 0; k < K; k++) acc += x.data[r * K + k]! * w.data[m * K + k]!;
            data[r * M + m] = acc;
          }
        y = { shape: [N, M], data };
        break;
      }
      case 'Add':
        y = { shape: i[0]!.shape, data: i[0]!.data.map((v, j) => v + i[1]!.data[j]!) };
        break;
      case 'Flatten':
        y = { shape: [i[0]!.shape[0]!, i[0]!.shape.slice(1).reduce((a, d) => a * d, 1)], data: i[0]!.data };
        break;
      case 'Identity':
        y = i[0]!;
        break;
      case 'Relu':
        y = { shape: i[0]!.shape, data: i[0]!.data.map((v) => Math.max(0, v)) };
        break;
      case 'Clip':
        y = { shape: i[0]!.shape, data: i[0]!.data.map((v) => Math.min(i[2]?.data[0] ?? Infinity, Math.max(i[1]?.data[0] ?? -Infinity, v))) };
        break;
      default:
        throw new Error(`interpretQdq: operator ${n.op} is not interpreted here`);
    }
    env.set(n.outputs[0]!.id, y);
    out.set(n.outputs[0]!.name, y);
  }
  return out;
}
