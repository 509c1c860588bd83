// IR -> ONNX ModelProto bytes, through onnx-proto (protobufjs). Initializers keep their
// state-dict names (features.0.0.weight ...), so an exported model reads like the checkpoint.

import onnxProto from 'onnx-proto';
import type { Graph, Value, ValueType } from '../graph/ir.js';
import { OPS, type AttrValue } from '../graph/ops.js';
import type { Tensor } from '../tensor.js';

const { onnx } = onnxProto;

export const OPSET = 17;
const IR_VERSION = 8; // the IR version that goes with opset 17

const DATA_TYPE: Record<ValueType, number> = {
  float32: onnx.TensorProto.DataType.FLOAT,
  int64: onnx.TensorProto.DataType.INT64,
  int8: onnx.TensorProto.DataType.INT8,
  uint8: onnx.TensorProto.DataType.UINT8,
  int32: onnx.TensorProto.DataType.INT32,
  bool: onnx.TensorProto.DataType.BOOL,
};

function valueInfo(v: Value): onnxProto.onnx.IValueInfoProto {
  return {
    name: v.name,
    type: {
      tensorType: {
        elemType: DATA_TYPE[v.dtype],
        shape: { dim: v.shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function tensorProto(name: string, t: Tensor): onnxProto.onnx.ITensorProto {
  const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength); // little-endian host
  return { name, dataType: DATA_TYPE[t.dtype], dims: [...t.shape], rawData: bytes };
}

function attribute(op: string, name: string, value: AttrValue): onnxProto.onnx.IAttributeProto {
  const kind = OPS[op]!.attrs[name];
  const T = onnx.AttributeProto.AttributeType;
  switch (kind) {
    case 'int':
      return { name, type: T.INT, i: value as number };
    case 'ints':
      return { name, type: T.INTS, ints: [...(value as number[])] };
    case 'float':
      return { name, type: T.FLOAT, f: value as number };
    case 'floats':
      return { name, type: T.FLOATS, floats: [...(value as number[])] };
    case 'string':
      return { name, type: T.STRING, s: new TextEncoder().encode(value as string) };
    default:
      throw new Error(`onnx: ${op} has no attribute ${name}`);
  }
}

/** The other domains the graph's operators come from (ONNX Runtime's contrib ops), with their versions. */
function domains(g: Graph): { domain: string; version: number }[] {
  const m = new Map<string, number>();
  for (const n of g.nodes) {
    const d = OPS[n.op]!.domain;
    if (d) m.set(d.name, d.version);
  }
  return [...m].map(([domain, version]) => ({ domain, version }));
}

export interface ExportOptions {
  graphName?: string;
  docString?: string;
  metadata?: Record<string, string>;
}

export function toOnnx(g: Graph, opts: ExportOptions = {}): Uint8Array {
  for (const n of g.nodes) if (OPS[n.op]!.lower) throw new Error(`onnx: ${n.op} is a composite op: run lowerComposites() first`);
  const initializers = [...g.initializers].map(([v, t]) => tensorProto(v.name, t));
  const graph: onnxProto.onnx.IGraphProto = {
    name: opts.graphName ?? 'mobilenetv2',
    input: g.inputs.map(valueInfo),
    output: g.outputs.map(valueInfo),
    initializer: initializers,
    node: g.nodes.map((n) => ({
      name: n.name,
      opType: OPS[n.op]!.domain?.op ?? n.op,
      ...(OPS[n.op]!.domain ? { domain: OPS[n.op]!.domain!.name } : {}),
      input: n.inputs.map((v) => (v === undefined ? '' : v.name)),
      output: n.outputs.map((v) => v.name),
      attribute: Object.entries(n.attrs).map(([k, v]) => attribute(n.op, k, v)),
    })),
  };
  const model = onnx.ModelProto.create({
    irVersion: IR_VERSION,
    producerName: 'mobilenetv2',
    producerVersion: '0.1.0',
    docString: opts.docString ?? '',
    opsetImport: [{ domain: '', version: OPSET }, ...domains(g)],
    metadataProps: Object.entries(opts.metadata ?? {}).map(([key, value]) => ({ key, value })),
    graph,
  });
  return onnx.ModelProto.encode(model).finish();
}

/** Decode ONNX bytes (for tests and tools that inspect what we wrote). */
export function fromOnnx(bytes: Uint8Array): onnxProto.onnx.ModelProto {
  return onnx.ModelProto.decode(bytes);
}
