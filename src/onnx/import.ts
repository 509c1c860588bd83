// ONNX ModelProto bytes -> the graph IR: the way back for the files we write (export's fp32
// graphs, quantize's int8 ones), so that a loaded .onnx can be given heads, rewritten (the
// browser's int8 variant) and run. Every node goes through the op table, so shapes are inferred
// and checked as when the graph was built; an operator or attribute the table does not know is
// refused by name.

import onnxProto from 'onnx-proto';
import { Graph, type ValueType, type Dim, type Value } from '../graph/ir.js';
import { OPS, type AttrValue } from '../graph/ops.js';
import type { Tensor } from '../tensor.js';
import { WeightsError, clean, describe, quote } from '../weights/errors.js';
import { looksLikeSafetensors } from '../weights/safetensors.js';

const { onnx } = onnxProto;
const T = onnx.TensorProto.DataType;

const DTYPES: Record<number, ValueType> = { [T.FLOAT]: 'float32', [T.INT64]: 'int64', [T.INT8]: 'int8', [T.UINT8]: 'uint8', [T.INT32]: 'int32', [T.BOOL]: 'bool' };
const ARRAYS = { float32: Float32Array, int64: BigInt64Array, int8: Int8Array, uint8: Uint8Array, int32: Int32Array } as const;

/** Opsets whose operators mean what the op table says (ReduceSum's axes input, Softmax's axis: 13; ReduceMean's axes attribute: until 17). */
export const IMPORT_OPSETS = [13, 17] as const;

export interface OnnxFile {
  graph: Graph;
  metadata: Record<string, string>;
  opset: number;
  producer: string;
}

type Long = { toNumber(): number };
const n = (x: number | Long | null | undefined): number => (typeof x === 'number' ? x : x ? x.toNumber() : 0);

/**
 * Whether the bytes look like an ONNX ModelProto as exporters write it: field 1 (ir_version, a
 * small varint) first, then a length-delimited field (producer_name, graph, opset_import...); and
 * not a safetensors file (whose 8-byte header length can begin the same way).
 */
export function looksLikeOnnx(bytes: Uint8Array): boolean {
  if (bytes.length < 16 || bytes[0] !== 0x08 || !(bytes[1]! >= 3 && bytes[1]! < 0x40)) return false;
  const tag = bytes[2]!;
  return (tag & 7) === 2 && tag >> 3 >= 2 && tag >> 3 <= 20 && !looksLikeSafetensors(bytes);
}

function tensorOf(t: onnxProto.onnx.ITensorProto, file: string): Tensor {
  const dtype = DTYPES[t.dataType ?? 0];
  if (dtype === undefined || dtype === 'bool') throw new WeightsError(`${file}: initializer ${quote(t.name ?? '')} has an element type (${t.dataType}) this library does not use`);
  const shape = (t.dims ?? []).map(n);
  const count = shape.reduce((a, d) => a * d, 1);
  const A = ARRAYS[dtype];
  let data: Tensor['data'];
  if (t.rawData && t.rawData.length > 0) {
    if (t.rawData.length !== count * A.BYTES_PER_ELEMENT) throw new WeightsError(`${file}: initializer ${quote(t.name ?? '')} has ${t.rawData.length} bytes for shape ${describe(shape)}`);
    const copy = new Uint8Array(t.rawData.length); // aligned
    copy.set(t.rawData);
    data = new A(copy.buffer);
  } else if (dtype === 'float32') data = Float32Array.from(t.floatData ?? []);
  else if (dtype === 'int64') data = BigInt64Array.from((t.int64Data ?? []).map((v) => BigInt(n(v))));
  else data = (A as typeof Int32Array).from(t.int32Data ?? []);
  if (data.length !== count) throw new WeightsError(`${file}: initializer ${quote(t.name ?? '')} has ${data.length} values for shape ${describe(shape)}`);
  return { dtype, shape, data } as Tensor;
}

function attrValue(a: onnxProto.onnx.IAttributeProto): AttrValue {
  const A = onnx.AttributeProto.AttributeType;
  switch (a.type) {
    case A.INT:
      return n(a.i);
    case A.INTS:
      return (a.ints ?? []).map(n);
    case A.FLOAT:
      return a.f ?? 0;
    case A.FLOATS:
      return [...(a.floats ?? [])];
    case A.STRING:
      return new TextDecoder().decode(a.s ?? new Uint8Array());
    default:
      throw new Error(`attribute ${quote(a.name ?? '')} has a type (${a.type}) the op table does not use`);
  }
}

/** Decode an ONNX file into a Graph. `file` names it in errors (WeightsError, one line). */
export function graphFromOnnx(bytes: Uint8Array, file: string): OnnxFile {
  let m: onnxProto.onnx.ModelProto;
  try {
    m = onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw new WeightsError(`${file}: not a readable ONNX file (${(e as Error).message})`);
  }
  if (!m.graph) throw new WeightsError(`${file}: an ONNX file with no graph`);
  const opset = n(m.opsetImport?.find((o) => !o.domain)?.version);
  const other = m.opsetImport?.find((o) => o.domain && o.domain !== 'ai.onnx');
  if (other) throw new WeightsError(`${file}: uses operators of domain ${other.domain}, which this library does not run from files`);
  if (opset < IMPORT_OPSETS[0] || opset > IMPORT_OPSETS[1]) throw new WeightsError(`${file}: ONNX opset ${opset}; this library reads opsets ${IMPORT_OPSETS[0]} to ${IMPORT_OPSETS[1]} (it writes ${IMPORT_OPSETS[1]})`);
  const g = new Graph();
  const values = new Map<string, Value>();
  const inits = new Set((m.graph.initializer ?? []).map((t) => t.name ?? ''));
  for (const t of m.graph.initializer ?? []) values.set(t.name ?? '', g.initializer(t.name ?? '', tensorOf(t, file)));
  for (const i of m.graph.input ?? []) {
    if (inits.has(i.name ?? '')) continue; // an initializer listed as an input (older exporters)
    const tt = i.type?.tensorType;
    const dtype = DTYPES[tt?.elemType ?? 0];
    if (!tt || !dtype) throw new WeightsError(`${file}: input ${quote(i.name ?? '')} is not a tensor of a type this library uses`);
    const shape: Dim[] = (tt.shape?.dim ?? []).map((d) => (d.dimParam ? d.dimParam : d.dimValue !== undefined && d.dimValue !== null ? n(d.dimValue) : '?'));
    values.set(i.name ?? '', g.input(i.name ?? 'input', shape, dtype));
  }
  for (const node of m.graph.node ?? []) {
    const op = node.opType ?? '';
    const where = `${file}: node ${quote(node.name || op)}`;
    if (node.domain && node.domain !== 'ai.onnx') throw new WeightsError(`${where}: operator ${quote(`${node.domain}.${op}`)} is not one this library runs from files`);
    const def = OPS[op];
    if (!def || def.lower) throw new WeightsError(`${where}: operator ${quote(op)} is not in this library's op table`);
    const attrs: Record<string, AttrValue> = {};
    for (const a of node.attribute ?? []) {
      if (!(a.name! in def.attrs)) throw new WeightsError(`${where}: ${quote(op)} attribute ${quote(a.name ?? '')} is not one this library writes`);
      try {
        attrs[a.name!] = attrValue(a);
      } catch (e) {
        throw new WeightsError(`${where}: ${clean((e as Error).message, 200)}`);
      }
    }
    const inputs = (node.input ?? []).map((name) => {
      if (name === '') return undefined;
      const v = values.get(name);
      if (!v) throw new WeightsError(`${where}: input ${quote(name)} is not computed before it (not a topologically sorted graph)`);
      return v;
    });
    let outs: Value[];
    try {
      outs = g.at(`${node.name || op}`, () => g.op(op, inputs, attrs, (node.output ?? []).length));
    } catch (e) {
      throw new WeightsError(`${where}: ${clean((e as Error).message, 200)}`);
    }
    const names = node.output ?? [];
    if (names.length === 0 || names.length > outs.length) throw new WeightsError(`${where}: ${names.length} outputs named for an operator with ${outs.length}`);
    names.forEach((name, i) => values.set(name, g.rename(outs[i]!, name)));
    if (node.name) outs[0]!.producer!.name = node.name;
  }
  for (const o of m.graph.output ?? []) {
    const v = values.get(o.name ?? '');
    if (!v) throw new WeightsError(`${file}: output ${quote(o.name ?? '')} is computed by no node`);
    g.output(v);
  }
  const metadata: Record<string, string> = {};
  for (const p of m.metadataProps ?? []) if (p.key) metadata[p.key] = p.value ?? '';
  return { graph: g, metadata, opset, producer: m.producerName ?? '' };
}
