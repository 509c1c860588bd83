// Decoding as PIL's Image.open(f).convert('RGB'): grey replicated, alpha dropped (not blended),
// 16-bit reduced to its high byte, no EXIF rotation unless asked; users' bad files give one-line
// `<file>: <problem>` errors; a batch survives a bad image. Tiny images are made here with sharp.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { crc32, deflateSync } from 'node:zlib';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { ImageError, decodeRgb, loadBatch, preprocess, type RawImage } from '../src/platform/node/image.js';

const FACE = fileURLToPath(new URL('../../test/fixtures/images/face.jpg', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'mnv2-data-'));

/** A w x h image whose pixel (x, y), channel c is (x * 37 + y * 11 + c * 80) & 255. */
function pattern(w: number, h: number, channels: 1 | 3 | 4): Uint8Array {
  const a = new Uint8Array(w * h * channels);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < channels; c++) a[(y * w + x) * channels + c] = (x * 37 + y * 11 + c * 80) & 255;
  return a;
}

async function png(raw: RawImage): Promise<Buffer> {
  const s = sharp(raw.data, { raw: { width: raw.width, height: raw.height, channels: raw.channels } });
  return (raw.channels === 1 ? s.toColourspace('b-w') : s).png().toBuffer();
}

test('grey PNG: the grey value is replicated to R, G and B', async () => {
  const grey = pattern(5, 4, 1);
  const buf = await png({ data: grey, width: 5, height: 4, channels: 1 });
  assert.equal((await sharp(buf).metadata()).channels, 1);
  const img = await decodeRgb(buf);
  assert.equal(img.width, 5);
  assert.equal(img.height, 4);
  for (let i = 0; i < 20; i++) assert.deepEqual([...img.data.subarray(i * 3, i * 3 + 3)], [grey[i], grey[i], grey[i]]);
});

test('RGBA PNG: alpha is dropped, colour kept even where fully transparent', async () => {
  const rgba = pattern(6, 3, 4);
  for (let i = 0; i < 6; i++) rgba[i * 4 + 3] = 0; // first row fully transparent
  const img = await decodeRgb(await png({ data: rgba, width: 6, height: 3, channels: 4 }));
  for (let i = 0; i < 18; i++) assert.deepEqual([...img.data.subarray(i * 3, i * 3 + 3)], [...rgba.subarray(i * 4, i * 4 + 3)]);
});

/** A minimal PNG written by hand from the spec: one IDAT, filter 0, big-endian 16-bit samples. */
function png16(width: number, height: number, colourType: 0 | 2, samples: Uint16Array): Buffer {
  const channels = colourType === 2 ? 3 : 1;
  const chunk = (type: string, body: Buffer): Buffer => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(body.length);
    const tb = Buffer.concat([Buffer.from(type, 'latin1'), body]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(tb));
    return Buffer.concat([len, tb, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([16, colourType, 0, 0, 0], 8);
  const rows = Buffer.alloc(height * (1 + width * channels * 2));
  for (let y = 0; y < height; y++) {
    const o = y * (1 + width * channels * 2); // filter byte 0, then samples
    for (let i = 0; i < width * channels; i++) rows.writeUInt16BE(samples[y * width * channels + i], o + 1 + i * 2);
  }
  const sig = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([sig, chunk('IHDR', ihdr), chunk('IDAT', deflateSync(rows)), chunk('IEND', Buffer.alloc(0))]);
}

// PIL reads 16-bit RGB by the high byte, but opens 16-bit grey as mode "I", which convert('RGB')
// clips to 255 (test/data.formats.test.ts checks both against Pillow's own output)
test('16-bit PNG: RGB reduced to 8 bits by the high byte, grey clipped to 255 as PIL does', async () => {
  const w = 4, h = 2;
  for (const colourType of [2, 0] as const) {
    const v16 = new Uint16Array(w * h * (colourType === 2 ? 3 : 1));
    for (let i = 0; i < v16.length; i++) v16[i] = (i * 7919 + 255) & 0xffff;
    v16[1] = 100; // below 256: PIL keeps a grey value as it is
    const buf = png16(w, h, colourType, v16);
    const meta = await sharp(buf).metadata();
    assert.equal(meta.depth, 'ushort', 'the test image must really be 16-bit');
    const img = await decodeRgb(buf);
    for (let i = 0; i < w * h * 3; i++) {
      const v = colourType === 2 ? v16[i]! : v16[Math.floor(i / 3)]!;
      assert.equal(img.data[i], colourType === 2 ? v >> 8 : Math.min(v, 255), `colour type ${colourType}, value ${i}: ${v}`);
    }
  }
});

test('raw pixel objects decode like the same pixels in a PNG (1, 3 and 4 channels)', async () => {
  for (const channels of [1, 3, 4] as const) {
    const raw: RawImage = { data: pattern(7, 5, channels), width: 7, height: 5, channels };
    const a = await decodeRgb(raw);
    const b = await decodeRgb(await png(raw));
    assert.deepEqual(a, b, `${channels} channels`);
  }
  await assert.rejects(decodeRgb({ data: new Uint8Array(10), width: 2, height: 2, channels: 3 }), RangeError);
  await assert.rejects(decodeRgb({ data: new Uint8Array(8), width: 2, height: 2, channels: 2 as 3 }), RangeError);
  await assert.rejects(decodeRgb(42 as unknown as string), TypeError);
});

test('lossless formats decode to the same pixels: PNG, WebP, TIFF, GIF first frame', async () => {
  const raw: RawImage = { data: pattern(8, 6, 3), width: 8, height: 6, channels: 3 };
  const src = sharp(raw.data, { raw: { width: 8, height: 6, channels: 3 } });
  const ref = await decodeRgb(raw);
  for (const [name, buf] of [
    ['webp', await src.clone().webp({ lossless: true }).toBuffer()],
    ['tiff', await src.clone().tiff({ compression: 'lzw' }).toBuffer()],
  ] as const) {
    assert.deepEqual(await decodeRgb(buf), ref, name);
  }
  // A two-frame GIF (frames stacked vertically): only the first frame is decoded.
  const grey = new Uint8Array(4 * 8 * 3);
  grey.fill(200, 0, 4 * 4 * 3); // frame 1: light
  grey.fill(20, 4 * 4 * 3); // frame 2: dark
  const animated = await sharp(grey, { raw: { width: 4, height: 8, channels: 3, pageHeight: 4 } }).gif().toBuffer();
  assert.equal((await sharp(animated).metadata()).pages, 2, 'the test GIF must have two frames');
  const img = await decodeRgb(animated);
  assert.equal(img.height, 4);
  assert.ok(img.data.every((v) => Math.abs(v - 200) <= 2), 'first frame pixels');
});

test('CMYK JPEG decodes to 3-channel RGB', async () => {
  const red = new Uint8Array(8 * 8 * 3);
  for (let i = 0; i < 64; i++) red.set([220, 30, 30], i * 3);
  const cmyk = await sharp(red, { raw: { width: 8, height: 8, channels: 3 } }).toColourspace('cmyk').jpeg({ quality: 100 }).toBuffer();
  assert.equal((await sharp(cmyk).metadata()).space, 'cmyk');
  const img = await decodeRgb(cmyk);
  assert.equal(img.data.length, 8 * 8 * 3);
  assert.ok(img.data[0] > 150 && img.data[1] < 100 && img.data[2] < 100, `still red: ${[...img.data.subarray(0, 3)]}`);
});

test('EXIF orientation is ignored by default (like PIL), applied with autoOrient', async () => {
  const file = join(dir, 'rotated.jpg');
  await sharp(pattern(8, 4, 3), { raw: { width: 8, height: 4, channels: 3 } }).jpeg().withMetadata({ orientation: 6 }).toFile(file);
  assert.equal((await sharp(file).metadata()).orientation, 6);
  const plain = await decodeRgb(file);
  assert.deepEqual([plain.width, plain.height], [8, 4]);
  const turned = await decodeRgb(file, { autoOrient: true });
  assert.deepEqual([turned.width, turned.height], [4, 8]);
});

async function message(p: Promise<unknown>): Promise<ImageError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof ImageError, `expected ImageError, got ${String(e)}`);
    assert.equal(e.code, 'E_IMAGE');
    assert.ok(!e.message.includes('\n'), `one line: ${JSON.stringify(e.message)}`);
    return e;
  }
  assert.fail('expected a rejection');
}

test('users\' bad files: one-line "<file>: <problem>" messages', async () => {
  const missing = join(dir, 'cat.jpg');
  assert.equal((await message(decodeRgb(missing))).message, `${missing}: no such file`);

  const text = join(dir, 'photo.txt');
  writeFileSync(text, 'this is not a picture\n');
  assert.equal((await message(decodeRgb(text))).message, `${text}: not an image (unsupported format)`);

  const truncated = join(dir, 'truncated.jpg');
  const jpeg = readFileSync(FACE);
  writeFileSync(truncated, jpeg.subarray(0, Math.floor(jpeg.length / 3)));
  const e = await message(preprocess(truncated));
  assert.equal(e.file, truncated);
  assert.match(e.message, new RegExp(`^${escape(truncated)}: truncated or corrupt image \\(`));

  const garbage = join(dir, 'garbage.png');
  writeFileSync(garbage, Buffer.concat([jpeg.subarray(0, 2000), Buffer.alloc(100, 0xff)]));
  assert.match((await message(decodeRgb(garbage))).message, new RegExp(`^${escape(garbage)}: `));

  assert.match((await message(decodeRgb(dir))).message, /: is a directory, not an image$/);
  assert.match((await message(decodeRgb(Buffer.from('nope')))).message, /^<buffer of 4 bytes>: not an image \(unsupported format\)$/);
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

test('loadBatch: one bad image does not stop the others', async () => {
  const grey = await png({ data: pattern(40, 30, 1), width: 40, height: 30, channels: 1 });
  const missing = join(dir, 'missing.jpg');
  const { tensor, ok, errors } = await loadBatch([FACE, missing, grey], 'torchvision-v1', { concurrency: 2 });
  assert.deepEqual(tensor.shape, [2, 3, 224, 224]);
  assert.deepEqual(ok, [0, 2]);
  assert.deepEqual(errors, [{ index: 1, file: missing, message: `${missing}: no such file`, problem: 'no such file' }]);
  const plane = 3 * 224 * 224;
  assert.deepEqual(tensor.data.subarray(0, plane), await preprocess(FACE, 'torchvision-v1'));
  assert.deepEqual(tensor.data.subarray(plane), await preprocess(grey, 'torchvision-v1'));

  const none = await loadBatch([missing], 'timm');
  assert.deepEqual(none.tensor.shape, [0, 3, 224, 224]);
  await assert.rejects(loadBatch([FACE], 'hf', { concurrency: 0 }), RangeError);
});
