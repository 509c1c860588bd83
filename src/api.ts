// The API JavaScript users already know: tfjs-models/mobilenet's `load` / `classify` / `infer`,
// with Keras' `includeTop` / `pooling` / `classes` / `classifierActivation`.
//
//   const model = await load({ weights: 'hf:google/mobilenet_v2_1.0_224' });
//   await model.classify('cat.jpg', 5);   // [{ className, probability, index }, ...]
//   await model.embed('cat.jpg');         // Float32Array(1280): the pooled features
//   model.dispose();
//
// One ONNX graph per input size serves all three: its outputs are the model's own output, the
// pooled embedding, the logits and their softmax; each call fetches only what it needs.

import { inputHW } from './compile.js';
import { ImageError, loadBatch, type ImageInput } from './data/image.js';
import { resolvePreset, withInputSize, type PresetName, type PresetSpec } from './data/transforms.js';
import { Graph, type Value } from './graph/ir.js';
import { foldBatchNorm } from './graph/passes.js';
import { loadCheckpoint, type CheckpointFamily } from './models/load.js';
import { MobileNetV2, type Pooling } from './models/mobilenetv2.js';
import { emit } from './nn/module.js';
import { toOnnx } from './onnx/export.js';
import { topk as topkRows } from './predictor.js';
import type { Backend, Device, Session } from './runtime/backend.js';
import { nodeBackend } from './runtime/node.js';
import { shapeStr, type Tensor } from './tensor.js';
import { imagenetClasses } from './data/labels.js';

export interface LoadOptions {
  /**
   * 'IMAGENET1K_V1' | 'IMAGENET1K_V2' (default) | 'hf:<org>/<name>' | a transformers / timm folder |
   * a .pth / .safetensors file; null: no weights (the seeded random init, as Keras' weights=None).
   */
  weights?: string | null;
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
  /** Weight-download cache and progress bar (see weights/download.ts). */
  cacheDir?: string;
  progress?: boolean;
  /** Hugging Face endpoint (default https://huggingface.co or $HF_ENDPOINT). */
  endpoint?: string;
  /** Runtime; default onnxruntime-node. */
  backend?: Backend;
}

export interface Classification {
  className: string;
  probability: number;
  /** The index in the checkpoint's head (1001-class heads: 1..1000; 0 is background). */
  index: number;
}

const OPTION_KEYS = new Set(['weights', 'alpha', 'classes', 'includeTop', 'pooling', 'classifierActivation', 'preset', 'inputSize', 'device', 'threads', 'cacheDir', 'progress', 'endpoint', 'backend']);

/** Load a MobileNetV2 (weights downloaded once into the cache) ready to classify and embed. */
export async function load(opts: LoadOptions = {}): Promise<MobileNetV2Model> {
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts)) throw new TypeError(`load: options must be an object, got ${opts === null ? 'null' : typeof opts}`);
  for (const k of Object.keys(opts)) if (!OPTION_KEYS.has(k)) throw new TypeError(`load: unknown option "${k}". Should be one of: ${[...OPTION_KEYS].join(', ')}`);
  const { weights = 'IMAGENET1K_V2', alpha, classes, includeTop = true, pooling, classifierActivation = null, inputSize } = opts;
  if (weights !== null && typeof weights !== 'string') throw new TypeError(`load: weights must be a string or null, got ${typeof weights}`);
  if (alpha !== undefined && (typeof alpha !== 'number' || !(alpha > 0) || !Number.isFinite(alpha))) throw new RangeError(`load: alpha must be a number > 0, got ${String(alpha)}`);
  if (classes !== undefined && (!Number.isInteger(classes) || classes < 1)) throw new RangeError(`load: classes must be an integer >= 1, got ${String(classes)}`);
  if (typeof includeTop !== 'boolean') throw new TypeError(`load: includeTop must be a boolean, got ${typeof includeTop}`);
  if (pooling !== undefined && pooling !== 'avg' && pooling !== 'max') throw new RangeError(`load: pooling must be 'avg', 'max' or undefined, got ${JSON.stringify(pooling)}`);
  if (pooling !== undefined && includeTop) throw new RangeError("load: pooling applies only with includeTop: false (the classifier always average-pools)");
  if (classifierActivation !== null && classifierActivation !== 'softmax') throw new RangeError(`load: classifierActivation must be 'softmax' or null, got ${JSON.stringify(classifierActivation)}`);
  if (inputSize !== undefined) inputHW(inputSize);
  if (opts.preset !== undefined) resolvePreset(opts.preset);

  const head = { includeTop, pooling, classifierActivation };
  let model: MobileNetV2;
  let labels: string[] | undefined;
  let preset: PresetName | PresetSpec | undefined;
  let background = false;
  let family: CheckpointFamily | 'none' = 'none';
  let source = 'random init';
  if (weights === null) {
    model = new MobileNetV2({ alpha, numClasses: classes, lastChannel: 'paper', ...head }).eval();
    labels = model.numClasses === 1000 ? imagenetClasses() : undefined;
  } else {
    const c = await loadCheckpoint(weights, { head, cacheDir: opts.cacheDir, progress: opts.progress, endpoint: opts.endpoint, given: { alpha } });
    ({ model, labels, preset, background, family, source } = c);
    if (alpha !== undefined && Math.abs(model.alpha - alpha) > 1e-9) throw new RangeError(`load: alpha ${alpha} does not match the weights ${weights} (alpha ${model.alpha})`);
    if (classes !== undefined && includeTop && classes !== model.numClasses) throw new RangeError(`load: classes ${classes} does not match the weights ${weights} (${model.numClasses} classes)`);
  }
  let spec = opts.preset ?? preset ?? 'torchvision-v1';
  if (inputSize !== undefined) spec = withInputSize(spec, inputSize);
  return new MobileNetV2Model(model, opts.backend ?? nodeBackend, { device: opts.device, threads: opts.threads }, { labels, preset: spec, background, family, source });
}

type Output = 'output' | 'embedding' | 'logits' | 'probabilities';

export class MobileNetV2Model {
  readonly labels: string[] | undefined;
  readonly preset: PresetName | PresetSpec;
  /** Class 0 is TF-slim's background: classify leaves it out of the ranking. */
  readonly background: boolean;
  readonly family: CheckpointFamily | 'none';
  /** Where the weights came from. */
  readonly source: string;
  private readonly sessions = new Map<string, Promise<Session>>();
  private disposed = false;

  constructor(
    readonly model: MobileNetV2,
    private readonly backend: Backend,
    private readonly sessionOpts: { device?: Device; threads?: number },
    meta: { labels?: string[]; preset: PresetName | PresetSpec; background: boolean; family: CheckpointFamily | 'none'; source: string },
  ) {
    this.labels = meta.labels;
    this.preset = meta.preset;
    this.background = meta.background;
    this.family = meta.family;
    this.source = meta.source;
  }

  /** Length of `embed`'s vectors: the last conv's channels. */
  get embeddingSize(): number {
    return this.model.lastChannel;
  }

  /** The graph: input (N, 3, H, W) -> output, embedding (N, C), logits / probabilities (N, classes). */
  private graph(h: number, w: number): Graph {
    const g = new Graph();
    const x = g.input('input', ['N', 3, h, w]);
    let featureMap: Value | undefined;
    let logits: Value | undefined;
    const out = emit(this.model, g, x, {
      hook: (_m, key, y) => {
        if (key === 'features') featureMap = y; // (N, C, h, w)
        if (key === 'classifier') logits = y; // (N, classes), before any softmax
      },
    });
    g.output(out, 'output');
    g.within('embed', () => {
      const pooled = g.op1('GlobalAveragePool', [featureMap!]); // (N, C, h, w) -> (N, C, 1, 1)
      g.output(g.op1('Flatten', [pooled], { axis: 1 }), 'embedding'); // -> (N, C)
    });
    if (logits) {
      const l = logits;
      g.within('logits', () => g.output(g.op1('Identity', [l]), 'logits'));
      g.within('probabilities', () => g.output(g.op1('Softmax', [l], { axis: 1 }), 'probabilities'));
    }
    g.prune();
    foldBatchNorm(g);
    return g;
  }

  private session(h: number, w: number): Promise<Session> {
    if (this.disposed) throw new Error('MobileNetV2Model: used after dispose()');
    inputHW([h, w]);
    const key = `${h}x${w}`;
    let s = this.sessions.get(key);
    if (!s) {
      s = this.backend.createSession(toOnnx(this.graph(h, w)), this.sessionOpts);
      this.sessions.set(key, s);
      s.catch(() => this.sessions.delete(key));
    }
    return s;
  }

  /** Images -> (N, 3, S, S) with the model's preset; a bad image throws its ImageError. */
  async toTensor(images: readonly ImageInput[]): Promise<Tensor> {
    const { tensor, errors } = await loadBatch(images, this.preset);
    const e = errors[0];
    if (e) throw new ImageError(e.file, e.message.slice(e.file.length + 2)); // message is "<file>: <problem>"
    return tensor;
  }

  private async run(input: Tensor, fetch: Output[]): Promise<Record<string, Tensor>> {
    if (input.dtype !== 'float32' || input.shape.length !== 4 || input.shape[1] !== 3) {
      throw new RangeError(`input must be a float32 N x 3 x H x W tensor, got ${input.dtype} ${shapeStr(input.shape)}`);
    }
    const s = await this.session(input.shape[2]!, input.shape[3]!);
    return s.run({ input }, fetch);
  }

  /**
   * The top-k classes of an image, or of each image of an array: `[{ className, probability, index }]`,
   * best first. Probabilities are the softmax over the whole head, as the transformers pipeline
   * and torchvision compute them; a 1001-class head's background (class 0) is not listed.
   */
  async classify(image: ImageInput, topk?: number): Promise<Classification[]>;
  async classify(images: readonly ImageInput[], topk?: number): Promise<Classification[][]>;
  async classify(images: ImageInput | readonly ImageInput[], topk = 3): Promise<Classification[] | Classification[][]> {
    if (typeof topk !== 'number') throw new TypeError(`classify: topk must be a number, got ${typeof topk}`);
    if (!Number.isInteger(topk) || topk < 1) throw new RangeError(`classify: topk must be an integer >= 1, got ${topk}`);
    if (!this.model.includeTop) throw new Error('classify: this model was loaded with includeTop: false; use embed() or infer()');
    const list = asList(images, 'classify');
    const { logits, probabilities } = await this.run(await this.toTensor(list), ['logits', 'probabilities']);
    // a 1001-class head's background (class 0) is left out of the ranking; probabilities stay the full softmax's
    const rows = topkRows(probabilities!, logits!, topk, this.background ? [0] : []).map((row) =>
      row.map((t) => ({ className: this.labels?.[t.index] ?? `class ${t.index}`, probability: t.probability, index: t.index })),
    );
    return Array.isArray(images) ? rows : rows[0]!;
  }

  /** The pooled feature vector (global average of the last feature map, length = last channel) of an image or each image. */
  async embed(image: ImageInput): Promise<Float32Array>;
  async embed(images: readonly ImageInput[]): Promise<Float32Array[]>;
  async embed(images: ImageInput | readonly ImageInput[]): Promise<Float32Array | Float32Array[]> {
    const list = asList(images, 'embed');
    const { embedding } = await this.run(await this.toTensor(list), ['embedding']);
    const c = embedding!.shape[1]!;
    const d = embedding!.data as Float32Array;
    const rows = list.map((_, i) => d.slice(i * c, (i + 1) * c));
    return Array.isArray(images) ? rows : rows[0]!;
  }

  /**
   * tfjs' infer: the model's output for images (or an already preprocessed (N, 3, H, W) tensor):
   * logits (probabilities with classifierActivation 'softmax'), the feature map / pooling with
   * includeTop false; `embedding: true` gives the pooled (N, C) features instead.
   */
  async infer(input: ImageInput | readonly ImageInput[] | Tensor, embedding = false): Promise<Tensor> {
    if (typeof embedding !== 'boolean') throw new TypeError(`infer: embedding must be a boolean, got ${typeof embedding}`);
    const tensor = isTensor(input) ? input : await this.toTensor(asList(input, 'infer'));
    const name: Output = embedding ? 'embedding' : 'output';
    return (await this.run(tensor, [name]))[name]!;
  }

  /** Release the runtime sessions. The model cannot be used afterwards. */
  async dispose(): Promise<void> {
    this.disposed = true;
    const all = [...this.sessions.values()];
    this.sessions.clear();
    for (const s of all) await (await s.catch(() => undefined))?.release();
  }
}

function isTensor(x: unknown): x is Tensor {
  return typeof x === 'object' && x !== null && 'dtype' in x && 'shape' in x && 'data' in x && !(x instanceof Uint8Array);
}

function asList(images: ImageInput | readonly ImageInput[], fn: string): readonly ImageInput[] {
  if (Array.isArray(images)) {
    if (images.length === 0) throw new RangeError(`${fn}: images must not be empty`);
    return images;
  }
  if (typeof images !== 'string' && !(images instanceof Uint8Array) && (typeof images !== 'object' || images === null)) {
    throw new TypeError(`${fn}: image must be a file path, a Buffer, an { data, width, height, channels } object or an array of them, got ${images === null ? 'null' : typeof images}`);
  }
  return [images as ImageInput];
}
