// Downloads in a page: fetch, with progress, a SHA-256 check (SubtleCrypto) and the Cache Storage
// API, so weights are downloaded once per origin. A response is put into the cache only whole and
// with the right hash; a cached file whose hash does not match is fetched again.

import { WeightsError } from '../../weights/errors.js';

export interface WebDownloadOptions {
  /** Expected SHA-256, lower-case hex: 64 digits, or a prefix (torchvision's file names carry 8). */
  sha256?: string;
  /** Cache Storage bucket (default 'mobilenetv2'); false: no cache. */
  cache?: string | false;
  /** Called as bytes arrive; `total` is undefined when the server sends no Content-Length. */
  onProgress?: (received: number, total: number | undefined, url: string) => void;
  /** A 404 resolves to undefined instead of throwing (optional files of a checkpoint folder). */
  optional?: boolean;
  fetch?: typeof fetch;
}

export async function sha256Hex(bytes: Uint8Array): Promise<string | undefined> {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) return undefined; // not a secure context (http:// on another host than localhost)
  const d = new Uint8Array(await subtle.digest('SHA-256', bytes as BufferSource));
  return Array.from(d, (b) => b.toString(16).padStart(2, '0')).join('');
}

let warnedNoSubtle = false;

async function hashOk(bytes: Uint8Array, expected: string | undefined): Promise<{ ok: boolean; actual?: string }> {
  if (expected === undefined) return { ok: true };
  const actual = await sha256Hex(bytes);
  if (actual === undefined) {
    if (!warnedNoSubtle) console.warn('mobilenetv2: SHA-256 not checked: crypto.subtle needs a secure context (https or localhost)');
    warnedNoSubtle = true;
    return { ok: true };
  }
  return { ok: actual.startsWith(expected.toLowerCase()), actual };
}

async function openCache(name: string | false | undefined): Promise<Cache | undefined> {
  if (name === false || typeof caches === 'undefined') return undefined;
  try {
    return await caches.open(name ?? 'mobilenetv2');
  } catch {
    return undefined; // opaque origins, private modes
  }
}

async function readBody(res: Response, url: string, onProgress: WebDownloadOptions['onProgress']): Promise<Uint8Array> {
  const len = res.headers.get('content-length');
  const total = len !== null && /^\d+$/.test(len) ? Number(len) : undefined;
  if (!res.body) return new Uint8Array(await res.arrayBuffer());
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let received = 0;
  onProgress?.(0, total, url);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      received += value.length;
      onProgress?.(received, total, url);
    }
  } catch (e) {
    throw new WeightsError(`${url}: download interrupted after ${received} bytes (${(e as Error).message})`, 'E_DOWNLOAD');
  }
  if (total !== undefined && received !== total && !res.headers.get('content-encoding')) {
    throw new WeightsError(`${url}: download truncated: got ${received} of ${total} bytes`, 'E_DOWNLOAD');
  }
  const out = new Uint8Array(received);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

/** The bytes at `url`, from the cache when there with the right hash, else downloaded (and cached). */
export async function fetchBytes(url: string, opts: WebDownloadOptions = {}): Promise<Uint8Array | undefined> {
  const cache = await openCache(opts.cache);
  const hit = await cache?.match(url);
  if (hit) {
    const bytes = new Uint8Array(await hit.arrayBuffer());
    if ((await hashOk(bytes, opts.sha256)).ok) {
      opts.onProgress?.(bytes.length, bytes.length, url);
      return bytes;
    }
    await cache!.delete(url); // a stale or corrupt copy: fetch it again
  }
  let res: Response;
  try {
    res = await (opts.fetch ?? fetch)(url);
  } catch (e) {
    const cross = typeof location !== 'undefined' && new URL(url, location.href).origin !== location.origin;
    throw new WeightsError(
      `${url}: download failed (${(e as Error).message})${cross ? ': the server may not allow this page to read it (CORS: it must send Access-Control-Allow-Origin), or it is unreachable; host the file on this origin or pick it as a local file' : ''}`,
      'E_DOWNLOAD',
    );
  }
  if (res.status === 404 && opts.optional) return undefined;
  if (!res.ok) throw new WeightsError(`${url}: download failed: HTTP ${res.status} ${res.statusText}`.trimEnd(), 'E_DOWNLOAD');
  const bytes = await readBody(res, url, opts.onProgress);
  const h = await hashOk(bytes, opts.sha256);
  if (!h.ok) throw new WeightsError(`${url}: SHA-256 mismatch: expected ${opts.sha256}${opts.sha256!.length < 64 ? '...' : ''}, got ${h.actual}`, 'E_DOWNLOAD');
  if (cache) {
    try {
      await cache.put(url, new Response(bytes as BodyInit, { headers: { 'content-type': 'application/octet-stream', 'content-length': String(bytes.length) } }));
    } catch {
      // quota exceeded: the download still serves this page
    }
  }
  return bytes;
}
