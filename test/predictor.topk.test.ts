// topk: best first, ties to the lower index, and classes left out of the ranking (a TF head's background).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { topk } from '../src/infer/predictor.js';
import { float32 } from '../src/tensor.js';

const p = float32([2, 5], [0.1, 0.4, 0.2, 0.2, 0.1, 0.5, 0.1, 0.3, 0.05, 0.05]);
const z = float32([2, 5], [1, 4, 2, 2, 1, 5, 1, 3, 0, 0]);

test('topk ranks each row, ties by lower index, with probabilities and logits', () => {
  assert.deepEqual(topk(p, z, 3).map((r) => r.map((t) => t.index)), [[1, 2, 3], [0, 2, 1]]);
  assert.deepEqual(topk(p, z, 1)[1], [{ index: 0, probability: p.data[5], logit: 5 }]);
  assert.equal(topk(p, z, 9)[0]!.length, 5, 'k is capped at the number of classes');
});

test('topk skips the classes it is told to (class 0 of a 1001-class head) without changing probabilities', () => {
  const rows = topk(p, z, 3, [0]);
  assert.deepEqual(rows.map((r) => r.map((t) => t.index)), [[1, 2, 3], [2, 1, 3]]);
  assert.equal(rows[1]![0]!.probability, p.data[7]);
  assert.equal(topk(p, z, 9, [0])[0]!.length, 4);
});
