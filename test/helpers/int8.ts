// The small int8 network of the parity fixture (test/fixtures/int8/): MobileNetV2's first four
// blocks with the real Coral weights (stem, one t=1 block, two t=6 blocks with a residual Add),
// then a 1x1 conv to 64 channels and a 10-class head (seeded init), at 32x32: every kind of
// QDQ group our int8 graphs have (Conv with its ReLU6 folded, depthwise, Add, pooling, Gemm).
import { readSafetensors } from '../../src/weights/safetensors.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MobileNetV2 } from '../../src/models/mobilenetv2.js';
import { loadCheckpoint } from '../../src/platform/node/weights.js';
import { loadBatch } from '../../src/platform/node/image.js';
import { nodeBackend } from '../../src/platform/node/ort.js';
import { quantizeNetwork } from '../../src/quant/quantize.js';
import { toOnnx } from '../../src/onnx/export.js';
import { PHOTOS, REAL_WEIGHTS } from './views.js';
import type { Tensor } from '../../src/tensor.js';
import { withInputSize } from '../../src/data/transforms.js';

export const INT8_FIXTURES = fileURLToPath(new URL('../../../test/fixtures/int8/', import.meta.url));
export const TINY_SETTING: [number, number, number, number][] = [
  [1, 16, 1, 1],
  [6, 24, 2, 2],
];
export const TINY_SIZE = 32;
/** The two photos whose integers the fixture holds. */
export const TINY_PHOTOS = ['bird.png', 'parrot.jpg'];

export async function tinyModel(): Promise<MobileNetV2> {
  const m = new MobileNetV2({ alpha: 1, numClasses: 10, lastChannel: 64, seed: 0 }, TINY_SETTING);
  const { model: coral } = await loadCheckpoint(REAL_WEIGHTS);
  const real = coral.stateDict();
  const sd = m.stateDict();
  for (const k of sd.keys()) if (/^features\.[0-3]\./.test(k)) sd.set(k, real.get(k)!);
  m.loadStateDict(sd);
  return m.eval();
}

/** The tiny network quantized as the fixture was: per-channel, mse, calibrated on all 16 photos at 32x32. */
export async function tinyInt8(): Promise<Uint8Array> {
  const calib = (await loadBatch(PHOTOS, withInputSize('torchvision-v1', TINY_SIZE))).tensor;
  const { graph } = await quantizeNetwork(await tinyModel(), [calib], nodeBackend, { inputSize: TINY_SIZE, method: 'mse' });
  return toOnnx(graph);
}

export function readFixture(name: string): Map<string, Tensor> {
  return readSafetensors(readFileSync(join(INT8_FIXTURES, name)), name).tensors;
}
