// ImageFolder against torchvision's own ImageFolder on the same temporary tree (run through
// Debian's python3 when torchvision is importable; those checks are skipped otherwise), and
// against Python's string order, which torchvision's sorted() uses.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compareCodePoints } from '../src/data/dataset.js';
import { ImageFolder } from '../src/platform/node/folder.js';

const PYTHON = '/usr/bin/python3';

function python(code: string, ...args: string[]): string | undefined {
  const r = spawnSync(PYTHON, ['-c', code, ...args], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return undefined;
  return r.stdout;
}
const HAS_TORCHVISION = python('import torchvision') !== undefined;

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'mnv2-folder-'));
}

function touch(path: string, bytes = 'x'): void {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, bytes);
}

// Names whose order differs between naive expectations, JS's UTF-16 order and Python's.
const CLASS_NAMES = ['b', 'B', 'a_1', 'a10', 'a2', '\uff5e', '\u{1F600}'];
const FILES = ['x.JPG', 'y.png', 'z.txt', 'w.webp', 'v.jpeg', 'u.gif', 'noext', 'A.Png', '10.png', '9.png', 'sub/q.png', 'sub-2/r.png', 'sub/deeper/s.jpg'];

function makeTree(): string {
  const root = tempDir();
  for (const c of CLASS_NAMES) for (const f of FILES) touch(join(root, c, f));
  touch(join(root, 'stray.png')); // a file at the top is not a class
  return root;
}

test('classes are sorted as Python sorts strings (code points, upper before lower)', () => {
  const root = makeTree();
  try {
    const ds = new ImageFolder(root);
    assert.deepEqual(ds.classes, ['B', 'a10', 'a2', 'a_1', 'b', '\uff5e', '\u{1F600}']);
    assert.deepEqual([...ds.classToIdx.entries()], ds.classes.map((c, i) => [c, i]));
    const py = python('import os,sys,json; print(json.dumps(sorted(e.name for e in os.scandir(sys.argv[1]) if e.is_dir())))', root);
    if (py !== undefined) assert.deepEqual(ds.classes, JSON.parse(py));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('compareCodePoints orders astral characters after the BMP, unlike UTF-16 comparison', () => {
  assert.ok('\u{1F600}' < '\uff5e'); // JavaScript's own order
  assert.ok(compareCodePoints('\u{1F600}', '\uff5e') > 0);
  assert.ok(compareCodePoints('a', 'ab') < 0);
  assert.equal(compareCodePoints('abc', 'abc'), 0);
});

test('extension filter: jpg/jpeg/png/webp in any case, recursive, files sorted within a class', () => {
  const root = makeTree();
  try {
    const ds = new ImageFolder(root);
    const first = ds.samples.filter((s) => s.label === 0).map((s) => s.path.slice(root.length + 1));
    assert.deepEqual(first, ['B/10.png', 'B/9.png', 'B/A.Png', 'B/v.jpeg', 'B/w.webp', 'B/x.JPG', 'B/y.png', 'B/sub/q.png', 'B/sub-2/r.png', 'B/sub/deeper/s.jpg']);
    assert.equal(ds.samples.length, CLASS_NAMES.length * 10);
    const pngOnly = new ImageFolder(root, { extensions: ['PNG'] });
    assert.ok(pngOnly.samples.every((s) => s.path.toLowerCase().endsWith('.png')));
    assert.equal(pngOnly.samples.length, CLASS_NAMES.length * 6);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('samples and classes equal torchvision\'s ImageFolder (DatasetFolder) on the same tree', { skip: !HAS_TORCHVISION && 'torchvision not importable' }, () => {
  const root = makeTree();
  try {
    const ds = new ImageFolder(root);
    const out = python(
      [
        'import sys, json',
        // ImageFolder is DatasetFolder with IMG_EXTENSIONS; ours are a subset of those.
        'from torchvision.datasets import DatasetFolder',
        "d = DatasetFolder(sys.argv[1], loader=lambda p: p, extensions=('.jpg', '.jpeg', '.png', '.webp'))",
        "print(json.dumps({'classes': d.classes, 'samples': d.samples}))",
      ].join('\n'),
      root,
    );
    assert.ok(out !== undefined, 'torchvision ImageFolder failed');
    const ref = JSON.parse(out) as { classes: string[]; samples: [string, number][] };
    assert.deepEqual(ds.classes, ref.classes);
    assert.deepEqual(
      ds.samples.map((s) => [s.path, s.label]),
      ref.samples,
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('BAD CALL - missing root, no class folders, empty class: one-line Error naming the folder', () => {
  const root = tempDir();
  try {
    const missing = join(root, 'nope');
    assert.throws(() => new ImageFolder(missing), (e: Error) => e.message === `${missing}: no such directory`);
    touch(join(root, 'only-a-file.png'));
    assert.throws(() => new ImageFolder(root), (e: Error) => e.message.startsWith(`${root}: no class folders`) && !e.message.includes('\n'));
    assert.throws(() => new ImageFolder(join(root, 'only-a-file.png')), (e: Error) => e.message.includes('only-a-file.png') && e.message.includes('not a directory'));
    touch(join(root, 'cat', 'a.png'));
    touch(join(root, 'dog', 'notes.txt'));
    assert.throws(
      () => new ImageFolder(root),
      (e: Error) => e.message.startsWith(`${join(root, 'dog')}: class folder "dog" holds no images`) && !e.message.includes('\n'),
    );
    assert.throws(() => new ImageFolder(root, { extensions: [] }), RangeError);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('split: stratified, disjoint, covers everything, deterministic per seed', () => {
  const root = tempDir();
  try {
    const counts = [10, 7, 3, 1];
    counts.forEach((n, c) => {
      for (let i = 0; i < n; i++) touch(join(root, `c${c}`, `${i}.png`));
    });
    const ds = new ImageFolder(root);
    const { train, val } = ds.split(0.2, 7);
    const all = [...train.indices, ...val.indices].sort((a, b) => a - b);
    assert.deepEqual(all, ds.samples.map((_, i) => i));
    assert.equal(new Set([...train.indices, ...val.indices]).size, ds.samples.length);
    const valCounts = counts.map((_, c) => val.samples.filter((s) => s.label === c).length);
    assert.deepEqual(valCounts, [2, 1, 1, 0]); // round(n * 0.2), at least 1 of 2+, never a whole class
    assert.deepEqual(train.classes, ds.classes);
    const again = ds.split(0.2, 7);
    assert.deepEqual(again.val.indices, val.indices);
    const other = [1, 2, 3, 4, 5].map((s) => ds.split(0.2, s).val.indices.join());
    assert.ok(other.some((v) => v !== val.indices.join()), 'the seed changes the split');
    assert.throws(() => ds.split(1, 0), RangeError);
    assert.throws(() => ds.split(-0.1, 0), RangeError);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
