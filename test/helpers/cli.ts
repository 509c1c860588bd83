// Running the CLI as a user does, for the cli.*.test.ts files: a child process in a fresh folder,
// with an empty weights cache (nothing downloads) and no debug traces.
import assert from 'node:assert/strict';
import { after } from 'node:test';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url)); // dist/test/helpers -> dist/src/cli/main.js
export const scratch = mkdtempSync(join(tmpdir(), 'mnv2-cli-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** A fresh empty folder for one test. */
export const freshDir = (): string => mkdtempSync(join(scratch, 'd-'));

export interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  /** Variables added to (or, when undefined, removed from) the child's environment. */
  env?: Record<string, string | undefined>;
  /** Arguments for node itself, before the script. */
  nodeArgs?: string[];
  /** What the child reads on stdin. */
  input?: string;
}

/** `mobilenetv2 ...args` in `cwd`. */
export function cli(args: string[], cwd: string, timeoutMs = 60_000, opts: CliOptions = {}): Result {
  const env: NodeJS.ProcessEnv = { ...process.env, MOBILENETV2_CACHE: join(scratch, 'cache') };
  delete env['MOBILENETV2_DEBUG'];
  for (const [k, v] of Object.entries(opts.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  const r = spawnSync(process.execPath, [...(opts.nodeArgs ?? []), CLI, ...args], { cwd, env, encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 << 20, input: opts.input });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The contract for a user's mistake: exit code, exactly one `mobilenetv2: ` line naming `names`, no stack. */
export function assertOneLine(r: Result, code: number, ...names: string[]): string {
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
export function assertUsage(r: Result, ...names: string[]): void {
  assert.equal(r.code, 2, `exit code ${r.code}, stderr: ${r.stderr}`);
  assert.doesNotMatch(r.stderr, /^ {4}at /m, 'no stack trace');
  const lines = r.stderr.split('\n');
  assert.equal(lines.pop(), '');
  assert.deepEqual(lines.slice(1), ['(run with --help for usage)'], `stderr: ${r.stderr}`);
  assert.match(lines[0]!, /^error: /);
  for (const n of names) assert.ok(lines[0]!.includes(n), `"${lines[0]}" names ${n}`);
}
