// What a Node user names as weights -> the checkpoint's files: a registry name (downloaded once
// into the cache), `hf:<org>/<name>` (the hub repo's files, downloaded once), a checkpoint folder,
// or a weights file. The files are then read by the platform-free models/load.ts.

import { existsSync, readFileSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { checkpointFrom, type CheckpointOptions, type LoadedCheckpoint, type WeightsSource } from '../../models/load.js';
import type { StateDict } from '../../tensor.js';
import { WeightsError } from '../../weights/errors.js';
import { HF_ENDPOINT, hfFileUrl, parseHfName, WEIGHT_FILES, type FolderReader } from '../../weights/hf.js';
import { findEntry, looksLikeWeightsPath, readWeightsBytes, REGISTRY, unknownWeights, type RegistryEntry } from '../../weights/registry.js';
import { defaultCacheDir, downloadToCache, type DownloadOptions } from './download.js';

/** `https://huggingface.co`, or `$HF_ENDPOINT` (a mirror), as huggingface_hub reads it. */
export function hfEndpoint(env: NodeJS.ProcessEnv = process.env): string {
  return (env['HF_ENDPOINT'] ?? HF_ENDPOINT).replace(/\/+$/, '');
}

export function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** A weights file's bytes, or a WeightsError naming it. */
function readBytes(file: string): Uint8Array {
  try {
    if (statSync(file).isDirectory()) throw new WeightsError(`${file}: is a directory, not a weights file`);
    return readFileSync(file);
  } catch (e) {
    if (e instanceof WeightsError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new WeightsError(`${file}: no such file`);
    if (code === 'EACCES') throw new WeightsError(`${file}: permission denied`);
    throw new WeightsError(`${file}: cannot read (${code ?? (e as Error).message})`);
  }
}

/** Read a weights file from disk (.pth/.pt/.bin or .safetensors, sniffed by content). */
export function readWeightsFile(file: string): StateDict {
  return readWeightsBytes(readBytes(file), file);
}

/** A checkpoint folder on disk. */
export function folderOnDisk(dir: string): FolderReader {
  return {
    name: dir,
    path: (f) => join(dir, f),
    async read(f) {
      const p = join(dir, f);
      if (!existsSync(p)) return undefined;
      try {
        return await readFile(p);
      } catch (e) {
        throw new WeightsError(`${p}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
      }
    },
  };
}

export interface HfDownloadOptions extends Omit<DownloadOptions, 'sha256' | 'fileName' | 'cacheDir'> {
  cacheDir?: string;
  /** Default: {@link hfEndpoint}(). Tests point it at a local server. */
  endpoint?: string;
}

const is404 = (e: unknown) => e instanceof WeightsError && (e as WeightsError & { status?: number }).status === 404;

/**
 * Download a hub repo's files once into the cache (<cache>/hf/<org>/<name>/); returns the local
 * folder. config.json and one weights file (model.safetensors, else pytorch_model.bin) are
 * required; preprocessor_config.json is fetched when the repo has one. Files already in the cache
 * are not downloaded again.
 */
export async function downloadHfRepo(repo: string, opts: HfDownloadOptions = {}): Promise<string> {
  const endpoint = (opts.endpoint ?? hfEndpoint()).replace(/\/+$/, '');
  const dir = join(opts.cacheDir ?? defaultCacheDir(), 'hf', ...repo.split('/'));
  const { endpoint: _e, cacheDir: _c, ...dl } = opts;
  const get = (file: string) => downloadToCache(hfFileUrl(endpoint, repo, file), { ...dl, cacheDir: dir, fileName: file });
  try {
    await get('config.json');
  } catch (e) {
    if (is404(e)) throw new WeightsError(`hf:${repo}: no such model on ${endpoint} (config.json: HTTP 404)`, 'E_DOWNLOAD');
    throw e;
  }
  try {
    await get('preprocessor_config.json');
  } catch (e) {
    if (!is404(e)) throw e; // timm repos have none
  }
  for (const file of WEIGHT_FILES) {
    try {
      await get(file);
      return dir;
    } catch (e) {
      if (!is404(e)) throw e;
    }
  }
  throw new WeightsError(`hf:${repo}: the repo has neither ${WEIGHT_FILES.join(' nor ')}`, 'E_DOWNLOAD');
}

export interface OpenWeightsOptions extends HfDownloadOptions {
  /** Registry to resolve names against (tests point it at a local server); default REGISTRY. */
  registry?: readonly RegistryEntry[];
}

/**
 * A registry name (case-insensitive, downloaded once into the cache), hf:<org>/<name>, a folder
 * or a weights file -> its files. An unknown name lists the valid ones; a missing file says
 * `<file>: no such file`.
 */
export async function openWeights(spec: string, opts: OpenWeightsOptions = {}): Promise<WeightsSource> {
  if (typeof spec !== 'string' || spec.length === 0) throw new TypeError(`weights must be a registry name, hf:<org>/<name> or a path, got ${JSON.stringify(spec)}`);
  const { registry = REGISTRY, ...dl } = opts;
  const hf = parseHfName(spec);
  if (hf) return { kind: 'folder', folder: { ...folderOnDisk(await downloadHfRepo(hf.repo, dl)), name: spec } }; // files named by their cached paths
  if (isDirectory(spec)) return { kind: 'folder', folder: folderOnDisk(spec) };
  const entry = isFile(spec) ? undefined : findEntry(spec, registry);
  if (entry !== undefined) {
    const { endpoint: _e, ...download } = dl;
    const path = await downloadToCache(entry.url, { ...download, sha256: entry.sha256 });
    return { kind: 'file', name: path, bytes: readBytes(path), entry };
  }
  if (!isFile(spec) && !looksLikeWeightsPath(spec)) throw unknownWeights(spec, registry);
  return { kind: 'file', name: spec, bytes: readBytes(spec) };
}

export interface LoadCheckpointOptions extends OpenWeightsOptions, CheckpointOptions {}

/** Resolve `spec` (registry name, hf:<org>/<name>, folder or file) to a loaded model in eval mode. */
export async function loadCheckpoint(spec: string, opts: LoadCheckpointOptions = {}): Promise<LoadedCheckpoint> {
  const { given, head, ...open } = opts;
  return checkpointFrom(await openWeights(spec, open), { given, head });
}

/** A registry name or a weights file -> its state dict (the file's own key layout), its registry entry and the file it came from. */
export async function loadWeights(nameOrPath: string, opts: OpenWeightsOptions = {}): Promise<{ stateDict: StateDict; entry?: RegistryEntry; source: string }> {
  if (typeof nameOrPath !== 'string' || nameOrPath.length === 0) {
    throw new TypeError(`loadWeights: nameOrPath must be a registry name or a file path, got ${JSON.stringify(nameOrPath)}`);
  }
  const s = await openWeights(nameOrPath, opts);
  if (s.kind !== 'file') throw new WeightsError(`${nameOrPath}: is a directory, not a weights file`);
  return { stateDict: readWeightsBytes(s.bytes, s.name), entry: s.entry, source: s.name };
}
