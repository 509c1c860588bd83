// The API JavaScript users already know: tfjs-models/mobilenet's `load` / `classify` / `infer`,
// with Keras' `includeTop` / `pooling` / `classes` / `classifierActivation`. Platform-free: each
// entry (index.ts for Node, web.ts for the browser) gives load() its Platform (runtime, weights,
// images).
//
//   const model = await load({ weights: 'hf:google/mobilenet_v2_1.0_224' });
//   await model.classify('cat.jpg', 5);   // [{ className, probability, index }, ...]
//   await model.embed('cat.jpg');         // Float32Array(1280): the pooled features
//   model.dispose();
//
// One session per input size (the Predictor) serves all three: its graph outputs the model's own
// output, the pooled embedding, the logits and their softmax; each call fetches only what it needs.

import { ImageError, type BatchLoader } from '../data/image.js';
import { labelsForHead } from '../data/labels.js';
import { DEFAULT_WEIGHTS } from '../weights/registry.js';
import { resolvePreset, withInputSize, type PresetName, type PresetSpec } from '../data/transforms.js';
import { checkpointFrom, type CheckpointFamily, type WeightsSource } from '../models/load.js';
import { MobileNetV2, type Pooling } from '../models/mobilenetv2.js';
import type { Tensor } from '../tensor.js';
import type { Backend, Device } from './backend.js';
import { inputHW } from './graph.js';
import { isOnnxNetwork, looksLikeOnnx, onnxNetwork, type OnnxNetwork } from './onnx.js';
import { Predictor, topk as topkRows, type Output } from './predictor.js';
import type { Int8Variant } from '../quant/variants.js';

export interface LoadOptions<W = string> {
  /**
   * What to load, as the platform names weights (Node: a registry name, hf:<org>/<name>, a folder
   * or a file; the browser: also a URL, a File, a Blob or bytes); null: no weights (the seeded
   * random init, as Keras' weights=None). Default 'IMAGENET1K_V2'.
   */
  weights?: W | null;
  /** Width multiplier: must match the weights when given with them. Default 1.0 (no weights). */
  alpha?: number;
  /** Keras' `classes`: the head's size; must match the weights when given with them. */
  classes?: number;
  /** Keras' include_top (default true). false: no classifier; `classify` is then unavailable. */
  includeTop?: boolean;
  /** With includeTop false: 'avg' | 'max' -> (N, C); undefined -> the (N, C, h, w) feature map. */
  pooling?: Pooling;
  /** 'softmax': `infer` returns probabilities (Keras' default); null (default): logits. */
  classifierActivation?: 'softmax' | null;
  /** Preprocessing preset; default the checkpoint's own (torchvision-v1 for unknown files). */
  preset?: PresetName | PresetSpec;
  /** Network input size (square), >= 32. Default: the preset's crop. */
  inputSize?: number;
  device?: Device;
  threads?: number;
  /**
   * An int8 .onnx: how to run it. Default the runtime's pick (the exact 'qdq' graph everywhere);
   * 'weights-only' runs a float graph on its dequantized weights: in the browser, fp32's speed from
   * the int8 file's download (not exact: the activations are not rounded; docs/int8.md).
   */
  int8Variant?: Int8Variant;
  /** Runtime; default the platform's (onnxruntime-node, onnxruntime-web). */
  backend?: Backend;
}

export interface Classification {
  className: string;
  probability: number;
  /** The index in the checkpoint's head (1001-class heads: 1..1000; 0 is background). */
  index: number;
}

/** What load() needs from a platform: its runtime, how it finds weights, how it reads images. */
export interface Platform<Img, W, Extra extends object = object> {
  readonly backend: Backend;
  /** The option names the platform adds to LoadOptions (a cache folder, a progress callback...). */
  readonly optionKeys: readonly string[];
  openWeights(weights: W, opts: LoadOptions<W> & Extra): Promise<WeightsSource>;
  /** Whether `x` is one image (not a list) of a kind the platform reads. */
  isImage(x: unknown): x is Img;
  /** The kinds of image the platform reads, for error messages. */
  readonly imageKinds: string;
  loadImages: BatchLoader<Img>;
  /** Device and threads the platform picks when the user does not (the browser's WASM threads...). */
  sessionDefaults?(opts: LoadOptions<W> & Extra): { device?: Device; threads?: number };
}

/** Images per forward pass of a classify / embed list (decoding of the next overlaps the network). */
const CHUNK = 16;
/** Chunks prepared ahead of the one the network runs on. */
const LOOKAHEAD = 2;

const OPTION_KEYS = ['weights', 'alpha', 'classes', 'includeTop', 'pooling', 'classifierActivation', 'preset', 'inputSize', 'device', 'threads', 'int8Variant', 'backend'];

/** Load a MobileNetV2 (weights found by the platform) ready to classify and embed. */
export async function loadWith<Img, W, Extra extends object>(platform: Platform<Img, W, Extra>, opts: LoadOptions<W> & Extra = {} as LoadOptions<W> & Extra): Promise<MobileNetV2Model<Img>> {
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts)) throw new TypeError(`load: options must be an object, got ${opts === null ? 'null' : typeof opts}`);
  const keys = [...OPTION_KEYS, ...platform.optionKeys];
  for (const k of Object.keys(opts)) if (!keys.includes(k)) throw new TypeError(`load: unknown option "${k}". Should be one of: ${keys.join(', ')}`);
  const { alpha, classes, includeTop = true, pooling, classifierActivation = null, inputSize } = opts;
  const weights = opts.weights === undefined ? (DEFAULT_WEIGHTS as W) : opts.weights;
  if (alpha !== undefined && (typeof alpha !== 'number' || !(alpha > 0) || !Number.isFinite(alpha))) throw new RangeError(`load: alpha must be a number > 0, got ${String(alpha)}`);
  if (classes !== undefined && (!Number.isInteger(classes) || classes < 1)) throw new RangeError(`load: classes must be an integer >= 1, got ${String(classes)}`);
  if (typeof includeTop !== 'boolean') throw new TypeError(`load: includeTop must be a boolean, got ${typeof includeTop}`);
  if (pooling !== undefined && pooling !== 'avg' && pooling !== 'max') throw new RangeError(`load: pooling must be 'avg', 'max' or undefined, got ${JSON.stringify(pooling)}`);
  if (pooling !== undefined && includeTop) throw new RangeError("load: pooling applies only with includeTop: false (the classifier always average-pools)");
  if (classifierActivation !== null && classifierActivation !== 'softmax') throw new RangeError(`load: classifierActivation must be 'softmax' or null, got ${JSON.stringify(classifierActivation)}`);
  if (inputSize !== undefined) inputHW(inputSize);
  if (opts.preset !== undefined) resolvePreset(opts.preset);

  const head = { includeTop, pooling, classifierActivation };
  let model: MobileNetV2 | OnnxNetwork;
  let meta: Omit<ModelMeta, 'preset'> & { preset?: PresetName | PresetSpec };
  const source = weights === null ? undefined : await platform.openWeights(weights, opts);
  if (source?.kind === 'file' && looksLikeOnnx(source.bytes)) {
    // an exported .onnx (fp32 or int8): its graph runs as it is, so its architecture, head and input size are fixed
    const net = onnxNetwork(source.bytes, source.name);
    const named = typeof weights === 'string' ? weights : net.source;
    const fixed = (what: string, file: string) => new RangeError(`load: ${what} does not match the ONNX file ${named} (${file}): an ONNX graph is run as it is`);
    const cfg = net.card?.config ?? {};
    if (alpha !== undefined && Math.abs((cfg.alpha ?? 1) - alpha) > 1e-9) throw fixed(`alpha ${alpha}`, `alpha ${cfg.alpha ?? 1}`);
    if (classes !== undefined && classes !== net.numClasses) throw fixed(`classes ${classes}`, `${net.numClasses} classes`);
    if (includeTop !== net.includeTop) throw fixed(`includeTop ${includeTop}`, `includeTop ${net.includeTop}`);
    if (pooling !== undefined || classifierActivation !== null) throw fixed(pooling !== undefined ? `pooling '${pooling}'` : `classifierActivation '${classifierActivation}'`, 'its own head');
    if (inputSize !== undefined && inputSize !== net.inputSize[0]) throw fixed(`inputSize ${inputSize}`, `input ${net.inputSize[0]}x${net.inputSize[1]}`);
    model = net;
    const labels = net.labels ?? labelsForHead(net.numClasses);
    meta = { labels, preset: opts.preset !== undefined ? withInputSize(opts.preset, net.inputSize[0]) : net.preset, background: false, family: 'onnx', source: net.source };
  } else if (weights === null) {
    model = new MobileNetV2({ alpha, numClasses: classes, lastChannel: 'paper', ...head }).eval();
    meta = { labels: labelsForHead(model.numClasses), background: false, family: 'none', source: 'random init' };
  } else {
    const c = await checkpointFrom(source!, { head, given: { alpha } });
    model = c.model;
    meta = { labels: c.labels, preset: c.preset, background: c.background, family: c.family, source: c.source };
    const named = typeof weights === 'string' ? weights : c.source;
    if (alpha !== undefined && Math.abs(model.alpha - alpha) > 1e-9) throw new RangeError(`load: alpha ${alpha} does not match the weights ${named} (alpha ${model.alpha})`);
    if (classes !== undefined && includeTop && classes !== model.numClasses) throw new RangeError(`load: classes ${classes} does not match the weights ${named} (${model.numClasses} classes)`);
  }
  let preset = meta.family === 'onnx' ? meta.preset! : (opts.preset ?? meta.preset ?? 'torchvision-v1');
  if (inputSize !== undefined && meta.family !== 'onnx') preset = withInputSize(preset, inputSize);
  const defaults = platform.sessionDefaults?.(opts) ?? {};
  const predictor = new Predictor(model, opts.backend ?? platform.backend, { device: opts.device ?? defaults.device, threads: opts.threads ?? defaults.threads, int8Variant: opts.int8Variant });
  return new MobileNetV2Model(predictor, { ...meta, preset }, platform);
}

export interface ModelMeta {
  labels?: string[];
  preset: PresetName | PresetSpec;
  background: boolean;
  /** 'onnx': an exported .onnx file (fp32 or int8), run as it is. */
  family: CheckpointFamily | 'onnx' | 'none';
  source: string;
}

export class MobileNetV2Model<Img = unknown> {
  readonly labels: string[] | undefined;
  readonly preset: PresetName | PresetSpec;
  /** Class 0 is TF-slim's background: classify leaves it out of the ranking. */
  readonly background: boolean;
  readonly family: CheckpointFamily | 'onnx' | 'none';
  /** Where the weights came from. */
  readonly source: string;
  private disposed = false;

  constructor(
    readonly predictor: Predictor,
    meta: ModelMeta,
    private readonly images: Pick<Platform<Img, unknown>, 'isImage' | 'imageKinds' | 'loadImages'>,
  ) {
    this.labels = meta.labels;
    this.preset = meta.preset;
    this.background = meta.background;
    this.family = meta.family;
    this.source = meta.source;
  }

  /** The MobileNetV2 module; a model loaded from an .onnx file has none (this throws: its weights are in the graph). */
  get model(): MobileNetV2 {
    return this.predictor.model as MobileNetV2;
  }

  /** Whether the model has its classifier (classify works). */
  get includeTop(): boolean {
    const n = this.predictor.network;
    return isOnnxNetwork(n) ? n.includeTop : (n as MobileNetV2).includeTop;
  }

  /** Length of `embed`'s vectors: the last conv's channels. */
  get embeddingSize(): number {
    const n = this.predictor.network;
    return isOnnxNetwork(n) ? (n.embeddingSize ?? 0) : (n as MobileNetV2).lastChannel;
  }

  /** Images -> (N, 3, S, S) with the model's preset; a bad image throws its ImageError. */
  async toTensor(images: readonly Img[]): Promise<Tensor> {
    const { tensor, errors } = await this.images.loadImages(images, this.preset);
    const e = errors[0];
    if (e) throw new ImageError(e.file, e.problem);
    return tensor;
  }

  /**
   * A list in chunks of CHUNK images, the next chunk decoded while the network runs on this one
   * (decoding and ONNX Runtime use different threads), answers in input order. A bad image
   * throws its ImageError, as for one image.
   */
  private async pipelined<K extends Output, R>(list: readonly Img[], fetch: readonly K[], answer: (out: Record<K, Tensor>) => R[]): Promise<R[]> {
    const chunks: (readonly Img[])[] = [];
    for (let i = 0; i < list.length; i += CHUNK) chunks.push(list.slice(i, i + CHUNK));
    const rows: R[] = [];
    // LOOKAHEAD chunks are being prepared while the network runs on one
    const ahead: Promise<Tensor>[] = [];
    const prepare = (i: number) => {
      if (i >= chunks.length) return;
      const p = this.toTensor(chunks[i]!);
      p.catch(() => undefined); // awaited in its round; no unhandled rejection meanwhile
      ahead.push(p);
    };
    for (let i = 0; i < LOOKAHEAD; i++) prepare(i);
    try {
      for (let i = 0; i < chunks.length; i++) {
        const x = await ahead.shift()!;
        prepare(i + LOOKAHEAD);
        rows.push(...answer(await this.run(x, fetch)));
      }
    } finally {
      await Promise.all(ahead.map((p) => p.catch(() => undefined)));
    }
    return rows;
  }

  /** (N, 3, H, W) float32 -> the outputs asked for: output, embedding, logits, probabilities. */
  run<K extends Output>(input: Tensor, fetch: readonly K[]): Promise<Record<K, Tensor>> {
    if (this.disposed) throw new Error('MobileNetV2Model: used after dispose()');
    return this.predictor.run(input, fetch);
  }

  /** Probabilities and logits (N, classes) -> the top-k of each row, with class names. */
  rank(probabilities: Tensor, logits: Tensor, topk: number): Classification[][] {
    // a 1001-class head's background (class 0) is left out of the ranking; probabilities stay the full softmax's
    return topkRows(probabilities, logits, topk, this.background ? [0] : []).map((row) =>
      row.map((t) => ({ className: this.labels?.[t.index] ?? `class ${t.index}`, probability: t.probability, index: t.index })),
    );
  }

  /**
   * The top-k classes of an image, or of each image of an array: `[{ className, probability, index }]`,
   * best first. Probabilities are the softmax over the whole head, as the transformers pipeline
   * and torchvision compute them; a 1001-class head's background (class 0) is not listed.
   */
  async classify(image: Img, topk?: number): Promise<Classification[]>;
  async classify(images: readonly Img[], topk?: number): Promise<Classification[][]>;
  async classify(images: Img | readonly Img[], topk = 3): Promise<Classification[] | Classification[][]> {
    if (typeof topk !== 'number') throw new TypeError(`classify: topk must be a number, got ${typeof topk}`);
    if (!Number.isInteger(topk) || topk < 1) throw new RangeError(`classify: topk must be an integer >= 1, got ${topk}`);
    if (!this.includeTop) throw new Error('classify: this model was loaded with includeTop: false; use embed() or infer()');
    const list = this.asList(images, 'classify');
    const rows = await this.pipelined(list, ['logits', 'probabilities'], (r) => this.rank(r.probabilities, r.logits, topk));
    return Array.isArray(images) ? rows : rows[0]!;
  }

  /** The pooled feature vector (global average of the last feature map, length = last channel) of an image or each image. */
  async embed(image: Img): Promise<Float32Array>;
  async embed(images: readonly Img[]): Promise<Float32Array[]>;
  async embed(images: Img | readonly Img[]): Promise<Float32Array | Float32Array[]> {
    const list = this.asList(images, 'embed');
    const rows = await this.pipelined(list, ['embedding'], ({ embedding }) => {
      const c = embedding.shape[1]!;
      const d = embedding.data as Float32Array;
      return Array.from({ length: embedding.shape[0]! }, (_, i) => d.slice(i * c, (i + 1) * c));
    });
    return Array.isArray(images) ? rows : rows[0]!;
  }

  /**
   * tfjs' infer: the model's output for images (or an already preprocessed (N, 3, H, W) tensor):
   * logits (probabilities with classifierActivation 'softmax'), the feature map / pooling with
   * includeTop false; `embedding: true` gives the pooled (N, C) features instead.
   */
  async infer(input: Img | readonly Img[] | Tensor, embedding = false): Promise<Tensor> {
    if (typeof embedding !== 'boolean') throw new TypeError(`infer: embedding must be a boolean, got ${typeof embedding}`);
    const tensor = isTensor(input) ? input : await this.toTensor(this.asList(input as Img | readonly Img[], 'infer'));
    const name: Output = embedding ? 'embedding' : 'output';
    return (await this.run(tensor, [name]))[name];
  }

  /** Release the runtime sessions. The model cannot be used afterwards. */
  async dispose(): Promise<void> {
    this.disposed = true;
    await this.predictor.release();
  }

  private asList(images: Img | readonly Img[], fn: string): readonly Img[] {
    if (Array.isArray(images)) {
      if (images.length === 0) throw new RangeError(`${fn}: images must not be empty`);
      return images;
    }
    if (!this.images.isImage(images)) {
      throw new TypeError(`${fn}: image must be ${this.images.imageKinds} or an array of them, got ${images === null ? 'null' : typeof images}`);
    }
    return [images];
  }
}

function isTensor(x: unknown): x is Tensor {
  return typeof x === 'object' && x !== null && 'dtype' in x && 'shape' in x && 'data' in x && !(x instanceof Uint8Array);
}
