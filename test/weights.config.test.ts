// The JSON configs beside transformers / timm checkpoints, with fields of the wrong type or out
// of range: each is a one-line WeightsError naming the file and the field, from loadCheckpoint
// (the library API) as from the readers, before any model is built (a config cannot make us
// allocate a model far larger than the weights beside it).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hfOptions } from '../src/models/families.js';
import { loadCheckpoint } from '../src/platform/node/weights.js';
import { WeightsError } from '../src/weights/errors.js';
import { presetFromPreprocessor, presetFromTimmCfg } from '../src/weights/hf.js';
import { expandFixture } from './helpers/interop.js';

const HF = expandFixture('hf'); // config.json + model.safetensors (hf_d0.35_96_c10)
const TIMM = expandFixture('timm'); // pretrained_cfg.json + model.safetensors (mobilenetv2_035, 10 classes)
const hfConfig = JSON.parse(readFileSync(join(HF, 'config.json'), 'utf8')) as Record<string, unknown>;
const timmCfg = JSON.parse(readFileSync(join(TIMM, 'pretrained_cfg.json'), 'utf8')) as Record<string, unknown>;
const PP = { crop_size: { height: 224, width: 224 }, do_center_crop: true, do_normalize: true, do_rescale: true, do_resize: true, image_mean: [0.5, 0.5, 0.5], image_std: [0.5, 0.5, 0.5], resample: 2, rescale_factor: 1 / 255, size: { shortest_edge: 256 } };

/** A copy of a fixture folder (weights linked) with one file's JSON replaced. */
function folderWith(src: string, weights: string, file: string, json: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'mnv2-cfg-'));
  symlinkSync(join(src, weights), join(dir, weights));
  if (file !== 'config.json' && src === HF) writeFileSync(join(dir, 'config.json'), JSON.stringify(hfConfig));
  writeFileSync(join(dir, file), json);
  return dir;
}

async function assertRejectsNaming(p: Promise<unknown>, file: string, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (e: Error) => {
    assert.ok(e instanceof WeightsError && e.code === 'E_WEIGHTS', `${e.constructor.name}: ${e.message}`);
    assert.ok(!e.message.includes('\n'), e.message);
    assert.ok(e.message.startsWith(`${file}: `), `names ${file}: ${e.message}`);
    assert.match(e.message, pattern);
    return true;
  });
}

test('BAD CONFIG - config.json fields of the wrong type are WeightsErrors naming the file and the field (were RangeErrors from the model, or TypeErrors)', async () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ depth_multiplier: '0.35' }, /depth_multiplier = "0\.35" is not a number > 0/],
    [{ depth_multiplier: -1 }, /depth_multiplier = -1 is not a number > 0/],
    [{ num_labels: 2.5 }, /num_labels = 2\.5 is not an integer >= 1/],
    [{ tf_padding: 'yes' }, /tf_padding = "yes" is not true or false/],
    [{ layer_norm_eps: 0 }, /layer_norm_eps = 0 is not a number > 0/],
    [{ architectures: 'MobileNetV2ForImageClassification' }, /architectures = "MobileNetV2ForImageClassification" is not a list of strings/],
    [{ id2label: { 0: 7 } }, /id2label\["0"\] = 7 is not a string/],
    [{ id2label: {}, num_labels: undefined }, /id2label = an object is not supported \(at least one label\)/],
    [{ depth_divisible_by: 1e6, min_depth: 1e6 }, /depth_divisible_by = 1000000 is not an integer >= 1 and <= 256/],
    [{ image_size: 8 }, /image_size = 8 is not an integer >= 32/],
    [{ architecture: 5 }, /architecture = 5 is not a string/],
  ];
  for (const [patch, pattern] of cases) {
    const dir = folderWith(HF, 'model.safetensors', 'config.json', JSON.stringify({ ...hfConfig, ...patch }));
    await assertRejectsNaming(loadCheckpoint(dir), join(dir, 'config.json'), pattern);
  }
  for (const doc of ['null', '[1, 2]', '"config"']) {
    const dir = folderWith(HF, 'model.safetensors', 'config.json', doc);
    await assertRejectsNaming(loadCheckpoint(dir), join(dir, 'config.json'), /holds .*, not a JSON object/);
  }
  // and the exported reader, called directly
  assert.throws(() => hfOptions({ depth_multiplier: 'x' as never }, 'c.json'), (e: Error) => e instanceof WeightsError && /^c\.json: depth_multiplier = "x"/.test(e.message));
});

test('BAD CONFIG - a config describing a model far larger than its weights is refused before the model is built', async () => {
  // num_labels 10^9 would allocate a 1280 x 10^9 classifier; depth_multiplier 1000 ~10^12 parameters
  for (const patch of [{ num_labels: 1e9, id2label: undefined }, { depth_multiplier: 1000 }]) {
    const dir = folderWith(HF, 'model.safetensors', 'config.json', JSON.stringify({ ...hfConfig, ...patch }));
    await assertRejectsNaming(loadCheckpoint(dir), join(dir, 'config.json'), /describes a model of over \d+ parameters \(.*\) but .*model\.safetensors holds 423070/);
  }
});

test('BAD CONFIG - preprocessor_config.json fields of the wrong type or out of range (were RangeErrors from resolvePreset)', async () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ crop_size: 0 }, /crop_size = 0 is not an integer >= 1/],
    [{ size: { shortest_edge: '256' } }, /size\.shortest_edge = "256" is not an integer >= 1/],
    [{ crop_size: { height: 300, width: 300 } }, /crop_size 300 larger than size\.shortest_edge 256 is not supported/],
    [{ image_mean: [0.5, 'x', 0.5] }, /image_mean = \[0\.5,"x",0\.5\] is not a list of 3 numbers/],
    [{ image_std: [0, 0, 0] }, /image_std \[0,0,0\] \(a zero divides by zero\) is not supported/],
    [{ do_resize: 'no' }, /do_resize = "no" is not true or false/],
  ];
  for (const [patch, pattern] of cases) {
    const dir = folderWith(HF, 'model.safetensors', 'preprocessor_config.json', JSON.stringify({ ...PP, ...patch }));
    await assertRejectsNaming(loadCheckpoint(dir), `${dir}/preprocessor_config.json`, pattern);
  }
  // transformers broadcasts a single mean / std to the three channels
  assert.deepEqual(presetFromPreprocessor({ ...PP, image_mean: 0.25 }, 'p.json').mean, [0.25, 0.25, 0.25]);
});

test('BAD CONFIG - timm pretrained_cfg.json fields of the wrong type or out of range (were NaN resizes and RangeErrors)', async () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ input_size: 224 }, /input_size = 224 is not a list of 3 integers >= 1/],
    [{ crop_pct: 0 }, /crop_pct = 0 is not a number > 0 and <= 1/],
    [{ crop_pct: 1.5 }, /crop_pct = 1\.5 is not a number > 0 and <= 1/],
    [{ interpolation: 3 }, /interpolation = 3 is not a string/],
    [{ mean: 'imagenet' }, /mean = "imagenet" is not a list of 3 numbers/],
    [{ architecture: 'resnet50' }, /architecture "resnet50" is not a MobileNetV2 we build\. Should be one of: mobilenetv2_035/],
  ];
  for (const [patch, pattern] of cases) {
    const dir = folderWith(TIMM, 'model.safetensors', 'pretrained_cfg.json', JSON.stringify({ ...timmCfg, ...patch }));
    await assertRejectsNaming(loadCheckpoint(dir), join(dir, 'pretrained_cfg.json'), pattern);
  }
  assert.throws(() => presetFromTimmCfg({ input_size: [3, 'a', 224] }, 't.json'), (e: Error) => e instanceof WeightsError && /^t\.json: input_size = \[3,"a",224\]/.test(e.message));
});

test('the fixtures themselves still load (the checks refuse only what is wrong)', async () => {
  assert.equal((await loadCheckpoint(HF)).family, 'hf');
  assert.equal((await loadCheckpoint(TIMM)).family, 'timm');
  const dir = folderWith(HF, 'model.safetensors', 'preprocessor_config.json', JSON.stringify({ ...PP, image_mean: null }));
  const { preset } = await loadCheckpoint(dir);
  assert.deepEqual(typeof preset === 'object' ? preset.mean : undefined, [0.5, 0.5, 0.5], 'null reads as the default, as Python None does');
});
