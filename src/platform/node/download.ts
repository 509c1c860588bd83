// Download a weight file once into a cache directory: stream to a temporary file in the same
// directory, hash while writing, rename into place only when the hash matches. A reader of the
// cache therefore never sees a half-written file, and a failed download leaves nothing behind.

import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, open, rename, unlink } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, join } from 'node:path';
import cliProgress from 'cli-progress';
import { WeightsError } from '../../weights/errors.js';

export interface DownloadOptions {
  /** Expected SHA-256, lower-case hex: the full 64 digits, or a prefix (torchvision's file names carry 8). */
  sha256?: string;
  /** Where to keep the file; default: {@link defaultCacheDir}(). */
  cacheDir?: string;
  /** File name in the cache; default: the last segment of the URL's path. */
  fileName?: string;
  /** Called as bytes arrive; `total` is undefined when the server sends no Content-Length. */
  onProgress?: (received: number, total: number | undefined) => void;
  /** Show a progress bar on stderr; default: only when stderr is a TTY. */
  progress?: boolean;
  /** Where notes go (a stale cached copy being fetched again); default: stderr when `progress` is on. */
  note?: (message: string) => void;
}

/** `$MOBILENETV2_CACHE`, else `$XDG_CACHE_HOME/mobilenetv2`, else `~/.cache/mobilenetv2`. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env['MOBILENETV2_CACHE']) return env['MOBILENETV2_CACHE'];
  if (env['XDG_CACHE_HOME']) return join(env['XDG_CACHE_HOME'], 'mobilenetv2');
  return join(homedir(), '.cache', 'mobilenetv2');
}

/** SHA-256 of a file, as lower-case hex. */
export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

function checkHashArg(sha256: string | undefined): string | undefined {
  if (sha256 === undefined) return undefined;
  const s = sha256.toLowerCase();
  if (!/^[0-9a-f]{8,64}$/.test(s)) throw new RangeError(`downloadToCache: sha256 must be 8 to 64 hex digits, got "${sha256}"`);
  return s;
}

function humanBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

/**
 * Download `url` into the cache unless a file with the right hash is already there; returns the
 * cached file's path. A cached file whose hash does not match is downloaded again.
 */
export async function downloadToCache(url: string, opts: DownloadOptions = {}): Promise<string> {
  const expected = checkHashArg(opts.sha256);
  const dir = opts.cacheDir ?? defaultCacheDir();
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new RangeError(`downloadToCache: not a URL: "${url}"`);
  }
  const name = opts.fileName ?? basename(parsed.pathname);
  if (!name || name === '/' || name.includes('..')) throw new RangeError(`downloadToCache: cannot name a cache file after "${url}"; pass fileName`);
  const dest = join(dir, name);
  const note = opts.note ?? ((m: string) => (opts.progress ?? process.stderr.isTTY === true) && process.stderr.write(`note: ${m}\n`));
  if (existsSync(dest)) {
    const actual = expected === undefined ? undefined : await sha256File(dest);
    if (actual === undefined || actual.startsWith(expected!)) return dest;
    note(`${dest}: the cached file's SHA-256 (${actual.slice(0, 16)}...) does not match ${expected}${expected!.length < 64 ? '...' : ''}; downloading it again (the cache is ${dir}: $MOBILENETV2_CACHE moves it)`);
  }
  await mkdir(dir, { recursive: true });

  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    const cause = (e as Error & { cause?: Error }).cause?.message ?? (e as Error).message;
    const offline = /ENOTFOUND|EAI_AGAIN|ENETUNREACH|ECONNREFUSED|ETIMEDOUT|getaddrinfo/.test(cause);
    throw new WeightsError(`${url}: download failed (${cause})${offline ? `: offline? fetch the file elsewhere and give its path as the weights, or put it in ${dir} as ${name}` : ''}`, 'E_DOWNLOAD');
  }
  if (!res.ok || res.body === null) {
    throw Object.assign(new WeightsError(`${url}: download failed: HTTP ${res.status} ${res.statusText}`.trimEnd(), 'E_DOWNLOAD'), { status: res.status });
  }
  const lenHeader = res.headers.get('content-length');
  const total = lenHeader !== null && /^\d+$/.test(lenHeader) ? Number(lenHeader) : undefined;

  const showBar = opts.progress ?? process.stderr.isTTY === true;
  const bar = showBar
    ? new cliProgress.SingleBar({
        stream: process.stderr,
        format: `${name} {bar} {percentage}% | {got}/{size} | {speed} | ETA {eta_formatted}`,
        hideCursor: true,
        noTTYOutput: true,
        notTTYSchedule: 1000,
        etaBuffer: 50,
      }, cliProgress.Presets.shades_classic)
    : undefined;
  const started = Date.now();
  const payload = (got: number) => ({
    got: humanBytes(got),
    size: total === undefined ? '?' : humanBytes(total),
    speed: `${humanBytes(Math.round(got / Math.max((Date.now() - started) / 1000, 1e-3)))}/s`,
  });
  bar?.start(total ?? 0, 0, payload(0));

  const tmp = join(dir, `.${name}.${process.pid}.${Date.now().toString(36)}.part`);
  const fh = await open(tmp, 'w');
  const hash = createHash('sha256');
  let received = 0;
  try {
    try {
      const reader = res.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        hash.update(value);
        await fh.write(value);
        received += value.length;
        if (bar !== undefined) {
          if (total === undefined) bar.setTotal(received);
          bar.update(received, payload(received));
        }
        opts.onProgress?.(received, total);
      }
    } catch (e) {
      const cause = (e as Error & { cause?: Error }).cause?.message ?? (e as Error).message;
      throw new WeightsError(`${url}: download interrupted after ${received} bytes (${cause})`, 'E_DOWNLOAD');
    } finally {
      await fh.close();
      bar?.stop();
    }
    if (total !== undefined && received !== total) {
      throw new WeightsError(`${url}: download truncated: got ${received} of ${total} bytes`, 'E_DOWNLOAD');
    }
    const actual = hash.digest('hex');
    if (expected !== undefined && !actual.startsWith(expected)) {
      throw new WeightsError(`${url}: SHA-256 mismatch: expected ${expected}${expected.length < 64 ? '...' : ''}, got ${actual}`, 'E_DOWNLOAD');
    }
    await rename(tmp, dest);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  return dest;
}
