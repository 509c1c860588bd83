// Seeded initialisation: same seed, same weights. (torch's own generator is not reproduced;
// the distributions are the seed's: kaiming normal fan_out, N(0, 0.01), ones, zeros.)

import type { Tensor } from '../tensor.js';
import type { Generator } from '../random.js';

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
