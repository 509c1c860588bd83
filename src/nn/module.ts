// A small Module system in PyTorch's shape: named children, parameters and buffers, train/eval,
// state_dict/load_state_dict with torchvision's key order. A module's forward() does not compute
// numbers: it emits ONNX operators into a Graph, and ONNX Runtime computes them.

import type { Graph, Value } from '../graph/ir.js';
import { shapeStr, type StateDict, type Tensor } from '../tensor.js';

export class Parameter {
  constructor(
    public data: Tensor,
    public requiresGrad = true,
  ) {}
}

/** What a module sees while it emits: the graph, and how parameters and buffers become values. */
export interface EmitContext {
  readonly graph: Graph;
  /** Value standing for a parameter or buffer (an initializer, or a graph input when training). */
  bind(key: string, t: Tensor, kind: 'parameter' | 'buffer'): Value;
  /** Called after each module's forward, in call order (torchsummary's forward hooks). */
  hook?(module: Module, key: string, output: Value): void;
  /** Module -> its state-dict prefix ('' for the root). */
  readonly paths: Map<Module, string>;
  /** Present when emitting a training graph (train/compile.ts): what train-mode layers need. */
  readonly train?: TrainEmit;
}

export interface TrainEmit {
  /** A train-mode BatchNorm2d reports its batch mean and biased variance over `count` values. */
  batchStats(key: string, mean: Value, variance: Value, count: number, momentum: number): void;
  /** A train-mode Dropout gets its mask as a graph input: 0 or 1 / (1 - p), fresh every step. */
  dropoutMask(key: string, like: Value, p: number): Value;
}

export abstract class Module {
  /** The PyTorch class name (torchsummary prints it; constructor.name does not survive minifiers). */
  abstract readonly typeName: string;
  training = true;
  readonly children = new Map<string, Module>();
  readonly params = new Map<string, Parameter>();
  readonly buffers = new Map<string, Tensor>();

  protected addModule<M extends Module>(name: string, m: M): M {
    this.children.set(name, m);
    return m;
  }

  protected addParameter(name: string, t: Tensor): Parameter {
    const p = new Parameter(t);
    this.params.set(name, p);
    return p;
  }

  protected addBuffer(name: string, t: Tensor): void {
    this.buffers.set(name, t);
  }

  /** Depth-first, parents before children, as torch's named_modules(). */
  *namedModules(prefix = ''): Generator<[string, Module]> {
    yield [prefix, this];
    for (const [name, child] of this.children) yield* child.namedModules(prefix ? `${prefix}.${name}` : name);
  }

  namedParameters(): [string, Parameter][] {
    const out: [string, Parameter][] = [];
    for (const [path, m] of this.namedModules()) for (const [n, p] of m.params) out.push([path ? `${path}.${n}` : n, p]);
    return out;
  }

  /** torch's state_dict order: each module's parameters, then its buffers, then its children. */
  stateDict(): StateDict {
    const sd: StateDict = new Map();
    const walk = (m: Module, prefix: string): void => {
      for (const [n, p] of m.params) sd.set(prefix + n, p.data);
      for (const [n, b] of m.buffers) sd.set(prefix + n, b);
      for (const [n, c] of m.children) walk(c, `${prefix}${n}.`);
    };
    walk(this, '');
    return sd;
  }

  /**
   * Copy tensors from `sd` into this module. strict: keys must match exactly (as torch's
   * load_state_dict(strict=True)); shapes and dtypes must always match.
   */
  loadStateDict(sd: StateDict, strict = true): { missing: string[]; unexpected: string[] } {
    const own = this.stateDict();
    const missing = [...own.keys()].filter((k) => !sd.has(k));
    const unexpected = [...sd.keys()].filter((k) => !own.has(k));
    const problems: string[] = [];
    if (strict && missing.length) problems.push(`missing ${missing.length} key(s): ${list(missing)}`);
    if (strict && unexpected.length) problems.push(`unexpected ${unexpected.length} key(s): ${list(unexpected)}`);
    for (const [k, t] of sd) {
      const mine = own.get(k);
      if (mine === undefined) continue;
      if (mine.shape.length !== t.shape.length || mine.shape.some((d, i) => d !== t.shape[i])) {
        problems.push(`size mismatch for ${k}: checkpoint has ${shapeStr(t.shape)}, model has ${shapeStr(mine.shape)}`);
      } else if (mine.dtype !== t.dtype) {
        problems.push(`dtype mismatch for ${k}: checkpoint has ${t.dtype}, model has ${mine.dtype}`);
      }
    }
    if (problems.length) {
      const shown = problems.slice(0, 3).join('; ');
      throw new Error(`state dict does not fit ${this.typeName}: ${shown}${problems.length > 3 ? `; ... (${problems.length - 3} more)` : ''}`);
    }
    for (const [path, m] of this.namedModules()) {
      const prefix = path ? `${path}.` : '';
      for (const [n, p] of m.params) {
        const t = sd.get(prefix + n);
        if (t) p.data = t;
      }
      for (const n of m.buffers.keys()) {
        const t = sd.get(prefix + n);
        if (t) m.buffers.set(n, t);
      }
    }
    return { missing, unexpected };
  }

  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Emit this module's operators for input x; returns the output value. */
  abstract forward(ctx: EmitContext, x: Value): Value;

  /** forward() under this module's name scope, then the hook. */
  call(ctx: EmitContext, x: Value): Value {
    const path = ctx.paths.get(this) ?? '';
    return ctx.graph.at(path, () => {
      const y = this.forward(ctx, x);
      ctx.hook?.(this, path, y);
      return y;
    });
  }

  /** The value of one of this module's parameters or buffers. */
  protected tensor(ctx: EmitContext, name: string): Value {
    const path = ctx.paths.get(this) ?? '';
    const key = path ? `${path}.${name}` : name;
    const p = this.params.get(name);
    if (p) return ctx.bind(key, p.data, 'parameter');
    const b = this.buffers.get(name);
    if (b) return ctx.bind(key, b, 'buffer');
    throw new Error(`${this.typeName} has no parameter or buffer ${name}`);
  }
}

function list(keys: string[]): string {
  return keys.length <= 4 ? keys.join(', ') : `${keys.slice(0, 4).join(', ')}, ... (${keys.length - 4} more)`;
}

/** Emit `model` applied to `x` into x's graph, binding parameters as `bind` says. */
export function emit(
  model: Module,
  graph: Graph,
  x: Value,
  opts: { bind?: EmitContext['bind']; hook?: EmitContext['hook']; train?: TrainEmit } = {},
): Value {
  const paths = new Map<Module, string>();
  for (const [p, m] of model.namedModules()) paths.set(m, p);
  const bound = new Map<string, Value>();
  const bindFn = opts.bind ?? ((key: string, t: Tensor) => graph.initializer(key, t));
  const ctx: EmitContext = {
    graph,
    paths,
    hook: opts.hook,
    train: opts.train,
    bind(key, t, kind) {
      let v = bound.get(key);
      if (v === undefined) bound.set(key, (v = bindFn(key, t, kind)));
      return v;
    },
  };
  return model.call(ctx, x);
}
