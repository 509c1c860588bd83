// A training checkpoint is one safetensors file: the model's state dict as `model.<key>`, the
// optimizer state as `optim.<name>`, and a JSON `checkpoint` entry in the metadata with where the
// run is (epoch, batch, optimizer step), its configuration, classes and metric history. Written to
// a temporary file and renamed (RunStore.write), so a kill at any moment leaves the previous
// checkpoint whole.

import type { StateDict, Tensor } from '../tensor.js';
import { readSafetensors, writeSafetensors } from '../weights/safetensors.js';

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

/** A training checkpoint that cannot be used: the message names the file. */
export class CheckpointError extends Error {
  readonly code = 'E_FILE';
}

/** `metadata`: more entries, e.g. the model's card (models/card.ts), so the checkpoint loads as a model. */
export function encodeTrainingCheckpoint(model: StateDict, optim: Map<string, Tensor>, state: CheckpointState, metadata: Record<string, string> = {}): Uint8Array {
  const sd: StateDict = new Map();
  for (const [k, t] of model) sd.set(`model.${k}`, t);
  for (const [k, t] of optim) sd.set(`optim.${k}`, t);
  return writeSafetensors(sd, { ...metadata, checkpoint: JSON.stringify(state) });
}

export function decodeTrainingCheckpoint(bytes: Uint8Array, file: string): { model: StateDict; optim: Map<string, Tensor>; state: CheckpointState } {
  const { tensors, metadata } = readSafetensors(bytes, file);
  const raw = metadata['checkpoint'];
  if (!raw) throw new CheckpointError(`${file}: not a mobilenetv2 training checkpoint (no "checkpoint" metadata)`);
  let state: CheckpointState;
  try {
    state = JSON.parse(raw) as CheckpointState;
  } catch {
    throw new CheckpointError(`${file}: its "checkpoint" metadata is not valid JSON`);
  }
  if (state?.version !== CHECKPOINT_VERSION) throw new CheckpointError(`${file}: checkpoint version ${state?.version}, this build reads ${CHECKPOINT_VERSION}`);
  const model: StateDict = new Map();
  const optim = new Map<string, Tensor>();
  for (const [k, t] of tensors) {
    if (k.startsWith('model.')) model.set(k.slice(6), t);
    else if (k.startsWith('optim.')) optim.set(k.slice(6), t);
  }
  return { model, optim, state };
}
