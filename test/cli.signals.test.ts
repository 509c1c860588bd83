// Ctrl-C and SIGTERM: the command stops at its next safe point, the output so far is whole, nothing
// is half-written, the terminal gets its cursor and line wrap back, exit 130 / 143; train
// checkpoints first and --resume ends with exactly the weights of a run never interrupted.
// A terminal is given by script(1) (util-linux), which runs the command on a pseudo-terminal.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeDemoDataset } from '../src/platform/node/demo.js';
import { MobileNetV2 } from '../src/models/mobilenetv2.js';
import { readSafetensors, writeSafetensors } from '../src/weights/safetensors.js';
import { fixturePath, parityStateDict } from './helpers/parity.js';
import { CLI, cli, freshDir, scratch } from './helpers/cli.js';

let cwd: string;
let data: string;
before(async () => {
  cwd = freshDir();
  copyFileSync(fixturePath('images', 'face.jpg'), join(cwd, 'face.jpg'));
  writeFileSync(join(cwd, 'w.safetensors'), writeSafetensors(parityStateDict(new MobileNetV2({ alpha: 0.25, numClasses: 1000, lastChannel: 'seed' }).stateDict())));
  writeFileSync(join(cwd, 'list.txt'), 'face.jpg\n'.repeat(3000));
  data = (await makeDemoDataset(join(scratch, 'demo-signals'), { seed: 4, perClass: 8, valPerClass: 1, size: 40 })).train;
});

const until = async (cond: () => boolean, ms = 120_000) => {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
};

/** The pids of `pid`'s descendants that run our CLI. */
function cliPids(pid: number): number[] {
  const out: number[] = [];
  const walk = (p: number) => {
    const kids = spawnSync('pgrep', ['-P', String(p)], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).map(Number);
    for (const k of kids) {
      // node itself, not the shell that script(1) ran it with (whose command line names the CLI too)
      if (readFileSync(`/proc/${k}/cmdline`, 'utf8').split('\0')[1] === CLI) out.push(k);
      walk(k);
    }
  };
  walk(pid);
  return out;
}

test('Ctrl-C in predict on a terminal: the answers so far are whole JSON lines, the cursor and line wrap come back, exit 130', async () => {
  const cmd = `${process.execPath} ${CLI} predict --files-from list.txt --weights w.safetensors --json --topk 1 --batch-size 50 --threads 1 > out.jsonl`;
  const child = spawn('script', ['-q', '-e', '-c', cmd, '/dev/null'], { cwd, env: { ...process.env, MOBILENETV2_CACHE: join(scratch, 'cache') } });
  const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  let tty = '';
  child.stdout.on('data', (b: Buffer) => (tty += b.toString('latin1')));
  await until(() => /predict \[/.test(tty)); // the progress bar is up: cursor hidden, line wrap off
  await until(() => existsSync(join(cwd, 'out.jsonl')) && readFileSync(join(cwd, 'out.jsonl'), 'utf8').length > 0);
  const [pid] = cliPids(child.pid!);
  assert.ok(pid, 'the CLI process');
  process.kill(pid, 'SIGINT');
  assert.equal(await exited, 130);
  const lines = readFileSync(join(cwd, 'out.jsonl'), 'utf8').split('\n');
  assert.equal(lines.pop(), '', 'ends with a whole line');
  assert.ok(lines.length > 0 && lines.length < 3000, `${lines.length} answers before the stop`);
  for (const l of lines) assert.equal((JSON.parse(l) as { file: string }).file, 'face.jpg');
  const hide = tty.lastIndexOf('\x1b[?25l');
  const wrapOff = tty.lastIndexOf('\x1b[?7l');
  assert.ok(hide >= 0 && wrapOff >= 0, 'the bar hid the cursor and turned line wrap off');
  assert.ok(tty.lastIndexOf('\x1b[?25h') > hide, 'the cursor is shown again');
  assert.ok(tty.lastIndexOf('\x1b[?7h') > wrapOff, 'line wrap is on again');
  assert.match(tty, /mobilenetv2: interrupted by SIGINT\r?\n/);
  assert.doesNotMatch(tty, /^ {4}at /m, 'no stack trace');
});

test('SIGTERM in embed: exit 143, no output file and no temporary left', async () => {
  const out = join(freshDir(), 'v.safetensors');
  const child = spawn(process.execPath, [CLI, 'embed', '--files-from', 'list.txt', '--weights', 'w.safetensors', '--batch-size', '50', '--threads', '1', '--out', out], { cwd, env: { ...process.env, MOBILENETV2_CACHE: join(scratch, 'cache') } });
  const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  await new Promise((r) => setTimeout(r, 3000));
  child.kill('SIGTERM');
  assert.equal(await exited, 143, stderr);
  assert.equal(stderr.trim().split('\n').at(-1), 'mobilenetv2: interrupted by SIGTERM');
  assert.deepEqual(readdirSync(join(out, '..')), []);
});

test('SIGINT in train: a checkpoint is written at once, exit 130, and --resume ends with the weights of an uninterrupted run', async () => {
  const RUN = ['--alpha', '0.25', '--input-size', '32', '--batch-size', '8', '--epochs', '12', '--seed', '3', '--threads', '1', '--optimizer', 'adamw'];
  const a = freshDir();
  assert.equal(cli(['train', data, '--out', a, ...RUN], a, 300_000).code, 0);
  const b = freshDir();
  const child = spawn(process.execPath, [CLI, 'train', data, '--out', b, ...RUN], { cwd: b });
  const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  let stderr = '';
  child.stderr.on('data', (x: Buffer) => (stderr += x.toString()));
  await until(() => /epoch 1\/12/.test(stderr)); // mid-run: the first epoch is done
  child.kill('SIGINT');
  assert.equal(await exited, 130, stderr);
  assert.match(stderr.trim().split('\n').at(-1)!, /^mobilenetv2: interrupted by SIGINT: stopped (at epoch \d+, batch \d+ of 10|after epoch \d+ of 12) \(step \d+\); checkpoint written to .*checkpoint\.safetensors: --resume continues from there$/);
  assert.deepEqual(readdirSync(b).filter((f) => f.endsWith('.tmp')), []);
  const resumed = cli(['train', data, '--out', b, ...RUN, '--resume'], b, 300_000);
  assert.equal(resumed.code, 0, resumed.stderr);
  const w = (d: string) => readSafetensors(readFileSync(join(d, 'model.safetensors')), 'model').tensors;
  const [wa, wb] = [w(a), w(b)];
  for (const [k, t] of wa) assert.deepEqual(wb.get(k)!.data, t.data, `${k} differs after the interrupted run resumed`);
});
