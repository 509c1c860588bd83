// Training figures: PNGs read back with sharp; curves checked at pixel level (a decreasing loss
// is drawn going down), the confusion matrix's diagonal is darker than the rest, hostile class
// names and a machine with no font at all do not break it, 1000 classes render quickly.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { confusionLayout, escapeXml, type CurvePoint } from '../src/plot/plot.js';
import { drawConfusionMatrix, drawCurves } from '../src/platform/node/plot.js';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

interface Raw { data: Buffer; width: number; height: number; channels: number }

async function readPng(png: Buffer): Promise<Raw> {
  assert.ok(png.subarray(0, 8).equals(PNG_SIGNATURE), 'PNG signature');
  const meta = await sharp(png).metadata();
  assert.equal(meta.format, 'png');
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  assert.equal(info.width, meta.width);
  assert.equal(info.height, meta.height);
  return { data, width: info.width, height: info.height, channels: info.channels };
}

const px = (img: Raw, x: number, y: number): [number, number, number] => {
  const o = (y * img.width + x) * img.channels;
  return [img.data[o], img.data[o + 1], img.data[o + 2]];
};

/** Is (x, y) within `tol` of colour c on every channel? */
const near = (img: Raw, x: number, y: number, c: [number, number, number], tol = 40): boolean => {
  const p = px(img, x, y);
  return Math.abs(p[0] - c[0]) <= tol && Math.abs(p[1] - c[1]) <= tol && Math.abs(p[2] - c[2]) <= tol;
};

const TRAIN: [number, number, number] = [0x1f, 0x77, 0xb4];
const VAL: [number, number, number] = [0xff, 0x7f, 0x0e];

/**
 * Pixels of colour c in `a` that are not that colour in `b` (same size), within x0 <= x < x1:
 * with the same axis ranges, this is where a's series lies and b's does not (legend, axes and
 * text are the same in both and cancel out).
 */
function curvePixels(a: Raw, b: Raw, c: [number, number, number], x0: number, x1: number): { x: number; y: number }[] {
  const out: { x: number; y: number }[] = [];
  for (let y = 0; y < a.height; y++) for (let x = x0; x < x1; x++) if (near(a, x, y, c) && !near(b, x, y, c)) out.push({ x, y });
  return out;
}

/** Mean y of the pixels in the left and right halves of their own x extent. */
function meanYHalves(pts: { x: number; y: number }[]): [number, number] {
  const xs = pts.map((p) => p.x);
  const mid = (Math.min(...xs) + Math.max(...xs)) / 2;
  const mean = (q: { y: number }[]): number => q.reduce((s, p) => s + p.y, 0) / q.length;
  return [mean(pts.filter((p) => p.x < mid)), mean(pts.filter((p) => p.x >= mid))];
}

test('drawCurves: a PNG of the default and of the asked size', async () => {
  const pts: CurvePoint[] = [1, 2, 3].map((e) => ({ epoch: e, trainLoss: 1 / e, valLoss: 1.2 / e, trainAcc: 0.3 * e, valAcc: 0.25 * e }));
  const a = await readPng(await drawCurves(pts));
  assert.deepEqual([a.width, a.height], [1200, 480]);
  const b = await readPng(await drawCurves(pts, { width: 640, height: 300, title: 'run <1> & "x"' }));
  assert.deepEqual([b.width, b.height], [640, 300]);
});

test('drawCurves: a decreasing loss is drawn going down, a rising accuracy going up (pixels)', async () => {
  // same values, reversed in time: same axes, mirrored curves
  const e = Array.from({ length: 30 }, (_, i) => 1 + i / 3);
  const loss = e.map((x) => 2.5 * Math.exp(-x / 3) + 0.1);
  const acc = e.map((x) => 0.95 - 0.8 * Math.exp(-x / 3));
  const down = e.map((x, i): CurvePoint => ({ epoch: x, trainLoss: loss[i], valLoss: loss[i] + 0.2, trainAcc: acc[i], valAcc: acc[i] - 0.1 }));
  const up = e.map((x, i): CurvePoint => ({ epoch: x, trainLoss: loss[29 - i], valLoss: loss[29 - i] + 0.2, trainAcc: acc[29 - i], valAcc: acc[29 - i] - 0.1 }));
  const a = await readPng(await drawCurves(down));
  const b = await readPng(await drawCurves(up));
  const half = a.width / 2;
  for (const [colour, name] of [[TRAIN, 'train'], [VAL, 'val']] as const) {
    const lossPx = curvePixels(a, b, colour, 0, half);
    const accPx = curvePixels(a, b, colour, half, a.width);
    assert.ok(lossPx.length > 200 && accPx.length > 200, `${name}: curve pixels found (${lossPx.length}, ${accPx.length})`);
    const [lossL, lossR] = meanYHalves(lossPx);
    assert.ok(lossL < lossR - 50, `${name} loss: left part higher on the image (y ${lossL.toFixed(0)} < ${lossR.toFixed(0)})`);
    const [accL, accR] = meanYHalves(accPx);
    assert.ok(accL > accR + 50, `${name} accuracy: left part lower on the image (y ${accL.toFixed(0)} > ${accR.toFixed(0)})`);
  }
  // the loss curve spans most of its panel's width (x is the epoch, from 1 to 10.67)
  const xs = curvePixels(a, b, TRAIN, 0, half).map((p) => p.x);
  assert.ok(Math.max(...xs) - Math.min(...xs) > half * 0.6);
});

test('drawCurves: NaN, Infinity and missing values are skipped (same image as without them)', async () => {
  const clean: CurvePoint[] = [
    { epoch: 1, trainLoss: 2, valLoss: 2.2, trainAcc: 0.2, valAcc: 0.15 },
    { epoch: 2, trainLoss: 1, valLoss: 1.5, trainAcc: 0.5, valAcc: 0.4 },
    { epoch: 3, trainLoss: 0.5, valLoss: 1.1, trainAcc: 0.7, valAcc: 0.6 },
  ];
  const dirty: CurvePoint[] = [
    clean[0],
    { epoch: 1.5, trainLoss: NaN, valLoss: Infinity, trainAcc: -Infinity, lr: NaN },
    clean[1],
    { epoch: 2.5 },
    { epoch: NaN, trainLoss: 0.1 },
    clean[2],
  ];
  const a = await readPng(await drawCurves(clean));
  const b = await readPng(await drawCurves(dirty));
  assert.ok(a.data.equals(b.data), 'bad values change nothing');
});

test('drawCurves: one point, no points, one series only, constant series, per-step points, 10^5 points', async () => {
  const cases: [string, CurvePoint[]][] = [
    ['one point', [{ epoch: 1, trainLoss: 0.7, valAcc: 0.5 }]],
    ['no points', []],
    ['only val accuracy', [{ epoch: 1, valAcc: 0.4 }, { epoch: 2, valAcc: 0.6 }]],
    ['constant', [1, 2, 3, 4].map((e) => ({ epoch: e, trainLoss: 0.25, trainAcc: 1, valAcc: 0 }))],
    ['zero loss', [1, 2].map((e) => ({ epoch: e, trainLoss: 0 }))],
    ['per step + lr', Array.from({ length: 200 }, (_, i) => ({ epoch: i / 100, step: i, trainLoss: 3 - i / 100, lr: 0.1 * Math.min(1, i / 50) }))],
    ['huge', Array.from({ length: 100_000 }, (_, i) => ({ epoch: i / 1000, trainLoss: 1 + Math.sin(i) }))],
    ['extreme', [{ epoch: 0, trainLoss: 1e30 }, { epoch: 1, trainLoss: 1e-30 }]],
  ];
  for (const [name, pts] of cases) {
    const img = await readPng(await drawCurves(pts, { width: 800, height: 320 }));
    assert.deepEqual([img.width, img.height], [800, 320], name);
  }
  // a single point is drawn: the image differs from the one with no data
  const one = await readPng(await drawCurves([{ epoch: 1, trainLoss: 0.7 }]));
  assert.ok(curvePixels(one, await readPng(await drawCurves([])), TRAIN, 0, one.width / 2).length > 10);
});

test('BAD CALL - drawCurves: wrong points or size', async () => {
  await assert.rejects(drawCurves('x' as unknown as CurvePoint[]), { name: 'TypeError', message: /points must be an array/ });
  await assert.rejects(drawCurves([], { width: 10 }), { name: 'RangeError', message: /width must be an integer in 320\.\.8000, got 10/ });
  await assert.rejects(drawCurves([], { height: 1.5 }), { name: 'RangeError', message: /height/ });
});

/** Mean colour of the part of cell (i, j) near its top-left corner (away from its text). */
function cellColour(img: Raw, L: { left: number; top: number; cell: number }, i: number, j: number): [number, number, number] {
  const x0 = L.left + j * L.cell + Math.floor(L.cell * 0.1) + 1;
  const y0 = L.top + i * L.cell + Math.floor(L.cell * 0.1) + 1;
  const w = Math.max(1, Math.floor(L.cell * 0.15));
  const s = [0, 0, 0];
  for (let y = y0; y < y0 + w; y++) for (let x = x0; x < x0 + w; x++) { const p = px(img, x, y); s[0] += p[0]; s[1] += p[1]; s[2] += p[2]; }
  return s.map((v) => v / (w * w)) as [number, number, number];
}
const lightness = (c: number[]): number => (Math.max(...c) + Math.min(...c)) / 2;
const chroma = (c: number[]): number => Math.max(...c) - Math.min(...c);

/** An identity-like matrix: `diag` on the diagonal, small deterministic noise elsewhere. */
function identityLike(n: number, diag: number, off: (i: number, j: number) => number): number[][] {
  return Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? diag : off(i, j))));
}

test('drawConfusionMatrix: diagonal cells are darker and more saturated than off-diagonal ones', async () => {
  for (const normalize of [false, true]) {
    const n = 6;
    const m = identityLike(n, 50, (i, j) => (i * 7 + j * 3) % 5);
    const names = ['cat', 'dog', 'bird', 'fish', 'a rather long class name', 'x'];
    const L = confusionLayout(m, names, { normalize });
    const img = await readPng(await drawConfusionMatrix(m, names, { normalize }));
    assert.deepEqual([img.width, img.height], [L.width, L.height]);
    assert.ok(L.labelled && L.cell >= 28);
    let darkestOff = 255;
    let palestDiag = 0;
    let mostChromaOff = 0;
    let leastChromaDiag = 255;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        const c = cellColour(img, L, i, j);
        if (i === j) { palestDiag = Math.max(palestDiag, lightness(c)); leastChromaDiag = Math.min(leastChromaDiag, chroma(c)); }
        else { darkestOff = Math.min(darkestOff, lightness(c)); mostChromaOff = Math.max(mostChromaOff, chroma(c)); }
      }
    }
    assert.ok(palestDiag < darkestOff - 60, `normalize=${normalize}: diagonal lightness ${palestDiag} vs off ${darkestOff}`);
    assert.ok(leastChromaDiag > mostChromaOff + 40, `normalize=${normalize}: diagonal chroma ${leastChromaDiag} vs off ${mostChromaOff}`);
    // the colour follows the count: the off-diagonal 4s are darker than the 0s
    const byValue = (v: number): [number, number] => { for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (i !== j && m[i][j] === v) return [i, j]; throw new Error(`no ${v}`); };
    const [i4, j4] = byValue(4);
    const [i0, j0] = byValue(0);
    assert.ok(lightness(cellColour(img, L, i4, j4)) < lightness(cellColour(img, L, i0, j0)) - 5);
  }
});

test('drawConfusionMatrix: XML-hostile and awkward class names and titles', async () => {
  const hostile = ['<a&b>', '"quoted" \'single\'', ']]><!--', 'ctrl\u0001\u0007char', 'emoji 🐱‍👤 ünï', 'x'.repeat(500)];
  const m = identityLike(hostile.length, 9, () => 1);
  const img = await readPng(await drawConfusionMatrix(m, hostile, { title: '</svg><script>&', normalize: true }));
  assert.equal(img.width, confusionLayout(m, hostile, { normalize: true }).width);
  // the hostile name is drawn (not dropped): the image differs from one with an empty first name
  const plain = await readPng(await drawConfusionMatrix(m, ['', ...hostile.slice(1)], { title: '</svg><script>&', normalize: true }));
  assert.equal(plain.width, img.width);
  assert.ok(!plain.data.equals(img.data));
  assert.equal(escapeXml('<a&b>"\''), '&lt;a&amp;b&gt;&quot;&apos;');
  // curves titles go through the same escaping
  await readPng(await drawCurves([{ epoch: 1, trainLoss: 1 }], { title: '<a&b> ]]>' }));
});

test('drawConfusionMatrix: 2 classes, an empty row, no samples at all', async () => {
  await readPng(await drawConfusionMatrix([[40, 3], [7, 50]], ['no', 'yes'], { normalize: true }));
  await readPng(await drawConfusionMatrix([[4, 1, 0], [0, 0, 0], [1, 0, 3]], ['a', 'b', 'c'], { normalize: true }));
  await readPng(await drawConfusionMatrix([[0, 0], [0, 0]], ['a', 'b']));
  await readPng(await drawConfusionMatrix([[123456, 7], [2, 9876543]], ['big', 'bigger'], { normalize: true }));
});

test('drawConfusionMatrix: 1000 classes render in under 2 s, one pixel per cell, diagonal visible', async () => {
  const n = 1000;
  const m = identityLike(n, 40, (i, j) => ((i * 31 + j * 17) % 97 === 0 ? 2 : 0));
  const names = Array.from({ length: n }, (_, i) => `class ${i}`);
  const t0 = performance.now();
  const png = await drawConfusionMatrix(m, names, { normalize: true });
  const ms = performance.now() - t0;
  assert.ok(ms < 2000, `took ${ms.toFixed(0)} ms`);
  const L = confusionLayout(m, names, { normalize: true });
  assert.equal(L.labelled, false);
  assert.deepEqual([L.cell, L.side], [1, 1000]);
  const img = await readPng(png);
  assert.deepEqual([img.width, img.height], [L.width, L.height]);
  let diagDark = 0;
  let offDark = 0;
  for (let i = 5; i < n - 5; i += 7) {
    if (lightness(px(img, L.left + i, L.top + i)) < 160) diagDark++;
    if (lightness(px(img, L.left + ((i + 500) % n), L.top + i)) < 160) offDark++;
  }
  assert.ok(diagDark > 130 && offDark === 0, `diagonal ${diagDark}, off ${offDark}`);
});

test('BAD CALL - drawConfusionMatrix: shape, names and counts', async () => {
  await assert.rejects(drawConfusionMatrix([[1, 2], [3]], ['a', 'b']), { name: 'RangeError', message: /matrix must be 2 x 2: row 1 has 1 entries/ });
  await assert.rejects(drawConfusionMatrix([[1, 2], [3, 4]], ['a']), { name: 'RangeError', message: /classNames has 1 names but matrix has 2 rows/ });
  await assert.rejects(drawConfusionMatrix([[1, -2], [3, 4]], ['a', 'b']), { name: 'RangeError', message: /matrix\[0\]\[1\] must be a finite count >= 0, got -2/ });
  await assert.rejects(drawConfusionMatrix([[1, NaN], [3, 4]], ['a', 'b']), { name: 'RangeError', message: /got NaN/ });
  await assert.rejects(drawConfusionMatrix([], []), { name: 'RangeError', message: /at least one row/ });
  await assert.rejects(drawConfusionMatrix('m' as unknown as number[][], ['a']), { name: 'TypeError' });
});

test('no font on the machine: both figures still render (glyphs become boxes, nothing throws)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mnv2-nofont-'));
  const conf = join(dir, 'fonts.conf');
  // a fontconfig setup with no font directory at all
  writeFileSync(conf, `<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "fonts.dtd">\n<fontconfig><cachedir>${dir}/cache</cachedir></fontconfig>\n`);
  const mod = new URL('../src/platform/node/plot.js', import.meta.url).href;
  const script = `
    import { drawCurves, drawConfusionMatrix } from ${JSON.stringify(mod)};
    const a = await drawCurves([{ epoch: 1, trainLoss: 1, valAcc: 0.5 }, { epoch: 2, trainLoss: 0.5, valAcc: 0.7 }], { title: 'no <font>' });
    const b = await drawConfusionMatrix([[3, 1], [0, 4]], ['<a&b>', 'b'], { normalize: true });
    process.stdout.write(JSON.stringify([a.subarray(1, 4).toString(), b.subarray(1, 4).toString(), a.length, b.length]));
  `;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, FONTCONFIG_FILE: conf, FONTCONFIG_PATH: dir },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const [sigA, sigB, lenA, lenB] = JSON.parse(out) as [string, string, number, number];
  assert.deepEqual([sigA, sigB], ['PNG', 'PNG']);
  assert.ok(lenA > 1000 && lenB > 1000);
});
