// fit() in real Chromium on pictures held in memory (Blobs of the demo set's PNGs): the whole
// network trains (not only the head), progress comes per step, a run stopped after one epoch and
// resumed from its in-memory checkpoint ends with exactly the weights of a run never stopped, and
// the result classifies with the class names and saves as .safetensors (with its card), .pth and .onnx.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { makeDemoDataset } from '../src/platform/node/demo.js';
import { readSafetensors } from '../src/weights/safetensors.js';
import { readPth } from '../src/weights/pth.js';
import { fromOnnx } from '../src/onnx/export.js';
import { openSite, type Site } from './helpers/browser.js';
import { scratch } from './helpers/cli.js';

let site: Site;
let classes: string[];
before(async () => {
  const d = await makeDemoDataset(join(scratch, 'demo-webfit'), { seed: 9, perClass: 4, valPerClass: 1, size: 40 });
  classes = d.classes.slice(0, 3);
  site = await openSite('/blank.html', { mounts: { '/demo/': d.train } });
});
after(() => site?.close());

interface PageFit {
  progress: number;
  history: Record<string, number>[];
  weights: Record<string, string>;
  resumed: Record<string, string>;
  top: { className: string }[];
  files: Record<string, string>;
}

test('fit() in the page: the whole network on Blobs, progress per step, resumed from memory = never stopped, a classifier with the names, three formats', async () => {
  const r = (await site.page.evaluate(async (names) => {
    const lib = await import('/mobilenetv2.web.js' as string);
    const images: { image: Blob; label: string }[] = [];
    for (const c of names) for (let i = 0; i < 4; i++) images.push({ image: await (await fetch(`/demo/${c}/${String(i).padStart(4, '0')}.png`)).blob(), label: c });
    const opts = { images, alpha: 0.25, inputSize: 32, batchSize: 6, lr: 3e-3, seed: 4 };
    const b64 = (t: { data: Float32Array | BigInt64Array }) => {
      const u = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
      let s = '';
      for (let i = 0; i < u.length; i += 0x8000) s += String.fromCharCode(...u.subarray(i, i + 0x8000));
      return btoa(s);
    };
    const dump = (m: { stateDict(): Map<string, { data: Float32Array | BigInt64Array }> }) => Object.fromEntries([...m.stateDict()].map(([k, t]) => [k, b64(t)]));
    let progress = 0;
    const whole = await lib.fit({ ...opts, epochs: 2, onProgress: () => progress++ });
    // the same run stopped after its first epoch, then resumed from the checkpoint its store holds
    const store = new lib.MemoryStore();
    const stop = new AbortController();
    let stopped = '';
    await lib.fit({ ...opts, epochs: 2, store, signal: stop.signal, onEpoch: () => stop.abort() }).catch((e: Error & { code?: string }) => (stopped = `${e.code}: ${e.message}`));
    if (!/^E_INTERRUPTED: stopped after epoch 1 of 2/.test(stopped)) throw new Error(`the run did not stop after epoch 1: ${stopped}`);
    const resumed = await lib.fit({ ...opts, epochs: 2, store, resume: true });
    const clf = whole.classifier();
    const top = await clf.classify(images[0]!.image, 3);
    await clf.dispose();
    const files: Record<string, string> = {};
    for (const f of ['safetensors', 'pth', 'onnx'] as const) {
      const u: Uint8Array = whole.save(f);
      let s = '';
      for (let i = 0; i < u.length; i += 0x8000) s += String.fromCharCode(...u.subarray(i, i + 0x8000));
      files[f] = btoa(s);
    }
    return { progress, history: whole.history, weights: dump(whole.network), resumed: dump(resumed.network), top, files };
  }, classes)) as PageFit;
  assert.equal(r.history.length, 2);
  assert.equal(r.progress, 2 * 2, 'one progress event per step (12 pictures, batches of 6, 2 epochs)');
  for (const [k, v] of Object.entries(r.weights)) assert.equal(r.resumed[k], v, `${k} differs between the resumed and the uninterrupted run`);
  assert.deepEqual(r.top.map((t) => t.className).sort(), [...classes].sort());
  const st = readSafetensors(Buffer.from(r.files['safetensors']!, 'base64'), 'page.safetensors');
  assert.deepEqual(JSON.parse(st.metadata['classes']!), classes);
  assert.equal((JSON.parse(st.metadata['mobilenetv2']!) as { config: { alpha: number } }).config.alpha, 0.25);
  const pth = readPth(Buffer.from(r.files['pth']!, 'base64'), 'page.pth');
  assert.deepEqual(pth.get('classifier.1.weight')!.shape, [3, 320]);
  const onnx = fromOnnx(Buffer.from(r.files['onnx']!, 'base64'));
  assert.deepEqual(onnx.graph!.input![0]!.type!.tensorType!.shape!.dim!.slice(1).map((d) => Number(d.dimValue)), [3, 32, 32]);
});
