// --device through the CLI: CUDA without ONNX Runtime's CUDA build is exit 4 and says how to get
// it; a device that does not exist is a bad command line (exit 2).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MobileNetV2 } from '../src/models/mobilenetv2.js';
import { float32 } from '../src/tensor.js';
import { writeSafetensors } from '../src/weights/safetensors.js';
import { fixturePath } from './helpers/parity.js';

// ---- running the CLI (kept in each cli.*.test.ts so each file stands alone) ----
const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url)); // dist/test -> dist/src/cli/main.js
const scratch = mkdtempSync(join(tmpdir(), 'mnv2-cli-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
/** A fresh empty folder for one test. */
const freshDir = (): string => mkdtempSync(join(scratch, 'd-'));
interface Result { code: number | null; stdout: string; stderr: string }
/** `mobilenetv2 ...args` in `cwd`, with an empty weights cache and no debug traces. */
function cli(args: string[], cwd: string): Result {
  const env: NodeJS.ProcessEnv = { ...process.env, MOBILENETV2_CACHE: join(scratch, 'cache') };
  delete env['MOBILENETV2_DEBUG'];
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, env, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
/** The contract for a user's mistake: exit code, exactly one `mobilenetv2: ` line naming `names`, no stack. */
function assertOneLine(r: Result, code: number, ...names: string[]): string {
  assert.equal(r.code, code, `exit code ${r.code}, stderr: ${r.stderr}`);
  assert.doesNotMatch(r.stderr, /^ {4}at /m, 'no stack trace');
  const lines = r.stderr.split('\n');
  assert.equal(lines.pop(), '', 'stderr ends with a newline');
  assert.equal(lines.length, 1, `one line on stderr, got: ${r.stderr}`);
  assert.match(lines[0]!, /^mobilenetv2: \S/);
  for (const n of names) assert.ok(lines[0]!.includes(n), `"${lines[0]}" names ${n}`);
  return lines[0]!;
}
/** A bad command line: exit 2, commander's one `error: ` line naming `names`, then the help hint. */
function assertUsage(r: Result, ...names: string[]): void {
  assert.equal(r.code, 2, `exit code ${r.code}, stderr: ${r.stderr}`);
  assert.doesNotMatch(r.stderr, /^ {4}at /m, 'no stack trace');
  const lines = r.stderr.split('\n');
  assert.equal(lines.pop(), '');
  assert.deepEqual(lines.slice(1), ['(run with --help for usage)'], `stderr: ${r.stderr}`);
  assert.match(lines[0]!, /^error: /);
  for (const n of names) assert.ok(lines[0]!.includes(n), `"${lines[0]}" names ${n}`);
}
// The CUDA provider is only there when onnxruntime-node was installed with ONNXRUNTIME_NODE_INSTALL=cuda12
// (this project's .npmrc skips it); then --device cuda may well work, and exit 4 is not the contract.
const ortDir = dirname(createRequire(import.meta.url).resolve('onnxruntime-node/package.json'));
const cudaBuild = existsSync(join(ortDir, 'bin', 'napi-v6', process.platform, process.arch, 'libonnxruntime_providers_cuda.so'));

/** Folder with w.safetensors (seeded MobileNetV2 0.25, 10 classes), in.safetensors (1 x 3 x 32 x 32) and face.jpg. */
let data: string;
before(() => {
  data = freshDir();
  writeFileSync(join(data, 'w.safetensors'), writeSafetensors(new MobileNetV2({ alpha: 0.25, numClasses: 10, lastChannel: 'seed', seed: 0 }).stateDict()));
  writeFileSync(join(data, 'in.safetensors'), writeSafetensors(new Map([['input', float32([1, 3, 32, 32])]])));
  copyFileSync(fixturePath('images', 'face.jpg'), join(data, 'face.jpg'));
});

const runArgs = (...more: string[]) => ['run', '--weights', join(data, 'w.safetensors'), '--input', join(data, 'in.safetensors'), '--output', 'out.safetensors', ...more];

test('BAD CALL - run --device cuda without the CUDA build is exit 4, one line saying ONNXRUNTIME_NODE_INSTALL=cuda12', { skip: cudaBuild && 'onnxruntime-node has its CUDA provider installed' }, () => {
  const cwd = freshDir();
  assertOneLine(cli(runArgs('--device', 'cuda'), cwd), 4, 'cuda', 'ONNXRUNTIME_NODE_INSTALL=cuda12');
  assert.deepEqual(readdirSync(cwd), [], 'no output');
});

test('BAD CALL - predict --device cuda without the CUDA build is exit 4, one line saying ONNXRUNTIME_NODE_INSTALL=cuda12', { skip: cudaBuild && 'onnxruntime-node has its CUDA provider installed' }, () => {
  assertOneLine(cli(['predict', join(data, 'face.jpg'), '--weights', join(data, 'w.safetensors'), '--device', 'cuda'], freshDir()), 4, 'cuda', 'ONNXRUNTIME_NODE_INSTALL=cuda12');
});

test('BAD CALL - run --device tpu is exit 2 listing the devices', () => {
  const cwd = freshDir();
  assertUsage(cli(runArgs('--device', 'tpu'), cwd), '--device', 'tpu', 'cpu, webgpu, cuda');
  assert.deepEqual(readdirSync(cwd), []);
});

test('BAD CALL - predict --device tpu is exit 2 listing the devices', () => {
  assertUsage(cli(['predict', 'face.jpg', '--weights', join(data, 'w.safetensors'), '--device', 'tpu'], freshDir()), '--device', 'tpu', 'cpu, webgpu, cuda');
});
