// What the commands share: model options, building a model (from weights or not), errors.

import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { imagenetClasses } from '../data/labels.js';
import { onnxNetwork, looksLikeOnnx, type OnnxNetwork } from '../infer/onnx.js';
import type { Network } from '../infer/predictor.js';
import { InvalidArgumentError, type Command } from 'commander';
import { isPresetName, resolvePreset, type PresetName, type PresetSpec } from '../data/transforms.js';
import type { CheckpointFamily } from '../models/load.js';
import { loadCheckpoint } from '../platform/node/weights.js';
import { MobileNetV2, type LastChannelRule, type MobileNetV2Options } from '../models/mobilenetv2.js';
import { DeviceUnavailableError, type Device } from '../infer/backend.js';
import { hintWords, WeightsError } from '../weights/errors.js';
import type { RegistryEntry } from '../weights/registry.js';
import { badInput, CliError, EXIT, usage } from './errors.js';
import { interruptedBy, signalExitCode } from './signals.js';

export interface ModelFlags {
  alpha?: number;
  numClasses?: number;
  inputSize?: number;
  lastChannel?: LastChannelRule;
  weights?: string;
  /** Weight-init seed when no weights are loaded. */
  seed?: number;
}

export function positiveNumber(name: string) {
  return (v: string): number => {
    const x = Number(v);
    if (!Number.isFinite(x) || x <= 0) throw new InvalidArgumentError(`${name} must be a number > 0, got "${v}"`);
    return x;
  };
}

export function positiveInt(name: string, min = 1) {
  return (v: string): number => {
    const x = Number(v);
    if (!Number.isInteger(x) || x < min) throw new InvalidArgumentError(`${name} must be an integer >= ${min}, got "${v}"`);
    return x;
  };
}

function lastChannelRule(v: string): LastChannelRule {
  if (v !== 'seed' && v !== 'paper') throw new InvalidArgumentError(`must be 'seed' or 'paper', got "${v}"`);
  return v;
}

export function deviceFlag(v: string): Device {
  const all: Device[] = ['cpu', 'webgpu', 'cuda'];
  if (!all.includes(v as Device)) throw new InvalidArgumentError(`Unsupported device: "${v}". Should be one of: ${all.join(', ')}`);
  return v as Device;
}

/** --alpha --num-classes --input-size --last-channel: wherever a model is built. */
export function addModelOptions(cmd: Command, defaults: { inputSize?: boolean } = {}): Command {
  cmd
    .option('--alpha <a>', 'width multiplier (default 1.0, or read off the weights)', positiveNumber('--alpha'))
    .option('--num-classes <n>', 'number of classes (default 1000, or read off the weights)', positiveInt('--num-classes'))
    .option('--last-channel <rule>', "last conv width: 'seed' scales 1280 with alpha; 'paper' keeps 1280 for alpha < 1", lastChannelRule);
  if (defaults.inputSize !== false) cmd.option('--input-size <px>', 'input height and width (>= 32)', positiveInt('--input-size', 32));
  return cmd;
}

export interface LoadedModel {
  model: MobileNetV2;
  entry?: RegistryEntry;
  source?: string;
  /** Which key layout the weights used; undefined without weights. */
  family?: CheckpointFamily;
  /** Class names by head index (id2label, ImageNet for 1000 / 1001 heads). */
  labels?: string[];
  /** The checkpoint's own preprocessing (registry entry, preprocessor_config.json, timm's pretrained_cfg). */
  preset?: PresetName | PresetSpec;
  /** Class 0 is TF-slim's background (1001-class heads). */
  background?: boolean;
}

/** --preset: a preset name, checked here so a typo is a usage error (exit 2). */
export function presetFlag(v: string | undefined): PresetName | undefined {
  if (v === undefined) return undefined;
  if (!isPresetName(v)) throw usage(`Unsupported preset: "${v}". Should be one of: torchvision-v1, torchvision-v2, hf, tf, timm`);
  resolvePreset(v);
  return v;
}

/**
 * The model the flags describe, with weights loaded when --weights is given: a registry name,
 * hf:<org>/<name>, a transformers / timm checkpoint folder, or a .pth / .safetensors file in
 * torchvision's or timm's key layout.
 */
export async function buildModel(flags: ModelFlags): Promise<LoadedModel> {
  const given: MobileNetV2Options = { alpha: flags.alpha, numClasses: flags.numClasses, lastChannel: flags.lastChannel };
  if (!flags.weights) return { model: new MobileNetV2({ ...given, lastChannel: given.lastChannel ?? 'seed', seed: flags.seed ?? 0 }) };
  try {
    const c = await loadCheckpoint(flags.weights, { progress: true, given });
    if (c.family !== 'torchvision' && flags.alpha !== undefined && Math.abs(flags.alpha - c.model.alpha) > 1e-9) {
      throw badInput(`${c.source}: --alpha ${flags.alpha} does not match the checkpoint (alpha ${c.model.alpha}, from its config)`);
    }
    return c;
  } catch (e) {
    if (e instanceof WeightsError) throw badInput(e.hint ? `${e.problem} (${hintWords(e.hint, true)})` : e.message);
    throw e;
  }
}

export interface LoadedNetwork extends Omit<LoadedModel, 'model' | 'family'> {
  /** What the Predictor runs: the module, or the graph of an exported .onnx (fp32 or int8). */
  network: Network;
  family?: CheckpointFamily | 'onnx';
  numClasses: number;
  /** Length of the embedding (the last conv's channels). */
  embeddingSize: number;
  /** An .onnx file's fixed input size. */
  inputSize?: number;
}

/** The first bytes of a file (to tell an .onnx from a state dict without reading it all). */
function head(path: string): Uint8Array {
  try {
    const fd = openSync(path, 'r');
    try {
      const b = new Uint8Array(64);
      return b.subarray(0, readSync(fd, b, 0, 64, 0));
    } finally {
      closeSync(fd);
    }
  } catch {
    return new Uint8Array();
  }
}

/**
 * What predict, embed, eval and run execute: the model the flags describe (buildModel), or an
 * exported .onnx file (fp32 or int8) run as it is. The flags that shape a model must agree with
 * the file: its architecture and input size are fixed.
 */
export async function buildNetwork(flags: ModelFlags): Promise<LoadedNetwork> {
  if (flags.weights && looksLikeOnnx(head(flags.weights)) && isFile(flags.weights)) {
    let net: OnnxNetwork;
    try {
      net = onnxNetwork(readFileSync(flags.weights), flags.weights);
    } catch (e) {
      if (e instanceof WeightsError) throw badInput(e.message);
      throw e;
    }
    const cfg = net.card?.config ?? {};
    const fixed = (flag: string, file: string) => badInput(`${flags.weights}: ${flag} does not match the ONNX graph (${file}): an ONNX file is run as it is`);
    if (flags.alpha !== undefined && Math.abs(flags.alpha - (cfg.alpha ?? 1)) > 1e-9) throw fixed(`--alpha ${flags.alpha}`, `alpha ${cfg.alpha ?? 1}`);
    if (flags.numClasses !== undefined && flags.numClasses !== net.numClasses) throw fixed(`--num-classes ${flags.numClasses}`, `${net.numClasses} classes`);
    if (flags.inputSize !== undefined && flags.inputSize !== net.inputSize[0]) throw fixed(`--input-size ${flags.inputSize}`, `input ${net.inputSize[0]}x${net.inputSize[1]}`);
    const numClasses = net.numClasses ?? 0;
    return {
      network: net,
      family: 'onnx',
      source: net.source,
      labels: net.labels ?? (numClasses === 1000 ? imagenetClasses() : undefined),
      preset: net.preset,
      background: false,
      numClasses,
      embeddingSize: net.embeddingSize ?? 0,
      inputSize: net.inputSize[0],
    };
  }
  const c = await buildModel(flags);
  return { ...c, network: c.model, numClasses: c.model.numClasses, embeddingSize: c.model.lastChannel };
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** How output files name the weights: what the user named (a registry or hf: name), else the file's name, never a local absolute path. */
export function weightsName(given: string, source: string): string {
  if (given.startsWith('hf:') || !/[/\\.]/.test(given)) return given;
  return basename(source.replace(/[/\\]+$/, ''));
}

/** Run a command body; turn every expected failure into one line and an exit code. */
export async function runCommand(body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (e) {
    const err = e as Error & { code?: string };
    const signal = interruptedBy();
    if (signal) {
      // stopped by Ctrl-C / SIGTERM at a safe point: what was done is complete
      process.stderr.write(`mobilenetv2: interrupted by ${signal}${err.code === 'E_INTERRUPTED' ? `: ${err.message}` : ''}\n`);
      process.exitCode = signalExitCode(signal);
      return;
    }
    let exitCode: number = EXIT.INTERNAL;
    if (e instanceof CliError) exitCode = e.exitCode;
    else if (e instanceof DeviceUnavailableError) exitCode = EXIT.DEVICE;
    else if (e instanceof RangeError || e instanceof TypeError) exitCode = EXIT.USAGE;
    else if (isUserFileError(err)) exitCode = EXIT.INPUT;
    const msg = err.message.split('\n')[0];
    process.stderr.write(`mobilenetv2: ${msg}\n`);
    if (exitCode === EXIT.INTERNAL || process.env['MOBILENETV2_DEBUG']) process.stderr.write(`${exitCode === EXIT.INTERNAL ? 'this looks like a bug; please report it with this trace:\n' : ''}${err.stack}\n`);
    process.exitCode = exitCode;
  }
}

/** Errors our readers raise about a user's file (or folder), by their code. */
function isUserFileError(e: Error & { code?: string }): boolean {
  return ['E_IMAGE', 'E_WEIGHTS', 'E_FILE', 'E_INPUT', 'ENOENT', 'EACCES', 'EISDIR', 'E_DOWNLOAD'].includes(e.code ?? '');
}
