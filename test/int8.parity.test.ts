// Our int8 graph, run by ONNX Runtime's integer kernels, against an independent reference: the
// same QDQ graph interpreted in float64 from the ONNX operator definitions by
// tools/gen_int8_fixtures.py (numpy + torch's conv2d, checked against torch's fake-quantize op),
// every QuantizeLinear output compared integer by integer. The network: MobileNetV2's first four
// blocks with the real Coral weights (test/helpers/int8.ts), two real photos at 32x32.
//
// HINT: when the quantizer changes what it emits on purpose, rewrite the graph and its input with
//   MOBILENETV2_WRITE_INT8_FIXTURE=1 node --test dist/test/int8.parity.test.js
// then the reference with   /usr/bin/python3 tools/gen_int8_fixtures.py
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { graphFromOnnx } from '../src/onnx/import.js';
import { fromOnnx, toOnnx } from '../src/onnx/export.js';
import { nodeBackend } from '../src/platform/node/ort.js';
import { loadBatch } from '../src/platform/node/image.js';
import { withInputSize } from '../src/data/transforms.js';
import { writeSafetensors } from '../src/weights/safetensors.js';
import { INT8_FIXTURES, readFixture, tinyInt8, TINY_PHOTOS, TINY_SIZE } from './helpers/int8.js';
import { REAL } from './helpers/views.js';

const WRITE = process.env['MOBILENETV2_WRITE_INT8_FIXTURE'] === '1';

test('int8 fixture: rewritten only on purpose', { skip: !WRITE }, async () => {
  writeFileSync(join(INT8_FIXTURES, 'tiny.int8.onnx'), await tinyInt8());
  const { tensor } = await loadBatch(TINY_PHOTOS.map((p) => join(REAL, 'photos', p)), withInputSize('torchvision-v1', TINY_SIZE));
  writeFileSync(join(INT8_FIXTURES, 'input.safetensors'), writeSafetensors(new Map([['input', tensor]]), { photos: JSON.stringify(TINY_PHOTOS), preset: 'torchvision-v1 at 32' }));
  console.log('# wrote tiny.int8.onnx and input.safetensors: now run /usr/bin/python3 tools/gen_int8_fixtures.py');
});

test('the quantizer still emits the committed graph (same recipe, same bytes)', { skip: WRITE }, async () => {
  const committed = readFileSync(join(INT8_FIXTURES, 'tiny.int8.onnx'));
  const now = await tinyInt8();
  assert.ok(Buffer.compare(Buffer.from(now), committed) === 0, 'tiny.int8.onnx differs from what quantize emits now: if that is on purpose, see the HINT at the top of this file');
});

test('ONNX Runtime integer kernels vs the float64 reference: every integer within one step, almost all exact', { skip: WRITE }, async () => {
  const bytes = readFileSync(join(INT8_FIXTURES, 'tiny.int8.onnx'));
  const ref = readFixture('reference.safetensors');
  const input = readFixture('input.safetensors').get('input')!;
  // every QuantizeLinear output as a graph output too
  const { graph: g } = graphFromOnnx(bytes, 'tiny.int8.onnx');
  const probes = g.nodes.filter((n) => n.op === 'QuantizeLinear').map((n) => n.outputs[0]!);
  for (const v of probes) g.output(v);
  const dump = join(tmpdir(), `mnv2-int8-parity-${process.pid}.onnx`);
  const s = await nodeBackend.createSession(toOnnx(g), { threads: 1, optimizedModelFilePath: dump });
  const out = await s.run({ input }, [...probes.map((v) => v.name), 'logits', 'embedding']);
  await s.release();
  // the probes did not stop the fusion: every conv is a QLinearConv
  const ops = (fromOnnx(readFileSync(dump)).graph?.node ?? []).map((n) => n.opType);
  assert.equal(ops.filter((o) => o === 'QLinearConv').length, g.nodes.filter((n) => n.op === 'Conv').length, `ORT ran: ${ops.join(', ')}`);
  assert.ok(!ops.includes('Conv'), 'no float Conv left');
  let total = 0;
  let off = 0;
  let worst = 0;
  for (const v of probes) {
    const want = ref.get(`q.${v.name}`)!.data as Float32Array;
    const got = out[v.name]!.data as Uint8Array;
    assert.equal(got.length, want.length, v.name);
    for (let i = 0; i < want.length; i++) {
      const d = Math.abs(got[i]! - want[i]!);
      if (d > 0) off++;
      worst = Math.max(worst, d);
    }
    total += want.length;
  }
  console.log(`# int8 parity: ${probes.length} quantized tensors, ${total} integers: ${off} one step off the float64 reference (${((100 * off) / total).toFixed(3)}%), worst ${worst} step`);
  assert.ok(worst <= 1, `an integer is ${worst} steps from the reference`);
  assert.ok(off / total <= 0.005, `${off} of ${total} integers differ from the reference`);
  const logits = out['logits']!.data as Float32Array;
  const want = ref.get('logits')!.data as Float32Array;
  const scale = Math.max(...Array.from(want, Math.abs));
  const diff = Math.max(...Array.from(want, (w, i) => Math.abs(w - logits[i]!)));
  console.log(`# int8 parity: logits within ${diff.toExponential(2)} of the reference (largest |logit| ${scale.toFixed(3)})`);
  assert.ok(diff <= 0.02 * scale, `logits differ by ${diff}`);
});
