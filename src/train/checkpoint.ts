// A training checkpoint is one safetensors file: the model's state dict as `model.<key>`, the
// optimizer state as `optim.<name>`, and a JSON `checkpoint` entry in the metadata with where the
// run is (epoch, batch, optimizer step), its configuration, classes and metric history. Written to
// a temporary file and renamed, so a kill at any moment leaves the previous checkpoint whole.

import { readFile } from 'node:fs/promises';
import type { StateDict, Tensor } from '../tensor.js';
import { readSafetensors, writeSafetensors } from '../weights/safetensors.js';
import { writeFileAtomic } from '../io/files.js';

export const CHECKPOINT_VERSION = 1;

export interface CheckpointState {
  version: number;
  /** Epoch to continue in (0-based) and the next batch of it. */
  epoch: number;
  batch: number;
  /** Optimizer steps taken. */
  step: number;
  config: Record<string, unknown>;
  classes: string[];
  history: Record<string, number>[];
  bestValAcc?: number;
}

export async function writeTrainingCheckpoint(path: string, model: StateDict, optim: Map<string, Tensor>, state: CheckpointState): Promise<void> {
  const sd: StateDict = new Map();
  for (const [k, t] of model) sd.set(`model.${k}`, t);
  for (const [k, t] of optim) sd.set(`optim.${k}`, t);
  await writeFileAtomic(path, writeSafetensors(sd, { checkpoint: JSON.stringify(state) }));
}

export async function readTrainingCheckpoint(path: string): Promise<{ model: StateDict; optim: Map<string, Tensor>; state: CheckpointState }> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch {
    throw Object.assign(new Error(`${path}: no checkpoint to resume from`), { code: 'E_FILE' });
  }
  const { tensors, metadata } = readSafetensors(bytes, path);
  const raw = metadata['checkpoint'];
  if (!raw) throw Object.assign(new Error(`${path}: not a mobilenetv2 training checkpoint (no "checkpoint" metadata)`), { code: 'E_FILE' });
  const state = JSON.parse(raw) as CheckpointState;
  if (state.version !== CHECKPOINT_VERSION) throw Object.assign(new Error(`${path}: checkpoint version ${state.version}, this build reads ${CHECKPOINT_VERSION}`), { code: 'E_FILE' });
  const model: StateDict = new Map();
  const optim = new Map<string, Tensor>();
  for (const [k, t] of tensors) {
    if (k.startsWith('model.')) model.set(k.slice(6), t);
    else if (k.startsWith('optim.')) optim.set(k.slice(6), t);
  }
  return { model, optim, state };
}
