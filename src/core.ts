// The platform-free public API: everything both entries (index.ts for Node, web.ts for the
// browser) export. Nothing here imports ONNX Runtime, the file system, sharp or the DOM.

export { MobileNetV2, ConvBNReLU, InvertedResidual, makeDivisible, INVERTED_RESIDUAL_SETTING, mobilenetV2x25, mobilenetV2x50, mobilenetV2x75, mobilenetV2x100 } from './models/mobilenetv2.js';
export type { MobileNetV2Options, LastChannelRule, ChannelRule, Pooling, LayerStyle } from './models/mobilenetv2.js';
export { configFromStateDict, KNOWN_ALPHAS } from './models/config.js';
export { Module, Parameter, emit } from './nn/module.js';
export type { EmitContext } from './nn/module.js';
export { Sequential, Conv2d, BatchNorm2d, ReLU6, Dropout, Linear, AdaptiveAvgPool2d, tfSamePads } from './nn/layers.js';
export { Generator, mixSeed, SeedDomain, permutation, sampleGenerator } from './random.js';
export { Graph } from './graph/ir.js';
export type { Value, Node, Shape, Dim } from './graph/ir.js';
export { OPS, FORMULATIONS, DEFAULT_FORMULATION, resolveFormulation } from './graph/ops.js';
export type { Formulation } from './graph/ops.js';
export { foldBatchNorm, lowerComposites, mergeDuplicates } from './graph/passes.js';
export { gradients } from './graph/autodiff.js';
export { toOnnx, fromOnnx, OPSET } from './onnx/export.js';
export { summary } from './models/summary.js';
export type { SummaryResult, SummaryRow } from './models/summary.js';
// the inference path
export { inferenceGraph, inferenceOnnx, MIN_INPUT_SIZE } from './infer/graph.js';
export type { Head } from './infer/graph.js';
export { Predictor, topk } from './infer/predictor.js';
export type { PredictorOptions, TopK, Output, Network } from './infer/predictor.js';
export { onnxNetwork, isOnnxNetwork, looksLikeOnnx, variantBytes } from './infer/onnx.js';
export type { OnnxNetwork } from './infer/onnx.js';
export { onnxMetadata } from './infer/export.js';
export { graphFromOnnx } from './onnx/import.js';
export type { OnnxFile } from './onnx/import.js';
// int8: post-training quantization into QDQ graphs
export { quantize, quantizeNetwork, resolveQuantizeOptions, QUANTIZE_DEFAULTS } from './quant/quantize.js';
export type { QuantizeOptions, QuantizeModelOptions, QuantizeReport } from './quant/quantize.js';
export { CALIBRATION_METHODS, TensorStats, chooseRange, activationParams } from './quant/calibrate.js';
export type { CalibrationMethod, ActivationType, QParams } from './quant/calibrate.js';
export { INT8_VARIANTS, floatConvs } from './quant/variants.js';
export { storeWeights, weightType, WEIGHT_STORAGES, EXACT_STORAGE } from './quant/storage.js';
export type { WeightStorage } from './quant/storage.js';
export type { Int8Variant } from './quant/variants.js';
export { equalize } from './quant/equalize.js';
export type { WeightGranularity } from './quant/qdq.js';
export { MobileNetV2Model, loadWith } from './infer/model.js';
export type { Classification, Platform, ModelMeta } from './infer/model.js';
export type { Backend, Session, SessionOptions, Device } from './infer/backend.js';
export { DeviceUnavailableError } from './infer/backend.js';
export { float32, int64, numel } from './tensor.js';
export type { Tensor, StateDict, DType } from './tensor.js';
// weights: parsers and checkpoint families
export { readSafetensors, writeSafetensors } from './weights/safetensors.js';
export { readPth, writePth } from './weights/pth.js';
export { WeightsError } from './weights/errors.js';
export { REGISTRY, findEntry, readWeightsBytes } from './weights/registry.js';
export type { RegistryEntry } from './weights/registry.js';
export { checkpointFrom } from './models/load.js';
export type { LoadedCheckpoint, CheckpointOptions, CheckpointFamily, HeadOverrides, WeightsSource } from './models/load.js';
export { kerasOptions, hfOptions, timmOptions, TIMM_VARIANTS, PUBLISHED_ALPHAS, PUBLISHED_SIZES } from './models/families.js';
export type { HfConfig } from './models/families.js';
export { keyMap, toOurStateDict, detectFamily } from './models/keymaps.js';
export { parseHfName, presetFromPreprocessor, presetFromTimmCfg, readCheckpointFolder } from './weights/hf.js';
export type { FolderReader } from './weights/hf.js';
export { guessTimmArchitecture, timmStageRepeats } from './models/config.js';
// images: presets and transforms (decoding is per platform)
export { PRESETS, resolvePreset, withInputSize, transformRgb } from './data/transforms.js';
export { resampleKernel } from './data/resample.js';
export type { PresetName, PresetSpec, RgbImage } from './data/transforms.js';
export { ImageError, rawToRgb, prepareBatch } from './data/image.js';
export type { RawImage, BatchResult } from './data/image.js';
export { imagenetClasses } from './data/labels.js';
// training: the one-graph step, data, the loop
export { compileTrainStep } from './train/compile.js';
export type { CompiledStep, TrainStepSpec } from './train/compile.js';
export { makeOptimizer } from './train/optim.js';
export type { OptimizerSpec, OptimizerName, Optimizer } from './train/optim.js';
export { Trainer, targets } from './train/step.js';
export type { TrainerOptions, StepResult } from './train/step.js';
export { learningRate } from './train/schedule.js';
export type { ScheduleName, ScheduleOptions } from './train/schedule.js';
export { fitLoop, DivergedError, InterruptedError, MemoryStore, frozenLayers } from './train/fit.js';
export type { FitLoopOptions, FitProgress, RunStore, Figures, Freeze } from './train/fit.js';
export { evaluate } from './train/evaluate.js';
export type { EvalResult } from './train/evaluate.js';
export { encodeTrainingCheckpoint, decodeTrainingCheckpoint } from './train/checkpoint.js';
export { curvesSvg, confusionPicture } from './plot/plot.js';
export { LabelledImages, Subset } from './data/dataset.js';
export type { Dataset, Sample } from './data/dataset.js';
export { DataLoader } from './data/loader.js';
export type { Batch, SampleDecoder } from './data/loader.js';
export { trainTransform, evalTransform } from './data/augment.js';
