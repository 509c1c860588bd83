// A model -> the bytes of any of our formats: .safetensors and .pth (torchvision's keys: torch.load
// + load_state_dict(strict=True) accept them) and .onnx (the BN-folded inference graph). The
// class names and input size travel in the metadata (safetensors and ONNX).

import type { PresetSpec } from '../data/transforms.js';
import { cardMetadata } from '../models/card.js';
import type { MobileNetV2 } from '../models/mobilenetv2.js';
import { writePth } from '../weights/pth.js';
import { writeSafetensors } from '../weights/safetensors.js';
import { inferenceOnnx } from './graph.js';

export type ExportFormat = 'safetensors' | 'pth' | 'onnx';

export interface ExportOptions {
  /** Class names by head index. */
  classes?: readonly string[];
  /** ONNX input size (default: the preset's crop, else 224). */
  inputSize?: number;
  /** The evaluation preprocessing at the input size. */
  preset?: PresetSpec;
  /** More metadata entries. */
  metadata?: Record<string, string>;
}

export interface OnnxMetadataOptions {
  /** How the weights were named (a registry name, a file's base name). */
  weights: string;
  family?: string;
  labels?: readonly string[];
  /** The preset as named (a name, or 'checkpoint' for a checkpoint's own spec) and its spec at the input size. */
  preset?: { name: string; spec: PresetSpec };
  inputSize: number;
}

/**
 * The metadata our .onnx files carry (export's fp32 graphs and quantize's int8 ones): what a
 * reader needs to use the graph without the checkpoint (labels, preprocessing, input size) and
 * the card that names the architecture.
 */
export function onnxMetadata(model: MobileNetV2, o: OnnxMetadataOptions): Record<string, string> {
  return {
    weights: o.weights,
    alpha: String(model.alpha),
    num_classes: String(model.numClasses),
    last_channel: String(model.lastChannel),
    ...(o.family ? { family: o.family } : {}),
    tf_padding: String(model.tfPadding),
    bn_eps: String(model.bnEps),
    ...(o.preset ? { preprocessing: JSON.stringify({ preset: o.preset.name, ...o.preset.spec }) } : {}),
    ...(o.labels ? { classes: JSON.stringify(o.labels) } : {}),
    input_size: String(o.inputSize),
    ...cardMetadata(model, { classes: o.labels, preset: o.preset?.spec }),
  };
}

export function exportModel(model: MobileNetV2, format: ExportFormat, opts: ExportOptions = {}): Uint8Array {
  const meta: Record<string, string> = {
    alpha: String(model.alpha),
    num_classes: String(model.numClasses),
    last_channel: String(model.lastChannel),
    ...(opts.classes ? { classes: JSON.stringify(opts.classes) } : {}),
    ...(opts.inputSize ? { input_size: String(opts.inputSize) } : {}),
    ...(opts.preset ? { preprocessing: JSON.stringify(opts.preset) } : {}),
    ...cardMetadata(model, { classes: opts.classes, preset: opts.preset }),
    ...opts.metadata,
  };
  if (format === 'safetensors') return writeSafetensors(model.stateDict(), meta);
  if (format === 'pth') return writePth(model.stateDict());
  if (format === 'onnx') {
    const modes = [...model.namedModules()].map(([, m]) => [m, m.training] as const); // a frozen backbone stays in eval mode
    try {
      return inferenceOnnx(model.eval(), { inputSize: opts.inputSize ?? opts.preset?.crop ?? 224 }, meta);
    } finally {
      for (const [m, t] of modes) m.training = t;
    }
  }
  throw new RangeError(`Unsupported format: "${String(format)}". Should be one of: safetensors, pth, onnx`);
}
