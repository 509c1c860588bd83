// npm run bench:web: MobileNetV2 in one headless Chromium run, side by side (ratios, not absolute
// figures, are what a shared machine can give):
//   - images/s at batch 1 and 32 of our in-page path (Predictor.run + top-5 on preprocessed
//     tensors: what classify does after decoding) vs a raw onnxruntime-web session on the same
//     graph and the same ORT instance, interleaved; other routes (session options, a fixed batch);
//   - TensorFlow.js 4.22 on the same weights (bench/web/tfjs-runner.ts), when it is built;
//   - a training step in the page vs Node on the same graph;
//   - time from navigation to the first classification, cold and with cached weights;
//   - what a page downloads (raw / gzip / brotli).
// Results: bench/results.json under `web`. `--training-only` measures only the training step (page vs
// Node) and updates `web.train` (its own date), keeping the rest of `web` and TensorFlow.js's step.

import os from 'node:os';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import type { Page } from 'playwright-core';
import { MobileNetV2 } from '../src/models/mobilenetv2.js';
import { nodeBackend } from '../src/platform/node/ort.js';
import { Trainer } from '../src/train/step.js';
import { Generator } from '../src/random.js';
import { float32 } from '../src/tensor.js';
import { openSite, SHARED, webBuild, type Site } from '../test/helpers/browser.js';
import { buildTfjsBench, runTfjsBench, TFJS_PREFIX, type TfjsBenchResult } from './web/tfjs-runner.js';

const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 5);
const MIN_MS = Number(process.env['BENCH_MIN_MS'] ?? 1500);
const resultsPath = new URL('../../bench/results.json', import.meta.url);
const WEIGHTS = join(SHARED, 'real', 'mobilenet_v2_coral_imagenet.pth');
const TRAIN = { alpha: 0.35, numClasses: 10, inputSize: 64, batch: 8, steps: 12 };

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

interface Route {
  name: string;
  batch1?: number;
  batch32?: number;
}

/** In the page: ours vs raw ORT (same graph, same instance), then other routes. images/s per batch. */
async function inference(page: Page): Promise<{ ours: Record<string, number>; raw: Record<string, number>; routes: Route[]; threads: number }> {
  return page.evaluate(
    async ({ rounds, minMs }) => {
      const lib = await import('/mobilenetv2.web.js' as string);
      const model = await lib.load({ weights: '/weights/mobilenet_v2_coral_imagenet.pth' });
      const ort = await import('/ort.wasm.bundle.min.mjs' as string); // the instance our backend uses (same URL)
      const timeIt = async (fn: () => Promise<unknown>) => {
        let n = 0;
        const t0 = performance.now();
        while (performance.now() - t0 < minMs || n < 3) {
          await fn();
          n++;
        }
        return (performance.now() - t0) / n;
      };
      const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
      const ours: Record<string, number> = {};
      const raw: Record<string, number> = {};
      const onnx: Uint8Array = model.predictor.onnx(224);
      const x1 = lib.float32([1, 3, 224, 224], Float32Array.from({ length: 3 * 224 * 224 }, (_, i) => Math.sin(i)));
      await model.run(x1, ['logits']); // our session first: it sets the WASM threads for the page
      const session = await ort.InferenceSession.create(onnx, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
      for (const batch of [1, 32]) {
        const x = lib.float32([batch, 3, 224, 224], Float32Array.from({ length: batch * 3 * 224 * 224 }, (_, i) => Math.sin(i)));
        const feeds = { input: new ort.Tensor('float32', x.data, [batch, 3, 224, 224]) };
        const a = async () => {
          const r = await model.run(x, ['logits', 'probabilities']);
          return model.rank(r.probabilities, r.logits, 5);
        };
        const b = () => session.run(feeds, ['logits', 'probabilities']);
        for (let i = 0; i < 2; i++) {
          await a();
          await b();
        }
        const ta: number[] = [];
        const tb: number[] = [];
        for (let k = 0; k < rounds; k++) {
          ta.push(await timeIt(a));
          tb.push(await timeIt(b));
        }
        ours[`batch_${batch}`] = (batch * 1000) / med(ta);
        raw[`batch_${batch}`] = (batch * 1000) / med(tb);
      }
      // other routes, raw sessions on the same instance
      const routes: { name: string; batch1?: number; batch32?: number }[] = [];
      const variants: { name: string; make: (batch: number) => Promise<{ run(f: unknown): Promise<unknown> }> }[] = [
        { name: "graphOptimizationLevel 'extended'", make: () => ort.InferenceSession.create(onnx, { executionProviders: ['wasm'], graphOptimizationLevel: 'extended' }) },
        { name: 'freeDimensionOverrides { N: batch }', make: (batch) => ort.InferenceSession.create(onnx, { executionProviders: ['wasm'], graphOptimizationLevel: 'all', freeDimensionOverrides: { N: batch } }) },
        { name: 'the batch fixed in the graph', make: (batch) => ort.InferenceSession.create(lib.inferenceOnnx(model.model, { inputSize: 224, batch }), { executionProviders: ['wasm'], graphOptimizationLevel: 'all' }) },
      ];
      for (const v of variants) {
        const r: { name: string; batch1?: number; batch32?: number } = { name: v.name };
        for (const batch of [1, 32]) {
          const s = await v.make(batch);
          const feeds = { input: new ort.Tensor('float32', new Float32Array(batch * 3 * 224 * 224).fill(0.5), [batch, 3, 224, 224]) };
          await s.run(feeds);
          const t: number[] = [];
          for (let k = 0; k < Math.max(2, Math.floor(rounds / 2)); k++) t.push(await timeIt(() => s.run(feeds)));
          r[batch === 1 ? 'batch1' : 'batch32'] = (batch * 1000) / med(t);
          await (s as unknown as { release(): Promise<void> }).release();
        }
        routes.push(r);
      }
      await session.release();
      await model.dispose();
      return { ours, raw, routes, threads: ort.env.wasm.numThreads as number };
    },
    { rounds: ROUNDS, minMs: MIN_MS },
  );
}

/** Median step time (ms) of the same training step in the page (WASM) and in Node (CPU), same threads. */
async function training(page: Page, threads: number): Promise<{ page_ms: number; node_ms: number }> {
  const run = async (trainer: Trainer) => {
    const gen = new Generator(1);
    const x = float32([TRAIN.batch, 3, TRAIN.inputSize, TRAIN.inputSize], Float32Array.from({ length: TRAIN.batch * 3 * TRAIN.inputSize ** 2 }, () => gen.uniform() * 2 - 1));
    const y = Array.from({ length: TRAIN.batch }, (_, i) => i % TRAIN.numClasses);
    const times: number[] = [];
    for (let i = 0; i < TRAIN.steps; i++) {
      const t0 = performance.now();
      await trainer.train(x, y, 1e-3, gen);
      if (i >= 2) times.push(performance.now() - t0);
    }
    return median(times);
  };
  const m = new MobileNetV2({ alpha: TRAIN.alpha, numClasses: TRAIN.numClasses }).train();
  const node = new Trainer(m, nodeBackend, { optimizer: { name: 'adamw', weightDecay: 0.01 }, numClasses: TRAIN.numClasses, inputSize: TRAIN.inputSize, threads });
  const nodeMs = await run(node);
  await node.release();
  const pageMs = await page.evaluate(async (t) => {
    const lib = await import('/mobilenetv2.web.js' as string);
    const m = new lib.MobileNetV2({ alpha: t.alpha, numClasses: t.numClasses }).train();
    const trainer = new lib.Trainer(m, lib.pageBackend(), { optimizer: { name: 'adamw', weightDecay: 0.01 }, numClasses: t.numClasses, inputSize: t.inputSize, device: 'wasm' });
    const gen = new lib.Generator(1);
    const x = lib.float32([t.batch, 3, t.inputSize, t.inputSize], Float32Array.from({ length: t.batch * 3 * t.inputSize ** 2 }, () => gen.uniform() * 2 - 1));
    const y = Array.from({ length: t.batch }, (_, i) => i % t.numClasses);
    const times: number[] = [];
    for (let i = 0; i < t.steps; i++) {
      const t0 = performance.now();
      await trainer.train(x, y, 1e-3, gen);
      if (i >= 2) times.push(performance.now() - t0);
    }
    await trainer.release();
    return [...times].sort((a, b) => a - b)[Math.floor(times.length / 2)]!;
  }, TRAIN);
  return { page_ms: pageMs, node_ms: nodeMs };
}

/** Navigation start -> the first classification of a photo resolved, in a fresh context (cold), then reloaded (cached). */
async function firstClassification(site: Site): Promise<{ cold_ms: number; cached_ms: number }> {
  const context = await site.browser.newContext();
  const page = await context.newPage();
  const once = async () => {
    await page.goto(`${site.server.url}/blank.html`);
    return page.evaluate(async () => {
      const lib = await import('/mobilenetv2.web.js' as string);
      const model = await lib.load({ weights: '/weights/mobilenet_v2_coral_imagenet.pth' });
      await model.classify(await (await fetch('/photos/parrot.jpg')).blob(), 5);
      return performance.now(); // since navigation start
    });
  };
  const cold = await once();
  const cached = await once();
  await context.close();
  return { cold_ms: cold, cached_ms: cached };
}

function sizes(dir: string, files: string[]): Record<string, { raw: number; gzip: number; brotli: number }> {
  const out: Record<string, { raw: number; gzip: number; brotli: number }> = {};
  for (const [name, path] of files.map((f) => [f.split('/').pop()!, f.startsWith('/') ? f : join(dir, f)] as const)) {
    const b = readFileSync(path);
    out[name] = { raw: b.length, gzip: gzipSync(b, { level: 9 }).length, brotli: brotliCompressSync(b, { params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: b.length } }).length };
  }
  return out;
}

async function main(): Promise<void> {
  const build = await webBuild();
  const tfjsBuild = await buildTfjsBench();
  const site = await openSite('/blank.html', { weights: WEIGHTS, mounts: { '/photos/': join(SHARED, 'real', 'photos'), [TFJS_PREFIX]: tfjsBuild.outdir } });
  const version = await site.browser.version();
  if (process.argv.includes('--training-only')) {
    try {
      const threads = os.availableParallelism();
      const tr = await training(site.page, threads);
      console.log(`training step (alpha ${TRAIN.alpha}, ${TRAIN.inputSize}x${TRAIN.inputSize}, batch ${TRAIN.batch}, AdamW, ${threads} threads): page ${tr.page_ms.toFixed(0)} ms, Node ${tr.node_ms.toFixed(0)} ms, ratio ${(tr.page_ms / tr.node_ms).toFixed(2)}`);
      const all = JSON.parse(readFileSync(resultsPath, 'utf8'));
      const old = (all['web']?.['train'] ?? {}) as Record<string, unknown>;
      const tfjsMs = old['best_tfjs_step_ms'] as number | undefined;
      all['web'] = {
        ...all['web'],
        train: {
          ...old,
          page_step_ms: +tr.page_ms.toFixed(1),
          node_step_ms: +tr.node_ms.toFixed(1),
          ratio_page_vs_node: +(tr.page_ms / tr.node_ms).toFixed(2),
          ...(tfjsMs ? { speedup_vs_best_tfjs: +(tfjsMs / tr.page_ms).toFixed(1), best_tfjs_measured: all['web']?.['machine']?.['date'] } : {}),
          date: new Date().toISOString(),
          chromium: version,
        },
      };
      writeFileSync(resultsPath, JSON.stringify(all, null, 2) + '\n');
      console.log('wrote bench/results.json (web.train)');
    } finally {
      await site.close();
    }
    return;
  }
  try {
    console.log(`Chromium ${version}, headless; crossOriginIsolated ${await site.page.evaluate(() => crossOriginIsolated)}`);
    const inf = await inference(site.page);
    const web: Record<string, unknown> = {};
    for (const b of ['batch_1', 'batch_32']) {
      web[b] = { ours_images_per_s: +inf.ours[b]!.toFixed(1), raw_ort_web_images_per_s: +inf.raw[b]!.toFixed(1), ratio_vs_raw: +(inf.ours[b]! / inf.raw[b]!).toFixed(3) };
      console.log(`${b.replace('_', ' ').padEnd(8)}: ours ${inf.ours[b]!.toFixed(1).padStart(6)} img/s   raw onnxruntime-web ${inf.raw[b]!.toFixed(1).padStart(6)} img/s   ratio ${(inf.ours[b]! / inf.raw[b]!).toFixed(3)}`);
    }
    for (const r of inf.routes) console.log(`route ${r.name}: batch 1 ${r.batch1?.toFixed(1)} img/s, batch 32 ${r.batch32?.toFixed(1)} img/s`);

    // TensorFlow.js in a page of its own (its wasm backend fixes its threads when it starts), our
    // path timed right after it at each batch size in that page: the ratio comes from neighbours
    const tfPage = await site.context.newPage();
    await tfPage.goto(`${site.server.url}${TFJS_PREFIX}index.html`);
    const tfjs: TfjsBenchResult = await runTfjsBench(tfPage, {
      iterations: ROUNDS,
      parity: { weights: '/weights/mobilenet_v2_coral_imagenet.pth', photo: '/photos/bird.png' },
      ours: true,
      webgl: { batchSizes: [1], budgetS: 60 },
      train: { backends: ['wasm', 'webgl', 'cpu'], iterations: 2 },
      log: (m) => console.log(`  ${m}`),
    });
    await tfPage.close();
    for (const [b, n] of [['batch_1', 1], ['batch_32', 32]] as const) {
      const t = tfjs.wasm[`batch${n}`];
      const o = tfjs.ours?.[`batch${n}`];
      if (t && o) {
        Object.assign(web[b] as object, { tfjs_wasm_images_per_s: +t.toFixed(1), ours_beside_tfjs_images_per_s: +o.toFixed(1), ratio_vs_tfjs: +(o / t).toFixed(3) });
        console.log(`${b.replace('_', ' ').padEnd(8)}: ours ${o.toFixed(1)} img/s beside tfjs-wasm ${t.toFixed(1)} img/s: ratio ${(o / t).toFixed(3)}`);
      }
    }

    const tr = await training(site.page, inf.threads);
    console.log(`training step (alpha ${TRAIN.alpha}, ${TRAIN.inputSize}x${TRAIN.inputSize}, batch ${TRAIN.batch}, AdamW): page ${tr.page_ms.toFixed(0)} ms, Node ${tr.node_ms.toFixed(0)} ms, ratio ${(tr.page_ms / tr.node_ms).toFixed(2)}`);
    const trainable = Object.entries(tfjs.train ?? {}).filter(([k, t]) => k !== 'big' && (t as { stepMs?: number }).stepMs !== undefined) as [string, { stepMs: number }][];
    const bestTfjs = trainable.sort((a, b) => a[1].stepMs - b[1].stepMs)[0];
    if (bestTfjs) console.log(`training step vs the best tfjs backend that trains (${bestTfjs[0]}, ${bestTfjs[1].stepMs.toFixed(0)} ms, SGD): ${(bestTfjs[1].stepMs / tr.page_ms).toFixed(1)}x faster`);
    const first = await firstClassification(site);
    console.log(`navigation -> first classification: cold ${first.cold_ms.toFixed(0)} ms, cached weights ${first.cached_ms.toFixed(0)} ms`);
    const dl = sizes(build.outdir, ['mobilenetv2.web.js', 'ort.wasm.bundle.min.mjs', 'ort-wasm-simd-threaded.wasm', 'ort.webgpu.bundle.min.mjs', 'ort-wasm-simd-threaded.asyncify.wasm', WEIGHTS]);
    for (const [f, s] of Object.entries(dl)) console.log(`download ${f}: ${(s.raw / 2 ** 20).toFixed(2)} MiB raw, ${(s.gzip / 2 ** 20).toFixed(2)} gzip, ${(s.brotli / 2 ** 20).toFixed(2)} brotli`);

    const machine = { cpu: os.cpus()[0]?.model, cores: os.availableParallelism(), chromium: version, wasm_threads: inf.threads, node: process.version, date: new Date().toISOString() };
    const all = existsSync(resultsPath) ? JSON.parse(readFileSync(resultsPath, 'utf8')) : {};
    all['web'] = {
      machine,
      model: 'MobileNetV2 alpha 1.0, 224x224, real weights (../shared/real), BN folded, onnxruntime-web 1.30 WASM',
      ...web,
      routes: inf.routes.map((r) => ({ name: r.name, batch_1_images_per_s: r.batch1 && +r.batch1.toFixed(1), batch_32_images_per_s: r.batch32 && +r.batch32.toFixed(1) })),
      tfjs,
      train: {
        model: `alpha ${TRAIN.alpha}, ${TRAIN.numClasses} classes, ${TRAIN.inputSize}x${TRAIN.inputSize}, batch ${TRAIN.batch}, AdamW`,
        page_step_ms: +tr.page_ms.toFixed(1),
        node_step_ms: +tr.node_ms.toFixed(1),
        ratio_page_vs_node: +(tr.page_ms / tr.node_ms).toFixed(2),
        ...(bestTfjs ? { best_tfjs_backend: bestTfjs[0], best_tfjs_step_ms: +bestTfjs[1].stepMs.toFixed(1), speedup_vs_best_tfjs: +(bestTfjs[1].stepMs / tr.page_ms).toFixed(1) } : {}),
      },
      first_classification: { cold_ms: Math.round(first.cold_ms), cached_weights_ms: Math.round(first.cached_ms) },
      download_bytes: dl,
    };
    writeFileSync(resultsPath, JSON.stringify(all, null, 2) + '\n');
    console.log('wrote bench/results.json (web)');
  } finally {
    await site.close();
  }
}

await main();
