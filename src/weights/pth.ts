// PyTorch .pth/.pt files, in both formats torch.save has written:
//  - zip (torch >= 1.6): <dir>/data.pkl (the object, storages as persistent ids),
//    <dir>/data/<key> (raw little-endian storage bytes), <dir>/version, optionally <dir>/byteorder;
//  - legacy: five back-to-back parts: pickle(magic 0x1950a86a20f9469cfc6c), pickle(protocol 1001),
//    pickle(sys_info), pickle(object), pickle(list of storage keys), then per key:
//    int64 element count + raw little-endian bytes.
// Tensors are `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)` calls, which
// we turn into plain data; views (offsets, non-contiguous strides) are materialized.
// Files are untrusted: what a file may make us allocate is bounded by its size (zip entries
// inflate to at most ZIP_INFLATE_RATIO x the file, tensors materialize to at most
// MATERIALIZE_RATIO x their storages), checked before anything is allocated.

import { numel, shapeStr, type StateDict, type Tensor } from '../tensor.js';
import { ELEMENT_SIZE, decodeElements, loadedDType, plainBytes, tensorBytes, type FileDType } from './dtype.js';
import { WeightsError, clean, quote } from './errors.js';
import { PickleWriter, PyCallable, PyDict, PyTuple, typeName, unpickle, type PyValue } from './pickle.js';
import { zipData, zipEntries } from './zip.js';

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL = 1001;

/** torch.save writes stored (uncompressed) zips; a re-zipped checkpoint may inflate this much (plus 256 KB). */
const ZIP_INFLATE_RATIO = 8;
const ZIP_SLACK = 1 << 18;
/**
 * Materialized tensors may total this many times the bytes of their storages (float16 doubles
 * when read as float32; views may share a storage): more is a file whose views repeat storage
 * elements to blow up (stride 0, thousands of tensors on one storage).
 */
const MATERIALIZE_RATIO = 4;
const SLACK = 1 << 20;
/** torch's own limit on the number of dimensions of a tensor. */
const MAX_DIMS = 64;

const STORAGE_DTYPES: Record<string, FileDType> = {
  FloatStorage: 'F32', DoubleStorage: 'F64', HalfStorage: 'F16', BFloat16Storage: 'BF16',
  LongStorage: 'I64', IntStorage: 'I32', ShortStorage: 'I16', CharStorage: 'I8', ByteStorage: 'U8', BoolStorage: 'BOOL',
};

/** A reference to (part of) a storage, as a persistent id describes it. */
class StorageRef {
  constructor(
    readonly key: string,
    readonly dtype: FileDType,
    readonly numel: number,
    /** Element offset into the root storage (legacy storage views only). */
    readonly base: number,
  ) {}
}

/** The arguments of _rebuild_tensor_v2, kept until the storage bytes are at hand. */
class TensorRef {
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly size: number[],
    readonly stride: number[],
  ) {}
}

class StorageType {
  constructor(readonly dtype: FileDType) {}
}

function intList(v: PyValue, what: string, fail: (m: string) => never): number[] {
  if (!(v instanceof PyTuple) && !Array.isArray(v)) fail(`${what} is a ${typeName(v)}, not a tuple`);
  const items = v instanceof PyTuple ? v.items : (v as PyValue[]);
  if (items.length > MAX_DIMS) fail(`${what} has ${items.length} dimensions (torch allows ${MAX_DIMS})`);
  return items.map((x) => {
    if (typeof x !== 'number' || !Number.isSafeInteger(x)) fail(`${what} holds ${typeName(x)}, not an int`);
    if ((x as number) < 0) fail(`${what} holds ${x as number}, a negative number`);
    return x as number;
  });
}

/** The allow-list: every global a state_dict pickle may name, and what calling it builds. */
function makeResolver(file: string) {
  const fail = (m: string): never => {
    throw new WeightsError(`${file}: ${m}`);
  };
  const rebuildTensor = (args: PyValue[]): PyValue => {
    // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
    // requires_grad and hooks do not change the values: ignored.
    const [storage, offset, size, stride] = args;
    if (!(storage instanceof StorageRef)) fail(`tensor storage is a ${typeName(storage)}, not a storage`);
    if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) fail(`tensor storage offset ${String(offset)} is not a non-negative int`);
    return new TensorRef(storage as StorageRef, offset as number, intList(size ?? null, 'tensor size', fail), intList(stride ?? null, 'tensor stride', fail));
  };
  const fns: Record<string, (args: PyValue[]) => PyValue> = {
    'collections.OrderedDict': (args) => {
      const d = new PyDict(true);
      const init = args[0];
      if (Array.isArray(init)) {
        for (const pair of init) {
          if (pair instanceof PyTuple && pair.items.length === 2) d.entries.set(pair.items[0], pair.items[1]!);
          else fail('OrderedDict() argument is not a list of pairs');
        }
      } else if (init !== undefined) fail(`OrderedDict(${typeName(init)}) is not supported`);
      return d;
    },
    'torch._utils._rebuild_tensor_v2': rebuildTensor,
    'torch._utils._rebuild_tensor': rebuildTensor,
    // Parameters wrap a tensor: (data, requires_grad, backward_hooks[, state])
    'torch._utils._rebuild_parameter': (args) => args[0] ?? null,
    'torch._utils._rebuild_parameter_with_state': (args) => args[0] ?? null,
    // Protocol 2 pickles bytes objects as _codecs.encode(str, 'latin1'): pure data.
    '_codecs.encode': (args) => {
      const [s, enc] = args;
      if (typeof s !== 'string' || (enc !== 'latin1' && enc !== 'latin-1')) fail('_codecs.encode is only allowed for latin1 strings');
      return Uint8Array.from(s as string, (c) => c.charCodeAt(0));
    },
  };
  return (module: string, name: string): PyCallable | undefined => {
    const full = `${module}.${name}`;
    const fn = fns[full];
    if (fn !== undefined) return new PyCallable(module, name, fn);
    if (module === 'torch' && name in STORAGE_DTYPES) {
      // A storage class is only ever a marker inside a persistent id; calling it is refused.
      const c = new PyCallable(module, name, undefined);
      storageTypes.set(c, new StorageType(STORAGE_DTYPES[name]!));
      return c;
    }
    return undefined;
  };
}

const storageTypes = new WeakMap<PyCallable, StorageType>();

/** Parse torch's persistent id ('storage', storage_type, key, location, numel[, view_metadata]). */
function storageFromPid(pid: PyValue, fail: (m: string) => never): StorageRef {
  if (!(pid instanceof PyTuple) || pid.items[0] !== 'storage' || pid.items.length < 5) fail(`unsupported persistent id (${typeName(pid)})`);
  const [, type, key, , n, view] = (pid as PyTuple).items;
  const st = type instanceof PyCallable ? storageTypes.get(type) : undefined;
  if (st === undefined) fail(`persistent id names storage type ${typeName(type)}, not a torch storage`);
  if (typeof key !== 'string') fail(`storage key is a ${typeName(key)}, not a str`);
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) fail(`storage ${quote(key as string)} has a bad element count ${clean(String(n))}`);
  // Legacy storage views: view_metadata = (view_key, offset, view_size), offset in elements.
  if (view instanceof PyTuple) {
    const [, off] = view.items;
    if (typeof off !== 'number' || !Number.isSafeInteger(off) || off < 0) fail(`storage view ${quote(key as string)} has a bad offset`);
    return new StorageRef(key as string, st!.dtype, n as number, off as number);
  }
  return new StorageRef(key as string, st!.dtype, n as number, 0);
}

/** A loaded storage: its bytes, and its element type. */
interface StorageData {
  bytes: Uint8Array;
  dtype: FileDType;
}

/**
 * Replace every TensorRef in the object graph by a materialized Tensor. The walk is a loop over
 * an explicit stack (a pickle may nest a million levels deep); `budget` bounds the bytes the
 * tensors may materialize to.
 */
function materializeAll(root: PyValue, storage: (key: string) => StorageData, budget: number, fail: (m: string) => never): PyValue {
  const done = new Map<object, PyValue>();
  const decoded = new Map<string, Float32Array | BigInt64Array>();
  let left = budget;

  const tensor = (t: TensorRef, where: string): Tensor => {
    const s = storage(t.storage.key);
    const dtype = loadedDType(s.dtype);
    if (dtype === undefined) fail(`tensor ${where}: dtype ${s.dtype} is not supported (only float32/16, bfloat16, float64 and int64)`);
    const size = ELEMENT_SIZE[s.dtype];
    const total = Math.floor(s.bytes.length / size);
    const n = numel(t.size);
    if (t.stride.length !== t.size.length) fail(`tensor ${where}: size ${shapeStr(t.size)} and stride ${shapeStr(t.stride)} differ in rank`);
    const start = t.storage.base + t.offset;
    let last = start;
    for (let d = 0; d < t.size.length; d++) last += (t.size[d]! - 1) * t.stride[d]!;
    if (n > 0 && (last >= total || start >= total)) {
      fail(`tensor ${where}: ${shapeStr(t.size)} at offset ${start} needs storage element ${last} but storage ${quote(t.storage.key)} has ${total} (truncated file?)`);
    }
    left -= n * (dtype === 'int64' ? 8 : 4);
    if (left < 0) {
      fail(`tensor ${where}: ${shapeStr(t.size)} would make the tensors total more than ${MATERIALIZE_RATIO}x the bytes of their storages (views repeating storage elements?)`);
    }
    // Row-major strides of this shape: if they match, the data is one contiguous run.
    let contiguous = true;
    for (let d = t.size.length - 1, expect = 1; d >= 0; d--) {
      if (t.size[d]! !== 1 && t.stride[d]! !== expect) contiguous = false;
      expect *= t.size[d]!;
    }
    let data: Float32Array | BigInt64Array;
    if (n === 0) data = dtype === 'float32' ? new Float32Array(0) : new BigInt64Array(0);
    else if (contiguous) data = decodeElements(s.bytes, start * size, n, s.dtype);
    else {
      let all = decoded.get(t.storage.key);
      if (all === undefined) {
        all = decodeElements(s.bytes, 0, total, s.dtype);
        decoded.set(t.storage.key, all);
      }
      data = gather(all, start, t.size, t.stride);
    }
    return { dtype: dtype!, shape: [...t.size], data } as Tensor;
  };

  // Containers are replaced in place; a value is visited once (shared and cyclic references).
  const todo: (PyDict | PyValue[] | PyTuple)[] = [];
  const todoWhere: string[] = [];
  const visit = (v: PyValue, where: string): PyValue => {
    if (v === null || typeof v !== 'object') return v;
    const seen = done.get(v);
    if (seen !== undefined) return seen;
    if (v instanceof TensorRef) {
      const t = tensor(v, where);
      done.set(v, t);
      return t;
    }
    if (v instanceof PyDict || Array.isArray(v) || v instanceof PyTuple) {
      done.set(v, v);
      todo.push(v);
      todoWhere.push(where);
    }
    return v;
  };
  const top = visit(root, 'at top level');
  while (todo.length > 0) {
    const v = todo.pop()!;
    const where = todoWhere.pop()!;
    if (v instanceof PyDict) {
      for (const [k, x] of v.entries) v.entries.set(k, visit(x, typeof k === 'string' ? quote(k) : where));
      if (v.attrCount > 0) for (const [k, x] of v.attrs) v.attrs.set(k, visit(x, where));
    } else {
      const items = v instanceof PyTuple ? v.items : v;
      for (let i = 0; i < items.length; i++) items[i] = visit(items[i]!, where);
    }
  }
  return top;
}

/** Copy a strided view out of a flat storage. */
function gather<T extends Float32Array | BigInt64Array>(src: T, start: number, size: number[], stride: number[]): T {
  const n = numel(size);
  const out = new (src.constructor as { new (n: number): T })(n);
  const rank = size.length;
  const idx = new Array<number>(rank).fill(0);
  let off = start;
  for (let i = 0; i < n; i++) {
    (out as Float32Array)[i] = (src as Float32Array)[off]!;
    // odometer increment over the index, last dimension fastest
    for (let d = rank - 1; d >= 0; d--) {
      idx[d]!++;
      off += stride[d]!;
      if (idx[d]! < size[d]!) break;
      off -= stride[d]! * size[d]!;
      idx[d] = 0;
    }
  }
  return out;
}

function isZip(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
}

/** True when the bytes start like a file torch.save wrote (zip or legacy pickle). */
export function looksLikePth(bytes: Uint8Array): boolean {
  return isZip(bytes) || (bytes.length >= 2 && bytes[0] === 0x80 && bytes[1]! <= 5);
}

function loadZip(bytes: Uint8Array, file: string, fail: (m: string) => never): PyValue {
  const entries = zipEntries(bytes, fail);
  let budget = ZIP_INFLATE_RATIO * bytes.length + ZIP_SLACK;
  const read = (name: string): Uint8Array => {
    const e = entries.get(name)!;
    const data = zipData(bytes, e, budget, fail);
    if (e.method !== 0) budget -= e.size;
    return data;
  };
  const pkl = [...entries.keys()].find((n) => n === 'data.pkl' || n.endsWith('/data.pkl'));
  if (pkl === undefined) return fail('zip archive has no data.pkl: not a file written by torch.save');
  const dir = pkl.slice(0, pkl.length - 'data.pkl'.length);
  if (entries.has(`${dir}byteorder`)) {
    const order = entries.get(`${dir}byteorder`)!.size <= 16 ? new TextDecoder().decode(read(`${dir}byteorder`)).trim() : '?';
    if (order !== 'little') fail('big-endian checkpoints are not supported');
  }
  const refs = new Map<string, StorageRef>();
  const { value } = unpickle(read(pkl), 0, {
    file,
    fileBytes: bytes.length,
    resolveGlobal: makeResolver(file),
    persistentLoad: (pid) => {
      const r = storageFromPid(pid, fail);
      refs.set(r.key, r);
      return r;
    },
  });
  let storageBytes = 0;
  const loaded = new Map<string, StorageData>();
  for (const [key, ref] of refs) {
    const name = `${dir}data/${key}`;
    if (!entries.has(name)) fail(`zip archive lacks storage ${quote(name)}`);
    const b = read(name);
    storageBytes += b.length;
    loaded.set(key, { bytes: b, dtype: ref.dtype });
  }
  return materializeAll(value, (key) => loaded.get(key)!, MATERIALIZE_RATIO * storageBytes + SLACK, fail);
}

function loadLegacy(bytes: Uint8Array, file: string, fail: (m: string) => never): PyValue {
  const resolveGlobal = makeResolver(file);
  const plain = { file, resolveGlobal };
  let { value, end } = unpickle(bytes, 0, plain);
  if (value !== LEGACY_MAGIC && value !== Number(LEGACY_MAGIC)) {
    // A bare pickle: torch.load reads it only with the magic number; we say what it is.
    fail('not a PyTorch .pth file: a pickle without the PyTorch magic number');
  }
  ({ value, end } = unpickle(bytes, end, plain));
  if (value !== LEGACY_PROTOCOL) fail(`unsupported legacy protocol version ${String(value)} (expected ${LEGACY_PROTOCOL})`);
  ({ value, end } = unpickle(bytes, end, plain));
  if (value instanceof PyDict && value.entries.get('little_endian') === false) fail('big-endian checkpoints are not supported');
  const refs = new Map<string, StorageRef>();
  const obj = unpickle(bytes, end, {
    file,
    resolveGlobal,
    persistentLoad: (pid) => {
      const r = storageFromPid(pid, fail);
      refs.set(r.key, r);
      return r;
    },
  });
  const keysPickle = unpickle(bytes, obj.end, plain);
  const keys = keysPickle.value;
  if (!Array.isArray(keys) || !keys.every((k) => typeof k === 'string')) fail('legacy storage key list is not a list of str');
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = keysPickle.end;
  const storages = new Map<string, StorageData>();
  let storageBytes = 0;
  for (const key of keys as string[]) {
    const ref = refs.get(key);
    if (ref === undefined) fail(`legacy storage ${quote(key)} is listed but no tensor uses it`);
    if (pos + 8 > bytes.length) fail(`truncated file: storage ${quote(key)} header at byte ${pos} is past the end (${bytes.length} bytes)`);
    const count = Number(dv.getBigInt64(pos, true));
    const nbytes = count * ELEMENT_SIZE[ref!.dtype];
    pos += 8;
    if (count < 0 || pos + nbytes > bytes.length) fail(`truncated file: storage ${quote(key)} needs ${nbytes} bytes at byte ${pos} but the file has ${bytes.length}`);
    storages.set(key, { bytes: bytes.subarray(pos, pos + nbytes), dtype: ref!.dtype });
    storageBytes += nbytes;
    pos += nbytes;
  }
  return materializeAll(obj.value, (key) => {
    const s = storages.get(key);
    if (s === undefined) fail(`legacy file lacks the data of storage ${quote(key)}`);
    return s!;
  }, MATERIALIZE_RATIO * storageBytes + SLACK, fail);
}

/**
 * Load whatever object a .pth file holds, as plain data: PyDict for dicts, Tensor for tensors,
 * arrays, PyTuple, numbers, strings. Auto-detects the zip and the legacy format.
 */
export function loadPthObject(input: Uint8Array, file: string): PyValue {
  const bytes = plainBytes(input);
  const fail = (m: string): never => {
    throw new WeightsError(`${file}: ${m}`);
  };
  if (isZip(bytes)) return loadZip(bytes, file, fail);
  if (bytes.length >= 262 && new TextDecoder('latin1').decode(bytes.subarray(257, 262)) === 'ustar') {
    fail('tar-format checkpoints (PyTorch < 0.4) are not supported');
  }
  if (bytes.length < 2 || bytes[0] !== 0x80) fail('not a PyTorch .pth file (neither a zip archive nor a pickle)');
  return loadLegacy(bytes, file, fail);
}

export function isTensor(v: unknown): v is Tensor {
  return typeof v === 'object' && v !== null && 'data' in v && 'shape' in v && 'dtype' in v &&
    ((v as Tensor).data instanceof Float32Array || (v as Tensor).data instanceof BigInt64Array);
}

function tensorsOnly(d: PyDict): boolean {
  if (d.entries.size === 0) return false;
  for (const [k, v] of d.entries) if (typeof k !== 'string' || !isTensor(v)) return false;
  return true;
}

/** Keys under which training scripts commonly store the model's state_dict, most likely first. */
export const CHECKPOINT_KEYS = ['state_dict', 'model_state_dict', 'model', 'net', 'module', 'state_dict_ema', 'model_ema', 'ema', 'params', 'weights'];

/**
 * Find the state_dict in a loaded object: the object itself when every value is a tensor,
 * else a wrapping checkpoint's entry ({'state_dict': ...}, {'model': ...}, ...).
 */
export function findStateDict(obj: PyValue, file: string): StateDict {
  const fail = (m: string): never => {
    throw new WeightsError(`${file}: ${m}`);
  };
  if (!(obj instanceof PyDict)) fail(`holds a ${typeName(obj)}, not a state_dict`);
  const d = obj as PyDict;
  let found: PyDict | undefined;
  if (tensorsOnly(d)) found = d;
  for (const k of CHECKPOINT_KEYS) {
    if (found !== undefined) break;
    const v = d.entries.get(k);
    if (v instanceof PyDict && tensorsOnly(v)) found = v;
  }
  if (found === undefined) {
    const candidates = [...d.entries.values()].filter((v): v is PyDict => v instanceof PyDict && tensorsOnly(v));
    if (candidates.length === 1) found = candidates[0];
  }
  if (found === undefined) {
    const anyTensor = [...d.entries.values()].some(isTensor);
    for (const [k, v] of d.entries) {
      if (typeof k === 'string' && !isTensor(v) && anyTensor) fail(`state_dict entry ${quote(k)} is a ${typeName(v)}, not a tensor`);
    }
    const keys = [...d.entries.keys()].slice(0, 10).map((k) => clean(String(k), 40)).join(', ');
    fail(`no state_dict found (top-level keys: ${keys || 'none'})`);
  }
  const sd: StateDict = new Map();
  for (const [k, v] of found!.entries) sd.set(k as string, v as Tensor);
  return sd;
}

/** Read a state_dict from a .pth file (zip or legacy; a wrapping checkpoint dict is unwrapped). */
export function readPth(bytes: Uint8Array, file: string): StateDict {
  return findStateDict(loadPthObject(bytes, file), file);
}

// ---------------------------------------------------------------------------------------------
// Writer

const TORCH_STORAGE: Record<Tensor['dtype'], string> = { float32: 'FloatStorage', int64: 'LongStorage', int8: 'CharStorage', uint8: 'ByteStorage', int32: 'IntStorage' };

/**
 * The state_dict pickle as torch writes it:
 * OrderedDict([(key, _rebuild_tensor_v2(persid(('storage', T, '<i>', 'cpu', numel)), 0, size, stride, False, OrderedDict())), ...])
 * `legacy` adds that format's trailing None (no view metadata) to each persistent id.
 */
function stateDictPickle(sd: StateDict, legacy: boolean): Uint8Array {
  const w = new PickleWriter().proto();
  w.global('collections', 'OrderedDict').emptyTuple().reduce();
  w.mark();
  let i = 0;
  for (const [key, t] of sd) {
    if (t.data.length !== numel(t.shape)) throw new RangeError(`writePth: tensor "${key}" has shape ${shapeStr(t.shape)} but ${t.data.length} values`);
    w.str(key);
    w.global('torch._utils', '_rebuild_tensor_v2');
    w.mark();
    // persistent id
    w.mark().str('storage').global('torch', TORCH_STORAGE[t.dtype]).str(String(i)).str('cpu').int(t.data.length);
    if (legacy) w.none();
    w.tuple().binpersid();
    w.int(0); // storage offset
    w.ints(t.shape);
    w.ints(contiguousStrides(t.shape));
    w.bool(false); // requires_grad
    w.global('collections', 'OrderedDict').emptyTuple().reduce(); // backward hooks
    w.tuple().reduce();
    i++;
  }
  w.setitems();
  return w.stop().bytes();
}

function contiguousStrides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  for (let d = shape.length - 1, acc = 1; d >= 0; d--) {
    s[d] = acc;
    acc *= shape[d]!;
  }
  return s;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function writeLegacy(sd: StateDict): Uint8Array {
  const parts: Uint8Array[] = [];
  parts.push(new PickleWriter().proto().int(LEGACY_MAGIC).stop().bytes());
  parts.push(new PickleWriter().proto().int(LEGACY_PROTOCOL).stop().bytes());
  const info = new PickleWriter().proto().emptyDict().mark();
  info.str('protocol_version').int(LEGACY_PROTOCOL).str('little_endian').bool(true).str('type_sizes');
  info.emptyDict().mark().str('short').int(2).str('int').int(4).str('long').int(4).setitems();
  parts.push(info.setitems().stop().bytes());
  parts.push(stateDictPickle(sd, true));
  const keys = new PickleWriter().proto().emptyList().mark();
  for (let i = 0; i < sd.size; i++) keys.str(String(i));
  parts.push(keys.appends().stop().bytes());
  for (const t of sd.values()) {
    const count = new Uint8Array(8);
    new DataView(count.buffer).setBigInt64(0, BigInt(t.data.length), true);
    parts.push(count, tensorBytes(t));
  }
  return concat(parts);
}

// CRC-32 (IEEE), as zip needs for every entry.
const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(b: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < b.length; i++) c = CRC_TABLE[(c ^ b[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/**
 * A zip of stored (uncompressed) entries, each entry's data aligned to 64 bytes with a padding
 * extra field (id "FB"), as torch's writer does, so that readers may map storages in place.
 * Sizes stay below 4 GiB (no zip64): a MobileNetV2 state_dict is 14 MB.
 */
function writeZip(entries: [string, Uint8Array][]): Uint8Array {
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const [name, data] of entries) {
    const nameBytes = enc.encode(name);
    const headerLen = 30 + nameBytes.length;
    let extra = (64 - ((offset + headerLen) % 64)) % 64;
    if (extra > 0 && extra < 4) extra += 64; // the extra field needs room for its own 4-byte header
    const crc = crc32(data);
    const local = new Uint8Array(headerLen + extra);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint16(4, 20, true); // version needed
    lv.setUint16(6, 0, true); // flags
    lv.setUint16(8, 0, true); // method: stored
    lv.setUint16(10, 0, true); // time
    lv.setUint16(12, 0x21, true); // date: 1980-01-01
    lv.setUint32(14, crc, true);
    lv.setUint32(18, data.length, true);
    lv.setUint32(22, data.length, true);
    lv.setUint16(26, nameBytes.length, true);
    lv.setUint16(28, extra, true);
    local.set(nameBytes, 30);
    if (extra > 0) {
      lv.setUint16(headerLen, 0x4246, true); // "FB"
      lv.setUint16(headerLen + 2, extra - 4, true);
      local.fill(0x5a, headerLen + 4); // 'Z' padding, as torch writes
    }
    const cd = new Uint8Array(46 + nameBytes.length);
    const cv = new DataView(cd.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(4, 20, true); // version made by
    cv.setUint16(6, 20, true); // version needed
    cv.setUint16(12, 0, true);
    cv.setUint16(14, 0x21, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, data.length, true);
    cv.setUint32(24, data.length, true);
    cv.setUint16(28, nameBytes.length, true);
    cv.setUint32(42, offset, true);
    cd.set(nameBytes, 46);
    central.push(cd);
    parts.push(local, data);
    offset += local.length + data.length;
  }
  const cdSize = central.reduce((a, c) => a + c.length, 0);
  const eocd = new Uint8Array(22);
  const ev = new DataView(eocd.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, entries.length, true);
  ev.setUint16(10, entries.length, true);
  ev.setUint32(12, cdSize, true);
  ev.setUint32(16, offset, true);
  return concat([...parts, ...central, eocd]);
}

export interface WritePthOptions {
  /** 'zip' (default, torch >= 1.6) or 'legacy' (_use_new_zipfile_serialization=False). */
  format?: 'zip' | 'legacy';
}

/** Serialize a state_dict so that torch.load reads it back (float32 and int64 tensors). */
export function writePth(sd: StateDict, opts: WritePthOptions = {}): Uint8Array {
  const format = opts.format ?? 'zip';
  if (format === 'legacy') return writeLegacy(sd);
  if (format !== 'zip') throw new RangeError(`writePth: format must be 'zip' or 'legacy', got ${JSON.stringify(format)}`);
  const entries: [string, Uint8Array][] = [['archive/data.pkl', stateDictPickle(sd, false)]];
  let i = 0;
  for (const t of sd.values()) entries.push([`archive/data/${i++}`, tensorBytes(t)]);
  entries.push(['archive/version', new TextEncoder().encode('3\n')]);
  return writeZip(entries);
}
