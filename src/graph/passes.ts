// Graph rewrites: inference compilation (BN folding, merging), composites' lowering, and the
// training step's convBatchNorm and recompute.

import { float32, type Tensor } from '../tensor.js';
import type { Graph, Node, Value } from './ir.js';
import { DEFAULT_FORMULATION, OPS, type Formulation } from './ops.js';

/**
 * Fold each inference BatchNormalization into the Conv that feeds it (when the conv output has
 * no other reader and every weight is constant):
 *   W' = W * gamma / sqrt(var + eps)  (per output channel),  b' = (b - mean) * gamma / sqrt(var + eps) + beta.
 * Computed in float64, rounded once to float32. Returns the number of folds.
 */
export function foldBatchNorm(g: Graph): number {
  const readers = g.consumers();
  const outputs = new Set(g.outputs.map((v) => v.id));
  const replaced = new Map<Node, Node | null>(); // old node -> new node (null: removed)
  for (const bn of g.nodes) {
    if (bn.op !== 'BatchNormalization' || bn.attrs.training_mode) continue;
    const conv = bn.inputs[0]?.producer;
    if (!conv || conv.op !== 'Conv' || replaced.has(conv)) continue;
    const y = conv.outputs[0]!;
    if ((readers.get(y.id)?.length ?? 0) !== 1 || outputs.has(y.id)) continue;
    const [, w, b] = conv.inputs;
    const [, gamma, beta, mean, vari] = bn.inputs;
    const consts = [w, gamma, beta, mean, vari].map((v) => (v ? g.initializers.get(v) : undefined));
    if (consts.some((t) => t === undefined) || (b && !g.isConstant(b))) continue;
    const [W, G, B, M, V] = consts as Tensor[];
    const eps = (bn.attrs.epsilon as number | undefined) ?? 1e-5;
    const cout = W!.shape[0]!;
    const per = W!.data.length / cout;
    const wd = W!.data as Float32Array;
    const bd = b ? (g.initializers.get(b)!.data as Float32Array) : undefined;
    const nw = new Float32Array(wd.length);
    const nb = new Float32Array(cout);
    for (let o = 0; o < cout; o++) {
      const scale = (G!.data[o] as number) / Math.sqrt((V!.data[o] as number) + eps);
      for (let i = o * per; i < (o + 1) * per; i++) nw[i] = wd[i]! * scale;
      nb[o] = ((bd ? bd[o]! : 0) - (M!.data[o] as number)) * scale + (B!.data[o] as number);
    }
    const wv = g.initializer(`${w!.name}.bn_folded`, float32(W!.shape, nw));
    const bv = g.initializer(`${w!.name.replace(/weight$/, 'bias')}.bn_folded`, float32([cout], nb));
    const out: Value = bn.outputs[0]!;
    const fused: Node = { op: 'Conv', inputs: [conv.inputs[0], wv, bv], outputs: [out], attrs: conv.attrs, name: conv.name };
    out.producer = fused;
    replaced.set(conv, null);
    replaced.set(bn, fused);
  }
  const folded = applyReplacements(g, replaced);
  g.prune();
  return folded;
}

/** g.nodes with each node of `replaced` swapped for its replacement (null: dropped), in place; how many were swapped. */
function applyReplacements(g: Graph, replaced: ReadonlyMap<Node, Node | null>): number {
  g.nodes = g.nodes.flatMap((n) => {
    const r = replaced.get(n);
    return r === undefined ? [n] : r === null ? [] : [r];
  });
  return [...replaced.values()].filter((n) => n !== null).length;
}

/**
 * Merge nodes that compute the same thing (same operator, inputs and attributes): the inference
 * graph's embedding head pools the feature map the classifier also pools. Returns how many went.
 */
export function mergeDuplicates(g: Graph): number {
  const seen = new Map<string, Node>();
  const rename = new Map<number, Value>();
  const kept: Node[] = [];
  let merged = 0;
  for (const n of g.nodes) {
    const inputs = n.inputs.map((v) => (v && rename.get(v.id)) ?? v);
    const key = `${n.op}|${inputs.map((v) => (v ? v.id : '')).join(',')}|${JSON.stringify(n.attrs)}`;
    const same = seen.get(key);
    if (same && same.outputs.length === n.outputs.length) {
      n.outputs.forEach((o, i) => rename.set(o.id, same.outputs[i]!));
      merged++;
      continue;
    }
    const m = inputs.some((v, i) => v !== n.inputs[i]) ? { ...n, inputs } : n;
    for (const o of m.outputs) o.producer = m;
    seen.set(key, m);
    kept.push(m);
  }
  g.nodes = kept;
  g.outputs.forEach((v, i) => {
    const r = rename.get(v.id);
    if (r) {
      // an output computed twice: keep one value, under the output's name, as an Identity
      const id: Node = { op: 'Identity', inputs: [r], outputs: [v], attrs: {}, name: `${v.name}/Identity` };
      v.producer = id;
      g.nodes.push(id);
      g.outputs[i] = v;
    }
  });
  return merged;
}

/**
 * Replace each composite node (an op with a `lower` rule: BatchNormTrain, ConvBatchNormTrain,
 * SoftmaxCrossEntropy) by
 * the ONNX operators that implement it (in the formulation `f` names), in place, so the graph can
 * be exported.
 */
export function lowerComposites(g: Graph, f: Readonly<Formulation> = DEFAULT_FORMULATION): void {
  replaceNodes(g, (n, inputs) => {
    const lower = OPS[n.op]!.lower;
    return lower && (() => lower(g, inputs, n.attrs, f));
  });
}

/**
 * Rebuilds g.nodes in order: a node for which `replace` gives a builder is swapped for the nodes
 * that builder appends (under the node's first output's name), its outputs read from the values
 * it returns; every other node stays, reading the replaced values. Graph outputs that were
 * replaced keep their names. Returns how many nodes were replaced.
 */
function replaceNodes(g: Graph, replace: (n: Node, inputs: (Value | undefined)[]) => (() => Value[]) | undefined): number {
  const out: Node[] = [];
  const rename = new Map<number, Value>();
  let replaced = 0;
  for (const n of g.nodes) {
    const inputs = n.inputs.map((v) => (v && rename.get(v.id)) ?? v);
    const build = replace(n, inputs);
    if (!build) {
      out.push(inputs.some((v, i) => v !== n.inputs[i]) ? { ...n, inputs } : n);
      continue;
    }
    const start = g.nodes.length;
    const results = g.at(n.outputs[0]!.name, build);
    out.push(...g.nodes.splice(start)); // the nodes the builder appended
    n.outputs.forEach((o, i) => rename.set(o.id, results[i]!));
    replaced++;
  }
  g.nodes = out;
  g.outputs.forEach((v, i) => {
    const r = rename.get(v.id);
    if (r) {
      r.name = v.name;
      g.outputs[i] = r;
    }
  });
  return replaced;
}

/**
 * Recompute in the backward, rather than keep from the forward, activations that are cheap to make
 * again. In training a block's Conv -> BatchNormalization -> Clip keeps two tensors of one size for
 * the backward: the conv output (the BN gradient reads it) and the Clip output y (ReLU6's mask and
 * the next conv's dW read it).
 *   'clips'  y is one BatchNormalization and one Clip of the conv output, with the batch statistics
 *            the forward computed: each backward reader of y reads a copy made just before the first
 *            of them.
 *   'convs'  also the output of each Conv whose input is itself kept (a graph input, a block's
 *            output): the stem and the expansion convs, the largest tensors of each block; with
 *            convBn 'moments' an expansion's y is one Conv (the statistics folded in) and one Clip
 *            of its kept centred input, made again together.
 * A copy runs the same kernel on the same inputs as the forward's node, so it gives the same bits.
 * It carries an attribute the forward's lacks, with no effect (an inference-mode BatchNormalization's
 * momentum, a Conv's default dilations spelled out), so ONNX Runtime's common-subexpression pass
 * does not merge it back. Nodes from index `backwardFrom` on are the backward. Returns how many
 * values are recomputed.
 */
export function recompute(g: Graph, backwardFrom: number, what: 'clips' | 'convs'): number {
  const n0 = g.nodes.length;
  const first = new Map<number, number>(); // value id -> index of its first reader in the backward
  g.nodes.forEach((n, i) => {
    if (i >= backwardFrom) for (const v of n.inputs) if (v && !first.has(v.id)) first.set(v.id, i);
  });
  const chosen: Node[] = []; // forward nodes whose output is recomputed, in forward order
  const again = new Set<number>();
  for (const n of g.nodes.slice(0, backwardFrom)) {
    const y = n.outputs[0]!;
    if (!first.has(y.id) || n.outputs.length !== 1) continue;
    const src = n.inputs[0];
    const bn = src?.producer;
    const clip = n.op === 'Clip' && bn?.op === 'BatchNormalization' && !bn.attrs.training_mode;
    const conv = what === 'convs' && n.op === 'Conv' && src !== undefined && !again.has(src.id);
    // convBn 'moments': an expansion's ReLU6 reads its normalising Conv directly; with 'convs' the
    // pair is made again from the conv's (kept) centred input
    const convClip = what === 'convs' && n.op === 'Clip' && bn?.op === 'Conv' && bn.inputs[0] !== undefined && !again.has(bn.inputs[0].id);
    if (!clip && !conv && !convClip) continue;
    chosen.push(n);
    again.add(y.id);
  }
  // where each copy must exist: before the first backward reader of its value, or of a copy reading it
  const need = new Map<number, number>(chosen.map((n) => [n.outputs[0]!.id, first.get(n.outputs[0]!.id)!]));
  for (const n of [...chosen].reverse()) {
    const at = need.get(n.outputs[0]!.id)!;
    const feeds = n.op === 'Clip' ? n.inputs[0]!.producer!.inputs : n.inputs;
    for (const v of feeds) if (v && need.has(v.id)) need.set(v.id, Math.min(need.get(v.id)!, at));
  }
  const before = new Map<number, Node[]>(); // backward node index -> the copies to put before it
  const rename = new Map<number, Value>();
  const read = (vs: readonly (Value | undefined)[]) => vs.map((v) => (v && rename.get(v.id)) ?? v);
  for (const n of chosen) {
    const start = g.nodes.length;
    const copy = g.at(`${n.name}.recompute`, () => {
      if (n.op === 'Conv') return g.op1('Conv', read(n.inputs), { dilations: [1, 1], ...n.attrs });
      const bn = n.inputs[0]!.producer!;
      const z =
        bn.op === 'Conv'
          ? g.op1('Conv', read(bn.inputs), { dilations: [1, 1], ...bn.attrs })
          : g.op1('BatchNormalization', read(bn.inputs), { ...bn.attrs, momentum: 0.5 });
      return g.op1('Clip', [z, ...n.inputs.slice(1)], n.attrs);
    });
    const at = need.get(n.outputs[0]!.id)!;
    before.set(at, [...(before.get(at) ?? []), ...g.nodes.splice(start)]);
    rename.set(n.outputs[0]!.id, copy);
  }
  const out: Node[] = [];
  g.nodes.slice(0, n0).forEach((n, i) => {
    out.push(...(before.get(i) ?? []));
    const inputs = i >= backwardFrom ? read(n.inputs) : n.inputs;
    out.push(inputs.some((v, j) => v !== n.inputs[j]) ? { ...n, inputs } : n);
  });
  g.nodes = out;
  return rename.size;
}

/**
 * Formulation convBn 'moments': each 1x1 Conv (group 1, stride 1, no pads, no bias, more output
 * channels than input) whose only reader is a BatchNormTrain becomes one ConvBatchNormTrain
 * (ops.ts), whose batch statistics come from the moments of the conv's input and whose gradient
 * goes through the conv in closed form.
 * The BatchNormTrain's outputs stay the same values (the running statistics read them). Before
 * autodiff. Returns how many pairs were replaced.
 */
export function convBatchNorm(g: Graph): number {
  const readers = g.consumers();
  const outputs = new Set(g.outputs.map((v) => v.id));
  const replaced = new Map<Node, Node | null>();
  for (const bn of g.nodes) {
    if (bn.op !== 'BatchNormTrain') continue;
    const conv = bn.inputs[0]?.producer;
    if (!conv || conv.op !== 'Conv' || replaced.has(conv)) continue;
    const y = conv.outputs[0]!;
    const [x, w, b] = conv.inputs;
    const a = conv.attrs;
    const ones = (k: string) => ((a[k] as number[] | undefined) ?? []).every((v) => v === 1);
    const zeros = ((a.pads as number[] | undefined) ?? []).every((v) => v === 0);
    const pointwise = w!.shape[2] === 1 && w!.shape[3] === 1 && ((a.group as number | undefined) ?? 1) === 1 && ones('strides') && ones('dilations') && zeros;
    // only where the output is wider than the input (expansions, the last conv): the moments cost
    // Ci x Ci per pixel, so a projection (Ci = 6 Co) would pay more than it saves
    const widens = (w!.shape[0] as number) > (w!.shape[1] as number);
    if (!pointwise || !widens || b || (readers.get(y.id)?.length ?? 0) !== 1 || outputs.has(y.id)) continue;
    const start = g.nodes.length;
    g.at(bn.name.replace(/\/[^/]*$/, ''), () => g.op('ConvBatchNormTrain', [x, w, bn.inputs[1], bn.inputs[2]], bn.attrs, 6));
    const fused = g.nodes.splice(start)[0]!;
    (fused.outputs as Value[]).splice(0, 3, ...bn.outputs); // z, mean, var: the same values as before
    for (const o of fused.outputs) o.producer = fused;
    replaced.set(conv, null);
    replaced.set(bn, fused);
  }
  return applyReplacements(g, replaced);
}
