// Checkpoints saved by the real transformers 5.17 and timm 1.0.29 (random weights, random BN
// statistics), loaded through our key maps and run by ONNX Runtime: our logits must equal the
// logits those libraries computed on the same inputs to <= 1e-4 max abs, at odd and even sizes,
// BN folded and not. hf_d0.35_96_c10 and timm_mobilenetv2_035_c10 are committed; the others are
// read from ../shared/fixtures and skipped, loudly, when it is absent.
// HINT: the fixtures come from ../shared/fixtures (see its README); never regenerated here.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { inferenceOnnx } from '../src/infer/graph.js';
import { loadCheckpoint } from '../src/platform/node/weights.js';
import { nodeBackend } from '../src/platform/node/ort.js';
import { readWeightsFile } from '../src/platform/node/weights.js';
import { readSafetensors } from '../src/weights/safetensors.js';
import { readFileSync } from 'node:fs';
import { expandFixture, hasShared, SHARED, sharedManifest } from './helpers/interop.js';
import { maxAbsDiff } from './helpers/parity.js';


// mobilenetv2_110d (22 blocks, random BN statistics) is at float32's noise floor: evaluated in
// float64 by torch 1.13 on the same weights, its logits are 0.76e-4 / 1.03e-4 (sizes 64 / 65)
// from timm's own float32 reference, and torch 1.13's float32 is 0.97e-4 / 0.90e-4 from it
// (measured; docs/interop.md). Ours is held to the same 2e-4 there, 1e-4 everywhere else.
const TOLERANCE: Record<string, number> = { timm_mobilenetv2_110d_c10: 2e-4 };

/** Worst error over the io file's sizes, BN folded and not; asserts each <= the tolerance. */
async function checkFolder(name: string, dir: string, expectParams?: number): Promise<number> {
  const tol = TOLERANCE[name] ?? 1e-4;
  const { model, family } = await loadCheckpoint(dir);
  if (expectParams !== undefined) {
    const params = model.namedParameters().reduce((s, [, p]) => s + p.data.data.length, 0);
    assert.equal(params, expectParams, `${name}: parameter count`);
  }
  const io = readSafetensors(readFileSync(join(dir, 'io.safetensors')), 'io.safetensors').tensors;
  let worst = 0;
  for (const key of io.keys()) {
    if (!key.startsWith('input_')) continue;
    const size = Number(key.slice(6));
    const x = io.get(key)!;
    const want = io.get(`logits_${size}`)!;
    for (const foldBN of [true, false]) {
      const s = await nodeBackend.createSession(inferenceOnnx(model, { inputSize: size, foldBN }));
      const { logits } = await s.run({ input: x });
      await s.release();
      const err = maxAbsDiff(logits!, want);
      assert.ok(err <= tol, `${name} (${family}) at ${size}x${size}, foldBN=${foldBN}: max abs error ${err}`);
      worst = Math.max(worst, err);
    }
  }
  console.log(`# ${name}: worst |logits - reference| = ${worst.toExponential(2)}`);
  return worst;
}

test('transformers hf_d0.35_96_c10 (committed; tf_padding, eps 1e-3, 96 and 97): logits equal transformers to 1e-4', async () => {
  await checkFolder('hf_d0.35_96_c10', expandFixture('hf'), 408938);
});

test('timm mobilenetv2_035 (committed; 64 and 65): logits equal timm to 1e-4', async () => {
  await checkFolder('timm_mobilenetv2_035_c10', expandFixture('timm'), 408938);
});

test('a timm file alone: the variant is read off its shapes', async () => {
  const dir = expandFixture('timm');
  const { model, family, preset } = await loadCheckpoint(join(dir, 'model.safetensors'));
  assert.equal(family, 'timm');
  assert.equal(model.alpha, 0.35);
  assert.equal(preset, 'timm');
});

const cases = hasShared ? Object.entries(sharedManifest()) : [];
test('every ../shared reference checkpoint: logits equal transformers / timm to 1e-4 (110d: 2e-4, its float32 noise floor)', { skip: hasShared ? false : `SKIPPED: ${SHARED} not found (the shared reference fixtures)` }, async (t) => {
  for (const [name, c] of cases) {
    await t.test(name, async () => {
      await checkFolder(name, join(SHARED, name), c.params);
    });
  }
});

test('a transformers state-dict file without its config is refused with the reason', { skip: hasShared ? false : 'SKIPPED: ../shared/fixtures not found' }, async () => {
  await assert.rejects(loadCheckpoint(join(SHARED, 'hf_d0.35_96_c10', 'model.safetensors')), /pass its folder \(with config\.json\)/);
  assert.ok(readWeightsFile(join(SHARED, 'hf_d0.35_96_c10', 'model.safetensors')).size > 0);
});
