// `load({ worker: true })`: the model lives in a Web Worker (decoding, preprocessing and ONNX
// Runtime all off the page's thread), behind a proxy with the same classify / embed / infer /
// dispose. The worker runs this very module: started with the name 'mobilenetv2', it serves.
// Elements and frames are turned into ImageBitmaps (transferred) before they are posted; files,
// blobs, ImageData and bytes are cloned as they are.

import { ImageError } from '../../data/image.js';
import type { PresetName, PresetSpec } from '../../data/transforms.js';
import type { Classification } from '../../infer/model.js';
import type { Tensor } from '../../tensor.js';
import { WeightsError } from '../../weights/errors.js';
import type { WebImageInput } from './image.js';
import type { WebLoadOptions, WebModel } from './load.js';

const WORKER_NAME = 'mobilenetv2';

type Method = 'classify' | 'embed' | 'infer';
type Request = { id: number; type: 'load'; opts: WebLoadOptions } | { id: number; type: 'call'; method: Method; args: unknown[] } | { id: number; type: 'dispose' };
type Reply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: { name: string; message: string; code?: string; file?: string; problem?: string } } | { id: -1; progress: [number, number | undefined, string] };

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

interface Scope {
  name?: string;
  postMessage(m: unknown, transfer?: Transferable[]): void;
  addEventListener(t: 'message', f: (e: MessageEvent) => void): void;
}

function serialiseError(e: unknown): Extract<Reply, { ok: false }>['error'] {
  const err = e as Error & { code?: string; file?: string; problem?: string };
  return { name: err?.name ?? 'Error', message: err?.message ?? String(e), code: err?.code, file: err?.file, problem: err?.problem };
}

function reviveError(e: Extract<Reply, { ok: false }>['error']): Error {
  if (e.name === 'ImageError' && e.file !== undefined) return new ImageError(e.file, e.problem ?? e.message);
  if (e.name === 'WeightsError') return new WeightsError(e.message, e.code as 'E_WEIGHTS' | 'E_DOWNLOAD');
  const Ctor = e.name === 'TypeError' ? TypeError : e.name === 'RangeError' ? RangeError : Error;
  return Object.assign(new Ctor(e.message), e.code ? { code: e.code } : {});
}

/** In a worker named 'mobilenetv2': answer load / call / dispose messages. */
export function serveIfWorker(): void {
  const scope = globalThis as unknown as Scope & { __mobilenetv2Serving?: boolean };
  const inWorker = typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope !== 'undefined';
  if (!inWorker || scope.name !== WORKER_NAME || scope.__mobilenetv2Serving) return;
  scope.__mobilenetv2Serving = true;
  let model: Promise<WebModel> | undefined;
  scope.addEventListener('message', async (ev: MessageEvent) => {
    const req = ev.data as Request;
    const reply = (r: Reply, transfer: Transferable[] = []) => scope.postMessage(r, transfer);
    try {
      if (req.type === 'load') {
        const { load } = await import('./load.js');
        model = load({ ...req.opts, worker: false, onProgress: (got, total, url) => reply({ id: -1, progress: [got, total, url] }) });
        const m = await model;
        reply({ id: req.id, ok: true, value: { labels: m.labels, preset: m.preset, background: m.background, family: m.family, source: m.source, embeddingSize: m.embeddingSize, includeTop: m.includeTop } });
      } else if (req.type === 'dispose') {
        await (await model)?.dispose();
        reply({ id: req.id, ok: true, value: undefined });
      } else {
        if (!model) throw new Error('MobileNetV2Model: not loaded');
        const m = await model;
        const value = await (m[req.method] as (...a: unknown[]) => Promise<unknown>).apply(m, req.args);
        reply({ id: req.id, ok: true, value });
      }
    } catch (e) {
      reply({ id: req.id, ok: false, error: serialiseError(e) });
    }
  });
}

const cloneable = (x: unknown): boolean =>
  x instanceof Uint8Array || x instanceof ArrayBuffer || (typeof Blob === 'function' && x instanceof Blob) || (typeof ImageData === 'function' && x instanceof ImageData) || (typeof x === 'object' && x !== null && 'channels' in x);

/** One image as something a worker can receive; elements and frames become ImageBitmaps. */
async function postable(x: WebImageInput, transfer: Transferable[]): Promise<unknown> {
  if (cloneable(x)) return x;
  if (typeof ImageBitmap === 'function' && x instanceof ImageBitmap) return x;
  const bmp = await createImageBitmap(x as ImageBitmapSource);
  transfer.push(bmp);
  return bmp;
}

/** The model, in a worker: the same calls as MobileNetV2Model, each answered by the worker. */
export class WorkerModel {
  labels: string[] | undefined;
  preset!: PresetName | PresetSpec;
  background = false;
  family = 'none';
  source = '';
  embeddingSize = 0;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  constructor(
    readonly worker: Worker,
    onProgress?: WebLoadOptions['onProgress'],
  ) {
    worker.addEventListener('message', (ev: MessageEvent) => {
      const r = ev.data as Reply;
      if ('progress' in r) {
        onProgress?.(...r.progress);
        return;
      }
      const p = this.pending.get(r.id);
      if (!p) return;
      this.pending.delete(r.id);
      if (r.ok) p.resolve(r.value);
      else p.reject(reviveError(r.error));
    });
    worker.addEventListener('error', (ev: ErrorEvent) => {
      for (const p of this.pending.values()) p.reject(new Error(`mobilenetv2 worker failed: ${ev.message}`));
      this.pending.clear();
    });
  }

  request(msg: DistributiveOmit<Request, 'id'>, transfer: Transferable[] = []): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...msg, id }, transfer);
    });
  }

  private async images(x: WebImageInput | readonly WebImageInput[], transfer: Transferable[]): Promise<unknown> {
    return Array.isArray(x) ? Promise.all(x.map((i) => postable(i, transfer))) : postable(x as WebImageInput, transfer);
  }

  async classify(images: WebImageInput | readonly WebImageInput[], topk?: number): Promise<Classification[] | Classification[][]> {
    const transfer: Transferable[] = [];
    return this.request({ type: 'call', method: 'classify', args: [await this.images(images, transfer), topk] }, transfer) as Promise<Classification[]>;
  }

  async embed(images: WebImageInput | readonly WebImageInput[]): Promise<Float32Array | Float32Array[]> {
    const transfer: Transferable[] = [];
    return this.request({ type: 'call', method: 'embed', args: [await this.images(images, transfer)] }, transfer) as Promise<Float32Array>;
  }

  async infer(input: WebImageInput | readonly WebImageInput[] | Tensor, embedding = false): Promise<Tensor> {
    const transfer: Transferable[] = [];
    const isTensor = typeof input === 'object' && input !== null && 'dtype' in input && 'shape' in input;
    return this.request({ type: 'call', method: 'infer', args: [isTensor ? input : await this.images(input as WebImageInput, transfer), embedding] }, transfer) as Promise<Tensor>;
  }

  async dispose(): Promise<void> {
    await this.request({ type: 'dispose' });
    this.worker.terminate();
  }
}

export async function loadInWorker(opts: WebLoadOptions): Promise<WorkerModel> {
  const worker = new Worker(new URL(import.meta.url), { type: 'module', name: WORKER_NAME });
  const { onProgress, fetch: _f, ...rest } = opts;
  if (_f) throw new TypeError('load: fetch cannot be passed to a worker; leave it out with worker: true');
  const m = new WorkerModel(worker, onProgress);
  try {
    Object.assign(m, await m.request({ type: 'load', opts: rest as WebLoadOptions }));
  } catch (e) {
    worker.terminate();
    throw e;
  }
  return m;
}

serveIfWorker();
