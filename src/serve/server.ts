// `mobilenetv2 serve`: an HTTP inference server (fastify) with dynamic batching.
//
//   POST /v1/classify   image bytes (any content type but multipart) or a multipart form of images; ?topk=5
//   POST /v1/embed      the same -> the pooled feature vector
//   GET  /v2, /v2/health/live, /v2/health/ready, /v2/models/<name>[/versions/1][/ready]
//   POST /v2/models/<name>[/versions/1]/infer     the Open Inference Protocol (KServe v2): FP32 (N, 3, H, W) -> logits
//   GET  /metrics       Prometheus (prom-client)
//
// A request's path: admitted (or 503 + Retry-After when --max-queue requests are in already) ->
// body read (413 past --max-body) -> images decoded and preprocessed as `predict` does them
// (decoder.ts, on worker threads; 413 past --max-pixels, 400 with the decoder's reason) -> queued
// for the batcher (batcher.ts), which runs the rows of many requests as one batch on one of
// --workers sessions (sessions.ts: each on a worker thread, since onnxruntime-node's run() blocks
// the thread that calls it) -> its own rows of the outputs. Past --timeout-ms from its arrival a request
// is answered 504 (and its rows leave the queue if they have not run). drain() stops accepting,
// answers what is in, and releases everything.

import { availableParallelism } from 'node:os';
import fastifyMultipart from '@fastify/multipart';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { resolvePreset, type PresetName, type PresetSpec } from '../data/transforms.js';
import type { Backend, Device } from '../infer/backend.js';
import { topk as topkRows } from '../infer/predictor.js';
import type { MobileNetV2 } from '../models/mobilenetv2.js';
import { isOnnxNetwork, type OnnxNetwork } from '../infer/onnx.js';
import { float32, type Tensor } from '../tensor.js';
import { Batcher } from './batcher.js';
import { Decoder } from './decoder.js';
import { badRequest, HttpError, notFound, tooLarge, type ErrorReason } from './errors.js';
import { INFER_HEADER, inferResponse, modelMetadata, parseInferRequest, type ModelContract } from './kserve.js';
import { serveMetrics, type ServeMetrics } from './metrics.js';
import { inProcessSessions, workerSessions } from './sessions.js';

export interface ServeOptions {
  /** The network (a classifier: includeTop): a module, or an .onnx file of ours (export's fp32, quantize's int8). */
  readonly model: MobileNetV2 | OnnxNetwork;
  /** Class names by head index (default `class <i>`). */
  readonly labels?: readonly string[];
  /** Class 0 is TF-slim's background: left out of /v1/classify's ranking, as predict does. */
  readonly background?: boolean;
  /** Preprocessing for /v1 (its crop is the input size of /v2 too). Default torchvision-v1. */
  readonly preset?: PresetName | PresetSpec;
  /** The model's name in /v2 URLs. Default 'mobilenetv2'. */
  readonly name?: string;
  readonly host?: string;
  /** 0: any free port (see `url`). Default 8080. */
  readonly port?: number;
  /** Most rows (images) in one network run. Default 32. */
  readonly maxBatch?: number;
  /** How long the oldest queued request waits for others to join its batch. Default 2. */
  readonly maxDelayMs?: number;
  /** Requests admitted at once (receiving, decoding, queued or running); the next is answered 503. Default 64. */
  readonly maxQueue?: number;
  /** A request not answered this long after it arrived is answered 504. Default 30000. */
  readonly timeoutMs?: number;
  /** Sessions running batches at the same time. Default 1. */
  readonly workers?: number;
  /** Intra-op threads per session. Default cores / workers. */
  readonly threads?: number;
  readonly device?: Device;
  /** Decode worker threads; 0 decodes on the main thread. Default: the cores (measured: docs/serving.md). */
  readonly decodeThreads?: number;
  /** Largest request body (a multipart form: all its files together). Default 16 MiB. */
  readonly maxBodyBytes?: number;
  /** Largest image, width x height, read off its header before decoding. Default 50,000,000. */
  readonly maxPixels?: number;
  /** Log each request (fastify's JSON lines on stdout). Default false. */
  readonly log?: boolean;
  /** A runtime of your own: its sessions run on the main thread. Default: onnxruntime-node on worker threads. */
  readonly backend?: Backend;
}

export interface RunningServer {
  /** http://host:port, with the port actually bound. */
  readonly url: string;
  readonly port: number;
  readonly app: FastifyInstance;
  readonly metrics: ServeMetrics;
  readonly settings: Readonly<Required<Pick<ServeOptions, 'name' | 'maxBatch' | 'maxDelayMs' | 'maxQueue' | 'timeoutMs' | 'workers' | 'threads' | 'decodeThreads' | 'maxBodyBytes' | 'maxPixels'>>>;
  /** Stop accepting (new requests get 503), answer every request already in, release the sessions and threads. */
  drain(): Promise<void>;
}

const VERSION = '1';
const PACKAGE_VERSION = '0.1.0';

/** Per admitted request: aborted by its deadline or by the client leaving. */
const work = new WeakMap<FastifyRequest, { signal: AbortSignal }>();

class ClientGone extends Error {}
class Deadline extends Error {}

function positiveInt(name: string, v: number, min = 1): number {
  if (!Number.isInteger(v) || v < min) throw new RangeError(`${name} must be an integer >= ${min}, got ${v}`);
  return v;
}

/** Build the server, compile and warm the sessions, listen. */
export async function startServer(opts: ServeOptions): Promise<RunningServer> {
  const { model } = opts;
  if (!model.includeTop) throw new RangeError('serve: the model needs its classifier (includeTop)');
  if (isOnnxNetwork(model) && model.batch !== undefined) throw new RangeError(`serve: ${model.source} has a fixed batch of ${model.batch}; the server batches requests itself (export it without --batch)`);
  const workers = positiveInt('workers', opts.workers ?? 1);
  const settings = {
    name: opts.name ?? 'mobilenetv2',
    maxBatch: positiveInt('maxBatch', opts.maxBatch ?? 32),
    maxDelayMs: opts.maxDelayMs ?? 2,
    maxQueue: positiveInt('maxQueue', opts.maxQueue ?? 64),
    timeoutMs: positiveInt('timeoutMs', opts.timeoutMs ?? 30_000),
    workers,
    threads: positiveInt('threads', opts.threads ?? Math.max(1, Math.floor(availableParallelism() / workers))),
    decodeThreads: positiveInt('decodeThreads', opts.decodeThreads ?? availableParallelism(), 0),
    maxBodyBytes: positiveInt('maxBodyBytes', opts.maxBodyBytes ?? 16 * 2 ** 20),
    maxPixels: positiveInt('maxPixels', opts.maxPixels ?? 50_000_000),
  };
  if (!/^[A-Za-z0-9_.-]+$/.test(settings.name)) throw new RangeError(`name must be letters, digits, '_', '.' or '-' (it is a URL segment), got ${JSON.stringify(settings.name)}`);
  if (!(settings.maxDelayMs >= 0 && Number.isFinite(settings.maxDelayMs))) throw new RangeError(`maxDelayMs must be a number >= 0, got ${settings.maxDelayMs}`);
  const preset = resolvePreset(opts.preset ?? 'torchvision-v1');
  const classes = model.numClasses!;
  if (isOnnxNetwork(model) && (model.inputSize[0] !== preset.crop || model.inputSize[1] !== preset.crop)) throw new RangeError(`serve: ${model.source} takes ${model.inputSize[0]}x${model.inputSize[1]} images, but the preprocessing crops ${preset.crop}x${preset.crop}`);
  const labels = opts.labels;
  const skip = opts.background ? [0] : [];
  const contract: ModelContract = {
    name: settings.name,
    version: VERSION,
    input: { name: 'input', shape: [-1, 3, preset.crop, preset.crop] },
    output: { name: 'logits', shape: [-1, classes] },
    maxBatch: settings.maxBatch,
    labels,
  };

  // the network: --workers sessions, each on a worker thread (onnxruntime-node's run() blocks its
  // thread for the whole batch); their idle threads sleep instead of spin-waiting, so that decoding
  // gets the cores between batches (half the CPU time: docs/serving.md)
  const sessionOptions = { device: opts.device, threads: settings.threads, spinning: false };
  const sessions = opts.backend ? inProcessSessions(model, opts.backend, workers, sessionOptions) : workerSessions(model, [preset.crop, preset.crop], workers, sessionOptions);
  const decoder = new Decoder({ threads: settings.decodeThreads, preset, maxPixels: settings.maxPixels });
  let inFlight = 0;
  let decoding = 0; // /v1 requests decoding their images: the batcher waits for them
  let msPerRow = 0; // running average of a row's share of a run, for Retry-After
  let metrics: ServeMetrics;
  const batcher = new Batcher((input, runner) => sessions.run(input, runner), {
    maxBatch: settings.maxBatch,
    maxDelayMs: settings.maxDelayMs,
    runners: workers,
    incoming: () => decoding,
    onBatch(rows, ms) {
      metrics.batchSize.observe(rows);
      metrics.inference.observe(ms / 1000);
      msPerRow = msPerRow === 0 ? ms / rows : 0.9 * msPerRow + 0.1 * (ms / rows);
    },
  });
  metrics = serveMetrics('mobilenetv2', { queue: () => batcher.depth, inFlight: () => inFlight, decodeQueue: () => decoder.depth, running: () => batcher.busy });

  try {
    // compile and warm every session at both ends of the batch range, so the first requests are not slow
    const plane = 3 * preset.crop * preset.crop;
    for (const n of new Set([1, settings.maxBatch])) {
      await Promise.all(Array.from({ length: workers }, (_, r) => sessions.run(float32([n, 3, preset.crop, preset.crop], new Float32Array(n * plane)), r)));
    }
  } catch (e) {
    await Promise.all([decoder.close(), sessions.close()]);
    throw e;
  }

  const app = Fastify({ logger: opts.log ? { level: 'info' } : false, bodyLimit: settings.maxBodyBytes, return503OnClosing: true, forceCloseConnections: 'idle' });
  let draining = false;

  const routeOf = (req: FastifyRequest): string => req.routeOptions.url ?? 'unmatched';
  const retryAfter = (): string => String(Math.min(60, Math.max(1, Math.ceil((inFlight * msPerRow) / workers / 1000))));

  /** Admission, before the body is read: bounded in-flight requests, a deadline, the client's departure. */
  function admit(req: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void): void {
    if (draining) return done(new HttpError(503, 'the server is shutting down', 'draining', { 'retry-after': '1' }));
    if (inFlight >= settings.maxQueue) {
      return done(new HttpError(503, `busy: ${settings.maxQueue} requests are in already (--max-queue); retry later`, 'queue_full', { 'retry-after': retryAfter() }));
    }
    inFlight++;
    const abort = new AbortController();
    const deadline = setTimeout(() => abort.abort(new Deadline()), settings.timeoutMs);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      inFlight--;
      clearTimeout(deadline);
      if (!reply.raw.writableFinished) abort.abort(new ClientGone('the client closed the connection'));
    };
    reply.raw.once('finish', release); // answered (before the client reads it: its next request finds the place free)
    reply.raw.once('close', release); // or the connection went away first
    work.set(req, { signal: abort.signal });
    done();
  }

  /** `p`, or the request's abort (deadline, client gone), whichever comes first. */
  function guard<T>(req: FastifyRequest, p: Promise<T>): Promise<T> {
    const { signal } = work.get(req)!;
    if (signal.aborted) return Promise.reject(signal.reason);
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => reject(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  async function decodeTimed(req: FastifyRequest, bytes: Uint8Array, name?: string): Promise<Float32Array> {
    const t0 = performance.now();
    decoding++;
    try {
      const r = await decoder.decode(bytes, name, work.get(req)!.signal);
      metrics.decode.observe((performance.now() - t0) / 1000);
      return r;
    } finally {
      decoding--;
      setImmediate(() => batcher.poke()); // once its rows are queued, or not (a bad image): a waiting batch may be due now
    }
  }

  /** The request's images -> rows, with per-image failures (multipart) kept apart. */
  async function images(req: FastifyRequest): Promise<{ multipart: boolean; files: { name: string; row?: Float32Array; error?: HttpError }[] }> {
    if (!req.isMultipart()) {
      const body = req.body;
      if (!Buffer.isBuffer(body) || body.length === 0) throw badRequest('empty body: send the image bytes (curl --data-binary @cat.jpg) or a multipart form of images');
      return { multipart: false, files: [{ name: '', row: await guard(req, decodeTimed(req, body)) }] };
    }
    const parts: { name: string; bytes: Buffer }[] = [];
    let total = 0;
    for await (const part of req.parts({ limits: { files: settings.maxBatch, fileSize: settings.maxBodyBytes, fields: 16, fieldSize: 65_536 } })) {
      if (part.type !== 'file') continue;
      const chunks: Buffer[] = [];
      for await (const c of part.file as AsyncIterable<Buffer>) {
        total += c.length;
        if (total > settings.maxBodyBytes) throw tooLarge(`the form's files are more than ${settings.maxBodyBytes} bytes together (--max-body-mb)`);
        chunks.push(c);
      }
      parts.push({ name: part.filename || part.fieldname, bytes: Buffer.concat(chunks) });
    }
    if (parts.length === 0) throw badRequest('the form holds no file: send images as file fields (curl -F image=@cat.jpg)');
    const rows = await guard(req, Promise.allSettled(parts.map((p) => decodeTimed(req, p.bytes, p.name))));
    return {
      multipart: true,
      files: rows.map((r, i) => {
        if (r.status === 'fulfilled') return { name: parts[i]!.name, row: r.value };
        if (r.reason instanceof HttpError) return { name: parts[i]!.name, error: r.reason };
        throw r.reason;
      }),
    };
  }

  /** Rows (3, H, W) each -> one queued block; its rows of the outputs. */
  async function infer(req: FastifyRequest, rows: Float32Array[]): Promise<Record<string, Tensor>> {
    const plane = 3 * preset.crop * preset.crop;
    const data = rows.length === 1 ? rows[0]! : new Float32Array(rows.length * plane);
    if (rows.length > 1) rows.forEach((r, i) => data.set(r, i * plane));
    return guard(req, batcher.submit(float32([rows.length, 3, preset.crop, preset.crop], data), work.get(req)!.signal));
  }

  /** Answers for the images of a /v1 request: one, or one per file of the form. */
  async function v1(req: FastifyRequest, reply: FastifyReply, answer: (out: Record<string, Tensor>, i: number) => object): Promise<void> {
    const { multipart, files } = await images(req);
    const good = files.filter((f) => f.row);
    const out = good.length > 0 ? await infer(req, good.map((f) => f.row!)) : undefined;
    if (!multipart) return void reply.send(answer(out!, 0));
    let r = 0;
    const results = files.map((f) => (f.row ? { file: f.name, ...answer(out!, r++) } : { file: f.name, error: f.error!.message }));
    if (good.length === 0) {
      const first = files[0]!.error!;
      metrics.errors.inc({ route: routeOf(req), reason: first.reason });
      return void reply.code(first.statusCode).send({ error: files.length === 1 ? first.message : `none of the ${files.length} images could be used (first: ${first.message})`, results });
    }
    reply.send({ results });
  }

  function topkParam(req: FastifyRequest): number {
    const raw = (req.query as Record<string, unknown>)['topk'];
    if (raw === undefined) return 5;
    const k = Number(raw);
    const most = classes - skip.length;
    if (typeof raw !== 'string' || !Number.isInteger(k) || k < 1 || k > most) throw badRequest(`topk must be an integer from 1 to ${most}, got ${JSON.stringify(raw)}`);
    return k;
  }

  // -- errors: KServe's { "error": "<one line>" } for every failure, counted by reason
  app.setErrorHandler((err: FastifyError | HttpError | Error, req, reply) => {
    let e: HttpError;
    if (err instanceof HttpError) e = err;
    else if (err instanceof ClientGone) return void reply.code(499).send(); // nobody to answer
    else if (err instanceof Deadline) e = new HttpError(504, `not answered within ${settings.timeoutMs} ms (--timeout-ms)`, 'timeout');
    else if ((err as FastifyError).code === 'FST_ERR_CTP_BODY_TOO_LARGE') e = tooLarge(`the body is more than ${settings.maxBodyBytes} bytes (--max-body-mb)`);
    else if ((err as FastifyError).code === 'FST_FILES_LIMIT') e = tooLarge(`a form may hold at most ${settings.maxBatch} images (--max-batch)`);
    else if ((err as FastifyError).code === 'FST_REQ_FILE_TOO_LARGE') e = tooLarge(`a file of the form is more than ${settings.maxBodyBytes} bytes (--max-body-mb)`);
    else if (typeof (err as FastifyError).statusCode === 'number' && (err as FastifyError).statusCode! < 500) {
      const status = (err as FastifyError).statusCode!;
      e = new HttpError(status, err.message.split('\n')[0]!, status === 413 ? 'too_large' : status === 415 ? 'unsupported_media_type' : status === 404 ? 'not_found' : 'bad_request');
    } else {
      process.stderr.write(`mobilenetv2: serve: internal error on ${req.method} ${req.url}: ${err.message.split('\n')[0]}\n${err.stack}\n`);
      e = new HttpError(500, `internal error: ${err.message.split('\n')[0]}`, 'internal');
    }
    metrics.errors.inc({ route: routeOf(req), reason: e.reason });
    reply.code(e.statusCode).headers(e.headers).send({ error: e.message });
  });
  app.setNotFoundHandler((req, reply) => {
    metrics.errors.inc({ route: 'unmatched', reason: 'not_found' satisfies ErrorReason });
    reply.code(404).send({ error: `no such endpoint: ${req.method} ${req.url.split('?')[0]}` });
  });
  app.addHook('onSend', (_req, reply, payload, done) => {
    if (draining) reply.header('connection', 'close'); // the client's keep-alive connection ends with this answer
    done(null, payload);
  });
  app.addHook('onResponse', (req, reply, done) => {
    const route = routeOf(req);
    metrics.requests.inc({ route, status: String(reply.statusCode) });
    metrics.latency.observe({ route }, reply.elapsedTime / 1000); // from the request's arrival (fastify's onRequest)
    done();
  });

  // -- /v1: images in, JSON out
  await app.register(async (v1App) => {
    v1App.removeAllContentTypeParsers();
    v1App.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
    await v1App.register(fastifyMultipart);
    v1App.addHook('onRequest', admit);
    v1App.post('/v1/classify', async (req, reply) => {
      const k = topkParam(req);
      await v1(req, reply, (out, i) => {
        const [row] = topkRows(rowOf(out['probabilities']!, i), rowOf(out['logits']!, i), k, skip);
        return { top: row!.map((t) => ({ index: t.index, label: labels?.[t.index] ?? `class ${t.index}`, probability: t.probability })) };
      });
    });
    v1App.post('/v1/embed', async (req, reply) => {
      await v1(req, reply, (out, i) => ({ embedding: Array.from(rowOf(out['embedding']!, i).data as Float32Array) }));
    });
  });

  // -- /v2: the Open Inference Protocol
  const model404 = (name: string, version?: string): void => {
    if (name !== settings.name) throw notFound(`unknown model "${name}": this server serves "${settings.name}"`);
    if (version !== undefined && version !== VERSION) throw notFound(`unknown version "${version}" of model "${name}": it has version ${VERSION}`);
  };
  type ModelParams = { Params: { name: string; version?: string } };
  app.get('/v2', async () => ({ name: 'mobilenetv2', version: PACKAGE_VERSION, extensions: ['binary_tensor_data', 'classification'] }));
  app.get('/v2/health/live', async (_req, reply) => reply.code(200).send());
  app.get('/v2/health/ready', async (_req, reply) => reply.code(draining ? 400 : 200).send());
  for (const prefix of ['/v2/models/:name', '/v2/models/:name/versions/:version']) {
    app.get<ModelParams>(prefix, async (req) => {
      model404(req.params.name, req.params.version);
      return modelMetadata(contract);
    });
    app.get<ModelParams>(`${prefix}/ready`, async (req, reply) => {
      model404(req.params.name, req.params.version);
      return reply.code(draining ? 400 : 200).send();
    });
  }
  await app.register(async (v2App) => {
    v2App.removeAllContentTypeParsers();
    v2App.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
    v2App.addHook('onRequest', admit);
    for (const prefix of ['/v2/models/:name', '/v2/models/:name/versions/:version']) {
      v2App.post<ModelParams>(`${prefix}/infer`, async (req, reply) => {
        model404(req.params.name, req.params.version);
        if (!Buffer.isBuffer(req.body) || req.body.length === 0) throw badRequest('empty body: send an inference request (JSON)');
        const header = req.headers[INFER_HEADER];
        const request = parseInferRequest(req.body, Array.isArray(header) ? header[0] : header, contract);
        const out = await guard(req, batcher.submit(request.input, work.get(req)!.signal));
        const res = inferResponse(request, out['logits']!, contract);
        reply.header('content-type', res.contentType);
        if (res.headerLength !== undefined) reply.header('Inference-Header-Content-Length', String(res.headerLength));
        return reply.send(res.body);
      });
    }
  });

  app.get('/metrics', async (_req, reply) => reply.header('content-type', metrics.registry.contentType).send(await metrics.registry.metrics()));

  let url: string;
  try {
    url = await app.listen({ host: opts.host ?? '127.0.0.1', port: opts.port ?? 8080 });
  } catch (e) {
    await Promise.all([decoder.close(), sessions.close()]);
    throw e;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : (opts.port ?? 8080);

  let drained: Promise<void> | undefined;
  return {
    url,
    port,
    app,
    metrics,
    settings,
    drain() {
      drained ??= (async () => {
        draining = true;
        // no new connections; new requests on open ones get 503; waits for the answers in flight,
        // closing each keep-alive connection as it goes idle (fastify closes only those idle now)
        const closing = app.close();
        const idle = setInterval(() => app.server.closeIdleConnections(), 50);
        await closing.finally(() => clearInterval(idle));
        await batcher.drain();
        await Promise.all([decoder.close(), sessions.close()]);
      })();
      return drained;
    },
  };
}

/** Row i of an (N, ...) tensor as a (1, ...) tensor. */
function rowOf(t: Tensor, i: number): Tensor {
  const per = t.data.length / t.shape[0]!;
  return { dtype: t.dtype, shape: [1, ...t.shape.slice(1)], data: (t.data as Float32Array).subarray(i * per, (i + 1) * per) };
}
