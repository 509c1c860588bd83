// `mobilenetv2 summary` as a child process: stdout is torchsummary's printout of the real PyTorch
// seed model byte for byte (goldens of tools/gen_fixtures.py); bad values are exit 2.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
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

test('summary with no flags prints the seed MobileNetV2x100 at 3x224x224, equal to torchsummary byte for byte', () => {
  const r = cli(['summary'], freshDir());
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, readFileSync(fixturePath('summary', 'seed_a1.0_c1000_seed_224.txt'), 'utf8'));
  assert.equal(r.stderr, '');
});

test('summary --alpha 0.5 --input-size 160 --last-channel paper equals torchsummary byte for byte', () => {
  const r = cli(['summary', '--alpha', '0.5', '--input-size', '160', '--last-channel', 'paper'], freshDir());
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, readFileSync(fixturePath('summary', 'seed_a0.5_c1000_paper_160.txt'), 'utf8'));
});

test('BAD CALL - summary --input-size 16 (below 32) is exit 2 naming the option', () => {
  const r = cli(['summary', '--input-size', '16'], freshDir());
  assertUsage(r, '--input-size', '16');
  assert.equal(r.stdout, '');
});

test('BAD CALL - summary --alpha -1 is exit 2 naming the option', () => {
  const r = cli(['summary', '--alpha', '-1'], freshDir());
  assertUsage(r, '--alpha', '-1');
  assert.equal(r.stdout, '');
});

test('BAD CALL - summary --last-channel foo is exit 2 naming the value and the valid rules', () => {
  const r = cli(['summary', '--last-channel', 'foo'], freshDir());
  assertUsage(r, '--last-channel', 'foo', 'seed', 'paper');
  assert.equal(r.stdout, '');
});
