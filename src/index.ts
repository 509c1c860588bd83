// mobilenetv2: the public API (Node.js entry). The browser-safe core is everything here except
// the runtime/node, data/image and weights/download modules.

export { MobileNetV2, ConvBNReLU, InvertedResidual, makeDivisible, INVERTED_RESIDUAL_SETTING, mobilenetV2x25, mobilenetV2x50, mobilenetV2x75, mobilenetV2x100 } from './models/mobilenetv2.js';
export type { MobileNetV2Options, LastChannelRule } from './models/mobilenetv2.js';
export { configFromStateDict, KNOWN_ALPHAS } from './models/config.js';
export { Module, Parameter, emit } from './nn/module.js';
export type { EmitContext } from './nn/module.js';
export { Sequential, Conv2d, BatchNorm2d, ReLU6, Dropout, Linear, AdaptiveAvgPool2d } from './nn/layers.js';
export { Generator } from './nn/init.js';
export { Graph } from './graph/ir.js';
export type { Value, Node, Shape, Dim } from './graph/ir.js';
export { OPS } from './graph/ops.js';
export { foldBatchNorm } from './graph/passes.js';
export { toOnnx, fromOnnx, OPSET } from './onnx/export.js';
export { inferenceGraph, inferenceOnnx, MIN_INPUT_SIZE } from './compile.js';
export { summary } from './summary.js';
export type { SummaryResult, SummaryRow } from './summary.js';
export { Predictor, topk } from './predictor.js';
export type { PredictorOptions, TopK } from './predictor.js';
export type { Backend, Session, SessionOptions, Device } from './runtime/backend.js';
export { DeviceUnavailableError } from './runtime/backend.js';
export { nodeBackend } from './runtime/node.js';
export { float32, int64, numel } from './tensor.js';
export type { Tensor, StateDict, DType } from './tensor.js';
export { readSafetensors, writeSafetensors } from './weights/safetensors.js';
export { readPth, writePth } from './weights/pth.js';
export { PRESETS, resolvePreset, withInputSize } from './data/transforms.js';
export type { PresetName, PresetSpec } from './data/transforms.js';
export { preprocess, loadBatch, decodeRgb, ImageError } from './data/image.js';
export type { ImageInput, RawImage } from './data/image.js';
export { imagenetClasses } from './data/labels.js';
// Published checkpoints (transformers, timm, Keras/TF rules) and the tfjs/Keras-style API
export { load, MobileNetV2Model } from './api.js';
export type { LoadOptions, Classification } from './api.js';
export { loadCheckpoint } from './models/load.js';
export type { LoadedCheckpoint, LoadCheckpointOptions, CheckpointFamily, HeadOverrides } from './models/load.js';
export { kerasOptions, hfOptions, timmOptions, TIMM_VARIANTS, PUBLISHED_ALPHAS, PUBLISHED_SIZES } from './models/families.js';
export type { HfConfig } from './models/families.js';
export { keyMap, toOurStateDict, detectFamily } from './models/keymaps.js';
export type { ChannelRule, Pooling, LayerStyle } from './models/mobilenetv2.js';
export { tfSamePads } from './nn/layers.js';
export { downloadHfRepo, parseHfName, presetFromPreprocessor, presetFromTimmCfg } from './weights/hf.js';
export { guessTimmArchitecture } from './weights/timm.js';
