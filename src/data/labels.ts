// ImageNet-1k class names in torchvision's order (`_IMAGENET_CATEGORIES`), index = logit index.
// Imported as a JSON module so tsc copies it to dist and bundlers inline it (no fs: browser-safe).

import classes from './imagenet-classes.json' with { type: 'json' };

const CLASSES: readonly string[] = Object.freeze([...(classes as string[])]);

/** The 1000 ImageNet class names, as torchvision lists them; a fresh copy each call. */
export function imagenetClasses(): string[] {
  return [...CLASSES];
}

/** The class names a head of this size has when nothing else says: ImageNet's 1000, or TF-slim's 1001 (background first). */
export function labelsForHead(numClasses: number | undefined): string[] | undefined {
  if (numClasses === 1000) return imagenetClasses();
  if (numClasses === 1001) return ['background', ...imagenetClasses()];
  return undefined;
}
