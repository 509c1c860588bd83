// What a page names as weights -> the checkpoint's files: a registry name or `hf:<org>/<name>`
// (fetched once into the Cache Storage), a URL of a weights file, a URL ending in `/` of a
// checkpoint folder (config.json + model.safetensors ...), a File / Blob, or the bytes.

import type { WeightsSource } from '../../models/load.js';
import { WeightsError } from '../../weights/errors.js';
import { HF_ENDPOINT, hfFileUrl, parseHfName, type FolderReader } from '../../weights/hf.js';
import { findEntry, looksLikeWeightsPath, REGISTRY, unknownWeights, type RegistryEntry } from '../../weights/registry.js';
import { fetchBytes, type WebDownloadOptions } from './download.js';

export type WebWeights = string | Blob | ArrayBuffer | Uint8Array;

export interface WebWeightsOptions extends Omit<WebDownloadOptions, 'sha256' | 'optional'> {
  /** Hugging Face endpoint (default https://huggingface.co). */
  endpoint?: string;
  /** Registry to resolve names against (tests point it at a local server); default REGISTRY. */
  registry?: readonly RegistryEntry[];
  /** Expected SHA-256 (hex, or a prefix) of a weights file given by URL. */
  sha256?: string;
}

const isBlob = (x: unknown): x is Blob => typeof Blob === 'function' && x instanceof Blob;

function absolute(url: string): string {
  try {
    return new URL(url, typeof location !== 'undefined' ? location.href : undefined).href;
  } catch {
    throw new RangeError(`weights: "${url}" is not a URL, a registry name (${REGISTRY.map((e) => e.name).join(', ')}) or hf:<org>/<name>`);
  }
}

/** A checkpoint folder served over HTTP: `<base>/<file>`; a 404 is an absent file. */
export function folderAtUrl(base: string, name: string, opts: WebDownloadOptions = {}, fileUrl = (f: string) => new URL(f, base).href): FolderReader {
  return {
    name,
    path: (f) => fileUrl(f),
    read: (f) => fetchBytes(fileUrl(f), { ...opts, optional: true }),
  };
}

export async function openWebWeights(spec: WebWeights, opts: WebWeightsOptions = {}): Promise<WeightsSource> {
  const { endpoint = HF_ENDPOINT, registry = REGISTRY, sha256, ...dl } = opts;
  if (isBlob(spec)) {
    const name = (spec as File).name || `<blob of ${spec.size} bytes>`;
    return { kind: 'file', name, bytes: new Uint8Array(await spec.arrayBuffer()) };
  }
  if (spec instanceof ArrayBuffer) return { kind: 'file', name: `<${spec.byteLength} bytes>`, bytes: new Uint8Array(spec) };
  if (spec instanceof Uint8Array) return { kind: 'file', name: `<${spec.length} bytes>`, bytes: spec };
  if (typeof spec !== 'string' || spec.length === 0) throw new TypeError(`load: weights must be a URL, a registry name, hf:<org>/<name>, a File/Blob or bytes, got ${spec === null ? 'null' : typeof spec}`);
  const hf = parseHfName(spec);
  if (hf) {
    const folder = folderAtUrl(endpoint, spec, dl, (f) => hfFileUrl(endpoint, hf.repo, f));
    if ((await fetchBytes(hfFileUrl(endpoint, hf.repo, 'config.json'), { ...dl, optional: true })) === undefined) {
      throw new WeightsError(`${spec}: no such model on ${endpoint} (config.json: HTTP 404)`, 'E_DOWNLOAD');
    }
    return { kind: 'folder', folder };
  }
  const entry = findEntry(spec, registry);
  if (entry) {
    const bytes = (await fetchBytes(entry.url, { ...dl, sha256: entry.sha256 }))!;
    return { kind: 'file', name: entry.url, bytes, entry };
  }
  if (!/^[a-z][a-z0-9+.-]*:/i.test(spec) && !looksLikeWeightsPath(spec) && !spec.endsWith('/')) throw unknownWeights(spec, registry);
  const url = absolute(spec);
  if (url.endsWith('/')) return { kind: 'folder', folder: folderAtUrl(url, url, dl) };
  return { kind: 'file', name: url, bytes: (await fetchBytes(url, { ...dl, sha256 }))! };
}
