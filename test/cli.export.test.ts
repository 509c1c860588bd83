// `mobilenetv2 export` as a child process: the .pth and .safetensors it writes read back (with our
// readers) as the seeded model's 314 tensors, bit for bit, with PyTorch's keys, order and shapes;
// the ONNX is opset 17 with input N x 3 x 64 x 64. No output flag is exit 2; a missing folder exit 3.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MobileNetV2 } from '../src/models/mobilenetv2.js';
import type onnxProto from 'onnx-proto';
import { fromOnnx } from '../src/onnx/export.js';
import type { StateDict, Tensor } from '../src/tensor.js';
import { readPth } from '../src/weights/pth.js';
import { readSafetensors } from '../src/weights/safetensors.js';
import { fixturePath } from './helpers/parity.js';
import { cli, assertOneLine, freshDir } from './helpers/cli.js';

interface Case { name: string; state_dict: [string, 'F32' | 'I64', number[]][] }
const { cases } = JSON.parse(readFileSync(fixturePath('parity', 'cases.json'), 'utf8')) as { cases: Case[] };
const pytorch = cases.find((k) => k.name === 'a0.25_c10_seed')!.state_dict; // the PyTorch seed model's [key, dtype, shape]

const bytesOf = (t: Tensor): Buffer => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);

/** Same keys in the same order, same dtypes, shapes and bits. */
function assertSameStateDict(got: StateDict, want: StateDict, file: string): void {
  assert.deepEqual([...got.keys()], [...want.keys()], `${file}: keys and order`);
  for (const [key, w] of want) {
    const g = got.get(key)!;
    assert.equal(g.dtype, w.dtype, `${file}: ${key} dtype`);
    assert.deepEqual(g.shape, w.shape, `${file}: ${key} shape`);
    assert.ok(bytesOf(g).equals(bytesOf(w)), `${file}: ${key} values differ`);
  }
}

test('export --alpha 0.25 --num-classes 10 --pth --safetensors --onnx --input-size 64 writes the seeded model', () => {
  const cwd = freshDir();
  const r = cli(['export', '--alpha', '0.25', '--num-classes', '10', '--pth', 'a.pth', '--safetensors', 'a.safetensors', '--onnx', 'a.onnx', '--input-size', '64'], cwd);
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /mobilenetv2: /);
  assert.deepEqual(readdirSync(cwd).sort(), ['a.onnx', 'a.pth', 'a.safetensors'], 'the three files and nothing else');

  const want = new MobileNetV2({ alpha: 0.25, numClasses: 10, lastChannel: 'seed', seed: 0 }).stateDict();
  assert.equal(want.size, 314);
  assert.deepEqual([...want].map(([k, t]) => [k, t.dtype === 'float32' ? 'F32' : 'I64', t.shape]), pytorch, "the model has PyTorch's keys and shapes");
  assertSameStateDict(readPth(readFileSync(join(cwd, 'a.pth')), 'a.pth'), want, 'a.pth');
  assertSameStateDict(readSafetensors(readFileSync(join(cwd, 'a.safetensors')), 'a.safetensors').tensors, want, 'a.safetensors');

  const onnx = fromOnnx(readFileSync(join(cwd, 'a.onnx')));
  assert.deepEqual(onnx.opsetImport.map((o) => [o.domain ?? '', Number(o.version)]), [['', 17]]);
  const graph = onnx.graph!;
  const dims = (v: onnxProto.onnx.IValueInfoProto) => v.type!.tensorType!.shape!.dim!.map((d) => d.dimParam || Number(d.dimValue));
  assert.deepEqual(graph.input!.map((v) => [v.name, dims(v)]), [['input', ['N', 3, 64, 64]]]);
  assert.deepEqual(graph.output!.map((v) => [v.name, dims(v)]), [['logits', ['N', 10]]]);
});

test('BAD CALL - export with no output flag is exit 2, one line, and writes nothing', () => {
  const cwd = freshDir();
  const r = cli(['export', '--alpha', '0.25'], cwd);
  assertOneLine(r, 2, '--onnx', '--safetensors', '--pth');
  assert.deepEqual(readdirSync(cwd), []);
});

test('BAD CALL - export into a folder that does not exist is exit 3 naming the file, and writes nothing', () => {
  const cwd = freshDir();
  const r = cli(['export', '--alpha', '0.25', '--num-classes', '10', '--safetensors', join('missing', 'a.safetensors')], cwd);
  assertOneLine(r, 3, join('missing', 'a.safetensors'));
  assert.deepEqual(readdirSync(cwd), [], 'no folder created, no temporary file');
});

test('BAD CALL - export with one good and one missing output folder writes neither', () => {
  const cwd = freshDir();
  const r = cli(['export', '--alpha', '0.25', '--num-classes', '10', '--onnx', 'ok.onnx', '--pth', join('missing', 'a.pth')], cwd);
  assertOneLine(r, 3, join('missing', 'a.pth'));
  assert.deepEqual(readdirSync(cwd), [], 'ok.onnx not written either');
});
