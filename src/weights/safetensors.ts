// safetensors: an 8-byte little-endian header length N, N bytes of JSON
// {key: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}}, then the data.
// Offsets are relative to the end of the header. Like the reference library we require the
// tensors to tile the data region exactly: no overlap, no gap, nothing left over.

import { numel, shapeStr, type StateDict, type Tensor } from '../tensor.js';
import { ELEMENT_SIZE, decodeElements, loadedDType, plainBytes, tensorBytes, type FileDType } from './dtype.js';
import { WeightsError, clean, describe, quote } from './errors.js';

/** The reference implementation refuses headers above 100 MB; so do we. */
const MAX_HEADER = 100_000_000;

const DTYPE_TO_FILE: Record<Tensor['dtype'], FileDType> = { float32: 'F32', int64: 'I64', int8: 'I8', uint8: 'U8', int32: 'I32' };

export interface Safetensors {
  tensors: StateDict;
  metadata: Record<string, string>;
}

interface Entry {
  key: string;
  dtype: FileDType;
  shape: number[];
  begin: number;
  end: number;
}

function isNonNegInt(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

/** True when the bytes look like a safetensors file: a plausible length followed by `{`. */
export function looksLikeSafetensors(bytes: Uint8Array): boolean {
  if (bytes.length < 10) return false;
  const n = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  return n > 1n && n <= BigInt(bytes.length - 8) && bytes[8] === 0x7b; // '{'
}

/** Parse a safetensors file. Errors are one line and start with `file:`. */
export function readSafetensors(input: Uint8Array, file: string): Safetensors {
  const bytes = plainBytes(input);
  const fail = (msg: string): never => {
    throw new WeightsError(`${file}: ${msg}`);
  };
  if (bytes.length < 8) fail(`not a safetensors file (${bytes.length} bytes, shorter than the 8-byte header length)`);
  const n64 = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (n64 > BigInt(MAX_HEADER)) fail(`not a safetensors file (header length ${n64} is over the ${MAX_HEADER}-byte limit)`);
  const n = Number(n64);
  if (8 + n > bytes.length) fail(`truncated safetensors file: header length ${n} runs past the end of the ${bytes.length}-byte file`);

  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (e) {
    fail(`not a safetensors file: header is not valid JSON (${clean((e as Error).message, 120)})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('safetensors header is not a JSON object');

  const metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  for (const [key, value] of Object.entries(header as Record<string, unknown>)) {
    if (key === '__metadata__') {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) fail('__metadata__ is not an object');
      for (const [mk, mv] of Object.entries(value as Record<string, unknown>)) {
        if (typeof mv !== 'string') fail(`__metadata__.${clean(mk)} is not a string`);
        metadata[mk] = mv as string;
      }
      continue;
    }
    const info = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof info !== 'object' || info === null || Array.isArray(info)) fail(`tensor ${quote(key)}: entry is not an object`);
    const dtype = info.dtype;
    if (typeof dtype !== 'string' || !Object.hasOwn(ELEMENT_SIZE, dtype)) fail(`tensor ${quote(key)}: unknown dtype ${describe(dtype)}`);
    const shape = info.shape;
    if (!Array.isArray(shape) || !shape.every(isNonNegInt)) fail(`tensor ${quote(key)}: shape ${describe(shape)} is not a list of non-negative integers`);
    const off = info.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every(isNonNegInt) || off[0] > off[1]) {
      fail(`tensor ${quote(key)}: data_offsets ${describe(off)} is not [begin, end] with begin <= end`);
    }
    entries.push({ key, dtype: dtype as FileDType, shape: shape as number[], begin: (off as number[])[0]!, end: (off as number[])[1]! });
  }

  const dataStart = 8 + n;
  const dataLen = bytes.length - dataStart;
  for (const e of entries) {
    const want = numel(e.shape) * ELEMENT_SIZE[e.dtype];
    if (e.end - e.begin !== want) {
      fail(`tensor ${quote(e.key)}: ${e.dtype} ${clean(shapeStr(e.shape))} needs ${want} bytes but data_offsets [${e.begin}, ${e.end}] span ${e.end - e.begin}`);
    }
    if (e.end > dataLen) fail(`truncated safetensors file: tensor ${quote(e.key)} ends at byte ${e.end} of a ${dataLen}-byte data section`);
  }
  // The tensors must tile [0, dataLen): sort by begin and walk.
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  for (const e of sorted) {
    if (e.begin < pos) fail(`tensor ${quote(e.key)} overlaps another tensor (data_offsets [${e.begin}, ${e.end}])`);
    if (e.begin > pos) fail(`gap in the data section before tensor ${quote(e.key)} (bytes ${pos}..${e.begin} belong to no tensor)`);
    pos = e.end;
  }
  if (pos !== dataLen) fail(`data section has ${dataLen - pos} trailing bytes that belong to no tensor`);

  // Map order = data order: our writer lays tensors out in state-dict order, so a round trip keeps
  // it (the JSON object's own order is not reliable: JS lists integer-like keys first).
  const tensors: StateDict = new Map();
  for (const e of sorted) {
    const dtype = loadedDType(e.dtype);
    if (dtype === undefined) fail(`tensor ${quote(e.key)}: dtype ${e.dtype} is not supported (only F32, F16, BF16, F64 and I64)`);
    const data = decodeElements(bytes, dataStart + e.begin, numel(e.shape), e.dtype);
    tensors.set(e.key, { dtype: dtype!, shape: e.shape, data } as Tensor);
  }
  return { tensors, metadata };
}

/**
 * Serialize a state dict. Tensors are laid out in the map's order; the header is padded with
 * spaces so that the data section starts on an 8-byte boundary, as the reference writer does.
 */
export function writeSafetensors(sd: StateDict, metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata !== undefined && Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new TypeError(`writeSafetensors: metadata["${k}"] must be a string, got ${typeof v}`);
    }
    header['__metadata__'] = metadata;
  }
  let offset = 0;
  for (const [key, t] of sd) {
    if (key === '__metadata__') throw new RangeError('writeSafetensors: "__metadata__" cannot be a tensor name');
    const nbytes = t.data.byteLength;
    if (t.data.length !== numel(t.shape)) throw new RangeError(`writeSafetensors: tensor "${key}" has shape ${shapeStr(t.shape)} but ${t.data.length} values`);
    header[key] = { dtype: DTYPE_TO_FILE[t.dtype], shape: [...t.shape], data_offsets: [offset, offset + nbytes] };
    offset += nbytes;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(json);
    json = p;
  }
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let pos = 8 + json.length;
  for (const t of sd.values()) {
    out.set(tensorBytes(t), pos);
    pos += t.data.byteLength;
  }
  return out;
}
