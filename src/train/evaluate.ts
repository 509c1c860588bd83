// Evaluation on a labelled folder: top-1, top-5, per-class accuracy, mean loss and the confusion
// matrix, from the inference graph (BN folded, running statistics) run by ONNX Runtime.

import { DataLoader, type SampleDecoder } from '../data/loader.js';
import { evalTransform } from '../data/augment.js';
import type { Dataset } from '../data/dataset.js';
import type { PresetName, PresetSpec } from '../data/transforms.js';
import { Predictor, topk, type Network } from '../infer/predictor.js';
import { isOnnxNetwork } from '../infer/onnx.js';
import type { Backend, SessionOptions } from '../infer/backend.js';

export interface EvalResult {
  images: number;
  skipped: { path: string; message: string }[];
  top1: number;
  top5: number;
  loss: number;
  /** Accuracy of each class (NaN for a class with no images). */
  perClass: number[];
  /** confusion[true][predicted] counts. */
  confusion: number[][];
}

export interface EvaluateOptions extends SessionOptions {
  inputSize: number;
  batchSize?: number;
  preset?: PresetName | PresetSpec;
  /** How a sample's image is read (the platform's decoder). */
  decode: SampleDecoder;
  /** Images decoded at once (default 4). */
  concurrency?: number;
  /** Stop after the batch in flight (the error is the signal's reason). */
  signal?: AbortSignal;
  /** Called after each batch with the number of images done. */
  onBatch?: (done: number, total: number) => void;
}

export async function evaluate(model: Network, dataset: Dataset, numClasses: number, backend: Backend, opts: EvaluateOptions): Promise<EvalResult> {
  const module = isOnnxNetwork(model) ? undefined : model;
  const wasTraining = module?.training ?? false;
  const predictor = new Predictor(module ? module.eval() : model, backend, opts);
  const loader = new DataLoader(dataset, { batchSize: opts.batchSize ?? 64, decode: opts.decode, concurrency: opts.concurrency, transform: evalTransform({ size: opts.inputSize, preset: opts.preset }) });
  const confusion = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  const skipped: EvalResult['skipped'] = [];
  let images = 0;
  let top1 = 0;
  let top5 = 0;
  let loss = 0;
  try {
    for await (const b of loader.epoch(0)) {
      skipped.push(...b.skipped.map((s) => ({ path: s.path, message: s.message })));
      if (b.y.length === 0) continue;
      const { logits, probabilities } = await predictor.run(b.x);
      const p = probabilities.data as Float32Array;
      topk(probabilities, logits, 5).forEach((row, i) => {
        const y = b.y[i]!;
        confusion[y]![row[0]!.index]!++;
        if (row[0]!.index === y) top1++;
        if (row.some((t) => t.index === y)) top5++;
        loss -= Math.log(Math.max(p[i * numClasses + y]!, 1e-45));
      });
      images += b.y.length;
      opts.onBatch?.(images + skipped.length, dataset.samples.length);
      opts.signal?.throwIfAborted();
    }
  } finally {
    await predictor.release();
    module?.train(wasTraining);
  }
  const perClass = confusion.map((row, c) => {
    const n = row.reduce((a, v) => a + v, 0);
    return n ? row[c]! / n : NaN;
  });
  return { images, skipped, top1: images ? top1 / images : NaN, top5: images ? top5 / images : NaN, loss: images ? loss / images : NaN, perClass, confusion };
}
