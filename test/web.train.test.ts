// Training in real Chromium on onnxruntime-web (WASM): one step of a small MobileNetV2 (alpha
// 0.25, 64x64, batch 4, 10 classes, the parity-filled weights, dropout masks given) in the page
// equals the same step in Node and PyTorch's (tools/gen_train_fixtures.py): loss, logits, every
// gradient at its tensor's scale, the updated parameters and running statistics. The errors are
// measured as in test/train.parity.test.ts: max_i |a_i - b_i| / max|b|, within the same 1e-4
// (WASM's kernels and Node's AVX-512 ones sum in other orders: 2.7e-5 apart on the logits).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MobileNetV2 } from '../src/models/mobilenetv2.js';
import { nodeBackend } from '../src/platform/node/ort.js';
import { Trainer, type StepResult } from '../src/train/step.js';
import { writeSafetensors } from '../src/weights/safetensors.js';
import type { StateDict, Tensor } from '../src/tensor.js';
import { fixturePath, maxAbs, parityStateDict, readFixtureSafetensors, relErr } from './helpers/parity.js';
import { openSite, ROOT, stepInPage, type Site } from './helpers/browser.js';
import { freshDir } from './helpers/cli.js';

const TOL = 1e-4;
const inputs = readFixtureSafetensors(fixturePath('train', 'inputs.safetensors')).tensors;
const torch = readFixtureSafetensors(fixturePath('train', 'step0.safetensors'));
const zero = new Set(JSON.parse(torch.metadata['zero_grad_keys'] ?? '[]') as string[]);

const spec = { alpha: 0.25, numClasses: 10, lastChannel: 'seed' as const, dropout: 0.2 };
function model(): MobileNetV2 {
  const m = new MobileNetV2(spec);
  m.loadStateDict(parityStateDict(m.stateDict()));
  return m.train();
}



let site: Site;
let node: { r: StepResult; after: StateDict };
let page: Map<string, Tensor>;

before(async () => {
  const dir = freshDir();
  writeFileSync(join(dir, 'start.safetensors'), writeSafetensors(model().stateDict()));
  site = await openSite('/blank.html', { mounts: { '/run/': dir, '/train/': join(ROOT, 'test', 'fixtures', 'train') } });
  const m = model();
  const tr = new Trainer(m, nodeBackend, { optimizer: { name: 'sgd' }, numClasses: 10, inputSize: 64, outputGradients: true, threads: 1 });
  const r = await tr.train(inputs.get('input')!, Array.from(inputs.get('labels')!.data as BigInt64Array, Number), 0.1, new Map([['dropout.classifier.0', inputs.get('mask_0')!]]));
  await tr.release();
  node = { r, after: m.stateDict() };
  page = await stepInPage(site.page, spec, 'wasm');
});
after(() => site?.close());

test("a training step in the page: loss and logits equal Node's and PyTorch's", () => {
  const loss = page.get('loss')!.data[0] as number;
  const want = torch.tensors.get('loss')!.data[0] as number;
  assert.ok(Math.abs(loss - node.r.loss) / Math.abs(node.r.loss) <= 1e-5, `loss ${loss} in the page, ${node.r.loss} in Node`);
  assert.ok(Math.abs(loss - want) / Math.abs(want) <= TOL, `loss ${loss} in the page, ${want} in PyTorch`);
  assert.ok(relErr(page.get('logits')!, node.r.logits) <= TOL, `logits vs Node: ${relErr(page.get('logits')!, node.r.logits)}`);
  assert.ok(relErr(page.get('logits')!, torch.tensors.get('logits')!) <= TOL, 'logits vs PyTorch');
});

test("a training step in the page: every gradient equals Node's and PyTorch's at its tensor's scale", () => {
  const grads = [...page].filter(([k]) => k.startsWith('grad.'));
  assert.equal(grads.length, node.r.grads!.size, 'a gradient for every parameter');
  const scale = Math.max(...grads.map(([, g]) => maxAbs(g)));
  let worstNode = 0;
  let worstTorch = 0;
  for (const [k, g] of grads) {
    const key = k.slice(5);
    if (zero.has(key)) {
      assert.ok(maxAbs(g) <= TOL * scale, `${k} should be ~0, got ${maxAbs(g)}`);
      continue;
    }
    const eNode = relErr(g, node.r.grads!.get(key)!);
    const eTorch = relErr(g, torch.tensors.get(k)!);
    worstNode = Math.max(worstNode, eNode);
    worstTorch = Math.max(worstTorch, eTorch);
    assert.ok(eNode <= TOL, `${k}: ${eNode} from Node's`);
    assert.ok(eTorch <= TOL, `${k}: ${eTorch} from PyTorch's`);
  }
  console.log(`# page step: worst gradient error ${worstNode.toExponential(2)} vs Node, ${worstTorch.toExponential(2)} vs PyTorch`);
});

test("a training step in the page: the updated parameters and running statistics equal Node's (and PyTorch's statistics)", () => {
  let n = 0;
  for (const [k, t] of node.after) {
    const ours = page.get(`after.${k}`)!;
    if (t.dtype === 'int64') assert.deepEqual(ours.data, t.data, k);
    else assert.ok(relErr(ours, t) <= TOL, `${k}: ${relErr(ours, t)} from Node's`);
    const want = torch.tensors.get(`after.${k}`);
    if (want && want.dtype === 'float32') assert.ok(relErr(ours, want) <= TOL, `${k}: ${relErr(ours, want)} from PyTorch's`);
    n++;
  }
  assert.equal(n, node.after.size);
});

// --save-memory in the page (fit's saveMemory, formulation.recompute 'convs'): onnxruntime-web runs
// the copies with the same WASM kernels as the forward's nodes, so the step is the same bit for bit
test("a training step in the page recomputing activations (recompute 'convs') equals the page's step bit for bit", async () => {
  const lean = await stepInPage(site.page, spec, 'wasm', { recompute: 'convs' });
  assert.equal(lean.size, page.size);
  for (const [k, t] of page) assert.deepEqual(lean.get(k)!.data, t.data, `${k} differs with recompute 'convs'`);
});
