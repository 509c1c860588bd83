// summary() against torchsummary printouts made by real torchsummary logic on the real PyTorch
// seed model (tools/torchsummary_logic.py). HINT: regenerate with /usr/bin/python3 tools/gen_fixtures.py.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { MobileNetV2 } from '../src/models/mobilenetv2.js';
import { fixed2, summary } from '../src/models/summary.js';

const dir = new URL('../../test/fixtures/summary/', import.meta.url);
const index = JSON.parse(readFileSync(new URL('index.json', dir), 'utf8')) as {
  goldens: { file: string; model: string; alpha: number; num_classes: number; last_channel: 'seed' | 'paper'; input_size: [number, number, number]; rows: number; macs: number }[];
};

for (const gold of index.goldens.filter((g) => g.model === 'seed')) {
  test(`summary equals torchsummary: ${gold.file}`, () => {
    const model = new MobileNetV2({ alpha: gold.alpha, numClasses: gold.num_classes, lastChannel: gold.last_channel });
    const s = summary(model, gold.input_size);
    assert.equal(s.text, readFileSync(new URL(gold.file, dir), 'utf8'));
    assert.equal(s.rows.length, gold.rows);
    assert.equal(s.macs, gold.macs);
  });
}

test('the seed main: MobileNetV2x100 at 3x224x224 has 3,504,872 parameters and 300,774,272 multiply-adds', () => {
  const s = summary(new MobileNetV2(), [3, 224, 224]);
  assert.equal(s.totalParams, 3504872);
  assert.equal(s.macs, 300774272);
  assert.equal(s.rows[0]!.name, 'Conv2d-1');
  assert.deepEqual(s.rows[0]!.outputShape, [-1, 32, 112, 112]);
  assert.equal(s.rows.at(-1)!.name, 'Linear-159');
});

test('summary keeps the model in its mode', () => {
  const m = new MobileNetV2({ alpha: 0.25 });
  summary(m, [3, 64, 64]);
  assert.equal(m.training, true);
});

test('fixed2 rounds exact ties to even as Python does', () => {
  assert.equal(fixed2(0.125), '0.12');
  assert.equal(fixed2(0.375), '0.38');
  assert.equal(fixed2(152.875), '152.88');
  assert.equal(fixed2(0.574), '0.57');
});

test('BAD CALL - summary with an input below 32 pixels', () => {
  assert.throws(() => summary(new MobileNetV2({ alpha: 0.25 }), [3, 31, 64]), /input size must be an integer >= 32/);
});
