// Training checkpoints as files (the format: train/checkpoint.ts).

import { readFile } from 'node:fs/promises';
import type { StateDict, Tensor } from '../../tensor.js';
import { CheckpointError, decodeTrainingCheckpoint, encodeTrainingCheckpoint, type CheckpointState } from '../../train/checkpoint.js';
import { writeFileAtomic } from './files.js';

export async function writeTrainingCheckpoint(path: string, model: StateDict, optim: Map<string, Tensor>, state: CheckpointState): Promise<void> {
  await writeFileAtomic(path, encodeTrainingCheckpoint(model, optim, state));
}

export async function readTrainingCheckpoint(path: string): Promise<ReturnType<typeof decodeTrainingCheckpoint>> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch {
    throw new CheckpointError(`${path}: no checkpoint to resume from`);
  }
  return decodeTrainingCheckpoint(bytes, path);
}
