// mobilenetv2 serve --weights w.pth: an HTTP inference server with dynamic batching
// (src/serve/). SIGTERM or Ctrl-C drains it: no new requests, the ones in flight are answered,
// then exit 0 (a second signal exits at once).
//
//   npx mobilenetv2 serve --weights w.pth &
//   curl --data-binary @cat.jpg localhost:8080/v1/classify

import { Command, InvalidArgumentError, Option } from 'commander';
import { labelsForHead } from '../data/labels.js';
import { withInputSize } from '../data/transforms.js';
import type { Device } from '../infer/backend.js';
import type { RunningServer } from '../serve/server.js';
import type { MobileNetV2 } from '../models/mobilenetv2.js';
import type { OnnxNetwork } from '../infer/onnx.js';
import { addModelOptions, buildNetwork, deviceFlag, positiveInt, presetFlag, runCommand, weightsName, type ModelFlags } from './common.js';
import { usage } from './errors.js';
import { DEFAULT_WEIGHTS } from '../weights/registry.js';
import { abortSignal, handleSignalsWith } from './signals.js';

interface ServeFlags extends ModelFlags {
  port: number;
  host: string;
  name: string;
  maxBatch: number;
  maxDelayMs: number;
  maxQueue: number;
  timeoutMs: number;
  workers: number;
  threads?: number;
  decodeThreads?: number;
  maxBodyMb: number;
  maxPixels: number;
  preset?: string;
  device: Device;
  log?: boolean;
}

function port(v: string): number {
  const x = Number(v);
  if (!Number.isInteger(x) || x < 0 || x > 65535) throw new InvalidArgumentError(`--port must be an integer from 0 to 65535, got "${v}"`);
  return x;
}

function nonNegative(name: string) {
  return (v: string): number => {
    const x = Number(v);
    if (!Number.isFinite(x) || x < 0) throw new InvalidArgumentError(`${name} must be a number >= 0, got "${v}"`);
    return x;
  };
}

function positive(name: string) {
  return (v: string): number => {
    const x = Number(v);
    if (!Number.isFinite(x) || x <= 0) throw new InvalidArgumentError(`${name} must be a number > 0, got "${v}"`);
    return x;
  };
}

export function serveCommand(): Command {
  const cmd = new Command('serve')
    .description('an HTTP inference server with dynamic batching: POST /v1/classify, /v1/embed (image bytes or a multipart form), the Open Inference Protocol (KServe v2) under /v2, Prometheus /metrics')
    .option('--weights <name|file>', 'registry name, hf:<org>/<name>, a transformers/timm checkpoint folder, a .pth/.safetensors file, or an .onnx of export/quantize (fp32 or int8)', DEFAULT_WEIGHTS)
    .option('--port <n>', 'TCP port (0: any free one, printed at start)', port, 8080)
    .option('--host <address>', 'address to listen on (0.0.0.0: every interface)', '127.0.0.1')
    .option('--name <name>', 'the model name in /v2/models/<name> URLs', 'mobilenetv2')
    .option('--max-batch <n>', 'most images in one network run', positiveInt('--max-batch'), 32)
    .option('--max-delay-ms <ms>', 'how long the oldest waiting request waits for others to join its batch', nonNegative('--max-delay-ms'), 2)
    .option('--max-queue <n>', 'requests in the server at once (receiving, decoding, waiting, running); more get 503 + Retry-After', positiveInt('--max-queue'), 64)
    .option('--timeout-ms <ms>', 'a request not answered this long after it arrived gets 504', positiveInt('--timeout-ms'), 30_000)
    .option('--workers <n>', 'ONNX Runtime sessions running batches at the same time, each on its own thread', positiveInt('--workers'), 1)
    .option('--threads <n>', 'CPU threads per session (default: cores / workers)', positiveInt('--threads'))
    .option('--decode-threads <n>', 'worker threads decoding images (0: on the main thread; default: the cores)', positiveInt('--decode-threads', 0))
    .option('--max-body-mb <mb>', 'largest request body (a form: its files together), MiB; more gets 413', positive('--max-body-mb'), 16)
    .option('--max-pixels <n>', 'largest image (width x height, read off its header); more gets 413', positiveInt('--max-pixels'), 50_000_000)
    .option('--preset <name>', "preprocessing: torchvision-v1, torchvision-v2, hf, tf, timm (default: the weights')")
    .addOption(new Option('--device <device>', 'where ONNX Runtime runs the network').argParser(deviceFlag).default('cpu'))
    .option('--log', 'log every request (JSON lines on stdout)');
  addModelOptions(cmd).action((flags: ServeFlags) => runCommand(() => serve(flags)));
  return cmd;
}

async function serve(flags: ServeFlags): Promise<void> {
  const override = presetFlag(flags.preset);
  const loaded = await buildNetwork(flags); // a checkpoint, or an .onnx file of ours (fp32 or int8)
  const base = override ?? loaded.preset ?? 'torchvision-v1';
  const size = flags.inputSize ?? loaded.inputSize;
  const preset = size ? withInputSize(base, size) : base;
  const model = loaded.network as MobileNetV2 | OnnxNetwork;
  abortSignal.throwIfAborted(); // a signal while loading: stop here, "interrupted"
  const { startServer } = await import('../serve/server.js'); // fastify & co. load only for serve
  let server: RunningServer;
  try {
    server = await startServer({
      model,
      labels: loaded.labels ?? labelsForHead(loaded.numClasses),
      background: loaded.background,
      preset,
      name: flags.name,
      host: flags.host,
      port: flags.port,
      maxBatch: flags.maxBatch,
      maxDelayMs: flags.maxDelayMs,
      maxQueue: flags.maxQueue,
      timeoutMs: flags.timeoutMs,
      workers: flags.workers,
      threads: flags.threads,
      device: flags.device,
      decodeThreads: flags.decodeThreads,
      maxBodyBytes: Math.round(flags.maxBodyMb * 2 ** 20),
      maxPixels: flags.maxPixels,
      log: flags.log,
    });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') throw usage(`cannot listen on ${flags.host}:${flags.port} (${code})`);
    if (e instanceof RangeError && /^name must/.test(e.message)) throw usage(`--${e.message}`);
    throw e;
  }
  const stopped = new Promise<void>((resolve, reject) => {
    const drain = (sig: NodeJS.Signals) => {
      process.stderr.write(`${sig}: draining (no new requests; answering the ones in flight)\n`);
      server.drain().then(() => {
        process.stderr.write('stopped\n');
        resolve();
      }, reject);
    };
    handleSignalsWith(drain);
    if (abortSignal.aborted) drain(abortSignal.reason instanceof Error && /SIGINT/.test(abortSignal.reason.message) ? 'SIGINT' : 'SIGTERM'); // a signal during the warm-up
  });
  const s = server.settings;
  const weights = loaded.source ? weightsName(flags.weights!, loaded.source) : 'random init';
  process.stderr.write(
    `serving ${weights} as "${s.name}" on ${server.url} (batches of up to ${s.maxBatch} within ${s.maxDelayMs} ms, ` +
      `${s.workers} session${s.workers > 1 ? 's' : ''} x ${s.threads} thread${s.threads > 1 ? 's' : ''}, ` +
      `decoding ${s.decodeThreads === 0 ? 'on the main thread' : `on ${s.decodeThreads} worker thread${s.decodeThreads > 1 ? 's' : ''}`}, at most ${s.maxQueue} requests in)\n`,
  );
  await stopped;
}
