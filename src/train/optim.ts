// Optimizers as graph emission: each one adds its update to the training-step graph, so one ONNX
// Runtime run does forward, backward and update. Per-step numbers (learning rate, Adam's bias
// corrections) are scalar graph inputs, so a schedule never recompiles the graph.

import type { Graph, Value } from '../graph/ir.js';

export type OptimizerName = 'sgd' | 'rmsprop' | 'adamw';

export interface OptimizerSpec {
  name: OptimizerName;
  weightDecay?: number;
  /** sgd, rmsprop */
  momentum?: number;
  /** sgd */
  nesterov?: boolean;
  /** rmsprop: decay of the square average (torch's alpha, TF's rho/decay) */
  alpha?: number;
  /** rmsprop, adamw */
  eps?: number;
  /**
   * rmsprop: TensorFlow's convention (the paper's recipe: decay 0.9, momentum 0.9, eps 1.0):
   * square average starts at ONE, eps inside the square root, learning rate inside the momentum
   * buffer: ms = a*ms + (1-a)*g^2; mom = m*mom + lr*g/sqrt(ms + eps); p -= mom.
   * Default (false) is torch.optim.RMSprop: starts at zero, eps outside: p -= lr*buf,
   * buf = m*buf + g/(sqrt(ms) + eps).
   */
  tf?: boolean;
  /** adamw */
  betas?: [number, number];
}

export interface StateSlot {
  name: string;
  init: number;
}

export interface Optimizer {
  readonly spec: Required<Pick<OptimizerSpec, 'name'>> & OptimizerSpec;
  /** Per-parameter state tensors and their initial value. */
  readonly slots: readonly StateSlot[];
  /** Names of the scalar inputs the update reads. */
  readonly scalars: readonly string[];
  /** The scalar inputs for a step (`step` counts from 1) at learning rate `lr`. */
  scalarValues(step: number, lr: number): Record<string, number>;
  /** Emit the update of one parameter: new parameter and new states. */
  emit(g: Graph, p: Value, grad: Value, states: readonly Value[], scalars: Record<string, Value>): { param: Value; states: Value[] };
}

const mul = (g: Graph, a: Value, b: Value | number) => g.op1('Mul', [a, typeof b === 'number' ? g.scalar(b) : b]);
const add = (g: Graph, a: Value, b: Value) => g.op1('Add', [a, b]);
const sub = (g: Graph, a: Value, b: Value) => g.op1('Sub', [a, b]);

/** g + wd * p (L2 weight decay folded into the gradient, as torch's SGD and RMSprop do). */
function decayed(g: Graph, grad: Value, p: Value, wd: number): Value {
  return wd ? add(g, grad, mul(g, p, wd)) : grad;
}

export function makeOptimizer(spec: OptimizerSpec): Optimizer {
  const wd = spec.weightDecay ?? 0;
  switch (spec.name) {
    case 'sgd': {
      // torch.optim.SGD, dampening 0: buf = m*buf + d (buf starts at d, the same as from 0); d = nesterov ? d + m*buf : buf
      const m = spec.momentum ?? 0;
      const nesterov = spec.nesterov ?? false;
      if (nesterov && m <= 0) throw new RangeError('sgd: nesterov needs momentum > 0');
      return {
        spec,
        slots: m ? [{ name: 'momentum_buffer', init: 0 }] : [],
        scalars: ['lr'],
        scalarValues: (_step, lr) => ({ lr }),
        emit(g, p, grad, [buf], { lr }) {
          let d = decayed(g, grad, p, wd);
          const states: Value[] = [];
          if (m) {
            const b = add(g, mul(g, buf!, m), d);
            states.push(b);
            d = nesterov ? add(g, d, mul(g, b, m)) : b;
          }
          return { param: sub(g, p, mul(g, d, lr!)), states };
        },
      };
    }
    case 'rmsprop': {
      const a = spec.alpha ?? (spec.tf ? 0.9 : 0.99);
      const m = spec.momentum ?? 0;
      const eps = spec.eps ?? (spec.tf ? 1.0 : 1e-8);
      const slots = [{ name: 'square_avg', init: spec.tf ? 1 : 0 }, ...(m ? [{ name: 'momentum_buffer', init: 0 }] : [])];
      return {
        spec,
        slots,
        scalars: ['lr'],
        scalarValues: (_step, lr) => ({ lr }),
        emit(g, p, grad, [sq, buf], { lr }) {
          const d = decayed(g, grad, p, wd);
          const sqNew = add(g, mul(g, sq!, a), mul(g, mul(g, d, d), 1 - a));
          const denom = spec.tf ? g.op1('Sqrt', [add(g, sqNew, g.scalar(eps))]) : add(g, g.op1('Sqrt', [sqNew]), g.scalar(eps));
          const step = g.op1('Div', [d, denom]);
          if (!m) return { param: sub(g, p, mul(g, step, lr!)), states: [sqNew] };
          if (spec.tf) {
            const mom = add(g, mul(g, buf!, m), mul(g, step, lr!));
            return { param: sub(g, p, mom), states: [sqNew, mom] };
          }
          const b = add(g, mul(g, buf!, m), step);
          return { param: sub(g, p, mul(g, b, lr!)), states: [sqNew, b] };
        },
      };
    }
    case 'adamw': {
      // torch.optim.AdamW: p *= 1 - lr*wd; m, v moments; p -= (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps)
      const [b1, b2] = spec.betas ?? [0.9, 0.999];
      const eps = spec.eps ?? 1e-8;
      return {
        spec,
        slots: [
          { name: 'exp_avg', init: 0 },
          { name: 'exp_avg_sq', init: 0 },
        ],
        scalars: ['decay', 'step_size', 'sqrt_bc2'],
        scalarValues: (step, lr) => ({ decay: 1 - lr * wd, step_size: lr / (1 - b1 ** step), sqrt_bc2: Math.sqrt(1 - b2 ** step) }),
        emit(g, p, grad, [m1, m2], { decay, step_size, sqrt_bc2 }) {
          const e1 = add(g, mul(g, m1!, b1), mul(g, grad, 1 - b1));
          const e2 = add(g, mul(g, m2!, b2), mul(g, mul(g, grad, grad), 1 - b2));
          const denom = add(g, g.op1('Div', [g.op1('Sqrt', [e2]), sqrt_bc2!]), g.scalar(eps));
          const update = mul(g, g.op1('Div', [e1, denom]), step_size!);
          return { param: sub(g, mul(g, p, decay!), update), states: [e1, e2] };
        },
      };
    }
    default:
      throw new RangeError(`Unsupported optimizer: "${(spec as OptimizerSpec).name}". Should be one of: sgd, rmsprop, adamw`);
  }
}
