// What the serve.*.test.ts files share: the real weights and photos of ../shared/real (answers are
// compared on them), a small fast model for the rest, synthetic images, and /metrics read back.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { withInputSize } from '../../src/data/transforms.js';
import { MobileNetV2 } from '../../src/models/mobilenetv2.js';
import { loadCheckpoint } from '../../src/platform/node/weights.js';
import type { LoadedCheckpoint } from '../../src/models/load.js';
import { parityStateDict } from './parity.js';

export const ROOT = fileURLToPath(new URL('../../..', import.meta.url)); // dist/test/helpers -> repo root
export const REAL = join(ROOT, '..', 'shared', 'real');
export const WEIGHTS = join(REAL, 'mobilenet_v2_coral_imagenet.pth');
export const hasReal = existsSync(WEIGHTS);
export const skipReal = hasReal ? false : `SKIPPED: ${WEIGHTS} not found (the real weights of ../shared/real)`;
export const photo = (name: string): string => join(REAL, 'photos', name);
export const PHOTOS = hasReal ? readdirSync(join(REAL, 'photos')).sort() : [];
export const reference = (): Record<string, { torchvision_layout: { top5: number[]; probs: number[] } }> =>
  (JSON.parse(readFileSync(join(REAL, 'reference.json'), 'utf8')) as { images: Record<string, { torchvision_layout: { top5: number[]; probs: number[] } }> }).images;

let real: Promise<LoadedCheckpoint> | undefined;
/** The real MobileNetV2 1.0 (torchvision layout, 1000 ImageNet classes), read once per process. */
export const realCheckpoint = (): Promise<LoadedCheckpoint> => (real ??= loadCheckpoint(WEIGHTS));

/** Alpha 0.25 with deterministic non-trivial weights (parity fill): fast, and its logits are not ~0. */
export function smallModel(numClasses = 10): MobileNetV2 {
  const m = new MobileNetV2({ alpha: 0.25, numClasses, lastChannel: 'seed' });
  m.loadStateDict(parityStateDict(m.stateDict()));
  return m.eval();
}

/** torchvision's eval transform at 64 x 64 (resize 73, crop 64): small and quick. */
export const SMALL_PRESET = withInputSize('torchvision-v1', 64);

/** A PNG of w x h with a colour gradient seeded by `seed` (different seeds, different answers). */
export async function pngOf(seed: number, w = 80, h = 60): Promise<Buffer> {
  const px = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) px[(y * w + x) * 3 + c] = (x * (c + 1) * 7 + y * (seed + 3) * 5 + seed * 41 * (c + 2)) & 255;
  return sharp(px, { raw: { width: w, height: h, channels: 3 } }).png().toBuffer();
}

/** A well-formed PNG whose header claims w x h pixels (its data is a few bytes): the pixel limit must reject it from the header. */
export function pngHeaderClaiming(w: number, h: number): Buffer {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (b: Buffer) => {
    let c = 0xffffffff;
    for (const x of b) c = crcTable[(c ^ x) & 255]! ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type: string, data: Buffer) => {
    const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const c = Buffer.alloc(4);
    c.writeUInt32BE(crc(td));
    return Buffer.concat([len, td, c]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(Buffer.alloc(64))), chunk('IEND', Buffer.alloc(0))]);
}

/** The value of a sample in Prometheus text (`name{labels}`), 0 when absent. */
export async function metric(base: string, sample: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(sample + ' '));
  return line === undefined ? 0 : Number(line.slice(sample.length + 1));
}

/** POST bytes the way curl --data-binary does (its default content type). */
export function postBytes(url: string, body: Uint8Array, contentType = 'application/x-www-form-urlencoded'): Promise<Response> {
  return fetch(url, { method: 'POST', headers: { 'content-type': contentType }, body: body as BodyInit });
}
