// The TensorFlow.js side of bench:web, from Node: builds the page module (tfjs-page.ts with
// @tensorflow/tfjs 4.22 and its wasm backend) into dist/bench-web/, and drives it in a page with
// runTfjsBench(page, opts). bench/web.ts calls it beside our own measurements in the same browser.
//
// The page must be on a server (web/server.ts serve()) that mounts buildTfjsBench()'s folder at
// TFJS_PREFIX ('/tfjs/') and serves the library at /mobilenetv2.web.js; parity also needs the
// weights and a photo served. runTfjsBench starts tfjs' wasm backend in the page: once per page,
// so call it once per page (a later call reuses the first call's thread count).
//
//   node dist/bench/web/tfjs-runner.js [--batch 1,32] [--iterations N] [--threads N] [--cores N] [--photo bird.png]
//                                      [--no-webgl] [--no-train] [--no-ours] [--big-train webgl,cpu]
// builds, serves, launches Chromium, runs and prints the result as JSON.

import { build } from 'esbuild';
import { copyFile, mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import type { ParityResult, TfjsBackend, Timing, TrainTiming, WasmInfo } from './tfjs-page.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..'); // dist/bench/web -> repo root
const require = createRequire(import.meta.url);

/** Where runTfjsBench expects buildTfjsBench()'s folder to be served. */
export const TFJS_PREFIX = '/tfjs/';
export const TFJS_WASM_FILES = ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm'] as const;
export const TFJS_VERSION: string = (require('@tensorflow/tfjs/package.json') as { version: string }).version;

/** The page module (tfjs-bench.js), tfjs' .wasm files beside it and a blank index.html. */
export async function buildTfjsBench(outdir = join(ROOT, 'dist', 'bench-web')): Promise<{ outdir: string; files: Record<string, number> }> {
  await rm(outdir, { recursive: true, force: true });
  await mkdir(outdir, { recursive: true });
  await build({
    entryPoints: { 'tfjs-bench': join(ROOT, 'bench', 'web', 'tfjs-page.ts') },
    outdir,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['chrome120'],
    minify: true,
    sourcemap: true,
    logLevel: 'error',
  });
  const wasmDist = dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'));
  for (const f of TFJS_WASM_FILES) await copyFile(join(wasmDist, f), join(outdir, f));
  await writeFile(join(outdir, 'index.html'), '<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><title>tfjs bench</title>\n');
  const files: Record<string, number> = {};
  for (const f of ['tfjs-bench.js', ...TFJS_WASM_FILES]) files[f] = (await stat(join(outdir, f))).size;
  return { outdir, files };
}

export interface TfjsBenchOptions {
  /** Batch sizes timed on wasm. Default [1, 32]. */
  batchSizes?: number[];
  /** Timed runs per point (after `warmup`), median reported. Default 5. */
  iterations?: number;
  /** Untimed runs first (the first is reported as firstMs). Default 1. */
  warmup?: number;
  /** XNNPACK threads asked of tfjs-wasm (setThreadsCount). Default 2, as ONNX Runtime gets. */
  threads?: number;
  /** navigator.hardwareConcurrency shown to tfjs while its wasm backend starts. Default 4; 0: leave it. */
  cores?: number;
  /** webgl inference; batch sizes whose estimated time (from batch 1) passes budgetS are skipped. */
  webgl?: { batchSizes?: number[]; iterations?: number; warmup?: number; budgetS?: number } | false;
  /** Training step timing (alpha 0.35, 10 classes, 64x64, batch 8 by default). */
  train?: { backends?: TfjsBackend[]; iterations?: number; alpha?: number; numClasses?: number; size?: number; batch?: number } | false;
  /** One step of 1.0@224, batch 8, 1000 classes, on each backend listed (slow: a minute or more each). */
  bigTrain?: { backends?: TfjsBackend[]; batch?: number } | false;
  /** Served URLs of our weights and of a photo, for the parity check; false skips it. */
  parity?: { weights: string; photo: string } | false;
  /** Also time our path (load() + infer()) right after tfjs-wasm at each batch size, with the parity weights. */
  ours?: boolean;
  /** Where the page module is served. Default TFJS_PREFIX. */
  prefix?: string;
  /** Our library's URL. Default '/mobilenetv2.web.js'. */
  library?: string;
  log?: (m: string) => void;
}

export interface TfjsBenchResult {
  tfjs: string;
  wasm: WasmInfo & Record<`batch${number}`, number> & { timings: Timing[] };
  webgl?: { renderer?: string; timings: Timing[]; skipped: string[] } & Record<`batch${number}`, number>;
  train?: Partial<Record<TfjsBackend, TrainTiming>> & { big?: Partial<Record<TfjsBackend, TrainTiming>> };
  parity?: ParityResult;
  ours?: { timings: Timing[] } & Record<`batch${number}`, number>;
}

/** Call an export of the page module with one JSON argument. */
function call<T>(page: Page, url: string, fn: string, arg: unknown): Promise<T> {
  return page.evaluate(
    async ({ url, fn, arg }) => {
      const m = (await import(url)) as Record<string, (a: unknown) => Promise<unknown>>;
      return m[fn]!(arg);
    },
    { url, fn, arg },
  ) as Promise<T>;
}

/** Drive the tfjs page module in `page` and return JSON-able figures (see TfjsBenchResult). */
export async function runTfjsBench(page: Page, opts: TfjsBenchOptions = {}): Promise<TfjsBenchResult> {
  const { batchSizes = [1, 32], iterations = 5, warmup = 1, threads = 2, cores = 4, prefix = TFJS_PREFIX, library = '/mobilenetv2.web.js', log = () => undefined } = opts;
  for (const b of batchSizes) if (!(Number.isInteger(b) && b >= 1)) throw new RangeError(`runTfjsBench: batchSizes must be integers >= 1, got ${b}`);
  if (!(Number.isInteger(iterations) && iterations >= 1)) throw new RangeError(`runTfjsBench: iterations must be an integer >= 1, got ${iterations}`);
  const url = `${prefix}tfjs-bench.js`;

  const info = await call<WasmInfo>(page, url, 'initWasm', { wasmPaths: prefix, threads, cores: cores || undefined });
  log(`tfjs-wasm: ${info.threads} thread(s), simd ${info.simd}, ${info.wasmFile}`);
  const result: TfjsBenchResult = { tfjs: TFJS_VERSION, wasm: { ...info, timings: [] } };

  if (opts.parity) {
    result.parity = await call<ParityResult>(page, url, 'parity', { library, ...opts.parity });
    log(`parity: max |dlogit| ${result.parity.maxAbs.toExponential(2)}, top-5 ${result.parity.top5Equal ? 'equal' : 'DIFFERENT'}`);
  }

  for (const batch of batchSizes) {
    const t = await call<Timing>(page, url, 'timeInference', { library, backend: 'wasm', batch, warmup, iterations });
    result.wasm.timings.push(t);
    result.wasm[`batch${batch}`] = t.imgPerSec;
    log(`tfjs-wasm batch ${batch}: ${t.imgPerSec.toFixed(1)} img/s`);
    if (opts.ours && opts.parity) {
      const u = await call<Timing>(page, url, 'timeOurs', { library, weights: opts.parity.weights, batch, warmup, iterations });
      result.ours ??= { timings: [] };
      result.ours.timings.push(u);
      result.ours[`batch${batch}`] = u.imgPerSec;
      log(`ours (${u.backend}) batch ${batch}: ${u.imgPerSec.toFixed(1)} img/s`);
    }
  }

  if (opts.webgl !== false) {
    const w = opts.webgl ?? {};
    // shaders compile over the first runs (the second is still ~2x slower than the third here)
    const { budgetS = 60, iterations: wIt = Math.min(iterations, 3), warmup: wWarm = Math.max(warmup, 2) } = w;
    const webgl: NonNullable<TfjsBenchResult['webgl']> = { timings: [], skipped: [] };
    let perImageS: number | undefined;
    for (const batch of [...(w.batchSizes ?? batchSizes)].sort((a, b) => a - b)) {
      const estimate = perImageS === undefined ? 0 : perImageS * batch * (wWarm + wIt);
      if (estimate > budgetS) {
        webgl.skipped.push(`batch ${batch}: about ${Math.round(estimate)} s at batch-1 speed, over the ${budgetS} s budget`);
        log(`tfjs-webgl batch ${batch}: skipped (${Math.round(estimate)} s estimated)`);
        continue;
      }
      const t = await call<Timing>(page, url, 'timeInference', { library, backend: 'webgl', batch, warmup: wWarm, iterations: wIt });
      webgl.renderer ??= t.renderer;
      webgl.timings.push(t);
      webgl[`batch${batch}`] = t.imgPerSec;
      perImageS ??= 1 / t.imgPerSec;
      log(`tfjs-webgl batch ${batch}: ${t.imgPerSec.toFixed(2)} img/s (${t.renderer})`);
    }
    result.webgl = webgl;
  }

  if (opts.train !== false) {
    const { backends = ['wasm', 'webgl', 'cpu'], iterations: tIt = 2, ...shape } = opts.train ?? {};
    const train: NonNullable<TfjsBenchResult['train']> = {};
    for (const backend of backends) {
      const t = await call<TrainTiming>(page, url, 'timeTrain', { library, backend, iterations: tIt, ...shape });
      train[backend] = t;
      log(`tfjs-${backend} train step: ${t.error ? `fails: ${t.error}` : `${t.stepMs?.toFixed(0)} ms (first ${t.firstMs.toFixed(0)} ms)`}`);
    }
    result.train = train;
  }
  if (opts.bigTrain) {
    const big: NonNullable<NonNullable<TfjsBenchResult['train']>['big']> = {};
    for (const backend of opts.bigTrain.backends ?? ['webgl']) {
      const t = await call<TrainTiming>(page, url, 'timeTrain', { library, backend, alpha: 1.0, numClasses: 1000, size: 224, batch: opts.bigTrain.batch ?? 8, iterations: 0 });
      big[backend] = t;
      log(`tfjs-${backend} train step 1.0@224: ${t.error ? `fails: ${t.error}` : `${(t.firstMs / 1000).toFixed(1)} s (one step, the first)`}`);
    }
    (result.train ??= {}).big = big;
  }
  return result;
}

function flag(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const log = (m: string) => process.stderr.write(`${m}\n`);
  // Node-only helpers, imported here so that the module stays light for bench/web.ts
  const { buildWeb } = await import('../../web/build.js');
  const { serve } = await import('../../web/server.js');
  const { launch, SHARED } = await import('../../test/helpers/browser.js');
  const iterations = Number(flag(args, '--iterations') ?? 5);
  const weights = join(SHARED, 'real', 'mobilenet_v2_coral_imagenet.pth');
  const photos = join(SHARED, 'real', 'photos');
  log('building...');
  const [web, tfjs] = await Promise.all([buildWeb(join(ROOT, 'dist', 'web-build'), { demo: false }), buildTfjsBench()]);
  log(`tfjs-bench.js: ${(tfjs.files['tfjs-bench.js']! / 1e6).toFixed(2)} MB`);
  const server = await serve({ root: web.outdir, weights, mounts: { [TFJS_PREFIX]: tfjs.outdir, '/photos/': photos } });
  const browser = await launch();
  try {
    const page = await (await browser.newContext()).newPage();
    page.on('console', (m) => (m.type() === 'error' || m.type() === 'warning') && log(`page ${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => log(`page error: ${e.message}`));
    await page.goto(`${server.url}${TFJS_PREFIX}index.html`);
    const t0 = Date.now();
    const result = await runTfjsBench(page, {
      batchSizes: (flag(args, '--batch') ?? '1,32').split(',').map(Number),
      iterations,
      log,
      threads: Number(flag(args, '--threads') ?? 2),
      cores: Number(flag(args, '--cores') ?? 4),
      webgl: args.includes('--no-webgl') ? false : undefined,
      train: args.includes('--no-train') ? false : undefined,
      ours: !args.includes('--no-ours'),
      bigTrain: flag(args, '--big-train') ? { backends: flag(args, '--big-train')!.split(',') as TfjsBackend[] } : false,
      parity: { weights: '/weights/mobilenet_v2_coral_imagenet.pth', photo: `/photos/${flag(args, '--photo') ?? 'bird.png'}` },
    });
    log(`done in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    process.stdout.write(`${JSON.stringify({ browser: browser.version(), ...result }, null, 2)}\n`);
  } finally {
    await browser.close();
    await server.close();
  }
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(fileURLToPath(import.meta.url))) {
  main().catch((e: Error) => {
    process.stderr.write(`tfjs-runner: ${e.stack ?? e.message}\n`);
    process.exitCode = 1;
  });
}
