// The downloader against a local HTTP server on 127.0.0.1 (no other network): one download then
// the cache, the hash-failure and server-error paths leave no file behind; the registry's names
// and loadWeights' resolution of names and paths (sniffed by content, not extension).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultCacheDir, downloadToCache } from '../src/platform/node/download.js';
import { readPth } from '../src/weights/pth.js';
import { REGISTRY, findEntry, type RegistryEntry } from '../src/weights/registry.js';
import { loadWeights } from '../src/platform/node/weights.js';

const PTH = fileURLToPath(new URL('../../test/fixtures/pth/state_dict_zip.pth', import.meta.url));
const SAFE = fileURLToPath(new URL('../../test/fixtures/pth/expected.safetensors', import.meta.url));
const body = readFileSync(PTH);
const sha = createHash('sha256').update(body).digest('hex');

let server: Server;
let base = '';
const hits = new Map<string, number>();

before(async () => {
  server = createServer((req, res) => {
    const path = req.url ?? '/';
    hits.set(path, (hits.get(path) ?? 0) + 1);
    if (path.startsWith('/models/')) {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
      res.end(body);
    } else if (path === '/chunked.pth') {
      res.writeHead(200); // no Content-Length: chunked
      res.write(body.subarray(0, 1000));
      setTimeout(() => res.end(body.subarray(1000)), 5);
    } else if (path === '/truncated.pth') {
      res.writeHead(200, { 'content-length': body.length });
      res.write(body.subarray(0, 100));
      setTimeout(() => res.destroy(), 5);
    } else if (path === '/error.pth') {
      res.writeHead(500, 'Internal Server Error');
      res.end('boom');
    } else {
      res.writeHead(404, 'Not Found');
      res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(() => {
  server.close();
});

const freshDir = (): string => mkdtempSync(join(tmpdir(), 'mnv2-cache-'));

test('downloads once into the cache, then serves the cached file', async () => {
  const cacheDir = freshDir();
  const seen: [number, number | undefined][] = [];
  const path = await downloadToCache(`${base}/models/once-1234.pth`, { sha256: sha, cacheDir, onProgress: (r, t) => seen.push([r, t]), progress: false });
  assert.equal(path, join(cacheDir, 'once-1234.pth'));
  assert.deepEqual(readFileSync(path), body);
  assert.deepEqual(seen.at(-1), [body.length, body.length]);
  assert.deepEqual(readdirSync(cacheDir), ['once-1234.pth']); // no temporary left
  assert.equal(hits.get('/models/once-1234.pth'), 1);
  const again = await downloadToCache(`${base}/models/once-1234.pth`, { sha256: sha.slice(0, 8), cacheDir, progress: false });
  assert.equal(again, path);
  assert.equal(hits.get('/models/once-1234.pth'), 1, 'second call must not hit the server');
  // A corrupted cached file is detected by its hash and downloaded again.
  writeFileSync(path, 'garbage');
  await downloadToCache(`${base}/models/once-1234.pth`, { sha256: sha, cacheDir, progress: false });
  assert.equal(hits.get('/models/once-1234.pth'), 2);
  assert.deepEqual(readFileSync(path), body);
});

test('no Content-Length (chunked): still downloads and verifies', async () => {
  const cacheDir = freshDir();
  const path = await downloadToCache(`${base}/chunked.pth`, { sha256: sha, cacheDir, progress: false });
  assert.deepEqual(readFileSync(path), body);
});

test('a progress bar on stderr when asked (bytes, rate, ETA)', async () => {
  const cacheDir = freshDir();
  const chunks: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((c: string | Uint8Array) => (chunks.push(String(c)), true)) as typeof process.stderr.write;
  try {
    await downloadToCache(`${base}/models/bar.pth`, { sha256: sha, cacheDir, progress: true });
  } finally {
    process.stderr.write = write;
  }
  const out = chunks.join('');
  assert.match(out, /bar\.pth .*100% \| 4\.\d KiB\/4\.\d KiB \| [\d.]+ (B|KiB|MiB)\/s \| ETA/);
});

test('BAD DOWNLOAD - a hash mismatch deletes the file and names both hashes', async () => {
  const cacheDir = freshDir();
  const wrong = '0'.repeat(64);
  await assert.rejects(downloadToCache(`${base}/models/bad-hash.pth`, { sha256: wrong, cacheDir, progress: false }), (e: Error & { code?: string }) => {
    assert.equal(e.message, `${base}/models/bad-hash.pth: SHA-256 mismatch: expected ${wrong}, got ${sha}`);
    assert.equal(e.code, 'E_DOWNLOAD');
    return true;
  });
  assert.deepEqual(readdirSync(cacheDir), []);
  await assert.rejects(downloadToCache(`${base}/models/bad-hash.pth`, { sha256: 'deadbeef', cacheDir, progress: false }), /expected deadbeef\.\.\., got [0-9a-f]{64}$/);
});

test('BAD DOWNLOAD - server error, missing file and truncated body leave nothing in the cache', async () => {
  const cacheDir = freshDir();
  await assert.rejects(downloadToCache(`${base}/error.pth`, { cacheDir, progress: false }), { message: `${base}/error.pth: download failed: HTTP 500 Internal Server Error` });
  await assert.rejects(downloadToCache(`${base}/nothing.pth`, { cacheDir, progress: false }), /HTTP 404/);
  await assert.rejects(downloadToCache(`${base}/truncated.pth`, { cacheDir, progress: false }), /truncated\.pth: download (interrupted after|truncated: got) \d+/);
  assert.deepEqual(readdirSync(cacheDir), []);
  // A closed port: connection refused, one line.
  const closed = createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const port = (closed.address() as AddressInfo).port;
  await new Promise<void>((r) => closed.close(() => r()));
  await assert.rejects(downloadToCache(`http://127.0.0.1:${port}/x.pth`, { cacheDir, progress: false }), (e: Error) => {
    assert.match(e.message, /^http:\/\/127\.0\.0\.1:\d+\/x\.pth: download failed \(.+\): offline\? fetch the file elsewhere and give its path as the weights, or put it in .+ as x\.pth$/);
    return true;
  });
});

test('a cached file whose hash does not match: said (with where the cache is), then downloaded again', async () => {
  const cacheDir = freshDir();
  writeFileSync(join(cacheDir, 'bad-hash.pth'), 'stale bytes');
  const notes: string[] = [];
  const path = await downloadToCache(`${base}/models/bad-hash.pth`, { sha256: sha, cacheDir, progress: false, note: (m) => notes.push(m) });
  assert.equal(createHash('sha256').update(readFileSync(path)).digest('hex'), sha);
  assert.equal(notes.length, 1);
  assert.match(notes[0]!, new RegExp(`bad-hash\\.pth: the cached file's SHA-256 \\([0-9a-f]{16}\\.\\.\\.\\) does not match ${sha}; downloading it again \\(the cache is ${cacheDir.replace(/[/\\]/g, '.')}`));
});

test('BAD CALL - a malformed hash is a RangeError', async () => {
  await assert.rejects(downloadToCache(`${base}/models/x.pth`, { sha256: 'xyz', cacheDir: freshDir() }), RangeError);
});

test('cache dir: MOBILENETV2_CACHE, else XDG_CACHE_HOME/mobilenetv2, else ~/.cache/mobilenetv2', () => {
  assert.equal(defaultCacheDir({ MOBILENETV2_CACHE: '/c', XDG_CACHE_HOME: '/x' }), '/c');
  assert.equal(defaultCacheDir({ XDG_CACHE_HOME: '/x' }), join('/x', 'mobilenetv2'));
  assert.equal(defaultCacheDir({}), join(homedir(), '.cache', 'mobilenetv2'));
});

test('registry: torchvision URLs, hash prefixes from the file names, presets', () => {
  assert.deepEqual(REGISTRY.map((e) => e.name), ['IMAGENET1K_V1', 'IMAGENET1K_V2']);
  for (const e of REGISTRY) {
    // torchvision's convention: <name>-<first 8 hex digits of the SHA-256>.pth
    assert.equal(e.url.match(/-([0-9a-f]{8})\.pth$/)![1], e.sha256.slice(0, 8));
    assert.equal(e.numClasses, 1000);
    assert.equal(e.alpha, 1);
    assert.equal(e.lastChannel, 1280);
  }
  assert.equal(findEntry('imagenet1k_v1')!.preset, 'torchvision-v1');
  assert.equal(findEntry('MobileNet_V2_Weights.IMAGENET1K_V2')!.preset, 'torchvision-v2');
  assert.equal(findEntry('default')!.name, 'IMAGENET1K_V2');
  assert.equal(findEntry('IMAGENET1K_V3'), undefined);
});

test('loadWeights: a registry name downloads (local registry) and loads', async () => {
  const entry: RegistryEntry = { ...REGISTRY[0]!, name: 'LOCAL_TEST', url: `${base}/models/local-${sha.slice(0, 8)}.pth`, sha256: sha.slice(0, 8) };
  const cacheDir = freshDir();
  const got = await loadWeights('local_test', { registry: [entry], cacheDir, progress: false });
  assert.equal(got.entry, entry);
  assert.equal(got.source, join(cacheDir, `local-${sha.slice(0, 8)}.pth`));
  assert.deepEqual([...got.stateDict.keys()], [...readPth(body, 'x').keys()]);
  await assert.rejects(loadWeights('IMAGENET1K_V9', { registry: [entry] }), { name: 'RangeError', message: 'Unknown weights: "IMAGENET1K_V9". Should be one of: LOCAL_TEST (or a path to a .pth/.safetensors file)' });
  await assert.rejects(loadWeights('resnet50'), { name: 'RangeError', message: /^Unknown weights: "resnet50"\. Should be one of: IMAGENET1K_V1, IMAGENET1K_V2, DEFAULT/ });
});

test('loadWeights: files are sniffed by content, not extension; a missing file says so', async () => {
  const dir = freshDir();
  const misnamed = join(dir, 'really-safetensors.pth');
  copyFileSync(SAFE, misnamed);
  const a = await loadWeights(misnamed);
  assert.equal(a.source, misnamed);
  assert.equal(a.entry, undefined);
  const b = await loadWeights(PTH);
  assert.deepEqual([...a.stateDict.keys()], [...b.stateDict.keys()]);
  const misnamed2 = join(dir, 'really-pth.safetensors');
  copyFileSync(PTH, misnamed2);
  assert.deepEqual((await loadWeights(misnamed2)).stateDict.get('conv.weight'), b.stateDict.get('conv.weight'));
  const missing = join(dir, 'nope.pth');
  await assert.rejects(loadWeights(missing), { message: `${missing}: no such file` });
  const text = join(dir, 'notes.bin');
  writeFileSync(text, 'just some text, no weights here');
  await assert.rejects(loadWeights(text), { message: `${text}: not a weights file (neither safetensors nor a PyTorch .pth/.pt/.bin)` });
  await assert.rejects(loadWeights(dir), /is a directory/);
});
