// The TensorFlow.js side of bench:web, in the page: an ES module (bundled by tfjs-runner.ts into
// dist/bench-web/tfjs-bench.js, served at /tfjs/) whose functions tfjs-runner.ts calls through
// page.evaluate. Our library is imported at run time from its served URL, so the page and the
// ONNX Runtime measurements share one copy of it.
//
// Order matters: initWasm() first (the wasm backend's thread count is fixed when it starts), then
// any of parity / timeInference / timeTrain.

import * as tf from '@tensorflow/tfjs';
import { getThreadsCount, setThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import type * as Lib from '../../src/web.js';
import type { StateDict } from '../../src/tensor.js';
import { buildTfjsMobileNetV2, buildTfjsTrainable, type Layout, type Padding } from './tfjs-mobilenet.js';

export type TfjsBackend = 'wasm' | 'webgl' | 'cpu';

let lib: typeof Lib | undefined;
let weights: { url: string; sd: StateDict } | undefined;
let wasmInfo: WasmInfo | undefined;

async function library(url: string): Promise<typeof Lib> {
  return (lib ??= (await import(url)) as typeof Lib);
}

export interface WasmInfo {
  /** XNNPACK's thread-pool size as the backend reports it (getThreadsCount()). */
  threads: number;
  /** What was asked with setThreadsCount (-1: tfjs' default). */
  threadsRequested: number;
  simd: boolean;
  multithread: boolean;
  /** The .wasm file the page fetched (tfjs-backend-wasm-threaded-simd.wasm with both). */
  wasmFile: string | undefined;
  /** navigator.hardwareConcurrency as the page reports it, and what tfjs saw while it started. */
  reportedCores: number;
  coresSeenByTfjs: number;
  crossOriginIsolated: boolean;
}

/**
 * Start tfjs' wasm backend once per page: wasm files from `wasmPaths`, `threads` for XNNPACK,
 * and `cores` for navigator.hardwareConcurrency while it starts (tfjs sizes its pool from it;
 * with 2 reported cores it runs 1 thread). The real value is restored afterwards, so ONNX Runtime
 * in the same page sees the machine as it is.
 */
export async function initWasm(o: { wasmPaths: string; threads?: number; cores?: number }): Promise<WasmInfo> {
  if (wasmInfo) return wasmInfo;
  const reportedCores = navigator.hardwareConcurrency;
  if (o.cores) Object.defineProperty(navigator, 'hardwareConcurrency', { configurable: true, get: () => o.cores });
  try {
    setWasmPaths(o.wasmPaths);
    if (o.threads) setThreadsCount(o.threads);
    if (!(await tf.setBackend('wasm'))) throw new Error('tf.setBackend("wasm") failed (see the console)');
    await tf.ready();
  } finally {
    if (o.cores) delete (navigator as unknown as Record<string, unknown>)['hardwareConcurrency'];
  }
  const wasmFile = performance
    .getEntriesByType('resource')
    .map((e) => e.name.split('/').pop()!)
    .find((n) => /^tfjs-backend-wasm.*\.wasm$/.test(n));
  wasmInfo = {
    threads: getThreadsCount(),
    threadsRequested: o.threads ?? -1,
    simd: (await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')) as boolean,
    multithread: (await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT')) as boolean,
    wasmFile,
    reportedCores,
    coresSeenByTfjs: o.cores ?? reportedCores,
    crossOriginIsolated: globalThis.crossOriginIsolated,
  };
  return wasmInfo;
}

/** Switch tfjs to `backend`; for webgl, what renders it. */
async function use(backend: TfjsBackend): Promise<{ backend: string; renderer?: string; webglVersion?: number }> {
  if (backend === 'wasm' && !wasmInfo) throw new Error('initWasm() must run before the wasm backend is used');
  if (!(await tf.setBackend(backend))) throw new Error(`tf.setBackend("${backend}") failed`);
  await tf.ready();
  if (backend !== 'webgl') return { backend: tf.getBackend() };
  const gl = (tf.backend() as unknown as { gpgpu?: { gl: WebGLRenderingContext } }).gpgpu?.gl;
  const ext = gl?.getExtension('WEBGL_debug_renderer_info');
  return {
    backend: tf.getBackend(),
    renderer: gl ? String(gl.getParameter(ext ? ext.UNMASKED_RENDERER_WEBGL : gl.RENDERER)) : undefined,
    webglVersion: tf.env().getNumber('WEBGL_VERSION'),
  };
}

/** Our state dict from a weights URL (read by our library), kept for the timings. */
export async function loadWeights(o: { library: string; weights: string }): Promise<{ keys: number }> {
  const l = await library(o.library);
  if (weights?.url !== o.weights) {
    const res = await fetch(o.weights);
    if (!res.ok) throw new Error(`${o.weights}: HTTP ${res.status}`);
    weights = { url: o.weights, sd: l.readWeightsBytes(new Uint8Array(await res.arrayBuffer()), o.weights.split('/').pop()!) };
  }
  return { keys: weights.sd.size };
}

/** Deterministic values in [-1, 1) (an LCG), for inputs. */
function pseudoRandom(n: number, seed = 1): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

function top(values: Float32Array, k: number): number[] {
  return [...values.keys()].sort((a, b) => values[b]! - values[a]!).slice(0, k);
}

export interface ParityResult {
  photo: string;
  /** max |tfjs - ours| over the logits, on tfjs-wasm with PyTorch's symmetric pads. */
  maxAbs: number;
  /** The largest |logit| of ours, for scale. */
  maxLogit: number;
  top5Equal: boolean;
  top5Ours: number[];
  top5Tfjs: number[];
  /** The same with tfjs' pad 'same' (TF SAME): what the asymmetric stride-2 pads cost. */
  tfSameMaxAbs: number;
  tfSameTop5Equal: boolean;
  inputShape: number[];
  /** The tfjs graph took NCHW (as ONNX Runtime) and transposed it to NHWC inside. */
  inputLayout: Layout;
}

/**
 * One photo, preprocessed by our library (its preset for these weights), through our path
 * (load() + infer(): onnxruntime-web) and through tfjs-wasm with BN folded: the same numbers in.
 */
export async function parity(o: { library: string; weights: string; photo: string }): Promise<ParityResult> {
  const l = await library(o.library);
  await loadWeights(o);
  const model = await l.load({ weights: o.weights });
  const res = await fetch(o.photo);
  if (!res.ok) throw new Error(`${o.photo}: HTTP ${res.status}`);
  const x = await model.toTensor([await createImageBitmap(await res.blob())]); // (1, 3, 224, 224)
  const ours = (await model.infer(x)).data as Float32Array; // (1, 1000) logits
  await model.dispose();
  await use('wasm');
  const run = async (padding: Padding): Promise<Float32Array> => {
    const net = buildTfjsMobileNetV2(weights!.sd, { alpha: 1.0, padding });
    const input = tf.tensor4d(x.data as Float32Array, x.shape as [number, number, number, number]);
    const y = net.predict(input);
    const out = (await y.data()) as Float32Array;
    tf.dispose([y, input]);
    net.dispose();
    return out;
  };
  const maxDiff = (a: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - ours[i]!)), 0);
  const mine = await run('torch');
  const same = await run('tf-same');
  const t5 = top(ours, 5);
  return {
    photo: o.photo,
    maxAbs: maxDiff(mine),
    maxLogit: ours.reduce((m, v) => Math.max(m, Math.abs(v)), 0),
    top5Equal: top(mine, 5).join() === t5.join(),
    top5Ours: t5,
    top5Tfjs: top(mine, 5),
    tfSameMaxAbs: maxDiff(same),
    tfSameTop5Equal: top(same, 5).join() === t5.join(),
    inputShape: [...x.shape],
    inputLayout: 'NCHW',
  };
}

export interface Timing {
  backend: string;
  renderer?: string;
  batch: number;
  /** batch / median seconds per run. */
  imgPerSec: number;
  medianMs: number;
  /** The first run (shader compiles, weight uploads, XNNPACK packing). */
  firstMs: number;
  runsMs: number[];
  numTensorsLeaked: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** A random 1.0@224 state dict from our library (when no weights were loaded). */
async function someWeights(library_: string, alpha: number, numClasses: number): Promise<StateDict> {
  const l = await library(library_);
  return new l.MobileNetV2({ alpha, numClasses }).stateDict();
}

/**
 * images/s of tfjs predict (BN folded, fused convs) at one batch size: `warmup` untimed runs
 * (at least 1), then the median of `iterations`; each run ends with `await y.data()`.
 */
export async function timeInference(o: { library: string; backend: TfjsBackend; batch: number; warmup?: number; iterations?: number; size?: number; inputLayout?: Layout }): Promise<Timing> {
  const { batch, warmup = 1, iterations = 5, size = 224, inputLayout = 'NCHW' } = o;
  const info = await use(o.backend);
  const sd = weights?.sd ?? (await someWeights(o.library, 1.0, 1000));
  const before = tf.memory().numTensors;
  const net = buildTfjsMobileNetV2(sd, { alpha: 1.0, inputLayout });
  const shape: [number, number, number, number] = inputLayout === 'NCHW' ? [batch, 3, size, size] : [batch, size, size, 3];
  const x = tf.tensor4d(pseudoRandom(batch * 3 * size * size), shape);
  const once = async (): Promise<number> => {
    const t0 = performance.now();
    const y = net.predict(x);
    await y.data();
    const dt = performance.now() - t0;
    y.dispose();
    return dt;
  };
  const firstMs = await once();
  for (let i = 1; i < warmup; i++) await once();
  const runsMs: number[] = [];
  for (let i = 0; i < iterations; i++) runsMs.push(await once());
  x.dispose();
  net.dispose();
  const medianMs = median(runsMs);
  return { ...info, batch, imgPerSec: batch / (medianMs / 1000), medianMs, firstMs, runsMs, numTensorsLeaked: tf.memory().numTensors - before };
}

let ours: { url: string; model: Lib.WebModel } | undefined;

/**
 * The same measurement of our path in this page (load() + infer() on onnxruntime-web WASM), for a
 * ratio under the same load; bench/web.ts makes its own.
 */
export async function timeOurs(o: { library: string; weights: string; batch: number; warmup?: number; iterations?: number; size?: number }): Promise<Timing> {
  const { batch, warmup = 1, iterations = 5, size = 224 } = o;
  const l = await library(o.library);
  if (ours?.url !== o.weights) ours = { url: o.weights, model: await l.load({ weights: o.weights }) };
  const model = ours.model;
  const x = l.float32([batch, 3, size, size], pseudoRandom(batch * 3 * size * size));
  const once = async (): Promise<number> => {
    const t0 = performance.now();
    await model.infer(x);
    return performance.now() - t0;
  };
  const firstMs = await once();
  for (let i = 1; i < warmup; i++) await once();
  const runsMs: number[] = [];
  for (let i = 0; i < iterations; i++) runsMs.push(await once());
  const medianMs = median(runsMs);
  return { backend: `onnxruntime-web wasm, ${l.wasmThreads().threads} threads`, batch, imgPerSec: batch / (medianMs / 1000), medianMs, firstMs, runsMs, numTensorsLeaked: 0 };
}

export interface TrainTiming {
  backend: string;
  renderer?: string;
  alpha: number;
  numClasses: number;
  size: number;
  batch: number;
  lastChannel: number;
  /** The median step after the first (undefined when only one step ran). */
  stepMs?: number;
  firstMs: number;
  runsMs: number[];
  losses: number[];
  numTensorsLeaked: number;
  /** Why the backend could not train (e.g. a kernel not registered). */
  error?: string;
}

/**
 * One SGD step (train-mode BN from batch statistics, dropout, softmax cross-entropy) on random
 * weights from our library's init and a deterministic batch: the first step, then `iterations`
 * more timed. A backend that cannot train answers with `error`.
 */
export async function timeTrain(o: { library: string; backend: TfjsBackend; alpha?: number; numClasses?: number; size?: number; batch?: number; iterations?: number }): Promise<TrainTiming> {
  const { alpha = 0.35, numClasses = 10, size = 64, batch = 8, iterations = 2 } = o;
  const info = await use(o.backend);
  const sd = await someWeights(o.library, alpha, numClasses);
  const before = tf.memory().numTensors;
  const net = buildTfjsTrainable(sd, { alpha });
  const x = tf.tensor4d(pseudoRandom(batch * 3 * size * size, 7), [batch, 3, size, size]);
  const labels = tf.tensor1d(Array.from({ length: batch }, (_, i) => i % numClasses), 'int32');
  const base = { ...info, alpha, numClasses, size, batch, lastChannel: net.plan.lastChannel };
  const losses: number[] = [];
  const once = async (): Promise<number> => {
    const t0 = performance.now();
    const loss = net.step(x, labels);
    losses.push((await loss.data())[0]!);
    const dt = performance.now() - t0;
    loss.dispose();
    return dt;
  };
  let r: TrainTiming;
  try {
    const firstMs = await once();
    const runsMs: number[] = [];
    for (let i = 0; i < iterations; i++) runsMs.push(await once());
    r = { ...base, stepMs: runsMs.length ? median(runsMs) : undefined, firstMs, runsMs, losses, numTensorsLeaked: 0 };
  } catch (e) {
    r = { ...base, firstMs: NaN, runsMs: [], losses, numTensorsLeaked: 0, error: (e as Error).message };
  }
  tf.dispose([x, labels]);
  net.dispose();
  r.numTensorsLeaked = tf.memory().numTensors - before;
  return r;
}
