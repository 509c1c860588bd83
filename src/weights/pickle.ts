// A restricted unpickler: it builds plain data from a pickle and NEVER executes anything.
// It knows the opcodes that torch.save emits (protocol 2 by default, 4/5 when asked) and only
// the globals a state_dict needs; any other global is refused by name before anything is built.
// It also holds a tiny pickle writer (protocol 2), enough to write a state_dict as torch does.
// The input is untrusted: every length is checked against the bytes left, the VM is a loop (no
// recursion, whatever the nesting), and work that copies data (BUILD, calls) is charged against a
// budget proportional to the input, so memo references cannot multiply a small pickle's cost.

import { plainBytes } from './dtype.js';
import { WeightsError, clean, quote } from './errors.js';

/** A Python tuple (kept apart from lists so that shapes and persistent ids read as tuples). */
export class PyTuple {
  constructor(readonly items: PyValue[]) {}
}

/** A Python dict or OrderedDict; `attrs` holds what BUILD set (e.g. OrderedDict._metadata). */
export class PyDict {
  readonly entries = new Map<unknown, PyValue>();
  private attrMap: Map<string, PyValue> | undefined;
  constructor(readonly ordered: boolean) {}
  /** Made on first use: most dicts have none, and a Map is ~100 bytes. */
  get attrs(): Map<string, PyValue> {
    return (this.attrMap ??= new Map());
  }
  get attrCount(): number {
    return this.attrMap?.size ?? 0;
  }
}

/** A global that the allow-list resolved: calling it (REDUCE/NEWOBJ) runs `call` on plain data. */
export class PyCallable {
  constructor(
    readonly module: string,
    readonly name: string,
    readonly call: ((args: PyValue[]) => PyValue) | undefined,
  ) {}
}

// Values are plain data plus whatever the allowed callables return (opaque objects).
export type PyValue = null | boolean | number | bigint | string | Uint8Array | PyValue[] | PyTuple | PyDict | PyCallable | object;

export interface UnpickleOptions {
  /** Name used at the start of every error message. */
  file: string;
  /** Resolve an allowed global to a callable, or return undefined to refuse it. */
  resolveGlobal: (module: string, name: string) => PyCallable | undefined;
  /** Handle BINPERSID/PERSID (torch stores tensor storages out of band with these). */
  persistentLoad?: (pid: PyValue) => PyValue;
  /**
   * The size of the file the pickle came from, which the work and container budgets are
   * proportional to (default: the bytes from `offset` on). A zip's data.pkl may have been
   * inflated: its budgets follow the archive, not what it inflated to.
   */
  fileBytes?: number;
}

const MARK = Symbol('mark');
type StackItem = PyValue | typeof MARK;

/** Python's int() refuses decimal strings longer than this (sys.int_info.default_max_str_digits). */
const MAX_INT_DIGITS = 4300;

/**
 * Copy work allowed per input byte (plus a floor), in units of ~50 ns or ~8 bytes of memory: a
 * state_dict pickle needs ~0.2 per byte; memo references re-used by BUILD or calls would
 * otherwise make a 300 KB pickle copy for minutes, or a 2 KB one fill 100 MB.
 */
const WORK_PER_BYTE = 4;
const WORK_FLOOR = 1 << 18;
/** What one entry put in a Map costs (SETITEM, OrderedDict's pairs), in work units; BUILD's twice (a string key each). */
const MAP_ENTRY_WORK = 8;
/**
 * Containers allowed per input byte (a dict counts 2: it holds a Map), plus a floor. torch's
 * state_dict pickles build one per 10-15 bytes; a flood of 1-byte EMPTY_LIST or EMPTY_DICT ops
 * would otherwise cost 200-250 bytes of memory per input byte.
 */
const CONTAINERS_PER_BYTE = 1 / 4;
const CONTAINER_FLOOR = 1 << 14;

/** The shallow size of a value: what copying it once costs. */
function shallowSize(v: PyValue): number {
  if (typeof v === 'string' || v instanceof Uint8Array || Array.isArray(v)) return v.length;
  if (v instanceof PyTuple) return v.items.length;
  if (v instanceof PyDict) return v.entries.size + v.attrCount;
  return 1;
}

/**
 * Unpickle one pickle starting at `offset`; returns the value and the offset just past STOP.
 * Errors are one line: `<file>: <problem>`.
 */
export function unpickle(input: Uint8Array, offset: number, opts: UnpickleOptions): { value: PyValue; end: number } {
  const { file } = opts;
  const bytes = plainBytes(input);
  const fail = (msg: string): never => {
    throw new WeightsError(`${file}: ${msg}`);
  };
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = offset;
  const stack: StackItem[] = [];
  const memo = new Map<number, PyValue>();
  const latin1 = new TextDecoder('latin1');
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  const size = opts.fileBytes ?? bytes.length - offset;
  let work = WORK_PER_BYTE * size + WORK_FLOOR;
  let containers = Math.floor(CONTAINERS_PER_BYTE * size) + CONTAINER_FLOOR;
  /** Count a new container against the budget; returns it. */
  const made = <T>(c: T): T => {
    containers -= c instanceof PyDict ? 2 : 1;
    if (containers < 0) fail(`corrupt pickle: it builds more containers than ${size} bytes of a state_dict hold (stopped at offset ${pos - 1})`);
    return c;
  };
  const spend = (n: number): void => {
    work -= n;
    if (work < 0) fail(`corrupt pickle: it copies more data than ${size} bytes can hold (stopped at offset ${pos - 1})`);
  };

  const need = (n: number): number => {
    if (pos + n > bytes.length) fail(`truncated pickle: needed ${n} more bytes at offset ${pos} of ${bytes.length}`);
    const p = pos;
    pos += n;
    return p;
  };
  const u8 = (): number => bytes[need(1)]!;
  const u16 = (): number => dv.getUint16(need(2), true);
  const i32 = (): number => dv.getInt32(need(4), true);
  const u32 = (): number => dv.getUint32(need(4), true);
  const u64 = (): number => {
    const v = dv.getBigUint64(need(8), true);
    if (v > BigInt(bytes.length)) fail(`truncated pickle: length ${v} at offset ${pos - 8} runs past the end`);
    return Number(v);
  };
  const take = (n: number): Uint8Array => {
    const p = need(n);
    return bytes.subarray(p, p + n);
  };
  const line = (): string => {
    const start = pos;
    while (pos < bytes.length && bytes[pos] !== 0x0a) pos++;
    if (pos >= bytes.length) fail(`truncated pickle: unterminated text line at offset ${start}`);
    const s = latin1.decode(bytes.subarray(start, pos));
    pos++;
    return s;
  };
  const str = (b: Uint8Array): string => {
    try {
      return utf8.decode(b);
    } catch {
      return fail(`pickle holds a string that is not valid UTF-8 at offset ${pos - b.length}`);
    }
  };
  const pop = (): PyValue => {
    const v = stack.pop();
    if (v === undefined) fail(`corrupt pickle: stack underflow at offset ${pos - 1}`);
    if (v === MARK) fail(`corrupt pickle: unexpected MARK at offset ${pos - 1}`);
    return v as PyValue;
  };
  const top = (): PyValue => {
    const v = stack[stack.length - 1];
    if (v === undefined || v === MARK) fail(`corrupt pickle: empty stack at offset ${pos - 1}`);
    return v as PyValue;
  };
  const popMark = (): PyValue[] => {
    const i = stack.lastIndexOf(MARK);
    if (i < 0) fail(`corrupt pickle: no MARK at offset ${pos - 1}`);
    const items = stack.splice(i) as PyValue[];
    items.shift();
    return items;
  };
  const global = (module: string, name: string): PyCallable => {
    const g = opts.resolveGlobal(module, name);
    if (g === undefined) fail(`refusing to load global ${clean(module)}.${clean(name)} (not part of a state_dict)`);
    return g!;
  };
  const call = (fn: PyValue, args: PyValue): PyValue => {
    if (!(fn instanceof PyCallable)) fail(`corrupt pickle: REDUCE on a ${typeName(fn)} at offset ${pos - 1}`);
    const c = fn as PyCallable;
    if (!(args instanceof PyTuple)) fail(`corrupt pickle: arguments of ${c.module}.${c.name} are not a tuple`);
    if (c.call === undefined) fail(`refusing to call ${c.module}.${c.name} (not part of a state_dict)`);
    const items = (args as PyTuple).items;
    spend(items.reduce((a: number, x) => a + shallowSize(x), 1) * (c.name === 'OrderedDict' ? MAP_ENTRY_WORK : 1));
    return made(c.call!(items));
  };
  const setItem = (d: PyValue, k: PyValue, v: PyValue): void => {
    if (!(d instanceof PyDict)) fail(`corrupt pickle: SETITEM on a ${typeName(d)} at offset ${pos - 1}`);
    let key: unknown = k;
    spend(2);
    if (k instanceof PyTuple) {
      key = tupleKey(k, fail);
      spend((key as string).length);
    }
    (d as PyDict).entries.set(key, v);
  };
  const appendTo = (l: PyValue, items: PyValue[]): void => {
    if (!Array.isArray(l)) fail(`corrupt pickle: APPEND on a ${typeName(l)} at offset ${pos - 1}`);
    // one at a time: push(...items) overflows the stack for ~100k items
    for (const x of items) (l as PyValue[]).push(x);
  };
  const int = (v: bigint): number | bigint => (v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);
  const decodeLong = (b: Uint8Array): number | bigint => {
    // Little-endian two's complement of any length, through hex (linear; shifting a BigInt byte
    // by byte is quadratic in the length).
    if (b.length === 0) return 0;
    let hex = '';
    for (let i = b.length - 1; i >= 0; i--) hex += HEX[b[i]!];
    let v = BigInt(`0x${hex}`);
    if (b[b.length - 1]! & 0x80) v -= 1n << BigInt(8 * b.length);
    return int(v);
  };
  // INT / LONG / PUT / GET text lines: decimal as Python's int() reads it, or a one-line error.
  const textInt = (s: string, what: string, at: number): bigint => {
    const t = s.trim().replace(/^([+-]?\d+(?:_\d+)*)L?$/, '$1');
    if (!/^[+-]?\d+(?:_\d+)*$/.test(t)) fail(`corrupt pickle: ${what} ${quote(s, 40)} at offset ${at} is not an integer`);
    const digits = t.replace(/[+_-]/g, '');
    if (digits.length > MAX_INT_DIGITS) fail(`corrupt pickle: ${what} of ${digits.length} digits at offset ${at} (Python refuses over ${MAX_INT_DIGITS})`);
    return BigInt(t.replace(/_/g, ''));
  };
  const memoKey = (s: string, what: string, at: number): number => {
    const v = textInt(s, what, at);
    if (v < 0n || v > 0xffffffffn) fail(`corrupt pickle: ${what} memo key ${v} at offset ${at} is out of range`);
    return Number(v);
  };

  for (;;) {
    const at = pos;
    const op = u8();
    switch (op) {
      case 0x80: { // PROTO
        const proto = u8();
        if (proto > 5) fail(`unsupported pickle protocol ${proto}`);
        break;
      }
      case 0x95: need(8); break; // FRAME: a length hint only
      case 0x2e: { // STOP
        const value = pop();
        return { value, end: pos };
      }
      case 0x28: stack.push(MARK); break; // MARK
      case 0x30: pop(); break; // POP
      case 0x31: popMark(); break; // POP_MARK
      case 0x32: stack.push(top()); break; // DUP
      case 0x4e: stack.push(null); break; // NONE
      case 0x88: stack.push(true); break; // NEWTRUE
      case 0x89: stack.push(false); break; // NEWFALSE
      case 0x4a: stack.push(i32()); break; // BININT
      case 0x4b: stack.push(u8()); break; // BININT1
      case 0x4d: stack.push(u16()); break; // BININT2
      case 0x8a: stack.push(decodeLong(take(u8()))); break; // LONG1
      case 0x8b: { // LONG4
        const n = i32();
        if (n < 0) fail(`corrupt pickle: negative LONG4 length at offset ${at}`);
        stack.push(decodeLong(take(n)));
        break;
      }
      case 0x49: { // INT (text); protocol 0 spells booleans I00/I01
        const s = line();
        if (s === '00') stack.push(false);
        else if (s === '01') stack.push(true);
        else stack.push(int(textInt(s, 'INT', at)));
        break;
      }
      case 0x4c: stack.push(int(textInt(line(), 'LONG', at))); break; // LONG (text)
      case 0x47: stack.push(dv.getFloat64(need(8), false)); break; // BINFLOAT (big-endian)
      case 0x46: { // FLOAT (text), as Python's float() reads it
        const s = line();
        if (!FLOAT_TEXT.test(s)) fail(`corrupt pickle: FLOAT ${quote(s, 40)} at offset ${at} is not a number`);
        const t = s.trim().toLowerCase().replace(/_/g, '');
        stack.push(/nan/.test(t) ? NaN : /inf/.test(t) ? (t.startsWith('-') ? -Infinity : Infinity) : Number(t));
        break;
      }
      case 0x58: stack.push(str(take(u32()))); break; // BINUNICODE
      case 0x8c: stack.push(str(take(u8()))); break; // SHORT_BINUNICODE
      case 0x8d: stack.push(str(take(u64()))); break; // BINUNICODE8
      case 0x54: stack.push(latin1.decode(take(u32()))); break; // BINSTRING (Python 2 str)
      case 0x55: stack.push(latin1.decode(take(u8()))); break; // SHORT_BINSTRING
      case 0x42: stack.push(take(u32()).slice()); break; // BINBYTES
      case 0x43: stack.push(take(u8()).slice()); break; // SHORT_BINBYTES
      case 0x8e: stack.push(take(u64()).slice()); break; // BINBYTES8
      case 0x96: stack.push(take(u64()).slice()); break; // BYTEARRAY8
      case 0x29: stack.push(made(new PyTuple([]))); break; // EMPTY_TUPLE
      case 0x74: stack.push(made(new PyTuple(popMark()))); break; // TUPLE
      case 0x85: stack.push(made(new PyTuple([pop()]))); break; // TUPLE1
      case 0x86: { // TUPLE2
        const b = pop();
        const a = pop();
        stack.push(made(new PyTuple([a, b])));
        break;
      }
      case 0x87: { // TUPLE3
        const c = pop();
        const b = pop();
        const a = pop();
        stack.push(made(new PyTuple([a, b, c])));
        break;
      }
      case 0x5d: stack.push(made([])); break; // EMPTY_LIST
      case 0x6c: stack.push(made(popMark())); break; // LIST
      case 0x61: { // APPEND
        const v = pop();
        appendTo(top(), [v]);
        break;
      }
      case 0x65: { // APPENDS
        const items = popMark();
        appendTo(top(), items);
        break;
      }
      case 0x7d: stack.push(made(new PyDict(false))); break; // EMPTY_DICT
      case 0x64: { // DICT
        const items = popMark();
        const d = made(new PyDict(false));
        for (let i = 0; i + 1 < items.length; i += 2) setItem(d, items[i]!, items[i + 1]!);
        stack.push(d);
        break;
      }
      case 0x73: { // SETITEM
        const v = pop();
        const k = pop();
        setItem(top(), k, v);
        break;
      }
      case 0x75: { // SETITEMS
        const items = popMark();
        if (items.length % 2) fail(`corrupt pickle: odd SETITEMS at offset ${at}`);
        const d = top();
        for (let i = 0; i < items.length; i += 2) setItem(d, items[i]!, items[i + 1]!);
        break;
      }
      case 0x8f: stack.push(made([])); break; // EMPTY_SET (sets are read as lists)
      case 0x90: { // ADDITEMS
        const items = popMark();
        appendTo(top(), items);
        break;
      }
      case 0x91: stack.push(made(popMark())); break; // FROZENSET
      case 0x63: { // GLOBAL "module\nname\n"
        const module = line();
        const name = line();
        stack.push(global(module, name));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail(`corrupt pickle: STACK_GLOBAL on non-strings at offset ${at}`);
        stack.push(global(module as string, name as string));
        break;
      }
      case 0x52: { // REDUCE
        const args = pop();
        const fn = pop();
        stack.push(call(fn, args));
        break;
      }
      case 0x81: { // NEWOBJ: cls.__new__(cls, *args), treated as a call
        const args = pop();
        const cls = pop();
        stack.push(call(cls, args));
        break;
      }
      case 0x92: { // NEWOBJ_EX
        const kwargs = pop();
        const args = pop();
        const cls = pop();
        if (!(kwargs instanceof PyDict) || kwargs.entries.size > 0) fail(`refusing NEWOBJ_EX with keyword arguments at offset ${at}`);
        stack.push(call(cls, args));
        break;
      }
      case 0x62: { // BUILD: obj.__setstate__(state) or obj.__dict__.update(state)
        let state = pop();
        const obj = top();
        if (state instanceof PyTuple && state.items.length === 2) state = state.items[0] ?? null; // (state, slotstate)
        if (!(obj instanceof PyDict)) fail(`refusing BUILD on a ${typeName(obj)} at offset ${at}`);
        if (state instanceof PyDict) {
          spend(2 * MAP_ENTRY_WORK * state.entries.size); // String(key) and a Map insert per entry
          for (const [k, v] of state.entries) (obj as PyDict).attrs.set(String(k), v);
        } else if (state !== null) {
          fail(`refusing BUILD with a ${typeName(state)} state at offset ${at}`);
        }
        break;
      }
      case 0x70: memo.set(memoKey(line(), 'PUT', at), top()); break; // PUT
      case 0x71: memo.set(u8(), top()); break; // BINPUT
      case 0x72: memo.set(u32(), top()); break; // LONG_BINPUT
      case 0x94: memo.set(memo.size, top()); break; // MEMOIZE
      case 0x67: stack.push(getMemo(memoKey(line(), 'GET', at))); break; // GET
      case 0x68: stack.push(getMemo(u8())); break; // BINGET
      case 0x6a: stack.push(getMemo(u32())); break; // LONG_BINGET
      case 0x51: { // BINPERSID
        const pid = pop();
        if (opts.persistentLoad === undefined) fail(`pickle refers to external data (persistent id) at offset ${at}`);
        stack.push(opts.persistentLoad!(pid));
        break;
      }
      case 0x50: { // PERSID
        const pid = line();
        if (opts.persistentLoad === undefined) fail(`pickle refers to external data (persistent id) at offset ${at}`);
        stack.push(opts.persistentLoad!(pid));
        break;
      }
      default: {
        const known = REFUSED_OPS[op];
        if (known !== undefined) fail(`refusing pickle opcode ${known} at offset ${at} (not part of a state_dict)`);
        fail(`not a valid pickle: unknown opcode 0x${op.toString(16).padStart(2, '0')} at offset ${at}`);
      }
    }
  }

  function getMemo(i: number): PyValue {
    if (!memo.has(i)) fail(`corrupt pickle: memo key ${i} read before it was written`);
    return memo.get(i)!;
  }
}

const REFUSED_OPS: Record<number, string> = {
  0x69: 'INST', 0x6f: 'OBJ', 0x82: 'EXT1', 0x83: 'EXT2', 0x84: 'EXT4', 0x97: 'NEXT_BUFFER', 0x98: 'READONLY_BUFFER',
  0x53: 'STRING', 0x56: 'UNICODE',
};

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

// Python's float(): decimal or exponent notation, inf, infinity, nan, surrounding whitespace
const FLOAT_TEXT = /^\s*[+-]?(?:(?:\d+(?:_\d+)*)?\.?\d*(?:_\d+)*(?:[eE][+-]?\d+(?:_\d+)*)?|inf|infinity|nan)\s*$/i;

const CLOSE_TUPLE = Symbol(')');
const CLOSE_LIST = Symbol(']');
const COMMA = Symbol(',');

/**
 * A tuple used as a dict key becomes a string, so that equal tuples are one key as in Python.
 * Built without recursion and bounded: a tuple can hold itself (through a list) or be a
 * memo-shared tree of exponential size.
 */
function tupleKey(t: PyTuple, fail: (m: string) => never): string {
  const MAX = 4096;
  let out = '';
  const todo: (PyValue | symbol)[] = [t];
  while (todo.length > 0) {
    if (out.length > MAX) fail(`corrupt pickle: a dict key tuple is over ${MAX} characters long`);
    const v = todo.pop()!;
    if (v === CLOSE_TUPLE || v === CLOSE_LIST || v === COMMA) out += (v as symbol).description;
    else if (v instanceof PyTuple || Array.isArray(v)) {
      const items = v instanceof PyTuple ? v.items : v;
      if (items.length > MAX) fail(`corrupt pickle: a dict key tuple is over ${MAX} characters long`);
      out += v instanceof PyTuple ? '(' : '[';
      todo.push(v instanceof PyTuple ? CLOSE_TUPLE : CLOSE_LIST);
      for (let i = items.length - 1; i >= 0; i--) {
        todo.push(items[i]!);
        if (i > 0) todo.push(COMMA);
      }
    } else {
      out += typeof v === 'string' ? JSON.stringify(v) : typeof v === 'bigint' ? v.toString() : v === null ? 'None' : typeof v === 'object' ? `<${typeName(v)}>` : String(v);
    }
  }
  return out;
}

/** A short Python-ish name for a value, for error messages. */
export function typeName(v: unknown): string {
  if (v === null) return 'None';
  if (v === undefined) return 'nothing';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float';
  if (typeof v === 'bigint') return 'int';
  if (typeof v === 'string') return 'str';
  if (v instanceof Uint8Array) return 'bytes';
  if (Array.isArray(v)) return 'list';
  if (v instanceof PyTuple) return 'tuple';
  if (v instanceof PyDict) return v.ordered ? 'OrderedDict' : 'dict';
  if (v instanceof PyCallable) return `${v.module}.${v.name}`;
  return (v as object).constructor?.name ?? 'object';
}

// ---------------------------------------------------------------------------------------------
// Writer: protocol 2 opcodes, enough for the pickles torch.save writes for a state_dict.

/** Appends pickle opcodes to a growing byte buffer. */
export class PickleWriter {
  private buf = new Uint8Array(1024);
  private len = 0;
  private readonly enc = new TextEncoder();

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const b = new Uint8Array(cap);
    b.set(this.buf.subarray(0, this.len));
    this.buf = b;
  }
  op(...codes: number[]): this {
    this.reserve(codes.length);
    for (const c of codes) this.buf[this.len++] = c;
    return this;
  }
  private raw(b: Uint8Array): void {
    this.reserve(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }
  proto(): this {
    return this.op(0x80, 2);
  }
  mark(): this {
    return this.op(0x28);
  }
  stop(): this {
    return this.op(0x2e);
  }
  none(): this {
    return this.op(0x4e);
  }
  bool(v: boolean): this {
    return this.op(v ? 0x88 : 0x89);
  }
  int(v: number | bigint): this {
    if (typeof v === 'number' && !Number.isSafeInteger(v)) throw new RangeError(`PickleWriter.int: ${v} is not an integer`);
    const n = BigInt(v);
    if (n >= 0n && n < 256n) return this.op(0x4b, Number(n));
    if (n >= 0n && n < 65536n) return this.op(0x4d, Number(n & 0xffn), Number(n >> 8n));
    if (n >= -(2n ** 31n) && n < 2n ** 31n) {
      const u = Number(BigInt.asUintN(32, n));
      return this.op(0x4a, u & 0xff, (u >>> 8) & 0xff, (u >>> 16) & 0xff, u >>> 24);
    }
    // LONG1: minimal little-endian two's complement
    const bytes: number[] = [];
    let x = n;
    for (;;) {
      const b = Number(BigInt.asUintN(8, x));
      bytes.push(b);
      x >>= 8n;
      if ((x === 0n && !(b & 0x80)) || (x === -1n && b & 0x80)) break;
    }
    return this.op(0x8a, bytes.length, ...bytes);
  }
  str(s: string): this {
    const b = this.enc.encode(s);
    const n = b.length;
    this.op(0x58, n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24);
    this.raw(b);
    return this;
  }
  global(module: string, name: string): this {
    this.op(0x63);
    this.raw(this.enc.encode(`${module}\n${name}\n`));
    return this;
  }
  /** MARK was pushed earlier; build a tuple of everything since. */
  tuple(): this {
    return this.op(0x74);
  }
  emptyTuple(): this {
    return this.op(0x29);
  }
  emptyDict(): this {
    return this.op(0x7d);
  }
  emptyList(): this {
    return this.op(0x5d);
  }
  setitems(): this {
    return this.op(0x75);
  }
  appends(): this {
    return this.op(0x65);
  }
  reduce(): this {
    return this.op(0x52);
  }
  binpersid(): this {
    return this.op(0x51);
  }
  ints(values: readonly number[]): this {
    this.mark();
    for (const v of values) this.int(v);
    return this.tuple();
  }
  bytes(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}
