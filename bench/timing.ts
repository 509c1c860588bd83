// What the Node benchmarks time with (the in-page ones carry their own copy: page.evaluate
// functions cannot import).

/** The middle of xs (the upper one of an even count). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Mean ms per call of fn, calling it for at least minMs and at least minCalls times. */
export async function timeIt(fn: () => Promise<unknown>, minMs = 1500, minCalls = 3): Promise<number> {
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < minMs || n < minCalls) {
    await fn();
    n++;
  }
  return (performance.now() - t0) / n;
}
