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
import { openSite, type Site } from './helpers/browser.js';
import { freshDir } from './helpers/cli.js';

const SPEC = { alpha: 0.25, numClasses: 10, lastChannel: 'seed' as const };
let site: Site;
let dir: string;

before(async () => {
  dir = freshDir();
  const m = new MobileNetV2(SPEC);
  writeFileSync(join(dir, 'w.safetensors'), writeSafetensors(parityStateDict(m.stateDict())));
  site = await openSite('/blank.html', { mounts: { '/run/': dir } }, { webgpu: true });
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
