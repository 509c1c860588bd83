// mobilenetv2/web in real Chromium (Debian's, headless, driven by playwright-core), on the demo
// server: the 16 real photos of ../shared/real through its real weights give, in the page, the
// tensors Node makes bit for bit (from the same decoded pixels), Node's logits within 1e-4 and
// PyTorch's top-5; the browser's own decoders are measured against sharp's; the worker option, the
// Cache Storage and the errors a page user meets.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeRgb, loadBatch } from '../src/platform/node/image.js';
import { load } from '../src/platform/node/load.js';
import type { MobileNetV2Model } from '../src/infer/model.js';
import type { ImageInput } from '../src/platform/node/image.js';
import { openSite, SHARED, type Site } from './helpers/browser.js';
import { freshDir } from './helpers/cli.js';

const REAL = join(SHARED, 'real');
const WEIGHTS = join(REAL, 'mobilenet_v2_coral_imagenet.pth');
const PHOTOS = readdirSync(join(REAL, 'photos')).sort();
const reference = JSON.parse(readFileSync(join(REAL, 'reference.json'), 'utf8')) as { images: Record<string, { torchvision_layout: { top5: number[]; probs: number[] } }> };

let site: Site;
let node: MobileNetV2Model<ImageInput>;
let pixels: string; // Node-decoded RGB of each photo: <name>.rgb + <name>.json { width, height }
const requests: string[] = [];

before(async () => {
  pixels = freshDir();
  mkdirSync(pixels, { recursive: true });
  node = await load({ weights: WEIGHTS });
  for (const p of PHOTOS) {
    const img = await decodeRgb(join(REAL, 'photos', p));
    writeFileSync(join(pixels, `${p}.rgb`), img.data);
    writeFileSync(join(pixels, `${p}.json`), JSON.stringify({ width: img.width, height: img.height }));
    const t = (await loadBatch([{ data: img.data, width: img.width, height: img.height, channels: 3 }], node.preset)).tensor.data as Float32Array;
    writeFileSync(join(pixels, `${p}.tensor`), t);
  }
  site = await openSite('/blank.html', { weights: WEIGHTS, mounts: { '/photos/': join(REAL, 'photos'), '/pixels/': pixels, '/hub/google/coral/resolve/main/': join(REAL, 'hf_coral'), '/hfdir/': join(REAL, 'hf_coral') } });
  site.server.server.on('request', (req) => requests.push(req.url ?? ''));
  await site.page.evaluate(async () => {
    const lib = await import('/mobilenetv2.web.js' as string);
    const g = globalThis as unknown as Record<string, unknown>;
    g['lib'] = lib;
    g['raw'] = async (name: string) => {
      const { width, height } = (await (await fetch(`/pixels/${name}.json`)).json()) as { width: number; height: number };
      return { data: new Uint8Array(await (await fetch(`/pixels/${name}.rgb`)).arrayBuffer()), width, height, channels: 3 };
    };
    g['model'] = await lib.load({ weights: '/weights/mobilenet_v2_coral_imagenet.pth' });
  });
});
after(async () => {
  await site?.close();
  await node?.dispose();
});

type PageResult = { mismatch: string; logits: number[]; top: { index: number; probability: number; className: string }[] };

test('in the page (WebAssembly SIMD resampling), each real photo (the same decoded pixels) gives Node tensor bit for bit, its logits within 1e-4 and PyTorch top-5', async () => {
  // the page resamples with the same WebAssembly SIMD kernels as Node (data/resample.ts)
  assert.equal(await site.page.evaluate(() => (globalThis as unknown as { lib: { resampleKernel(): string } }).lib.resampleKernel()), 'wasm-simd');
  let worst = 0;
  for (const p of PHOTOS) {
    const r = (await site.page.evaluate(async (name) => {
      const g = globalThis as unknown as { model: { toTensor(x: unknown[]): Promise<{ data: Float32Array }>; infer(x: unknown): Promise<{ data: Float32Array }>; classify(x: unknown, k: number): Promise<unknown> }; raw(n: string): Promise<unknown> };
      const raw = await g.raw(name);
      const t = (await g.model.toTensor([raw])).data;
      const want = new Float32Array(await (await fetch(`/pixels/${name}.tensor`)).arrayBuffer()); // Node's
      let mismatch = t.length === want.length ? '' : `${t.length} elements, Node ${want.length}`;
      for (let i = 0; i < want.length && !mismatch; i++) if (!Object.is(t[i], want[i])) mismatch = `element ${i} is ${t[i]}, Node ${want[i]}`;
      return { mismatch, logits: Array.from((await g.model.infer(raw)).data), top: await g.model.classify(raw, 5) };
    }, p)) as PageResult;
    assert.equal(r.mismatch, '', `${p}: the page's tensor differs from Node's`);
    const img = await decodeRgb(join(REAL, 'photos', p));
    const raw = { data: img.data, width: img.width, height: img.height, channels: 3 as const };
    const logits = (await node.infer(raw)).data as Float32Array;
    const diff = Math.max(...r.logits.map((v, i) => Math.abs(v - logits[i]!)));
    worst = Math.max(worst, diff);
    assert.ok(diff <= 1e-4, `${p}: logits differ from Node's by ${diff}`);
    const torch = reference.images[p]!.torchvision_layout;
    assert.deepEqual(r.top.map((t) => t.index), torch.top5, `${p}: top-5 ${r.top.map((t) => t.index)} vs PyTorch's ${torch.top5}`);
    r.top.forEach((t, i) => assert.ok(Math.abs(t.probability - torch.probs[i]!) < 2e-4, `${p}: p${i} ${t.probability} vs PyTorch's ${torch.probs[i]}`));
  }
  console.log(`# page vs node: worst logit difference ${worst.toExponential(2)} over ${PHOTOS.length} photos`);
});

test("the browser's own decoders give sharp's pixels: all 16 photos (4 JPEG, 12 PNG) decode to the same bytes in Chromium", async () => {
  const r = (await site.page.evaluate(async (names) => {
    const g = globalThis as unknown as { lib: { decodeWebImage(x: Blob): Promise<{ data: Uint8Array; width: number; height: number }> }; raw(n: string): Promise<{ data: Uint8Array; width: number; height: number }> };
    const out: Record<string, { size: string; max: number; mean: number }> = {};
    for (const name of names) {
      const img = await g.lib.decodeWebImage(await (await fetch(`/photos/${name}`)).blob());
      const want = await g.raw(name); // sharp's (libvips') decode, from Node
      let max = 0;
      let sum = 0;
      for (let i = 0; i < want.data.length; i++) {
        const d = Math.abs(img.data[i]! - want.data[i]!);
        max = Math.max(max, d);
        sum += d;
      }
      out[name] = { size: `${img.width}x${img.height} vs ${want.width}x${want.height}`, max, mean: sum / want.data.length };
    }
    return out;
  }, PHOTOS)) as Record<string, { size: string; max: number; mean: number }>;
  for (const [p, d] of Object.entries(r)) {
    console.log(`# decode ${p}: ${d.size}, max ${d.max}, mean ${d.mean.toFixed(4)} levels`);
    const [a, b] = d.size.split(' vs ');
    assert.equal(a, b, p);
    assert.equal(d.max, 0, `${p}: Chromium's decoder differs from libvips' by up to ${d.max} levels (mean ${d.mean})`);
  }
});

test('classify in the page from a Blob, an <img>, a canvas and ImageData: the same answer for the same PNG', async () => {
  const r = (await site.page.evaluate(async () => {
    const g = globalThis as unknown as { model: { classify(x: unknown, k: number): Promise<{ index: number; probability: number }[]> } };
    const blob = await (await fetch('/photos/bird.png')).blob();
    const img = new Image();
    img.src = '/photos/bird.png';
    await img.decode();
    const canvas = document.createElement('canvas');
    [canvas.width, canvas.height] = [img.naturalWidth, img.naturalHeight];
    const ctx = canvas.getContext('2d')!;
    ctx.drawImage(img, 0, 0);
    const data = ctx.getImageData(0, 0, canvas.width, canvas.height);
    const bitmap = await createImageBitmap(blob);
    return Promise.all([blob, img, canvas, data, bitmap].map((x) => g.model.classify(x, 3)));
  })) as { index: number; probability: number }[][];
  assert.equal(r[0]![0]!.index, 19, 'chickadee');
  for (const x of r.slice(1)) assert.deepEqual(x, r[0]);
});

test('load({ worker: true }): the model answers from a Web Worker, the same as in the page', async () => {
  const r = (await site.page.evaluate(async () => {
    const g = globalThis as unknown as { lib: { load(o: object): Promise<{ classify(x: unknown, k: number): Promise<unknown>; embed(x: unknown): Promise<Float32Array>; dispose(): Promise<void> }> }; model: { classify(x: unknown, k: number): Promise<unknown> }; raw(n: string): Promise<unknown> };
    const w = await g.lib.load({ weights: '/weights/mobilenet_v2_coral_imagenet.pth', worker: true });
    const raw = await g.raw('parrot.jpg');
    const img = new Image();
    img.src = '/photos/parrot.jpg';
    await img.decode();
    const out = { worker: await w.classify(raw, 5), page: await g.model.classify(raw, 5), element: await w.classify(img, 1), embed: (await w.embed(raw)).length };
    let error = '';
    try {
      await w.classify(new Blob([new Uint8Array([1, 2, 3])]), 1);
    } catch (e) {
      error = `${(e as Error).name}: ${(e as Error).message}`;
    }
    await w.dispose();
    return { ...out, error };
  })) as { worker: unknown; page: unknown; element: { index: number }[]; embed: number; error: string };
  assert.deepEqual(r.worker, r.page);
  assert.equal(r.element[0]!.index, 88, 'macaw');
  assert.equal(r.embed, 1280);
  assert.match(r.error, /^ImageError: <blob of 3 bytes>: not an image/);
});

test('weights are downloaded once: a second load() reads them from the Cache Storage', async () => {
  const count = () => requests.filter((u) => u.startsWith('/weights/')).length;
  const before = count();
  await site.page.evaluate(async () => {
    const g = globalThis as unknown as { lib: { load(o: object): Promise<{ dispose(): Promise<void> }> } };
    await (await g.lib.load({ weights: '/weights/mobilenet_v2_coral_imagenet.pth' })).dispose();
  });
  assert.equal(count(), before, 'no request for the weights');
});

test('BAD CALL - the page gets one-line errors: a missing URL (HTTP 404), bytes that are no weights, a bad option, a bad image', async () => {
  const r = (await site.page.evaluate(async () => {
    const g = globalThis as unknown as { lib: { load(o: object): Promise<unknown> }; model: { classify(x: unknown, k?: number): Promise<unknown> } };
    const msg = async (f: () => Promise<unknown>) => {
      try {
        await f();
        return 'no error';
      } catch (e) {
        return `${(e as Error).name} ${(e as { code?: string }).code ?? ''}: ${(e as Error).message}`;
      }
    };
    return {
      missing: await msg(() => g.lib.load({ weights: '/weights/nope.pth' })),
      garbage: await msg(() => g.lib.load({ weights: new Blob(['not weights']) })),
      option: await msg(() => g.lib.load({ weights: null, devcie: 'wasm' })),
      device: await msg(() => g.lib.load({ weights: null, device: 'cuda' })),
      image: await msg(() => g.model.classify(42)),
      name: await msg(() => g.lib.load({ weights: 'IMAGENET1K_V9' })),
    };
  })) as Record<string, string>;
  assert.match(r['missing']!, /^WeightsError E_DOWNLOAD: http:\/\/127\.0\.0\.1:\d+\/weights\/nope\.pth: download failed: HTTP 404/);
  assert.match(r['garbage']!, /^WeightsError E_WEIGHTS: <blob of 11 bytes>: not a weights file/);
  assert.match(r['option']!, /^TypeError : load: unknown option "devcie"/);
  assert.match(r['device']!, /^RangeError : Unsupported device: "cuda". Should be one of: wasm, webgpu/);
  assert.match(r['image']!, /^TypeError : classify: image must be an HTMLImageElement/);
  assert.match(r['name']!, /^RangeError : Unknown weights: "IMAGENET1K_V9". Should be one of: IMAGENET1K_V1, IMAGENET1K_V2, DEFAULT/);
  for (const v of Object.values(r)) assert.equal(v.split('\n').length, 1, v);
});

test("weights as hf:<org>/<name> (a local hub endpoint) and as a checkpoint folder's URL: the transformers folder of the real weights, Node's answers", async () => {
  const nodeHf = await load({ weights: join(REAL, 'hf_coral') });
  const img = await decodeRgb(join(REAL, 'photos', 'parrot.jpg'));
  const raw = { data: img.data, width: img.width, height: img.height, channels: 3 as const };
  const want = await nodeHf.classify(raw, 5);
  await nodeHf.dispose();
  const r = (await site.page.evaluate(async () => {
    const g = globalThis as unknown as { lib: { load(o: object): Promise<{ classify(x: unknown, k: number): Promise<unknown>; source: string; dispose(): Promise<void> }> }; raw(n: string): Promise<unknown> };
    const raw = await g.raw('parrot.jpg');
    const out: Record<string, unknown> = {};
    for (const [k, weights] of [['hub', 'hf:google/coral'], ['folder', '/hfdir/']] as const) {
      const m = await g.lib.load({ weights, endpoint: `${location.origin}/hub` });
      out[k] = { top: await m.classify(raw, 5), source: m.source };
      await m.dispose();
    }
    return out;
  })) as Record<string, { top: { index: number; className: string; probability: number }[]; source: string }>;
  for (const k of ['hub', 'folder']) {
    assert.deepEqual(r[k]!.top.map((t) => [t.index, t.className]), want.map((t) => [t.index, t.className]), k);
    r[k]!.top.forEach((t, i) => assert.ok(Math.abs(t.probability - want[i]!.probability) < 1e-5, `${k}: p${i}`));
  }
  assert.equal(r['hub']!.source, 'hf:google/coral');
  assert.equal(want[0]!.className, 'macaw');
});

test('the page printed no error of its own', () => {
  // the one 404 is the missing weights file the BAD CALL test asks for
  const errors = site.console.filter((l) => /^(error|pageerror)/.test(l) && !/status of 404 .* @ http:\/\/127\.0\.0\.1:\d+\/weights\/nope\.pth$/.test(l));
  assert.deepEqual(errors, []);
});
