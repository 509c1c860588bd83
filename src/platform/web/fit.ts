// Fine-tuning in a web page: labelled images held in memory (File lists, canvases, webcam frames),
// the same loop as Node's (train/fit.ts) on onnxruntime-web, the run's files in memory (resume from
// them), and the result as a classifier with the trained class names and as .safetensors / .pth /
// .onnx bytes to download.

import { LabelledImages, type Dataset, type Sample } from '../../data/dataset.js';
import { withInputSize, resolvePreset, type PresetName, type PresetSpec } from '../../data/transforms.js';
import type { Device } from '../../infer/backend.js';
import { exportModel, type ExportFormat } from '../../infer/export.js';
import { MobileNetV2Model } from '../../infer/model.js';
import { Predictor } from '../../infer/predictor.js';
import { MobileNetV2, type LastChannelRule } from '../../models/mobilenetv2.js';
import { fitLoop, MemoryStore, type FitProgress, type Freeze } from '../../train/fit.js';
import type { OptimizerName } from '../../train/optim.js';
import type { ScheduleName } from '../../train/schedule.js';
import { decodeWebImage, isWebImage, loadWebBatch, WEB_IMAGE_KINDS, type WebImageInput } from './image.js';
import { pageBackend, withWasmFallback } from './load.js';

/** One labelled picture. */
export interface LabelledImage {
  image: WebImageInput;
  /** The class name. */
  label: string;
  /** What logs call it (default: the file's name, or "image <i>"). */
  name?: string;
}

export interface WebFitOptions {
  /** The training pictures; classes are the labels' distinct names, sorted (as torchvision's ImageFolder sorts folders). */
  images: readonly LabelledImage[];
  /** Validation pictures (same classes), or a fraction of `images` held out per class. */
  val?: readonly LabelledImage[] | number;
  /** Start from this model (a loaded checkpoint: its head is replaced when the class count differs); default: a new one. */
  model?: MobileNetV2Model<WebImageInput> | MobileNetV2;
  /** 'backbone': train the classifier only (the fast path); default: the whole network. */
  freeze?: Freeze;
  epochs?: number;
  batchSize?: number;
  lr?: number;
  optimizer?: OptimizerName;
  schedule?: ScheduleName;
  warmupEpochs?: number;
  weightDecay?: number;
  labelSmoothing?: number;
  /** Network input size (default: the model's preset crop, else 224). */
  inputSize?: number;
  /** RandomResizedCrop's smallest area (default 0.25: a few dozen pictures need gentler crops than ImageNet's 0.08). */
  minScale?: number;
  /** For a new model. */
  alpha?: number;
  lastChannel?: LastChannelRule;
  seed?: number;
  device?: Device;
  /** The run's files (checkpoint.safetensors, metrics.jsonl, train.log, model.safetensors...): pass the same store with `resume` to continue. */
  store?: MemoryStore;
  resume?: boolean;
  onProgress?: (p: FitProgress) => void;
  onEpoch?: (row: Record<string, number>) => void;
  log?: (line: string) => void;
  /** Stop after the step in flight: the run checkpoints into `store`, fit rejects with InterruptedError, and `resume` continues it exactly. */
  signal?: AbortSignal;
}

export interface WebFitResult {
  history: Record<string, number>[];
  classes: string[];
  bestValAcc?: number;
  /** The trained network (training mode as left by the run). */
  network: MobileNetV2;
  /** Where the run's files are (resume from it). */
  store: MemoryStore;
  /** The trained network as a classifier with the class names. */
  classifier(): MobileNetV2Model<WebImageInput>;
  /** The weights as bytes: .safetensors (with the class names), .pth, or .onnx. */
  save(format: ExportFormat): Uint8Array;
}

function dataset(images: readonly LabelledImage[], classes: readonly string[] | undefined, what: string): LabelledImages {
  if (!Array.isArray(images) || images.length === 0) throw new RangeError(`fit: ${what} must be a non-empty array of { image, label }`);
  images.forEach((x, i) => {
    if (typeof x !== 'object' || x === null || !isWebImage(x.image)) throw new TypeError(`fit: ${what}[${i}].image must be ${WEB_IMAGE_KINDS}`);
    if (typeof x.label !== 'string' || x.label === '') throw new TypeError(`fit: ${what}[${i}].label must be a class name (a non-empty string)`);
  });
  const names = classes ?? [...new Set(images.map((x) => x.label))].sort();
  const index = new Map(names.map((c, i) => [c, i]));
  const samples: Sample[] = images.map((x, i) => {
    const label = index.get(x.label);
    if (label === undefined) throw new RangeError(`fit: ${what}[${i}] has label "${x.label}", which is not one of the training classes (${names.join(', ')})`);
    return { path: x.name ?? ((x.image as File).name || `image ${i}`), label, image: x.image };
  });
  return new LabelledImages(names, samples);
}

export async function fit(o: WebFitOptions): Promise<WebFitResult> {
  if (typeof o !== 'object' || o === null) throw new TypeError('fit: options must be an object');
  const all = dataset(o.images, undefined, 'images');
  let train: Dataset = all;
  let val: Dataset | undefined;
  if (typeof o.val === 'number') {
    const s = all.split(o.val, o.seed ?? 0);
    train = s.train;
    val = s.val.samples.length ? s.val : undefined;
  } else if (o.val) val = dataset(o.val, all.classes, 'val');
  if (all.classes.length < 2) throw new RangeError(`fit: one class ("${all.classes[0]}") cannot be learnt: give pictures of at least two classes`);

  const start = o.model instanceof MobileNetV2Model ? o.model : undefined;
  const given = start ? start.model : (o.model as MobileNetV2 | undefined);
  const network = given?.clone(); // the caller's model stays as it was
  const preset: PresetName | PresetSpec = start?.preset ?? 'torchvision-v1';
  const inputSize = o.inputSize ?? resolvePreset(preset).crop;
  const store = o.store ?? new MemoryStore();
  const backend = withWasmFallback(pageBackend());
  const r = await fitLoop(
    {
      train,
      val,
      decode: (s) => decodeWebImage(s.image as WebImageInput),
      concurrency: 2,
      epochs: o.epochs ?? 5,
      batchSize: o.batchSize ?? 16,
      lr: o.lr ?? (o.freeze === 'backbone' ? 0.01 : 0.001),
      optimizer: o.optimizer ?? 'adamw',
      schedule: o.schedule ?? 'cosine',
      warmupEpochs: o.warmupEpochs,
      weightDecay: o.weightDecay ?? ((o.optimizer ?? 'adamw') === 'adamw' ? 0.01 : 4e-5),
      labelSmoothing: o.labelSmoothing,
      from: network ? { model: network, source: start?.source ?? 'the given model' } : undefined,
      preset,
      freeze: o.freeze,
      alpha: o.alpha,
      lastChannel: o.lastChannel,
      inputSize,
      minScale: o.minScale ?? 0.25,
      store,
      resume: o.resume,
      device: o.device ?? 'wasm',
      seed: o.seed ?? 0,
      log: o.log,
      signal: o.signal,
      onProgress: o.onProgress,
      onEpoch: o.onEpoch,
      dataName: `${all.samples.length} pictures`,
      config: { epochs: o.epochs, batchSize: o.batchSize, lr: o.lr, optimizer: o.optimizer, freeze: o.freeze, inputSize, seed: o.seed },
    },
    backend,
  );
  const classes = r.classes;
  const evalPreset = withInputSize(preset, inputSize);
  return {
    ...r,
    network: r.model,
    store,
    classifier: () =>
      new MobileNetV2Model(new Predictor(r.model, pageBackend(), { device: o.device ?? 'wasm' }), { labels: classes, preset: evalPreset, background: false, family: 'torchvision', source: 'fine-tuned in this page' }, {
        isImage: isWebImage,
        imageKinds: WEB_IMAGE_KINDS,
        loadImages: loadWebBatch,
      }),
    save: (format) => exportModel(r.model, format, { classes, inputSize, preset: evalPreset }),
  };
}
