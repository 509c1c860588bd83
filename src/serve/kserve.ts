// The Open Inference Protocol (KServe v2) over HTTP/REST: the model's metadata and its inference
// request and response, in JSON and in Triton's binary tensor data extension (what tritonclient
// sends by default: a JSON header of Inference-Header-Content-Length bytes, then the raw
// little-endian tensors), and Triton's classification extension (`classification: k` on an
// output -> "value:index:label" strings). Pure functions of bytes: server.ts does the HTTP.
//
//   POST /v2/models/mobilenetv2/infer
//   {"inputs":[{"name":"input","shape":[1,3,224,224],"datatype":"FP32","data":[...150528 numbers...]}]}
//   -> {"model_name":"mobilenetv2","model_version":"1","outputs":[{"name":"logits","shape":[1,1000],"datatype":"FP32","data":[...]}]}

import { numel, type Tensor } from '../tensor.js';
import { badRequest } from './errors.js';

export const INFER_HEADER = 'inference-header-content-length';

/** What a model serves: one FP32 input (N, 3, H, W), one FP32 output (N, classes). */
export interface ModelContract {
  readonly name: string;
  readonly version: string;
  readonly input: { readonly name: string; readonly shape: readonly number[] }; // [-1, 3, H, W]
  readonly output: { readonly name: string; readonly shape: readonly number[] }; // [-1, classes]
  readonly maxBatch: number;
  readonly labels?: readonly string[];
}

/** GET /v2/models/<name>: the metadata object, shapes with -1 for the batch. */
export function modelMetadata(c: ModelContract): object {
  return {
    name: c.name,
    versions: [c.version],
    platform: 'onnxruntime_onnx', // what Triton reports for the model `export --triton` writes
    inputs: [{ name: c.input.name, datatype: 'FP32', shape: c.input.shape }],
    outputs: [{ name: c.output.name, datatype: 'FP32', shape: c.output.shape }],
  };
}

interface RequestedOutput {
  readonly binary: boolean;
  /** Triton's classification extension: the top k as "value:index:label" strings. */
  readonly classification?: number;
}

export interface InferRequest {
  readonly id?: string;
  readonly input: Tensor; // (N, 3, H, W)
  readonly output: RequestedOutput;
}

type Json = Record<string, unknown>;

const isObject = (x: unknown): x is Json => typeof x === 'object' && x !== null && !Array.isArray(x);

/** The request body (and its Inference-Header-Content-Length, if any) -> the input tensor, checked against the contract. */
export function parseInferRequest(body: Buffer, headerLength: string | undefined, c: ModelContract): InferRequest {
  let jsonBytes = body;
  let binary: Buffer | undefined;
  if (headerLength !== undefined) {
    const n = Number(headerLength);
    if (!Number.isInteger(n) || n < 0 || n > body.length) throw badRequest(`Inference-Header-Content-Length must be an integer from 0 to the body's ${body.length} bytes, got "${headerLength}"`);
    jsonBytes = body.subarray(0, n);
    binary = body.subarray(n);
  }
  let req: unknown;
  try {
    req = JSON.parse(jsonBytes.toString('utf8'));
  } catch (e) {
    throw badRequest(`the request is not valid JSON (${(e as Error).message.split('\n')[0]})`);
  }
  if (!isObject(req)) throw badRequest('the request must be a JSON object with "inputs"');
  if (req['id'] !== undefined && typeof req['id'] !== 'string') throw badRequest('"id" must be a string');
  const inputs = req['inputs'];
  if (!Array.isArray(inputs) || inputs.length !== 1 || !isObject(inputs[0])) throw badRequest(`"inputs" must hold exactly one tensor, "${c.input.name}"`);
  const inp = inputs[0];
  if (inp['name'] !== c.input.name) throw badRequest(`unknown input ${JSON.stringify(inp['name'])}: the model's input is "${c.input.name}"`);
  if (inp['datatype'] !== 'FP32') throw badRequest(`input "${c.input.name}" must be FP32, got ${JSON.stringify(inp['datatype'])}`);
  const shape = inp['shape'];
  const want = c.input.shape.slice(1);
  if (!Array.isArray(shape) || shape.length !== c.input.shape.length || !shape.every((d) => Number.isInteger(d)) || shape.slice(1).some((d, i) => d !== want[i])) {
    throw badRequest(`input "${c.input.name}" must have shape [N, ${want.join(', ')}], got ${JSON.stringify(shape)}`);
  }
  const n = shape[0] as number;
  if (n < 1 || n > c.maxBatch) throw badRequest(`batch ${n} is outside 1..${c.maxBatch} (the server's --max-batch)`);
  const count = numel(shape as number[]);
  const params = isObject(inp['parameters']) ? inp['parameters'] : {};
  let data: Float32Array;
  if (params['binary_data_size'] !== undefined) {
    const size = params['binary_data_size'];
    if (binary === undefined) throw badRequest('binary_data_size needs the Inference-Header-Content-Length header');
    if (size !== count * 4 || binary.length !== size) throw badRequest(`input "${c.input.name}" of shape [${shape.join(', ')}] needs ${count * 4} bytes of FP32, got binary_data_size ${String(size)} and ${binary.length} bytes after the header`);
    data = new Float32Array(count); // copied: the body's bytes need not be 4-aligned
    new Uint8Array(data.buffer).set(binary);
  } else {
    data = jsonData(inp['data'], count, c.input.name);
  }
  return { id: req['id'] as string | undefined, input: { dtype: 'float32', shape: shape as number[], data }, output: requestedOutput(req, c) };
}

/** "data": flat or nested, row-major, numbers only -> float32. */
function jsonData(raw: unknown, count: number, name: string): Float32Array {
  if (!Array.isArray(raw)) throw badRequest(`input "${name}" has no "data" array (nor binary_data_size)`);
  const flat = raw.length > 0 && Array.isArray(raw[0]) ? (raw.flat(Infinity) as unknown[]) : raw;
  if (flat.length !== count) throw badRequest(`input "${name}" needs ${count} values for its shape, got ${flat.length}`);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    const v = flat[i];
    if (typeof v !== 'number') throw badRequest(`input "${name}": data[${i}] is not a number (${JSON.stringify(v)?.slice(0, 20)})`);
    out[i] = v;
  }
  return out;
}

function requestedOutput(req: Json, c: ModelContract): RequestedOutput {
  const reqParams = isObject(req['parameters']) ? req['parameters'] : {};
  const binaryAll = reqParams['binary_data_output'] === true;
  const outputs = req['outputs'];
  if (outputs === undefined) return { binary: binaryAll };
  if (!Array.isArray(outputs) || outputs.length > 1 || (outputs.length === 1 && !isObject(outputs[0]))) throw badRequest(`"outputs" may ask for one tensor, "${c.output.name}"`);
  if (outputs.length === 0) return { binary: binaryAll };
  const o = outputs[0] as Json;
  if (o['name'] !== c.output.name) throw badRequest(`unknown output ${JSON.stringify(o['name'])}: the model's output is "${c.output.name}"`);
  const p = isObject(o['parameters']) ? o['parameters'] : {};
  const k = p['classification'];
  if (k !== undefined && (!Number.isInteger(k) || (k as number) < 1)) throw badRequest(`classification must be an integer >= 1, got ${JSON.stringify(k)}`);
  return { binary: p['binary_data'] === true || (p['binary_data'] === undefined && binaryAll), classification: k as number | undefined };
}

export interface InferResponse {
  readonly body: Buffer;
  readonly contentType: string;
  /** Set when the body is a JSON header followed by binary tensors. */
  readonly headerLength?: number;
}

/** logits (N, classes) -> the response: FP32 logits, or the classification strings; in JSON or binary. */
export function inferResponse(req: InferRequest, logits: Tensor, c: ModelContract): InferResponse {
  const [n, classes] = logits.shape as [number, number];
  const l = logits.data as Float32Array;
  let out: Json;
  let bin: Buffer | undefined;
  if (req.output.classification !== undefined) {
    // Triton's classification extension: BYTES [N, k], "value:index[:label]", best first
    const k = Math.min(req.output.classification, classes);
    const strings: string[] = [];
    for (let i = 0; i < n; i++) {
      const row = l.subarray(i * classes, (i + 1) * classes);
      const order = Array.from(row.keys()).sort((a, b) => row[b]! - row[a]! || a - b).slice(0, k);
      for (const j of order) strings.push(`${row[j]!.toFixed(6)}:${j}${c.labels?.[j] !== undefined ? `:${c.labels[j]}` : ''}`);
    }
    out = { name: c.output.name, datatype: 'BYTES', shape: [n, k] };
    if (req.output.binary) bin = Buffer.concat(strings.flatMap((s) => { const b = Buffer.from(s, 'utf8'); const len = Buffer.alloc(4); len.writeUInt32LE(b.length); return [len, b]; }));
    else out['data'] = strings;
  } else {
    out = { name: c.output.name, datatype: 'FP32', shape: [n, classes] };
    if (req.output.binary) bin = Buffer.from(l.buffer, l.byteOffset, l.byteLength);
    else out['data'] = Array.from(l);
  }
  if (bin) out['parameters'] = { binary_data_size: bin.length };
  const json = Buffer.from(JSON.stringify({ model_name: c.name, model_version: c.version, ...(req.id !== undefined ? { id: req.id } : {}), outputs: [out] }));
  if (!bin) return { body: json, contentType: 'application/json; charset=utf-8' };
  return { body: Buffer.concat([json, bin]), contentType: 'application/octet-stream', headerLength: json.length };
}
