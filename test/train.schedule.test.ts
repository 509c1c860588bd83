// Learning-rate schedules: linear warm-up, then cosine to the floor, step decay by thirds, or constant.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { learningRate } from '../src/train/schedule.js';

test('cosine: warm-up rises linearly to the peak, then half a cosine down to minLr', () => {
  const o = { name: 'cosine' as const, lr: 0.1, totalSteps: 110, warmupSteps: 10 };
  assert.ok(Math.abs(learningRate(0, o) - 0.01) < 1e-12);
  assert.ok(Math.abs(learningRate(9, o) - 0.1) < 1e-12);
  assert.ok(Math.abs(learningRate(10, o) - 0.1) < 1e-12);
  assert.ok(Math.abs(learningRate(60, o) - 0.05) < 1e-12, 'half-way is half the peak');
  assert.ok(learningRate(109, o) < 1e-4);
  for (let s = 11; s < 110; s++) assert.ok(learningRate(s, o) <= learningRate(s - 1, o), 'never rises after warm-up');
});

test('step: x0.1 at each third of training by default; constant stays put', () => {
  const o = { name: 'step' as const, lr: 1, totalSteps: 90 };
  assert.deepEqual([0, 29, 30, 59, 60, 89].map((s) => +learningRate(s, o).toPrecision(6)), [1, 1, 0.1, 0.1, 0.01, 0.01]);
  assert.equal(learningRate(50, { name: 'constant', lr: 0.3, totalSteps: 90 }), 0.3);
});

test('BAD CALL - an unknown schedule is named', () => {
  assert.throws(() => learningRate(0, { name: 'linear' as never, lr: 1, totalSteps: 1 }), /Unsupported schedule: "linear"/);
});
