// Reverse-mode autodiff on the IR: walk the forward nodes in reverse, ask each op's gradient rule
// (ops.ts) for its input gradients, sum gradients that meet. The backward pass is more nodes in
// the same graph, so forward, backward and the optimizer update compile into one ONNX graph.

import type { Graph, Value } from './ir.js';
import { DEFAULT_FORMULATION, OPS, type Formulation } from './ops.js';
import { shapeStr } from '../tensor.js';

/**
 * d loss / d v for each v in `wrt` (undefined where the loss does not depend on v); each rule
 * emits the formulation `f` names (ops.ts FORMULATIONS).
 */
export function gradients(g: Graph, loss: Value, wrt: readonly Value[], f: Readonly<Formulation> = DEFAULT_FORMULATION): Map<Value, Value | undefined> {
  if (loss.shape.length !== 0) throw new Error(`gradients: the loss must be a scalar, got ${shapeStr(loss.shape)}`);
  // which values depend on a value we differentiate with respect to
  const live = new Set(wrt.map((v) => v.id));
  const forward = [...g.nodes];
  for (const n of forward) if (n.inputs.some((v) => v && live.has(v.id))) for (const o of n.outputs) live.add(o.id);

  const grads = new Map<number, Value>([[loss.id, g.scalar(1)]]);
  for (let i = forward.length - 1; i >= 0; i--) {
    const n = forward[i]!;
    const dy = n.outputs.map((o) => grads.get(o.id));
    if (dy.every((d) => d === undefined)) continue;
    const need = n.inputs.map((v) => v !== undefined && live.has(v.id));
    if (!need.some(Boolean)) continue;
    const rule = OPS[n.op]!.grad;
    if (!rule) throw new Error(`gradients: ${n.op} (${n.name}) has no gradient rule${OPS[n.op]!.internal ? ' (it is emitted only inside gradients and lowerings)' : ''}`);
    g.at(`grad.${n.outputs[0]!.name}`, () => {
      const dx = rule(g, n, dy, need, f);
      n.inputs.forEach((v, j) => {
        const d = dx[j];
        if (!v || !need[j] || d === undefined) return;
        const prev = grads.get(v.id);
        grads.set(v.id, prev ? g.op1('Add', [prev, d]) : d); // a value read twice: its gradients add up
      });
    });
  }
  return new Map(wrt.map((v) => [v, grads.get(v.id)]));
}
