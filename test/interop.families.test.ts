// Every published MobileNetV2 size, built with each family's rules, against the numbers its
// authors published: the TF-slim / Keras table (keras.applications.mobilenet_v2 docstring, from
// tensorflow/models research/slim/nets/mobilenet/README.md) gives multiply-adds (M) and
// parameters (M) of the 1001-class checkpoints. They count conv + fully-connected weights (no
// BatchNorm) and truncate; our summary() MACs, truncated to the million, equal theirs for all
// 22 checkpoints. Also TF SAME padding itself, and timm's depth multiplier.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inferenceGraph } from '../src/infer/graph.js';
import { hfOptions, kerasOptions, PUBLISHED_ALPHAS, PUBLISHED_SIZES, timmOptions } from '../src/models/families.js';
import { keyMap } from '../src/models/keymaps.js';
import { MobileNetV2 } from '../src/models/mobilenetv2.js';
import { tfSamePads } from '../src/nn/layers.js';
import { summary } from '../src/models/summary.js';
import { guessTimmArchitecture } from '../src/models/config.js';

//                 alpha: [params (M), MACs (M) at 96, 128, 160, 192, 224]; undefined: no checkpoint
const PUBLISHED: Record<number, [number, (number | undefined)[]]> = {
  1.4: [6.06, [undefined, undefined, undefined, undefined, 582]],
  1.3: [5.34, [undefined, undefined, undefined, undefined, 509]],
  1.0: [3.47, [56, 99, 154, 221, 300]],
  0.75: [2.61, [39, 69, 107, 153, 209]],
  0.5: [1.95, [18, 32, 50, 71, 97]],
  0.35: [1.66, [11, 20, 30, 43, 59]],
};

for (const alpha of PUBLISHED_ALPHAS) {
  test(`alpha ${alpha}: Keras and transformers rules build the same network; params and MACs at 96..224 equal the published table`, () => {
    const keras = new MobileNetV2(kerasOptions(alpha, { numClasses: 1001 }));
    const hf = new MobileNetV2(hfOptions({ depth_multiplier: alpha, num_labels: 1001 }, 'config.json'));
    assert.deepEqual([...hf.stateDict()].map(([k, t]) => [k, t.shape]), [...keras.stateDict()].map(([k, t]) => [k, t.shape]));
    assert.equal(keras.lastChannel, alpha > 1 ? Math.round((1280 * alpha) / 8) * 8 : 1280);
    // conv + fully-connected weights and the FC bias, as the table counts them
    let counted = 0;
    for (const [k, p] of keras.namedParameters()) if (p.data.shape.length > 1 || k.startsWith('classifier')) counted += p.data.data.length;
    assert.equal(Math.floor(counted / 1e4) / 100, PUBLISHED[alpha]![0], `alpha ${alpha}: ${counted} parameters`);
    PUBLISHED_SIZES.forEach((size, i) => {
      const g = inferenceGraph(keras.eval(), { inputSize: size, batch: 1 }); // builds at every published size
      assert.deepEqual(g.outputs[0]!.shape, [1, 1001]);
      const want = PUBLISHED[alpha]![1][i];
      if (want !== undefined) assert.equal(Math.floor(summary(keras, [3, size, size]).macs / 1e6), want, `alpha ${alpha} at ${size}: MACs`);
    });
  });
}

test('TF SAME padding: 0 before / 1 after for a stride-2 3x3 conv on even sizes, 1 / 1 on odd; 1x1 convs pad nothing', () => {
  assert.deepEqual(tfSamePads(224, 3, 2), [0, 1]);
  assert.deepEqual(tfSamePads(97, 3, 2), [1, 1]);
  assert.deepEqual(tfSamePads(56, 3, 1), [1, 1]);
  assert.deepEqual(tfSamePads(7, 1, 1), [0, 0]);
  const g = inferenceGraph(new MobileNetV2({ alpha: 0.35, tfPadding: true }).eval(), { inputSize: [96, 97], foldBN: false });
  const convs = g.nodes.filter((n) => n.op === 'Conv');
  assert.deepEqual(convs[0]!.attrs.pads, [0, 1, 1, 1]); // (top, left, bottom, right): H even, W odd
  assert.deepEqual(convs.at(-1)!.attrs.pads, [0, 0, 0, 0]);
  const eps = g.nodes.filter((n) => n.op === 'BatchNormalization').map((n) => n.attrs.epsilon);
  assert.ok(eps.every((e) => e === 1e-5));
  const tf = inferenceGraph(new MobileNetV2(kerasOptions(1.0)).eval(), { foldBN: false });
  assert.ok(tf.nodes.filter((n) => n.op === 'BatchNormalization').every((n) => n.attrs.epsilon === 1e-3));
});

test("timm's depth multiplier: 110d and 120d repeat ceil(n * d) blocks, first and last stage fixed, stem 32, head 1280", () => {
  const d110 = new MobileNetV2(timmOptions('mobilenetv2_110d.ra_in1k'));
  assert.deepEqual(d110.stageRepeats, [1, 3, 4, 5, 4, 4, 1]);
  const d120 = new MobileNetV2(timmOptions('mobilenetv2_120d'));
  assert.deepEqual(d120.stageRepeats, [1, 3, 5, 6, 5, 5, 1]);
  assert.equal(d120.lastChannel, 1280);
  assert.deepEqual(d120.stateDict().get('features.0.0.weight')!.shape, [32, 3, 3, 3]);
  // the timm layout of our 120d is recognised as 120d
  const timmSd = new Map([...keyMap(d120, 'timm')].map(([ours, theirs]) => [theirs, d120.stateDict().get(ours)!]));
  assert.equal(guessTimmArchitecture(timmSd, 'x.pth'), 'mobilenetv2_120d');
  assert.throws(() => timmOptions('mobilenetv2_999'), /"mobilenetv2_999" is not a MobileNetV2 we build\. Should be one of: mobilenetv2_035/);
});

test('includeTop false: the feature map, or its avg / max pooling; softmax head; bad options name the option', () => {
  const fmap = inferenceGraph(new MobileNetV2({ alpha: 0.35, lastChannel: 'paper', includeTop: false }).eval(), { inputSize: 96, batch: 2 });
  assert.deepEqual(fmap.outputs[0]!.shape, [2, 1280, 3, 3]); // (N, C, 96/32, 96/32)
  for (const pooling of ['avg', 'max'] as const) {
    const m = new MobileNetV2({ alpha: 0.35, includeTop: false, pooling });
    assert.ok(![...m.stateDict().keys()].some((k) => k.startsWith('classifier')));
    const g = inferenceGraph(m.eval(), { inputSize: 96, batch: 2 });
    assert.deepEqual(g.outputs[0]!.shape, [2, m.lastChannel]);
    assert.ok(g.nodes.some((n) => n.op === (pooling === 'avg' ? 'GlobalAveragePool' : 'GlobalMaxPool')));
  }
  const soft = inferenceGraph(new MobileNetV2({ alpha: 0.35, classifierActivation: 'softmax' }).eval(), { inputSize: 96 });
  assert.equal(soft.outputs[0]!.producer!.op, 'Softmax');
  assert.throws(() => new MobileNetV2({ pooling: 'avg' }), /pooling applies only with includeTop: false/);
  assert.throws(() => new MobileNetV2({ includeTop: false, pooling: 'min' as never }), RangeError);
  assert.throws(() => new MobileNetV2({ classifierActivation: 'relu' as never }), /classifierActivation must be 'softmax' or null/);
  assert.throws(() => new MobileNetV2({ channelRule: 'caffe' as never }), /channelRule must be/);
});
