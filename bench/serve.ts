// npm run bench:serve: `mobilenetv2 serve` on loopback under autocannon, bounded (fixed durations).
//   1. the baseline: the same photos through predict's path at batch 1, one after another
//      (decode + Predictor.run + top-5), in this process, for SERVE_SECONDS; and the same with the
//      session's threads not spin-waiting (as serve's sessions are), to show what that alone gives;
//   2. POST /v1/classify with 1, 8 and 64 concurrent clients (autocannon, SERVE_SECONDS each) against
//      `serve` in a child process: images/s, p50/p99 latency, mean batch size (from /metrics), and
//      every answer compared with predict's on the same photo (byte for byte: the JSON is the same);
//   3. /v2 infer with binary tensors at 64 clients vs Predictor.run at batch 1 on the same tensors:
//      where the network, not decoding, is the bottleneck, and batching shows;
//   4. the design choices side by side at 64 clients (and 1): decoding on worker threads or not,
//      the batching delay;
//   5. overload at 4x the measured capacity: only 200s and 503s, the server's RSS sampled, then
//      recovery at 1 client;
//   6. soak: SERVE_SOAK requests (default 100,000) with the server's RSS sampled; flat after warm-up?
//      (small JPEGs of the photos at input 96, so that 100,000 take minutes, not an hour)
// Besides images/s, each point records the CPU time spent per image (the server process's, from
// /proc; the baseline's own): on a machine shared with other work it moves much less than images/s.
// Writes its key `serve` into bench/results.json (the other keys kept). The machine is shared:
// compare the ratios measured in one run, and read the load recorded with them.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { imagenetClasses } from '../src/data/labels.js';
import { withInputSize, type PresetSpec } from '../src/data/transforms.js';
import { Predictor, topk } from '../src/infer/predictor.js';
import { loadBatch } from '../src/platform/node/image.js';
import { nodeBackend } from '../src/platform/node/ort.js';
import { loadCheckpoint } from '../src/platform/node/weights.js';
import type { Tensor } from '../src/tensor.js';
import sharp from 'sharp';
import { drawServeSoak } from './serve-plot.js';

const SECONDS = Number(process.env['SERVE_SECONDS'] ?? 10);
const SOAK = Number(process.env['SERVE_SOAK'] ?? 100_000);
const SOAK_SIZE = Number(process.env['SERVE_SOAK_SIZE'] ?? 96);
const SOAK_MAX_S = Number(process.env['SERVE_SOAK_MAX_S'] ?? 900);
const DESIGN = process.env['SERVE_DESIGN'] !== '0';
const THREADS = 2;
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const REAL = join(ROOT, '..', 'shared', 'real');
const WEIGHTS = join(REAL, 'mobilenet_v2_coral_imagenet.pth');
const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');
const resultsPath = join(ROOT, 'bench', 'results.json');
const MB = 2 ** 20;
const labels = imagenetClasses();

interface Photo {
  name: string;
  bytes: Buffer;
  type: string;
  /** predict's answer as the server writes it: JSON.stringify({ top }) */
  expected: string;
}

const r1 = (x: number) => +x.toFixed(1);
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

/** predict's path on each photo (decode, batch 1, top-5) -> the JSON the server must answer. */
async function expectations(photos: { name: string; bytes: Buffer }[], preset: PresetSpec | 'torchvision-v1', predictor: Predictor): Promise<string[]> {
  const out: string[] = [];
  for (const p of photos) {
    const { logits, probabilities } = await predictor.run((await loadBatch([p.bytes], preset)).tensor);
    out.push(JSON.stringify({ top: topk(probabilities, logits, 5)[0]!.map((t) => ({ index: t.index, label: labels[t.index]!, probability: t.probability })) }));
  }
  return out;
}

/** 1. predict's path at batch 1, one photo after another, for SECONDS (or the network alone on ready tensors). */
async function baseline(photos: Photo[], predictor: Predictor, tensors?: Tensor[]) {
  const lat: number[] = [];
  await predictor.run(tensors?.[0] ?? (await loadBatch([photos[0]!.bytes], 'torchvision-v1')).tensor); // warm
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  let n = 0;
  while (performance.now() - t0 < SECONDS * 1000) {
    const s = performance.now();
    const x = tensors ? tensors[n % tensors.length]! : (await loadBatch([photos[n % photos.length]!.bytes], 'torchvision-v1')).tensor;
    const { logits, probabilities } = await predictor.run(x);
    topk(probabilities, logits, 5);
    lat.push(performance.now() - s);
    n++;
  }
  const secs = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(c0);
  return { images_per_s: r1(n / secs), p50_ms: r1(pct(lat, 50)), p99_ms: r1(pct(lat, 99)), cpu_ms_per_image: r1((cpu.user + cpu.system) / 1000 / n), images: n };
}

/** CPU time (user + system) of a process so far, in ms. */
function cpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / CLOCK_TICKS;
}
const CLOCK_TICKS = 100; // sysconf(_SC_CLK_TCK) on Linux

interface Server {
  child: ChildProcess;
  url: string;
  stop(): Promise<number | null>;
}

async function startServe(args: string[]): Promise<Server> {
  const child = spawn(process.execPath, [CLI, 'serve', '--weights', WEIGHTS, '--port', '0', '--threads', String(THREADS), ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  const t0 = Date.now();
  while (!/ on (http:\/\/\S+) /.test(err)) {
    if (child.exitCode !== null || Date.now() - t0 > 120_000) throw new Error(`serve did not start: ${err}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    child,
    url: / on (http:\/\/\S+) /.exec(err)![1]!,
    async stop() {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

function rssMb(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
  } catch {
    return NaN;
  }
}

async function metrics(url: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m: Record<string, number> = {};
  for (const l of text.split('\n')) if (l && !l.startsWith('#')) m[l.slice(0, l.lastIndexOf(' '))] = Number(l.slice(l.lastIndexOf(' ') + 1));
  return m;
}

interface Load {
  clients: number;
  seconds?: number;
  amount?: number;
  rate?: number;
  /** /v2 infer with these binary request bodies (and their expected logits) instead of /v1/classify. */
  v2?: { body: Buffer; headerLength: number; logits: Float32Array }[];
}

/** autocannon against /v1/classify (or /v2 infer), cycling the photos, every answer checked. */
async function load(server: Server, photos: Photo[], o: Load) {
  const { url } = server;
  const before = await metrics(url);
  const cpu0 = cpuMs(server.child.pid!);
  let checked = 0;
  let mismatches = 0;
  const status: Record<string, number> = {};
  const result = await autocannon({
    url,
    connections: o.clients,
    ...(o.amount ? { amount: o.amount } : { duration: o.seconds ?? SECONDS }),
    ...(o.rate ? { overallRate: o.rate } : {}),
    timeout: 60,
    requests: o.v2
      ? o.v2.map((t) => ({
          method: 'POST',
          path: '/v2/models/mobilenetv2/infer',
          headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(t.headerLength) },
          body: t.body,
          onResponse: (code: number, body: string) => {
            status[code] = (status[code] ?? 0) + 1;
            if (code !== 200) return;
            checked++;
            const out = (JSON.parse(body) as { outputs: { data: number[] }[] }).outputs[0]!.data; // JSON logits (binary in, JSON out)
            if (out.length !== t.logits.length || out.some((v, i) => v !== t.logits[i])) mismatches++;
          },
        }))
      : photos.map((p) => ({
          method: 'POST',
          path: '/v1/classify',
          headers: { 'content-type': p.type },
          body: p.bytes,
          onResponse: (code: number, body: string) => {
            status[code] = (status[code] ?? 0) + 1;
            if (code !== 200) return;
            checked++;
            if (body !== p.expected) mismatches++;
          },
        })),
  });
  const cpu = cpuMs(server.child.pid!) - cpu0;
  const after = await metrics(url);
  const batches = after['mobilenetv2_batch_size_count']! - (before['mobilenetv2_batch_size_count'] ?? 0);
  const rows = after['mobilenetv2_batch_size_sum']! - (before['mobilenetv2_batch_size_sum'] ?? 0);
  const ok = status['200'] ?? 0;
  return {
    clients: o.clients,
    images_per_s: r1(ok / (result.duration as number)),
    p50_ms: r1(result.latency.p50 as number),
    p99_ms: r1(result.latency.p99 as number),
    mean_batch: r1(batches > 0 ? rows / batches : 0),
    server_cpu_ms_per_image: r1(ok > 0 ? cpu / ok : 0),
    status,
    errors: result.errors as number,
    timeouts: result.timeouts as number,
    checked,
    mismatches,
    seconds: r1(result.duration as number),
  };
}

const show = (label: string, r: Awaited<ReturnType<typeof load>>, base?: number) =>
  console.log(`${label.padEnd(40)} ${String(r.images_per_s).padStart(7)} img/s${base ? ` (x${(r.images_per_s / base).toFixed(2)})` : ''}  p50 ${String(r.p50_ms).padStart(7)} ms  p99 ${String(r.p99_ms).padStart(7)} ms  batch ${String(r.mean_batch).padStart(5)}  CPU ${r.server_cpu_ms_per_image} ms/img  statuses ${JSON.stringify(r.status)}  errors ${r.errors + r.timeouts}  answers checked ${r.checked}, different ${r.mismatches}`);
const showBase = (label: string, b: Awaited<ReturnType<typeof baseline>>) =>
  console.log(`${label.padEnd(40)} ${String(b.images_per_s).padStart(7)} img/s          p50 ${String(b.p50_ms).padStart(7)} ms  p99 ${String(b.p99_ms).padStart(7)} ms             CPU ${b.cpu_ms_per_image} ms/img`);

async function main(): Promise<void> {
  if (!existsSync(WEIGHTS)) throw new Error(`${WEIGHTS} not found: bench:serve uses the real weights of ../shared/real`);
  const load0 = os.loadavg();
  const names = readdirSync(join(REAL, 'photos')).sort();
  const raw = names.map((name) => ({ name, bytes: readFileSync(join(REAL, 'photos', name)), type: name.endsWith('.png') ? 'image/png' : 'image/jpeg' }));
  const c = await loadCheckpoint(WEIGHTS);
  const predictor = new Predictor(c.model, nodeBackend, { threads: THREADS });
  const exp = await expectations(raw, 'torchvision-v1', predictor);
  const photos: Photo[] = raw.map((p, i) => ({ ...p, expected: exp[i]! }));
  console.log(`bench:serve: ${photos.length} photos (${names.join(' ')}), MobileNetV2 1.0 at 224, ${THREADS} threads, ${SECONDS} s per point; load average ${load0.map((x) => x.toFixed(2)).join(' ')}`);

  // 1. the baselines
  const base = await baseline(photos, predictor);
  showBase('predict path, batch 1, sequential', base);
  const quiet = new Predictor(c.model, nodeBackend, { threads: THREADS, spinning: false });
  const baseQuiet = await baseline(photos, quiet);
  showBase('  the same, threads not spinning', baseQuiet);
  const tensors = await Promise.all(raw.map(async (p) => (await loadBatch([p.bytes], 'torchvision-v1')).tensor));
  const baseNet = await baseline(photos, predictor, tensors);
  showBase('  the network alone (ready tensors)', baseNet);
  const v2 = await Promise.all(
    tensors.map(async (t) => {
      const f = t.data as Float32Array;
      const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'input', shape: [1, 3, 224, 224], datatype: 'FP32', parameters: { binary_data_size: f.byteLength } }] }));
      return { body: Buffer.concat([header, Buffer.from(f.buffer, f.byteOffset, f.byteLength)]), headerLength: header.length, logits: (await predictor.run(t, ['logits'])).logits.data as Float32Array };
    }),
  );
  await Promise.all([predictor.release(), quiet.release()]);

  // 2. the server with its defaults, 1 / 8 / 64 clients
  let server = await startServe([]);
  const classify: Awaited<ReturnType<typeof load>>[] = [];
  for (const clients of [1, 8, 64]) {
    const r = await load(server, photos, { clients });
    classify.push(r);
    show(`serve /v1/classify, ${clients} client${clients > 1 ? 's' : ''}`, r, base.images_per_s);
  }
  const capacity = classify[2]!.images_per_s;

  // 3. /v2 with binary tensors: no decoding, the network is the bottleneck
  const infer = await load(server, photos, { clients: 64, v2 });
  show('serve /v2 infer (binary tensors), 64 cl.', infer, baseNet.images_per_s);

  // 5. overload at 4x capacity, then recovery (on the same server, warm)
  const rate = Math.max(4, Math.round(4 * capacity));
  const samples: number[] = [];
  const rssBefore = rssMb(server.child.pid!);
  const sampler = setInterval(() => samples.push(rssMb(server.child.pid!)), 250);
  const over = await load(server, photos, { clients: 256, rate });
  clearInterval(sampler);
  show(`overload: ${rate} req/s, 256 clients`, over);
  const tIdle = performance.now(); // what was admitted during the overload may still be decoding or running (its clients are gone)
  const busy = (m: Record<string, number>) => ['mobilenetv2_requests_in_flight', 'mobilenetv2_queue_depth', 'mobilenetv2_decode_queue_depth', 'mobilenetv2_batches_running'].some((k) => m[k]! > 0);
  while (busy(await metrics(server.url)) && performance.now() - tIdle < 60_000) await new Promise((r) => setTimeout(r, 100));
  const idleAfterS = r1((performance.now() - tIdle) / 1000);
  const recovered = await load(server, photos, { clients: 1, seconds: Math.min(SECONDS, 5) });
  show('after the overload, 1 client', recovered, base.images_per_s);
  const overload = {
    offered_rate_per_s: rate,
    capacity_images_per_s: capacity,
    clients: 256,
    seconds: over.seconds,
    status: over.status,
    only_200_and_503: Object.keys(over.status).every((s) => s === '200' || s === '503') && over.errors === 0 && over.timeouts === 0,
    answered_200_per_s: over.images_per_s,
    mismatches: over.mismatches,
    rss_mb_before: r1(rssBefore),
    rss_mb_max: r1(Math.max(...samples)),
    idle_after_s: idleAfterS,
    recovery: { images_per_s: recovered.images_per_s, p50_ms: recovered.p50_ms, status: recovered.status, mismatches: recovered.mismatches, before_images_per_s: classify[0]!.images_per_s, before_p50_ms: classify[0]!.p50_ms },
  };
  console.log(`  overload: RSS ${overload.rss_mb_before} MB before, ${overload.rss_mb_max} MB at most; only 200 and 503: ${overload.only_200_and_503}; idle ${idleAfterS} s after it ended`);
  console.log(`  server exit code after SIGTERM: ${await server.stop()}`);

  // 4. design choices, side by side (each a fresh server)
  const design: Record<string, unknown>[] = [];
  if (DESIGN) {
    for (const [flags, clients] of [
      [['--decode-threads', '2', '--max-delay-ms', '2'], 64], // the defaults here
      [['--decode-threads', '0', '--max-delay-ms', '2'], 64],
      [['--decode-threads', '1', '--max-delay-ms', '2'], 64],
      [['--decode-threads', '2', '--max-delay-ms', '0'], 64],
      [['--decode-threads', '2', '--max-delay-ms', '10'], 64],
      [['--decode-threads', '2', '--threads', '1', '--workers', '2'], 64],
      [['--decode-threads', '2', '--max-delay-ms', '2'], 1],
      [['--decode-threads', '0', '--max-delay-ms', '2'], 1],
    ] as [string[], number][]) {
      server = await startServe(flags);
      const r = await load(server, photos, { clients });
      await server.stop();
      design.push({ flags: flags.join(' '), ...r });
      show(`${flags.join(' ')}, ${clients} cl.`, r, base.images_per_s);
    }
  }

  // 6. soak: small JPEGs of the photos (shorter side 128) at input 96
  const soakPreset = withInputSize('torchvision-v1', SOAK_SIZE);
  const thumbs = await Promise.all(raw.map(async (p) => ({ name: p.name, bytes: await sharp(p.bytes).resize(128, 128, { fit: 'outside' }).jpeg({ quality: 90 }).toBuffer(), type: 'image/jpeg' })));
  const sp = new Predictor(c.model, nodeBackend, { threads: THREADS });
  const soakExp = await expectations(thumbs, soakPreset, sp);
  await sp.release();
  const soakPhotos: Photo[] = thumbs.map((p, i) => ({ ...p, expected: soakExp[i]! }));
  server = await startServe(['--input-size', String(SOAK_SIZE)]);
  const curve: [number, number][] = [];
  const t0 = performance.now();
  let done = 0;
  let soakChecked = 0;
  let soakMismatch = 0;
  const soakStatus: Record<string, number> = {};
  curve.push([0, rssMb(server.child.pid!)]);
  const chunk = 2000;
  while (done < SOAK && (performance.now() - t0) / 1000 < SOAK_MAX_S) {
    const r = await load(server, soakPhotos, { clients: 64, amount: Math.min(chunk, SOAK - done) });
    for (const [k, v] of Object.entries(r.status)) soakStatus[k] = (soakStatus[k] ?? 0) + v;
    done += Object.values(r.status).reduce((a, b) => a + b, 0);
    soakChecked += r.checked;
    soakMismatch += r.mismatches;
    curve.push([done, rssMb(server.child.pid!)]);
    process.stdout.write(`\r  soak: ${done} requests, RSS ${curve.at(-1)![1].toFixed(0)} MB   `);
  }
  process.stdout.write('\n');
  const soakSecs = (performance.now() - t0) / 1000;
  await server.stop();
  const warm = curve.find(([n]) => n >= 0.1 * done) ?? curve[0]!;
  const end = curve.at(-1)!;
  const soak = {
    requests: done,
    planned: SOAK,
    input_size: SOAK_SIZE,
    images: 'the 16 photos as JPEGs of shorter side 128',
    clients: 64,
    seconds: r1(soakSecs),
    images_per_s: r1(done / soakSecs),
    status: soakStatus,
    checked: soakChecked,
    mismatches: soakMismatch,
    rss_mb: { start: r1(curve[0]![1]), after_warmup: r1(warm[1]), end: r1(end[1]), max: r1(Math.max(...curve.map(([, m]) => m))) },
    growth_after_warmup_mb: r1(end[1] - warm[1]),
    flat: end[1] - warm[1] <= 50,
    curve: curve.map(([n, m]) => [n, r1(m)]),
  };
  console.log(`soak: ${done} requests at input ${SOAK_SIZE} in ${soak.seconds} s (${soak.images_per_s} img/s), RSS ${soak.rss_mb.start} MB at start, ${soak.rss_mb.after_warmup} after warm-up (10%), ${soak.rss_mb.end} at the end: ${soak.growth_after_warmup_mb >= 0 ? '+' : ''}${soak.growth_after_warmup_mb} MB ${soak.flat ? 'flat' : 'GROWS'}; answers checked ${soakChecked}, different ${soakMismatch}`);

  const load1 = os.loadavg();
  const results = existsSync(resultsPath) ? (JSON.parse(readFileSync(resultsPath, 'utf8')) as Record<string, unknown>) : {};
  results['serve'] = {
    date: new Date().toISOString().slice(0, 10),
    machine: { cpu: os.cpus()[0]?.model, cores: os.availableParallelism(), node: process.version, load_average_start: load0.map((x) => +x.toFixed(2)), load_average_end: load1.map((x) => +x.toFixed(2)) },
    model: 'MobileNetV2 1.0 at 224, ../shared/real/mobilenet_v2_coral_imagenet.pth',
    photos: names,
    threads: THREADS,
    seconds_per_point: SECONDS,
    baseline_predict_batch1_sequential: base,
    baseline_predict_batch1_sequential_no_spinning: baseQuiet,
    baseline_network_batch1_tensors: baseNet,
    classify: classify.map((r) => ({ ...r, ratio_vs_predict_batch1: +(r.images_per_s / base.images_per_s).toFixed(2), ratio_vs_predict_batch1_no_spinning: +(r.images_per_s / baseQuiet.images_per_s).toFixed(2) })),
    v2_infer_binary_64_clients: { ...infer, ratio_vs_network_batch1: +(infer.images_per_s / baseNet.images_per_s).toFixed(2) },
    overload,
    design,
    soak,
  };
  writeFileSync(resultsPath, JSON.stringify(results, null, 2) + '\n');
  console.log(`wrote ${resultsPath} (key "serve")`);
  if (soak?.curve?.length) {
    const png = fileURLToPath(new URL('../../bench/serve-soak.png', import.meta.url));
    await drawServeSoak(soak.curve, png, `${soak.requests.toLocaleString('en')} requests (input ${soak.input_size}, 64 clients)`);
    console.log(`curve: ${png}`);
  }
}

await main();
