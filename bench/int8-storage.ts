// npm run bench:int8-storage: the three ways of storing the same int8 weights (quant/storage.ts)
// side by side in one run, on the real weights quantized as `mobilenetv2 quantize` does by
// default (per-channel, mse, 64 views of 8 photos):
//   int8   every weight int8 (quantize before 2026-12; ORT's u8 x s8 GEMM saturates on AVX2 without VNNI)
//   mixed  depthwise int8, the other convs and the Gemm uint8 at zero point 128 (quantize now)
//   uint8  every weight uint8 at zero point 128
// For each: what ONNX Runtime fuses, top-1 agreement with fp32 on the 176 views of the 8 held-out
// photos, logits against the other storages, and Node images/s at batch 1 and 32 (fp32 and the
// three interleaved), and the same in onnxruntime-web's WASM in Chromium; the file size; how long
// load() takes to rewrite an int8-storage file.
// Writes `int8_storage` in bench/results.json (other keys kept). Run it under flock /tmp/cpu.lock.
import os from 'node:os';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { openSite, SHARED } from '../test/helpers/browser.js';
import { fileURLToPath } from 'node:url';
import { loadCheckpoint } from '../src/platform/node/weights.js';
import { nodeBackend } from '../src/platform/node/ort.js';
import { floatGraph, quantizeNetwork } from '../src/quant/quantize.js';
import { storeWeights, WEIGHT_STORAGES, type WeightStorage } from '../src/quant/storage.js';
import { graphFromOnnx } from '../src/onnx/import.js';
import { toOnnx } from '../src/onnx/export.js';
import { onnxNetwork } from '../src/infer/onnx.js';
import { Predictor } from '../src/infer/predictor.js';
import { loadBatch } from '../src/platform/node/image.js';
import { float32, type Tensor } from '../src/tensor.js';
import { median, timeIt } from './timing.js';
import { argmaxRows, optimizedOps, THREADS } from './int8.js';
import { photoFolds, photoViews, REAL_WEIGHTS } from '../test/helpers/views.js';

type Kind = 'fp32' | WeightStorage;

/** A Predictor on exactly these bytes (onnxNetwork would rewrite an int8-storage file). */
function predictor(bytes: Uint8Array, name: string): Predictor {
  const net = onnxNetwork(bytes, name);
  return new Predictor({ ...net, bytes: net.quantization ? bytes : net.bytes }, nodeBackend, { threads: THREADS });
}

async function logits(p: Predictor, x: Tensor): Promise<Float32Array> {
  const [n] = x.shape as [number];
  const per = x.data.length / n;
  const out = new Float32Array(n * 1000);
  for (let i = 0; i < n; i += 32) {
    const m = Math.min(32, n - i);
    const part = float32([m, ...x.shape.slice(1)], (x.data as Float32Array).slice(i * per, (i + m) * per));
    out.set((await p.run(part, ['logits'])).logits.data as Float32Array, i * 1000);
  }
  return out;
}

function maxDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** The same files in onnxruntime-web's WASM in one Chromium page: images/s at batch 1 and 32, interleaved, and the logits on parrot.jpg. */
async function webStorages(bytes: Record<Kind, Uint8Array>, work: string, rounds = 3, minMs = 1000): Promise<Record<string, unknown>> {
  const dir = join(work, 'web');
  mkdirSync(dir, { recursive: true });
  for (const [k, b] of Object.entries(bytes)) writeFileSync(join(dir, `${k}.onnx`), b);
  const site = await openSite('/blank.html', { mounts: { '/storage/': dir, '/photos/': join(SHARED, 'real', 'photos') } });
  try {
    return (await site.page.evaluate(
      async ({ names, rounds, minMs }) => {
        const lib = await import('/mobilenetv2.web.js' as string);
        const m = await lib.load({ weights: '/storage/fp32.onnx' }); // our session first: it fixes the page's WASM threads
        const ort = await import('/ort.wasm.bundle.min.mjs' as string);
        const sessions: Record<string, { run(f: unknown, o?: string[]): Promise<Record<string, { data: Float32Array }>>; release(): Promise<void> }> = {};
        for (const n of names) sessions[n] = await ort.InferenceSession.create(new Uint8Array(await (await fetch(`/storage/${n}.onnx`)).arrayBuffer()), { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
        const timeIt = async (fn: () => Promise<unknown>) => {
          let k = 0;
          const t0 = performance.now();
          while (performance.now() - t0 < minMs || k < 2) {
            await fn();
            k++;
          }
          return (performance.now() - t0) / k;
        };
        const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
        const ips: Record<string, Record<string, number>> = {};
        for (const batch of [1, 32]) {
          const x = new ort.Tensor('float32', Float32Array.from({ length: batch * 3 * 224 * 224 }, (_, i) => Math.sin(i)), [batch, 3, 224, 224]);
          for (const n of names) await sessions[n]!.run({ input: x }, ['logits']);
          const t: Record<string, number[]> = {};
          for (let r = 0; r < rounds; r++) for (const n of names) (t[n] ??= []).push(await timeIt(() => sessions[n]!.run({ input: x }, ['logits'])));
          for (const n of names) (ips[n] ??= {})[`batch_${batch}`] = +((batch * 1000) / med(t[n]!)).toFixed(1);
        }
        const t = await m.toTensor([await (await fetch('/photos/parrot.jpg')).blob()]);
        const x = new ort.Tensor('float32', t.data, t.shape);
        const logits: Record<string, Float32Array> = {};
        for (const n of names) logits[n] = (await sessions[n]!.run({ input: x }, ['logits']))['logits']!.data;
        const diff = (a: Float32Array, b: Float32Array) => Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i]!)));
        const parrot: Record<string, unknown> = {};
        for (const n of names) parrot[n] = { top1: logits[n]!.indexOf(Math.max(...logits[n]!)), max_logit_diff_vs_mixed: +diff(logits[n]!, logits['mixed']!).toFixed(4) };
        for (const s of Object.values(sessions)) await s.release();
        await m.dispose();
        return { threads: ort.env.wasm.numThreads as number, images_per_s: ips, parrot };
      },
      { names: Object.keys(bytes), rounds, minMs },
    )) as Record<string, unknown>;
  } finally {
    await site.close();
  }
}

async function main(): Promise<void> {
  const resultsPath = fileURLToPath(new URL('../../bench/results.json', import.meta.url));
  const work = fileURLToPath(new URL('../../bench/tmp/int8-storage/', import.meta.url));
  mkdirSync(work, { recursive: true });
  const flags = [...new Set(readFileSync('/proc/cpuinfo', 'utf8').match(/\b(avx2|avx512f|avx512_vnni|avx_vnni|amx_int8)\b/g) ?? [])].sort();
  console.log(`cpu: ${os.cpus()[0]?.model}, ${flags.join(' ')}; ${THREADS} threads`);

  const { model } = await loadCheckpoint(REAL_WEIGHTS);
  const [calibPhotos, heldPhotos] = photoFolds();
  const calib = (await loadBatch([...(await photoViews(calibPhotos!, 8))], 'torchvision-v1')).tensor;
  const held = (await loadBatch([...(await photoViews(heldPhotos!))], 'torchvision-v1')).tensor;
  const fp32 = toOnnx(floatGraph(model, 224));
  const emitted = toOnnx((await quantizeNetwork(model, [calib], nodeBackend, { method: 'mse', session: { threads: THREADS } })).graph);
  const bytes = {} as Record<Kind, Uint8Array>;
  bytes.fp32 = fp32;
  for (const s of WEIGHT_STORAGES) {
    const { graph, metadata } = graphFromOnnx(emitted, 'int8.onnx');
    storeWeights(graph, s);
    bytes[s] = toOnnx(graph, { metadata });
  }
  const kinds: Kind[] = ['fp32', ...WEIGHT_STORAGES];
  const sizes = Object.fromEntries(WEIGHT_STORAGES.map((s) => [s, bytes[s].length]));
  const fused = Object.fromEntries(await Promise.all(WEIGHT_STORAGES.map(async (s) => [s, await optimizedOps(bytes[s], work)] as const)));
  for (const s of WEIGHT_STORAGES) console.log(`${s.padEnd(6)} ${(bytes[s].length / 1e6).toFixed(2)} MB, ORT runs: ${JSON.stringify(fused[s])}`);

  // load()'s rewrite of an int8-storage file (median of 5)
  const rewriteMs: number[] = [];
  const plainMs: number[] = [];
  for (let i = 0; i < 5; i++) {
    let t = performance.now();
    onnxNetwork(bytes.int8, 'old.onnx');
    rewriteMs.push(performance.now() - t);
    t = performance.now();
    onnxNetwork(bytes.mixed, 'new.onnx');
    plainMs.push(performance.now() - t);
  }
  console.log(`onnxNetwork(): an int8-storage file ${median(rewriteMs).toFixed(0)} ms (rewritten), a mixed one ${median(plainMs).toFixed(0)} ms`);

  const nets = Object.fromEntries(kinds.map((k) => [k, predictor(bytes[k], `${k}.onnx`)])) as Record<Kind, Predictor>;
  // agreement with fp32 on the held-out views
  const out = {} as Record<Kind, Float32Array>;
  for (const k of kinds) out[k] = await logits(nets[k], held);
  const n = held.shape[0]!;
  const top = (l: Float32Array) => argmaxRows(float32([n, 1000], l));
  const ref = top(out.fp32);
  const accuracy: Record<string, unknown> = {};
  for (const s of WEIGHT_STORAGES) {
    const t = top(out[s]);
    const agree = t.filter((c, i) => c === ref[i]).length;
    accuracy[s] = { agreement: +(agree / n).toFixed(4), agree, of: n, max_logit_diff_vs_fp32: +maxDiff(out[s], out.fp32).toFixed(3), max_logit_diff_vs_mixed: +maxDiff(out[s], out.mixed).toFixed(4) };
    console.log(`${s.padEnd(6)} top-1 agreement with fp32 ${agree} of ${n} (${((100 * agree) / n).toFixed(1)}%), max |logit - fp32| ${maxDiff(out[s], out.fp32).toFixed(3)}, vs mixed ${maxDiff(out[s], out.mixed).toFixed(4)}`);
  }

  // speed: all four interleaved, batch 1 and 32
  const speed: Record<string, Record<string, number>> = {};
  for (const batch of [1, 32]) {
    const x = float32([batch, 3, 224, 224], Float32Array.from({ length: batch * 3 * 224 * 224 }, (_, i) => Math.sin(i)));
    const t = Object.fromEntries(kinds.map((k) => [k, [] as number[]])) as Record<Kind, number[]>;
    for (const k of kinds) for (let i = 0; i < 3; i++) await nets[k].run(x);
    for (let r = 0; r < 5; r++) for (const k of kinds) t[k].push(await timeIt(() => nets[k].run(x), 1500));
    const ips = Object.fromEntries(kinds.map((k) => [k, (batch * 1000) / median(t[k])])) as Record<Kind, number>;
    speed[`batch_${batch}`] = Object.fromEntries(kinds.map((k) => [`${k}_images_per_s`, +ips[k].toFixed(1)]));
    for (const s of WEIGHT_STORAGES) speed[`batch_${batch}`]![`${s}_vs_fp32`] = +(ips[s] / ips.fp32).toFixed(3);
    console.log(`batch ${String(batch).padStart(2)}: ${kinds.map((k) => `${k} ${ips[k].toFixed(1)} img/s${k === 'fp32' ? '' : ` (${(ips[k] / ips.fp32).toFixed(2)}x)`}`).join('   ')}`);
  }
  for (const p of Object.values(nets)) await p.release();

  let web: Record<string, unknown>;
  try {
    web = await webStorages(bytes, work);
    const ips = web['images_per_s'] as Record<Kind, Record<string, number>>;
    for (const b of ['batch_1', 'batch_32']) console.log(`web (WASM) ${b}: ${kinds.map((k) => `${k} ${ips[k]![b]} img/s`).join('   ')}`);
    console.log(`web parrot.jpg: ${JSON.stringify(web['parrot'])}`);
  } catch (e) {
    web = { error: (e as Error).message.split('\n')[0] };
    console.log(`web: not measured (${web['error']})`);
  }

  const all = existsSync(resultsPath) ? JSON.parse(readFileSync(resultsPath, 'utf8')) : {};
  all.int8_storage = {
    machine: { cpu: os.cpus()[0]?.model, flags, cores: os.availableParallelism(), threads: THREADS, date: new Date().toISOString() },
    model: 'MobileNetV2 1.0 @ 224, mobilenet_v2_coral_imagenet.pth; int8: per-channel weights, mse ranges, calibrated on 64 views of 8 of the 16 real photos (quantize defaults); the three storages hold the same integers',
    storages: { int8: 'every weight int8, zero point 0', mixed: 'depthwise convs int8; other convs and the Gemm uint8 q + 128, zero point 128 (what quantize writes)', uint8: 'every weight uint8 q + 128, zero point 128' },
    sizes_bytes: sizes,
    ort_ops: fused,
    accuracy: { what: `top-1 agreement with fp32 on the ${n} views of the 8 held-out photos`, ...accuracy },
    node: speed,
    web,
    load_rewrite_ms: { int8_storage_file: +median(rewriteMs).toFixed(1), mixed_file: +median(plainMs).toFixed(1) },
  };
  writeFileSync(resultsPath, JSON.stringify(all, null, 2) + '\n');
  console.log('wrote bench/results.json (int8_storage)');
}

await main();
