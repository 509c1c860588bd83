// The graph IR: typed values, ONNX-operator nodes, shape inference at construction.
//
// A Graph is built by calling `g.op(type, inputs, attrs)`; the op table (ops.ts) gives each
// operator's shape rule, so every value knows its dtype and shape the moment it exists.
// Shapes are concrete except the batch dimension, which may be the symbol 'N'.
// The same graph serves inference, ONNX export and (later) training.

import type { DType, Tensor } from '../tensor.js';
import { OPS, type Attrs } from './ops.js';

/** What a value of the graph holds: a tensor's dtype, or booleans (comparison masks inside gradients). */
export type ValueType = DType | 'bool';
export type Dim = number | string;
export type Shape = readonly Dim[];

export interface Value {
  readonly id: number;
  name: string;
  readonly dtype: ValueType;
  readonly shape: Shape;
  /** The node that computes this value; undefined for graph inputs and initializers. */
  producer?: Node;
}

export interface Node {
  readonly op: string;
  readonly inputs: (Value | undefined)[]; // undefined = an omitted optional ONNX input
  readonly outputs: Value[];
  readonly attrs: Attrs;
  name: string;
}

export class Graph {
  readonly inputs: Value[] = [];
  readonly outputs: Value[] = [];
  nodes: Node[] = [];
  /** Constant tensors; parameters and buffers are named by their state-dict key. */
  readonly initializers = new Map<Value, Tensor>();
  private nextId = 0;
  private readonly names = new Set<string>();
  private currentScope = '';
  /** Prefix for names of new nodes and values (the module path being emitted); set by at() and within(). */
  get scope(): string {
    return this.currentScope;
  }

  private uniqueName(base: string): string {
    let name = base;
    for (let i = 1; this.names.has(name); i++) name = `${base}_${i}`;
    this.names.add(name);
    return name;
  }

  private newValue(name: string, dtype: ValueType, shape: Shape): Value {
    return { id: this.nextId++, name: this.uniqueName(name), dtype, shape: [...shape] };
  }

  input(name: string, shape: Shape, dtype: ValueType = 'float32'): Value {
    const v = this.newValue(name, dtype, shape);
    this.inputs.push(v);
    return v;
  }

  /** A named constant (a parameter or buffer, named by its state-dict key). */
  initializer(name: string, t: Tensor): Value {
    const v = this.newValue(name, t.dtype, t.shape);
    this.initializers.set(v, t);
    return v;
  }

  /** An anonymous constant, named after the current scope. */
  constant(t: Tensor, hint = 'const'): Value {
    return this.initializer(this.scope ? `${this.scope}.${hint}` : hint, t);
  }

  /** A scalar constant, created once per graph for each (value, dtype). */
  scalar(x: number, dtype: 'float32' | 'int64' = 'float32'): Value {
    const key = `${dtype}:${x}`;
    let v = this.scalars.get(key);
    if (v === undefined) {
      const t: Tensor =
        dtype === 'float32'
          ? { dtype, shape: [], data: Float32Array.of(x) }
          : { dtype, shape: [], data: BigInt64Array.of(BigInt(x)) };
      v = this.initializer(`const_${dtype === 'float32' ? 'f' : 'i'}${String(x).replace('-', 'm').replace('.', 'p')}`, t);
      this.scalars.set(key, v);
    }
    return v;
  }
  private readonly scalars = new Map<string, Value>();

  /** Give `v` a new name (made unique as every name is). */
  rename(v: Value, name: string): Value {
    if (v.name === name) return v;
    this.names.delete(v.name);
    v.name = this.uniqueName(name);
    return v;
  }

  output(v: Value, name?: string): Value {
    if (name !== undefined && v.name !== name) {
      this.names.delete(v.name);
      v.name = this.uniqueName(name);
    }
    this.outputs.push(v);
    return v;
  }

  /** Emit one ONNX operator; returns its outputs with inferred dtypes and shapes. */
  op(op: string, inputs: (Value | undefined)[], attrs: Attrs = {}, nOutputs = 1): Value[] {
    const def = OPS[op];
    if (def === undefined) throw new Error(`graph: unknown operator ${op}`);
    for (const k of Object.keys(attrs)) {
      if (!(k in def.attrs)) throw new Error(`graph: ${op} has no attribute ${k}`);
    }
    const types = def.infer(inputs, attrs, this);
    const base = this.scope || op.toLowerCase();
    const outputs = types.slice(0, nOutputs).map((t, i) => this.newValue(i === 0 ? base : `${base}.${i}`, t.dtype, t.shape));
    const node: Node = { op, inputs, outputs, attrs, name: this.uniqueName(`${base}/${op}`) };
    for (const o of outputs) o.producer = node;
    this.nodes.push(node);
    return outputs;
  }

  /** Shorthand for single-output operators. */
  op1(op: string, inputs: (Value | undefined)[], attrs: Attrs = {}): Value {
    return this.op(op, inputs, attrs, 1)[0]!;
  }

  /** Run `fn` with the naming scope set to `scope`; the previous scope comes back after, even on a throw. */
  at<T>(scope: string, fn: () => T): T {
    const saved = this.currentScope;
    this.currentScope = scope;
    try {
      return fn();
    } finally {
      this.currentScope = saved;
    }
  }

  /** Run `fn` with `name` appended to the naming scope. */
  within<T>(name: string, fn: () => T): T {
    const s = this.currentScope;
    return this.at(s && name ? `${s}.${name}` : s || name, fn);
  }

  isConstant(v: Value | undefined): boolean {
    return v !== undefined && this.initializers.has(v);
  }

  /** Number of nodes reading each value, graph outputs counted as readers. */
  consumers(): Map<number, Node[]> {
    const m = new Map<number, Node[]>();
    for (const n of this.nodes) {
      for (const v of n.inputs) if (v) (m.get(v.id) ?? m.set(v.id, []).get(v.id)!).push(n);
    }
    return m;
  }

  /** Drop nodes and initializers that no output depends on. */
  prune(): void {
    const live = new Set<number>(this.outputs.map((v) => v.id));
    const kept: Node[] = [];
    for (let i = this.nodes.length - 1; i >= 0; i--) {
      const n = this.nodes[i]!;
      if (!n.outputs.some((o) => live.has(o.id))) continue;
      kept.push(n);
      for (const v of n.inputs) if (v) live.add(v.id);
    }
    this.nodes = kept.reverse();
    for (const v of [...this.initializers.keys()]) if (!live.has(v.id)) this.initializers.delete(v);
    for (const [k, v] of [...this.scalars]) if (!this.initializers.has(v)) this.scalars.delete(k);
  }
}
