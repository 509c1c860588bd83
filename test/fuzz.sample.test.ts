// A small seeded sample of `npm run fuzz` (bench/fuzz.ts): 250 cases of each parser of untrusted
// bytes (safetensors, .pth zip and legacy, the pickle VM, JSON configs, images, BMP), each in a
// child process, and not one finding: no untyped error, no case over 5 s, no crash, no
// allocation beyond 64x the input + 8 MB. The full run is 10,000 cases a parser.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ALL_TARGETS, runFuzz, table } from '../bench/fuzz.js';

test('fuzz sample: 250 seeded cases of every parser, 0 findings', { timeout: 180_000 }, async () => {
  const { reports, findings, warnings } = await runFuzz({ cases: 250, seed: 20261201 });
  assert.deepEqual(reports.map((r) => r.parser), [...ALL_TARGETS]);
  for (const r of reports) assert.equal(r.cases, 250, `${r.parser}: every case ran`);
  assert.deepEqual(warnings, [], 'every seed that should parse parses');
  assert.deepEqual(findings, [], `findings:\n${findings.map((f) => `${f.parser} #${f.index} ${f.kind}: ${f.detail} [${f.seed}; ${f.how?.join(', ')}]`).join('\n')}\n${table(reports)}`);
  // the mutations reach past the first checks: some cases of every parser are accepted
  for (const r of reports) assert.ok(r.accepted > 0 && r.typedErrors > 0, `${r.parser}: ${r.accepted} accepted, ${r.typedErrors} refused`);
});
