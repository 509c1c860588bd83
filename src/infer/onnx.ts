// An ONNX file of ours as the network the Predictor runs: export's fp32 graph or quantize's int8
// one, with the labels, preprocessing and input size its metadata records. The graph is run as
// it is, with the heads the Predictor serves (probabilities, embedding) added when the file lacks
// them; its input size is the graph's, fixed. The weights of an int8 file are put in the storage
// ONNX Runtime computes exactly on x86 without VNNI too (quant/storage.ts): the same numbers.

import type { Graph, Node, Value } from '../graph/ir.js';
import { resolvePreset, withInputSize, type PresetName, type PresetSpec } from '../data/transforms.js';
import { readCard, type ModelCard } from '../models/card.js';
import { graphFromOnnx, looksLikeOnnx } from '../onnx/import.js';
import { toOnnx } from '../onnx/export.js';
import { WeightsError, clean, describe } from '../weights/errors.js';
import { dequantizeAll, floatConvs, INT8_VARIANTS, type Int8Variant } from '../quant/variants.js';
import { EXACT_STORAGE, storeWeights } from '../quant/storage.js';
import type { Head } from './graph.js';

export { looksLikeOnnx };

/** What a run can fetch (predictor.ts): the model's own output and the heads. */
type Output = 'output' | Head;

export interface OnnxNetwork {
  readonly kind: 'onnx';
  /** The file it came from. */
  readonly source: string;
  /** The graph as the runtime gets it: the file's, with the heads added when it lacked them and int8 weights in the exact storage (quant/storage.ts). */
  readonly bytes: Uint8Array;
  readonly inputName: string;
  /** [H, W]: fixed by the graph. */
  readonly inputSize: readonly [number, number];
  /** A fixed batch size, or undefined for a dynamic batch. */
  readonly batch: number | undefined;
  /** The graph output serving each of our outputs (those the graph has). */
  readonly outputs: Partial<Record<Output, string>>;
  readonly includeTop: boolean;
  readonly numClasses: number | undefined;
  /** Length of the embedding (the pooled features). */
  readonly embeddingSize: number | undefined;
  /** Made by quantize (int8 QDQ): how, as its `quantization` metadata says. */
  readonly quantization: Record<string, unknown> | undefined;
  readonly metadata: Readonly<Record<string, string>>;
  /** The card (architecture, classes, preset) export and quantize write. */
  readonly card: ModelCard | undefined;
  readonly labels: string[] | undefined;
  /** The preprocessing, at the graph's input size. */
  readonly preset: PresetSpec;
}

export function isOnnxNetwork(x: unknown): x is OnnxNetwork {
  return typeof x === 'object' && x !== null && (x as { kind?: unknown }).kind === 'onnx';
}

const producer = (v: Value): Node | undefined => v.producer;

/** An ONNX file's bytes -> the network, heads added. A file that is not one of ours is a WeightsError naming it. */
export function onnxNetwork(bytes: Uint8Array, file: string): OnnxNetwork {
  if (!looksLikeOnnx(bytes)) throw new WeightsError(`${file}: not an ONNX file`);
  const { graph: g, metadata } = graphFromOnnx(bytes, file);
  const card = readCard(metadata, file);
  if (g.inputs.length !== 1) throw new WeightsError(`${file}: an ONNX graph with ${g.inputs.length} inputs; a MobileNetV2 takes one image batch`);
  const x = g.inputs[0]!;
  const [b, c, h, w] = x.shape;
  if (x.dtype !== 'float32' || x.shape.length !== 4 || c !== 3 || typeof h !== 'number' || typeof w !== 'number') {
    throw new WeightsError(`${file}: its input is ${x.dtype} ${describe(x.shape)}, not float32 N x 3 x H x W with a fixed H x W`);
  }
  const byName = new Map(g.outputs.map((v) => [v.name, v]));
  const first = g.outputs[0];
  if (!first) throw new WeightsError(`${file}: an ONNX graph with no output`);
  const includeTop = card?.config.includeTop ?? byName.has('logits');
  let changed = false;
  let logits = byName.get('logits');
  let probabilities = byName.get('probabilities');
  let embedding = byName.get('embedding');
  if (includeTop && logits) {
    if (!probabilities) {
      const l = logits;
      probabilities = card?.config.classifierActivation === 'softmax' ? l : g.within('probabilities', () => g.output(g.op1('Softmax', [l], { axis: 1 }), 'probabilities'));
      changed = true;
    }
    if (!embedding) {
      // the classifier's input: Gemm(Flatten(GlobalAveragePool(features))) in our graphs
      const gemm = producer(logits);
      const pooled = gemm?.op === 'Gemm' ? gemm.inputs[0] : undefined;
      if (pooled && pooled.shape.length === 2) {
        embedding = g.output(pooled, 'embedding');
        changed = true;
      }
    }
  }
  if (logits && card?.config.classifierActivation === 'softmax') logits = undefined; // the file's "logits" are probabilities
  const quantization = metadata['quantization'] ? (JSON.parse(metadata['quantization']) as Record<string, unknown>) : g.nodes.some((n) => n.op === 'QuantizeLinear') ? { format: 'qdq' } : undefined;
  // int8 weights where ONNX Runtime's x86 GEMM without VNNI saturates (files quantize wrote before
  // 2026-12, other tools' QDQ files): stored as the same numbers in uint8 (quant/storage.ts)
  if (quantization && storeWeights(g, EXACT_STORAGE) > 0) changed = true;
  const outputs: Partial<Record<Output, string>> = { output: first.name };
  if (logits) outputs.logits = logits.name;
  if (probabilities) outputs.probabilities = probabilities.name;
  if (embedding) outputs.embedding = embedding.name;
  const numClasses = card?.config.numClasses ?? (typeof (probabilities ?? logits)?.shape[1] === 'number' ? ((probabilities ?? logits)!.shape[1] as number) : undefined);
  const embeddingSize = typeof embedding?.shape[1] === 'number' ? embedding.shape[1] : undefined;
  const labels = card?.classes ?? parseLabels(metadata['classes'], numClasses);
  return {
    kind: 'onnx',
    source: file,
    bytes: changed ? toOnnx(g, { metadata }) : bytes,
    inputName: x.name,
    inputSize: [h, w],
    batch: typeof b === 'number' ? b : undefined,
    outputs,
    includeTop,
    numClasses,
    embeddingSize,
    quantization,
    metadata,
    card,
    labels,
    preset: presetOf(card, metadata, h, file),
  };
}

function parseLabels(raw: string | undefined, n: number | undefined): string[] | undefined {
  if (raw === undefined) return undefined;
  try {
    const l = JSON.parse(raw) as unknown;
    return Array.isArray(l) && l.every((s) => typeof s === 'string') && (n === undefined || l.length === n) ? (l as string[]) : undefined;
  } catch {
    return undefined;
  }
}

/** The preprocessing the metadata records (card, else export's `preprocessing`), at the input size. */
function presetOf(card: ModelCard | undefined, metadata: Record<string, string>, size: number, file: string): PresetSpec {
  let p: PresetName | PresetSpec | undefined = card?.preset;
  if (!p && metadata['preprocessing']) {
    try {
      const { preset: _name, ...spec } = JSON.parse(metadata['preprocessing']) as PresetSpec & { preset?: string };
      p = resolvePreset(spec);
    } catch (e) {
      throw new WeightsError(`${file}: its "preprocessing" metadata is not a preset (${clean((e as Error).message, 120)})`);
    }
  }
  return withInputSize(p ?? 'torchvision-v1', size);
}

/** The bytes of `variant` of an int8 network (the same integers; some convs computed in float). */
export function variantBytes(net: OnnxNetwork, variant: Int8Variant): Uint8Array {
  if (!INT8_VARIANTS.includes(variant)) throw new RangeError(`Unsupported int8 variant: "${variant}". Should be one of: ${INT8_VARIANTS.join(', ')}`);
  if (variant === 'qdq' || !net.quantization) return net.bytes;
  const { graph, metadata } = graphFromOnnx(net.bytes, net.source);
  if (variant === 'weights-only') dequantizeAll(graph);
  else floatConvs(graph, variant);
  return toOnnx(graph, { metadata: { ...metadata, int8_variant: variant } });
}

export type { Graph };
