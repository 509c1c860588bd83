// Seeded randomness and byte-level mutations for bench/fuzz.ts: bit flips, interesting integers
// (0, -1, 2^31, 2^32 - 1, 2^40, 2^63 ...) written over length fields, truncation, duplicated,
// deleted, inserted and repeated chunks, splices of two seeds. Everything is a pure function of
// the Rng, so a case is reproduced from (seed, parser, index).

/** mulberry32: small, fast, and good enough to pick mutations. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  /** [0, 1) */
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** An integer in [lo, hi], log-uniform: as likely 10..100 as 1000..10000. */
  logInt(lo: number, hi: number): number {
    return Math.min(hi, Math.floor(lo * Math.pow(hi / lo, this.next())));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)]!;
  }
  bytes(n: number): Uint8Array {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
}

/** FNV-1a of a string: the seed of one case. */
export function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** Byte ranges a parser reads structure from (headers, directories): half the mutations land there. */
export type Hot = readonly (readonly [number, number])[];

function position(rng: Rng, len: number, hot: Hot | undefined): number {
  if (len === 0) return 0;
  if (hot && hot.length > 0 && rng.chance(0.5)) {
    const [a, b] = rng.pick(hot);
    const lo = Math.max(0, Math.min(a, len - 1));
    const hi = Math.max(lo + 1, Math.min(b, len));
    return lo + rng.int(hi - lo);
  }
  return rng.int(len);
}

export const INTERESTING: readonly bigint[] = [
  0n, 1n, 2n, 0x7fn, 0x80n, 0xffn, 0x100n, 0x7fffn, 0x8000n, 0xffffn, 0x10000n, 0x7fffffffn, 0x80000000n,
  0xffffffffn, 0x100000000n, 1n << 40n, 1n << 53n, (1n << 63n) - 1n, 1n << 63n, (1n << 64n) - 1n,
  50000n, 65535n * 65535n, 4096n, 1000000n,
];

const ASCII_BITS = ['\n', '0', '9', '-', 'L', '.', '(', ')', ']', '}', 'N', 'X', 'e', 'E', 'inf', 'nan', '\u00ff'];

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Write `v` as `width` bytes, little- or big-endian, at `at` (clipped to the buffer). */
export function writeInt(b: Uint8Array, at: number, v: bigint, width: number, little: boolean): void {
  const x = BigInt.asUintN(width * 8, v);
  for (let i = 0; i < width; i++) {
    const byte = Number((x >> BigInt(8 * i)) & 0xffn);
    const o = little ? at + i : at + width - 1 - i;
    if (o >= 0 && o < b.length) b[o] = byte;
  }
}

export type Mutator = (rng: Rng, b: Uint8Array, hot: Hot | undefined, others: readonly Uint8Array[]) => Uint8Array;

/** The generic mutations, by name (names appear in findings). */
export const MUTATORS: Record<string, Mutator> = {
  flip: (rng, b, hot) => {
    const out = b.slice();
    for (let n = 1 + rng.int(8); n > 0 && out.length > 0; n--) out[position(rng, out.length, hot)]! ^= 1 << rng.int(8);
    return out;
  },
  byte: (rng, b, hot) => {
    const out = b.slice();
    for (let n = 1 + rng.int(4); n > 0 && out.length > 0; n--) {
      out[position(rng, out.length, hot)] = rng.chance(0.5) ? rng.int(256) : rng.pick([0, 0xff, 0x7f, 0x80, 0x0a, 0x30, 0x39, 0x28, 0x29]);
    }
    return out;
  },
  int: (rng, b, hot) => {
    const out = b.slice();
    let v = rng.pick(INTERESTING);
    if (rng.chance(0.2)) v = -v;
    else if (rng.chance(0.2)) v += BigInt(rng.int(16) - 8);
    writeInt(out, position(rng, out.length, hot), v, rng.pick([1, 2, 4, 4, 8, 8]), rng.chance(0.8));
    return out;
  },
  ascii: (rng, b, hot) => {
    const out = b.slice();
    const s = new TextEncoder().encode(rng.pick(ASCII_BITS).repeat(1 + rng.int(3)));
    out.set(s.subarray(0, Math.max(0, out.length)), Math.max(0, Math.min(position(rng, out.length, hot), out.length - s.length)));
    return out;
  },
  truncate: (rng, b, hot) => b.slice(0, rng.chance(0.5) ? position(rng, b.length, hot) : rng.int(b.length + 1)),
  extend: (rng, b) => concat(b, rng.chance(0.5) ? rng.bytes(rng.logInt(1, 4096)) : new Uint8Array(rng.logInt(1, 65536))),
  duplicate: (rng, b, hot) => {
    if (b.length === 0) return b;
    const a = position(rng, b.length, hot);
    const n = Math.min(b.length - a, rng.logInt(1, Math.max(1, b.length >> 1)));
    const at = rng.int(b.length + 1);
    const times = rng.chance(0.2) ? rng.logInt(2, 64) : 1;
    const chunk = b.subarray(a, a + n);
    return concat(b.subarray(0, at), ...Array.from({ length: times }, () => chunk), b.subarray(at));
  },
  delete: (rng, b, hot) => {
    const a = position(rng, b.length, hot);
    const n = rng.logInt(1, Math.max(1, b.length - a));
    return concat(b.subarray(0, a), b.subarray(a + n));
  },
  insert: (rng, b, hot) => {
    const at = position(rng, b.length, hot);
    return concat(b.subarray(0, at), rng.bytes(rng.logInt(1, 256)), b.subarray(at));
  },
  repeat: (rng, b, hot) => {
    // one small chunk repeated up to 100k times: deep nesting, floods of one opcode
    if (b.length === 0) return b;
    const a = position(rng, b.length, hot);
    const chunk = b.subarray(a, a + 1 + rng.int(Math.min(4, b.length - a)));
    const times = rng.logInt(16, 100_000);
    const rep = new Uint8Array(chunk.length * times);
    for (let i = 0; i < times; i++) rep.set(chunk, i * chunk.length);
    return concat(b.subarray(0, a), rep, b.subarray(a));
  },
  splice: (rng, b, _hot, others) => {
    if (others.length === 0) return b;
    const o = rng.pick(others);
    return concat(b.subarray(0, rng.int(b.length + 1)), o.subarray(rng.int(o.length + 1)));
  },
};

/** 1-3 generic mutations in a row; returns the bytes and the names applied. */
export function mutate(rng: Rng, b: Uint8Array, hot: Hot | undefined, others: readonly Uint8Array[]): { bytes: Uint8Array; how: string[] } {
  const names = Object.keys(MUTATORS);
  const how: string[] = [];
  let out = b;
  for (let n = 1 + (rng.chance(0.3) ? rng.int(3) : 0); n > 0; n--) {
    const name = rng.pick(names);
    out = MUTATORS[name]!(rng, out, hot, others);
    how.push(name);
  }
  return { bytes: out, how };
}

export { concat };
