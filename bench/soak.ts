// npm run soak: 10,000 predictions through load().classify and 10,000 through the CLI (predict
// --files-from), the resident memory sampled as they go; then load() / dispose() cycles. Goal:
// memory flat after warm-up (at most +50 MB from 10% of the run to its end), sessions released
// by dispose(). Prints the curve, draws bench/soak.png, writes bench/results.json under `soak`.
// Uses the real weights and photos of ../shared/real.

import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { load } from '../src/platform/node/load.js';
import { lineChartSvg } from '../src/plot/plot.js';
import sharp from 'sharp';

const N = Number(process.env['SOAK_IMAGES'] ?? 10_000);
const GOAL_MB = 50;
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const REAL = join(ROOT, '..', 'shared', 'real');
const WEIGHTS = join(REAL, 'mobilenet_v2_coral_imagenet.pth');
const PHOTOS = readdirSync(join(REAL, 'photos')).sort().map((p) => join(REAL, 'photos', p));
const resultsPath = join(ROOT, 'bench', 'results.json');
const MB = 2 ** 20;

type Curve = [number, number][]; // (images done, RSS MB)

function verdict(name: string, curve: Curve): { start_mb: number; warm_mb: number; end_mb: number; growth_after_warmup_mb: number; flat: boolean } {
  const warm = curve.find(([n]) => n >= 0.1 * N) ?? curve[0]!;
  const end = curve.at(-1)!;
  const growth = end[1] - warm[1];
  const r = { start_mb: +curve[0]![1].toFixed(1), warm_mb: +warm[1].toFixed(1), end_mb: +end[1].toFixed(1), growth_after_warmup_mb: +growth.toFixed(1), flat: growth <= GOAL_MB };
  const spark = curve.filter((_, i) => i % Math.max(1, Math.floor(curve.length / 40)) === 0).map(([, m]) => m);
  const [lo, hi] = [Math.min(...spark), Math.max(...spark)];
  const bars = '▁▂▃▄▅▆▇█';
  console.log(`${name}: RSS ${r.start_mb} MB at start, ${r.warm_mb} MB after warm-up (10%), ${r.end_mb} MB at the end: ${growth >= 0 ? '+' : ''}${r.growth_after_warmup_mb} MB (goal <= +${GOAL_MB}) ${r.flat ? 'flat' : 'GROWS'}`);
  console.log(`  ${spark.map((m) => bars[Math.min(7, Math.floor(((m - lo) / Math.max(hi - lo, 1e-9)) * 8))]).join('')}  ${lo.toFixed(0)}..${hi.toFixed(0)} MB`);
  return r;
}

async function viaApi(): Promise<Curve> {
  const model = await load({ weights: WEIGHTS, threads: 2 });
  const curve: Curve = [[0, process.memoryUsage().rss / MB]];
  const batch = 16;
  for (let done = 0; done < N; ) {
    const list = Array.from({ length: Math.min(batch, N - done) }, (_, i) => PHOTOS[(done + i) % PHOTOS.length]!);
    const r = await model.classify(list, 5);
    if (r.length !== list.length) throw new Error('a photo was not answered');
    done += list.length;
    if (done % 160 === 0 || done === N) curve.push([done, process.memoryUsage().rss / MB]);
  }
  await model.dispose();
  return curve;
}

async function viaCli(): Promise<{ curve: Curve; code: number | null; answers: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'mnv2-soak-'));
  writeFileSync(join(dir, 'list.txt'), Array.from({ length: N }, (_, i) => PHOTOS[i % PHOTOS.length]).join('\n') + '\n');
  const cli = join(ROOT, 'dist', 'src', 'cli', 'main.js');
  const child = spawn(process.execPath, [cli, 'predict', '--files-from', join(dir, 'list.txt'), '--weights', WEIGHTS, '--json', '--topk', '1', '--threads', '2'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let answers = 0;
  let tail = '';
  child.stdout.on('data', (b: Buffer) => {
    const s = tail + b.toString();
    const lines = s.split('\n');
    tail = lines.pop()!;
    answers += lines.length;
  });
  const curve: Curve = [];
  const t = setInterval(() => {
    try {
      const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1]);
      curve.push([answers, kb / 1024]);
    } catch {
      // exited
    }
  }, 250);
  const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  clearInterval(t);
  return { curve, code, answers };
}

async function cycles(n = 30): Promise<Curve> {
  const curve: Curve = [];
  for (let i = 0; i < n; i++) {
    const m = await load({ weights: WEIGHTS, threads: 2 });
    await m.classify(PHOTOS[i % PHOTOS.length]!, 1);
    await m.dispose();
    curve.push([i + 1, process.memoryUsage().rss / MB]);
  }
  return curve;
}

async function main(): Promise<void> {
  if (!existsSync(WEIGHTS)) throw new Error(`${WEIGHTS}: the real weights are needed (../shared/real)`);
  console.log(`soak: ${N} predictions, ${PHOTOS.length} photos cycled, real weights`);
  const t0 = performance.now();
  const api = await viaApi();
  const apiS = (performance.now() - t0) / 1000;
  const apiV = verdict(`load().classify (lists of 16), ${(N / apiS).toFixed(1)} img/s`, api);
  const t1 = performance.now();
  const cli = await viaCli();
  const cliS = (performance.now() - t1) / 1000;
  if (cli.code !== 0 || cli.answers !== N) throw new Error(`predict exited ${cli.code} after ${cli.answers} answers`);
  const cliV = verdict(`predict --files-from (${N} paths), ${(N / cliS).toFixed(1)} img/s`, cli.curve);
  const cyc = await cycles();
  const cycGrowth = cyc.at(-1)![1] - cyc[4]![1];
  console.log(`load() + classify + dispose() x ${cyc.length}: RSS ${cyc[0]![1].toFixed(0)} -> ${cyc.at(-1)![1].toFixed(0)} MB (after 5 cycles ${cyc[4]![1].toFixed(0)}: ${cycGrowth >= 0 ? '+' : ''}${cycGrowth.toFixed(1)} MB)`);

  const svg = lineChartSvg(
    [
      { name: 'load().classify', xy: api },
      { name: 'mobilenetv2 predict', xy: cli.curve },
    ],
    { title: `Resident memory over ${N.toLocaleString('en')} predictions (real weights, 2 threads)`, xLabel: 'images classified', yLabel: 'RSS (MB)' },
  );
  const png = join(ROOT, 'bench', 'soak.png');
  await sharp(Buffer.from(svg)).png().toFile(png);
  console.log(`curve: ${png}`);
  const all = existsSync(resultsPath) ? JSON.parse(readFileSync(resultsPath, 'utf8')) : {};
  all['soak'] = {
    date: new Date().toISOString(),
    images: N,
    goal_growth_mb: GOAL_MB,
    api: { ...apiV, images_per_s: +(N / apiS).toFixed(1) },
    cli: { ...cliV, images_per_s: +(N / cliS).toFixed(1) },
    load_dispose_cycles: { cycles: cyc.length, rss_after_5_mb: +cyc[4]![1].toFixed(1), rss_end_mb: +cyc.at(-1)![1].toFixed(1), growth_mb: +cycGrowth.toFixed(1) },
  };
  writeFileSync(resultsPath, JSON.stringify(all, null, 2) + '\n');
  console.log('wrote bench/results.json (soak)');
  if (!apiV.flat || !cliV.flat) process.exitCode = 1;
}

await main();
