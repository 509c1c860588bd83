// Image kinds where sharp alone is not PIL: BMP (libvips reads none; bmp.ts decodes it), CMYK
// JPEG and 16-bit grey PNG (pil.ts converts them PIL's way), and the others sharp gets right
// (16-bit RGB, animated GIF / WebP first frame, palette, RGBA). Each file in
// test/fixtures/images/formats/ decodes to exactly the RGB that Pillow 9.4's
// Image.open(f).convert('RGB') gave, or is refused by both with a one-line ImageError.
// HINT: regenerate on purpose with `/usr/bin/python3 tools/gen_image_fixtures.py`.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { MAX_PIXELS, decodeBmp } from '../src/data/bmp.js';
import { decodeRgb, ImageError } from '../src/platform/node/image.js';

const DIR = fileURLToPath(new URL('../../test/fixtures/images/formats/', import.meta.url));
const index = JSON.parse(readFileSync(DIR + 'index.json', 'utf8')) as Record<string, { ref?: string; pil_mode?: string; error?: string }>;

/** PIL's RGB, from the lossless PNG the generator saved. */
async function pilRgb(ref: string): Promise<Buffer> {
  const { data, info } = await sharp(DIR + ref).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  assert.equal(info.channels, 3);
  return data;
}

async function assertLikePil(file: string): Promise<void> {
  const want = index[file]!;
  if (want.error !== undefined) {
    await assert.rejects(decodeRgb(DIR + file), (e: Error) => {
      assert.ok(e instanceof ImageError && e.code === 'E_IMAGE', `${file}: ${e.constructor.name} ${e.message}`);
      assert.ok(e.message.startsWith(`${DIR}${file}: `) && !e.message.includes('\n'), e.message);
      return true;
    }, `${file}: PIL refuses it (${want.error})`);
    return;
  }
  const img = await decodeRgb(DIR + file);
  const ref = await pilRgb(want.ref!);
  assert.equal(img.data.length, ref.length, `${file}: size`);
  let diff = 0;
  for (let i = 0; i < ref.length; i++) if (img.data[i] !== ref[i]) diff++;
  assert.equal(diff, 0, `${file} (PIL mode ${want.pil_mode}): ${diff} of ${ref.length} bytes differ from PIL`);
  // from bytes as from a path
  assert.deepEqual(await decodeRgb(readFileSync(DIR + file)), img, `${file}: bytes and path`);
}

const files = Object.keys(index).sort();
const bmps = files.filter((f) => f.endsWith('.bmp'));

test(`BMP: ${bmps.length} files (OS/2, v3, v4, v5 headers; 1/4/8-bit palettes; 16/24/32-bit; bitfields; top-down; RLE8/RLE4) equal PIL's RGB or are refused as PIL refuses them`, async () => {
  assert.ok(bmps.length >= 30);
  for (const f of bmps) await assertLikePil(f);
});

test('CMYK JPEG, 16-bit grey PNG (clipped: PIL opens it as mode I), 16-bit RGB, animated GIF and WebP, palette and RGBA PNG equal PIL', async () => {
  for (const f of files.filter((x) => !x.endsWith('.bmp'))) await assertLikePil(f);
});

test('BMP: the quirks of Pillow kept on purpose', async () => {
  const p = (f: string) => index[f]!;
  assert.equal(p('bw_palette_8bit.bmp').pil_mode, '1', 'a black-and-white palette over 8-bit pixels is read as bits');
  assert.equal(p('l8.bmp').pil_mode, 'L', 'an all-grey palette is dropped');
  assert.match(p('grey16_palette_4bit.bmp').error!, /codec configuration error/);
  assert.match(p('p8_300_colors.bmp').error!, /invalid palette size/);
  await assertLikePil('p8_short_palette.bmp'); // indices past the palette are grey
  await assertLikePil('rle8_spill.bmp'); // an absolute run past the end of a row
  await assertLikePil('rle4_odd.bmp'); // an odd RLE4 absolute run drops its last pixel
});

/** A BMP file header + BITMAPINFOHEADER + `rest`. */
function bmp(w: number, h: number, bits: number, compression: number, rest: Uint8Array, offset = 54): Uint8Array {
  const b = new Uint8Array(54 + rest.length);
  const dv = new DataView(b.buffer);
  b.set([0x42, 0x4d]);
  dv.setUint32(2, b.length, true);
  dv.setUint32(10, offset, true);
  dv.setUint32(14, 40, true);
  dv.setInt32(18, w, true);
  dv.setInt32(22, h, true);
  dv.setUint16(26, 1, true);
  dv.setUint16(28, bits, true);
  dv.setUint32(30, compression, true);
  b.set(rest, 54);
  return b;
}

test('BAD FILE - BMP headers that declare more than the file holds are refused before allocating', async () => {
  const cases: [Uint8Array, RegExp][] = [
    [bmp(50000, 50000, 24, 0, new Uint8Array(0)), new RegExp(`50000x50000 pixels is over the ${MAX_PIXELS}-pixel limit`)],
    [bmp(10000, 10000, 24, 0, new Uint8Array(100)), /truncated BMP: 10000x10000 pixels need 300000000 bytes from byte 54, the file has 154/],
    // RLE8 runs that fill one row of a declared 10000 x 10000 (runs past the row's end are
    // clipped, as Pillow does), with no end of line: the 300 MB output is not allocated
    [bmp(10000, 10000, 8, 1, new Uint8Array(1024 + 2 * 120).fill(200), 54 + 1024), /truncated BMP: the RLE data decodes to 10000 of 100000000 pixels/],
    [bmp(16, 4, 4, 2, Uint8Array.of(...new Array(64).fill(0), 4, 0x12, 0, 2, 1, 1), 54 + 64), /unsupported BMP: RLE delta escape/],
    [bmp(4, 4, 2, 0, new Uint8Array(64)), /unsupported BMP pixel depth 2/],
    [bmp(4, 4, 24, 4, new Uint8Array(64)), /unsupported BMP compression 4/],
    [Uint8Array.of(0x42, 0x4d, 1, 2), /truncated BMP header/],
  ];
  for (const [b, pattern] of cases) {
    const before = process.memoryUsage().arrayBuffers;
    await assert.rejects(decodeRgb(b), (e: Error) => e instanceof ImageError && /^<buffer of \d+ bytes>: /.test(e.message) && pattern.test(e.message), pattern.source);
    assert.ok(process.memoryUsage().arrayBuffers - before < 50 << 20, 'nothing large was allocated');
  }
  assert.throws(() => decodeBmp(bmp(0, 5, 24, 0, new Uint8Array(16))), /empty BMP image \(0x5\)/);
});

test('BAD FILE - a PNG declaring 15000 x 12000 (over PIL\'s 178956970-pixel limit, under sharp\'s) and a 50000 x 50000 one', async () => {
  const png = (w: number, h: number) => sharp({ create: { width: 1, height: 1, channels: 3, background: 'black' } }).png().toBuffer().then((b) => {
    const out = Buffer.from(b);
    out.writeUInt32BE(w, 16);
    out.writeUInt32BE(h, 20);
    return out; // IHDR CRC now wrong: libpng checks the size limit first
  });
  for (const [w, h] of [[15000, 12000], [50000, 50000]]) {
    await assert.rejects(decodeRgb(await png(w!, h!)), (e: Error) => e instanceof ImageError && /image over 178956970 pixels, the limit PIL also enforces/.test(e.message), `${w}x${h}`);
  }
});
