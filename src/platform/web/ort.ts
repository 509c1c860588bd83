// The only module that imports onnxruntime-web. Two of its builds, each loaded on first use:
// `onnxruntime-web/wasm` (CPU: WASM with SIMD, threads when the page is cross-origin isolated;
// 14 MB of WebAssembly) and `onnxruntime-web/webgpu` (ORT's native WebGPU provider; 27 MB), so a
// page that never asks for WebGPU never downloads it. JSEP (the default build's WebGPU kernels in
// JS) is deprecated and fails our training graphs (../shared/notes/browser.md).

import type * as Ort from 'onnxruntime-common';
import type { Tensor } from '../../tensor.js';
import { DeviceUnavailableError, type Backend, type Device, type Session, type SessionOptions } from '../../infer/backend.js';

type OrtModule = typeof Ort;

export interface WebBackendOptions {
  /** Where ONNX Runtime's .wasm files are (default: beside its JS, as the bundler or server placed them). */
  wasmPaths?: string;
  /** How to load each build (default: dynamic imports of onnxruntime-web/wasm and /webgpu). */
  loadWasm?: () => Promise<OrtModule>;
  loadWebgpu?: () => Promise<OrtModule>;
  /** Where the one-time notes go (default console.info). */
  note?: (message: string) => void;
}

const DEVICES: readonly Device[] = ['wasm', 'webgpu'];

function toOrt(ort: OrtModule, t: Tensor): Ort.Tensor {
  return new ort.Tensor(t.dtype, t.data, t.shape as number[]);
}

function fromOrt(t: Ort.Tensor): Tensor {
  if (t.type !== 'float32' && t.type !== 'int64' && t.type !== 'int8' && t.type !== 'uint8' && t.type !== 'int32') throw new Error(`runtime: unsupported output type ${t.type}`);
  return { dtype: t.type, shape: [...t.dims], data: t.data as Tensor['data'] };
}

class WebSession implements Session {
  constructor(
    private readonly ort: OrtModule,
    private readonly s: Ort.InferenceSession,
    readonly device: Device,
  ) {}
  get inputNames() {
    return this.s.inputNames;
  }
  get outputNames() {
    return this.s.outputNames;
  }
  async run(feeds: Record<string, Tensor>, fetches?: readonly string[]): Promise<Record<string, Tensor>> {
    const f: Record<string, Ort.Tensor> = {};
    for (const [k, v] of Object.entries(feeds)) f[k] = toOrt(this.ort, v);
    const out = fetches ? await this.s.run(f, fetches as string[]) : await this.s.run(f);
    const r: Record<string, Tensor> = {};
    for (const [k, v] of Object.entries(out)) {
      r[k] = fromOrt(v);
      if (this.device === 'webgpu') v.dispose();
    }
    return r;
  }
  release(): Promise<void> {
    return this.s.release();
  }
}

/** Whether this browser gives a WebGPU adapter, and if not, why. */
export async function webgpuAvailable(): Promise<{ ok: true; adapter: string } | { ok: false; reason: string }> {
  const gpu = (globalThis.navigator as Navigator & { gpu?: { requestAdapter(): Promise<unknown> } } | undefined)?.gpu;
  if (!gpu) return { ok: false, reason: 'this browser has no WebGPU (navigator.gpu is undefined)' };
  let adapter: { info?: { vendor?: string; architecture?: string; description?: string } } | null;
  try {
    adapter = (await gpu.requestAdapter()) as typeof adapter;
  } catch (e) {
    return { ok: false, reason: `requestAdapter() failed: ${(e as Error).message}` };
  }
  if (!adapter) return { ok: false, reason: 'no WebGPU adapter (requestAdapter() returned null)' };
  const i = adapter.info ?? {};
  return { ok: true, adapter: [i.vendor, i.architecture, i.description].filter(Boolean).join(' ') || 'unknown' };
}

/** The WASM threads a page can use: up to 4 when cross-origin isolated (SharedArrayBuffer), else 1. */
export function wasmThreads(requested?: number): { threads: number; why?: string } {
  const isolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;
  if (!isolated) {
    return { threads: 1, why: 'WASM runs on 1 thread: this page is not cross-origin isolated (serve it with Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp for threads)' };
  }
  const cores = globalThis.navigator?.hardwareConcurrency ?? 2;
  return { threads: requested ?? Math.max(1, Math.min(4, cores)) };
}

export function webBackend(opts: WebBackendOptions = {}): Backend {
  const note = opts.note ?? ((m: string) => console.info(`mobilenetv2: ${m}`));
  const loaded = new Map<Device, Promise<OrtModule>>();
  let threadsFixed: number | undefined;
  const module = (device: Device, threads: number | undefined): Promise<OrtModule> => {
    let m = loaded.get(device);
    if (!m) {
      const load = device === 'webgpu' ? (opts.loadWebgpu ?? (() => import('onnxruntime-web/webgpu'))) : (opts.loadWasm ?? (() => import('onnxruntime-web/wasm')));
      m = load().then((ort) => {
        // fixed for the page by the first session of each build
        const t = wasmThreads(threads);
        if (t.why && threadsFixed === undefined) note(t.why);
        threadsFixed = t.threads;
        ort.env.wasm.numThreads = t.threads;
        if (opts.wasmPaths) ort.env.wasm.wasmPaths = opts.wasmPaths;
        ort.env.logLevel = 'error';
        return ort;
      });
      loaded.set(device, m);
      m.catch(() => loaded.delete(device));
    }
    return m;
  };
  return {
    name: 'onnxruntime-web',
    devices: DEVICES,
    // both WebGPU providers compute the grouped Conv of the im2col depthwise dW wrong (notes/browser.md);
    // convBn 'moments' was measured on CPUs only (on the software adapter its step lands 8.2e-5 from
    // PyTorch, 'separate' 6.2e-5): WebGPU keeps the conv and its BatchNorm apart
    formulation: (device) => (device === 'webgpu' ? { depthwiseDw: 'slices', convBn: 'separate' } : {}),
    async createSession(model: Uint8Array, o: SessionOptions = {}): Promise<Session> {
      const device = o.device ?? 'wasm';
      if (!DEVICES.includes(device)) throw new RangeError(`Unsupported device: "${device}". Should be one of: ${DEVICES.join(', ')}`);
      if (device === 'webgpu') {
        const gpu = await webgpuAvailable();
        if (!gpu.ok) throw new DeviceUnavailableError(`device 'webgpu' is not available: ${gpu.reason}`);
      }
      const ort = await module(device, o.threads);
      const session = await ort.InferenceSession.create(model, {
        executionProviders: [device],
        graphOptimizationLevel: o.graphOptimizationLevel ?? 'all',
        enableMemPattern: o.memPattern ?? true,
        logSeverityLevel: 3,
      });
      return new WebSession(ort, session, device);
    },
  };
}

export type { OrtModule };
