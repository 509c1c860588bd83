// `mobilenetv2 predict` as a child process, with parity-filled 1000-class weights (no download):
// JSON and text output, a batch with bad images (exit 5, the good one still answered), all bad
// (exit 3), and answers in input order whatever the batch size.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { imagenetClasses } from '../src/data/labels.js';
import { MobileNetV2 } from '../src/models/mobilenetv2.js';
import { writePth } from '../src/weights/pth.js';
import { fixturePath, parityStateDict } from './helpers/parity.js';
import { assertOneLine, cli, freshDir } from './helpers/cli.js';

interface Answer { file: string; top: { index: number; label: string; probability: number; logit: number }[] }

/** Folder with face.jpg, bad.jpg (a text file) and w.pth (parity-filled MobileNetV2 0.25, 1000 classes). */
let cwd: string;
before(() => {
  cwd = freshDir();
  copyFileSync(fixturePath('images', 'face.jpg'), join(cwd, 'face.jpg'));
  writeFileSync(join(cwd, 'bad.jpg'), 'this is text, not a JPEG\n');
  const m = new MobileNetV2({ alpha: 0.25, numClasses: 1000, lastChannel: 'seed' });
  writeFileSync(join(cwd, 'w.pth'), writePth(parityStateDict(m.stateDict())));
});

const jsonLines = (stdout: string): Answer[] => stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as Answer);

/** One answer: k ImageNet classes, probabilities (and logits) descending, summing to <= 1. */
function assertAnswer(a: Answer, file: string, k: number): void {
  const classes = imagenetClasses();
  assert.equal(a.file, file);
  assert.equal(a.top.length, k);
  for (const t of a.top) {
    assert.ok(Number.isInteger(t.index) && t.index >= 0 && t.index < 1000, `index ${t.index}`);
    assert.equal(t.label, classes[t.index]);
    assert.ok(t.probability > 0 && t.probability <= 1, `probability ${t.probability}`);
  }
  for (let i = 1; i < k; i++) {
    assert.ok(a.top[i - 1]!.probability >= a.top[i]!.probability, 'probabilities sorted descending');
    assert.ok(a.top[i - 1]!.logit >= a.top[i]!.logit, 'logits sorted descending');
  }
  assert.ok(a.top.reduce((s, t) => s + t.probability, 0) <= 1 + 1e-6);
}

let json: Answer;
test('predict face.jpg --topk 3 --json prints one JSON line: 3 ImageNet classes, probabilities descending', () => {
  const r = cli(['predict', 'face.jpg', '--weights', 'w.pth', '--topk', '3', '--json'], cwd);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  assert.equal(r.stdout.split('\n').length, 2, 'one line and its newline');
  json = jsonLines(r.stdout)[0]!;
  assertAnswer(json, 'face.jpg', 3);
});

test('predict face.jpg --topk 3 (text) prints the file name, then the same 3 classes ranked', () => {
  const r = cli(['predict', 'face.jpg', '--weights', 'w.pth', '--topk', '3'], cwd);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split('\n');
  assert.equal(lines.pop(), '');
  assert.equal(lines.length, 4, r.stdout);
  assert.equal(lines[0], 'face.jpg');
  lines.slice(1).forEach((line, i) => {
    const t = json.top[i]!;
    const m = /^ {2}(\d+)\. (.+?) +(\d+\.\d\d)% {2}\(class (\d+)\)$/.exec(line);
    assert.ok(m, `ranked line: "${line}"`);
    assert.deepEqual([Number(m[1]), m[2], Number(m[4])], [i + 1, t.label, t.index]);
    assert.equal(m[3], (100 * t.probability).toFixed(2));
  });
});

test('BAD CALL - predict face.jpg bad.jpg missing.png is exit 5: face.jpg answered, one line per bad file, a summary line', () => {
  const r = cli(['predict', 'face.jpg', 'bad.jpg', 'missing.png', '--weights', 'w.pth', '--topk', '3', '--json'], cwd);
  assert.equal(r.code, 5, r.stderr);
  assert.doesNotMatch(r.stderr, /^ {4}at /m);
  const answers = jsonLines(r.stdout);
  assert.equal(answers.length, 1);
  assertAnswer(answers[0]!, 'face.jpg', 3);
  assert.deepEqual(answers[0]!.top.map((t) => t.index), json.top.map((t) => t.index));
  const lines = r.stderr.split('\n');
  assert.equal(lines.pop(), '');
  assert.equal(lines.length, 3, r.stderr);
  for (const l of lines) assert.match(l, /^mobilenetv2: \S/);
  assert.ok(lines.some((l) => l.includes('bad.jpg')) && lines.some((l) => l.includes('missing.png')), r.stderr);
  assert.ok(lines[2]!.includes('2 of 3'), lines[2]);
});

test('BAD CALL - predict with only bad images (bad.jpg missing.png) is exit 3, nothing on stdout', () => {
  const r = cli(['predict', 'bad.jpg', 'missing.png', '--weights', 'w.pth'], cwd);
  assert.equal(r.code, 3, r.stderr);
  assert.equal(r.stdout, '');
  assert.doesNotMatch(r.stderr, /^ {4}at /m);
  const lines = r.stderr.split('\n');
  assert.equal(lines.pop(), '');
  for (const l of lines) assert.match(l, /^mobilenetv2: \S/);
  assert.ok(lines.some((l) => l.includes('bad.jpg')) && lines.some((l) => l.includes('missing.png')), r.stderr);
});

test('predict --batch-size 1 over 3 copies of the image answers all 3, in input order, identically', () => {
  for (const name of ['c.jpg', 'a.jpg', 'b.jpg']) copyFileSync(join(cwd, 'face.jpg'), join(cwd, name));
  const r = cli(['predict', 'c.jpg', 'a.jpg', 'b.jpg', '--weights', 'w.pth', '--topk', '3', '--json', '--batch-size', '1'], cwd);
  assert.equal(r.code, 0, r.stderr);
  const answers = jsonLines(r.stdout);
  assert.deepEqual(answers.map((a) => a.file), ['c.jpg', 'a.jpg', 'b.jpg']);
  for (const a of answers) {
    assertAnswer(a, a.file, 3);
    assert.deepEqual(a.top.map((t) => t.index), json.top.map((t) => t.index));
    a.top.forEach((t, i) => assert.ok(Math.abs(t.probability - json.top[i]!.probability) <= 1e-6));
  }
});

test('BAD CALL - predict with a single bad image is exit 3 and exactly one line naming it', () => {
  const r = cli(['predict', 'bad.jpg', '--weights', 'w.pth'], cwd);
  assertOneLine(r, 3, 'bad.jpg');
  assert.equal(r.stdout, '');
});

test('predict <folder> walks it (recursively, image files only, sorted) and --files-from adds listed paths, from a file or stdin; answers stream in input order', () => {
  const dir = join(freshDir(), 'photos');
  mkdirSync(join(dir, 'b', 'deep'), { recursive: true });
  mkdirSync(join(dir, 'a'));
  for (const p of ['z.jpg', 'a/y.JPG', 'b/x.jpg', 'b/deep/w.jpg']) copyFileSync(join(cwd, 'face.jpg'), join(dir, p));
  writeFileSync(join(dir, 'notes.txt'), 'not an image');
  const r = cli(['predict', dir, '--weights', join(cwd, 'w.pth'), '--json', '--topk', '1', '--batch-size', '2'], cwd);
  assert.equal(r.code, 0, r.stderr);
  const order = jsonLines(r.stdout).map((a) => a.file.slice(dir.length + 1));
  assert.deepEqual(order, ['z.jpg', 'a/y.JPG', 'b/x.jpg', 'b/deep/w.jpg']); // torchvision's walk: a folder's own files, then its subfolders
  writeFileSync(join(cwd, 'list.txt'), `face.jpg\n\n${join(dir, 'b', 'x.jpg')}\n`);
  const listed = cli(['predict', 'face.jpg', '--files-from', 'list.txt', '--weights', 'w.pth', '--json', '--topk', '1'], cwd);
  assert.equal(listed.code, 0, listed.stderr);
  assert.deepEqual(jsonLines(listed.stdout).map((a) => a.file), ['face.jpg', 'face.jpg', join(dir, 'b', 'x.jpg')]);
  const piped = cli(['predict', '--files-from', '-', '--weights', 'w.pth', '--json', '--topk', '1'], cwd, 60_000, { input: 'face.jpg\nface.jpg\n' });
  assert.equal(piped.code, 0, piped.stderr);
  assert.equal(jsonLines(piped.stdout).length, 2);
  const none = cli(['predict', '--weights', 'w.pth'], cwd);
  assertOneLine(none, 2, 'no images');
  const empty = join(freshDir(), 'empty');
  mkdirSync(empty);
  assertOneLine(cli(['predict', empty, '--weights', 'w.pth'], cwd), 3, empty, 'no images');
});
