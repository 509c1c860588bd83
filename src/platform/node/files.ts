// Writing files so that nothing is ever half-written: a temporary file beside the target, then
// rename (atomic on one filesystem). Errors name the file.

import { randomBytes } from 'node:crypto';
import { appendFile, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export class FileError extends Error {
  readonly code = 'E_FILE';
}

/** Fail before any work when an output's folder is missing, so nothing is written at all. */
export async function checkOutputFolders(paths: readonly (string | undefined)[]): Promise<void> {
  for (const path of paths) {
    if (path === undefined) continue;
    const dir = dirname(path);
    try {
      if (!(await stat(dir)).isDirectory()) throw new Error();
    } catch {
      throw new FileError(`${path}: the folder ${dir} does not exist`);
    }
  }
}

/** Temporary files being written right now: a signal handler removes them before the process exits. */
export const inFlightTemporaries = new Set<string>();

export async function writeFileAtomic(path: string, bytes: Uint8Array | string): Promise<void> {
  await checkOutputFolders([path]);
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(4).toString('hex')}.tmp`);
  inFlightTemporaries.add(tmp);
  try {
    await writeFile(tmp, bytes);
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw new FileError(`${path}: cannot write (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  } finally {
    inFlightTemporaries.delete(tmp);
  }
}

/** A training run's files in a folder on disk (train/fit.ts's RunStore). */
export class FolderStore {
  constructor(readonly dir: string) {}
  path(file: string): string {
    return join(this.dir, file);
  }
  async read(file: string): Promise<Uint8Array | undefined> {
    try {
      return await readFile(this.path(file));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new FileError(`${this.path(file)}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
  }
  write(file: string, bytes: Uint8Array | string): Promise<void> {
    return writeFileAtomic(this.path(file), bytes);
  }
  append(file: string, text: string): Promise<void> {
    return appendFile(this.path(file), text);
  }
}
