// Every random number of the project comes from here: a seeded generator, and seeds mixed from
// (domain, run seed, epoch, sample...) so each stream depends only on the numbers that name it.
// The same seed gives the same weights, data order, augmentation, split and dropout on every
// platform (not torch's generator: the same seed does not give PyTorch's numbers).

/** xoshiro128** seeded through splitmix32: a small, fast, well-tested 32-bit generator. */
export class Generator {
  private s = new Uint32Array(4);
  private spare: number | undefined;

  constructor(seed = 0) {
    let x = seed >>> 0;
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      this.s[i] = (z ^ (z >>> 16)) >>> 0;
    }
  }

  /** Uniform 32-bit integer. */
  nextU32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1]!, 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1]! << 9) >>> 0;
    s[2]! ^= s[0]!;
    s[3]! ^= s[1]!;
    s[1]! ^= s[2]!;
    s[0]! ^= s[3]!;
    s[2]! ^= t;
    s[3] = rotl(s[3]!, 11);
    return result;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  uniform(): number {
    return (this.nextU32() * 2 ** 21 + (this.nextU32() >>> 11)) / 2 ** 53;
  }

  /** Standard normal (Box-Muller, both values used). */
  normal(): number {
    if (this.spare !== undefined) {
      const v = this.spare;
      this.spare = undefined;
      return v;
    }
    let u = 0;
    while (u === 0) u = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    const theta = 2 * Math.PI * this.uniform();
    this.spare = r * Math.sin(theta);
    return r * Math.cos(theta);
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  /** The generator's whole state, to checkpoint and restore. */
  getState(): number[] {
    return [...this.s, this.spare ?? NaN];
  }

  setState(state: readonly number[]): void {
    for (let i = 0; i < 4; i++) this.s[i] = state[i]! >>> 0;
    this.spare = Number.isNaN(state[4]) ? undefined : state[4];
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function checkWord(name: string, v: number): void {
  if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`${name} must be a non-negative integer, got ${v}`);
}

/**
 * A 32-bit seed from a list of non-negative integers (each up to 2^53): murmur3's finalizer
 * chained over the words, low 32 bits then high bits of each. Different lists give unrelated seeds.
 */
export function mixSeed(...words: number[]): number {
  let h = 0x243f6a88;
  words.forEach((w, i) => {
    checkWord(`seed word ${i}`, w);
    h = fmix32((h ^ (w >>> 0)) + 0x9e3779b9);
    h = fmix32((h ^ Math.floor(w / 2 ** 32)) + 0x7f4a7c15);
  });
  return h;
}

/** Domains keep the streams of one seed apart (a sample's crop vs an epoch's shuffle vs the split). */
export const SeedDomain = { augment: 1, shuffle: 2, split: 3, demo: 4, dropout: 5 } as const;

/** The generator for sample `index` in epoch `epoch`: depends on these three numbers only. */
export function sampleGenerator(seed: number, epoch: number, index: number): Generator {
  return new Generator(mixSeed(SeedDomain.augment, seed, epoch, index));
}

/** A seeded permutation of 0..n-1 (Fisher-Yates). */
export function permutation(n: number, gen: Generator): number[] {
  const p = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = gen.int(i + 1);
    const t = p[i]!;
    p[i] = p[j]!;
    p[j] = t;
  }
  return p;
}

/** The generator of the dropout masks of optimizer step `step` (its words in this order since the first release). */
export function dropoutGenerator(seed: number, step: number): Generator {
  return new Generator(mixSeed(seed, SeedDomain.dropout, step));
}
