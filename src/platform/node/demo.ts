// A labelled image dataset that needs no download: ten classes, each one shape in one colour
// (red circles, orange squares, ...), drawn at a random position, size and rotation with jittered
// colours over a noisy background of random tint. SVG rendered by sharp (librsvg) over raw noise,
// saved as PNG. Every image is a pure function of (seed, split, class, number): the same seed
// writes the same bytes.

import { existsSync, readdirSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { Generator } from '../../random.js';
import { mixSeed, SeedDomain } from '../../random.js';
import { compareCodePoints } from '../../data/dataset.js';
import { FileError } from './files.js';

// Shapes are drawn in a unit box centered on the origin (radius about 1).
const STAR = Array.from({ length: 10 }, (_, i) => {
  const r = i % 2 === 0 ? 1 : 0.42;
  const a = (Math.PI * i) / 5 - Math.PI / 2;
  return `${(r * Math.cos(a)).toFixed(4)},${(r * Math.sin(a)).toFixed(4)}`;
}).join(' ');
const HEXAGON = Array.from({ length: 6 }, (_, i) => `${Math.cos((Math.PI * i) / 3).toFixed(4)},${Math.sin((Math.PI * i) / 3).toFixed(4)}`).join(' ');

const SHAPES = {
  circle: '<circle r="0.9"/>',
  square: '<rect x="-0.75" y="-0.75" width="1.5" height="1.5"/>',
  triangle: '<polygon points="0,-1 0.866,0.5 -0.866,0.5"/>',
  star: `<polygon points="${STAR}"/>`,
  cross: '<polygon points="-0.3,-1 0.3,-1 0.3,-0.3 1,-0.3 1,0.3 0.3,0.3 0.3,1 -0.3,1 -0.3,0.3 -1,0.3 -1,-0.3 -0.3,-0.3"/>',
  hexagon: `<polygon points="${HEXAGON}"/>`,
  diamond: '<polygon points="0,-1 0.6,0 0,1 -0.6,0"/>',
  ring: '<path fill-rule="evenodd" d="M -0.95 0 A 0.95 0.95 0 1 0 0.95 0 A 0.95 0.95 0 1 0 -0.95 0 Z M -0.5 0 A 0.5 0.5 0 1 1 0.5 0 A 0.5 0.5 0 1 1 -0.5 0 Z"/>',
  bar: '<rect x="-1" y="-0.28" width="2" height="0.56"/>',
  arrow: '<polygon points="-1,-0.25 0.2,-0.25 0.2,-0.65 1,0 0.2,0.65 0.2,0.25 -1,0.25"/>',
} as const;

//  class name          shape       hue (degrees)
export const DEMO_CLASSES = [
  ['red_circle', 'circle', 0],
  ['orange_square', 'square', 30],
  ['yellow_triangle', 'triangle', 58],
  ['lime_star', 'star', 95],
  ['green_cross', 'cross', 140],
  ['cyan_hexagon', 'hexagon', 182],
  ['blue_diamond', 'diamond', 222],
  ['purple_ring', 'ring', 268],
  ['magenta_bar', 'bar', 305],
  ['pink_arrow', 'arrow', 335],
] as const satisfies readonly (readonly [string, keyof typeof SHAPES, number])[];

export interface DemoOptions {
  /** Default 0. */
  readonly seed?: number;
  /** Training images per class; default 40. */
  readonly perClass?: number;
  /** Validation images per class; default perClass / 4 (10). */
  readonly valPerClass?: number;
  /** Side of the square images in pixels; default 64. */
  readonly size?: number;
}

export interface DemoDataset {
  readonly root: string;
  readonly train: string;
  readonly val: string;
  /** In ImageFolder's (sorted) order. */
  readonly classes: readonly string[];
  readonly files: number;
}

/** HSL (h in degrees, s and l in [0, 1]) -> 8-bit RGB. */
function hslToRgb(h: number, s: number, l: number): [number, number, number] {
  const c = (1 - Math.abs(2 * l - 1)) * s;
  const hp = (((h % 360) + 360) % 360) / 60;
  const x = c * (1 - Math.abs((hp % 2) - 1));
  const [r, g, b] = hp < 1 ? [c, x, 0] : hp < 2 ? [x, c, 0] : hp < 3 ? [0, c, x] : hp < 4 ? [0, x, c] : hp < 5 ? [x, 0, c] : [c, 0, x];
  const m = l - c / 2;
  return [r, g, b].map((v) => Math.round(255 * (v + m))) as [number, number, number];
}

function uniform(gen: Generator, lo: number, hi: number): number {
  return lo + (hi - lo) * gen.uniform();
}

/** One image of class `cls` as PNG bytes: (size, size, 3). */
export async function renderDemoImage(cls: number, gen: Generator, size: number): Promise<Buffer> {
  const [, shape, hue] = DEMO_CLASSES[cls]!;
  // Background: a dull random tint plus per-pixel noise.
  const bg = hslToRgb(uniform(gen, 0, 360), uniform(gen, 0, 0.25), uniform(gen, 0.15, 0.85));
  const noise = uniform(gen, 4, 24);
  const pixels = new Uint8Array(size * size * 3); // (size, size, 3)
  for (let i = 0; i < pixels.length; i++) {
    const v = bg[i % 3]! + noise * gen.normal();
    pixels[i] = v < 0 ? 0 : v > 255 ? 255 : Math.round(v);
  }
  // Foreground: the class's shape and hue, jittered.
  const fg = hslToRgb(hue + uniform(gen, -8, 8), uniform(gen, 0.65, 1), uniform(gen, 0.4, 0.6));
  const r = size * uniform(gen, 0.18, 0.36);
  const cx = uniform(gen, r, size - r);
  const cy = uniform(gen, r, size - r);
  const angle = uniform(gen, 0, 360);
  const opacity = uniform(gen, 0.8, 1);
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}">` +
    `<g transform="translate(${cx.toFixed(3)} ${cy.toFixed(3)}) rotate(${angle.toFixed(2)}) scale(${r.toFixed(3)})" ` +
    `fill="rgb(${fg.join(',')})" fill-opacity="${opacity.toFixed(3)}">${SHAPES[shape]}</g></svg>`;
  return sharp(pixels, { raw: { width: size, height: size, channels: 3 } })
    .composite([{ input: Buffer.from(svg) }])
    .png()
    .toBuffer();
}

/**
 * Writes dir/train/<class>/NNNN.png and dir/val/<class>/NNNN.png (perClass and valPerClass per
 * class). Refuses to write into a non-empty train/ or val/ that it did not make, so it never
 * mixes its files with a user's.
 */
export async function makeDemoDataset(dir: string, opts: DemoOptions = {}): Promise<DemoDataset> {
  if (typeof dir !== 'string' || dir.length === 0) throw new TypeError(`dir must be a directory path, got ${JSON.stringify(dir)}`);
  const seed = opts.seed ?? 0;
  const perClass = opts.perClass ?? 40;
  const valPerClass = opts.valPerClass ?? Math.max(1, Math.round(perClass / 4));
  const size = opts.size ?? 64;
  if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`seed must be a non-negative integer, got ${seed}`);
  if (!Number.isInteger(perClass) || perClass < 1) throw new RangeError(`perClass must be a positive integer, got ${perClass}`);
  if (!Number.isInteger(valPerClass) || valPerClass < 0) throw new RangeError(`valPerClass must be a non-negative integer, got ${valPerClass}`);
  if (!Number.isInteger(size) || size < 16 || size > 1024) throw new RangeError(`size must be an integer in [16, 1024], got ${size}`);
  const splits = [
    ['train', perClass, 0],
    ['val', valPerClass, 1],
  ] as const;
  for (const [name] of splits) {
    const d = join(dir, name);
    if (existsSync(d) && readdirSync(d).some((c) => !DEMO_CLASSES.some(([k]) => k === c))) {
      throw new FileError(`${d}: exists and holds files that are not the demo dataset's; choose an empty directory`);
    }
  }
  const jobs: { path: string; cls: number; gen: Generator }[] = [];
  for (const [name, count, splitId] of splits) {
    for (let c = 0; c < DEMO_CLASSES.length; c++) {
      const classDir = join(dir, name, DEMO_CLASSES[c]![0]);
      await mkdir(classDir, { recursive: true });
      for (let i = 0; i < count; i++) {
        jobs.push({ path: join(classDir, `${String(i).padStart(4, '0')}.png`), cls: c, gen: new Generator(mixSeed(SeedDomain.demo, seed, splitId, c, i)) });
      }
    }
  }
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < jobs.length) {
      const job = jobs[next++]!;
      await writeFile(job.path, await renderDemoImage(job.cls, job.gen, size));
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return { root: dir, train: join(dir, 'train'), val: join(dir, 'val'), classes: DEMO_CLASSES.map(([k]) => k).sort(compareCodePoints), files: jobs.length };
}
