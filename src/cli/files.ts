// File I/O for the CLI: errors name the file; writes are atomic (temporary file, then rename),
// so an interrupted or failed command never leaves a half-written output.

import { readFile } from 'node:fs/promises';
import { badInput } from './errors.js';

export async function readUserFile(path: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw badInput(`${path}: ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory, not a file' : code === 'EACCES' ? 'permission denied' : (e as Error).message}`);
  }
}

export { checkOutputFolders, writeFileAtomic } from '../platform/node/files.js';
