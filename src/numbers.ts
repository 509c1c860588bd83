// Python's arithmetic where the reference code depends on it.

/** Python's round(): half to even (torchvision's CenterCrop and RandomResizedCrop, HF's channel rounding). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
