// export --triton writes a Triton model repository that serves serve's /v2 contract. Triton
// cannot run here, so: the layout Triton loads (<repo>/<name>/config.pbtxt, <repo>/<name>/1/model.onnx),
// config.pbtxt parsed as protobuf text format and checked field by field against Triton's
// ModelConfig schema (the fields a config of an ONNX classifier uses, from model_config.proto in
// triton-inference-server/common) and Triton's rules (dims without the batch dimension when
// max_batch_size > 0; names, types and dims equal to the ONNX graph's), and the ONNX file run by
// ONNX Runtime (what Triton's onnxruntime backend runs) answers what our /v2 infer answers.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { imagenetClasses } from '../src/data/labels.js';
import { MobileNetV2 } from '../src/models/mobilenetv2.js';
import { nodeBackend } from '../src/platform/node/ort.js';
import { startServer } from '../src/serve/server.js';
import { tritonConfig } from '../src/serve/triton.js';
import { float32 } from '../src/tensor.js';
import { writeSafetensors } from '../src/weights/safetensors.js';
import { assertOneLine, assertUsage, cli, freshDir } from './helpers/cli.js';
import { parityStateDict } from './helpers/parity.js';
import { SMALL_PRESET } from './helpers/serve.js';

// -- Triton's ModelConfig schema (model_config.proto), the messages and fields used here: type per field, [] = repeated
const DATA_TYPES = ['TYPE_INVALID', 'TYPE_BOOL', 'TYPE_UINT8', 'TYPE_UINT16', 'TYPE_UINT32', 'TYPE_UINT64', 'TYPE_INT8', 'TYPE_INT16', 'TYPE_INT32', 'TYPE_INT64', 'TYPE_FP16', 'TYPE_FP32', 'TYPE_FP64', 'TYPE_STRING', 'TYPE_BF16'];
type FieldType = 'string' | 'int32' | 'int64' | 'uint64' | 'bool' | { enum: string[] } | { message: string };
const SCHEMA: Record<string, Record<string, { type: FieldType; repeated?: boolean }>> = {
  ModelConfig: {
    name: { type: 'string' },
    platform: { type: 'string' },
    backend: { type: 'string' },
    max_batch_size: { type: 'int32' },
    input: { type: { message: 'ModelInput' }, repeated: true },
    output: { type: { message: 'ModelOutput' }, repeated: true },
    dynamic_batching: { type: { message: 'ModelDynamicBatching' } },
    instance_group: { type: { message: 'ModelInstanceGroup' }, repeated: true },
    default_model_filename: { type: 'string' },
  },
  ModelInput: {
    name: { type: 'string' },
    data_type: { type: { enum: DATA_TYPES } },
    format: { type: { enum: ['FORMAT_NONE', 'FORMAT_NHWC', 'FORMAT_NCHW'] } },
    dims: { type: 'int64', repeated: true },
    is_shape_tensor: { type: 'bool' },
    allow_ragged_batch: { type: 'bool' },
    optional: { type: 'bool' },
  },
  ModelOutput: {
    name: { type: 'string' },
    data_type: { type: { enum: DATA_TYPES } },
    dims: { type: 'int64', repeated: true },
    label_filename: { type: 'string' },
    is_shape_tensor: { type: 'bool' },
  },
  ModelDynamicBatching: {
    preferred_batch_size: { type: 'int32', repeated: true },
    max_queue_delay_microseconds: { type: 'uint64' },
    preserve_ordering: { type: 'bool' },
    priority_levels: { type: 'uint64' },
    default_priority_level: { type: 'uint64' },
  },
  ModelInstanceGroup: {
    name: { type: 'string' },
    kind: { type: { enum: ['KIND_AUTO', 'KIND_GPU', 'KIND_CPU', 'KIND_MODEL'] } },
    count: { type: 'int32' },
    gpus: { type: 'int32', repeated: true },
  },
};

// -- protobuf text format, the subset Triton's configs use: `f: scalar`, `f { ... }`, `f: [ a, b ]`, `f [ {..}, {..} ]`, # comments
type Value = string | number | boolean | { ident: string } | Msg;
interface Msg {
  [field: string]: Value[];
}

function parseText(text: string): Msg {
  const tokens = text.replace(/#[^\n]*/g, '').match(/"(?:[^"\\]|\\.)*"|[{}[\]:,]|[^\s{}[\]:,]+/g) ?? [];
  let i = 0;
  const scalar = (t: string): Value => {
    if (t.startsWith('"')) return JSON.parse(t) as string;
    if (/^-?\d+$/.test(t)) return Number(t);
    if (t === 'true' || t === 'false') return t === 'true';
    if (/^[A-Za-z_]\w*$/.test(t)) return { ident: t };
    throw new Error(`bad token ${t}`);
  };
  const value = (): Value => (tokens[i] === '{' ? (i++, message('}')) : scalar(tokens[i++]!));
  const message = (end?: string): Msg => {
    const m: Msg = {};
    while (i < tokens.length && tokens[i] !== end) {
      const field = tokens[i++]!;
      assert.match(field, /^[a-z_][a-z0-9_]*$/, `a field name, got ${field}`);
      if (tokens[i] === ':') i++;
      const list: Value[] = [];
      if (tokens[i] === '[') {
        i++;
        while (tokens[i] !== ']') {
          list.push(value());
          if (tokens[i] === ',') i++;
        }
        i++;
      } else list.push(value());
      (m[field] ??= []).push(...list);
    }
    if (end) assert.equal(tokens[i++], end);
    return m;
  };
  const m = message();
  assert.equal(i, tokens.length, 'the whole file parses');
  return m;
}

/** Every field is in the schema with the right type; single fields appear once. */
function checkSchema(m: Msg, type: string, path = type): void {
  const fields = SCHEMA[type]!;
  for (const [name, values] of Object.entries(m)) {
    const f = fields[name];
    assert.ok(f, `${path}.${name} is not a field of Triton's ${type}`);
    if (!f.repeated) assert.equal(values.length, 1, `${path}.${name} is not repeated`);
    for (const v of values) {
      const t = f.type;
      if (t === 'string') assert.equal(typeof v, 'string', `${path}.${name}: string`);
      else if (t === 'bool') assert.equal(typeof v, 'boolean', `${path}.${name}: bool`);
      else if (t === 'int32' || t === 'int64' || t === 'uint64') {
        assert.ok(Number.isInteger(v), `${path}.${name}: integer`);
        if (t === 'uint64') assert.ok((v as number) >= 0);
      } else if ('enum' in t) assert.ok(typeof v === 'object' && 'ident' in v && t.enum.includes(v.ident as string), `${path}.${name}: one of ${t.enum.join(' ')}, got ${JSON.stringify(v)}`);
      else checkSchema(v as Msg, t.message, `${path}.${name}`);
    }
  }
}

const one = (m: Msg, f: string): Value => m[f]![0]!;
const ident = (v: Value): string => (v as { ident: string }).ident;

let cwd: string;
before(() => {
  cwd = freshDir();
  writeFileSync(join(cwd, 'small10.safetensors'), writeSafetensors(parityStateDict(new MobileNetV2({ alpha: 0.25, numClasses: 10, lastChannel: 'seed' }).stateDict())));
  writeFileSync(join(cwd, 'small1000.safetensors'), writeSafetensors(parityStateDict(new MobileNetV2({ alpha: 0.25, numClasses: 1000, lastChannel: 'seed' }).stateDict())));
});

test("export --triton: Triton's repository layout; config.pbtxt fits Triton's ModelConfig schema and its rules; the ONNX graph matches the config", async () => {
  const r = cli(['export', '--weights', 'small1000.safetensors', '--input-size', '64', '--triton', 'repo', '--name', 'tiny', '--max-batch', '8', '--max-delay-ms', '5'], cwd);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /wrote the Triton model repository repo: tiny\/1\/model\.onnx, tiny\/config\.pbtxt, tiny\/labels\.txt \(model "tiny", input \[N, 3, 64, 64\], max batch 8\)/);
  const dir = join(cwd, 'repo', 'tiny');
  assert.deepEqual(readdirSync(dir).sort(), ['1', 'config.pbtxt', 'labels.txt']);
  assert.deepEqual(readdirSync(join(dir, '1')), ['model.onnx']);
  const text = readFileSync(join(dir, 'config.pbtxt'), 'utf8');
  const cfg = parseText(text);
  checkSchema(cfg, 'ModelConfig');
  assert.equal(one(cfg, 'name'), 'tiny', 'the name is the folder name (Triton requires it)');
  assert.equal(one(cfg, 'platform'), 'onnxruntime_onnx');
  assert.equal(one(cfg, 'max_batch_size'), 8);
  const input = one(cfg, 'input') as Msg;
  const output = one(cfg, 'output') as Msg;
  assert.equal(cfg['input']!.length, 1);
  assert.equal(cfg['output']!.length, 1);
  assert.deepEqual([one(input, 'name'), ident(one(input, 'data_type')), ident(one(input, 'format')), input['dims']], ['input', 'TYPE_FP32', 'FORMAT_NCHW', [3, 64, 64]]);
  assert.deepEqual([one(output, 'name'), ident(one(output, 'data_type')), output['dims'], one(output, 'label_filename')], ['logits', 'TYPE_FP32', [1000], 'labels.txt']);
  assert.equal(one(one(cfg, 'dynamic_batching') as Msg, 'max_queue_delay_microseconds'), 5000);
  assert.deepEqual(readFileSync(join(dir, 'labels.txt'), 'utf8').split('\n'), [...imagenetClasses(), ''], 'one label per line, in class order');

  // the ONNX graph: what Triton's onnxruntime backend checks against the config (names, FP32, dims; the batch dimension dynamic)
  const model = onnxProto.onnx.ModelProto.decode(readFileSync(join(dir, '1', 'model.onnx')));
  const dims = (v: onnxProto.onnx.IValueInfoProto) => v.type!.tensorType!.shape!.dim!.map((d) => (d.dimParam ? -1 : Number(d.dimValue)));
  assert.deepEqual(model.graph!.input!.map((v) => [v.name, v.type!.tensorType!.elemType, dims(v)]), [['input', onnxProto.onnx.TensorProto.DataType.FLOAT, [-1, ...(input['dims'] as number[])]]]);
  assert.deepEqual(model.graph!.output!.map((v) => [v.name, v.type!.tensorType!.elemType, dims(v)]), [['logits', onnxProto.onnx.TensorProto.DataType.FLOAT, [-1, ...(output['dims'] as number[])]]]);

  // a model without class names gets no label_filename (nor labels.txt)
  const r10 = cli(['export', '--weights', 'small10.safetensors', '--input-size', '64', '--triton', 'repo10'], cwd);
  assert.equal(r10.code, 0, r10.stderr);
  const cfg10 = readFileSync(join(cwd, 'repo10', 'mobilenetv2', 'config.pbtxt'), 'utf8');
  checkSchema(parseText(cfg10), 'ModelConfig');
  assert.match(cfg10, /dims: \[ 10 \]/);
  assert.doesNotMatch(cfg10, /label_filename/);
  assert.equal(existsSync(join(cwd, 'repo10', 'mobilenetv2', 'labels.txt')), false);
});

test("the repository's ONNX file, run by ONNX Runtime, gives the logits serve's /v2 infer gives for the same tensor", async () => {
  const r = cli(['export', '--weights', 'small10.safetensors', '--input-size', '64', '--triton', 'same'], cwd);
  assert.equal(r.code, 0, r.stderr);
  const session = await nodeBackend.createSession(readFileSync(join(cwd, 'same', 'mobilenetv2', '1', 'model.onnx')), { threads: 1 });
  const m = new MobileNetV2({ alpha: 0.25, numClasses: 10, lastChannel: 'seed' });
  m.loadStateDict(parityStateDict(m.stateDict()));
  const server = await startServer({ model: m.eval(), preset: SMALL_PRESET, port: 0, threads: 1, maxBatch: 8 });
  try {
    const x = Float32Array.from({ length: 3 * 3 * 64 * 64 }, (_, i) => Math.sin(i * 0.37) * 2); // (3, 3, 64, 64)
    const triton = (await session.run({ input: float32([3, 3, 64, 64], x) }, ['logits']))['logits']!;
    const res = await fetch(`${server.url}/v2/models/mobilenetv2/infer`, { method: 'POST', body: JSON.stringify({ inputs: [{ name: 'input', shape: [3, 3, 64, 64], datatype: 'FP32', data: Array.from(x) }] }) });
    const out = ((await res.json()) as { outputs: { name: string; shape: number[]; data: number[] }[] }).outputs[0]!;
    assert.deepEqual([out.name, out.shape], ['logits', [3, 10]]);
    const worst = out.data.reduce((w, v, i) => Math.max(w, Math.abs(v - (triton.data as Float32Array)[i]!)), 0);
    assert.equal(worst, 0, `max abs difference ${worst}`); // the same graph: serve's session only adds outputs
  } finally {
    await server.drain();
    await session.release();
  }
});

test('tritonConfig and export --triton refuse what Triton cannot load', () => {
  assert.throws(() => tritonConfig({ name: 'a b', inputSize: 224, maxBatch: 8, maxDelayMs: 1, classes: 10 }), RangeError);
  assert.throws(() => tritonConfig({ name: 'a', inputSize: 224, maxBatch: 0, maxDelayMs: 1, classes: 10 }), RangeError);
  assertOneLine(cli(['export', '--weights', 'small10.safetensors', '--triton', 'r', '--batch', '4'], cwd), 2, '--triton', '--batch');
  assertOneLine(cli(['export', '--weights', 'small10.safetensors', '--triton', 'r', '--name', 'x/y'], cwd), 2, '--name', 'x/y');
  assertUsage(cli(['export', '--triton', 'r', '--max-delay-ms', 'soon'], cwd), '--max-delay-ms');
});
