// Training figures: loss/accuracy curves and confusion matrices, drawn as SVG strings, with the
// confusion matrix's heat map as raw pixels (so 1000 classes, 10^6 cells, stay fast). Platform-free:
// Node rasterises them to PNG with sharp (platform/node/plot.ts), a page can show the SVG as it is.
// Text uses "DejaVu Sans, sans-serif"; on a machine with no font at all librsvg draws empty boxes
// in place of glyphs, it does not fail.

/** One row of metrics: per epoch (integer `epoch`) or per step (fractional `epoch`). */
export interface CurvePoint {
  epoch: number;
  step?: number;
  trainLoss?: number;
  valLoss?: number;
  /** Accuracy as a fraction in [0, 1]; drawn in %. */
  trainAcc?: number;
  /** Accuracy as a fraction in [0, 1]; drawn in %. */
  valAcc?: number;
  /** Learning rate; drawn dashed on the loss panel against a right-hand axis. */
  lr?: number;
}

export interface CurvesOptions {
  title?: string;
  /** Whole image width in pixels (default 1200, 320..8000). */
  width?: number;
  /** Image height in pixels (default 480, 200..8000). */
  height?: number;
}

export interface ConfusionOptions {
  title?: string;
  /** Colour and label cells by the row-normalised fraction (recall per true class). */
  normalize?: boolean;
}

const FONT = 'DejaVu Sans, Liberation Sans, Arial, sans-serif';
const TRAIN_COLOUR = '#1f77b4';
const VAL_COLOUR = '#ff7f0e';
const LR_COLOUR = '#7f7f7f';
const TEXT_COLOUR = '#222222';
const GRID_COLOUR = '#e6e6e6';
const AXIS_COLOUR = '#444444';

/** Escapes text for SVG character data and attribute values. */
export function escapeXml(s: string): string {
  // Characters XML 1.0 forbids even as references (C0 controls except \t \n \r) are dropped.
  return s.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, '')
    .replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/** Shortens `s` to at most `max` characters (code points), ending with an ellipsis. */
function truncate(s: string, max: number): string {
  const cps = [...s];
  return cps.length <= max ? s : cps.slice(0, max - 1).join('') + '…';
}

/** Rough text width for DejaVu Sans (average advance ~0.6 em). */
function textWidth(s: string, fontSize: number): number {
  return [...s].length * fontSize * 0.6;
}

function text(x: number, y: number, s: string, size: number, attrs = ''): string {
  return `<text x="${r(x)}" y="${r(y)}" font-size="${r(size)}" ${attrs}>${escapeXml(s)}</text>`;
}

/** Rounds coordinates to 0.1 px to keep the SVG short. */
function r(v: number): string {
  return String(Math.round(v * 10) / 10);
}

interface Ticks { lo: number; hi: number; ticks: number[]; step: number }

/** About `target` "nice" ticks (1, 2, 5 x 10^k) covering [lo, hi]; lo < hi, both finite. */
function niceTicks(lo: number, hi: number, target = 5): Ticks {
  const raw = (hi - lo) / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  const step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
  const a = Math.floor(lo / step + 1e-9);
  const b = Math.ceil(hi / step - 1e-9);
  const ticks: number[] = [];
  for (let i = a; i <= b; i++) ticks.push(i * step);
  return { lo: a * step, hi: b * step, ticks, step };
}

/** Formats a tick value with as many decimals as the tick step needs. */
function fmtTick(v: number, step: number): string {
  if (v === 0) return '0';
  const av = Math.abs(v);
  if (av >= 1e6 || av < 1e-4) return v.toExponential(Math.max(0, Math.min(3, Math.ceil(-Math.log10(step / av)) - 1))).replace('e+', 'e');
  const dec = Math.max(0, Math.min(8, -Math.floor(Math.log10(step) + 1e-9)));
  return v.toFixed(dec);
}

/** Formats a metric value in a legend: 4 significant digits. */
function fmtValue(v: number): string {
  const av = Math.abs(v);
  if (av !== 0 && (av >= 1e6 || av < 1e-3)) return v.toExponential(2).replace('e+', 'e');
  return String(Number(v.toPrecision(4)));
}

/** A range that contains every value with a margin; a single value gets a symmetric pad. */
function padRange(values: number[], frac = 0.05): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) { if (v < lo) lo = v; if (v > hi) hi = v; }
  const span = hi - lo;
  if (!(span > Math.max(Math.abs(lo), Math.abs(hi)) * 1e-9)) {
    const d = Math.abs(lo) * 0.1 || 1; // constant series
    return [lo - d, hi + d];
  }
  return [lo - span * frac, hi + span * frac];
}

interface Series { name: string; colour: string; xy: [number, number][]; dashed?: boolean; unit?: string; bestMax?: boolean }

interface Axis { lo: number; hi: number; ticks: number[]; step: number }

/**
 * Reduces a long series to the first, min, max and last point of each pixel column, so a run
 * with 10^5 logged steps stays a small SVG that still shows every spike.
 */
function decimate(xy: [number, number][], x0: number, x1: number, columns: number): [number, number][] {
  if (xy.length <= columns * 4) return xy;
  const out: [number, number][] = [];
  let col = -1;
  let bucket: [number, number][] = [];
  const flush = (): void => {
    if (bucket.length === 0) return;
    let mn = bucket[0];
    let mx = bucket[0];
    for (const p of bucket) { if (p[1] < mn[1]) mn = p; if (p[1] > mx[1]) mx = p; }
    const keep = new Set([bucket[0], mn, mx, bucket[bucket.length - 1]]);
    for (const p of bucket) if (keep.has(p)) out.push(p);
    bucket = [];
  };
  for (const p of xy) {
    const c = Math.floor(((p[0] - x0) / (x1 - x0 || 1)) * columns);
    if (c !== col) { flush(); col = c; }
    bucket.push(p);
  }
  flush();
  return out;
}

/**
 * One panel of the curves figure: frame, grid, ticks, legend row above the plot, the series,
 * and optionally a second series group on a right-hand axis.
 */
function panel(
  box: { x: number; y: number; w: number; h: number },
  heading: string,
  series: Series[],
  xAxis: Axis,
  yFixed: [number, number] | null,
  right: Series | null,
  yLabel: string,
  xLabel = 'epoch',
): string {
  const out: string[] = [];
  const present = series.filter((s) => s.xy.length > 0);
  const hasRight = right !== null && right.xy.length > 0;
  const ml = 62;
  const mr = hasRight ? 62 : 18;
  const mt = 48; // heading + legend row
  const mb = 44; // tick labels + "epoch"
  const px = box.x + ml;
  const py = box.y + mt;
  const pw = Math.max(10, box.w - ml - mr);
  const ph = Math.max(10, box.h - mt - mb);

  out.push(text(box.x + box.w / 2, box.y + 16, heading, 14, 'text-anchor="middle" font-weight="bold"'));

  // y range: from the data, clamped to yFixed (accuracy stays within 0..100 %)
  const ys = present.flatMap((s) => s.xy.map((p) => p[1]));
  let [ylo, yhi] = ys.length > 0 ? padRange(ys) : yFixed ?? [0, 1];
  if (yFixed) { ylo = Math.max(ylo, yFixed[0]); yhi = Math.min(yhi, yFixed[1]); }
  else if (ys.length > 0 && Math.min(...ys) >= 0) ylo = Math.max(ylo, 0); // a loss is never drawn below 0
  const yAxis = niceTicks(ylo, yhi, Math.max(2, Math.min(8, Math.round(ph / 50))));
  const X = (v: number): number => px + ((v - xAxis.lo) / (xAxis.hi - xAxis.lo)) * pw;
  const Y = (v: number): number => py + ph - ((v - yAxis.lo) / (yAxis.hi - yAxis.lo)) * ph;

  // grid and ticks
  for (const t of yAxis.ticks) {
    out.push(`<line x1="${r(px)}" x2="${r(px + pw)}" y1="${r(Y(t))}" y2="${r(Y(t))}" stroke="${GRID_COLOUR}"/>`);
    out.push(text(px - 6, Y(t) + 4, fmtTick(t, yAxis.step), 11, 'text-anchor="end"'));
  }
  for (const t of xAxis.ticks) {
    out.push(`<line x1="${r(X(t))}" x2="${r(X(t))}" y1="${r(py)}" y2="${r(py + ph)}" stroke="${GRID_COLOUR}"/>`);
    out.push(text(X(t), py + ph + 16, fmtTick(t, xAxis.step), 11, 'text-anchor="middle"'));
  }
  out.push(`<rect x="${r(px)}" y="${r(py)}" width="${r(pw)}" height="${r(ph)}" fill="none" stroke="${AXIS_COLOUR}"/>`);
  out.push(text(px + pw / 2, py + ph + 36, xLabel, 12, 'text-anchor="middle"'));
  out.push(text(box.x + 14, py + ph / 2, yLabel, 12, `text-anchor="middle" transform="rotate(-90 ${r(box.x + 14)} ${r(py + ph / 2)})"`));

  // legend row: a short line sample, the name, the last value (and the best for accuracy)
  const legend = [...present, ...(hasRight ? [right] : [])];
  let lx = px;
  for (const s of legend) {
    const last = s.xy[s.xy.length - 1][1];
    let label = `${s.name} ${fmtValue(last)}${s.unit ?? ''}`;
    if (s.bestMax && s.xy.length > 1) label += ` (best ${fmtValue(Math.max(...s.xy.map((p) => p[1])))}${s.unit ?? ''})`;
    out.push(`<line x1="${r(lx)}" x2="${r(lx + 22)}" y1="${r(box.y + 34)}" y2="${r(box.y + 34)}" stroke="${s.colour}" stroke-width="2.5"${s.dashed ? ' stroke-dasharray="5 3"' : ''}/>`);
    out.push(text(lx + 27, box.y + 38, label, 11));
    lx += 27 + textWidth(label, 11) + 16;
  }
  if (present.length === 0) out.push(text(px + pw / 2, py + ph / 2, 'no data', 13, `text-anchor="middle" fill="#999999"`));

  // series, clipped to the plot area
  const clip = `clip${Math.round(box.x)}`;
  out.push(`<clipPath id="${clip}"><rect x="${r(px)}" y="${r(py)}" width="${r(pw)}" height="${r(ph)}"/></clipPath>`);
  const draw = (s: Series, Yf: (v: number) => number): void => {
    const pts = decimate(s.xy, xAxis.lo, xAxis.hi, Math.ceil(pw));
    const dash = s.dashed ? ' stroke-dasharray="5 3"' : '';
    if (pts.length > 1) {
      const d = pts.map((p) => `${r(X(p[0]))},${r(Yf(p[1]))}`).join(' ');
      out.push(`<polyline clip-path="url(#${clip})" points="${d}" fill="none" stroke="${s.colour}" stroke-width="2" stroke-linejoin="round"${dash}/>`);
    }
    if (pts.length <= 40 && !s.dashed) {
      for (const p of pts) out.push(`<circle clip-path="url(#${clip})" cx="${r(X(p[0]))}" cy="${r(Yf(p[1]))}" r="3" fill="${s.colour}"/>`);
    }
  };
  if (hasRight) {
    const rv = right.xy.map((p) => p[1]);
    const rAxis = niceTicks(Math.min(0, ...rv), Math.max(...rv) > 0 ? Math.max(...rv) : 1, Math.max(2, Math.min(6, Math.round(ph / 60))));
    const YR = (v: number): number => py + ph - ((v - rAxis.lo) / (rAxis.hi - rAxis.lo)) * ph;
    for (const t of rAxis.ticks) out.push(text(px + pw + 6, YR(t) + 4, fmtTick(t, rAxis.step), 11, `fill="${LR_COLOUR}"`));
    draw(right, YR);
  }
  for (const s of present) draw(s, Y);
  return out.join('\n');
}

function checkDimension(name: string, v: number | undefined, dflt: number, min: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number') throw new TypeError(`${name} must be a number, got ${typeof v}`);
  if (!Number.isInteger(v) || v < min || v > 8000) throw new RangeError(`${name} must be an integer in ${min}..8000, got ${v}`);
  return v;
}

const isFiniteNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/**
 * Loss and accuracy curves as an SVG: two panels side by side, loss (train, val and the
 * learning rate when logged) and accuracy in % (train, val), both against the epoch. Points
 * may be per epoch or per step (fractional epoch); NaN, infinite and missing values are skipped.
 */
export function curvesSvg(points: CurvePoint[], opts: CurvesOptions = {}): string {
  if (!Array.isArray(points)) throw new TypeError(`points must be an array, got ${typeof points}`);
  const width = checkDimension('width', opts.width, 1200, 320);
  const height = checkDimension('height', opts.height, 480, 200);
  const pts = points.filter((p) => p !== null && typeof p === 'object' && isFiniteNumber(p.epoch))
    .sort((a, b) => a.epoch - b.epoch || (a.step ?? 0) - (b.step ?? 0));

  const series = (key: keyof CurvePoint, scale = 1): [number, number][] => {
    const xy: [number, number][] = [];
    for (const p of pts) {
      const v = p[key];
      if (isFiniteNumber(v) && Number.isFinite(v * scale)) xy.push([p.epoch, v * scale]);
    }
    return xy;
  };
  const loss: Series[] = [
    { name: 'train', colour: TRAIN_COLOUR, xy: series('trainLoss') },
    { name: 'val', colour: VAL_COLOUR, xy: series('valLoss') },
  ];
  const acc: Series[] = [
    { name: 'train', colour: TRAIN_COLOUR, xy: series('trainAcc', 100), unit: '%', bestMax: false },
    { name: 'val', colour: VAL_COLOUR, xy: series('valAcc', 100), unit: '%', bestMax: true },
  ];
  const lr: Series = { name: 'lr', colour: LR_COLOUR, xy: series('lr'), dashed: true };

  // a shared x axis over every drawn value; one epoch gets a symmetric pad
  const xs = [...loss, ...acc, lr].flatMap((s) => s.xy.map((p) => p[0]));
  let [xlo, xhi] = xs.length > 0 ? [Math.min(...xs), Math.max(...xs)] : [0, 1];
  if (!(xhi - xlo > Math.max(Math.abs(xlo), 1) * 1e-9)) { xlo -= 0.5; xhi += 0.5; }
  const xAxis = niceTicks(xlo, xhi, Math.max(2, Math.min(10, Math.round(width / 2 / 90))));

  const titleH = 34;
  const half = width / 2;
  const body = [
    panel({ x: 0, y: titleH, w: half, h: height - titleH }, 'Loss', loss, xAxis, null, lr, 'loss'),
    panel({ x: half, y: titleH, w: half, h: height - titleH }, 'Accuracy (%)', acc, xAxis, [0, 100], null, 'accuracy (%)'),
  ];
  const title = opts.title ?? 'Training curves';
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="${FONT}" fill="${TEXT_COLOUR}">
<rect width="${width}" height="${height}" fill="#ffffff"/>
${text(width / 2, 23, truncate(title, Math.floor(width / 10)), 17, 'text-anchor="middle" font-weight="bold"')}
${body.join('\n')}
</svg>`;
}

// Sequential white -> dark blue colour map (the stops of ColorBrewer's "Blues").
const BLUES: [number, number, number][] = [
  [247, 251, 255], [222, 235, 247], [198, 219, 239], [158, 202, 225], [107, 174, 214],
  [66, 146, 198], [33, 113, 181], [8, 81, 156], [8, 48, 107],
];

/** The map sampled at 256 levels: (256, 3) bytes, level k for t = k / 255. */
const BLUES_LUT = ((): Uint8Array => {
  const lut = new Uint8Array(256 * 3);
  for (let k = 0; k < 256; k++) {
    const u = (k / 255) * (BLUES.length - 1);
    const i = Math.min(BLUES.length - 2, Math.floor(u));
    const f = u - i;
    for (let c = 0; c < 3; c++) lut[k * 3 + c] = Math.round(BLUES[i][c] + (BLUES[i + 1][c] - BLUES[i][c]) * f);
  }
  return lut;
})();

/** LUT level of t in [0, 1]. */
const levelIndex = (t: number): number => Math.round(Math.min(1, Math.max(0, t)) * 255);

/** Relative luminance (sRGB, WCAG) of LUT level k; above ~0.4 black text reads better than white. */
function luminance(k: number): number {
  const lin = (c: number): number => { const s = c / 255; return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4; };
  return 0.2126 * lin(BLUES_LUT[k * 3]) + 0.7152 * lin(BLUES_LUT[k * 3 + 1]) + 0.0722 * lin(BLUES_LUT[k * 3 + 2]);
}

/** Compact count: 1234 -> "1234", 12345 -> "12.3k", 1234567 -> "1.23M". */
function fmtCount(v: number): string {
  if (v < 10000) return String(v);
  if (v < 1e6) return `${Number((v / 1e3).toPrecision(3))}k`;
  return `${Number((v / 1e6).toPrecision(3))}M`;
}

/** Up to 40 classes every cell carries its numbers and every class its name. */
const LABELLED_MAX = 40;
const NAME_MAX = 24;

/** Where the parts of a confusion-matrix figure lie, in pixels of the PNG. */
export interface ConfusionLayout {
  width: number;
  height: number;
  /** Top-left corner of the heat map; cell (i, j) spans x in [left + j*cell, left + (j+1)*cell). */
  left: number;
  top: number;
  /** Side of one cell, and of the whole heat map (n * cell). */
  cell: number;
  side: number;
  /** Whether class names and per-cell numbers are drawn (n <= 40). */
  labelled: boolean;
}

/** Validates the arguments, counts, and lays the figure out. */
function prepare(matrix: number[][], classNames: string[], opts: ConfusionOptions) {
  if (!Array.isArray(matrix)) throw new TypeError(`matrix must be an array of rows, got ${typeof matrix}`);
  if (!Array.isArray(classNames)) throw new TypeError(`classNames must be an array of strings, got ${typeof classNames}`);
  const n = matrix.length;
  if (n < 1) throw new RangeError('matrix must have at least one row');
  if (classNames.length !== n) throw new RangeError(`classNames has ${classNames.length} names but matrix has ${n} rows`);
  const normalize = opts.normalize ?? false;

  // counts, row sums, trace
  const rowSum = new Float64Array(n);
  let total = 0;
  let correct = 0;
  let maxCount = 0;
  for (let i = 0; i < n; i++) {
    const row = matrix[i];
    if (!Array.isArray(row) || row.length !== n) throw new RangeError(`matrix must be ${n} x ${n}: row ${i} has ${Array.isArray(row) ? row.length : typeof row} entries`);
    for (let j = 0; j < n; j++) {
      const v = row[j];
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new RangeError(`matrix[${i}][${j}] must be a finite count >= 0, got ${String(v)}`);
      rowSum[i] += v;
      if (v > maxCount) maxCount = v;
    }
    total += rowSum[i];
    correct += row[i];
  }
  // the value that sets a cell's colour, in [0, 1]
  const level = (i: number, j: number): number =>
    normalize ? (rowSum[i] > 0 ? matrix[i][j] / rowSum[i] : 0) : maxCount > 0 ? matrix[i][j] / maxCount : 0;

  const labelled = n <= LABELLED_MAX;
  const cell = labelled ? Math.max(28, Math.min(120, Math.floor(840 / n))) : Math.max(1, Math.floor(1000 / n));
  const side = cell * n; // heat map is side x side pixels
  const names = classNames.map((s) => truncate(String(s), NAME_MAX));

  // margins from the longest class name
  const labelFont = 12;
  const maxNameW = labelled ? Math.max(...names.map((s) => textWidth(s, labelFont))) : 0;
  const rotate = labelled && maxNameW > cell - 6; // x labels at -45 degrees when they do not fit
  const yLabelW = labelled ? maxNameW + 10 : 36;
  const xLabelH = labelled ? (rotate ? maxNameW * Math.SQRT1_2 + 16 : 20) : 20;
  const acc = total > 0 ? `accuracy ${(100 * correct / total).toFixed(2)}% (${correct}/${total})` : 'accuracy n/a (no samples)';
  const title = `${truncate(opts.title ?? 'Confusion matrix', 80)}: ${acc}`;
  const subtitle = `${n} classes · rows: true class · columns: predicted${normalize ? ' · colour and % per true class' : ''}`;
  let left = Math.ceil(Math.max(30 + yLabelW, rotate ? maxNameW * Math.SQRT1_2 + 10 - cell / 2 : 0, 40));
  const top = 62;
  const barW = 18;
  const right = 90;
  const bottom = Math.ceil(xLabelH + 34);
  // a small matrix is centred in a figure wide enough for its title
  const minWidth = Math.ceil(Math.max(textWidth(title, 16) * 1.1, textWidth(subtitle, 11)) + 24);
  const content = left + side + 24 + barW + right;
  if (content < minWidth) left += Math.floor((minWidth - content) / 2);
  const width = Math.max(content, minWidth);
  const height = top + side + bottom;

  return { n, normalize, rowSum, total, correct, maxCount, level, names, title, subtitle, rotate, labelFont, barW,
    layout: { width, height, left, top, cell, side, labelled } satisfies ConfusionLayout };
}

/** The geometry `drawConfusionMatrix` uses for these arguments (for overlays and tests). */
export function confusionLayout(matrix: number[][], classNames: string[], opts: ConfusionOptions = {}): ConfusionLayout {
  return prepare(matrix, classNames, opts).layout;
}

/** A confusion matrix picture: the SVG of everything but the heat map, and the heat map's pixels to put under it. */
export interface ConfusionPicture {
  width: number;
  height: number;
  /** Transparent where the heat map shows through. */
  svg: string;
  /** (side, side, 3) RGB at (left, top). */
  heat: { pixels: Uint8Array; side: number; left: number; top: number };
}

/**
 * A confusion matrix (`matrix[true][pred]` counts) as a heat map: class names on both axes,
 * numbers in the cells (count, and the row-normalised % when `normalize`), a colour scale and a
 * title with the overall accuracy. Above 40 classes the per-cell text and names are left out and
 * class indices mark the axes; 1000 classes give a 1000 x 1000 heat map (one pixel per cell).
 */
export function confusionPicture(matrix: number[][], classNames: string[], opts: ConfusionOptions = {}): ConfusionPicture {
  const { n, normalize, maxCount, level, names, title, subtitle, rotate, labelFont, barW, layout } = prepare(matrix, classNames, opts);
  const { width, height, left, top, cell, side, labelled } = layout;

  // heat map pixels: (side, side, 3)
  const heat = new Uint8Array(side * side * 3);
  const levels = new Uint8Array(n * n); // LUT level per cell, (n, n)
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const k = levelIndex(level(i, j));
      levels[i * n + j] = k;
      for (let y = i * cell; y < (i + 1) * cell; y++) {
        let o = (y * side + j * cell) * 3;
        for (let x = 0; x < cell; x++, o += 3) { heat[o] = BLUES_LUT[k * 3]; heat[o + 1] = BLUES_LUT[k * 3 + 1]; heat[o + 2] = BLUES_LUT[k * 3 + 2]; }
      }
    }
  }

  const out: string[] = [];
  out.push(text(width / 2, 24, truncate(title, Math.floor(width / 9)), 16, 'text-anchor="middle" font-weight="bold"'));
  out.push(text(width / 2, 44, subtitle, 11, 'text-anchor="middle" fill="#555555"'));
  out.push(`<rect x="${left - 0.5}" y="${top - 0.5}" width="${side + 1}" height="${side + 1}" fill="none" stroke="${AXIS_COLOUR}"/>`);

  if (labelled) {
    // cell grid and numbers; the font shrinks to fit the widest number in a cell
    for (let k = 1; k < n; k++) {
      out.push(`<line x1="${left + k * cell}" x2="${left + k * cell}" y1="${top}" y2="${top + side}" stroke="#ffffff" stroke-opacity="0.6"/>`);
      out.push(`<line x1="${left}" x2="${left + side}" y1="${top + k * cell}" y2="${top + k * cell}" stroke="#ffffff" stroke-opacity="0.6"/>`);
    }
    const counts = matrix.map((row) => row.map((v) => fmtCount(Number.isInteger(v) ? v : Number(v.toPrecision(3)))));
    const pct = (i: number, j: number): string => `${(100 * level(i, j)).toFixed(level(i, j) >= 0.995 ? 0 : 1)}%`;
    const widest = Math.max(...counts.flat().map((s) => s.length), normalize ? 5 : 0);
    let font = Math.min(16, cell * 0.3, (cell - 4) / (widest * 0.62));
    const twoLines = normalize && font >= 8 && cell >= font * 2.6 + 4; // else one line: % when normalised
    if (font >= 6) {
      font = Math.round(font * 10) / 10;
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < n; j++) {
          const cx = left + (j + 0.5) * cell;
          const cy = top + (i + 0.5) * cell;
          const fill = luminance(levels[i * n + j]) > 0.4 ? '#000000' : '#ffffff';
          const zero = matrix[i][j] === 0;
          const attrs = `text-anchor="middle" fill="${zero ? '#9a9a9a' : fill}"`;
          if (twoLines) {
            out.push(text(cx, cy - 0.15 * font, counts[i][j], font, attrs));
            out.push(text(cx, cy + 0.95 * font, pct(i, j), font * 0.85, attrs));
          } else {
            out.push(text(cx, cy + 0.35 * font, normalize ? pct(i, j) : counts[i][j], font, attrs));
          }
        }
      }
    }
    // class names: true classes on the left, predicted below (rotated when long)
    for (let k = 0; k < n; k++) {
      const c = top + (k + 0.5) * cell;
      out.push(text(left - 6, c + 4, names[k], labelFont, 'text-anchor="end"'));
      const x = left + (k + 0.5) * cell;
      if (rotate) out.push(text(x + 4, top + side + 8, names[k], labelFont, `text-anchor="end" transform="rotate(-45 ${r(x + 4)} ${r(top + side + 8)})"`));
      else out.push(text(x, top + side + 16, names[k], labelFont, 'text-anchor="middle"'));
    }
  } else {
    // too many classes for names: class indices as ticks
    const t = niceTicks(0, n - 1, 8);
    for (const k of t.ticks) {
      if (k > n - 1) continue;
      const p = (k + 0.5) * cell;
      out.push(`<line x1="${r(left + p)}" x2="${r(left + p)}" y1="${top + side}" y2="${top + side + 4}" stroke="${AXIS_COLOUR}"/>`);
      out.push(text(left + p, top + side + 16, String(k), 11, 'text-anchor="middle"'));
      out.push(`<line x1="${left - 4}" x2="${left}" y1="${r(top + p)}" y2="${r(top + p)}" stroke="${AXIS_COLOUR}"/>`);
      out.push(text(left - 6, top + p + 4, String(k), 11, 'text-anchor="end"'));
    }
  }
  out.push(text(left + side / 2, height - 10, labelled ? 'Predicted class' : 'Predicted class (index)', 13, 'text-anchor="middle"'));
  const yl = 14;
  const ylc = top + side / 2;
  out.push(text(yl, ylc, labelled ? 'True class' : 'True class (index)', 13, `text-anchor="middle" transform="rotate(-90 ${yl} ${ylc})"`));

  // colour scale: the map from 0 (bottom) to its maximum (top), ticked in counts or %
  const bx = left + side + 24;
  const bh = side;
  // gradient from the top (t = 1, darkest) down to the bottom (t = 0)
  const stops = BLUES.map((_, k) => `<stop offset="${(k / (BLUES.length - 1)).toFixed(3)}" stop-color="rgb(${BLUES[BLUES.length - 1 - k].join(',')})"/>`);
  out.push(`<defs><linearGradient id="scale" x1="0" y1="0" x2="0" y2="1">${stops.join('')}</linearGradient></defs>`);
  out.push(`<rect x="${bx}" y="${top}" width="${barW}" height="${bh}" fill="url(#scale)" stroke="${AXIS_COLOUR}" stroke-width="0.8"/>`);
  const scaleMax = normalize ? 100 : maxCount > 0 ? maxCount : 1;
  const st = niceTicks(0, scaleMax, Math.max(2, Math.min(6, Math.round(bh / 50))));
  for (const v of st.ticks) {
    if (v > scaleMax * (1 + 1e-9)) continue;
    const y = top + bh - (v / scaleMax) * bh;
    out.push(`<line x1="${bx + barW}" x2="${bx + barW + 4}" y1="${r(y)}" y2="${r(y)}" stroke="${AXIS_COLOUR}"/>`);
    out.push(text(bx + barW + 7, y + 4, normalize ? `${fmtTick(v, st.step)}%` : fmtTick(v, st.step), 11));
  }

  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="${FONT}" fill="${TEXT_COLOUR}">
${out.join('\n')}
</svg>`;
  return { width, height, svg, heat: { pixels: heat, side, left, top } };
}

export interface LineSeries {
  name: string;
  xy: [number, number][];
  colour?: string;
}

const PALETTE = [TRAIN_COLOUR, VAL_COLOUR, '#2ca02c', '#d62728', '#9467bd', '#8c564b'];

/** Any (x, y) series on one panel, e.g. memory against images processed (bench/soak.ts). */
export function lineChartSvg(series: LineSeries[], opts: { title: string; xLabel: string; yLabel: string; width?: number; height?: number }): string {
  const width = checkDimension('width', opts.width, 900, 320);
  const height = checkDimension('height', opts.height, 420, 200);
  const s: Series[] = series.map((x, i) => ({ name: x.name, colour: x.colour ?? PALETTE[i % PALETTE.length]!, xy: x.xy.filter((p) => isFiniteNumber(p[0]) && isFiniteNumber(p[1])) }));
  const xs = s.flatMap((x) => x.xy.map((p) => p[0]));
  let [xlo, xhi] = xs.length > 0 ? [Math.min(...xs), Math.max(...xs)] : [0, 1];
  if (!(xhi > xlo)) { xlo -= 0.5; xhi += 0.5; }
  const xAxis = niceTicks(xlo, xhi, Math.max(2, Math.min(10, Math.round(width / 90))));
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="${FONT}" fill="${TEXT_COLOUR}">
<rect width="${width}" height="${height}" fill="#ffffff"/>
${panel({ x: 0, y: 8, w: width, h: height - 8 }, opts.title, s, xAxis, null, null, opts.yLabel, opts.xLabel)}
</svg>`;
}
