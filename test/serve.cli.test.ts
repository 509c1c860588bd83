// `mobilenetv2 serve` as a user runs it: a child process on a free port, answering what
// `predict --json` answers for the same photo; SIGTERM (and Ctrl-C) drain it: the requests in
// flight are answered, new connections are refused, exit 0; and the command line's mistakes are
// one line with exit code 2.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { MobileNetV2 } from '../src/models/mobilenetv2.js';
import { writeSafetensors } from '../src/weights/safetensors.js';
import { assertOneLine, assertUsage, cli, CLI, freshDir, scratch } from './helpers/cli.js';
import { parityStateDict } from './helpers/parity.js';
import { metric, photo, pngOf, postBytes, reference, skipReal, WEIGHTS } from './helpers/serve.js';

let cwd: string;
before(() => {
  cwd = freshDir();
  writeFileSync(join(cwd, 'small.safetensors'), writeSafetensors(parityStateDict(new MobileNetV2({ alpha: 0.25, numClasses: 10, lastChannel: 'seed' }).stateDict())));
});

interface Served {
  child: ChildProcessWithoutNullStreams;
  url: string;
  stderr: () => string;
  exited: Promise<number | null>;
}

/** Start `serve ...args` and wait for its "serving ... on <url>" line. */
async function serve(args: string[]): Promise<Served> {
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', ...args], { cwd, env: { ...process.env, MOBILENETV2_CACHE: join(scratch, 'cache') } });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  const t0 = Date.now();
  while (!/ on (http:\/\/\S+) /.test(stderr)) {
    if (child.exitCode !== null || Date.now() - t0 > 60_000) throw new Error(`serve did not start: ${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { child, url: / on (http:\/\/\S+) /.exec(stderr)![1]!, stderr: () => stderr, exited };
}

test('serve --weights w.pth answers curl --data-binary @photo as predict --json does; SIGTERM drains in-flight requests and exits 0', { skip: skipReal }, async () => {
  const s = await serve(['--weights', WEIGHTS, '--max-batch', '4', '--threads', '2']);
  assert.match(s.stderr(), /^serving mobilenet_v2_coral_imagenet\.pth as "mobilenetv2" on http:\/\/127\.0\.0\.1:\d+ \(batches of up to 4 within 2 ms/m);
  const r = await postBytes(`${s.url}/v1/classify`, readFileSync(photo('parrot.jpg')));
  assert.equal(r.status, 200);
  const served = (await r.json()) as { top: { index: number; label: string; probability: number }[] };
  const p = cli(['predict', photo('parrot.jpg'), '--weights', WEIGHTS, '--json', '--threads', '2'], cwd);
  assert.equal(p.code, 0, p.stderr);
  const predicted = JSON.parse(p.stdout) as { top: { index: number; label: string; probability: number }[] };
  assert.deepEqual(served.top, predicted.top.map(({ index, label, probability }) => ({ index, label, probability })));
  assert.equal(served.top[0]!.label, 'macaw');

  // requests in flight when SIGTERM comes are all answered; then the process exits 0
  const big = readFileSync(photo('kite_and_cold.jpg'));
  const inFlight = Array.from({ length: 6 }, () => postBytes(`${s.url}/v1/classify?topk=1`, big, 'image/jpeg').then(async (x) => ({ status: x.status, body: await x.text() })));
  const t0 = Date.now();
  while ((await metric(s.url, 'mobilenetv2_requests_in_flight')) < 6 && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 5));
  s.child.kill('SIGTERM');
  const answers = await Promise.all(inFlight);
  assert.deepEqual(answers.map((a) => a.status), [200, 200, 200, 200, 200, 200], JSON.stringify(answers));
  for (const a of answers) assert.equal((JSON.parse(a.body) as { top: { index: number }[] }).top[0]!.index, reference()['kite_and_cold.jpg']!.torchvision_layout.top5[0]);
  assert.equal(await s.exited, 0, s.stderr());
  assert.match(s.stderr(), /SIGTERM: draining \(no new requests; answering the ones in flight\)\nstopped\n$/);
  assert.doesNotMatch(s.stderr(), /interrupted/);
  await assert.rejects(fetch(`${s.url}/v2/health/live`), 'nothing listens any more');
});

test('Ctrl-C (SIGINT) drains too: exit 0', async () => {
  const s = await serve(['--weights', 'small.safetensors', '--input-size', '64', '--threads', '1']);
  assert.equal((await postBytes(`${s.url}/v1/classify`, await pngOf(1), 'image/png')).status, 200);
  s.child.kill('SIGINT');
  assert.equal(await s.exited, 0, s.stderr());
  assert.match(s.stderr(), /SIGINT: draining/);
});

test('serve: a port in use, a bad port or name: one line, exit 2', async () => {
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
  const port = (blocker.address() as { port: number }).port;
  try {
    const r = cli(['serve', '--weights', 'small.safetensors', '--input-size', '64', '--threads', '1', '--port', String(port)], cwd);
    assertOneLine(r, 2, `127.0.0.1:${port}`, 'EADDRINUSE');
  } finally {
    blocker.close();
  }
  assertUsage(cli(['serve', '--port', '70000'], cwd), '--port', '70000');
  assertUsage(cli(['serve', '--max-delay-ms', '-1'], cwd), '--max-delay-ms');
  assertOneLine(cli(['serve', '--weights', 'small.safetensors', '--input-size', '64', '--name', 'a/b', '--port', '0'], cwd), 2, '--name', 'a/b');
  assertOneLine(cli(['serve', '--weights', 'missing.pth'], cwd), 3, 'missing.pth');
});
