// WebGPU in real Chromium through its software adapter (--enable-unsafe-webgpu: SwiftShader; right
// for correctness on small shapes, meaningless for speed): onnxruntime-web's WebGPU provider runs
// our inference graph with Node's logits, and a small training step (with the depthwise weight
// gradient formulated for WebGPU) with Node's loss and gradients. A page without WebGPU falls
// back to WASM and says why.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MobileNetV2 } from '../src/models/mobilenetv2.js';
import { nodeBackend } from '../src/platform/node/ort.js';
import { Predictor } from '../src/infer/predictor.js';
import { writeSafetensors } from '../src/weights/safetensors.js';
import { float32 } from '../src/tensor.js';
import { parityFill, parityStateDict } from './helpers/parity.js';
import { openSite, ROOT, stepInPage, type Site } from './helpers/browser.js';
import { Trainer } from '../src/train/step.js';
import { fixturePath, maxAbs, readFixtureSafetensors, relErr } from './helpers/parity.js';
import { freshDir } from './helpers/cli.js';

const SPEC = { alpha: 0.25, numClasses: 10, lastChannel: 'seed' as const };
// the training parity fixture's model (test/train.parity.test.ts): dropout 0.2, parity-filled weights
const STEP = { ...SPEC, dropout: 0.2 };
function stepModel(): MobileNetV2 {
  const m = new MobileNetV2(STEP);
  m.loadStateDict(parityStateDict(m.stateDict()));
  return m.train();
}

let site: Site;
let dir: string;

before(async () => {
  dir = freshDir();
  const m = new MobileNetV2(SPEC);
  writeFileSync(join(dir, 'w.safetensors'), writeSafetensors(parityStateDict(m.stateDict())));
  writeFileSync(join(dir, 'start.safetensors'), writeSafetensors(stepModel().stateDict()));
  site = await openSite('/blank.html', { mounts: { '/run/': dir, '/train/': join(ROOT, 'test', 'fixtures', 'train') } }, { webgpu: true });
});
after(() => site?.close());

test('the software WebGPU adapter is there (SwiftShader)', async () => {
  const r = (await site.page.evaluate(async () => (await import('/mobilenetv2.web.js' as string)).webgpuAvailable())) as { ok: boolean; adapter?: string; reason?: string };
  assert.equal(r.ok, true, r.reason);
});

test("inference on WebGPU: logits equal Node's within 1e-4 (parity-filled weights, 2 x 3 x 64 x 64)", async () => {
  const m = new MobileNetV2(SPEC);
  m.loadStateDict(parityStateDict(m.stateDict()));
  const x = float32([2, 3, 64, 64], parityFill('input_webgpu', [2, 3, 64, 64]));
  const p = new Predictor(m.eval(), nodeBackend, { threads: 1 });
  const want = (await p.run(x, ['logits'])).logits.data as Float32Array;
  await p.release();
  writeFileSync(join(dir, 'x.safetensors'), writeSafetensors(new Map([['input', x]])));
  const r = (await site.page.evaluate(async (spec) => {
    const lib = await import('/mobilenetv2.web.js' as string);
    const read = async (u: string) => lib.readSafetensors(new Uint8Array(await (await fetch(u)).arrayBuffer()), u).tensors;
    const model = await lib.load({ weights: '/run/w.safetensors', device: 'webgpu', alpha: spec.alpha, classes: spec.numClasses });
    const x = (await read('/run/x.safetensors')).get('input');
    const logits = Array.from((await model.infer(x)).data as Float32Array);
    const used = lib.webPlatform.backend.used;
    await model.dispose();
    return { logits, used };
  }, SPEC)) as { logits: number[]; used: string };
  assert.equal(r.used, 'webgpu', 'the session ran on WebGPU, not the WASM fallback');
  const diff = Math.max(...r.logits.map((v, i) => Math.abs(v - want[i]!)));
  assert.ok(diff <= 1e-4, `logits differ from Node's by ${diff}`);
});

test('without WebGPU, device webgpu falls back to WASM and says why once', async () => {
  const plain = await openSite('/blank.html', { mounts: { '/run/': dir } });
  try {
    const r = (await plain.page.evaluate(async (spec) => {
      const lib = await import('/mobilenetv2.web.js' as string);
      const model = await lib.load({ weights: '/run/w.safetensors', device: 'webgpu', alpha: spec.alpha, classes: spec.numClasses });
      const out = await model.infer(lib.float32([1, 3, 64, 64]));
      await model.dispose();
      return out.shape;
    }, SPEC)) as number[];
    assert.deepEqual(r, [1, 10]);
    const notes = plain.console.filter((l) => /WebGPU unavailable, running on WASM instead/.test(l));
    assert.equal(notes.length, 1, plain.console.join('\n'));
    assert.match(notes[0]!, /no WebGPU adapter|navigator\.gpu is undefined/);
  } finally {
    await plain.close();
  }
});

test("a training step on WebGPU (the depthwise weight gradient by strided slices there): loss and every gradient equal Node's and PyTorch's", async () => {
  const inputs = readFixtureSafetensors(fixturePath('train', 'inputs.safetensors')).tensors;
  const torch = readFixtureSafetensors(fixturePath('train', 'step0.safetensors'));
  const zero = new Set(JSON.parse(torch.metadata['zero_grad_keys'] ?? '[]') as string[]);
  const tr = new Trainer(stepModel(), nodeBackend, { optimizer: { name: 'sgd' }, numClasses: 10, inputSize: 64, outputGradients: true, threads: 1 });
  const node = await tr.train(inputs.get('input')!, Array.from(inputs.get('labels')!.data as BigInt64Array, Number), 0.1, new Map([['dropout.classifier.0', inputs.get('mask_0')!]]));
  await tr.release();
  const page = await stepInPage(site.page, STEP, 'webgpu');
  assert.equal(site.console.filter((l) => /running on WASM instead/.test(l)).length, 0, 'ran on WebGPU');
  const loss = page.get('loss')!.data[0] as number;
  assert.ok(Math.abs(loss - node.loss) / node.loss <= 1e-5, `loss ${loss} on WebGPU, ${node.loss} in Node`);
  const grads = [...page].filter(([k]) => k.startsWith('grad.'));
  assert.equal(grads.length, node.grads!.size);
  const scale = Math.max(...grads.map(([, g]) => maxAbs(g)));
  let worst = 0;
  for (const [k, g] of grads) {
    const key = k.slice(5);
    if (zero.has(key)) {
      assert.ok(maxAbs(g) <= 1e-4 * scale, `${k} ~0`);
      continue;
    }
    const e = Math.max(relErr(g, node.grads!.get(key)!), relErr(g, torch.tensors.get(k)!));
    worst = Math.max(worst, e);
    assert.ok(e <= 1e-4, `${k}: ${e} from Node's or PyTorch's${/conv\.\d\.0\.weight|conv\.1\.0\.weight/.test(key) ? ' (a depthwise weight)' : ''}`);
  }
  console.log(`# WebGPU step: worst gradient error ${worst.toExponential(2)} (vs Node and PyTorch, at tensor scale)`);
});
