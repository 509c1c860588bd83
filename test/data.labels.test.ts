// ImageNet class names: the JSON written from torchvision's _IMAGENET_CATEGORIES, loaded as a
// JSON module (so it must be copied into dist by tsc, which this test checks).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { imagenetClasses } from '../src/data/labels.js';

test('imagenetClasses() returns the 1000 names of the JSON, in order', () => {
  const names = imagenetClasses();
  const source = JSON.parse(readFileSync(fileURLToPath(new URL('../../src/data/imagenet-classes.json', import.meta.url)), 'utf8')) as string[];
  assert.equal(names.length, 1000);
  assert.deepEqual(names, source);
  assert.ok(names.every((n) => typeof n === 'string' && n.length > 0));
  // torchvision's list starts with "tench" and ends with "toilet tissue"
  assert.equal(names[0], 'tench');
  assert.equal(names[999], 'toilet tissue');
});

test('imagenetClasses() hands out a copy', () => {
  const a = imagenetClasses();
  a[0] = 'changed';
  assert.equal(imagenetClasses()[0], 'tench');
});

test('the JSON lands in dist next to labels.js', () => {
  assert.ok(existsSync(fileURLToPath(new URL('../src/data/imagenet-classes.json', import.meta.url))), 'dist/src/data/imagenet-classes.json');
});
