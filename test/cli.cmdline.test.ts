// No command of ours may crash whatever its command line. onnxruntime-node 1.30's telemetry walks
// /proc/self/cmdline recursively when the first session is created and dies with a segmentation
// fault (exit 139) past ~30 KB of arguments: `predict photos/*.jpg` with ~850 photos did. It also
// reads /etc/machine-id and writes ~/.cache/Microsoft/DeveloperTools/.onnxruntime/onnxruntime.db:
// with the telemetry off (our default) nothing of that is written.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeDemoDataset } from '../src/platform/node/demo.js';
import { MobileNetV2 } from '../src/models/mobilenetv2.js';
import { writeSafetensors } from '../src/weights/safetensors.js';
import { float32 } from '../src/tensor.js';
import { fixturePath, parityStateDict } from './helpers/parity.js';
import { cli, freshDir, scratch, type CliOptions } from './helpers/cli.js';

let cwd: string;
let demo: string;
before(async () => {
  cwd = freshDir();
  copyFileSync(fixturePath('images', 'face.jpg'), join(cwd, 'face.jpg'));
  const m = new MobileNetV2({ alpha: 0.25, numClasses: 1000, lastChannel: 'seed' });
  writeFileSync(join(cwd, 'w.safetensors'), writeSafetensors(parityStateDict(m.stateDict())));
  const m10 = new MobileNetV2({ alpha: 0.25, numClasses: 10, lastChannel: 'seed' });
  writeFileSync(join(cwd, 'w10.safetensors'), writeSafetensors(parityStateDict(m10.stateDict())));
  writeFileSync(join(cwd, 'x.safetensors'), writeSafetensors(new Map([['input', float32([1, 3, 32, 32])]])));
  demo = (await makeDemoDataset(join(scratch, 'demo-cmdline'), { seed: 1, perClass: 2, valPerClass: 1, size: 32 })).train;
});

/** A fresh HOME and cache, so what ORT writes there can be seen; `node --conditions=<long>` makes the command line long. */
function run(args: string[], longArg = false, timeoutMs = 120_000): { code: number | null; stderr: string; stdout: string; home: string } {
  const home = freshDir();
  const opts: CliOptions = {
    env: { HOME: home, XDG_CACHE_HOME: join(home, '.cache'), ORT_DISABLE_TELEMETRY: undefined, MOBILENETV2_ORT_TELEMETRY: undefined },
    // a custom export condition is harmless to the program and ends up in /proc/self/cmdline
    nodeArgs: longArg ? [`--conditions=${'x'.repeat(40_000)}`] : [],
  };
  return { ...cli(args, cwd, timeoutMs, opts), home };
}

const ortWroteNothing = (home: string) => assert.ok(!existsSync(join(home, '.cache', 'Microsoft')), `ONNX Runtime wrote ${join(home, '.cache', 'Microsoft')}: ${existsSync(join(home, '.cache')) ? readdirSync(join(home, '.cache')).join(', ') : ''}`);

test('predict with 1,200 image paths (48 KB of arguments) answers every one, exit 0', () => {
  const paths = Array.from({ length: 1200 }, (_, i) => (i % 2 ? './face.jpg' : 'face.jpg'));
  const r = run(['predict', ...paths, '--weights', 'w.safetensors', '--input-size', '32', '--json', '--topk', '1', '--batch-size', '200'], false, 300_000);
  assert.equal(r.code, 0, `exit ${r.code}: ${r.stderr.slice(0, 500)}`);
  assert.equal(r.stdout.trimEnd().split('\n').length, 1200);
  ortWroteNothing(r.home);
});

test('embed with 1,200 image paths, exit 0', () => {
  const paths = Array.from({ length: 1200 }, (_, i) => (i % 2 ? './face.jpg' : 'face.jpg'));
  const out = join(freshDir(), 'v.safetensors');
  const r = run(['embed', ...paths, '--weights', 'w.safetensors', '--input-size', '32', '--batch-size', '200', '--out', out], false, 300_000);
  assert.equal(r.code, 0, `exit ${r.code}: ${r.stderr.slice(0, 500)}`);
  assert.ok(existsSync(out));
  ortWroteNothing(r.home);
});

const LONG: [string, () => string[]][] = [
  ['predict', () => ['predict', 'face.jpg', '--weights', 'w.safetensors', '--input-size', '32']],
  ['embed', () => ['embed', 'face.jpg', '--weights', 'w.safetensors', '--input-size', '32', '--out', join(freshDir(), 'e.safetensors')]],
  ['run', () => ['run', '--weights', 'w.safetensors', '--input', 'x.safetensors', '--output', join(freshDir(), 'y.safetensors')]],
  ['export', () => ['export', '--weights', 'w.safetensors', '--input-size', '32', '--onnx', join(freshDir(), 'm.onnx')]],
  ['eval', () => ['eval', demo, '--weights', 'w10.safetensors', '--input-size', '32', '--out', freshDir()]],
  ['train', () => ['train', demo, '--alpha', '0.25', '--input-size', '32', '--batch-size', '10', '--epochs', '1', '--threads', '1', '--out', join(freshDir(), 'run')]],
];

for (const [name, args] of LONG) {
  test(`${name} with a 40,000-character argument on its command line does not crash`, () => {
    const r = run(args(), true, 300_000);
    assert.notEqual(r.code, null, 'killed by a signal (segmentation fault)');
    assert.equal(r.code, 0, `exit ${r.code}: ${r.stderr.slice(0, 500)}`);
    ortWroteNothing(r.home);
  });
}

test('MOBILENETV2_ORT_TELEMETRY=1 hands the choice back to ONNX Runtime, but not on a command line long enough to crash it', () => {
  const home = freshDir();
  mkdirSync(join(home, '.cache'));
  const env = { HOME: home, XDG_CACHE_HOME: join(home, '.cache'), MOBILENETV2_ORT_TELEMETRY: '1', ORT_DISABLE_TELEMETRY: undefined };
  const long = cli(['predict', 'face.jpg', '--weights', 'w.safetensors', '--input-size', '32'], cwd, 120_000, { env, nodeArgs: [`--conditions=${'x'.repeat(40_000)}`] });
  assert.equal(long.code, 0, long.stderr);
  assert.match(long.stderr, /telemetry left off/);
  ortWroteNothing(home);
});
