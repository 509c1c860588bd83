// The only module that imports onnxruntime-node.

import os from 'node:os';
import * as ort from 'onnxruntime-node';
import type { Tensor } from '../../tensor.js';
import { DeviceUnavailableError, type Backend, type Device, type Session, type SessionOptions } from '../../infer/backend.js';

const DEVICES: readonly Device[] = ['cpu', 'webgpu', 'cuda'];

const HOW_TO_GET: Record<string, string> = {
  cuda: 'install the CUDA build of ONNX Runtime with `ONNXRUNTIME_NODE_INSTALL=cuda12 npm ci` (needs CUDA 12 and cuDNN 9 on this machine)',
  webgpu: "onnxruntime-node's WebGPU provider needs a GPU with a Vulkan (Linux), D3D12 (Windows) or Metal (macOS) driver",
};

function toOrt(t: Tensor): ort.Tensor {
  return new ort.Tensor(t.dtype, t.data, t.shape as number[]);
}

function fromOrt(t: ort.Tensor): Tensor {
  if (t.type !== 'float32' && t.type !== 'int64' && t.type !== 'int8' && t.type !== 'uint8' && t.type !== 'int32') throw new Error(`runtime: unsupported output type ${t.type}`);
  return { dtype: t.type, shape: [...t.dims], data: t.data as Tensor['data'] };
}

class NodeSession implements Session {
  constructor(
    private readonly s: ort.InferenceSession,
    readonly device: Device,
  ) {}
  get inputNames() {
    return this.s.inputNames;
  }
  get outputNames() {
    return this.s.outputNames;
  }
  async run(feeds: Record<string, Tensor>, fetches?: readonly string[]): Promise<Record<string, Tensor>> {
    const f: Record<string, ort.Tensor> = {};
    for (const [k, v] of Object.entries(feeds)) f[k] = toOrt(v);
    const out = fetches ? await this.s.run(f, fetches as string[]) : await this.s.run(f);
    const r: Record<string, Tensor> = {};
    for (const [k, v] of Object.entries(out)) r[k] = fromOrt(v);
    return r;
  }
  release(): Promise<void> {
    return this.s.release();
  }
}

export function sessionOptions(opts: SessionOptions = {}): ort.InferenceSession.SessionOptions {
  const device = opts.device ?? 'cpu';
  return {
    executionProviders: [device],
    intraOpNumThreads: opts.threads ?? os.availableParallelism(),
    interOpNumThreads: 1,
    graphOptimizationLevel: opts.graphOptimizationLevel ?? 'all',
    enableMemPattern: opts.memPattern ?? true,
    enableCpuMemArena: opts.memArena ?? true,
    ...(opts.spinning === false ? { extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } } } : {}),
    ...(opts.optimizedModelFilePath ? { optimizedModelFilePath: opts.optimizedModelFilePath } : {}),
    // a missing GPU provider is reported by our own one-line error, not ORT's log
    logSeverityLevel: device === 'cpu' ? 3 : 4,
  };
}

let initialised = false;

/**
 * onnxruntime-node 1.30 on Linux runs telemetry when it first initialises: it reads
 * /etc/machine-id and /proc/self/cmdline (the user's file names), writes
 * ~/.cache/Microsoft/DeveloperTools/.onnxruntime/onnxruntime.db, and recurses over the command line
 * so deeply that a process whose arguments pass ~30 KB dies with a segmentation fault
 * (`mobilenetv2 predict photos/*.jpg` with ~850 photos). ORT reads ORT_DISABLE_TELEMETRY when its
 * first session is created, so setting it when this module loads, before that, is enough. Off unless the user asks
 * for it with MOBILENETV2_ORT_TELEMETRY=1; even then it stays off for a command line that long.
 */
export function disableOrtTelemetry(env: NodeJS.ProcessEnv = process.env, commandLineBytes = commandLineLength()): void {
  if (env['MOBILENETV2_ORT_TELEMETRY'] === '1' && commandLineBytes < 16_384) return;
  if (env['MOBILENETV2_ORT_TELEMETRY'] === '1') {
    process.emitWarning(`ONNX Runtime telemetry left off: it crashes on a command line of ${commandLineBytes} bytes (onnxruntime-node 1.30)`);
  }
  env['ORT_DISABLE_TELEMETRY'] = '1';
}

function commandLineLength(): number {
  return [process.execPath, ...process.execArgv, ...process.argv].reduce((n, a) => n + Buffer.byteLength(a) + 1, 0);
}

// before any session of this process (ours or the user's own) initialises ORT
disableOrtTelemetry();

export const nodeBackend: Backend = {
  name: 'onnxruntime-node',
  devices: DEVICES,
  // 'all' adds ORT's NCHWc layout pass: a frozen prefix's constant convs run as in inference
  // (--freeze features.0-13: x0.81 of the step at 'extended'); the trainable convs' weights are
  // inputs, so it leaves them alone (docs/training.md)
  trainOptimizationLevel: (device) => (device === 'cpu' ? 'all' : 'extended'),
  async createSession(model: Uint8Array, opts: SessionOptions = {}): Promise<Session> {
    const device = opts.device ?? 'cpu';
    if (!DEVICES.includes(device)) {
      throw new RangeError(`Unsupported device: "${device}". Should be one of: ${DEVICES.join(', ')}`);
    }
    // ORT reads its log level once, when it first initialises: keep a missing GPU provider's
    // native error log quiet (the error below says what is wrong and how to fix it)
    if (device !== 'cpu' && !initialised) ort.env.logLevel = 'fatal';
    initialised = true;
    try {
      return new NodeSession(await ort.InferenceSession.create(model, sessionOptions(opts)), device);
    } catch (e) {
      if (device === 'cpu') throw e;
      const why = shortReason((e as Error).message);
      throw new DeviceUnavailableError(`device '${device}' is not available (${why}): ${HOW_TO_GET[device]}`);
    }
  },
};

/** The useful part of ORT's provider errors ("... was false. Failed to get a WebGPU adapter: ..."). */
function shortReason(message: string): string {
  const line = message.split('\n')[0]!;
  const i = line.lastIndexOf('Failed to');
  return (i >= 0 ? line.slice(i) : line).slice(0, 160);
}
