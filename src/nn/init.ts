// Seeded initialisation: same seed, same weights. (torch's own generator is not reproduced;
// the distributions are the seed's: kaiming normal fan_out, N(0, 0.01), ones, zeros.)

import type { Tensor } from '../tensor.js';

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

export function normal_(t: Tensor, std: number, gen: Generator): void {
  const d = t.data as Float32Array;
  for (let i = 0; i < d.length; i++) d[i] = gen.normal() * std;
}

/** kaiming_normal_(mode='fan_out', nonlinearity='relu'): std = sqrt(2 / fan_out), fan_out = Cout*kh*kw. */
export function kaimingNormalFanOut_(t: Tensor, gen: Generator): void {
  const receptive = t.shape.slice(2).reduce((a, b) => a * b, 1);
  normal_(t, Math.sqrt(2 / (t.shape[0]! * receptive)), gen);
}

export function fill_(t: Tensor, value: number): void {
  (t.data as Float32Array).fill(value);
}
