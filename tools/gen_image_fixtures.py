#!/usr/bin/python3
"""Small images in the formats and modes sharp and our BMP decoder must read as PIL does, with
what PIL's Image.open(f).convert('RGB') makes of each (a PNG, lossless), for
test/data.formats.test.ts. Run on purpose: /usr/bin/python3 tools/gen_image_fixtures.py
(Debian's python3-pil 9.4 and python3-numpy). Every image is 32x24, cut from face.jpg.

BMP files are written byte by byte here (PIL writes only a few kinds): every header size Pillow
reads (OS/2 v1, BITMAPINFOHEADER, V4, V5), 1/4/8-bit palettes (short ones, grey ones), 16-bit
5-5-5 and 5-6-5, 24-bit, 32-bit raw and bitfields (alpha ignored), top-down rows, RLE8 and RLE4,
and files Pillow refuses. index.json lists each file with its reference (or "error")."""

import io
import json
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / 'test' / 'fixtures' / 'images' / 'formats'
W, H = 32, 24
rng = np.random.default_rng(8)

src = Image.open(ROOT / 'test' / 'fixtures' / 'images' / 'face.jpg').convert('RGB')
src = src.crop((200, 150, 200 + 4 * W, 150 + 4 * H)).resize((W, H), Image.BILINEAR)
rgb = np.asarray(src)  # (H, W, 3) uint8

index = {}


def bmp(name, pixel_rows, bits, header_size=40, palette=b'', compression=0, colors=0, top_down=False,
        masks=None, masks_after_header=False, offset=None):
    """A BMP file: pixel_rows are the rows as stored (already bottom-up unless top_down)."""
    data = b''.join(pixel_rows)
    if header_size == 12:
        header = struct.pack('<IHHHH', 12, W, H, 1, bits)
    else:
        h = (-H) & 0xffffffff if top_down else H
        header = struct.pack('<IIIHHIIiiII', header_size, W, h, 1, bits, compression, len(data), 2835, 2835, colors, 0)
        if header_size >= 56:
            m = masks or (0, 0, 0, 0)
            header += struct.pack('<IIII', *m)
        header = header.ljust(header_size, b'\0')
    extra = struct.pack('<III', *masks[:3]) if masks_after_header else b''
    natural = 14 + len(header) + len(extra) + len(palette)
    off = natural if offset is None else offset
    f = b'BM' + struct.pack('<IHHI', natural + len(data), 0, 0, off) + header + extra + palette
    (OUT / name).write_bytes(f + data)
    return OUT / name


def rows(a, bits, bottom_up=True):
    """Pack (H, W) or (H, W, C) stored channel values into BMP rows of `bits` bits, padded to 4 bytes."""
    out = []
    for y in range(H):
        r = a[y]
        if bits == 24 or bits == 32:
            b = r.astype(np.uint8).tobytes()
        elif bits == 16:
            b = r.astype('<u2').tobytes()
        elif bits == 8:
            b = r.astype(np.uint8).tobytes()
        else:
            per = 8 // bits
            vals = list(r.astype(int)) + [0] * (-len(r) % per)
            b = bytes(sum(v << (8 - bits * (k + 1)) for k, v in enumerate(vals[i:i + per])) for i in range(0, len(vals), per))
        out.append(b + b'\0' * (-len(b) % 4))
    return out[::-1] if bottom_up else out


def pal(colors_rgb, entry=4):
    return b''.join(bytes((b, g, r)) + (b'\0' if entry == 4 else b'') for r, g, b in colors_rgb)


def reference(path):
    """PIL's reading, as a PNG next to the file; or the error PIL raises. Opened from a file
    object, as torchvision's pil_loader does (from a path, Pillow maps 8-bit BMPs into memory
    and reads them differently)."""
    try:
        with open(path, 'rb') as f, Image.open(f) as im:
            mode = im.mode
            out = im.convert('RGB')
        ref = path.with_suffix(path.suffix + '.png')
        out.save(ref)
        index[path.name] = {'ref': ref.name, 'pil_mode': mode}
    except Exception as e:  # noqa: BLE001 - any refusal is the expected outcome
        index[path.name] = {'error': f'{type(e).__name__}: {e}'[:120]}


def rle8(ix):
    """RLE8 rows (bottom-up): runs of one index encoded, others in absolute runs, EOL, EOB."""
    out = bytearray()
    for y in range(H - 1, -1, -1):
        r = list(ix[y])
        x = 0
        while x < W:
            n = 1
            while x + n < W and r[x + n] == r[x] and n < 255:
                n += 1
            if n >= 2:
                out += bytes((n, r[x]))
                x += n
                continue
            k = 1
            while x + k < W and k < 255 and not (x + k + 1 < W and r[x + k] == r[x + k + 1]):
                k += 1
            if k >= 3:
                out += bytes((0, k)) + bytes(r[x:x + k]) + (b'\0' if k % 2 else b'')
            else:
                for v in r[x:x + k]:
                    out += bytes((1, v))
            x += k
        out += b'\0\0'
    out += b'\0\1'
    return bytes(out)


def rle4(ix):
    """RLE4 rows: encoded runs of two alternating indices, absolute runs of an even count."""
    out = bytearray()
    for y in range(H - 1, -1, -1):
        r = list(ix[y])
        x = 0
        while x < W:
            if x + 4 <= W and (y + x) % 3 == 0:
                k = 4  # absolute: 4 pixels in 2 bytes (word aligned)
                out += bytes((0, k, (r[x] << 4) | r[x + 1], (r[x + 2] << 4) | r[x + 3]))
                x += k
                continue
            n = 2 if x + 1 < W and r[x + 1] != r[x] else 1
            while x + n < W and n < 255 and r[x + n] == r[x + (n % 2)]:
                n += 1
            second = r[x + 1] if n > 1 else 0
            out += bytes((n, (r[x] << 4) | second))
            x += n
        out += b'\0\0'
    out += b'\0\1'
    return bytes(out)


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.iterdir():
        old.unlink()
    bgr = rgb[..., ::-1]
    junk = rng.integers(0, 256, (H, W, 1), dtype=np.uint8)

    # ---- 24 / 32-bit
    reference(bmp('rgb24.bmp', rows(bgr, 24), 24))
    reference(bmp('rgb24_topdown.bmp', rows(bgr, 24, bottom_up=False), 24, top_down=True))
    reference(bmp('rgb24_v5.bmp', rows(bgr, 24), 24, header_size=124))
    reference(bmp('rgb24_os2.bmp', rows(bgr, 24), 24, header_size=12))
    reference(bmp('bgrx32.bmp', rows(np.concatenate([bgr, junk], 2), 32), 32))
    reference(bmp('bgra32_v4_bitfields.bmp', rows(np.concatenate([bgr, junk], 2), 32), 32, header_size=108, compression=3,
                  masks=(0xff0000, 0xff00, 0xff, 0xff000000)))
    reference(bmp('rgba32_v5_bitfields.bmp', rows(np.concatenate([rgb, junk], 2), 32, bottom_up=False), 32, header_size=124,
                  compression=3, masks=(0xff, 0xff00, 0xff0000, 0xff000000), top_down=True))
    reference(bmp('xbgr32_bitfields.bmp', rows(np.concatenate([junk, bgr], 2), 32), 32, compression=3,
                  masks=(0xff000000, 0xff0000, 0xff00, 0), masks_after_header=True))
    reference(bmp('odd_masks32.bmp', rows(np.concatenate([bgr, junk], 2), 32), 32, compression=3,
                  masks=(0xff00, 0xff0000, 0xff, 0), masks_after_header=True))  # Pillow refuses

    # ---- 16-bit: random values, so that every 5- and 6-bit level is met
    v16 = rng.integers(0, 65536, (H, W), dtype=np.uint32)
    reference(bmp('rgb555.bmp', rows(v16, 16), 16))
    reference(bmp('rgb565_bitfields.bmp', rows(v16, 16), 16, compression=3, masks=(0xf800, 0x7e0, 0x1f, 0), masks_after_header=True))
    reference(bmp('rgb555_v4_bitfields.bmp', rows(v16, 16), 16, header_size=108, compression=3, masks=(0x7c00, 0x3e0, 0x1f, 0)))

    # ---- palettes
    p = src.quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    ix = np.asarray(p)
    pal8 = [tuple(p.getpalette()[3 * i:3 * i + 3]) for i in range(256)]
    reference(bmp('p8.bmp', rows(ix, 8), 8, palette=pal(pal8), colors=256))
    reference(bmp('p8_os2.bmp', rows(ix, 8), 8, header_size=12, palette=pal(pal8, 3)))
    reference(bmp('p8_offset0.bmp', rows(ix, 8), 8, palette=pal(pal8), colors=256, offset=0))
    short = [pal8[i] for i in range(20)]  # indices 20..255 fall past the palette
    reference(bmp('p8_short_palette.bmp', rows(ix, 8), 8, palette=pal(short), colors=20))
    p4 = src.quantize(colors=16, method=Image.Quantize.MEDIANCUT)
    ix4 = np.asarray(p4)
    pal4 = [tuple(p4.getpalette()[3 * i:3 * i + 3]) for i in range(16)]
    reference(bmp('p4.bmp', rows(ix4, 4), 4, palette=pal(pal4), colors=16))
    ix1 = (np.asarray(src.convert('L')) > 110).astype(np.uint8)
    reference(bmp('p1.bmp', rows(ix1, 1), 1, palette=pal([(20, 40, 200), (250, 220, 10)]), colors=2))
    reference(bmp('bw1.bmp', rows(ix1, 1), 1, palette=pal([(0, 0, 0), (255, 255, 255)]), colors=2))
    grey = np.asarray(src.convert('L'))
    reference(bmp('l8.bmp', rows(grey, 8), 8, palette=pal([(i, i, i) for i in range(256)]), colors=256))
    # Pillow's quirks: a black-and-white palette over 8-bit pixels reads them as bits; a grey
    # 16-entry palette over 4-bit pixels reads them as bytes, and refuses (rows too short)
    reference(bmp('bw_palette_8bit.bmp', rows(ix, 8), 8, palette=pal([(0, 0, 0), (255, 255, 255)]), colors=2))
    reference(bmp('grey16_palette_4bit.bmp', rows(ix4, 4), 4, palette=pal([(i, i, i) for i in range(16)]), colors=16))

    # ---- RLE
    f = bmp('rle8.bmp', [rle8(ix)], 8, palette=pal(pal8), compression=1, colors=256)
    reference(f)
    reference(bmp('rle4.bmp', [rle4(ix4)], 4, palette=pal(pal4), compression=2, colors=16))
    reference(bmp('rle8_truncated.bmp', [rle8(ix)[:900]], 8, palette=pal(pal8), compression=1, colors=256))
    # Pillow's RLE quirks: an absolute run past the end of a row spills into the next one (and
    # then encoded runs are clipped to nothing until the end of line); an odd RLE4 absolute run
    # loses its last pixel but advances x by the count
    spill = bytes((0, 40)) + bytes(range(40)) + bytes((5, 7)) + b'\0\0' + b''.join(bytes((W, y)) + b'\0\0' for y in range(H - 2)) + b'\0\1'
    reference(bmp('rle8_spill.bmp', [spill], 8, palette=pal(pal8), compression=1, colors=256))
    odd = b''.join(bytes((0, 5, 0x12, 0x34, 0x50, 0)) + bytes((W - 5, 0x9a)) + b'\0\0' for _ in range(H)) + b'\0\1'
    reference(bmp('rle4_odd.bmp', [odd], 4, palette=pal(pal4), compression=2, colors=16))
    reference(bmp('p8_300_colors.bmp', rows(ix, 8), 8, palette=pal(pal8 + pal8[:44]), colors=300))

    # ---- refused
    d = (OUT / 'rgb24.bmp').read_bytes()
    (OUT / 'truncated.bmp').write_bytes(d[:len(d) // 2])
    reference(OUT / 'truncated.bmp')
    reference(bmp('depth2.bmp', rows(ix4 & 3, 2), 2, palette=pal(pal4[:4]), colors=4))
    big = bytearray(d[:54])
    struct.pack_into('<ii', big, 18, 50000, 50000)
    (OUT / 'huge.bmp').write_bytes(bytes(big))
    reference(OUT / 'huge.bmp')

    # ---- formats sharp reads that PIL reads its own way
    k = rng.integers(0, 200, (H, W, 1))
    cmyk = np.concatenate([255 - rgb.astype(int), k], 2).clip(0, 255).astype(np.uint8)
    Image.fromarray(cmyk, 'CMYK').save(OUT / 'cmyk.jpg', quality=95)
    reference(OUT / 'cmyk.jpg')
    g16 = (np.asarray(src.convert('L')).astype(np.uint16) * 257 // 4 + rng.integers(0, 64, (H, W))).astype(np.uint16)
    Image.fromarray(g16, 'I;16').save(OUT / 'grey16.png')  # PIL clips to 255 in convert('RGB')
    reference(OUT / 'grey16.png')
    (OUT / 'grey16_low.png').write_bytes(png16_grey((np.asarray(src.convert('L')).astype(np.uint16))))  # values <= 255
    reference(OUT / 'grey16_low.png')
    (OUT / 'rgb16.png').write_bytes(png16_rgb((rgb.astype(np.uint32) * 257 + rng.integers(0, 257, (H, W, 3))).astype('>u2')))
    reference(OUT / 'rgb16.png')
    frames = [src, src.transpose(Image.FLIP_LEFT_RIGHT), src.rotate(180)]
    frames[0].save(OUT / 'animated.gif', save_all=True, append_images=frames[1:], duration=100, loop=0)
    reference(OUT / 'animated.gif')
    frames[0].save(OUT / 'animated.webp', save_all=True, append_images=frames[1:], duration=100, loop=0, lossless=True)
    reference(OUT / 'animated.webp')
    src.convert('RGBA').save(OUT / 'rgba.png')
    reference(OUT / 'rgba.png')
    src.convert('P').save(OUT / 'palette.png')
    reference(OUT / 'palette.png')

    (OUT / 'index.json').write_text(json.dumps(index, indent=1, sort_keys=True) + '\n')
    print(f'wrote {len(index)} images to {OUT}')


def _png(w, h, depth, ctype, raw_rows):
    def chunk(t, d):
        return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d) & 0xffffffff)
    raw = b''.join(b'\0' + r for r in raw_rows)
    return b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, depth, ctype, 0, 0, 0)) + chunk(b'IDAT', zlib.compress(raw, 9)) + chunk(b'IEND', b'')


def png16_grey(a):
    return _png(W, H, 16, 0, [a[y].astype('>u2').tobytes() for y in range(H)])


def png16_rgb(a):
    return _png(W, H, 16, 2, [a[y].tobytes() for y in range(H)])


if __name__ == '__main__':
    main()
