// How an int8 graph stores its weight integers, and why it matters on x86 without VNNI.
//
// Our weights are symmetric: q in [-127, 127], zero point 0, w = q * scale. The same numbers are
// uint8 q + 128 with zero point 128: (q + 128 - 128) * scale. ONNX gives both the same meaning,
// but ONNX Runtime's x86 kernels do not compute them alike. With uint8 activations and int8
// weights (U8S8), MLAS's GEMM on AVX2 without VNNI multiplies with vpmaddubsw, which adds
// neighbouring u8 x s8 products into int16 and saturates: 255 * 127 * 2 = 64,770 does not fit
// 32,767, so a conv whose activations and weights are both large gets wrong integers (on an
// AVX2-only AMD EPYC: 43,700 of the 162,944 integers of the parity fixture off, up to 255 steps;
// microsoft/onnxruntime#6004, #16105, PR #24220). With uint8 weights MLAS takes its U8U8 path
// (16-bit operands, 32-bit sums): exact (measured, at the ends of the range too). AVX512-VNNI
// (vpdpbusd) does not saturate either way.
// ONNX Runtime's depthwise QLinearConv does not go through that GEMM (a kernel of its own) and
// is exact with int8 weights (test/int8.extremes.test.ts), and faster than with uint8.
//
//   mixed  the convs computed by MLAS's GEMM (every non-depthwise conv) and Gemm in uint8
//          (zero point 128), the depthwise convs in int8: exact, and the faster exact storage
//          (bench/int8-storage.ts, AMD EPYC AVX2: 1.13-1.24x fp32 at batch 32). What quantize writes.
//   uint8  every weight uint8: exact, slower (1.04-1.15x fp32 at batch 32).
//   int8   every weight int8 (what quantize wrote until 2026-12-06): exact with VNNI (docs/int8.md),
//          wrong on AVX2 without it. load() rewrites such files to `mixed`.
//
// Graphs with int8 activations (quantize's `activations: 'int8'`) keep int8 weights whatever the
// storage: ONNX Runtime 1.30 fuses only part of them on x86 (tiny fixture network: 8 of 10 convs),
// and with uint8 weights it stops fusing their Gemm too. Their exactness on AVX2 is not measured.

import type { Graph, Node, Value } from '../graph/ir.js';
import type { Tensor } from '../tensor.js';

export const WEIGHT_STORAGES = ['mixed', 'uint8', 'int8'] as const;
export type WeightStorage = (typeof WEIGHT_STORAGES)[number];
/** What quantize writes and load() turns int8-weight files into (the exact storage; see above). */
export const EXACT_STORAGE: WeightStorage = 'mixed';

const depthwise = (n: Node) => n.op === 'Conv' && ((n.attrs.group as number | undefined) ?? 1) > 1;

/** The integer type `storage` keeps the weights of conv or Gemm `n` in, given its input's integer type. */
export function weightType(n: Node, storage: WeightStorage, activations: 'uint8' | 'int8'): 'uint8' | 'int8' {
  if (activations === 'int8' || storage === 'int8') return 'int8';
  if (storage === 'uint8') return 'uint8';
  return depthwise(n) ? 'int8' : 'uint8';
}

/**
 * Store the weights of every integer conv and Gemm of the QDQ graph `g` as `storage` says: a
 * constant DequantizeLinear of int8 q, z becomes one of uint8 q + 128, z + 128 and back; every
 * dequantized value stays what it was. Returns how many weights were rewritten (0: `g` unchanged).
 */
export function storeWeights(g: Graph, storage: WeightStorage): number {
  const replaced = new Map<Node, Node>();
  const renames: [Value, string][] = [];
  for (const n of g.nodes) {
    if (n.op !== 'Conv' && n.op !== 'Gemm') continue;
    const dq = n.inputs[1]?.producer;
    const xdq = n.inputs[0]?.producer;
    if (dq?.op !== 'DequantizeLinear' || xdq?.op !== 'DequantizeLinear' || replaced.has(dq)) continue;
    const [q, s, z] = dq.inputs;
    const qt = q && g.initializers.get(q);
    const zt = z && g.initializers.get(z);
    const act = xdq.inputs[0]!.dtype;
    if (!qt || !zt || (qt.dtype !== 'int8' && qt.dtype !== 'uint8') || zt.dtype !== qt.dtype || (act !== 'uint8' && act !== 'int8')) continue;
    const want = weightType(n, storage, act);
    if (qt.dtype === want) continue;
    const shift = want === 'uint8' ? 128 : -128;
    const moved = (t: Tensor): Tensor => {
      const d = Array.from(t.data as ArrayLike<number>, (v) => v + shift);
      return { dtype: want, shape: t.shape, data: want === 'uint8' ? Uint8Array.from(d) : Int8Array.from(d) } as Tensor;
    };
    const q2 = g.initializer(`${q.name}_${want}`, moved(qt));
    const z2 = g.initializer(`${z.name}_${want}`, moved(zt));
    renames.push([q2, q.name], [z2, z.name]);
    const m: Node = { ...dq, inputs: [q2, s, z2] };
    for (const o of m.outputs) o.producer = m;
    replaced.set(dq, m);
  }
  if (replaced.size === 0) return 0;
  g.nodes = g.nodes.map((n) => replaced.get(n) ?? n);
  g.prune();
  // the file's names again, where the old tensor is gone (prune does not free names: set them directly)
  const live = new Set([...g.initializers.keys()].map((u) => u.name));
  for (const [v, name] of renames) if (!live.has(name)) v.name = name;
  return replaced.size;
}
