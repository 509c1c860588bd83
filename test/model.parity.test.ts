// Our MobileNetV2 against the real PyTorch seed model (tools/seed_model.py): state-dict keys,
// order, shapes and parameter counts, and eval logits of parity-filled weights on 2x3x64x64 and
// 1x3x97x97 inputs, with and without BatchNorm folding, to max abs error <= 1e-4.
// HINT: fixtures are regenerated on purpose with /usr/bin/python3 tools/gen_fixtures.py.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { MobileNetV2 } from '../src/models/mobilenetv2.js';
import { inferenceOnnx } from '../src/infer/graph.js';
import { nodeBackend } from '../src/platform/node/ort.js';
import { fixturePath, parityStateDict, readFixtureSafetensors, maxAbsDiff } from './helpers/parity.js';

interface Case {
  name: string;
  config: { alpha: number; num_classes: number; last_channel: 'seed' | 'paper' };
  last_channel_width: number;
  params: number;
  logits: string;
  state_dict: [string, 'F32' | 'I64', number[]][];
}
const { cases } = JSON.parse(readFileSync(fixturePath('parity', 'cases.json'), 'utf8')) as { cases: Case[] };
const inputs = readFixtureSafetensors(fixturePath('parity', 'inputs.safetensors')).tensors;


const build = (c: Case) => new MobileNetV2({ alpha: c.config.alpha, numClasses: c.config.num_classes, lastChannel: c.config.last_channel });

test('the fixtures cover alpha 0.25-1.4, 1000 and 10 classes, both last-channel rules', () => {
  assert.equal(cases.length, 20);
  assert.deepEqual([...new Set(cases.map((c) => c.config.alpha))].sort(), [0.25, 0.5, 0.75, 1, 1.4]);
});

for (const c of cases) {
  test(`state dict of ${c.name} equals PyTorch's: keys, order, shapes, dtypes, parameter count`, () => {
    const m = build(c);
    const ours = [...m.stateDict()].map(([k, t]) => [k, t.dtype === 'float32' ? 'F32' : 'I64', t.shape]);
    assert.deepEqual(ours, c.state_dict);
    const params = m.namedParameters().reduce((s, [, p]) => s + p.data.data.length, 0);
    assert.equal(params, c.params);
    assert.equal(m.lastChannel, c.last_channel_width);
  });

  test(`logits of ${c.name} match PyTorch to 1e-4 (BN folded and not)`, async () => {
    const m = build(c).eval();
    m.loadStateDict(parityStateDict(m.stateDict()));
    const expected = readFixtureSafetensors(fixturePath('parity', c.logits)).tensors;
    for (const size of [64, 97]) {
      const x = inputs.get(`input_${size}`)!;
      const want = expected.get(`logits_${size}`)!;
      for (const foldBN of [true, false]) {
        const s = await nodeBackend.createSession(inferenceOnnx(m, { inputSize: size, foldBN }));
        const { logits } = await s.run({ input: x });
        await s.release();
        const err = maxAbsDiff(logits!, want);
        assert.ok(err <= 1e-4, `${c.name} at ${size} (foldBN=${foldBN}): max abs error ${err}`);
      }
    }
  });
}
