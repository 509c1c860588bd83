// File I/O for the CLI: errors name the file; writes are atomic (temporary file, then rename),
// so an interrupted or failed command never leaves a half-written output.

import { randomBytes } from 'node:crypto';
import { readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { badInput } from './errors.js';

export async function readUserFile(path: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw badInput(`${path}: ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory, not a file' : code === 'EACCES' ? 'permission denied' : (e as Error).message}`);
  }
}

/** Fail before any work when an output's folder is missing, so nothing is written at all. */
export async function checkOutputFolders(paths: readonly (string | undefined)[]): Promise<void> {
  for (const path of paths) {
    if (path === undefined) continue;
    const dir = dirname(path);
    try {
      if (!(await stat(dir)).isDirectory()) throw new Error();
    } catch {
      throw badInput(`${path}: the folder ${dir} does not exist`);
    }
  }
}

export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const dir = dirname(path);
  await checkOutputFolders([path]);
  const tmp = join(dir, `.${basename(path)}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await writeFile(tmp, bytes);
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw badInput(`${path}: cannot write (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}
