// A fresh machine sees real learning with nothing downloaded: `mobilenetv2 train --demo` draws 10
// classes of shapes and colours and trains a small MobileNetV2 (alpha 0.35, 64x64) from scratch;
// the validation accuracy must reach 90%. About 1.5 minutes on 2 cores.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli, freshDir } from './helpers/cli.js';

test('train --demo learns: validation accuracy >= 90% at the end, curves and metrics written', () => {
  const dir = freshDir();
  const r = cli(['train', '--demo', '--out', join(dir, 'run')], dir, 600_000);
  assert.equal(r.code, 0, r.stderr);
  const metrics = readFileSync(join(dir, 'run', 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>);
  assert.equal(metrics.length, 20);
  const last = metrics.at(-1)!;
  console.log(`# demo: validation accuracy by epoch ${metrics.map((m) => (100 * m['val_acc']!).toFixed(0)).join(' ')}`);
  assert.ok(last['val_acc']! >= 0.9, `final validation accuracy ${last['val_acc']}`);
  assert.ok(metrics[0]!['val_acc']! < 0.5, 'it starts from chance, so the accuracy is learnt');
  assert.match(r.stderr, /validation accuracy \d+\.\d% \(best/);
  assert.equal(readFileSync(join(dir, 'run', 'curves.png')).subarray(1, 4).toString(), 'PNG');
});
