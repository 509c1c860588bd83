// A tensor is plain data: a dtype, a shape and a typed array in row-major (C) order.
// No arithmetic lives here: every numeric kernel of the model runs in ONNX Runtime.

export type DType = 'float32' | 'int64' | 'int8' | 'uint8' | 'int32'; // the integer types of int8 graphs (quant/)
export type TypedData = Float32Array | BigInt64Array | Int8Array | Uint8Array | Int32Array;

export interface Tensor {
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly data: TypedData;
}

/** An ordered map from state-dict key to tensor, in torchvision's key order. */
export type StateDict = Map<string, Tensor>;

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function float32(shape: readonly number[], data?: Float32Array | number[]): Tensor {
  const n = numel(shape);
  const arr = data === undefined ? new Float32Array(n) : data instanceof Float32Array ? data : Float32Array.from(data);
  if (arr.length !== n) throw new RangeError(`float32: shape ${shapeStr(shape)} needs ${n} values, got ${arr.length}`);
  return { dtype: 'float32', shape: [...shape], data: arr };
}

export function int64(shape: readonly number[], data?: BigInt64Array | bigint[]): Tensor {
  const n = numel(shape);
  const arr = data === undefined ? new BigInt64Array(n) : data instanceof BigInt64Array ? data : BigInt64Array.from(data);
  if (arr.length !== n) throw new RangeError(`int64: shape ${shapeStr(shape)} needs ${n} values, got ${arr.length}`);
  return { dtype: 'int64', shape: [...shape], data: arr };
}

const ARRAYS = { int8: Int8Array, uint8: Uint8Array, int32: Int32Array } as const;

/** An int8 / uint8 / int32 tensor (quantized weights, zero points, int32 biases). */
export function intTensor(dtype: 'int8' | 'uint8' | 'int32', shape: readonly number[], data?: ArrayLike<number>): Tensor {
  const n = numel(shape);
  const arr = data === undefined ? new ARRAYS[dtype](n) : ARRAYS[dtype].from(data);
  if (arr.length !== n) throw new RangeError(`${dtype}: shape [${shape.join(', ')}] needs ${n} values, got ${arr.length}`);
  return { dtype, shape: [...shape], data: arr };
}

export function shapeStr(shape: readonly (number | string)[]): string {
  return `[${shape.join(', ')}]`;
}
